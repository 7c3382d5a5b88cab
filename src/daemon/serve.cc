#include "daemon/serve.h"

#include <malloc.h>
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

#include "api/health_routes.h"
#include "api/server.h"
#include "config/loader.h"
#include "core/snapshot.h"
#include "core/version.h"
#include "daemon/control.h"
#include "daemon/health_service.h"
#include "daemon/steering_service.h"
#include "server/address.h"
#include "server/tcp.h"
#include "server/udp.h"

namespace steerdns::daemon {
namespace {

namespace asio = boost::asio;
using boost::system::error_code;
using local = asio::local::stream_protocol;

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

std::string describe_zones(const config::RuntimeConfig& rc) {
  std::string out;
  for (const auto& z : rc.zones()) {
    if (!out.empty()) {
      out += ", ";
    }
    out += fmt::format("{} serial {} ({} records)", z->origin().to_text(), z->serial(),
                       z->record_count());
  }
  return out.empty() ? "no zones" : out;
}

class Daemon {
 public:
  explicit Daemon(const ServeOptions& opts) : opts_(opts) {}

  int run();

 private:
  // Builds a complete config aside (the same way at startup and on reload).
  Result<config::LoadedConfig> load() const;
  // Reload: build aside, publish on success; the running config stays on failure.
  Result<std::string> reload();
  void start_control(const std::string& path);
  void accept_control();
  // One control-socket command line -> the reply line ("ok ..." / "error ...").
  std::string control_command(const std::string& line);
  void wait_signals();
  // Starts the HTTP API (its own thread); false = a startup error (logged).
  bool start_api();

