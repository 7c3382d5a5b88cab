#pragma once
// The health engine's report as JSON (what the control socket's `health` command returns and
// `steerdns health --json` prints) and as the human table `steerdns health` prints.
// Pure functions; any thread.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/result.h"
#include "health/engine.h"

namespace steerdns::daemon {

// Times are Unix milliseconds (`*_ms`); values that do not apply (no certificate, no probe
// yet, a timing the probe did not reach) are null.
nlohmann::json health_report_json(const health::EngineReport& report,
                                  const std::string& state_file);

// Keeps only the checks named in `ids` (all when empty); an unknown id is an error.
Result<nlohmann::json> filter_health_report(const nlohmann::json& report,
                                            const std::vector<std::string>& ids);

// One line per check: id, kind, status, source, since, probe counters, streak, last failure
// reason, certificate days left, per-checker views. `now_wall_ms` turns times into ages.
std::string health_table(const nlohmann::json& report, Millis now_wall_ms);

}  // namespace steerdns::daemon
