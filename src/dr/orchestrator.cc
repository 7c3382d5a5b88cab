#include "dr/orchestrator.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <nlohmann/json.hpp>
#include <set>
#include <string_view>
#include <utility>

namespace steerdns::dr {

namespace {

using nlohmann::json;

std::string secs(Millis ms) {
  if (ms % 1000 == 0) {
    return std::to_string(ms / 1000) + "s";
  }
  return std::to_string(ms) + "ms";
}

bool contains(const std::vector<int>& v, int x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

const char* kSelf = "steerdns";

std::optional<Phase> phase_from(const std::string& s) {
  for (Phase p : {Phase::kNormal, Phase::kFailedOver, Phase::kFailingBack, Phase::kHeld}) {
    if (s == phase_name(p)) {
      return p;
    }
  }
  return std::nullopt;
}

std::optional<OverrideScope> scope_from(const std::string& s) {
  for (auto v : {OverrideScope::kCheck, OverrideScope::kMember, OverrideScope::kRecordSet}) {
    if (s == override_scope_name(v)) {
      return v;
    }
  }
  return std::nullopt;
}

std::optional<OverrideAction> action_from(const std::string& s) {
  for (auto v : {OverrideAction::kForceUp, OverrideAction::kForceDown, OverrideAction::kDrain}) {
    if (s == override_action_name(v)) {
      return v;
    }
  }
  return std::nullopt;
}

bool same_steer(const policy::SteerState& a, const policy::SteerState& b) {
  return a.active_tier == b.active_tier && a.ramp_tier == b.ramp_tier &&
         a.ramp_share == b.ramp_share && a.ttl == b.ttl;
}

bool same_state(const std::map<std::string, policy::SteerState>& a,
                const std::map<std::string, policy::SteerState>& b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (auto ia = a.begin(), ib = b.begin(); ia != a.end(); ++ia, ++ib) {
    if (ia->first != ib->first || !same_steer(ia->second, ib->second)) {
      return false;
    }
  }
  return true;
}

bool same_overrides(const policy::Overrides& a, const policy::Overrides& b) {
  return a.checks == b.checks && a.members == b.members && a.drain == b.drain && a.sets == b.sets;
}

std::string describe(const Override& o) {
  std::string s = std::string(override_scope_name(o.scope)) + " " + o.target + " " +
                  override_action_name(o.action);
  if (o.action == OverrideAction::kDrain) {
    s += " over " + secs(o.drain_ms);
  }
  s += " by " + o.author + ": " + o.reason + " (expires at " + std::to_string(o.expires_wall_ms) +
       ")";
  return s;
}

// Why a member is down, from policy::MemberHealth::why: "check web: unhealthy (probe): HTTP 503"
// reads "check web unhealthy (probe): HTTP 503"; other reasons (member overrides, alias
// targets) are prefixed with the member.
std::string down_cause(const policy::Member& m, const std::string& why) {
  if (!m.health_check.empty()) {
    std::string prefix = "check " + m.health_check + ": ";
    if (why.compare(0, prefix.size(), prefix) == 0) {
      return "check " + m.health_check + " " + why.substr(prefix.size());
    }
  }
  return "member " + m.set_id + " unhealthy: " + why;
}

}  // namespace

const char* phase_name(Phase p) {
  switch (p) {
    case Phase::kNormal:
      return "normal";
    case Phase::kFailedOver:
      return "failed_over";
    case Phase::kFailingBack:
      return "failing_back";
    case Phase::kHeld:
      return "held";
  }
  return "?";
}

const char* override_scope_name(OverrideScope s) {
  switch (s) {
    case OverrideScope::kCheck:
      return "check";
    case OverrideScope::kMember:
      return "member";
    case OverrideScope::kRecordSet:
      return "record_set";
  }
  return "?";
}

const char* override_action_name(OverrideAction a) {
  switch (a) {
    case OverrideAction::kForceUp:
      return "force_up";
    case OverrideAction::kForceDown:
      return "force_down";
    case OverrideAction::kDrain:
      return "drain";
  }
  return "?";
}

struct Orchestrator::SetState {
  std::string key;
  const policy::RecordSet* rs = nullptr;  // owned by spec_
  std::vector<int> tiers;                 // distinct, ascending
  int first() const { return tiers.front(); }

  Phase phase = Phase::kNormal;
  int active = 1;
  Millis since_ms = 0;
  Millis since_wall = 0;
  std::string reason = "initial";

  std::optional<std::vector<int>> healthy;  // last health seen; nullopt = none yet
  int candidate = 0;                        // better tier that is healthy, 0 = none
  Millis candidate_since = 0;
  bool all_down = false;

  bool frozen = false;
  Millis frozen_until = 0;
  bool awaiting = false;
  int ramp_tier = 0;
  Millis ramp_start = 0;
  Millis ttl_hold_until = 0;                          // 0 = no hold
  std::deque<std::pair<Millis, Millis>> transitions;  // (monotonic, wall) within the flap window
  uint64_t failovers = 0;  // since start; survives a reload that resets the set

