#include "dr/orchestrator.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "dr_test_util.h"

namespace steerdns::dr::test {
namespace {

// Gradual failback that starts as soon as the primary is healthy again (no stabilize, no
// minimum time in a state).
policy::RecordSet ImmediateGradualSet() {
  auto rs = FailoverSet();
  rs.failback = policy::FailbackMode::kGradual;
  rs.stabilize_ms = 0;
  rs.min_state_ms = 0;
  return rs;
}

TEST(Orchestrator, StartsNormalAndFollowsHealth) {
  Rig r(FailoverSet());
  EXPECT_TRUE(r.step(0));  // first update publishes
  EXPECT_EQ(r.phase(), Phase::kNormal);
  EXPECT_EQ(r.steer().active_tier, 0);  // follow health
  EXPECT_EQ(r.ttl(), 60u);
  EXPECT_EQ(r.answer(), "192.0.2.1");
  EXPECT_FALSE(r.step(kSec));  // nothing changed
  EXPECT_EQ(r.orch.next_due_ms(), -1);
  EXPECT_TRUE(r.events.empty());
}

TEST(Orchestrator, ImmediateFailover) {
  Rig r(FailoverSet());
  r.step(0);
  r.reasons["c1"] = "HTTP 503";
  EXPECT_TRUE(r.step(kSec, {{"c1", kDown}}));
  EXPECT_EQ(r.phase(), Phase::kFailedOver);
  EXPECT_EQ(r.tier(), 2);
  EXPECT_EQ(r.steer().active_tier, 2);
  EXPECT_EQ(r.answer(), "192.0.2.2");
  ASSERT_EQ(r.events.size(), 1u);
  EXPECT_EQ(r.events[0].type, "failover");
  EXPECT_EQ(r.events[0].from_tier, 1);
  EXPECT_EQ(r.events[0].to_tier, 2);
  EXPECT_EQ(r.events[0].actor, "steerdns");
  EXPECT_EQ(r.events[0].wall_ms, r.clock.wall_ms());
  // The cause names the member's check, where its status came from, and its failure reason.
  EXPECT_EQ(r.events[0].cause, "check c1 unhealthy (probe): HTTP 503; tier 2 healthy");
  EXPECT_EQ(r.status().reason, r.events[0].cause);
}

TEST(Orchestrator, CausesNameChecksForFailbackRollbackAndAllDown) {
  Rig r(ImmediateGradualSet());
  r.step(0);
  r.reasons["c1"] = "connect: refused";
  r.step(kSec, {{"c1", kDown}});
  r.step(kSec, {{"c1", kUp}});
  ASSERT_EQ(r.event_types(), (std::vector<std::string>{"failover", "failback_started"}));
  EXPECT_EQ(r.events[1].cause.rfind("tier 1 (check c1) healthy for 0s", 0), 0u)
      << r.events[1].cause;
  r.reasons["c1"] = "HTTP 500";
  r.step(kSec, {{"c1", kDown}});
  ASSERT_EQ(r.events.back().type, "failback_rolled_back");
  EXPECT_EQ(r.events.back().cause, "check c1 unhealthy (probe): HTTP 500 during the ramp");
  r.reasons["c2"] = "timeout after 2000 ms";
  r.step(kSec, {{"c2", kDown}});
  ASSERT_EQ(r.events.back().type, "all_down");
  EXPECT_EQ(r.events.back().cause,
            "no tier healthy (check c1 unhealthy (probe): HTTP 500; check c2 unhealthy (probe): "
            "timeout after 2000 ms); on_all_down: fail_open");
}

TEST(Orchestrator, CauseOfAMemberOverrideAndOfTiersAlone) {
  Rig r(FailoverSet(3));
  r.step(0);
  Override o;
  o.scope = OverrideScope::kMember;
  o.target = r.key + "#t1";
  o.action = OverrideAction::kForceDown;
  o.reason = "maintenance";
  o.author = "alice";
  o.expires_wall_ms = r.clock.wall_ms() + 3600 * kSec;
  ASSERT_TRUE(r.orch.set_override(o).ok());
  r.step(kSec);
  ASSERT_EQ(r.events.back().type, "failover");
  EXPECT_EQ(r.events.back().cause,
            "member t1 unhealthy: forced down by a member override; tier 2 healthy");
  // Callers that give tiers only (simulate, tests) get the tier named.
  r.orch.update_tiers({{r.key, {3}}});
  ASSERT_EQ(r.events.back().type, "failover");
  EXPECT_EQ(r.events.back().cause, "tier 2 unhealthy; tier 3 healthy");
}

TEST(Orchestrator, NoFailoverToUnhealthySecondary) {
  Rig r(FailoverSet());
  r.step(0, {{"c2", kDown}});
  r.step(kSec, {{"c1", kDown}});
  EXPECT_EQ(r.tier(), 1);
  EXPECT_EQ(r.phase(), Phase::kNormal);
  EXPECT_EQ(r.event_types(), std::vector<std::string>{"all_down"});
  EXPECT_NE(r.events[0].cause.find("fail_open"), std::string::npos) << r.events[0].cause;
  EXPECT_EQ(r.answer(), "192.0.2.1");  // fail_open: the table answers the primary
  // The secondary comes back: now the failover happens.
  r.step(kSec, {{"c2", kUp}});
  EXPECT_EQ(r.tier(), 2);
  EXPECT_EQ(r.event_types(),
            (std::vector<std::string>{"all_down", "all_down_cleared", "failover"}));
}

// TTL 60 -> 30 while failed over, capped by the time to the next possible change.
TEST(Orchestrator, TtlLoweredAndCappedByNextChange) {
  auto rs = FailoverSet();
  rs.failover_ttl_hold_ms = 120 * kSec;
  Rig r(rs);
  struct Step {
    Millis advance;
    std::map<std::string, health::Status> health;
    int tier;
    uint32_t ttl;
    Millis due_in = -2;  // next_due_ms() - now; -2 = not checked
  };
  const std::vector<Step> steps = {
      {0, {}, 1, 60},
      {kSec, {{"c1", kDown}}, 2, 30},  // failed over: failover_ttl (next failback >= 60 s away)
      {100 * kSec, {}, 2, 30},
      {0, {{"c1", kUp}}, 2, 30},         // stabilize 60 s from now
      {0, {}, 2, 30, 60 * kSec},         // uncapped: due at the failback
      {50 * kSec, {}, 2, 10, 5 * kSec},  // 10 s to failback; republish the TTL halfway
      {5500, {}, 2, 5, 2250},            // 4.5 s -> rounded up; halfway again
      {4400, {}, 2, 1, 100},             // 100 ms -> at least 1 s
      {100, {}, 1, 30, 120 * kSec},      // failed back; hold keeps 30 for 120 s
      {119 * kSec, {}, 1, 30},
      {kSec, {}, 1, 60, -1},  // hold over: nothing timed
  };
  for (size_t i = 0; i < steps.size(); ++i) {
    r.step(steps[i].advance, steps[i].health);
    EXPECT_EQ(r.tier(), steps[i].tier) << "step " << i;
    EXPECT_EQ(r.ttl(), steps[i].ttl) << "step " << i;
    if (steps[i].due_in != -2) {
      Millis due = r.orch.next_due_ms();
      EXPECT_EQ(due < 0 ? -1 : due - r.clock.now_ms(), steps[i].due_in) << "step " << i;
    }
  }
  // The compiled table answers with that TTL too.
  r.step(0, {{"c1", kDown}});
  auto t = r.compile(true);
  EXPECT_EQ(t->select(t->id_of(r.key), policy::Client{}, 0).ttl, 30u);
}

TEST(Orchestrator, AutoFailbackAfterStabilizeAndMinState) {
  struct Case {
    const char* name;
    Millis stabilize, min_state;
    Millis primary_back_after;  // after the failover
    Millis expect_failback_at;  // after the failover
  };
  const std::vector<Case> cases = {
      {"stabilize dominates", 60 * kSec, 30 * kSec, 10 * kSec, 70 * kSec},
      {"min_state dominates", 20 * kSec, 90 * kSec, 5 * kSec, 90 * kSec},
      {"both zero", 0, 0, 3 * kSec, 3 * kSec},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto rs = FailoverSet();
    rs.stabilize_ms = c.stabilize;
    rs.min_state_ms = c.min_state;
    Rig r(rs);
    r.step(0);
    r.step(0, {{"c1", kDown}});
    ASSERT_EQ(r.tier(), 2);
    r.step(c.primary_back_after, {{"c1", kUp}});
    Millis t = c.primary_back_after;
    if (c.expect_failback_at > t) {
      EXPECT_EQ(r.tier(), 2);
      // The daemon wakes at next_due_ms(): exactly the failback time.
      EXPECT_EQ(r.orch.next_due_ms() - r.clock.now_ms(), c.expect_failback_at - t);
      r.step(c.expect_failback_at - t - 1);
      EXPECT_EQ(r.tier(), 2);
      r.step(1);
    }
    EXPECT_EQ(r.tier(), 1);
    EXPECT_EQ(r.phase(), Phase::kNormal);
    EXPECT_EQ(r.answer(), "192.0.2.1");
    EXPECT_EQ(r.event_types(), (std::vector<std::string>{"failover", "failback"}));
  }
}

TEST(Orchestrator, PrimaryFlappingDuringStabilizationRestartsTheClock) {
  Rig r(FailoverSet());  // stabilize 60 s
  r.step(0);
  r.step(0, {{"c1", kDown}});
  r.step(40 * kSec, {{"c1", kUp}});
  r.step(50 * kSec, {{"c1", kDown}});  // 10 s before failback
  r.step(kSec, {{"c1", kUp}});         // clock restarts here
  r.step(59 * kSec);
  EXPECT_EQ(r.tier(), 2);
  r.step(kSec);
  EXPECT_EQ(r.tier(), 1);
  EXPECT_EQ(r.count("failback"), 1);
}

TEST(Orchestrator, ManualFailbackWaitsForApprovalAndSurvivesRestart) {
  auto rs = FailoverSet();
  rs.failback = policy::FailbackMode::kManual;
  std::string saved;
  {
    Rig r(rs);
    r.step(0);
    EXPECT_FALSE(r.orch.approve_failback(r.key, "alice").ok());  // not failed over
    r.step(0, {{"c1", kDown}});
    r.step(10 * kSec, {{"c1", kUp}});
    EXPECT_EQ(r.phase(), Phase::kHeld);
    EXPECT_TRUE(r.status().awaiting_approval);
    r.step(3600 * kSec);
    EXPECT_EQ(r.tier(), 2);
    EXPECT_EQ(r.answer(), "192.0.2.2");
    EXPECT_EQ(r.ttl(), 30u);
    EXPECT_EQ(r.event_types(), (std::vector<std::string>{"failover", "failback_pending_approval"}));
    saved = r.orch.save();
  }
  // A restart: the new process restores before its first update.
  Rig r2(rs);
  auto st = r2.orch.restore(saved);
  ASSERT_TRUE(st.ok()) << st.error();
  EXPECT_EQ(r2.phase(), Phase::kHeld);
  EXPECT_TRUE(r2.status().awaiting_approval);
  r2.step(kSec);
  EXPECT_EQ(r2.tier(), 2);
  EXPECT_EQ(r2.answer(), "192.0.2.2");
  EXPECT_FALSE(r2.orch.approve_failback("nope./A", "alice").ok());
  EXPECT_FALSE(r2.orch.approve_failback(r2.key, "").ok());
  auto ok = r2.orch.approve_failback(r2.key, "alice");
  ASSERT_TRUE(ok.ok()) << ok.error();
  EXPECT_TRUE(r2.step(0));
  EXPECT_EQ(r2.tier(), 1);
  EXPECT_EQ(r2.phase(), Phase::kNormal);
  EXPECT_EQ(r2.answer(), "192.0.2.1");
  EXPECT_EQ(r2.event_types(), (std::vector<std::string>{"failback_approved", "failback"}));
  EXPECT_EQ(r2.events[0].actor, "alice");
}

TEST(Orchestrator, ManualPendingCancelledWhenPrimaryFailsAgain) {
  auto rs = FailoverSet();
  rs.failback = policy::FailbackMode::kManual;
  Rig r(rs);
  r.step(0, {{"c1", kDown}});
  r.step(kSec, {{"c1", kUp}});
  EXPECT_TRUE(r.status().awaiting_approval);
  r.step(kSec, {{"c1", kDown}});
  EXPECT_FALSE(r.status().awaiting_approval);
  EXPECT_EQ(r.phase(), Phase::kFailedOver);
  auto st = r.orch.approve_failback(r.key, "alice");
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.error().find("no better tier"), std::string::npos) << st.error();
}

TEST(Orchestrator, GradualRampStepsAndCompletes) {
  auto rs = FailoverSet();
  rs.failback = policy::FailbackMode::kGradual;
  rs.stabilize_ms = 10 * kSec;
  rs.min_state_ms = 0;
  rs.ramp_ms = 100 * kSec;  // 10 steps of 10 s
  Rig r(rs);
  r.step(0, {{"c1", kDown}});
  r.step(kSec, {{"c1", kUp}});
  r.step(10 * kSec);
  ASSERT_EQ(r.phase(), Phase::kFailingBack);
  EXPECT_EQ(r.event_types(), (std::vector<std::string>{"failover", "failback_started"}));
  for (int k = 1; k <= 10; ++k) {
    SCOPED_TRACE(k);
    auto s = r.steer();
    EXPECT_EQ(s.active_tier, 2);
    EXPECT_EQ(s.ramp_tier, 1);
    EXPECT_DOUBLE_EQ(s.ramp_share, k / 10.0);
    EXPECT_EQ(r.status().ramp_share, k / 10.0);
    EXPECT_LE(r.ttl(), 10u);  // next step within 10 s
    // Due halfway to republish the shrinking TTL; nothing changes then but the TTL.
    EXPECT_EQ(r.orch.next_due_ms(), r.clock.now_ms() + 5 * kSec);
    EXPECT_TRUE(r.step(10 * kSec));
  }
  EXPECT_EQ(r.phase(), Phase::kNormal);
  EXPECT_EQ(r.tier(), 1);
  EXPECT_EQ(r.steer().ramp_share, 0);
  EXPECT_EQ(r.answer(), "192.0.2.1");
  EXPECT_EQ(r.event_types(),
            (std::vector<std::string>{"failover", "failback_started", "failback"}));
}

TEST(Orchestrator, GradualRampSplitsAnswers) {
  Rig r(ImmediateGradualSet());
  r.step(0, {{"c1", kDown}});
  r.step(kSec, {{"c1", kUp}});
  r.step(35 * kSec);  // share 0.4
  ASSERT_DOUBLE_EQ(r.steer().ramp_share, 0.4);
  int primary = 0;
  const int n = 2000;
  for (int i = 0; i < n; ++i) {
    uint64_t e = static_cast<uint64_t>(i) * 0x9E3779B97F4A7C15ull;
    primary += r.answer(e) == "192.0.2.1" ? 1 : 0;
  }
  EXPECT_NEAR(primary / static_cast<double>(n), 0.4, 0.06);
}

TEST(Orchestrator, GradualRollbackWhenPrimaryDegrades) {
  Rig r(ImmediateGradualSet());
  r.step(0, {{"c1", kDown}});
  r.step(kSec, {{"c1", kUp}});
  r.step(25 * kSec);
  ASSERT_EQ(r.phase(), Phase::kFailingBack);
  EXPECT_TRUE(r.step(kSec, {{"c1", kDown}}));
  EXPECT_EQ(r.phase(), Phase::kFailedOver);
  EXPECT_EQ(r.tier(), 2);
  EXPECT_EQ(r.steer().ramp_share, 0);
  EXPECT_EQ(r.answer(~0ull), "192.0.2.2");
  EXPECT_EQ(r.event_types(),
            (std::vector<std::string>{"failover", "failback_started", "failback_rolled_back"}));
  EXPECT_EQ(r.events.back().from_tier, 1);
  EXPECT_EQ(r.events.back().to_tier, 2);
}

TEST(Orchestrator, FlapFreezeAfterKTransitionsInWindow) {
  auto rs = FailoverSet();
  rs.stabilize_ms = 0;
  rs.min_state_ms = 0;
  rs.flap_transitions = 4;
  rs.flap_window_ms = 300 * kSec;
  Rig r(rs);
  r.step(0);
  // Four transitions within 40 s: down, up, down, up.
  r.step(10 * kSec, {{"c1", kDown}});
  r.step(10 * kSec, {{"c1", kUp}});
  r.step(10 * kSec, {{"c1", kDown}});
  EXPECT_FALSE(r.status().frozen);
  r.step(10 * kSec, {{"c1", kUp}});
  // The fourth transition (failback to tier 1) froze it there: tier 1 is serving and healthy.
  EXPECT_TRUE(r.status().frozen);
  EXPECT_EQ(r.phase(), Phase::kHeld);
  EXPECT_EQ(r.count("flap_frozen"), 1);
  EXPECT_EQ(r.status().recent_transitions_wall_ms.size(), 4u);
  // Frozen does not stop a failover away from a dead tier ...
  r.step(10 * kSec, {{"c1", kDown}});
  EXPECT_EQ(r.tier(), 2);
  EXPECT_TRUE(r.status().frozen);
  // ... but it stops failing back while health keeps moving.
  r.step(10 * kSec, {{"c1", kUp}});
  r.step(200 * kSec);
  EXPECT_EQ(r.tier(), 2);
  EXPECT_EQ(r.ttl(), 30u);
  // Quiet for a whole window since the last health change: unfrozen, then normal failback.
  r.step(100 * kSec);
  EXPECT_FALSE(r.status().frozen);
  EXPECT_EQ(r.tier(), 1);
  auto types = r.event_types();
  ASSERT_GE(types.size(), 2u);
  EXPECT_EQ(types[types.size() - 2], "unfrozen");
  EXPECT_EQ(types.back(), "failback");
}

TEST(Orchestrator, FlapFreezeReleasedByOperator) {
  auto rs = FailoverSet();
  rs.stabilize_ms = 0;
  rs.min_state_ms = 0;
  rs.flap_transitions = 3;
  Rig r(rs);
  r.step(0);
  r.step(kSec, {{"c1", kDown}});
  r.step(kSec, {{"c1", kUp}});
  r.step(kSec, {{"c1", kDown}});
  ASSERT_TRUE(r.status().frozen);
  EXPECT_EQ(r.tier(), 2);
  r.step(kSec, {{"c1", kUp}});
  EXPECT_EQ(r.tier(), 2);
  auto st = r.orch.approve_failback(r.key, "bob");
  ASSERT_TRUE(st.ok()) << st.error();
  EXPECT_FALSE(r.status().frozen);
  EXPECT_EQ(r.tier(), 1);
  auto types = r.event_types();
  EXPECT_EQ(std::vector<std::string>(types.end() - 3, types.end()),
            (std::vector<std::string>{"unfrozen", "failback_approved", "failback"}));
}

TEST(Orchestrator, ThreeTiers) {
  auto rs = FailoverSet(3);
  rs.flap_transitions = 100;  // effectively off: this walk makes six transitions
  Rig r(rs);
  r.step(0);
  r.step(kSec, {{"c1", kDown}});
  EXPECT_EQ(r.tier(), 2);
  r.step(kSec, {{"c2", kDown}});
  EXPECT_EQ(r.tier(), 3);
  EXPECT_EQ(r.answer(), "192.0.2.3");
  r.step(kSec, {{"c2", kUp}});  // tier 2 is better: stabilize, then back to 2
  r.step(60 * kSec);
  EXPECT_EQ(r.tier(), 2);
  EXPECT_EQ(r.phase(), Phase::kFailedOver);
  r.step(kSec, {{"c1", kUp}});
  r.step(60 * kSec);
  EXPECT_EQ(r.tier(), 1);
  EXPECT_EQ(r.phase(), Phase::kNormal);
  // Tier 2 and 3 healthy, 1 down: tier 2 (the first healthy), not 3.
  r.step(kSec, {{"c1", kDown}});
  EXPECT_EQ(r.tier(), 2);
  // The served tier dies while tier 1 is back but not stabilised: the first healthy tier.
  r.step(kSec, {{"c1", kUp}});
  r.step(kSec, {{"c2", kDown}});
  EXPECT_EQ(r.tier(), 1);
  EXPECT_EQ(r.event_types(), (std::vector<std::string>{"failover", "failover", "failback",
                                                       "failback", "failover", "failover"}));
}

TEST(Orchestrator, ReloadKeepsStateAndDropsRemovedSets) {
  Rig r(FailoverSet());
  r.step(0, {{"c1", kDown}});
  ASSERT_EQ(r.tier(), 2);
  r.orch.configure(r.spec);  // same sets: state kept
  EXPECT_EQ(r.tier(), 2);
  auto other = std::make_shared<policy::SteeringSpec>();
  r.orch.configure(other);
  EXPECT_TRUE(r.orch.status().empty());
  EXPECT_TRUE(r.orch.state().empty());
}

TEST(Orchestrator, CallbacksMayCallBackInAndThreadsMayShareIt) {
  Rig r(FailoverSet());
  std::vector<Phase> seen;
  std::atomic<bool> threaded{false};
  r.orch.on_event([&](const Event&) {
    auto phase = r.orch.status()[0].phase;
    if (!threaded.load()) {
      seen.push_back(phase);
    }
  });
  r.step(0, {{"c1", kDown}});
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0], Phase::kFailedOver);  // the callback sees the new state

  // The steering thread updates while the control thread sets overrides and reads status.
  threaded = true;
  std::atomic<bool> stop{false};
  std::thread control([&] {
    int i = 0;
    while (!stop.load()) {
      Override o;
      o.scope = OverrideScope::kCheck;
      o.target = "c3";
      o.action = i % 2 == 0 ? OverrideAction::kForceUp : OverrideAction::kForceDown;
      o.reason = "load test";
      o.author = "t";
      // Beyond the 200 s the other thread advances the clock by (an expiry it overtakes
      // between these two lines would be refused as already past).
      o.expires_wall_ms = r.clock.wall_ms() + 1000 * kSec;
      auto st = r.orch.set_override(o);
      EXPECT_TRUE(st.ok()) << st.error();
      (void)r.orch.status();
      (void)r.orch.save();
      ++i;
    }
  });
  for (int i = 0; i < 2000; ++i) {
    r.clock.advance(100);
    r.orch.update_tiers({{r.key, i % 50 < 25 ? std::vector<int>{2} : std::vector<int>{1, 2}}});
    (void)r.orch.state();
    (void)r.orch.next_due_ms();
  }
  stop = true;
  control.join();
  EXPECT_EQ(r.orch.status().size(), 1u);
}

}  // namespace
}  // namespace steerdns::dr::test
