#pragma once
// The health-check endpoints (docs/api.md):
//   GET /v1/health/checks              every check: the report `steerdns health --json` prints
//   GET /v1/health/checks/{id}         one check (404 unknown id)
//   PUT /v1/health/checks/{id}/status  {"status": "healthy|unhealthy", "reason": "..."} sets an
//                                      external check (404 unknown id, 409 not external,
//                                      400 bad body); answers with the check as it is now
// The api library does not know the daemon: the daemon hands in HealthAccess.
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "api/router.h"
#include "core/result.h"

namespace steerdns::api {

struct HealthAccess {
  // The full report: {"checker_id": ..., "checks": [{"id": ..., "kind": ..., "status": ...}]}.
  // Called on the API thread.
  std::function<nlohmann::json()> report;
  // Sets an external check; an error names the check and why. Called on the API thread.
  std::function<steerdns::Status(const std::string& id, bool healthy, const std::string& reason)>
      set_external;
};

void add_health_routes(Router& router, HealthAccess access);

}  // namespace steerdns::api
