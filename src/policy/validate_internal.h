#pragma once
// Shared between model.cc and table.cc: validation without the known-checks list (compile()
// treats unknown check ids as healthy, like a new Route 53 check), and location syntax.
#include <string>
#include <vector>

#include "policy/model.h"

namespace steerdns::policy {

// known_checks == nullptr: do not check health check ids.
Status validate_spec(const SteeringSpec& spec, const std::vector<std::string>* known_checks);
bool valid_location(const std::string& loc);

}  // namespace steerdns::policy
