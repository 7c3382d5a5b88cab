#pragma once
// The `actions:` section of the YAML config: which webhooks and commands run, in order, when
// the failover orchestrator emits an event. Strict schema (unknown keys are errors with a
// suggestion); every error reads "file:line: actions: on_failover[2]: field: reason".
// Schema and examples: docs/actions.md. Control-plane only; no shared state.
//
//   actions:
//     on_failover:
//       - { webhook: "http://127.0.0.1:9000/scale?replicas=6", timeout: 30s, retries: 3 }
//       - { exec: ["/usr/local/bin/promote-replica", "--cluster", "dr"], timeout: 2m,
//           sets: [genai-demo.example.test] }
//     on_failback: [...]
//     on_all_down: [...]
#include <yaml-cpp/yaml.h>

#include <string>

#include "core/result.h"
#include "dr/actions_spec.h"
#include "policy/model.h"

namespace steerdns::config {

// `node` is the value of `actions:` (a mapping; null gives no actions). `file` is used in
// error positions and in each action's `where`.
Result<dr::ActionsSpec> parse_actions(const YAML::Node& node, const std::string& file);

// Every name in an action's `sets:` must match a steered record set of `steering`, by the
// runner's rule (dr::set_filter_matches: NAME matches every type of the name, NAME/TYPE one
// set; case and the final dot do not matter); a filter that matches nothing would silently
// never run.
// `node` is the `actions:` value parse_actions() accepted (for positions). The loader calls
// this once the zones are read. Errors read "file:line: actions: on_failover[1]: sets: no
// steered record set 'ap.example.test' (did you mean 'app.example.test'?)".
steerdns::Status check_action_sets(const YAML::Node& node, const std::string& file,
                                   const policy::SteeringSpec& steering);

}  // namespace steerdns::config
