#pragma once
// Turns a YAML config file (or --zone command-line arguments) into the settings the daemon
// starts with and the RuntimeConfig the query path serves. Every error says where and why
// ("file:line: ..."), and nothing is half-built: a failed load returns an error and no config.
// Control-plane only; callable from any thread (no shared state).
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "alert/spec.h"
#include "config/runtime.h"
#include "core/result.h"
#include "dr/actions_spec.h"
#include "health/spec.h"

namespace YAML {
class Node;
}

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
  std::string api_listen;  // "127.0.0.1:8053", "off"; empty = the default (127.0.0.1:8053)
  std::string store;       // "sqlite:PATH" (relative to the config file); empty = the default
  // HTTP API: tokens and Route 53 access keys besides the environment's, HTTPS, handler pool.
  struct ApiToken {
    std::string name;
    std::string secret;      // inline, or ...
    std::string secret_env;  // ... the environment variable that holds it
    bool can_write = false;
  };
  std::vector<ApiToken> api_tokens;
  struct AccessKey {
    std::string id;
    std::string secret;
    std::string secret_env;
  };
  std::vector<AccessKey> route53_keys;
  std::string api_tls_cert;  // PEM chain (both or neither)
  std::string api_tls_key;
  int api_threads = 64;
  // `query_log:` (docs/query-log.md); startup-only, like listen (a reload reopens the file).
  std::string query_log_path;  // empty = no query log; "unix:PATH" = a dnstap socket
  bool query_log_dnstap = false;  // format: dnstap (else json)
  uint32_t query_log_sample = 1;  // every Nth query per thread
  // Query-path settings of `server:`; the catalog's compile() copies them into every
  // RuntimeConfig it builds (they are not part of the catalog).
  Chaos chaos = Chaos::defaults();
  uint16_t max_udp_payload = 1232;
  std::vector<XfrAllow> xfr_allow;
  // `tsig_keys:` (docs/zone-transfer.md); like xfr_allow, applied on reload. Never null.
  std::shared_ptr<const dns::TsigKeyring> tsig_keys = std::make_shared<const dns::TsigKeyring>();
  // `notify:` secondaries (ADDR:PORT) sent a NOTIFY on every served serial change, signed
  // with `key` when set (docs/zone-transfer.md); a reload applies a changed list.
  struct NotifyTarget {
    std::string to;
    std::optional<dns::Name> key;
  };
  std::vector<NotifyTarget> notify;
  // IXFR journal steps kept per zone (docs/zone-transfer.md); startup-only.
  uint32_t ixfr_journal_versions = 100;
  // `cluster:` fleet mode (docs/fleet.md); startup-only. Used with an etcd store only.
  struct Cluster {
    std::string node_id;  // --node-id wins; names this node's keys and its health view
    std::string site;     // --site wins; picks the checks this node runs (sites below)
    int64_t lease_ttl_ms = 10'000;   // a node silent this long stops counting
    int64_t heartbeat_ms = 1'000;    // member record and lease keepalive period
    int64_t stale_after_ms = 3'000;  // no successful heartbeat this long: this node is stale
    int64_t peer_grace_ms = 60'000;  // stale: peers' last views still count this long
    int64_t divergence_after_ms = 30'000;  // a view differing from the consensus this long
    // site -> the check ids nodes of that site run; a site not listed runs every check.
    std::vector<std::pair<std::string, std::vector<std::string>>> sites;
    // The catalog kept on local disk for a start while etcd is out of reach (control/plane.h);
    // --catalog-cache wins. Unset: steerdns-catalog-NODE.json in the working directory;
    // empty: none.
    std::optional<std::string> catalog_cache;
  };
  Cluster cluster;
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
  // `alerts:` and `slo:`; empty / defaults without the sections.
  alert::AlertsSpec alerts;
  alert::SloSpec slo;
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

// Loads a config document built in memory (the catalog's compile()): `source` replaces the file
// name in messages and relative paths are relative to the working directory. Nodes built in
// memory have no line numbers, so a zone, record or member mapping may carry a hidden
// "__where" key ("zone example.test. record set www.example.test./A", "change 3 (UPSERT
// ...)"): the loader strips it and names that entity in errors, warnings and `where`s.
Result<LoadedConfig> load_config_node(const YAML::Node& root, const std::string& source);

// Plain record sets compiled by an earlier load (the catalog's compile cache): a set's records
// are a pure function of its body, its zone's origin and the zone's default TTL, so an
// unchanged set need not be parsed again.
using CompiledRecords = std::shared_ptr<const std::vector<zone::ZoneBuilder::Record>>;
struct PrecompiledSet {
  // Names the entity in errors: `where` if set (a batch's "change 3 (UPSERT ...)"), else
  // "zone ZONE record set KEY". Built only for an error (a compile names few), so the views
  // must outlive the load.
  const std::string* where = nullptr;
  std::string_view zone;
  std::string_view key;
  CompiledRecords records;
};
struct NodeLoadOptions {
  // Zone name ("example.test.") -> record sets that are not in the document, added to that
  // inline zone's builder as they are (after the document's own records).
  std::map<std::string, std::vector<PrecompiledSet>> precompiled;
  // When set: zone name -> one entry per item of that zone's `records` list, in order: the
  // plain record set's records as compiled, null for steered sets (not cacheable: they depend
  // on other record sets). Filled as zones load, so it is complete only on success.
  std::map<std::string, std::vector<CompiledRecords>>* compiled = nullptr;
};
Result<LoadedConfig> load_config_node(const YAML::Node& root, const std::string& source,
                                      const NodeLoadOptions& opts);

// A record value from a config (YAML `values`) as master-file rdata text: TXT/SPF values are
// quoted unless they already are; other types are taken as written.
std::string record_value_presentation(uint16_t type, const std::string& value);

// Builds a config from --zone arguments alone (no config file).
Result<LoadedConfig> load_zone_args(const std::vector<ZoneArg>& zones);

// Parses "ORIGIN=PATH".
Result<ZoneArg> parse_zone_arg(const std::string& arg);

// Parses "1h30m", "10s", "500ms" (units ms, s, m, h, d; a unit is required) to milliseconds.
Result<int64_t> parse_duration_ms(std::string_view text);

// Checks "ip:port" or "[ipv6]:port" (port 1..65535).
Status check_listen_address(std::string_view text);

}  // namespace steerdns::config
