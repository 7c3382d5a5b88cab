#pragma once
// Turns a YAML config file (or --zone command-line arguments) into the settings the daemon
// starts with and the RuntimeConfig the query path serves. Every error says where and why
// ("file:line: ..."), and nothing is half-built: a failed load returns an error and no config.
// Control-plane only; callable from any thread (no shared state).
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "config/runtime.h"
#include "core/result.h"
#include "dr/actions_spec.h"
#include "health/spec.h"

namespace steerdns::config {

// This machine's host name ("localhost" if it has none): the default checker id.
std::string host_name();

// Startup-only settings: changing them needs a restart (a reload logs that they were ignored).
struct ServerSettings {
  std::vector<std::string> listen;  // "127.0.0.1:5300", "[::1]:5300"
  int udp_threads = 0;              // 0 = one per CPU core
  int tcp_max_clients = 1024;
  int tcp_idle_timeout_ms = 10000;  // as Knot: close idle connections after 10 s
  int tcp_io_timeout_ms = 500;      // max time to receive one message once it started
  std::string control_socket;       // UNIX socket for `steerdns reload`; empty = none
  // Health engine (startup settings). The state file keeps check states across restarts;
  // empty = no persistence. A config file defaults it to steerdns-health.json beside itself.
  std::string health_state_file;
  std::string checker_id = host_name();  // names this node's observations (vantage point)
  // Parsed and kept, not used yet: the HTTP API and the catalog store arrive with later issues.
  std::string api_listen;  // "127.0.0.1:8053"; empty = no API
  std::string store;       // "sqlite:steerdns.db"; empty = none
};

struct LoadedConfig {
  ServerSettings server;
  std::shared_ptr<const RuntimeConfig> runtime;
  // `health_checks:`, validated as a whole (health::validate_all); empty without the section.
  std::vector<health::CheckSpec> health_checks;
  // Steered record sets (validated with the checks above) and the table compiled with every
  // check healthy; the same pointers as in `runtime`. Never null after a successful load.
  std::shared_ptr<const policy::SteeringSpec> steering_spec;
  std::shared_ptr<const policy::Table> steering;
  // `actions:` (webhooks and commands run on orchestrator events); empty without the section.
  dr::ActionsSpec actions;
  std::vector<std::string> warnings;
};

// One "--zone ORIGIN=PATH" argument.
struct ZoneArg {
  std::string origin;
  std::string path;
};

// Loads the YAML config at `path` (zones from files and inline records). Relative zone file
// paths are resolved against the config file's directory. The schema is in docs/config.md.
Result<LoadedConfig> load_config_file(const std::string& path);

// Builds a config from --zone arguments alone (no config file).
Result<LoadedConfig> load_zone_args(const std::vector<ZoneArg>& zones);

// Parses "ORIGIN=PATH".
Result<ZoneArg> parse_zone_arg(const std::string& arg);

// Parses "1h30m", "10s", "500ms" (units ms, s, m, h, d; a unit is required) to milliseconds.
Result<int64_t> parse_duration_ms(std::string_view text);

// Checks "ip:port" or "[ipv6]:port" (port 1..65535).
Status check_listen_address(std::string_view text);

}  // namespace steerdns::config
