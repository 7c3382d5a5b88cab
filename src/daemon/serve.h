#pragma once
// `steerdns serve`: loads the zones or config, binds the transports, and serves until SIGTERM or
// SIGINT. SIGHUP and the control socket's "reload" rebuild the RuntimeConfig aside and publish
// it with one pointer swap; a failed reload keeps the running config serving and says why.
#include <string>
#include <vector>

namespace steerdns::daemon {

struct ServeOptions {
  std::vector<std::string> listen;  // overrides the config's listen list when not empty
  std::vector<std::string> zones;   // ORIGIN=PATH (no config file)
  std::string config_file;
  int threads = 0;  // 0 = from the config, else one per core
  std::vector<std::string> axfr_allow;
  bool control_set = false;  // --control given (possibly empty = none)
  std::string control;
  std::string pid_file;
  int tcp_max_clients = 0;  // 0 = from the config / default
  int tcp_idle_timeout_ms = 0;
  int tcp_io_timeout_ms = 0;
  // --api-listen ADDR:PORT | off. Unset: the config's server.api_listen, else the default
  // 127.0.0.1:8053 (skipped with a warning when that cannot be bound).
  bool api_listen_set = false;
  std::string api_listen;
};

// Returns the process exit code.
int run_serve(const ServeOptions& opts);

}  // namespace steerdns::daemon
