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

}  // namespace
}  // namespace steerdns::health
