#pragma once
// What to alert on and where to send it: the `alerts:` and `slo:` sections of the config.
// Plain data (header only) so that config/ can build it without linking alert/. The engine is
// alert/engine.h; the YAML schema is in docs/alerts.md.
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"

namespace steerdns::alert {

// The flagship runbook's four levels, in escalation order.
enum class Severity : uint8_t { kInfo, kWarning, kCritical, kEmergency };
inline constexpr std::array<std::string_view, 4> kSeverityNames = {"info", "warning", "critical",
                                                                   "emergency"};
inline std::string_view severity_name(Severity s) { return kSeverityNames[static_cast<size_t>(s)]; }
inline std::optional<Severity> severity_from(std::string_view s) {
  for (size_t i = 0; i < kSeverityNames.size(); ++i) {
    if (kSeverityNames[i] == s) {
      return static_cast<Severity>(i);
    }
  }
  return std::nullopt;
}

// Events a route may name. Conditions (open while they hold, resolved when they end):
//   check_unhealthy (check), primary_unhealthy (failover set whose first tier is unhealthy),
//   failover (set served from a later tier), all_down (set with no healthy member),
//   flap_frozen (set), failback_pending_approval (set), cert_expiring (check), slo_below (name),
//   node_stale (fleet node; arrives with the fleet).
// One-shot events (from the event log): action_failed, failback_rolled_back; and the ends of
// two conditions, sent as their own notice when routed: check_healthy, failback.
inline constexpr std::string_view kAlertEvents[] = {
    "check_unhealthy", "check_healthy",        "primary_unhealthy", "failover",
    "failback",        "all_down",             "flap_frozen",       "failback_pending_approval",
    "cert_expiring",   "slo_below",            "node_stale",        "action_failed",
    "failback_rolled_back", "checker_divergence",
};

enum class ChannelKind : uint8_t { kWebhook, kSlack, kPagerDuty, kSmtp };
inline constexpr std::array<std::string_view, 4> kChannelKindNames = {"webhook", "slack",
                                                                      "pagerduty", "smtp"};

struct ChannelSpec {
  std::string name;
  ChannelKind kind = ChannelKind::kWebhook;
  std::string url;  // webhook / slack / pagerduty: the endpoint; smtp: smtp://host:port
  std::vector<std::pair<std::string, std::string>> headers;  // webhook: extra headers
  std::string routing_key;  // pagerduty: resolved from routing_key_env at load
  std::string routing_key_env;
  std::string from = "steerdns@localhost";  // smtp
  std::vector<std::string> to;              // smtp
  std::string username, password_env;       // smtp AUTH (optional)
  Millis timeout_ms = 10'000;               // per attempt
  std::string where;                        // "file:line"
};

struct SeveritySpec {
  std::vector<std::string> channels;
  Millis repeat_ms = 0;          // re-notify an open, unacknowledged alert this often; 0 = never
  Millis escalate_after_ms = 0;  // unacknowledged this long: raised one level; 0 = never
};

struct RouteSpec {
  std::vector<std::string> events;
  Severity severity = Severity::kWarning;
  std::vector<std::string> targets;  // only these checks / sets / names; empty = all
  std::string where;
};

struct AlertsSpec {
  std::vector<RouteSpec> routes;  // first matching route wins
  std::array<SeveritySpec, 4> severities;
  std::map<std::string, ChannelSpec> channels;
  int cert_expiring_days = 14;  // cert_expiring opens when a certificate has fewer days left
  // Delivery retries: backoff doubles from retry_min to retry_max; after max_attempts the row
  // is dead (kept, visible, counted).
  Millis retry_min_ms = 1'000;
  Millis retry_max_ms = 300'000;
  int max_attempts = 100;
  bool empty() const { return routes.empty(); }
};

// Availability objective of a steered name (`slo:`); `default` applies to names not listed.
struct SloObjective {
  double objective = 99.9;                 // percent of time with a healthy answer
  std::optional<double> alert_below;       // percent; slo_below opens under it
  Millis alert_window_ms = 3'600'000;      // the window alert_below is measured over
  std::string where;
};

struct SloSpec {
  SloObjective defaults;
  std::map<std::string, SloObjective> names;  // absolute lower-case name with final dot
  const SloObjective& for_name(const std::string& name) const {
    auto it = names.find(name);
    return it == names.end() ? defaults : it->second;
  }
};

}  // namespace steerdns::alert
