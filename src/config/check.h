#pragma once
// `steerdns check`: validates a config as a reload would (same loader, nothing served) and
// states, for every steered name, the worst-case time from an endpoint failing to clients
// moving: detection (interval x failure_threshold + timeout of the member's check; for a
// calculated check its slowest child) + the answer's TTL (+ the negative TTL when all-down
// answers NODATA or SERVFAIL). Control-plane only.
#include <string>
#include <vector>

#include "config/loader.h"
#include "core/clock.h"
#include "core/result.h"

namespace steerdns::config {

struct FailoverTime {
  std::string set;         // record set key, "genai-demo.example.test./A"
  std::string policy;      // "failover"
  Millis detect_ms = 0;    // slowest member check to go down; 0 = no checks (never moves)
  std::string detect_why;  // "primary-region <- primary-app: 30s x 3 + 10s"
  uint32_t ttl = 0;
  uint32_t negative_ttl = 0;  // counted for on_all_down nodata/servfail, else 0
  bool has_checks = false;
  Millis worst_ms() const { return detect_ms + Millis{ttl} * 1000 + Millis{negative_ttl} * 1000; }
};

// Worst-case failover times of every steered record set of a loaded config, in config order.
std::vector<FailoverTime> failover_times(const LoadedConfig& cfg);

// The report `steerdns check` prints: one line per steered name, plus a summary.
std::string check_report(const std::string& path, const LoadedConfig& cfg);

// Loads `path` like a reload would and returns the report, or the load error.
Result<std::string> check_config_file(const std::string& path);

}  // namespace steerdns::config
