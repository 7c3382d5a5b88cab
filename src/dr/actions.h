#pragma once
// Runs the configured actions (webhooks, commands) for orchestrator events, on its own thread.
//
// submit() only queues the event (with the action list in force at that moment) and returns:
// the steering decision, the health thread and the query path never wait for an action. The
// thread takes events in order and runs each event's actions in their configured order, each
// attempt with its own timeout, retrying with exponential backoff. Every attempt and every
// final result is reported as an audit Event (type action_attempt_failed, action_succeeded,
// action_failed, action_skipped, action_dropped) so that it lands in the event log like any
// other transition.
//
// Webhook: libcurl easy, the event as a JSON body (payload_json()), success = HTTP 2xx.
// Command: posix_spawn without a shell in its own session, stdout+stderr captured (capped),
// environment = the daemon's plus STEERDNS_EVENT, STEERDNS_SET, STEERDNS_TARGET,
// STEERDNS_FROM_TIER, STEERDNS_TO_TIER, STEERDNS_CAUSE, STEERDNS_ACTOR, STEERDNS_TIME,
// STEERDNS_WALL_MS, STEERDNS_ATTEMPT, STEERDNS_PAYLOAD; success = exit status 0; the process
// group is killed at the timeout.
//
// Threading: every public call may come from any thread. Audit callbacks run on the actions
// thread (and on the caller's thread for action_dropped); they must not call back into the
// runner's stop().
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "dr/actions_spec.h"
#include "dr/orchestrator.h"

namespace steerdns::dr {

// The JSON document a webhook receives and STEERDNS_PAYLOAD holds:
// {"event":..,"set":..,"target":..,"cause":..,"actor":..,"from_tier":..,"to_tier":..,
//  "time":"2026-11-25T17:00:00.123Z","wall_ms":..}
std::string payload_json(const Event& e);
// The record set an event is about: the target up to '#' (member overrides), or "" for check
// overrides (targets without '/').
std::string event_set(const Event& e);
// Whether an action with this `sets:` filter applies to an event about `set_key`.
bool sets_match(const std::vector<std::string>& sets, const std::string& set_key);

// One attempt's outcome (tests and the audit text).
struct AttemptResult {
  bool ok = false;
  std::string
      detail;  // "HTTP 200 in 12 ms", "exit 3 in 40 ms: <output>", "timed out after 2000 ms"
};

// Runs one attempt now, on the calling thread (the runner uses these; tests may too).
// `cancel` is polled while waiting: when it returns true the attempt is abandoned.
AttemptResult run_webhook(const ActionSpec& a, const Event& e, int attempt,
                          const std::function<bool()>& cancel);
AttemptResult run_exec(const ActionSpec& a, const Event& e, int attempt,
                       const std::function<bool()>& cancel);

// Final results of actions since start (metrics): one per action per event. Skipped actions
// (an earlier one failed with on_failure: stop) are not counted: they never ran.
struct ActionStats {
  uint64_t ok = 0;       // action_succeeded
  uint64_t failed = 0;   // action_failed (retries exhausted, or abandoned at shutdown)
  uint64_t dropped = 0;  // action_dropped (queue full, or shutting down)
};

struct ActionRunnerOptions {
  size_t max_queue = 1000;  // events waiting beyond this are dropped (and audited)
};

class ActionRunner {
 public:
  explicit ActionRunner(Clock& clock, ActionRunnerOptions opts = {});
  ~ActionRunner();  // stop()
  ActionRunner(const ActionRunner&) = delete;
  ActionRunner& operator=(const ActionRunner&) = delete;

  // The action list for events submitted from now on (reload). Events already queued keep
  // the list they were queued with.
  void configure(std::shared_ptr<const ActionsSpec> spec);
  // Audit events (any number of callbacks; set them before start()).
  void on_audit(std::function<void(const Event&)> cb);

  void start();
  // Abandons the running attempt (kills a command, aborts a request), drops what is queued
  // (audited as action_dropped) and joins the thread. Idempotent.
  void stop();

  // Queues `e` if some action applies to it; returns whether it was queued. Never blocks on
  // an action.
  bool submit(const Event& e);

  // Events queued or running.
  size_t pending() const;
  ActionStats stats() const;  // any thread
  // Waits until nothing is queued or running (tests, orderly shutdown); false on timeout.
  bool wait_idle(Millis timeout_ms) const;

 private:
  struct Job {
    Event event;
    std::vector<ActionSpec> actions;  // those that apply, in order
  };
  void loop();
  void run_job(const Job& job);
  void audit(const Event& e);
  // Sleeps up to `ms` unless stopping; returns false if stopping.
  bool sleep_unless_stopping(Millis ms);

  Clock& clock_;
  ActionRunnerOptions opts_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::shared_ptr<const ActionsSpec> spec_;
  std::deque<Job> queue_;
  bool running_job_ = false;
  bool stopping_ = false;
  std::atomic<bool> cancel_{false};  // stopping_, readable without mu_ by running attempts
  // Counted in audit(), which runs on the actions thread and on submitters' threads.
  std::atomic<uint64_t> ok_{0};
  std::atomic<uint64_t> failed_{0};
  std::atomic<uint64_t> dropped_{0};
  bool started_ = false;
  std::vector<std::function<void(const Event&)>> audit_cbs_;
  std::thread thread_;
};

}  // namespace steerdns::dr