  // Why each unhealthy tier is down ("check primary-region unhealthy (probe): HTTP 503"), from
  // the table update() was given; consumed by the next evaluation. Empty when the caller gave
  // tiers only (update_tiers): causes then name the tier alone.
  std::map<int, std::string> down_why;
  // The tier's checks, for failback causes ("check primary-region"); "" = no check.
  std::string checks_of(int tier) const {
    std::string out;
    for (const auto& m : rs->members) {
      if (m.tier == tier && !m.health_check.empty()) {
        out += (out.empty() ? "check " : ", ") + m.health_check;
      }
    }
    return out;
  }
  // "tier 1 (check primary-region)" or "tier 1".
  std::string tier_text(int tier) const {
    std::string c = checks_of(tier);
    return "tier " + std::to_string(tier) + (c.empty() ? "" : " (" + c + ")");
  }
  // Why `tier` is unhealthy: its member's check and last failure reason when known.
  std::string down_text(int tier) const {
    auto it = down_why.find(tier);
    return it != down_why.end() ? it->second : "tier " + std::to_string(tier) + " unhealthy";
  }
};

Orchestrator::Orchestrator(Clock& clock) : clock_(clock) {}
Orchestrator::~Orchestrator() = default;

Event Orchestrator::make_event(std::string type, std::string target, std::string cause,
                               std::string actor, int from, int to) const {
  Event e;
  e.wall_ms = clock_.wall_ms();
  e.type = std::move(type);
  e.target = std::move(target);
  e.cause = std::move(cause);
  e.actor = std::move(actor);
  e.from_tier = from;
  e.to_tier = to;
  return e;
}

void Orchestrator::emit(std::vector<Event> events) {
  if (events.empty()) {
    return;
  }
  std::vector<std::function<void(const Event&)>> cbs;
  {
    std::lock_guard lock(mu_);
    cbs = callbacks_;
  }
  for (const auto& e : events) {
    for (const auto& cb : cbs) {
      cb(e);
    }
  }
}

void Orchestrator::on_event(std::function<void(const Event&)> cb) {
  std::lock_guard lock(mu_);
  callbacks_.push_back(std::move(cb));
}

void Orchestrator::configure(std::shared_ptr<const policy::SteeringSpec> spec) {
  std::lock_guard lock(mu_);
  std::map<std::string, std::unique_ptr<SetState>> next;
  Millis now = clock_.now_ms();
  if (spec) {
    for (const auto& rs : spec->record_sets) {
      if (rs.policy != policy::Policy::kFailover || rs.members.empty()) {
        continue;
      }
      std::set<int> tiers;
      for (const auto& m : rs.members) {
        tiers.insert(m.tier);
      }
      std::string key = rs.key();
      auto old = sets_.find(key);
      std::unique_ptr<SetState> st;
      if (old != sets_.end()) {
        st = std::move(old->second);
      } else {
        st = std::make_unique<SetState>();
        st->key = key;
        st->since_ms = now;
        st->since_wall = clock_.wall_ms();
      }
      st->rs = &rs;
      st->tiers.assign(tiers.begin(), tiers.end());
      bool tiers_ok = contains(st->tiers, st->active) &&
                      (st->ramp_tier == 0 || contains(st->tiers, st->ramp_tier));
      if (!tiers_ok || old == sets_.end()) {
        // New set, or its tiers changed under it: start over on the first tier.
        std::string key_copy = st->key;
        uint64_t failovers = st->failovers;
        *st = SetState{};
        st->key = key_copy;
        st->failovers = failovers;
        st->rs = &rs;
        st->tiers.assign(tiers.begin(), tiers.end());
        st->active = st->first();
        st->since_ms = now;
        st->since_wall = clock_.wall_ms();
        st->reason = old == sets_.end() ? "initial" : "tiers changed by reload";
      }
      next.emplace(key, std::move(st));
    }
  }
  sets_ = std::move(next);
  spec_ = std::move(spec);
}

void Orchestrator::record_transition_locked(SetState& st, Millis now, std::vector<Event>& out) {
  st.transitions.emplace_back(now, clock_.wall_ms());
  const auto& rs = *st.rs;
  if (st.frozen || rs.flap_transitions <= 0 ||
      static_cast<int>(st.transitions.size()) < rs.flap_transitions) {
    return;
  }
  st.frozen = true;
  st.frozen_until = now + rs.flap_window_ms;
  st.phase = Phase::kHeld;
  st.awaiting = false;
  st.reason = std::to_string(st.transitions.size()) + " transitions within " +
              secs(rs.flap_window_ms) + ": frozen on tier " + std::to_string(st.active);
  out.push_back(make_event("flap_frozen", st.key, st.reason, kSelf, st.active, st.active));
}

void Orchestrator::transition_locked(SetState& st, int to_tier, const char* type,
                                     const std::string& cause, const std::string& actor, Millis now,
                                     std::vector<Event>& out) {
  int from = st.active;
  st.active = to_tier;
  st.since_ms = now;
  st.since_wall = clock_.wall_ms();
  st.reason = cause;
  st.ramp_tier = 0;
  st.ramp_start = 0;
  st.awaiting = false;
  st.candidate = 0;
  if (to_tier == st.first() && from != st.first()) {
    st.ttl_hold_until = st.rs->failover_ttl_hold_ms > 0 ? now + st.rs->failover_ttl_hold_ms : 0;
  } else if (to_tier != st.first()) {
    st.ttl_hold_until = 0;
  }
  st.phase =
      st.frozen ? Phase::kHeld : (to_tier == st.first() ? Phase::kNormal : Phase::kFailedOver);
  if (std::string_view(type) == "failover") {
    ++st.failovers;
  }
  out.push_back(make_event(type, st.key, cause, actor, from, to_tier));
  record_transition_locked(st, now, out);
}

void Orchestrator::start_failback_locked(SetState& st, int to_tier, const std::string& cause,
                                         const std::string& actor, Millis now,
                                         std::vector<Event>& out) {
  if (st.rs->failback == policy::FailbackMode::kGradual && st.rs->ramp_ms > 0) {
    st.phase = Phase::kFailingBack;
    st.ramp_tier = to_tier;
    st.ramp_start = now;
    st.awaiting = false;
    st.reason = cause + "; ramping over " + secs(st.rs->ramp_ms);
    out.push_back(make_event("failback_started", st.key, st.reason, actor, st.active, to_tier));
    return;
  }
  transition_locked(st, to_tier, "failback", cause, actor, now, out);
}

void Orchestrator::evaluate_locked(SetState& st, const std::vector<int>& healthy, Millis now,
                                   std::vector<Event>& out) {
  const auto& rs = *st.rs;
  while (!st.transitions.empty() && now - st.transitions.front().first >= rs.flap_window_ms) {
    st.transitions.pop_front();
  }
  if (st.frozen && st.healthy && *st.healthy != healthy) {
    // Health is still moving: the freeze lasts until it has been quiet for a whole window.
    st.frozen_until = now + rs.flap_window_ms;
  }
  st.healthy = healthy;
  int best = healthy.empty() ? 0 : healthy.front();
  int candidate = (best != 0 && best < st.active) ? best : 0;
  if (candidate != st.candidate) {
    st.candidate = candidate;
    st.candidate_since = now;
  }

  if (best == 0) {
    if (!st.all_down) {
      st.all_down = true;
      std::string why;
      for (const auto& [tier, w] : st.down_why) {
        why += (why.empty() ? " (" : "; ") + w;
      }
      out.push_back(make_event("all_down", st.key,
                               "no tier healthy" + (why.empty() ? "" : why + ")") +
                                   "; on_all_down: " + policy::all_down_name(rs.on_all_down),
                               kSelf, st.active, st.active));
    }
    if (st.phase == Phase::kFailingBack) {
      int ramp = st.ramp_tier;
      st.phase = st.frozen ? Phase::kHeld : Phase::kFailedOver;
      st.ramp_tier = 0;
      st.since_ms = now;
      st.since_wall = clock_.wall_ms();
      st.reason = st.down_text(ramp) + " during the ramp (all down)";
      out.push_back(make_event("failback_rolled_back", st.key, st.reason, kSelf, ramp, st.active));
      record_transition_locked(st, now, out);
    }
    if (st.awaiting) {
      st.awaiting = false;
      st.phase = st.frozen ? Phase::kHeld : Phase::kFailedOver;
      out.push_back(make_event("failback_pending_cancelled", st.key, "no tier healthy", kSelf,
                               st.active, st.active));
    }
    return;
  }
  if (st.all_down) {
    st.all_down = false;
    out.push_back(make_event("all_down_cleared", st.key, st.tier_text(best) + " healthy again",
                             kSelf, st.active, st.active));
  }

  // The served tier is down: move at once to the first healthy tier (it is healthy, which is
  // the failover precondition; capacity/replication checks on its members count as health).
  if (!contains(healthy, st.active)) {
    std::string cause = st.down_text(st.active) + "; tier " + std::to_string(best) + " healthy";
    transition_locked(st, best, "failover", cause, kSelf, now, out);
    return;
  }

  if (st.phase == Phase::kFailingBack) {
    if (!contains(healthy, st.ramp_tier)) {
      int ramp = st.ramp_tier;
      st.phase = st.frozen ? Phase::kHeld : Phase::kFailedOver;
      st.ramp_tier = 0;
      st.since_ms = now;
      st.since_wall = clock_.wall_ms();
      st.candidate = 0;
      st.reason = st.down_text(ramp) + " during the ramp";
      out.push_back(make_event("failback_rolled_back", st.key, st.reason, kSelf, ramp, st.active));
      record_transition_locked(st, now, out);
      return;
    }
    if (now - st.ramp_start >= rs.ramp_ms) {
      transition_locked(st, st.ramp_tier, "failback",
                        "ramp to tier " + std::to_string(st.ramp_tier) + " completed", kSelf, now,
                        out);
    }
    return;
  }

  if (st.frozen) {
    if (now < st.frozen_until) {
      return;
    }
    st.frozen = false;
    st.phase = st.active == st.first() ? Phase::kNormal : Phase::kFailedOver;
    st.reason = "no flapping for " + secs(rs.flap_window_ms);
    out.push_back(make_event("unfrozen", st.key, st.reason, kSelf, st.active, st.active));
  }

  if (st.candidate == 0) {
    if (st.awaiting) {
      st.awaiting = false;
      st.phase = Phase::kFailedOver;
      st.reason = "better tier unhealthy again";
      out.push_back(
          make_event("failback_pending_cancelled", st.key, st.reason, kSelf, st.active, st.active));
    }
    return;
  }
  if (rs.failback == policy::FailbackMode::kManual) {
    if (!st.awaiting) {
      st.awaiting = true;
      st.phase = Phase::kHeld;
      st.reason = st.tier_text(st.candidate) + " healthy; waiting for approval";
      out.push_back(make_event("failback_pending_approval", st.key, st.reason, kSelf, st.active,
                               st.candidate));
    }
    return;
  }
  if (now - st.candidate_since >= rs.stabilize_ms && now - st.since_ms >= rs.min_state_ms) {
    start_failback_locked(st, st.candidate,
                          st.tier_text(st.candidate) + " healthy for " +
                              secs(now - st.candidate_since) + " (stabilize " +
                              secs(rs.stabilize_ms) + ")",
                          kSelf, now, out);
  }
}

Millis Orchestrator::next_change_locked(const SetState& st, Millis now, bool for_ttl) const {
  const auto& rs = *st.rs;
  Millis next = -1;
  auto consider = [&](Millis t) {
    if (t >= 0 && (next < 0 || t < next)) {
      next = std::max(t, now);
    }
  };
  if (st.phase == Phase::kFailingBack) {
    Millis step = std::max<Millis>(1, rs.ramp_ms / kRampSteps);
    Millis done = (now - st.ramp_start) / step;
    consider(std::min(st.ramp_start + (done + 1) * step, st.ramp_start + rs.ramp_ms));
  } else if (st.frozen) {
    consider(st.frozen_until);
  } else if (st.active != st.first() && rs.failback != policy::FailbackMode::kManual) {
    if (st.candidate != 0) {
      consider(std::max(st.candidate_since + rs.stabilize_ms, st.since_ms + rs.min_state_ms));
    } else if (for_ttl) {
      consider(std::max(now + rs.stabilize_ms, st.since_ms + rs.min_state_ms));
    }
  }
  if (for_ttl) {
    // An override touching this set that expires (or steps a drain) changes the answer too.
    Millis wall_now = clock_.wall_ms();
    for (const auto& [k, o] : overrides_) {
      bool touches = false;
      if (o.scope == OverrideScope::kRecordSet) {
        touches = o.target == st.key;
      } else if (o.scope == OverrideScope::kMember) {
        touches = o.target.compare(0, st.key.size() + 1, st.key + "#") == 0;
      } else {
        // A check override reaches this set through any calculated check above it
        // (health/forced.h), which the orchestrator cannot see: count every one.
        touches = true;
      }
      if (!touches) {
        continue;
      }
      consider(now + (o.expires_wall_ms - wall_now));
      if (o.action == OverrideAction::kDrain && o.drain_ms > 0) {
        Millis step = std::max<Millis>(1, o.drain_ms / kDrainSteps);
        Millis el = wall_now - o.created_wall_ms;
        if (el < o.drain_ms) {
          consider(now + ((el / step) + 1) * step - el);
        }
      }
    }
  }
  return next;
}

uint32_t Orchestrator::uncapped_ttl(const SetState& st, Millis now) {
  const auto& rs = *st.rs;
  bool moved = st.active != st.first() || st.phase == Phase::kFailingBack;
  bool lowered = moved || (st.ttl_hold_until > 0 && now < st.ttl_hold_until);
  if (lowered && rs.failover_ttl > 0) {
    return std::min(rs.failover_ttl, rs.ttl);
  }
  return rs.ttl;
}

policy::SteerState Orchestrator::steer_locked(const SetState& st, Millis now) const {
  const auto& rs = *st.rs;
  policy::SteerState s;
  bool moved = st.active != st.first() || st.phase == Phase::kFailingBack;
  s.active_tier = moved ? st.active : 0;
  if (st.phase == Phase::kFailingBack) {
    s.ramp_tier = st.ramp_tier;
    Millis step = std::max<Millis>(1, rs.ramp_ms / kRampSteps);
    Millis k = std::clamp<Millis>((now - st.ramp_start) / step, 0, kRampSteps - 1);
    s.ramp_share = static_cast<double>(k + 1) / kRampSteps;
  }
  uint32_t ttl = uncapped_ttl(st, now);
  Millis next = next_change_locked(st, now, true);
  if (next >= 0) {
    Millis cap = std::max<Millis>(1, (next - now + 999) / 1000);
    ttl = static_cast<uint32_t>(std::min<Millis>(ttl, cap));
  }
  s.ttl = ttl == rs.ttl ? 0 : ttl;
  return s;
}

std::map<std::string, policy::SteerState> Orchestrator::state_locked() const {
  std::map<std::string, policy::SteerState> out;
  Millis now = clock_.now_ms();
  for (const auto& [key, st] : sets_) {
    out.emplace(key, steer_locked(*st, now));
  }
  return out;
}

std::map<std::string, policy::SteerState> Orchestrator::state() const {
  std::lock_guard lock(mu_);
  return state_locked();
}

policy::Overrides Orchestrator::overrides_locked() const {
  policy::Overrides out;
  Millis wall_now = clock_.wall_ms();
  for (const auto& [k, o] : overrides_) {
    if (o.expires_wall_ms <= wall_now) {
      continue;  // expired; removed (with an event) by the next update()
    }
    policy::ForceState f =
        o.action == OverrideAction::kForceUp ? policy::ForceState::kUp : policy::ForceState::kDown;
    switch (o.scope) {
      case OverrideScope::kCheck:
        out.checks[o.target] = f;
        break;
      case OverrideScope::kRecordSet:
        out.sets[o.target] = f;
        break;
      case OverrideScope::kMember:
        if (o.action == OverrideAction::kDrain) {
          Millis step = std::max<Millis>(1, o.drain_ms / kDrainSteps);
          Millis el = std::max<Millis>(0, wall_now - o.created_wall_ms);
          Millis done = std::min<Millis>(el / step, kDrainSteps);
          out.drain[o.target] = 1.0 - static_cast<double>(done) / kDrainSteps;
        } else {
          out.members[o.target] = f;
        }
        break;
    }
  }
  return out;
}

policy::Overrides Orchestrator::overrides() const {
  std::lock_guard lock(mu_);
  return overrides_locked();
}

void Orchestrator::expire_overrides_locked(std::vector<Event>& out) {
  Millis wall_now = clock_.wall_ms();
  for (auto it = overrides_.begin(); it != overrides_.end();) {
    if (it->second.expires_wall_ms <= wall_now) {
      out.push_back(make_event("override_expired", it->second.target,
                               "expired: " + describe(it->second), kSelf, 0, 0));
      it = overrides_.erase(it);
    } else {
      ++it;
    }
  }
}

bool Orchestrator::update_tiers(const std::map<std::string, std::vector<int>>& healthy_tiers) {
  std::vector<Event> events;
  bool changed = false;
  {
    std::lock_guard lock(mu_);
    expire_overrides_locked(events);
    Millis now = clock_.now_ms();
    for (auto& [key, st] : sets_) {
      auto it = healthy_tiers.find(key);
      if (it != healthy_tiers.end()) {
        std::vector<int> h = it->second;
        std::sort(h.begin(), h.end());
        h.erase(std::unique(h.begin(), h.end()), h.end());
        evaluate_locked(*st, h, now, events);
      } else if (st->healthy) {
        std::vector<int> h = *st->healthy;
        evaluate_locked(*st, h, now, events);
      }
      st->down_why.clear();
    }
    auto s = state_locked();
    auto o = overrides_locked();
    changed =
        !published_ || !same_state(s, published_state_) || !same_overrides(o, published_overrides_);
    published_ = true;
    published_state_ = std::move(s);
    published_overrides_ = std::move(o);
  }
  emit(std::move(events));
  return changed;
}

bool Orchestrator::update(const policy::Table& health_only) {
  std::map<std::string, std::vector<int>> tiers;
  {
    std::lock_guard lock(mu_);
    for (const auto& [key, st] : sets_) {
      uint32_t id = health_only.id_of(key);
      if (id == policy::kNoSteer) {
        continue;
      }
      int first = health_only.first_healthy_tier(id);
      std::set<int> h;
      if (first != 0) {
        h.insert(first);
        for (size_t i = 0; i < st->rs->members.size(); ++i) {
          int t = st->rs->members[i].tier;
          if (t > first && health_only.member_health(id, i).healthy) {
            h.insert(t);
          }
        }
      }
      // Causes name the member's check and its last failure reason, not just the tier.
      st->down_why.clear();
      for (size_t i = 0; i < st->rs->members.size(); ++i) {
        const auto& m = st->rs->members[i];
        if (h.count(m.tier) != 0 || st->down_why.count(m.tier) != 0) {
          continue;
        }
        auto mh = health_only.member_health(id, i);
        if (!mh.healthy) {
          st->down_why.emplace(m.tier, down_cause(m, mh.why));
        }
      }
      tiers.emplace(key, std::vector<int>(h.begin(), h.end()));
    }
  }
  return update_tiers(tiers);
}

Millis Orchestrator::next_due_ms() const {
  std::lock_guard lock(mu_);
  Millis now = clock_.now_ms();
  Millis next = -1;
  auto consider = [&](Millis t) {
    if (t >= 0 && (next < 0 || t < next)) {
      next = std::max(t, now);
    }
  };
  for (const auto& [key, st] : sets_) {
    consider(next_change_locked(*st, now, false));
    if (st->ttl_hold_until > now) {
      consider(st->ttl_hold_until);
    }
    // A TTL capped by the time to a change shrinks as that time nears, but the table holds a
    // fixed TTL: republish at halving intervals so that a cached answer outlives the change
    // by at most half the time that was left.
    Millis change = next_change_locked(*st, now, true);
    if (change > now + 1000 &&
        (change - now + 999) / 1000 < static_cast<Millis>(uncapped_ttl(*st, now))) {
      consider(now + std::max<Millis>(1000, (change - now) / 2));
    }
  }
  Millis wall_now = clock_.wall_ms();
  for (const auto& [k, o] : overrides_) {
    consider(now + (o.expires_wall_ms - wall_now));
    if (o.action == OverrideAction::kDrain && o.drain_ms > 0) {
      Millis step = std::max<Millis>(1, o.drain_ms / kDrainSteps);
      Millis el = wall_now - o.created_wall_ms;
      if (el < o.drain_ms) {
        consider(now + ((el / step) + 1) * step - el);
      }
    }
  }
  return next;
}

std::vector<SetStatus> Orchestrator::status() const {
  std::lock_guard lock(mu_);
  std::vector<SetStatus> out;
  Millis now = clock_.now_ms();
  for (const auto& [key, st] : sets_) {
    SetStatus s;
    s.key = key;
    s.phase = st->phase;
    s.active_tier = st->active;
    s.healthy_tier = st->healthy ? (st->healthy->empty() ? 0 : st->healthy->front()) : st->active;
    s.since_wall_ms = st->since_wall;
    s.reason = st->reason;
    s.frozen = st->frozen;
    s.awaiting_approval = st->awaiting;
    auto steer = steer_locked(*st, now);
    s.ramp_share = steer.ramp_share;
    s.ramp_tier = steer.ramp_tier;
    s.ttl = steer.ttl == 0 ? st->rs->ttl : steer.ttl;
    for (const auto& t : st->transitions) {
      s.recent_transitions_wall_ms.push_back(t.second);
    }
    s.failovers = st->failovers;
    for (const auto& m : st->rs->members) {
      s.members.emplace_back(m.set_id, m.tier);
    }
    for (const auto& [k, o] : overrides_) {
      bool touches = false;
      if (o.scope == OverrideScope::kRecordSet) {
        touches = o.target == key;
      } else if (o.scope == OverrideScope::kMember) {
        touches = o.target.compare(0, key.size() + 1, key + "#") == 0;
      } else {
        for (const auto& m : st->rs->members) {
          touches = touches || m.health_check == o.target;
        }
      }
      if (touches) {
        s.overrides.push_back(describe(o));
      }
    }
    out.push_back(std::move(s));
  }
  return out;
}

Status Orchestrator::set_override(Override o) {
  std::vector<Event> events;
  {
    std::lock_guard lock(mu_);
    std::string where =
        std::string("override on ") + override_scope_name(o.scope) + " '" + o.target + "': ";
    if (o.target.empty()) {
      return Error{where + "target is required"};
    }
    if (o.reason.empty()) {
      return Error{where + "reason is required (say why it is forced)"};
    }
    if (o.author.empty()) {
      return Error{where + "author is required (who forces it)"};
    }
    Millis wall_now = clock_.wall_ms();
    if (o.expires_wall_ms == 0) {
      return Error{where + "expiry is required (an override never lasts forever)"};
    }
    if (o.expires_wall_ms <= wall_now) {
      return Error{where + "expiry " + std::to_string(o.expires_wall_ms) + " is in the past (now " +
                   std::to_string(wall_now) + ")"};
    }
    if (o.action == OverrideAction::kDrain) {
      if (o.scope != OverrideScope::kMember) {
        return Error{where + "drain applies to a member (\"set key#set_id\") only"};
      }
      if (o.drain_ms <= 0) {
        return Error{where + "drain needs a duration > 0"};
      }
    }
    if (o.scope == OverrideScope::kMember || o.scope == OverrideScope::kRecordSet) {
      std::string set_key = o.target;
      std::string set_id;
      if (o.scope == OverrideScope::kMember) {
        auto hash = o.target.rfind('#');
        if (hash == std::string::npos || hash == 0 || hash + 1 == o.target.size()) {
          return Error{where + "a member is named \"set key#set_id\""};
        }
        set_key = o.target.substr(0, hash);
        set_id = o.target.substr(hash + 1);
      }
      if (spec_) {
        const policy::RecordSet* found = nullptr;
        for (const auto& rs : spec_->record_sets) {
          if (rs.key() == set_key) {
            found = &rs;
          }
        }
        if (found == nullptr) {
          return Error{where + "no record set '" + set_key + "'"};
        }
        if (!set_id.empty() &&
            std::none_of(found->members.begin(), found->members.end(),
                         [&](const policy::Member& m) { return m.set_id == set_id; })) {
          return Error{where + "record set '" + set_key + "' has no member '" + set_id + "'"};
        }
      }
    }
    o.created_wall_ms = wall_now;
    auto k = std::make_pair(o.scope, o.target);
    std::string cause = describe(o);
    if (overrides_.count(k) != 0) {
      cause += "; replaces: " + describe(overrides_[k]);
    }
    overrides_[k] = o;
    events.push_back(make_event("override_set", o.target, cause, o.author, 0, 0));
  }
  emit(std::move(events));
  return OkStatus();
}

Status Orchestrator::clear_override(OverrideScope scope, const std::string& target,
                                    const std::string& actor) {
  std::vector<Event> events;
  {
    std::lock_guard lock(mu_);
    auto it = overrides_.find({scope, target});
    if (it == overrides_.end()) {
      return Error{std::string("clear override: no override on ") + override_scope_name(scope) +
                   " '" + target + "'"};
    }
    if (actor.empty()) {
      return Error{"clear override on '" + target + "': actor is required"};
    }
    events.push_back(
        make_event("override_cleared", target, "cleared: " + describe(it->second), actor, 0, 0));
    overrides_.erase(it);
  }
  emit(std::move(events));
  return OkStatus();
}

std::vector<Override> Orchestrator::list_overrides() const {
  std::lock_guard lock(mu_);
  std::vector<Override> out;
  for (const auto& [k, o] : overrides_) {
    out.push_back(o);
  }
  return out;
}

Status Orchestrator::approve_failback(const std::string& set_key, const std::string& actor) {
  std::vector<Event> events;
  {
    std::lock_guard lock(mu_);
    auto it = sets_.find(set_key);
    if (it == sets_.end()) {
      return Error{"approve failback: no failover record set '" + set_key + "'"};
    }
    if (actor.empty()) {
      return Error{"approve failback of '" + set_key + "': actor is required"};
    }
    SetState& st = *it->second;
    Millis now = clock_.now_ms();
    bool was_frozen = st.frozen;
    int best = st.healthy && !st.healthy->empty() ? st.healthy->front() : 0;
    bool can_fail_back = best != 0 && best < st.active && st.phase != Phase::kFailingBack;
    if (!was_frozen && !can_fail_back) {
      if (st.phase == Phase::kFailingBack) {
        return Error{"approve failback of '" + set_key + "': already failing back to tier " +
                     std::to_string(st.ramp_tier)};
      }
      if (st.active == st.first()) {
        return Error{"approve failback of '" + set_key + "': not failed over (serving tier " +
                     std::to_string(st.active) + ")"};
      }
      return Error{"approve failback of '" + set_key + "': no better tier than " +
                   std::to_string(st.active) + " is healthy"};
    }
    if (was_frozen) {
      st.frozen = false;
      st.transitions.clear();  // the operator has looked at it: count flaps afresh
      st.phase = st.active == st.first() ? Phase::kNormal : Phase::kFailedOver;
      st.reason = "unfrozen by " + actor;
      events.push_back(
          make_event("unfrozen", st.key, "operator approval", actor, st.active, st.active));
    }
    if (can_fail_back) {
      events.push_back(make_event("failback_approved", st.key,
                                  "failback to tier " + std::to_string(best) + " approved", actor,
                                  st.active, best));
      st.awaiting = false;
      start_failback_locked(st, best, "approved by " + actor, actor, now, events);
    }
  }
  emit(std::move(events));
  return OkStatus();
}

std::string Orchestrator::save() const {
  std::lock_guard lock(mu_);
  json j;
  j["version"] = 1;
  j["saved_wall_ms"] = clock_.wall_ms();
  json sets = json::object();
  Millis now = clock_.now_ms();
  Millis wall_now = clock_.wall_ms();
  auto wall = [&](Millis mono) { return wall_now + (mono - now); };
  for (const auto& [key, st] : sets_) {
    json s;
    s["phase"] = phase_name(st->phase);
    s["active_tier"] = st->active;
    s["since_wall_ms"] = st->since_wall;
    s["reason"] = st->reason;
    s["frozen"] = st->frozen;
    s["frozen_until_wall_ms"] = st->frozen ? wall(st->frozen_until) : 0;
    s["awaiting_approval"] = st->awaiting;
    s["ramp_tier"] = st->ramp_tier;
    s["ramp_start_wall_ms"] = st->ramp_tier != 0 ? wall(st->ramp_start) : 0;
    s["ttl_hold_until_wall_ms"] = st->ttl_hold_until > 0 ? wall(st->ttl_hold_until) : 0;
    json tr = json::array();
    for (const auto& t : st->transitions) {
      tr.push_back(t.second);
    }
    s["transitions_wall_ms"] = tr;
    sets[key] = s;
  }
  j["sets"] = sets;
  json ovs = json::array();
  for (const auto& [k, o] : overrides_) {
    ovs.push_back({{"scope", override_scope_name(o.scope)},
                   {"target", o.target},
                   {"action", override_action_name(o.action)},
                   {"reason", o.reason},
                   {"author", o.author},
                   {"created_wall_ms", o.created_wall_ms},
                   {"expires_wall_ms", o.expires_wall_ms},
                   {"drain_ms", o.drain_ms}});
  }
  j["overrides"] = ovs;
  return j.dump(2);
}

Status Orchestrator::restore(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return Error{"restore: state is not a JSON object"};
  }
  if (!j.contains("version") || !j["version"].is_number_integer() || j["version"] != 1) {
    return Error{"restore: unsupported or missing \"version\" (expected 1)"};
  }
  auto get_int = [](const json& o, const char* k, const std::string& where, Millis& out) -> Status {
    if (!o.contains(k) || !o[k].is_number_integer()) {
      return Error{"restore: " + where + "." + k + ": missing or not an integer"};
    }
    out = o[k].get<Millis>();
    return OkStatus();
  };
  auto get_bool = [](const json& o, const char* k, const std::string& where, bool& out) -> Status {
    if (!o.contains(k) || !o[k].is_boolean()) {
      return Error{"restore: " + where + "." + k + ": missing or not a boolean"};
    }
    out = o[k].get<bool>();
    return OkStatus();
  };
  auto get_str = [](const json& o, const char* k, const std::string& where,
                    std::string& out) -> Status {
    if (!o.contains(k) || !o[k].is_string()) {
      return Error{"restore: " + where + "." + k + ": missing or not a string"};
    }
    out = o[k].get<std::string>();
    return OkStatus();
  };
#define SD_TRY(expr)     \
  do {                   \
    Status st_ = (expr); \
    if (!st_.ok()) {     \
      return st_;        \
    }                    \
  } while (0)

