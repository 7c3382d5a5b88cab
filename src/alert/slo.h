#pragma once
// Availability of steered names: the share of observed time each name had a healthy answer
// (a healthy member to serve), over the last hour, day and 30 days, against its objective,
// with the error budget left.
//
// Kept as segments of [start, end) with one healthy bit, extended on every observation; a gap
// longer than `max_gap_ms` between observations (the daemon was down) is not counted either
// way: availability is healthy time / observed time. The state is small (one segment per
// change of state or restart) and is saved in the store (key "slo") so restarts keep history.
//
// Not thread-safe: the daemon's alert thread owns it; readers get copies of report().
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "alert/spec.h"
#include "core/result.h"

namespace steerdns::alert {

struct SloWindowReport {
  std::string label;          // "1h", "1d", "30d"
  int64_t length_ms = 0;
  double availability = 1.0;  // 0..1 over the observed part of the window
  int64_t observed_ms = 0;
  int64_t unhealthy_ms = 0;
  double budget_left = 1.0;   // share of the error budget left; negative when overspent
};

struct SloNameReport {
  std::string name;
  double objective = 99.9;  // percent
  std::optional<double> alert_below;
  int64_t alert_window_ms = 0;
  double alert_availability = 1.0;  // over alert_window_ms
  bool healthy_now = true;
  std::vector<SloWindowReport> windows;
  bool below_alert() const { return alert_below && alert_availability * 100 < *alert_below; }
};

class SloTracker {
 public:
  static constexpr int64_t kMaxGapMs = 15'000;
  static constexpr int64_t kKeepMs = 31LL * 86'400'000;

  // One observation of every steered name's state at `now_ms`. Names not in `healthy` are no
  // longer reported (their history is kept for kKeepMs in case they come back).
  void observe(const std::map<std::string, bool>& healthy, int64_t now_ms);
  std::vector<SloNameReport> report(const SloSpec& spec, int64_t now_ms) const;

  nlohmann::json to_json() const;
  // Restores saved state; a malformed document is an error and leaves the tracker empty.
  Status from_json(const nlohmann::json& j);

 private:
  struct Segment {
    int64_t start = 0;
    int64_t end = 0;
    bool healthy = true;
  };
  struct Series {
    std::vector<Segment> segs;
    bool current = false;
  };
  static void measure(const std::vector<Segment>& segs, int64_t from, int64_t to,
                      int64_t& observed, int64_t& unhealthy);
  std::map<std::string, Series> series_;
};

}  // namespace steerdns::alert
