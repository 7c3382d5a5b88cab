#pragma once
// Failover orchestration: one state machine per failover record set, fed by health, that
// decides which tier is served (policy::SteerState), with TTL lowering, anti-flap, failback
// modes (auto / manual / gradual with rollback) and operator overrides with reason, author
// and expiry. Every transition and override is an Event.
//
// Pure logic: no I/O, no threads. The daemon's steering service calls update() when health
// changes and at next_due_ms(), compiles a policy::Table from state() and overrides(), and
// persists save()/events. Unit tests drive it with a FakeClock.
//
// Thread safety: every public method may be called from any thread (one mutex inside). Event
// callbacks run on the calling thread after the mutex is released, so they may call back in.
// The semantics (phases, anti-flap, TTL rules) are documented in docs/failover.md.
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "core/result.h"
#include "health/view.h"
#include "policy/model.h"
#include "policy/table.h"

namespace steerdns::dr {

enum class Phase : uint8_t {
  kNormal,       // serving the first tier
  kFailedOver,   // serving a later tier because the better one is down
  kFailingBack,  // gradual: ramping back to the better tier
  kHeld,         // manual failback pending approval, or frozen by flap detection
};
const char* phase_name(Phase p);

struct Event {
  Millis wall_ms = 0;
  std::string type;    // failover, failback, failback_started, failback_rolled_back,
                       // failback_pending_approval, failback_approved, flap_frozen, unfrozen,
                       // all_down, override_set, override_expired, override_cleared, ...
  std::string target;  // record set key, check id or member
  std::string cause;   // "check primary-app unhealthy: HTTP 503", "operator", ...
  std::string actor;   // "steerdns" or the operator/token name
  int from_tier = 0;
  int to_tier = 0;
};

enum class OverrideScope : uint8_t { kCheck, kMember, kRecordSet };
enum class OverrideAction : uint8_t { kForceUp, kForceDown, kDrain };
struct Override {
  OverrideScope scope = OverrideScope::kCheck;
  std::string target;  // check id | "set key#set_id" | set key
  OverrideAction action = OverrideAction::kForceDown;
  std::string reason;  // required
  std::string author;  // required
  Millis created_wall_ms = 0;
  Millis expires_wall_ms = 0;  // required; an override never lasts forever
  Millis drain_ms = 0;         // drain: weight ramps from 1 to 0 over this long
};
const char* override_scope_name(OverrideScope s);
const char* override_action_name(OverrideAction a);

struct SetStatus {
  std::string key;
  Phase phase = Phase::kNormal;
  int active_tier = 1;
  int healthy_tier = 1;  // what health alone would choose
  Millis since_wall_ms = 0;
  std::string reason;  // why in this phase
  bool frozen = false;
  bool awaiting_approval = false;
  double ramp_share = 0;
  uint32_t ttl = 0;
  std::vector<Millis> recent_transitions_wall_ms;  // flap window
  int ramp_tier = 0;                   // gradual failback in progress: the tier ramped to
  std::vector<std::string> overrides;  // overrides touching this set, explained
  uint64_t failovers = 0;  // "failover" events since the daemon started (metrics)
  std::vector<std::pair<std::string, int>> members;  // (set_id, tier) in configuration order
};

class Orchestrator {
 public:
  explicit Orchestrator(Clock& clock);
  ~Orchestrator();

  // New record sets (reload). Sets that keep their key keep their state.
  void configure(std::shared_ptr<const policy::SteeringSpec> spec);
  // Restores persisted state (manual holds, frozen sets, overrides) at startup.
  Status restore(const std::string& json);
  std::string save() const;

  // Re-evaluates every set against `health` (the table compiled from it tells which tiers are
  // healthy). Returns true if state() changed (the caller recompiles and publishes).
  bool update(const policy::Table& health_only);
  // The same, given per set key the tiers that are healthy by health alone, ascending (empty =
  // none; a key absent = unchanged since the last call). update(Table) derives them from
  // Table::first_healthy_tier() and member_health(); simulate and tests may call this directly.
  bool update_tiers(const std::map<std::string, std::vector<int>>& healthy_tiers);
  Millis next_due_ms() const;  // monotonic; -1 if nothing is timed

  std::map<std::string, policy::SteerState> state() const;
  policy::Overrides overrides() const;
  std::vector<SetStatus> status() const;

  Status set_override(Override o);
  Status clear_override(OverrideScope scope, const std::string& target, const std::string& actor);
  std::vector<Override> list_overrides() const;
  // Manual failback: the operator approves going back to the better tier.
  Status approve_failback(const std::string& set_key, const std::string& actor);

  void on_event(std::function<void(const Event&)> cb);

  static constexpr int kRampSteps = 10;   // gradual failback: share rises in this many steps
  static constexpr int kDrainSteps = 10;  // drain: weight factor falls in this many steps

 private:
  struct SetState;  // per failover record set, defined in orchestrator.cc
  void evaluate_locked(SetState& st, const std::vector<int>& healthy, Millis now,
                       std::vector<Event>& out);
  void transition_locked(SetState& st, int to_tier, const char* type, const std::string& cause,
                         const std::string& actor, Millis now, std::vector<Event>& out);
  void record_transition_locked(SetState& st, Millis now, std::vector<Event>& out);
  void start_failback_locked(SetState& st, int to_tier, const std::string& cause,
                             const std::string& actor, Millis now, std::vector<Event>& out);
  void expire_overrides_locked(std::vector<Event>& out);
  // Monotonic time of the next timed change of this set's answer, or -1. for_ttl: also the
  // earliest time a failback could possibly happen (caps the TTL, but wakes nobody).
  Millis next_change_locked(const SetState& st, Millis now, bool for_ttl) const;
  static uint32_t uncapped_ttl(const SetState& st, Millis now);
  policy::SteerState steer_locked(const SetState& st, Millis now) const;
  std::map<std::string, policy::SteerState> state_locked() const;
  policy::Overrides overrides_locked() const;
  Event make_event(std::string type, std::string target, std::string cause, std::string actor,
                   int from, int to) const;
  void emit(std::vector<Event> events);

  Clock& clock_;
  mutable std::mutex mu_;
  std::shared_ptr<const policy::SteeringSpec> spec_;
  std::map<std::string, std::unique_ptr<SetState>> sets_;
  std::map<std::pair<OverrideScope, std::string>, Override> overrides_;
  std::vector<std::function<void(const Event&)>> callbacks_;
  // What the caller last got from update(): update() returns true when state or overrides differ.
  std::map<std::string, policy::SteerState> published_state_;
  policy::Overrides published_overrides_;
  bool published_ = false;
};

}  // namespace steerdns::dr
