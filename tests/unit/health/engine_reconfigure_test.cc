// Reconfiguration: unchanged checks keep state and schedule, removed ones stop, invalid lists
// change nothing.
#include <gtest/gtest.h>

#include <set>

#include "engine_sim.h"

namespace steerdns::health {
namespace {

using testing::http_check;
using testing::Sim;

struct RSim : Sim {
  std::set<std::string> down;
  RSim() {
    prober.respond = [this](const CheckSpec& s) {
      ProbeResult r;
      r.ok = !down.count(s.http.host);
      r.reason = r.ok ? "ok" : "refused";
      return r;
    };
  }
};

TEST(EngineReconfigure, UnchangedKeepStateAndScheduleRemovedStop) {
  RSim sim;
  sim.down = {"10.0.0.1"};
  CheckSpec a = http_check("a", "10.0.0.1");
  a.where = "old.yaml:3";
  CheckSpec b = http_check("b", "10.0.0.2");
  ASSERT_TRUE(sim.engine.configure({a, b}).ok());
  sim.run_for(5'000);
  ASSERT_EQ(sim.status("a"), Status::kUnhealthy);
  ASSERT_EQ(sim.status("b"), Status::kHealthy);
  auto before = sim.engine.report();
  Millis due_before = before.checks[0].next_probe_in_ms;
  size_t transitions_before = sim.transitions.size();

  a.where = "new.yaml:9";  // moved in the file: still the same check
  CheckSpec c = http_check("c", "10.0.0.3");
  ASSERT_TRUE(sim.engine.configure({c, a}).ok());
  auto after = sim.engine.report();
  ASSERT_EQ(after.checks.size(), 2u);
  EXPECT_EQ(after.checks[1].id, "a");
  EXPECT_EQ(after.checks[1].state.status, Status::kUnhealthy);
  EXPECT_EQ(after.checks[1].state.since_wall_ms, before.checks[0].state.since_wall_ms);
  EXPECT_EQ(after.checks[1].state.consecutive_fail, before.checks[0].state.consecutive_fail);
  EXPECT_EQ(after.checks[1].next_probe_in_ms, due_before);
  EXPECT_EQ(after.checks[1].transitions, before.checks[0].transitions);
  EXPECT_EQ(sim.transitions.size(), transitions_before);
  EXPECT_EQ(sim.status("c"), Status::kUnknown);
  auto v = sim.engine.view().load();
  EXPECT_EQ(v->index_of("b"), -1);
  EXPECT_EQ(v->size(), 2u);

  size_t b_probes = sim.prober.count_started("b");
  sim.run_for(10'000);
  EXPECT_EQ(sim.prober.count_started("b"), b_probes) << "a removed check is no longer probed";
  EXPECT_EQ(sim.status("c"), Status::kHealthy);
  EXPECT_EQ(sim.status("a"), Status::kUnhealthy);
}

TEST(EngineReconfigure, InvalidListRejectedRunningChecksUntouched) {
  RSim sim;
  ASSERT_TRUE(sim.engine.configure({http_check("a"), http_check("b", "10.0.0.2")}).ok());
  sim.run_for(3'000);
  uint64_t version = sim.engine.view().load()->version();
  CheckSpec bad;
  bad.id = "calc";
  bad.kind = Kind::kCalculated;
  bad.calculated.children = {"a", "missing"};
  auto st = sim.engine.configure({http_check("a"), bad});
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error(), "health check 'calc': children: unknown check 'missing'");
  EXPECT_EQ(sim.engine.view().load()->version(), version);
  EXPECT_EQ(sim.engine.view().load()->size(), 2u);
  size_t probes = sim.prober.count_started("b");
  sim.run_for(3'000);
  EXPECT_GT(sim.prober.count_started("b"), probes) << "b keeps running";
}

TEST(EngineReconfigure, NewThresholdsKeepStateNewTargetStartsOver) {
  RSim sim;
  sim.down = {"10.0.0.1"};
  ASSERT_TRUE(sim.engine.configure({http_check("a", "10.0.0.1")}).ok());
  sim.run_for(5'000);
  ASSERT_EQ(sim.status("a"), Status::kUnhealthy);
  CheckSpec a2 = http_check("a", "10.0.0.1");
  a2.success_threshold = 4;
  a2.interval_ms = 2'000;
  ASSERT_TRUE(sim.engine.configure({a2}).ok());
  EXPECT_EQ(sim.status("a"), Status::kUnhealthy);
  sim.down.clear();
  size_t n = sim.transitions.size();
  // Four successes are now needed (1 at the interval, 3 rechecks).
  Millis next = sim.engine.next_due_ms();
  sim.run_until(next + 3 * 200 - 1);
  EXPECT_EQ(sim.status("a"), Status::kUnhealthy);
  sim.run_until(next + 3 * 200);
  EXPECT_EQ(sim.status("a"), Status::kHealthy);
  EXPECT_EQ(sim.transitions.size(), n + 1);

  // Another target under the same id is a different check: it starts from its initial state.
  CheckSpec moved = http_check("a", "10.0.0.9");
  moved.initial = Status::kUnhealthy;
  ASSERT_TRUE(sim.engine.configure({moved}).ok());
  EXPECT_EQ(sim.status("a"), Status::kUnhealthy);
  EXPECT_EQ(sim.state("a").source, Source::kInitial);
}

TEST(EngineReconfigure, ResultOfRemovedInFlightProbeIsIgnored) {
  RSim sim;
  sim.prober.latency_ms = 400;
  ASSERT_TRUE(sim.engine.configure({http_check("a")}).ok());
  sim.run_until(sim.engine.next_due_ms());
  ASSERT_EQ(sim.engine.report().probes_in_flight, 1u);
  ASSERT_TRUE(sim.engine.configure({http_check("z", "10.0.0.26")}).ok());
  sim.run_for(2'000);
  // The engine's count of probes in flight matches the prober's (the stale result was
  // counted out and otherwise ignored).
  EXPECT_EQ(sim.engine.report().probes_in_flight, sim.prober.in_flight());
  auto v = sim.engine.view().load();
  EXPECT_EQ(v->index_of("a"), -1);
  EXPECT_EQ(sim.status("z"), Status::kHealthy);
}

}  // namespace
}  // namespace steerdns::health

namespace steerdns::health {
namespace {

TEST(EngineReconfigure, NewAggregationRuleAppliesAtOnce) {
  testing::Sim sim;
  CheckSpec s = testing::http_check("web");
  s.initial = Status::kHealthy;
  ASSERT_TRUE(sim.engine.configure({s}).ok());
  sim.run_for(2'000);
  ProbeResult bad;
  bad.reason = "timeout";
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(sim.engine.add_observation("tokyo", "web", bad, sim.clock.wall_ms()).ok());
    ASSERT_TRUE(sim.engine.add_observation("oslo", "web", bad, sim.clock.wall_ms()).ok());
  }
  EXPECT_EQ(sim.status("web"), Status::kHealthy);  // route53: 1 of 3 is more than 18 %
  s.aggregation = Aggregation::kMajority;
  ASSERT_TRUE(sim.engine.configure({s}).ok());
  EXPECT_EQ(sim.status("web"), Status::kUnhealthy);
  EXPECT_EQ(sim.transitions.back().reason,
            "configuration changed (1 of 3 checkers healthy, rule majority)");
}

}  // namespace
}  // namespace steerdns::health
