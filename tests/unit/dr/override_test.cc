// Operator overrides and persistence (save/restore).
#include <gtest/gtest.h>

#include "dr/orchestrator.h"
#include "dr_test_util.h"

namespace steerdns::dr::test {
namespace {

Override Ov(OverrideScope scope, const std::string& target, OverrideAction action,
            Millis expires_wall, Millis drain_ms = 0) {
  Override o;
  o.scope = scope;
  o.target = target;
  o.action = action;
  o.reason = "maintenance window CHG-42";
  o.author = "alice";
  o.expires_wall_ms = expires_wall;
  o.drain_ms = drain_ms;
  return o;
}

TEST(Overrides, RejectsIncompleteOverridesAndChangesNothing) {
  Rig r(FailoverSet());
  Millis later = r.clock.wall_ms() + 3600 * kSec;
  struct Case {
    const char* name;
    Override o;
    const char* error;
  };
  std::vector<Case> cases;
  auto base = Ov(OverrideScope::kCheck, "c1", OverrideAction::kForceDown, later);
  {
    auto o = base;
    o.reason = "";
    cases.push_back({"no reason", o, "reason is required"});
  }
  {
    auto o = base;
    o.author = "";
    cases.push_back({"no author", o, "author is required"});
  }
  {
    auto o = base;
    o.expires_wall_ms = 0;
    cases.push_back({"no expiry", o, "expiry is required"});
  }
  {
    auto o = base;
    o.expires_wall_ms = r.clock.wall_ms() - 1;
    cases.push_back({"expiry in the past", o, "is in the past"});
  }
  {
    auto o = base;
    o.target = "";
    cases.push_back({"no target", o, "target is required"});
  }
  cases.push_back({"drain on a check",
                   Ov(OverrideScope::kCheck, "c1", OverrideAction::kDrain, later, 10 * kSec),
                   "drain applies to a member"});
  cases.push_back({"drain without duration",
                   Ov(OverrideScope::kMember, r.key + "#t1", OverrideAction::kDrain, later, 0),
                   "drain needs a duration"});
  cases.push_back({"member without #",
                   Ov(OverrideScope::kMember, r.key, OverrideAction::kForceDown, later),
                   "set key#set_id"});
  cases.push_back({"unknown member",
                   Ov(OverrideScope::kMember, r.key + "#t9", OverrideAction::kForceDown, later),
                   "has no member 't9'"});
  cases.push_back(
      {"unknown set",
       Ov(OverrideScope::kRecordSet, "nope.example./A", OverrideAction::kForceDown, later),
       "no record set 'nope.example./A'"});
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto st = r.orch.set_override(c.o);
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.error().find(c.error), std::string::npos) << st.error();
  }
  EXPECT_TRUE(r.orch.list_overrides().empty());
  EXPECT_TRUE(r.events.empty());
  EXPECT_FALSE(r.orch.clear_override(OverrideScope::kCheck, "c1", "alice").ok());
}

TEST(Overrides, ForceDownCheckFailsOverAndExpires) {
  Rig r(FailoverSet());
  r.step(0);
  Millis expires = r.clock.wall_ms() + 600 * kSec;
  ASSERT_TRUE(
      r.orch.set_override(Ov(OverrideScope::kCheck, "c1", OverrideAction::kForceDown, expires))
          .ok());
  EXPECT_EQ(r.orch.overrides().checks.at("c1"), policy::ForceState::kDown);
  ASSERT_EQ(r.events.size(), 1u);
  EXPECT_EQ(r.events[0].type, "override_set");
  EXPECT_EQ(r.events[0].actor, "alice");
  EXPECT_NE(r.events[0].cause.find("CHG-42"), std::string::npos);
  // The health-only table includes the override: the state machine fails over.
  EXPECT_TRUE(r.step(kSec));
  EXPECT_EQ(r.tier(), 2);
  EXPECT_EQ(r.answer(), "192.0.2.2");
  ASSERT_EQ(r.status().overrides.size(), 1u);
  EXPECT_NE(r.status().overrides[0].find("force_down by alice"), std::string::npos)
      << r.status().overrides[0];
  // The daemon wakes at the expiry.
  EXPECT_EQ(r.orch.next_due_ms(), r.clock.now_ms() + 599 * kSec);
  r.step(599 * kSec - 1);
  EXPECT_EQ(r.orch.list_overrides().size(), 1u);
  r.step(1);
  EXPECT_TRUE(r.orch.list_overrides().empty());
  EXPECT_EQ(r.count("override_expired"), 1);
  // Then ordinary auto failback after stabilize.
  r.step(60 * kSec);
  EXPECT_EQ(r.tier(), 1);
  EXPECT_EQ(r.event_types(),
            (std::vector<std::string>{"override_set", "failover", "override_expired", "failback"}));
}

