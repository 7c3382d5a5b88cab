#pragma once
// Tracker: turns raw pass/fail probe results into a status with hysteresis. Pure logic (no
// clock, no I/O), so every transition is exact and testable:
//   - healthy -> unhealthy after `failure_threshold` consecutive failures, never earlier;
//   - unhealthy -> healthy after `success_threshold` consecutive successes;
//   - unknown resolves on the first result (the first round decides);
//   - inverted checks count a passing probe as a failure and the reverse.
// Fast confirmation: while a streak disagrees with the current status, the tracker asks for
// the next probe after `recheck_ms` instead of a full interval, so a hard failure is confirmed
// in about interval/2 + (threshold - 1) x recheck without lowering the threshold.
// Not thread-safe; the engine owns one per check and checker.
#include <cstdint>

#include "core/clock.h"
#include "health/spec.h"

namespace steerdns::health {

struct TrackerParams {
  int failure_threshold = 3;
  int success_threshold = 2;
  Millis interval_ms = 10'000;
  Millis recheck_ms = 200;
  bool inverted = false;

  static TrackerParams of(const CheckSpec& spec);
};

class Tracker {
 public:
  explicit Tracker(TrackerParams p = {}, Status initial = Status::kUnknown)
      : p_(p), status_(initial) {}

  struct Step {
    bool changed = false;
    Status from = Status::kUnknown;
    Status to = Status::kUnknown;
    bool counted_ok = false;  // the result after inversion, as the thresholds counted it
    Millis next_delay_ms = 0;
  };
  // Feeds one raw probe result (before inversion).
  Step observe(bool raw_ok);

  // Sets status and counters directly (persisted state, initial-wait expiry).
  void restore(Status s, int consecutive_ok, int consecutive_fail);
  // New thresholds/intervals; status and counters are kept.
  void set_params(TrackerParams p) { p_ = p; }

  Status status() const { return status_; }
  int consecutive_ok() const { return ok_; }
  int consecutive_fail() const { return fail_; }
  const TrackerParams& params() const { return p_; }
  // True while a streak that disagrees with the status is building (fast confirmation).
  bool confirming() const {
    return (status_ == Status::kHealthy && fail_ > 0) || (status_ == Status::kUnhealthy && ok_ > 0);
  }
  Millis next_delay_ms() const {
    return confirming() && p_.recheck_ms < p_.interval_ms ? p_.recheck_ms : p_.interval_ms;
  }

 private:
  TrackerParams p_;
  Status status_;
  int ok_ = 0;
  int fail_ = 0;
};

// How per-checker statuses combine: `healthy` of `reporting` checkers (unknown ones excluded)
// say healthy. No reporting checker gives kUnknown.
Status aggregate(Aggregation rule, int healthy, int reporting);
const char* aggregation_name(Aggregation a);

}  // namespace steerdns::health
