#pragma once
// `steerdns serve`: opens the store (seeding an empty one from the config file or --zone
// files), binds the transports, and serves until SIGTERM or SIGINT. Every change -- API,
// Route 53 API, reload -- goes through the control plane (control/plane.h): validated, durable,
// then published with one pointer swap. SIGHUP and the control socket's "reload" re-read the
// config file and apply what changed in it since it was last applied, as one change batch; a
// failed reload keeps the running config serving and says why.
#include <string>
#include <vector>

namespace steerdns::daemon {

struct ServeOptions {
  std::vector<std::string> listen;  // overrides the config's listen list when not empty
  std::vector<std::string> zones;   // ORIGIN=PATH (no config file)
  std::string config_file;
  int threads = 0;  // 0 = from the config, else one per core
  std::vector<std::string> axfr_allow;
  // --notify ADDR:PORT (repeatable): added to the config's server.notify.
  std::vector<std::string> notify;
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
  // --store sqlite:PATH | sqlite::memory:. Unset: the config's server.store (relative to the
  // config file), else sqlite:steerdns.db in the working directory; with --zone (no config)
  // an in-memory store, since the zone files are the source then.
  bool store_set = false;
  std::string store;
  // --node-id / --site: fleet mode (docs/fleet.md); override server.cluster.node_id / site.
  std::string node_id;
  std::string site;
  // --catalog-cache PATH | off: overrides server.cluster.catalog_cache (fleet mode).
  std::string catalog_cache;
  // --query-log PATH | unix:SOCKET, --query-log-format json|dnstap, --query-log-sample N:
  // override server.query_log (docs/query-log.md). Empty / 0 = from the config.
  std::string query_log;
  std::string query_log_format;
  uint32_t query_log_sample = 0;
};

// Returns the process exit code.
int run_serve(const ServeOptions& opts);

}  // namespace steerdns::daemon
