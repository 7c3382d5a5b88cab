// steerdns: one binary, subcommands. `serve` runs the daemon; `reload` talks to it.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <string>

#include "core/version.h"
#include "daemon/control.h"
#include "daemon/serve.h"

namespace {

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
  auto* control_opt =
      serve->add_option("--control", so.control,
                        "UNIX socket for `steerdns reload` (default: none with --zone, the "
                        "config's server.control_socket with --config)");
  serve->add_option("--pid-file", so.pid_file, "Write the process id to this file");
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

  std::string reload_control;
  CLI::App* reload = app.add_subcommand(
      "reload", "Ask a running daemon to reload its zones/config; exits non-zero on failure");
  reload->add_option("--control", reload_control, "The daemon's control socket")->required();

  CLI11_PARSE(app, argc, argv);

  if (*serve) {
    if (so.zones.empty() && so.config_file.empty()) {
      std::fprintf(stderr, "steerdns serve: give --zone ORIGIN=PATH or --config FILE\n");
      return 2;
    }
    so.control_set = control_opt->count() > 0;
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
