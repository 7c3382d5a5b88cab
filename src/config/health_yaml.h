#pragma once
// The `health_checks:` section of the YAML config: a list of check mappings turned into
// health::CheckSpec values, with a strict schema (unknown keys are errors with a suggestion,
// keys of another check type are named as such) and then health::validate_all, so every error
// reads "file:line: health check 'id': field: reason". Schema and examples: docs/health.md.
// Control-plane only; no shared state.
#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

#include "core/result.h"
#include "health/spec.h"

namespace steerdns::config {

// `node` is the value of `health_checks:` (a sequence; null gives an empty list). `file` is
// used in error positions and in each spec's `where`.
Result<std::vector<health::CheckSpec>> parse_health_checks(const YAML::Node& node,
                                                           const std::string& file);

// What a YAML node is, for error messages: "a list", "a single value", ...
const char* yaml_kind(const YAML::Node& n);

}  // namespace steerdns::config
