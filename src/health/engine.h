#pragma once
// The health engine: one scheduler for every check (no thread per check), thresholds with
// fast confirmation (tracker.h), probe deduplication, calculated / external / inverted /
// disabled checks, per-checker observations aggregated by a rule, persisted state, and the
// HealthView snapshot the query path reads without locks.
//
// Threading: the engine's state is guarded by one mutex, so every public call may come from
// any thread. Probes are started and their results handled on the io_context thread (see
// probe.h); the view is published from inside the probe's completion, so a deciding result is
// visible to readers within microseconds. Transition callbacks run after the mutex is released,
// one at a time and in the order of the transitions, on a thread that caused one (usually the
// io thread); they may call the engine but must not block for long.
//
// Time: scheduling uses clock.now_ms(). Real runs call start(), which drives run_due() from one
// asio::steady_timer; unit tests leave it stopped and call run_due() on a FakeClock.
// Destroy the engine after its io_context has stopped (or on its thread after stop()).
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <queue>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/clock.h"
#include "core/result.h"
#include "core/snapshot.h"
#include "health/probe.h"
#include "health/spec.h"
#include "health/state_file.h"
#include "health/tracker.h"
#include "health/view.h"
#include "obs/metrics.h"

namespace steerdns::health {

// Probe timings of one check as histograms (seconds, obs::probe_latency_bounds()), one per
// phase; a phase a probe did not have (-1) is not observed. Written under the engine's mutex
// when a local probe's result arrives (one writer at a time), read by scrapes without it.
struct ProbeLatency {
  ProbeLatency();
  void observe(const ProbeTimings& t);
  obs::Histogram connect;
  obs::Histogram tls;
  obs::Histogram first_byte;
  obs::Histogram total;
};

// One observation of a check by one checker (vantage point).
struct Observation {
  std::string checker;
  Millis wall_ms = 0;
  bool ok = false;          // raw probe result
  bool counted_ok = false;  // after inversion, as the thresholds counted it
  std::string reason;
  ProbeTimings timings;
  int http_status = 0;
  int probes = 1;      // 2: a confirmation pair decided it (this is the chosen result)
  bool split = false;  // the pair disagreed; the result agreeing with the status was chosen
};

struct CheckerReport {
  std::string checker;
  Status status = Status::kUnknown;  // this checker's own view, after its thresholds
  int consecutive_ok = 0;
  int consecutive_fail = 0;
  Millis last_wall_ms = 0;
  std::string last_reason;
  bool counted = true;  // false when too old to take part in the aggregation
  bool peer = false;    // a fleet node's published view (set_peer_view), not observations
};

struct CheckReport {
  std::string id;
  Kind kind = Kind::kHttp;
  bool inverted = false;
  bool disabled = false;
  Aggregation aggregation = Aggregation::kRoute53;
  CheckState state;  // status, source, since, counters, last failure reason, cert days
  uint64_t transitions = 0;
  uint64_t probes_ok = 0;  // counted after inversion; both probes of a confirmation pair count
  uint64_t probes_failed = 0;
  Millis last_observation_wall_ms = 0;
  Millis next_probe_in_ms = -1;     // -1: not probed
  std::vector<Observation> recent;  // oldest first
  std::vector<CheckerReport> checkers;
  // This checker's probe timings; null until a probe of the check completed. Kept by check id
  // across reconfigurations, dropped with the check.
  std::shared_ptr<const ProbeLatency> latency;
};

struct EngineReport {
  std::string checker_id;
  std::string state_warning;  // e.g. an unreadable state file at startup
  uint64_t view_version = 0;
  size_t probes_in_flight = 0;
  size_t probes_waiting = 0;        // held back by the concurrency cap
  uint64_t probes_started = 0;      // both probes of a confirmation pair count
  uint64_t observations = 0;        // results delivered to checks (>= probes: dedup fan-out)
  std::vector<CheckReport> checks;  // in configuration order
};

// One check's status as one checker (a fleet node) sees it, after that checker's thresholds.
struct PeerStatus {
  std::string check;
  Status status = Status::kUnknown;
  Millis since_wall_ms = 0;  // when that checker's view last changed
  std::string reason;        // its last observation's reason
};

struct Transition {
  Millis wall_ms = 0;
  std::string check;
  Status from = Status::kUnknown;
  Status to = Status::kUnknown;
  std::string reason;
  Source source = Source::kProbe;
};

struct EngineOptions {
  std::string checker_id = "local";
  size_t max_concurrent_probes = 512;
  size_t history = 10;              // observations kept per check for report()
  std::string state_file;           // empty: no persistence (unless state_store is set)
  std::shared_ptr<StateStore> state_store;  // when set: state kept here (key "health")
  Millis save_interval_ms = 1'000;  // at most one state write per this period
  // Publishing copies the whole view, so with thousands of checks changing at once (a mass
  // outage) views are coalesced: after a publish, the next one waits at least this long.
  // A change after a quiet period is published at once; 0 publishes on every change.
  Millis publish_gap_ms = 2;
};

class Engine {
 public:
  Engine(boost::asio::io_context& io, Clock& clock, Prober& prober, EngineOptions opts = {});
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Replaces the check list. The list is validated as a whole first (validate_all); an invalid
  // list is rejected and the running checks are untouched. Unchanged checks keep their state
  // and schedule; checks whose probe is unchanged but whose thresholds/intervals changed keep
  // their state; removed checks stop; new ones start from persisted state (first
  // configuration only, if young enough) or from their initial state.
  steerdns::Status configure(std::vector<CheckSpec> specs);

