// steerdns: one binary, subcommands. `serve` runs the daemon; `reload` and `health` talk to it.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/api_client.h"
#include "cli/commands.h"
#include "config/check.h"
#include "core/version.h"
#include "daemon/control.h"
#include "daemon/drill.h"
#include "daemon/health_report.h"
#include "daemon/serve.h"
#include "daemon/steering_cli.h"

namespace {

struct HealthArgs {
  std::string control;
  steerdns::cli::ApiOptions api;  // without --control: the native API
  bool json = false;
  std::vector<std::string> checks;
  std::string set_id;
  std::string set_status;
  std::string set_reason;
};

// `steerdns health [set]` over the API: GET /v1/health/checks, PUT .../{id}/status.
int run_health_api(const HealthArgs& a, bool set, nlohmann::json& report) {
  const char* what = set ? "health set" : "health";
  auto settings = steerdns::cli::resolve_settings(a.api);
  if (!settings) {
    std::fprintf(stderr, "steerdns %s: %s\n", what, settings.error().c_str());
    return 1;
  }
  steerdns::cli::ApiClient client(std::move(*settings));
  if (set) {
    nlohmann::json body{{"status", a.set_status}};
    if (!a.set_reason.empty()) {
      body["reason"] = a.set_reason;
    }
    auto r = client.call("PUT", "/v1/health/checks/" + steerdns::cli::url_escape(a.set_id) +
                                    "/status", &body);
    if (!r) {
      std::fprintf(stderr, "steerdns health set: %s\n", r.error().c_str());
      return 1;
    }
    if (a.json) {
      std::printf("%s\n", r->dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    } else {
      std::printf("health check '%s' set %s\n", a.set_id.c_str(), a.set_status.c_str());
    }
    return 0;
  }
  auto r = client.call("GET", "/v1/health/checks");
  if (!r) {
    std::fprintf(stderr, "steerdns health: %s\n", r.error().c_str());
    return 1;
  }
  report = std::move(*r);
  return -1;  // go on: filter and print as for the control socket
}

int run_health(const HealthArgs& a, bool set) {
  nlohmann::json report;
  if (a.control.empty()) {
    if (int rc = run_health_api(a, set, report); rc >= 0) {
      return rc;
    }
  } else if (set) {
    // One request line: a reason with line breaks would end it early.
    std::string reason = a.set_reason;
    std::replace_if(
        reason.begin(), reason.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
    std::string cmd = "health-set " + a.set_id + " " + a.set_status;
    if (!reason.empty()) {
      cmd += " " + reason;
    }
    auto r = steerdns::daemon::control_request(a.control, cmd);
    if (!r) {
      std::fprintf(stderr, "steerdns health set: %s\n", r.error().c_str());
      return 1;
    }
    std::printf("%s\n", r->c_str());
    return 0;
  }
  if (!a.control.empty()) {
    auto r = steerdns::daemon::control_request(a.control, "health");
    if (!r) {
      std::fprintf(stderr, "steerdns health: %s\n", r.error().c_str());
      return 1;
    }
    report = nlohmann::json::parse(*r, nullptr, false);
  }
  if (report.is_discarded() || !report.is_object()) {
    std::fprintf(stderr, "steerdns health: the daemon's reply is not a JSON report\n");
    return 1;
  }
  auto only = steerdns::daemon::filter_health_report(report, a.checks);
  if (!only) {
    std::fprintf(stderr, "steerdns health: %s\n", only.error().c_str());
    return 1;
  }
  if (a.json) {
    std::printf("%s\n",
                only->dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    return 0;
  }
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  std::fputs(steerdns::daemon::health_table(*only, now).c_str(), stdout);
  return 0;
}

int run(int argc, char** argv) {
  using steerdns::daemon::ServeOptions;
  CLI::App app{"steerdns: authoritative DNS server with health-checked traffic steering"};
  app.set_version_flag("-V,--version", std::string("steerdns ") + steerdns::kVersion);
  app.require_subcommand(1);

  ServeOptions so;
  CLI::App* serve = app.add_subcommand("serve",
                                       "Serve zones over UDP and TCP until SIGTERM/SIGINT "
                                       "(SIGHUP reloads)");
  serve->add_option("-l,--listen", so.listen,
                    "Address to serve on, UDP and TCP: 127.0.0.1:5300 or [::1]:5300 (repeatable; "
                    "overrides the config's server.listen; default 127.0.0.1:5300)");
  auto* zone_opt = serve->add_option("-z,--zone", so.zones,
                                     "Serve a master file without a config: ORIGIN=PATH, e.g. "
                                     "example.com=example.com.zone (repeatable)");
  auto* config_opt = serve->add_option("-c,--config", so.config_file, "YAML config file")
                         ->check(CLI::ExistingFile);
  zone_opt->excludes(config_opt);
  serve
      ->add_option("-t,--threads", so.threads,
                   "UDP worker threads (default: server.udp_threads, else one per CPU core)")
      ->check(CLI::Range(1, 1024));
  serve->add_option("--axfr-allow", so.axfr_allow,
                    "Address or prefix allowed to AXFR/IXFR, e.g. 127.0.0.1 or 10.0.0.0/8 "
                    "(repeatable; default nobody)");
  serve->add_option("--notify", so.notify,
                    "Secondary sent a NOTIFY on every serial change, ADDR:PORT (repeatable; adds "
                    "to server.notify)");
  auto* control_opt = serve->add_option(
      "--control", so.control,
      "UNIX socket for `steerdns reload` and `steerdns health` (default: none with --zone, the "
      "config's server.control_socket with --config)");
  serve->add_option("--pid-file", so.pid_file, "Write the process id to this file");
  auto* api_opt = serve->add_option(
      "--api-listen", so.api_listen,
      "HTTP API address, 127.0.0.1:8053 or [::1]:8053, or 'off' (default: the config's "
      "server.api_listen, else 127.0.0.1:8053, skipped with a warning if that is taken). "
      "Tokens: STEERDNS_API_TOKEN (read-write), STEERDNS_API_READ_TOKEN (read-only) and "
      "server.api_tokens; Route 53 keys: STEERDNS_ACCESS_KEY_ID/STEERDNS_SECRET_ACCESS_KEY "
      "and server.route53_keys; without any, only loopback clients are served");
  auto* store_opt = serve->add_option(
      "--store", so.store,
      "Where zones, record sets, health checks, change batches, events and state are kept: "
      "sqlite:PATH (created if missing), sqlite::memory:, or a fleet's etcd cluster "
      "etcd:http://HOST:PORT[,http://HOST:PORT...][?timeout_ms=N&ca=F&cert=F&key=F&user=U&"
      "password_file=F&prefix=P] (needs --node-id; docs/fleet.md) (default: the config's "
      "server.store, else sqlite:steerdns.db in the working directory; with --zone, in "
      "memory). An empty store is seeded from --config / --zone; after that the store is "
      "what is served");
  serve->add_option("--node-id", so.node_id,
                    "Fleet mode: this node's name, unique in the fleet (letters, digits, - _ .); "
                    "names its health view and keys (default: the config's "
                    "server.cluster.node_id; required with an etcd store)");
  serve->add_option("--site", so.site,
                    "Fleet mode: this node's site; with server.cluster.sites it picks the "
                    "checks this node runs (default: the config's server.cluster.site; none: "
                    "every check)");
  serve->add_option("--catalog-cache", so.catalog_cache,
                    "Fleet mode: file keeping the last catalog served, so that the node can "
                    "start and serve it while etcd is out of reach, or 'off' (default: the "
                    "config's server.cluster.catalog_cache, else steerdns-catalog-NODE.json in "
                    "the working directory)");
  serve
      ->add_option("--tcp-max-clients", so.tcp_max_clients,
                   "Concurrent TCP connections; more are accepted and closed (default 1024)")
      ->check(CLI::Range(1, 1000000));
  serve
      ->add_option("--tcp-idle-timeout-ms", so.tcp_idle_timeout_ms,
                   "Close TCP connections idle this long between messages (default 10000)")
      ->check(CLI::Range(1, 3600000));
  serve
      ->add_option("--tcp-io-timeout-ms", so.tcp_io_timeout_ms,
                   "Close a TCP connection whose message takes longer than this to arrive once "
                   "started (default 500)")
      ->check(CLI::Range(1, 3600000));
  serve->add_option("--query-log", so.query_log,
                    "Log queries to this file, or to unix:SOCKET (a dnstap collector's Frame "
                    "Streams socket); reopened on reload, for logrotate (default: the config's "
                    "server.query_log; none). See docs/query-log.md");
  serve->add_option("--query-log-format", so.query_log_format,
                    "Query log format: json (one JSON object per line) or dnstap (default json)")
      ->check(CLI::IsMember({"json", "dnstap"}));
  serve
      ->add_option("--query-log-sample", so.query_log_sample,
                   "Log every Nth query of each query thread; 1 = every query (default 1)")
      ->check(CLI::Range(1, 1000000000));

  std::string reload_control;
  CLI::App* reload = app.add_subcommand(
      "reload", "Ask a running daemon to reload its zones/config; exits non-zero on failure");
  reload->add_option("--control", reload_control, "The daemon's control socket")->required();

  HealthArgs ha;
  CLI::App* health = app.add_subcommand(
      "health",
      "Show a running daemon's health checks (a table, or --json); `health set` sets an "
      "external check");
  health->add_option("--control", ha.control,
                     "Talk to the daemon's control socket at PATH instead of the API");
  steerdns::cli::add_api_options(health, ha.api);
  health->add_flag("--json", ha.json,
                   "Print the full report as JSON (adds the last observations with timings, "
                   "next probe, aggregation)");
  health->add_option("checks", ha.checks, "Show only these checks (default: all)");
  health->require_subcommand(0, 1);
  CLI::App* health_set = health->add_subcommand(
      "set", "Set an external check: steerdns health set ID healthy|unhealthy --reason TEXT");
  health_set->add_option("id", ha.set_id, "The external check's id")->required();
  health_set->add_option("status", ha.set_status, "healthy or unhealthy")
      ->required()
      ->check(CLI::IsMember({"healthy", "unhealthy"}));
  health_set->add_option("--reason", ha.set_reason,
                         "Why (kept as the check's reason; default 'set to <status>')");
  health_set->add_option("--control", ha.control,
                         "Talk to the daemon's control socket at PATH instead of the API");
  steerdns::cli::add_api_options(health_set, ha.api);
  health_set->add_flag("--json", ha.json, "Print the check as the API returns it");

  steerdns::daemon::DrillCommand drill = steerdns::daemon::add_drill_command(app);

  std::string check_config;
  CLI::App* check = app.add_subcommand(
      "check",
      "Validate a config as a reload would and print, for every steered name, the worst-case "
      "time from an endpoint failing to clients moving; exits 1 on a bad config");
  check->add_option("-c,--config", check_config, "YAML config file")->required();

  // status, override, failback, events, explain, simulate (daemon/steering_cli.h)
  auto run_steering = steerdns::daemon::add_steering_commands(app);
  // changes, zones, records, apply, zone import/export: API only (cli/commands.h)
  auto run_api_commands = steerdns::cli::add_api_commands(app);

  CLI11_PARSE(app, argc, argv);

  if (int rc = run_steering(); rc >= 0) {
    return rc;
  }
  if (int rc = run_api_commands(); rc >= 0) {
    return rc;
  }

  if (*serve) {
    if (so.zones.empty() && so.config_file.empty()) {
      std::fprintf(stderr, "steerdns serve: give --zone ORIGIN=PATH or --config FILE\n");
      return 2;
    }
    so.control_set = control_opt->count() > 0;
    so.api_listen_set = api_opt->count() > 0;
    so.store_set = store_opt->count() > 0;
    return steerdns::daemon::run_serve(so);
  }
  if (*reload) {
    auto r = steerdns::daemon::control_request(reload_control, "reload");
    if (!r) {
      std::fprintf(stderr, "steerdns reload: %s\n", r.error().c_str());
      return 1;
    }
    std::printf("%s\n", r->c_str());
    return 0;
  }
  if (*health) {
    return run_health(ha, health_set->parsed());
  }
  if (*drill.cmd) {
    return drill.run();
  }
  if (*check) {
    auto r = steerdns::config::check_config_file(check_config);
    if (!r) {
      std::fprintf(stderr, "steerdns check: %s\n", r.error().c_str());
      return 1;
    }
    std::fputs(r->c_str(), stdout);
    return 0;
  }
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    // Only unexpected failures get here (errors we expect are Results with a message).
    std::fprintf(stderr, "steerdns: %s\n", e.what());
    return 1;
  }
}