TEST(Overrides, ForceUpAndClear) {
  Rig r(FailoverSet());
  r.step(0, {{"c1", kDown}});
  ASSERT_EQ(r.tier(), 2);
  Millis expires = r.clock.wall_ms() + 600 * kSec;
  ASSERT_TRUE(
      r.orch.set_override(Ov(OverrideScope::kCheck, "c1", OverrideAction::kForceUp, expires)).ok());
  r.step(0);  // the daemon updates after every override change
  r.step(60 * kSec);
  EXPECT_EQ(r.tier(), 1);  // forced up counts as healthy: failback after stabilize
  auto st = r.orch.clear_override(OverrideScope::kCheck, "c1", "bob");
  ASSERT_TRUE(st.ok()) << st.error();
  EXPECT_EQ(r.events.back().type, "override_cleared");
  EXPECT_EQ(r.events.back().actor, "bob");
  r.step(kSec);
  EXPECT_EQ(r.tier(), 2);  // real health again: c1 is down
}

TEST(Overrides, MemberForceDownAndSetForceDown) {
  Rig r(FailoverSet());
  r.step(0);
  Millis expires = r.clock.wall_ms() + 600 * kSec;
  ASSERT_TRUE(r.orch
                  .set_override(Ov(OverrideScope::kMember, r.key + "#t1",
                                   OverrideAction::kForceDown, expires))
                  .ok());
  EXPECT_EQ(r.orch.overrides().members.at(r.key + "#t1"), policy::ForceState::kDown);
  r.step(kSec);
  EXPECT_EQ(r.tier(), 2);
  ASSERT_TRUE(
      r.orch.set_override(Ov(OverrideScope::kRecordSet, r.key, OverrideAction::kForceDown, expires))
          .ok());
  EXPECT_EQ(r.orch.overrides().sets.at(r.key), policy::ForceState::kDown);
  EXPECT_EQ(r.status().overrides.size(), 2u);
  // A second override on the same target replaces the first.
  ASSERT_TRUE(
      r.orch.set_override(Ov(OverrideScope::kRecordSet, r.key, OverrideAction::kForceUp, expires))
          .ok());
  EXPECT_EQ(r.orch.list_overrides().size(), 2u);
  EXPECT_NE(r.events.back().cause.find("replaces"), std::string::npos);
}

TEST(Overrides, DrainRampsWeightToZero) {
  Rig r(FailoverSet());
  r.step(0);
  std::string member = r.key + "#t1";
  Millis expires = r.clock.wall_ms() + 3600 * kSec;
  ASSERT_TRUE(r.orch
                  .set_override(Ov(OverrideScope::kMember, member, OverrideAction::kDrain, expires,
                                   100 * kSec))
                  .ok());
  for (int k = 0; k <= 10; ++k) {
    SCOPED_TRACE(k);
    EXPECT_DOUBLE_EQ(r.orch.overrides().drain.at(member), 1.0 - k / 10.0);
    if (k < 10) {
      // The TTL is capped at the 10 s to the next drain step and republished halfway.
      EXPECT_EQ(r.orch.next_due_ms(), r.clock.now_ms() + 5 * kSec);
      EXPECT_LE(r.ttl(), 10u);
      EXPECT_TRUE(r.step(10 * kSec));
    }
  }
  EXPECT_DOUBLE_EQ(r.orch.overrides().drain.at(member), 0.0);
  EXPECT_EQ(r.orch.next_due_ms(), r.clock.now_ms() + 3500 * kSec);  // only the expiry is left
}