  // Real runs: drive run_due() from a timer on the io_context. stop() cancels it and writes
  // the state file.
  void start();
  void stop();

  // Runs everything due at clock.now_ms(): probes, initial-wait and staleness deadlines,
  // external file polls, state saves.
  void run_due();
  // Monotonic time of the earliest scheduled item, or -1 if none.
  Millis next_due_ms() const;

  // Sets an external check (any thread). Errors for unknown ids and non-external checks.
  steerdns::Status set_external(const std::string& id, Status status, const std::string& reason);
  // An observation made by another checker (vantage point), e.g. from the fleet.
  steerdns::Status add_observation(const std::string& checker, const std::string& id,
                                   const ProbeResult& result, Millis wall_ms);

  void on_transition(std::function<void(const Transition&)> cb);

  // Fleet: the whole view of another node's checker (its statuses after its own thresholds),
  // replacing what it said before; checks it does not list lose it. A peer's view counts in
  // the aggregation for as long as it is set (the fleet's leases decide liveness, not the age
  // of its last observation), until drop_peer(). Checks that are not probed (calculated,
  // external, disabled) and unknown ids are ignored. Error: `checker` is this engine's own.
  steerdns::Status set_peer_view(const std::string& checker, const std::vector<PeerStatus>& view);
  void drop_peer(const std::string& checker);
  // This engine's own checker's view, as peers are told it (probed checks run here, in
  // configuration order).
  std::vector<PeerStatus> local_view() const;
  // Told (after the mutex is released, on the thread that caused it) whenever local_view()
  // changed: a local checker's status moved, or the check list changed. Must not block.
  void on_local_change(std::function<void()> cb);

  const Snapshot<HealthView>& view() const { return view_; }
  EngineReport report() const;
  // Writes the state file now (also done on stop()).
  steerdns::Status save_state();

 private:
  struct CheckerState {
    Tracker tracker;
    Millis last_wall_ms = 0;
    std::string last_reason;
    bool peer = false;  // set by set_peer_view: counted while set
    Millis since_wall_ms = 0;  // this checker's status last changed (wall)
  };
  struct Check {
    CheckSpec spec;
    std::string key;   // probe key ("" for calculated/external/disabled)
    uint64_t gen = 0;  // bumps when the check is (re)created; stale timer entries are ignored
    std::map<std::string, CheckerState> checkers;
    CheckState state;
    bool observed = false;  // any observation or external set since start
    uint64_t transitions = 0;
    uint64_t probes_ok = 0;
    uint64_t probes_failed = 0;
    Millis last_observation_wall_ms = 0;
    std::deque<Observation> recent;
    Millis desired_due = -1;           // when this check wants its next probe
    std::vector<std::string> parents;  // calculated checks listing this one
    // external
    Millis ext_updated_ms = 0;
    uint64_t ext_seq = 0;
    bool stale = false;
    int64_t file_mtime = -1;
    Millis updated_wall_ms = 0;  // last observation, or the persisted state's time
    std::shared_ptr<ProbeLatency> latency;  // created by the first local probe result
  };
  struct Probe {
    std::string key;
    std::shared_ptr<const CheckSpec> spec;  // first subscriber's (all probe the same thing)
    std::vector<std::string> subscribers;
    Millis due = -1;
    uint64_t gen = 0;
    bool in_flight = false;
    bool waiting = false;
    // Fast confirmation with confirm_probes 2: a recheck launches a pair and waits for both.
    int outstanding = 0;               // results still to come for the launch in flight
    std::vector<ProbeResult> results;  // by launch index
  };
  enum class TimerType : uint8_t { kProbe, kInitialWait, kStale, kFilePoll, kSave, kPublish };
  struct TimerEntry {
    Millis due;
    uint64_t seq;
    TimerType type;
    std::string name;
    uint64_t gen;
    bool operator>(const TimerEntry& o) const { return due != o.due ? due > o.due : seq > o.seq; }
  };
  struct Launch {
    std::shared_ptr<const CheckSpec> spec;
    std::string key;
    uint64_t gen;
    int index;  // 0, or 1 for the second probe of a pair
  };
  // What a locked section leaves to do once the mutex is released.
  struct After {
    std::vector<Launch> launches;
    std::vector<Transition> events;
    bool save = false;
    bool local_changed = false;  // local_view() moved: tell on_local_change listeners
  };

