#pragma once
// The `alerts:` and `slo:` sections of the YAML config. Strict schema (unknown keys are errors
// with a suggestion); every error reads "file:line: alerts: channels: pd: url: reason".
// Schema and examples: docs/alerts.md. Control-plane only; no shared state.
//
//   alerts:
//     routes:
//       - { events: [failover, all_down], severity: emergency }
//     severities:
//       critical: { channels: [slack-critical, pagerduty], repeat: 15m, escalate_after: 15m }
//     channels:
//       pagerduty: { type: pagerduty, routing_key_env: PD_KEY, url: "http://..." }
//   slo:
//     default: { objective: 99.9, alert_below: 99 }
//     genai-demo.example.test: { objective: 99.95 }
#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

#include "alert/spec.h"
#include "core/result.h"
#include "policy/model.h"

namespace steerdns::config {

// `node` is the value of `alerts:` (a mapping; null gives no alerts). Warnings (a PagerDuty
// routing key whose variable is unset, a severity routed to that has no channels) are appended
// to `warnings`.
Result<alert::AlertsSpec> parse_alerts(const YAML::Node& node, const std::string& file,
                                       std::vector<std::string>* warnings = nullptr);

// `node` is the value of `slo:`.
Result<alert::SloSpec> parse_slo(const YAML::Node& node, const std::string& file);

// Every name under `slo:` but `default` must be the name of a steered record set.
steerdns::Status check_slo_names(const YAML::Node& node, const std::string& file,
                                 const policy::SteeringSpec& steering);

}  // namespace steerdns::config
