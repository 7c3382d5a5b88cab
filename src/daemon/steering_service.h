#pragma once
// The daemon's steering: owns the failover orchestrator (dr::Orchestrator) and the action
// runner, and keeps the published RuntimeConfig's steering table in step with health, the
// orchestrator's timers and operator commands.
//
// On every change (a health transition, a due orchestrator timer, an override, an approval, a
// reload) it compiles a table from health + overrides, lets the orchestrator decide
// (update()), compiles the final table with the orchestrator's state, and publishes a copy of
// the current RuntimeConfig carrying it: one pointer swap, milliseconds after the transition.
// Then it persists the orchestrator's state (steerdns-steering.json beside the health state
// file), appends the events to the event log (steerdns-events.jsonl, same place), logs them
// and hands them to the action runner (its own thread: actions never delay a decision).
//
// Threading: start/apply/stop come from the daemon's main thread; health_changed() from the
// health thread (it only wakes the steering thread); the control methods from any thread.
// Every publish of the RuntimeConfig goes through this service once it has started, so a
// reload and a health change can never publish over each other.
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "config/loader.h"
#include "config/runtime.h"
#include "core/clock.h"
#include "core/result.h"
#include "core/snapshot.h"
#include "core/state_store.h"
#include "dr/actions.h"
#include "dr/event_log.h"
#include "dr/metrics.h"
#include "dr/orchestrator.h"
#include "health/spec.h"
#include "health/view.h"

namespace steerdns::daemon {

class SteeringService {
 public:
  SteeringService(Snapshot<config::RuntimeConfig>& snapshot, Clock& clock);
  ~SteeringService();
  SteeringService(const SteeringService&) = delete;
  SteeringService& operator=(const SteeringService&) = delete;

  // Before start(): keep the orchestrator's state (key "steering") and the event log in
  // `store` (the daemon's durable store) instead of files beside the health state file.
  void set_state_store(std::shared_ptr<StateStore> store) { state_store_ = std::move(store); }
  // Before start(): every config passes through `f` right before it is published and `after`
  // runs right after (both under our lock, so one at a time): zone transfer gives zones their
  // served serials in `f` and announces them (NOTIFY) in `after`, once they are served.
  using PublishFilter = std::function<std::shared_ptr<const config::RuntimeConfig>(
      std::shared_ptr<const config::RuntimeConfig>)>;
  void set_publish_filter(PublishFilter f, std::function<void()> after) {
    filter_ = std::move(f);
    after_publish_ = std::move(after);
  }
  // Startup, after the health engine is configured: restores the persisted state, publishes
  // loaded.runtime with its table and starts the thread. `view` may be null (no checks).
  // Errors only for an event log or state file that cannot be opened at all.
  Status start(const config::ServerSettings& settings, const config::LoadedConfig& loaded,
               const Snapshot<health::HealthView>* view);
  // Reload, before anything is applied: whether this config's steering compiles.
  Status check(const config::LoadedConfig& loaded) const;
  // Reload: new record sets (sets keeping their key keep their state), new actions, and
  // loaded.runtime published with a table for the current state.
  Status apply(const config::LoadedConfig& loaded, const Snapshot<health::HealthView>* view);
  // A health transition happened (any thread; never blocks).
  void health_changed();
  // Stops the thread and the actions (queued ones are dropped and audited), saves the state.
  void stop();

  // Control commands: one JSON request, one JSON reply (see control.h for the commands).
  Result<nlohmann::json> command(const nlohmann::json& req);

  nlohmann::json status_json() const;
  const std::string& state_file() const { return state_path_; }
  const std::string& event_log_file() const { return events_path_; }

  // The steering and action families of /metrics (docs/metrics.md). Any thread; does not
  // take mu_ (held while a table is compiled): the orchestrator and the action runner have
  // their own locks.
  void collect_metrics(obs::Families& out) const {
    dr::collect_steering_metrics(orch_, clock_.wall_ms(), out);
    dr::collect_action_metrics(actions_.stats(), out);
  }

 private:
  // Compiles, updates the orchestrator, publishes; then persists and flushes events.
  void process_locked(const char* why);
  void flush_events_locked();
  void record(const dr::Event& e, bool run_actions);
  void save_locked();
  void loop();
  // `view` with the check overrides in `ov` (and `down`, for simulate) applied through the
  // calculated checks above them (health::with_forced), so a forced child moves its parent.
  // The checks the returned view carries are dropped from `ov` (the view holds them, with the
  // override's author and reason); ids it has not are left for policy::compile.
  std::shared_ptr<const health::HealthView> effective_locked(
      const std::shared_ptr<const health::HealthView>& view, policy::Overrides& ov,
      const std::vector<std::string>& down = {}) const;
  policy::CompileInputs inputs_locked(const health::HealthView* view,
                                      const std::map<std::string, policy::SteerState>* steer,
                                      const policy::Overrides* ov) const;
  Result<std::string> resolve_set_locked(const std::string& text) const;
  const policy::RecordSet* set_locked(const std::string& key) const;
  nlohmann::json recent_drills(size_t n) const;  // last n `drill` events, for status
  Result<std::string> resolve_member_locked(const std::string& text) const;
  Status known_check_locked(const std::string& id) const;

  Result<nlohmann::json> set_override(const nlohmann::json& req);
  Result<nlohmann::json> clear_override(const nlohmann::json& req);
  nlohmann::json overrides_json() const;
  Result<nlohmann::json> approve(const nlohmann::json& req);
  Result<nlohmann::json> events(const nlohmann::json& req) const;
  Result<nlohmann::json> explain(const nlohmann::json& req) const;
  Result<nlohmann::json> simulate(const nlohmann::json& req) const;

  Snapshot<config::RuntimeConfig>& snapshot_;
  Clock& clock_;
  dr::Orchestrator orch_;
  dr::ActionRunner actions_;

  mutable std::mutex mu_;  // everything below; held while compiling and publishing
  std::condition_variable cv_;
  std::shared_ptr<const config::RuntimeConfig> base_;  // the loaded config, without our table
  std::vector<health::CheckSpec> checks_;              // the loaded health checks
  const Snapshot<health::HealthView>* view_ = nullptr;
  bool dirty_ = false;
  uint64_t generation_ = 0;  // bumped by every publish: the thread re-reads next_due_ms()
  bool stopping_ = false;
  bool started_ = false;
  std::string state_path_;
  std::string events_path_;
  std::string last_saved_;
  std::unique_ptr<dr::EventLog> log_;
  std::shared_ptr<StateStore> state_store_;  // set: state and events go here, not to files
  PublishFilter filter_;
  std::function<void()> after_publish_;
  std::thread thread_;

  mutable std::mutex ev_mu_;        // the two below; never held while calling out
  std::vector<dr::Event> pending_;  // emitted by the orchestrator, not yet recorded
  std::deque<dr::Event> recent_;    // the last events (when there is no event log)
};

}  // namespace steerdns::daemon
