// Per-checker observations aggregated by rule (route53 > 18 %, majority, all) on the engine.
#include <gtest/gtest.h>

#include "engine_sim.h"

namespace steerdns::health {
namespace {

using testing::http_check;
using testing::Sim;

ProbeResult res(bool ok) {
  ProbeResult r;
  r.ok = ok;
  r.reason = ok ? "ok" : "timeout";
  return r;
}

// A check seen by the local checker (always passing here unless `local_ok` is false) and by
// `remote` peers reporting `remote_ok[i]` three times each (enough for any threshold here).
Status verdict(Aggregation rule, bool local_ok, const std::vector<bool>& remote_ok, Sim& sim) {
  sim.prober.respond = [local_ok](const CheckSpec&) { return res(local_ok); };
  CheckSpec s = http_check("web");
  s.aggregation = rule;
  s.initial = Status::kHealthy;
  EXPECT_TRUE(sim.engine.configure({s}).ok());
  sim.run_for(3'000);
  for (int round = 0; round < 3; ++round) {
    for (size_t i = 0; i < remote_ok.size(); ++i) {
      EXPECT_TRUE(sim.engine
                      .add_observation("peer" + std::to_string(i), "web", res(remote_ok[i]),
                                       sim.clock.wall_ms())
                      .ok());
    }
  }
  return sim.status("web");
}

TEST(EngineAggregation, OneThreeAndFiveCheckers) {
  struct Row {
    Aggregation rule;
    bool local_ok;
    std::vector<bool> remote;
    Status want;
  };
  const Row rows[] = {
      {Aggregation::kRoute53, false, {}, Status::kUnhealthy},  // 1 checker
      {Aggregation::kRoute53, true, {}, Status::kHealthy},
      {Aggregation::kAll, false, {}, Status::kUnhealthy},
      {Aggregation::kRoute53, false, {true, false}, Status::kHealthy},  // 1 of 3
      {Aggregation::kRoute53, false, {false, false}, Status::kUnhealthy},
      {Aggregation::kMajority, false, {true, false}, Status::kUnhealthy},
      {Aggregation::kMajority, false, {true, true}, Status::kHealthy},
      {Aggregation::kAll, true, {true, false}, Status::kUnhealthy},
      {Aggregation::kRoute53, false, {false, false, false, true}, Status::kHealthy},  // 1 of 5
      {Aggregation::kMajority, true, {true, false, false, false}, Status::kUnhealthy},
      {Aggregation::kMajority, true, {true, true, false, false}, Status::kHealthy},
      {Aggregation::kAll, true, {true, true, true, true}, Status::kHealthy},
      {Aggregation::kAll, true, {true, true, true, false}, Status::kUnhealthy},
  };
  for (const auto& r : rows) {
    Sim sim;
    EXPECT_EQ(verdict(r.rule, r.local_ok, r.remote, sim), r.want)
        << aggregation_name(r.rule) << " local " << r.local_ok << " remotes " << r.remote.size();
  }
}

TEST(EngineAggregation, PerCheckerViewsAndThresholdsPerChecker) {
  Sim sim;
  CheckSpec s = http_check("web");
  s.initial = Status::kHealthy;
  s.aggregation = Aggregation::kMajority;
  ASSERT_TRUE(sim.engine.configure({s}).ok());
  sim.run_for(2'000);
  // Two failures from each peer are below each peer's threshold: nothing changes.
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(sim.engine.add_observation("tokyo", "web", res(false), sim.clock.wall_ms()).ok());
    ASSERT_TRUE(sim.engine.add_observation("oslo", "web", res(false), sim.clock.wall_ms()).ok());
  }
  EXPECT_EQ(sim.status("web"), Status::kHealthy);
  ASSERT_TRUE(sim.engine.add_observation("tokyo", "web", res(false), sim.clock.wall_ms()).ok());
  EXPECT_EQ(sim.status("web"), Status::kHealthy);  // tokyo down, oslo + local up
  ASSERT_TRUE(sim.engine.add_observation("oslo", "web", res(false), sim.clock.wall_ms()).ok());
  EXPECT_EQ(sim.status("web"), Status::kUnhealthy);  // 1 of 3
  ASSERT_EQ(sim.transitions.size(), 1u);
  EXPECT_EQ(sim.transitions[0].reason,
            "[oslo] 3 consecutive failures: timeout (1 of 3 checkers healthy, rule majority)");
  auto rep = sim.engine.report();
  ASSERT_EQ(rep.checks[0].checkers.size(), 3u);
  std::map<std::string, Status> per;
  for (const auto& c : rep.checks[0].checkers) {
    per[c.checker] = c.status;
  }
  EXPECT_EQ(per["local"], Status::kHealthy);
  EXPECT_EQ(per["tokyo"], Status::kUnhealthy);
  EXPECT_EQ(per["oslo"], Status::kUnhealthy);
  EXPECT_EQ(rep.checks[0].state.last_failure_reason, "[oslo] timeout");

  // Peers that stop reporting drop out after 3 intervals + timeout; the local view remains.
  sim.run_for(3 * 1'000 + 500 + 1'000);
  EXPECT_EQ(sim.status("web"), Status::kHealthy);
  rep = sim.engine.report();
  for (const auto& c : rep.checks[0].checkers) {
    EXPECT_EQ(c.counted, c.checker == "local") << c.checker;
  }
  EXPECT_FALSE(sim.engine.add_observation("x", "ghost", res(true), 0).ok());
}

// Fleet: peers publish their views (statuses after their own thresholds); they count for as
// long as they are set, whatever their age, and every engine fed the same views decides alike.
TEST(EngineAggregation, PeerViewsCountWhileSetAndLocalViewIsPublished) {
  Sim sim;
  int local_changes = 0;
  sim.engine.on_local_change([&] { ++local_changes; });
  CheckSpec s = http_check("web");
  s.initial = Status::kHealthy;
  s.aggregation = Aggregation::kMajority;
  ASSERT_TRUE(sim.engine.configure({s}).ok());
  EXPECT_GE(local_changes, 1);  // the check list is news for peers
  sim.run_for(2'000);
  auto lv = sim.engine.local_view();
  ASSERT_EQ(lv.size(), 1u);
  EXPECT_EQ(lv[0].check, "web");
  EXPECT_EQ(lv[0].status, Status::kHealthy);

  std::vector<PeerStatus> down{{"web", Status::kUnhealthy, sim.clock.wall_ms(), "timeout"}};
  std::vector<PeerStatus> up{{"web", Status::kHealthy, sim.clock.wall_ms(), "ok"}};
  ASSERT_TRUE(sim.engine.set_peer_view("node-b", up).ok());
  ASSERT_TRUE(sim.engine.set_peer_view("node-c", down).ok());
  EXPECT_EQ(sim.status("web"), Status::kHealthy);  // 2 of 3 healthy
  ASSERT_TRUE(sim.engine.set_peer_view("node-b", down).ok());
  EXPECT_EQ(sim.status("web"), Status::kUnhealthy);  // 1 of 3 healthy
  EXPECT_EQ(sim.transitions.back().reason,
            "[node-b] sees it unhealthy: timeout (1 of 3 checkers healthy, rule majority)");
  // Peers' views do not age out (the fleet's leases decide liveness)...
  sim.run_for(60'000);
  EXPECT_EQ(sim.status("web"), Status::kUnhealthy);
  auto rep = sim.engine.report();
  for (const auto& c : rep.checks[0].checkers) {
    EXPECT_TRUE(c.counted) << c.checker;
    EXPECT_EQ(c.peer, c.checker != "local") << c.checker;
  }
  // ...until dropped: the local view and node-b remain, 1 of 2 is no majority.
  sim.engine.drop_peer("node-c");
  EXPECT_EQ(sim.status("web"), Status::kUnhealthy);
  ASSERT_TRUE(sim.engine.set_peer_view("node-b", {}).ok());
  EXPECT_EQ(sim.status("web"), Status::kHealthy);  // the local view alone
  EXPECT_FALSE(sim.engine.set_peer_view("local", down).ok());
  // Unknown ids in a view are ignored (a peer on a newer catalog).
  EXPECT_TRUE(sim.engine.set_peer_view("node-b", {{"ghost", Status::kHealthy, 0, ""}}).ok());

  // The local checker's own transition is news for peers.
  int before = local_changes;
  sim.prober.respond = [](const CheckSpec&) { return res(false); };
  sim.run_for(20'000);
  EXPECT_GT(local_changes, before);
  EXPECT_EQ(sim.engine.local_view()[0].status, Status::kUnhealthy);
}

// A check another site runs: no probe here, the peers' views alone decide.
TEST(EngineAggregation, ChecksNotProbedHereFollowPeers) {
  Sim sim;
  CheckSpec s = http_check("web");
  s.probed_here = false;
  s.initial = Status::kHealthy;
  ASSERT_TRUE(sim.engine.configure({s}).ok());
  sim.run_for(30'000);
  EXPECT_EQ(sim.prober.count_started("web"), 0u);
  EXPECT_TRUE(sim.engine.local_view().empty());
  EXPECT_EQ(sim.status("web"), Status::kHealthy);
  ASSERT_TRUE(sim.engine
                  .set_peer_view("tokyo", {{"web", Status::kUnhealthy, sim.clock.wall_ms(), "503"}})
                  .ok());
  EXPECT_EQ(sim.status("web"), Status::kUnhealthy);
  ASSERT_TRUE(sim.engine
                  .set_peer_view("tokyo", {{"web", Status::kHealthy, sim.clock.wall_ms(), "ok"}})
                  .ok());
  EXPECT_EQ(sim.status("web"), Status::kHealthy);
}

}  // namespace
}  // namespace steerdns::health
