#pragma once
// HealthView: the flat, read-only table of check statuses that steering and the query path
// read without locks. The health engine publishes a new one (Snapshot<HealthView>) whenever a
// status changes; readers never see a half-updated table.
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/clock.h"
#include "health/spec.h"

namespace steerdns::health {

// Where a status came from (explain shows it).
enum class Source : uint8_t {
  kProbe,
  kInitial,
  kPersisted,
  kExternal,
  kCalculated,
  kDisabled,
  kStale,
  kOverride,  // forced by an operator override (health/forced.h), or changed by one below it
};
// Header-only so that libraries reading a HealthView (policy/) need not link sd_health.
inline const char* source_name(Source s) {
  switch (s) {
    case Source::kProbe:
      return "probe";
    case Source::kInitial:
      return "initial";
    case Source::kPersisted:
      return "persisted";
    case Source::kExternal:
      return "external";
    case Source::kCalculated:
      return "calculated";
    case Source::kDisabled:
      return "disabled";
    case Source::kStale:
      return "stale";
    case Source::kOverride:
      return "override";
  }
  return "?";
}

struct CheckState {
  Status status = Status::kUnknown;
  Source source = Source::kInitial;
  Millis since_wall_ms = 0;  // wall time of the last transition
  int consecutive_ok = 0;
  int consecutive_fail = 0;
  std::string last_failure_reason;
  int cert_days_left = -1;  // HTTPS only; -1 = n/a
  double last_rtt_ms = -1;  // last probe's total time; latency steering may use it
};

class HealthView {
 public:
  // Index of a check id, or -1. Resolved once when a RuntimeConfig is compiled, so the query
  // path uses indices only.
  int index_of(const std::string& id) const {
    auto it = index_.find(id);
    return it == index_.end() ? -1 : it->second;
  }
  const CheckState& at(int i) const { return states_[static_cast<size_t>(i)]; }
  size_t size() const { return states_.size(); }
  const std::string& id(int i) const { return ids_[static_cast<size_t>(i)]; }
  bool healthy(int i) const { return states_[static_cast<size_t>(i)].status == Status::kHealthy; }
  uint64_t version() const { return version_; }

  // Builder side (health engine only).
  int add(const std::string& id, CheckState s) {
    int i = static_cast<int>(states_.size());
    index_.emplace(id, i);
    ids_.push_back(id);
    states_.push_back(std::move(s));
    return i;
  }
  CheckState& mutable_at(int i) { return states_[static_cast<size_t>(i)]; }
  void set_version(uint64_t v) { version_ = v; }

 private:
  std::vector<std::string> ids_;
  std::vector<CheckState> states_;
  std::unordered_map<std::string, int> index_;
  uint64_t version_ = 0;
};

}  // namespace steerdns::health
