#pragma once
// What to run when the orchestrator emits an event: the `actions:` section of the config.
// Plain data (header only) so that config/ can build it without linking dr/. The runner is in
// dr/actions.h; the YAML schema is in docs/actions.md.
#include <cctype>
#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/clock.h"

namespace steerdns::dr {

enum class ActionKind : uint8_t { kWebhook, kExec };

struct ActionSpec {
  ActionKind kind = ActionKind::kWebhook;
  // webhook: the event's JSON payload is the request body (none for GET/HEAD/DELETE).
  std::string url;
  std::string method = "POST";
  std::vector<std::pair<std::string, std::string>> headers;
  // exec: argv without a shell; the event's fields are in the environment (STEERDNS_*).
  std::vector<std::string> argv;

  Millis timeout_ms = 10'000;    // per attempt; a command is killed (its process group) at this
  int retries = 0;               // extra attempts after a failure
  Millis backoff_ms = 1'000;     // wait before retry n is backoff * 2^(n-1), at most 60 s
  bool stop_on_failure = false;  // skip this event's later actions when this one finally fails
  size_t max_output = 4096;      // response body / command output kept for the audit record
  // Only for events about these record sets (a name "app.example.test." matches every type of
  // it; "app.example.test./A" one set). Empty: every set.
  std::vector<std::string> sets;

  std::string where;  // "file:line"
};

// Event types a config may attach actions to (`on_<type>:`). The orchestrator's event types
// (dr/orchestrator.h) that concern a record set or an override.
inline constexpr std::string_view kActionEventTypes[] = {
    "failover",
    "failback",
    "failback_started",
    "failback_rolled_back",
    "failback_pending_approval",
    "failback_approved",
    "flap_frozen",
    "unfrozen",
    "all_down",
    "all_down_cleared",
    "override_set",
    "override_expired",
    "override_cleared",
    "failback_pending_cancelled",
};

// Whether `filter`, an entry of ActionSpec::sets, selects the record set keyed "name./TYPE":
// NAME matches every type of the name, NAME/TYPE one set; case-insensitive, final dot optional.
// The one rule for the runner (dr::sets_match) and the config check (config/dr_yaml.cc).
inline bool set_filter_matches(std::string_view filter, std::string_view set_key) {
  auto lower = [](std::string_view s) {
    std::string out(s);
    for (auto& c : out) {
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return out;
  };
  auto norm_name = [&](std::string_view s) {  // "App.Example.test" -> "app.example.test."
    std::string out = lower(s);
    if (out.empty() || out.back() != '.') {
      out += '.';
    }
    return out;
  };
  auto slash = set_key.rfind('/');
  std::string name = norm_name(set_key.substr(0, slash));
  std::string type = lower(set_key.substr(slash + 1));
  auto sl = filter.rfind('/');
  if (sl == std::string_view::npos) {
    return norm_name(filter) == name;
  }
  return norm_name(filter.substr(0, sl)) == name && lower(filter.substr(sl + 1)) == type;
}

struct ActionsSpec {
  // event type -> actions run in this order
  std::map<std::string, std::vector<ActionSpec>> on;

  bool empty() const { return on.empty(); }
  size_t count() const {
    size_t n = 0;
    for (const auto& [type, list] : on) {
      n += list.size();
    }
    return n;
  }
};

}  // namespace steerdns::dr