  struct Parsed {
    Phase phase;
    Millis active, since_wall, frozen_until, ramp_tier, ramp_start, hold_until;
    bool frozen, awaiting;
    std::string reason;
    std::vector<Millis> transitions;
  };
  std::map<std::string, Parsed> parsed;
  if (!j.contains("sets") || !j["sets"].is_object()) {
    return Error{"restore: \"sets\" missing or not an object"};
  }
  for (const auto& [key, s] : j["sets"].items()) {
    std::string where = "sets[\"" + key + "\"]";
    if (!s.is_object()) {
      return Error{"restore: " + where + ": not an object"};
    }
    Parsed p{};
    std::string phase;
    SD_TRY(get_str(s, "phase", where, phase));
    auto ph = phase_from(phase);
    if (!ph) {
      return Error{"restore: " + where + ".phase: unknown phase '" + phase + "'"};
    }
    p.phase = *ph;
    SD_TRY(get_int(s, "active_tier", where, p.active));
    SD_TRY(get_int(s, "since_wall_ms", where, p.since_wall));
    SD_TRY(get_str(s, "reason", where, p.reason));
    SD_TRY(get_bool(s, "frozen", where, p.frozen));
    SD_TRY(get_int(s, "frozen_until_wall_ms", where, p.frozen_until));
    SD_TRY(get_bool(s, "awaiting_approval", where, p.awaiting));
    SD_TRY(get_int(s, "ramp_tier", where, p.ramp_tier));
    SD_TRY(get_int(s, "ramp_start_wall_ms", where, p.ramp_start));
    SD_TRY(get_int(s, "ttl_hold_until_wall_ms", where, p.hold_until));
    if (!s.contains("transitions_wall_ms") || !s["transitions_wall_ms"].is_array()) {
      return Error{"restore: " + where + ".transitions_wall_ms: missing or not an array"};
    }
    for (const auto& t : s["transitions_wall_ms"]) {
      if (!t.is_number_integer()) {
        return Error{"restore: " + where + ".transitions_wall_ms: not an integer"};
      }
      p.transitions.push_back(t.get<Millis>());
    }
    if (p.phase == Phase::kFailingBack && p.ramp_tier == 0) {
      return Error{"restore: " + where + ": failing_back without a ramp_tier"};
    }
    parsed.emplace(key, std::move(p));
  }
  std::vector<Override> ovs;
  if (!j.contains("overrides") || !j["overrides"].is_array()) {
    return Error{"restore: \"overrides\" missing or not an array"};
  }
  for (size_t i = 0; i < j["overrides"].size(); ++i) {
    const json& oj = j["overrides"][i];
    std::string where = "overrides[" + std::to_string(i) + "]";
    if (!oj.is_object()) {
      return Error{"restore: " + where + ": not an object"};
    }
    Override o;
    std::string scope, action;
    SD_TRY(get_str(oj, "scope", where, scope));
    auto sc = scope_from(scope);
    if (!sc) {
      return Error{"restore: " + where + ".scope: unknown scope '" + scope + "'"};
    }
    SD_TRY(get_str(oj, "action", where, action));
    auto ac = action_from(action);
    if (!ac) {
      return Error{"restore: " + where + ".action: unknown action '" + action + "'"};
    }
    o.scope = *sc;
    o.action = *ac;
    SD_TRY(get_str(oj, "target", where, o.target));
    SD_TRY(get_str(oj, "reason", where, o.reason));
    SD_TRY(get_str(oj, "author", where, o.author));
    SD_TRY(get_int(oj, "created_wall_ms", where, o.created_wall_ms));
    SD_TRY(get_int(oj, "expires_wall_ms", where, o.expires_wall_ms));
    SD_TRY(get_int(oj, "drain_ms", where, o.drain_ms));
    if (o.target.empty() || o.reason.empty() || o.author.empty()) {
      return Error{"restore: " + where + ": target, reason and author are required"};
    }
    ovs.push_back(std::move(o));
  }
#undef SD_TRY