  const ServeOptions& opts_;
  Snapshot<config::RuntimeConfig> snapshot_;
  config::ServerSettings settings_;
  asio::io_context io_{1};
  asio::signal_set signals_{io_, SIGHUP, SIGTERM, SIGINT};
  std::unique_ptr<local::acceptor> control_;
  std::string control_path_;
  HealthService health_;
  // After health_ (it reads the engine's view) and snapshot_ (it publishes every config).
  SteeringService steering_{snapshot_, RealClock::instance()};
  std::unique_ptr<api::Server> api_;  // after health_: stopped before it
};

bool Daemon::start_api() {
  // The default address is best effort (another daemon on this machine may hold it); an
  // address given on the command line or in the config must work.
  bool explicit_addr = opts_.api_listen_set || !settings_.api_listen.empty();
  std::string addr = opts_.api_listen_set ? opts_.api_listen : settings_.api_listen;
  if (addr.empty()) {
    addr = "127.0.0.1:8053";
  }
  if (addr == "off") {
    return true;
  }
  auto auth = api::Auth::from_env();
  if (!auth) {
    spdlog::error("API: {}", auth.error());
    return false;
  }
  api::Router router;
  api::add_health_routes(
      router, api::HealthAccess{
                  [this] { return health_.report_json(); },
                  [this](const std::string& id, bool healthy, const std::string& reason) {
                    return health_.set_external(
                        id, healthy ? health::Status::kHealthy : health::Status::kUnhealthy,
                        reason);
                  }});
  api::ServerOptions api_opts;
  api_opts.listen = addr;
  auto srv = std::make_unique<api::Server>(api_opts, std::move(*auth), std::move(router));
  if (auto st = srv->start(); !st) {
    if (explicit_addr) {
      spdlog::error("{}", st.error());
      return false;
    }
    spdlog::warn("{}; continuing without the API (--api-listen ADDR:PORT picks another)",
                 st.error());
    return true;
  }
  api_ = std::move(srv);
  return true;
}

Result<config::LoadedConfig> Daemon::load() const {
  Result<config::LoadedConfig> loaded = Error{""};
  if (!opts_.config_file.empty()) {
    loaded = config::load_config_file(opts_.config_file);
  } else {
    std::vector<config::ZoneArg> args;
    for (const auto& z : opts_.zones) {
      auto a = config::parse_zone_arg(z);
      if (!a) {
        return Error{a.error()};
      }
      args.push_back(std::move(*a));
    }
    loaded = config::load_zone_args(args);
  }
  if (!loaded) {
    return loaded;
  }
  // The YAML tree of a big config (thousands of steered sets) is gone by now; hand its many
  // small freed blocks back to the OS instead of keeping them as RSS for the daemon's life.
  malloc_trim(0);
  if (!opts_.axfr_allow.empty()) {
    auto rc = std::make_shared<config::RuntimeConfig>(*loaded->runtime);
    for (const auto& text : opts_.axfr_allow) {
      auto c = config::Cidr::parse(text);
      if (!c) {
        return Error{"--axfr-allow " + c.error()};
      }
      rc->xfr_allow.push_back(*c);
    }
    loaded->runtime = std::move(rc);
  }
  return loaded;
}

Result<std::string> Daemon::reload() {
  auto t0 = std::chrono::steady_clock::now();
  auto loaded = load();
  if (!loaded) {
    spdlog::error("reload failed, still serving the previous config: {}", loaded.error());
    return Error{loaded.error()};
  }
  for (const auto& w : loaded->warnings) {
    spdlog::warn("{}", w);
  }
  if (!opts_.config_file.empty() && opts_.listen.empty() &&
      loaded->server.listen != settings_.listen) {
    spdlog::warn("reload: server.listen changed; listen addresses change only on restart");
  }
  if (auto st = steering_.check(*loaded); !st) {
    spdlog::error("reload failed, still serving the previous config: {}", st.error());
    return Error{st.error()};
  }
  // Checks first: it is the step that can still fail, and a reload changes all or nothing.
  // A copy: steering needs the check specs too (overrides propagate through calculated checks).
  if (auto st = health_.configure(loaded->server, loaded->health_checks); !st) {
    spdlog::error("reload failed, still serving the previous config: {}", st.error());
    return Error{st.error()};
  }
  std::string what = describe_zones(*loaded->runtime);
  // Publishes loaded->runtime with a steering table for the current health and state.
  if (auto st = steering_.apply(*loaded, health_.view()); !st) {
    spdlog::error("reload: {}", st.error());
    return Error{st.error()};
  }
  std::string msg =
      fmt::format("{}; {} health checks in {:.1f} ms", what, health_.check_count(), ms_since(t0));
  spdlog::info("reloaded: {}", msg);
  return msg;
}

void Daemon::wait_signals() {
  signals_.async_wait([this](error_code ec, int sig) {
    if (ec) {
      return;
    }
    if (sig == SIGHUP) {
      spdlog::info("SIGHUP: reloading");
      (void)reload();
      wait_signals();
      return;
    }
    spdlog::info("{}: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    io_.stop();
  });
}

void Daemon::start_control(const std::string& path) {
  // A socket file left by a previous run would make bind fail.
  struct stat st {};
  if (lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) {
    unlink(path.c_str());
  }
  control_ = std::make_unique<local::acceptor>(io_, local::endpoint(path));
  chmod(path.c_str(), 0660);
  control_path_ = path;
  accept_control();
}

void Daemon::accept_control() {
  control_->async_accept([this](error_code ec, local::socket sock) {
    if (ec == asio::error::operation_aborted) {
      return;
    }
    if (!ec) {
      auto s = std::make_shared<local::socket>(std::move(sock));
      auto buf = std::make_shared<asio::streambuf>(4096);
      asio::async_read_until(*s, *buf, '\n', [this, s, buf](error_code rec, size_t) {
        if (rec) {
          return;
        }
        std::istream in(buf.get());
        std::string line;
        std::getline(in, line);
        std::string reply = control_command(line);
        auto out = std::make_shared<std::string>(reply + "\n");
        asio::async_write(*s, asio::buffer(*out), [s, out](error_code, size_t) {
          error_code ignored;
          s->shutdown(local::socket::shutdown_both, ignored);
        });
      });
    }
    accept_control();
  });
}

std::string Daemon::control_command(const std::string& line) {
  const std::string ok(kControlOk);
  const std::string error(kControlError);
  std::istringstream words(line);
  std::string cmd;
  words >> cmd;
  if (line == "reload") {
    auto r = reload();
    return r ? ok + "reloaded: " + *r : error + r.error();
  }
  if (line == "health") {
    // Probe reasons may quote bytes that are not UTF-8; replace them rather than throw.
    return ok +
           health_.report_json().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  if (cmd == "health-set") {
    // health-set ID healthy|unhealthy [REASON...] (ids have no spaces; the reason may)
    std::string id, state, reason;
    words >> id >> state;
    std::getline(words >> std::ws, reason);
    if (id.empty() || (state != "healthy" && state != "unhealthy")) {
      return error + "usage: health-set ID healthy|unhealthy [REASON]";
    }
    auto st = health_.set_external(
        id, state == "healthy" ? health::Status::kHealthy : health::Status::kUnhealthy, reason);
    return st ? ok + "health check '" + id + "' set " + state : error + st.error();
  }
  if (cmd == "steer") {
    // steer {JSON request} (daemon/steering_service.h): status, overrides, explain, ...
    std::string body;
    std::getline(words >> std::ws, body);
    auto req = nlohmann::json::parse(body, nullptr, false);
    if (req.is_discarded()) {
      return error + "steer: the request is not JSON";
    }
    auto r = steering_.command(req);
    return r ? ok + r->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
             : error + r.error();
  }
  return error + "unknown command '" + line + "' (known: reload, health, health-set, steer)";
}

int Daemon::run() {
  auto t0 = std::chrono::steady_clock::now();
  auto loaded = load();
  if (!loaded) {
    spdlog::error("{}", loaded.error());
    return 1;
  }
  for (const auto& w : loaded->warnings) {
    spdlog::warn("{}", w);
  }
  settings_ = loaded->server;
  std::shared_ptr<const config::RuntimeConfig> runtime = loaded->runtime;
  std::string zones_text = describe_zones(*runtime);
  snapshot_.publish(std::move(runtime));
  // Before serving: every check (standbys too) starts probing now, not on a first query.
  health_.on_transition([this](const health::Transition&) { steering_.health_changed(); });
  // A copy: steering needs the check specs too (overrides propagate through calculated checks).
  if (auto st = health_.configure(settings_, loaded->health_checks); !st) {
    spdlog::error("{}", st.error());
    return 1;
  }
  // Restores the persisted steering state and publishes the first table before serving.
  if (auto st = steering_.start(settings_, *loaded, health_.view()); !st) {
    spdlog::error("{}", st.error());
    return 1;
  }
  double load_ms = ms_since(t0);

  std::vector<std::string> listen = opts_.listen.empty() ? settings_.listen : opts_.listen;
  if (listen.empty()) {
    listen.push_back("127.0.0.1:5300");
  }
  int threads = opts_.threads > 0 ? opts_.threads : settings_.udp_threads;
  if (threads <= 0) {
    threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }
  server::TcpOptions tcp_opts;
  tcp_opts.max_clients =
      opts_.tcp_max_clients > 0 ? opts_.tcp_max_clients : settings_.tcp_max_clients;
  tcp_opts.idle_timeout_ms =
      opts_.tcp_idle_timeout_ms > 0 ? opts_.tcp_idle_timeout_ms : settings_.tcp_idle_timeout_ms;
  tcp_opts.io_timeout_ms =
      opts_.tcp_io_timeout_ms > 0 ? opts_.tcp_io_timeout_ms : settings_.tcp_io_timeout_ms;

  server::UdpServer udp(snapshot_, threads);
  server::TcpServer tcp(snapshot_, tcp_opts);
  for (const auto& text : listen) {
    auto addr = server::parse_listen_addr(text);
    if (!addr) {
      spdlog::error("{}", addr.error());
      return 1;
    }
    if (auto st = udp.listen(*addr); !st) {
      spdlog::error("{}", st.error());
      return 1;
    }
    if (auto st = tcp.listen(*addr); !st) {
      spdlog::error("{}", st.error());
      return 1;
    }
  }
  std::string control = opts_.control_set ? opts_.control : settings_.control_socket;
  if (!control.empty()) {
    try {
      start_control(control);
    } catch (const boost::system::system_error& e) {
      spdlog::error("control socket {}: {}", control, e.what());
      return 1;
    }
  }
  if (!start_api()) {
    return 1;
  }
  if (!opts_.pid_file.empty()) {
    std::ofstream pf(opts_.pid_file, std::ios::trunc);
    pf << getpid() << "\n";
    if (!pf) {
      spdlog::error("pid file {}: cannot write", opts_.pid_file);
      return 1;
    }
  }
  signal(SIGPIPE, SIG_IGN);
  wait_signals();
  std::string listen_text;
  for (const auto& l : listen) {
    listen_text += (listen_text.empty() ? "" : " ") + l;
  }
  spdlog::info(
      "steerdns {} listening on {} (udp: {} threads, tcp: max {} clients){}; zones: {}; "
      "{} health checks; loaded in {:.1f} ms",
      kVersion, listen_text, threads, tcp_opts.max_clients,
      control.empty() ? "" : "; control " + control, zones_text, health_.check_count(), load_ms);
  // The sockets are bound already (queries queue in the kernel); logged first so that anyone
  // who got an answer can also read the startup line.
  udp.start();
  tcp.start();

  io_.run();

  udp.stop();
  tcp.stop();
  if (api_) {
    api_->stop();  // before the health engine it calls into
  }
  steering_.stop();  // before the health engine whose view it reads
  health_.stop();
  server::CounterTotals u = udp.totals();
  server::CounterTotals t = tcp.totals();
  spdlog::info(
      "stopped: udp {} queries, {} responses, {} dropped, {} truncated; tcp {} "
      "connections, {} queries, {} responses, {} transfers, {} timeouts",
      u.queries, u.responses, u.drops, u.truncated, t.connections, t.queries, t.responses,
      t.transfers, t.timeouts);
  if (control_) {
    control_.reset();
    unlink(control_path_.c_str());
  }
  if (!opts_.pid_file.empty()) {
    unlink(opts_.pid_file.c_str());
  }
  return 0;
}

}  // namespace

int run_serve(const ServeOptions& opts) {
  auto logger = spdlog::stderr_color_mt("steerdns");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  Daemon d(opts);
  return d.run();
}

}  // namespace steerdns::daemon
