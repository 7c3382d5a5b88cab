#pragma once
// The `steerdns` subcommands that exist only over the native API (docs/cli.md):
//   changes list|get|diff|wait     change batches: status, what changed, wait for INSYNC
//   zones list|create|delete       hosted zones
//   records list|get|set|delete    record sets of a zone
//   apply -f FILE                  declarative config: plan (--dry-run), then one batch
//   zone import|export             RFC 1035 master files in and out
// Each prints a human table by default and the API's JSON with --json, and exits non-zero on
// any error (1; 2 for usage errors). Runs on the main thread.
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "core/result.h"

namespace CLI {
class App;
}

namespace steerdns::cli {

// Adds the subcommands to `app`. The returned function runs the one that was parsed and
// returns its exit code, or -1 if none of them was.
std::function<int()> add_api_commands(CLI::App& app);

// A YAML document (or JSON, which is YAML) as JSON: quoted scalars stay strings, plain ones
// become integers, floats, booleans or null where they read as such. Errors name the file and
// line.
Result<nlohmann::json> yaml_text_to_json(const std::string& text, const std::string& source);

// "C0123" from the shapes a write's reply may take ({"change": {"id"}}, {"change_id"},
// {"id"}); "" if none.
std::string change_id_of(const nlohmann::json& reply);

// One line per change batch: ID STATUS SUBMITTED AUTHOR CHANGES COMMENT.
std::string changes_table(const nlohmann::json& changes);

}  // namespace steerdns::cli