  void push_timer(Millis due, TimerType t, const std::string& name, uint64_t gen);
  void schedule_probe(Probe& p, Millis now);
  void launch_or_wait(Probe& p, After& after);
  void drain_waiting(After& after);
  Millis aligned_due(const std::string& key, Millis interval, Millis now) const;

  // `other`: the second result of a confirmation pair (counted in the probe counters only).
  void apply_observation(Check& c, const std::string& checker, const ProbeResult& r, Millis wall_ms,
                         Millis now, After& after, const ProbeResult* other = nullptr);
  // True if some subscriber of p is confirming a pending change and wants probe pairs.
  bool wants_pair(const Probe& p) const;
  // Recomputes c's status from its inputs; emits a transition and updates parents.
  void recompute(Check& c, const std::string& reason, After& after);
  Status calculated_status(const Check& c) const;
  void set_status(Check& c, Status s, Source src, const std::string& reason, After& after);
  void poll_file(Check& c, Millis now, After& after);
  void publish_locked();
  void end_locked(After& after);
  void create_check(Check& c, Millis now, Millis wall);
  bool remote_fresh(const Check& c, const std::string& checker, const CheckerState& cs,
                    Millis wall) const;
  std::map<std::string, PersistedCheck> persist_map_locked() const;
  void finish(After& after);
  void deliver_events();  // in order, one deliverer at a time
  void on_probe_done(const std::string& key, uint64_t gen, int index, const ProbeResult& r);
  void kick();   // re-arms the timer if the earliest due time moved earlier
  void rearm();  // io thread only
  std::string identity(const CheckSpec& s) const;

  boost::asio::io_context& io_;
  Clock& clock_;
  Prober& prober_;
  EngineOptions opts_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);

  mutable std::mutex mu_;
  std::vector<std::string> order_;  // configuration order (view indices)
  std::vector<Check*> ordered_;     // the same, as pointers into checks_ (rebuilt on configure)
  std::unordered_map<std::string, Check> checks_;
  std::unordered_map<std::string, Probe> probes_;
  std::vector<std::string> calc_order_;  // calculated checks, children before parents
  std::priority_queue<TimerEntry, std::vector<TimerEntry>, std::greater<>> timers_;
  std::deque<std::string> waiting_;
  uint64_t seq_ = 0;
  uint64_t gen_ = 0;
  size_t in_flight_ = 0;
  uint64_t probes_started_ = 0;
  uint64_t observations_ = 0;
  uint64_t view_version_ = 0;
  bool view_dirty_ = false;
  bool state_dirty_ = false;
  bool save_pending_ = false;
  bool configured_ = false;
  std::optional<std::map<std::string, PersistedCheck>> persisted_;  // until first configure
  std::vector<std::function<void(const Transition&)>> callbacks_;
  std::vector<std::function<void()>> local_callbacks_;
  std::deque<Transition> pending_events_;
  std::vector<Transition> held_events_;  // delivered once a view showing them is published
  Millis last_publish_ms_ = -1;
  bool publish_pending_ = false;
  bool delivering_ = false;

  std::mutex save_mu_;
  std::unique_ptr<StateFile> state_file_;
  std::string state_warning_;

  Snapshot<HealthView> view_;

  // Timer (real runs). armed_due_ is read under mu_.
  boost::asio::steady_timer timer_;
  bool started_ = false;
  Millis armed_due_ = -1;
  bool kick_posted_ = false;
};

}  // namespace steerdns::health
