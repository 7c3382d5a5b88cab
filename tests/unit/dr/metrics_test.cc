// Steering and action metrics: built from a real orchestrator (fake clock, real policy compile)
// and a real action runner; names, labels and values.
#include "dr/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "dr_test_util.h"
#include "testlib/metrics_samples.h"
#include "obs/metrics.h"

namespace steerdns::dr::test {
namespace {

using steerdns::testing::find_sample;
using steerdns::testing::sample_value;



obs::Families collect(const Rig& r) {
  obs::Families out;
  collect_steering_metrics(r.orch, r.clock.wall_ms(), out);
  return out;
}

TEST(SteeringMetrics, FailoverCountsAndMovesTheActiveMember) {
  Rig r(FailoverSet());
  r.step(0);
  const obs::Labels set{{"record_set", r.key}};
  auto f = collect(r);
  EXPECT_EQ(sample_value(f, "steerdns_steering_active_tier", set), 1);
  EXPECT_EQ(sample_value(f, "steerdns_steering_failovers_total", set), 0);
  EXPECT_EQ(sample_value(f, "steerdns_steering_member_active", {{"record_set", r.key}, {"member", "t1"}}),
            1);
  EXPECT_EQ(sample_value(f, "steerdns_steering_member_active", {{"record_set", r.key}, {"member", "t2"}}),
            0);

  r.step(kSec, {{"c1", kDown}});
  r.clock.advance(10 * kSec);
  f = collect(r);
  EXPECT_EQ(sample_value(f, "steerdns_steering_active_tier", set), 2);
  EXPECT_EQ(sample_value(f, "steerdns_steering_failovers_total", set), 1);
  EXPECT_EQ(sample_value(f, "steerdns_steering_member_active", {{"record_set", r.key}, {"member", "t1"}}),
            0);
  EXPECT_EQ(sample_value(f, "steerdns_steering_member_active", {{"record_set", r.key}, {"member", "t2"}}),
            1);
  EXPECT_EQ(sample_value(f, "steerdns_steering_state_seconds", set), 10);

  // Failback (auto, after stabilize) is not a failover; the next failure is.
  r.step(kSec, {{"c1", kUp}});
  r.step(61 * kSec);
  ASSERT_EQ(r.tier(), 1);
  EXPECT_EQ(sample_value(collect(r), "steerdns_steering_failovers_total", set), 1);
  r.step(kSec, {{"c1", kDown}});
  ASSERT_EQ(r.tier(), 2);
  EXPECT_EQ(sample_value(collect(r), "steerdns_steering_failovers_total", set), 2);

  // A reload that removes the served tier restarts the set on tier 1 but keeps the count.
  r.clock.advance(5 * kSec);
  auto spec = std::make_shared<policy::SteeringSpec>();
  spec->record_sets.push_back(FailoverSet(1));
  r.orch.configure(spec);
  r.spec = spec;
  f = collect(r);
  EXPECT_EQ(sample_value(f, "steerdns_steering_active_tier", set), 1);
  EXPECT_EQ(sample_value(f, "steerdns_steering_failovers_total", set), 2);
  EXPECT_EQ(sample_value(f, "steerdns_steering_state_seconds", set), 0);
  EXPECT_EQ(sample_value(f, "steerdns_steering_member_active", {{"record_set", r.key}, {"member", "t1"}}),
            1);
  EXPECT_EQ(find_sample(f, "steerdns_steering_member_active", {{"record_set", r.key}, {"member", "t2"}}),
            nullptr);
}

TEST(SteeringMetrics, GradualFailbackServesBothMembers) {
  auto rs = FailoverSet();
  rs.failback = policy::FailbackMode::kGradual;
  rs.stabilize_ms = 0;
  rs.min_state_ms = 0;
  Rig r(rs);
  r.step(0);
  r.step(kSec, {{"c1", kDown}});
  r.step(kSec, {{"c1", kUp}});
  ASSERT_EQ(r.phase(), Phase::kFailingBack);
  r.clock.advance(30 * kSec);  // part of the 100 s ramp
  ASSERT_GT(r.status().ramp_share, 0);
  auto f = collect(r);
  EXPECT_EQ(sample_value(f, "steerdns_steering_active_tier", {{"record_set", r.key}}), 2);
  EXPECT_EQ(sample_value(f, "steerdns_steering_member_active", {{"record_set", r.key}, {"member", "t1"}}),
            1);
  EXPECT_EQ(sample_value(f, "steerdns_steering_member_active", {{"record_set", r.key}, {"member", "t2"}}),
            1);
}

TEST(SteeringMetrics, ScrapeText) {
  Rig r(FailoverSet());
  r.step(0);
  r.step(kSec, {{"c1", kDown}});
  obs::Registry reg;
  auto h = reg.add([&](obs::Families& out) {
    collect_steering_metrics(r.orch, r.clock.wall_ms(), out);
    collect_action_metrics(ActionStats{}, out);
  });
  std::string text = reg.scrape();
  EXPECT_NE(text.find("# TYPE steerdns_steering_failovers_total counter"), std::string::npos)
      << text;
  EXPECT_NE(text.find("steerdns_steering_failovers_total{record_set=\"" + r.key + "\"} 1"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("steerdns_action_runs_total{result=\"dropped\"} 0"), std::string::npos)
      << text;
}

TEST(ActionMetrics, OkFailedAndDropped) {
  FakeClock clock;
  ActionRunnerOptions opts;
  opts.max_queue = 1;
  ActionRunner runner(clock, opts);
  ActionSpec ok;
  ok.kind = ActionKind::kExec;
  ok.argv = {"/bin/true"};
  ok.timeout_ms = 5000;
  ActionSpec bad = ok;
  bad.argv = {"/bin/false"};
  bad.retries = 0;
  auto spec = std::make_shared<ActionsSpec>();
  spec->on["failover"] = {ok, bad};
  runner.configure(spec);
  Event e;
  e.type = "failover";
  e.target = "app.example.test./A";
  ASSERT_TRUE(runner.submit(e));   // queued (not started yet)
  ASSERT_FALSE(runner.submit(e));  // queue full: both its actions dropped
  runner.start();
  ASSERT_TRUE(runner.wait_idle(10'000));
  ActionStats st = runner.stats();
  EXPECT_EQ(st.ok, 1u);
  EXPECT_EQ(st.failed, 1u);
  EXPECT_EQ(st.dropped, 2u);
  obs::Families f;
  collect_action_metrics(st, f);
  EXPECT_EQ(sample_value(f, "steerdns_action_runs_total", {{"result", "ok"}}), 1);
  EXPECT_EQ(sample_value(f, "steerdns_action_runs_total", {{"result", "failed"}}), 1);
  EXPECT_EQ(sample_value(f, "steerdns_action_runs_total", {{"result", "dropped"}}), 2);
}

}  // namespace
}  // namespace steerdns::dr::test
