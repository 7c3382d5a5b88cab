#pragma once
// A failover record set, a FakeClock, an Orchestrator and the real policy::compile, driven the
// way the daemon drives them: compile a health-only table (with the orchestrator's overrides),
// update(), then compile with state() to see the answer.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/clock.h"
#include "dns/rrtype.h"
#include "dr/orchestrator.h"
#include "health/view.h"
#include "policy/model.h"
#include "policy/table.h"

namespace steerdns::dr::test {

inline constexpr health::Status kUp = health::Status::kHealthy;
inline constexpr health::Status kDown = health::Status::kUnhealthy;
inline constexpr Millis kSec = 1000;

inline policy::Member Tier(int tier, const std::string& ip, const std::string& check) {
  policy::Member m;
  m.set_id = std::string("t").append(std::to_string(tier));
  m.rdata.push_back(std::vector<uint8_t>(4));
  EXPECT_EQ(inet_pton(AF_INET, ip.c_str(), m.rdata.back().data()), 1);
  m.health_check = check;
  m.tier = tier;
  m.where = "test.yaml:" + std::to_string(tier);
  return m;
}

// app.example.test. A: tier 1 192.0.2.1 (check c1), tier 2 192.0.2.2 (c2), [tier 3 .3 (c3)].
inline policy::RecordSet FailoverSet(int tiers = 2) {
  policy::RecordSet rs;
  rs.name = *dns::Name::from_text("app.example.test.");
  rs.type = dns::rrtype::A;
  rs.ttl = 60;
  rs.policy = policy::Policy::kFailover;
  for (int t = 1; t <= tiers; ++t) {
    std::string n = std::to_string(t);
    rs.members.push_back(Tier(t, std::string("192.0.2.").append(n), std::string("c").append(n)));
  }
  rs.failover_ttl = 30;
  rs.failover_ttl_hold_ms = 0;
  rs.failback = policy::FailbackMode::kAuto;
  rs.stabilize_ms = 60 * kSec;
  rs.min_state_ms = 30 * kSec;
  rs.ramp_ms = 100 * kSec;
  rs.flap_transitions = 4;
  rs.flap_window_ms = 600 * kSec;
  rs.where = "test.yaml:1";
  return rs;
}

struct Rig {
  FakeClock clock;
  Orchestrator orch{clock};
  std::shared_ptr<policy::SteeringSpec> spec = std::make_shared<policy::SteeringSpec>();
  std::map<std::string, health::Status> health;
  std::map<std::string, std::string> reasons;  // check id -> last failure reason
  std::mutex events_mu;  // callbacks may run on several threads
  std::vector<Event> events;
  std::string key;

  explicit Rig(policy::RecordSet rs) {
    key = rs.key();
    spec->record_sets.push_back(std::move(rs));
    for (const auto& m : spec->record_sets[0].members) {
      health[m.health_check] = kUp;
    }
    orch.configure(spec);
    orch.on_event([this](const Event& e) {
      std::lock_guard lock(events_mu);
      events.push_back(e);
    });
  }

  std::shared_ptr<health::HealthView> view() const {
    auto hv = std::make_shared<health::HealthView>();
    for (const auto& [id, st] : health) {
      health::CheckState cs;
      cs.status = st;
      cs.source = health::Source::kProbe;
      if (auto it = reasons.find(id); it != reasons.end()) {
        cs.last_failure_reason = it->second;
      }
      hv->add(id, cs);
    }
    return hv;
  }

  std::shared_ptr<const policy::Table> compile(bool with_state) const {
    auto hv = view();
    auto ov = orch.overrides();
    auto st = orch.state();
    policy::CompileInputs in;
    in.spec = spec.get();
    in.health = hv.get();
    in.overrides = &ov;
    in.steer = with_state ? &st : nullptr;
    auto r = policy::compile(in);
    EXPECT_TRUE(r.ok()) << r.error();
    return r.ok() ? *r : nullptr;
  }

  // Advances time, applies health changes, and runs one update() as the daemon would.
  bool step(Millis advance, const std::map<std::string, health::Status>& changes = {}) {
    clock.advance(advance);
    for (const auto& [id, st] : changes) {
      health[id] = st;
    }
    auto t = compile(false);
    return t ? orch.update(*t) : false;
  }

  SetStatus status() const {
    auto all = orch.status();
    EXPECT_EQ(all.size(), 1u);
    return all.empty() ? SetStatus{} : all[0];
  }
  policy::SteerState steer() const { return orch.state().at(key); }
  uint32_t ttl() const { return status().ttl; }
  int tier() const { return status().active_tier; }
  Phase phase() const { return status().phase; }

  // The address the real table answers with (entropy 0 = never the ramp tier unless share 1).
  std::string answer(uint64_t entropy = 0) const {
    auto t = compile(true);
    if (!t) {
      return "<no table>";
    }
    auto sel = t->select(t->id_of(key), policy::Client{}, entropy);
    if (sel.outcome != policy::Selection::Outcome::kAnswer || sel.count != 1) {
      return std::string("<").append(std::to_string(sel.count)).append(" values>");
    }
    char buf[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, sel.data + 2, buf, sizeof buf);
    return buf;
  }

  std::vector<std::string> event_types() const {
    std::vector<std::string> out;
    for (const auto& e : events) {
      out.push_back(e.type);
    }
    return out;
  }
  int count(const std::string& type) const {
    int n = 0;
    for (const auto& e : events) {
      n += e.type == type ? 1 : 0;
    }
    return n;
  }
};

}  // namespace steerdns::dr::test