TEST(Persistence, SaveRestoreRoundTripsStateAndOverrides) {
  auto rs = FailoverSet();
  rs.flap_transitions = 2;
  rs.stabilize_ms = 0;
  rs.min_state_ms = 0;
  std::string saved;
  {
    Rig r(rs);
    r.step(0);
    r.step(kSec, {{"c1", kDown}});
    r.step(kSec, {{"c1", kUp}});
    ASSERT_TRUE(r.status().frozen);  // two transitions
    r.step(kSec, {{"c1", kDown}});
    ASSERT_EQ(r.tier(), 2);
    ASSERT_TRUE(r.orch
                    .set_override(Ov(OverrideScope::kCheck, "c3", OverrideAction::kForceDown,
                                     r.clock.wall_ms() + 600 * kSec))
                    .ok());
    saved = r.orch.save();
  }
  Rig r2(rs);
  ASSERT_TRUE(r2.orch.restore(saved).ok());
  auto s = r2.status();
  EXPECT_TRUE(s.frozen);
  EXPECT_EQ(s.phase, Phase::kHeld);
  EXPECT_EQ(s.active_tier, 2);
  EXPECT_EQ(s.recent_transitions_wall_ms.size(), 3u);
  ASSERT_EQ(r2.orch.list_overrides().size(), 1u);
  EXPECT_EQ(r2.orch.list_overrides()[0].author, "alice");
  r2.step(kSec);  // primary healthy but frozen: stays
  EXPECT_EQ(r2.tier(), 2);
  EXPECT_EQ(r2.orch.save().find("\"frozen\": true") != std::string::npos, true);
}

TEST(Persistence, RestoreRejectsMalformedInputWithoutChangingState) {
  Rig r(FailoverSet());
  r.step(0, {{"c1", kDown}});
  ASSERT_EQ(r.tier(), 2);
  std::string before = r.orch.save();
  const std::string k = "\"" + r.key + "\"";
  struct Case {
    std::string json;
    const char* error;
  };
  const std::vector<Case> cases = {
      {"not json", "not a JSON object"},
      {"{}", "version"},
      {R"({"version": 1})", "\"sets\""},
      {R"({"version": 1, "sets": {}})", "\"overrides\""},
      {R"({"version": 1, "sets": {)" + k + R"(: {"phase": "sideways"}}, "overrides": []})",
       "unknown phase 'sideways'"},
      {R"({"version": 1, "sets": {)" + k + R"(: {"phase": "normal"}}, "overrides": []})",
       "active_tier: missing"},
      {R"({"version": 1, "sets": {}, "overrides": [{"scope": "planet"}]})",
       "unknown scope 'planet'"},
      {R"({"version": 1, "sets": {}, "overrides": [{"scope": "check", "action": "drain",
          "target": "c1", "reason": "", "author": "a", "created_wall_ms": 1,
          "expires_wall_ms": 2, "drain_ms": 0}]})",
       "reason and author are required"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.json);
    auto st = r.orch.restore(c.json);
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.error().find("restore"), std::string::npos) << st.error();
    EXPECT_NE(st.error().find(c.error), std::string::npos) << st.error();
    EXPECT_EQ(r.orch.save(), before);
  }
}

TEST(Persistence, RestoreIgnoresSetsNoLongerConfigured) {
  Rig r(FailoverSet());
  std::string json = R"({"version": 1, "sets": {"gone.example./A": {"phase": "failed_over",
      "active_tier": 2, "since_wall_ms": 1, "reason": "x", "frozen": false,
      "frozen_until_wall_ms": 0, "awaiting_approval": false, "ramp_tier": 0,
      "ramp_start_wall_ms": 0, "ttl_hold_until_wall_ms": 0, "transitions_wall_ms": []}},
      "overrides": []})";
  auto st = r.orch.restore(json);
  ASSERT_TRUE(st.ok()) << st.error();
  ASSERT_EQ(r.orch.status().size(), 1u);
  EXPECT_EQ(r.tier(), 1);
}

TEST(Persistence, RestoredRampContinues) {
  auto rs = FailoverSet();
  rs.failback = policy::FailbackMode::kGradual;
  rs.stabilize_ms = 0;
  rs.min_state_ms = 0;
  std::string saved;
  {
    Rig r(rs);
    r.step(0, {{"c1", kDown}});
    r.step(kSec, {{"c1", kUp}});
    r.step(45 * kSec);
    ASSERT_DOUBLE_EQ(r.steer().ramp_share, 0.5);
    saved = r.orch.save();
  }
  Rig r2(rs);
  r2.clock.advance(46 * kSec);  // the restarted process runs at the same wall time
  ASSERT_TRUE(r2.orch.restore(saved).ok());
  EXPECT_EQ(r2.phase(), Phase::kFailingBack);
  EXPECT_DOUBLE_EQ(r2.steer().ramp_share, 0.5);
  r2.step(55 * kSec);
  EXPECT_EQ(r2.tier(), 1);
  EXPECT_EQ(r2.phase(), Phase::kNormal);
}

}  // namespace
}  // namespace steerdns::dr::test