  std::lock_guard lock(mu_);
  if (!spec_) {
    return Error{"restore: no record sets configured yet (call configure() first)"};
  }
  Millis now = clock_.now_ms();
  Millis wall_now = clock_.wall_ms();
  auto mono = [&](Millis wall) { return now + (wall - wall_now); };
  for (auto& [key, p] : parsed) {
    auto it = sets_.find(key);
    if (it == sets_.end()) {
      continue;  // no longer configured
    }
    SetState& st = *it->second;
    int active = static_cast<int>(p.active);
    int ramp = static_cast<int>(p.ramp_tier);
    if (!contains(st.tiers, active) || (ramp != 0 && !contains(st.tiers, ramp))) {
      continue;  // tiers changed since: start this set afresh
    }
    st.phase = p.phase;
    st.active = active;
    st.since_wall = p.since_wall;
    st.since_ms = mono(p.since_wall);
    st.reason = p.reason;
    st.frozen = p.frozen;
    st.frozen_until = mono(p.frozen_until);
    st.awaiting = p.awaiting;
    st.ramp_tier = p.phase == Phase::kFailingBack ? ramp : 0;
    st.ramp_start = mono(p.ramp_start);
    st.ttl_hold_until = p.hold_until > 0 ? mono(p.hold_until) : 0;
    st.transitions.clear();
    for (Millis w : p.transitions) {
      st.transitions.emplace_back(mono(w), w);
    }
    st.healthy.reset();
    st.candidate = 0;  // stabilisation restarts after a restart: health must prove itself again
  }
  overrides_.clear();
  for (auto& o : ovs) {
    overrides_[{o.scope, o.target}] = std::move(o);
  }
  published_ = false;
  return OkStatus();
}

}  // namespace steerdns::dr
