#include "daemon/serve.h"

#include <malloc.h>
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>

#include "api/metrics.h"
#include "api/native_routes.h"
#include "api/route53/routes.h"
#include "api/server.h"
#include "api/services.h"
#include "cluster/service.h"
#include "config/catalog.h"
#include "config/loader.h"
#include "control/metrics.h"
#include "control/plane.h"
#include "core/snapshot.h"
#include "core/version.h"
#include "daemon/answer.h"
#include "daemon/control.h"
#include "daemon/health_service.h"
#include "daemon/steering_service.h"
#include "daemon/alert_service.h"
#include "daemon/store_state.h"
#include "obs/metrics.h"
#include "obs/query_log.h"
#include "server/address.h"
#include "server/journal.h"
#include "server/metrics.h"
#include "server/notify.h"
#include "server/tcp.h"
#include "server/udp.h"
#include "store/etcd/client.h"

namespace steerdns::daemon {
namespace {

namespace asio = boost::asio;
using boost::system::error_code;
using local = asio::local::stream_protocol;

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// Node and site names become etcd keys and metric labels: keep them plain.
Status check_node_name(const std::string& v, const char* what) {
  if (v.empty()) {
    return Error{std::string(what) + " is required with an etcd store (or server.cluster." +
                 (std::string(what) == "--site" ? "site" : "node_id") + ")"};
  }
  if (v.size() > 64) {
    return Error{std::string(what) + " '" + v + "': at most 64 characters"};
  }
  for (unsigned char c : v) {
    if (!std::isalnum(c) && c != '-' && c != '_' && c != '.') {
      return Error{std::string(what) + " '" + v +
                   "': letters, digits, '-', '_' and '.' only"};
    }
  }
  return OkStatus();
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
  // Every exit path (a startup error too) stops the threads before members go: steering and
  // health write their state through the store that plane_ owns.
  ~Daemon() { stop_services(); }

  int run();

 private:
  // The config file (or the --zone files) as a catalog, and the file's server settings.
  Result<config::Catalog> source_catalog(config::ServerSettings* settings) const;
  // Where the store is: --store, the config's server.store, or the default.
  std::string store_spec(const config::ServerSettings& settings) const;
  // Appends --axfr-allow to the settings' xfr_allow. Errors: a prefix that does not parse.
  Status add_axfr_allow(config::ServerSettings& settings) const;
  // The control plane's publish hook: the first call starts health and steering, later ones
  // swap the new config in (a failure leaves the running config serving).
  Status publish(const config::LoadedConfig& compiled);
  // A steering command from the API or the control socket. Fleet: an operator action that
  // succeeded here is published for every other node too (cluster::Service::publish_op); the
  // reply says whether it reached the fleet.
  Result<nlohmann::json> steer(const nlohmann::json& req);
  // Fleet: another node's operator action, applied here (override expiries stay absolute).
  void apply_fleet_op(const nlohmann::json& op);
  // Sets an external check (API, control socket). Fleet: published for every other node too,
  // so all nodes answer alike; sets converge to the newest (set_at_ms) on every node.
  Status set_external(const std::string& id, health::Status status, const std::string& reason);
  // Reload: what changed in the config file since it was last applied, as one change batch.
  Result<std::string> reload();
  // server.notify and --notify as the notifier takes them, and as text to compare and log.
  std::vector<server::Notifier::Target> notify_targets(const config::ServerSettings& s) const;
  std::string notify_text(const config::ServerSettings& s) const;
  void start_control(const std::string& path);
  void accept_control();
  // One control-socket command line -> the reply line ("ok ..." / "error ...").
  std::string control_command(const std::string& line);
  void wait_signals();
  // Starts the HTTP API (its own thread); false = a startup error (logged).
  bool start_api();
  // API, plane, steering, health: in that order (each calls into the next). Idempotent.
  void stop_services();

  const ServeOptions& opts_;
  Snapshot<config::RuntimeConfig> snapshot_;
  config::ServerSettings settings_;
  asio::io_context io_{1};
  asio::signal_set signals_{io_, SIGHUP, SIGTERM, SIGINT};
  std::unique_ptr<local::acceptor> control_;
  std::string control_path_;
  HealthService health_;
  // Served serials, the IXFR journal and NOTIFY: before steering_, which publishes through them.
  server::Notifier notifier_;
  std::mutex notify_mu_;        // reloads from the signal, control and API threads
  std::string notify_applied_;  // notify_text() of the targets the notifier has
  server::ZoneTransfers transfers_;
  // After health_ (it reads the engine's view) and snapshot_ (it publishes every config).
  SteeringService steering_{snapshot_, RealClock::instance()};
  std::unique_ptr<control::Plane> plane_;  // after steering_: stopped before it
  // Fleet mode (etcd store): membership and health views; reads health_, plane_.
  std::unique_ptr<cluster::Service> cluster_;
  // Alert routing, the outbox and availability; reads the plane's store, health and steering.
  std::unique_ptr<AlertService> alerts_;  // after plane_: stopped before it
  bool started_ = false;  // the first publish happened (health and steering run)
  std::mutex external_mu_;
  // Check id -> (time, node) of the external set applied here: sets are ordered by their time,
  // then by node name (two nodes can set one in the same millisecond).
  std::map<std::string, std::pair<int64_t, std::string>> external_set_;
  // Every subsystem's figures for GET /metrics (docs/metrics.md); before api_, which scrapes.
  obs::Registry metrics_;
  std::vector<std::shared_ptr<void>> metric_handles_;  // dropped in stop_services()
  api::Services services_;  // what the API's routes call; filled by start_api()
  std::unique_ptr<api::Server> api_;  // after health_ and plane_: stopped before them
  // Outlives the transports (locals of run()) whose threads write into its rings.
  std::unique_ptr<obs::QueryLog> query_log_;
};

void Daemon::stop_services() {
  if (api_) {
    api_->stop();  // before the plane and health engine it calls into
    api_.reset();
  }
  if (alerts_) {
    alerts_->stop();  // before the store, health and steering it reads
  }
  if (cluster_) {
    cluster_->stop();  // leaves the fleet; before the health engine and plane it calls
  }
  if (plane_) {
    plane_->stop();  // before steering and health, which its publishes call into
  }
  steering_.stop();  // before the health engine whose view it reads
  notifier_.stop();
  health_.stop();
  metric_handles_.clear();
}

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
  services_.plane = plane_.get();
  services_.metrics = [this] { return metrics_.scrape(); };
  metric_handles_.push_back(metrics_.add([this](obs::Families& out) {
    health_.collect_metrics(out);
    steering_.collect_metrics(out);
    if (plane_) {
      control::collect_control_metrics(*plane_, out);
    }
    if (alerts_) {
      alerts_->collect_metrics(out);
    }
    if (cluster_) {
      cluster_->collect_metrics(out);
    }
  }));
  services_.cluster = [this](bool etcd) -> nlohmann::json {
    if (cluster_) {
      nlohmann::json j = cluster_->status_json(etcd);
      // "cache": started while etcd was out of reach, no catalog loaded from it since.
      j["catalog_source"] = plane_ && plane_->serving_cache() ? "cache" : "store";
      return j;
    }
    return {{"mode", "single"},
            {"node", settings_.checker_id},
            {"store", plane_ ? plane_->store().describe() : std::string()},
            {"served_revision", plane_ ? plane_->served_revision() : 0}};
  };
  services_.alerts = [this](const nlohmann::json& req) -> Result<nlohmann::json> {
    if (!alerts_) {
      return Error{"alerting is not running"};
    }
    return alerts_->command(req);
  };
  services_.health_report = [this] { return health_.report_json(); };
  services_.set_external = [this](const std::string& id, bool healthy, const std::string& reason) {
    return set_external(id, healthy ? health::Status::kHealthy : health::Status::kUnhealthy,
                        reason);
  };
  services_.steering = [this](const nlohmann::json& req) { return steer(req); };
  services_.answer = [this](const api::Question& q) -> Result<nlohmann::json> {
    auto rc = snapshot_.load();
    if (!rc) {
      return Error{"the server is not serving yet"};
    }
    return answer_question(*rc, q);
  };
  std::vector<api::TokenSpec> tokens;
  for (const auto& t : settings_.api_tokens) {
    tokens.push_back({t.name, t.secret, t.secret_env, t.can_write});
  }
  if (auto st = auth->add_tokens(tokens); !st) {
    spdlog::error("API: server.api_tokens: {}", st.error());
    return false;
  }
  auto r53_keys = api::Route53Keys::from_env();
  if (!r53_keys) {
    spdlog::error("API: {}", r53_keys.error());
    return false;
  }
  for (const auto& k : settings_.route53_keys) {
    auto secret = api::resolve_secret(k.secret, k.secret_env);
    if (!secret) {
      spdlog::error("API: server.route53_keys: '{}': {}", k.id, secret.error());
      return false;
    }
    if (auto st = r53_keys->add(k.id, *secret); !st) {
      spdlog::error("API: server.route53_keys: '{}': {}", k.id, st.error());
      return false;
    }
  }
  api::Router router;
  api::add_native_routes(router, services_);
  api::add_route53_routes(router, services_, *r53_keys);
  api::ServerOptions api_opts;
  api_opts.listen = addr;
  api_opts.handler_threads = settings_.api_threads;
  api_opts.tls_cert_file = settings_.api_tls_cert;
  api_opts.tls_key_file = settings_.api_tls_key;
  if (!r53_keys->empty()) {
    api_opts.other_credentials = "Route 53 keys: " + r53_keys->describe();
  }
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
  // (registered with the server it reads; stop_services() joins the API before the handle goes)
  metric_handles_.push_back(metrics_.add(
      [srv = srv.get()](obs::Families& out) { api::collect_api_metrics(srv->stats(), out); }));
  api_ = std::move(srv);
  return true;
}

Result<config::Catalog> Daemon::source_catalog(config::ServerSettings* settings) const {
  if (!opts_.config_file.empty()) {
    return config::from_config_file(opts_.config_file, settings);
  }
  config::Catalog cat;
  for (const auto& z : opts_.zones) {
    auto a = config::parse_zone_arg(z);
    if (!a) {
      return Error{a.error()};
    }
    auto zone = config::file_zone(a->origin, a->path);
    if (!zone) {
      return Error{zone.error()};
    }
    std::string name = zone->row.name;
    if (cat.zones.count(name) != 0) {
      return Error{"--zone " + z + ": zone " + name + " given twice"};
    }
    cat.zones.emplace(name, std::move(*zone));
  }
  return cat;
}

std::string Daemon::store_spec(const config::ServerSettings& settings) const {
  if (opts_.store_set) {
    return opts_.store;
  }
  if (!settings.store.empty()) {
    // Relative paths in the config are relative to the config file, like every other path.
    const std::string prefix = "sqlite:";
    std::string path = settings.store.rfind(prefix, 0) == 0 ? settings.store.substr(prefix.size())
                                                            : std::string();
    if (!path.empty() && path != ":memory:" && path.front() != '/' &&
        !opts_.config_file.empty()) {
      auto dir = std::filesystem::absolute(opts_.config_file).parent_path();
      return prefix + (dir / path).lexically_normal().string();
    }
    return settings.store;
  }
  return opts_.config_file.empty() ? "sqlite::memory:" : "sqlite:steerdns.db";
}

Status Daemon::add_axfr_allow(config::ServerSettings& settings) const {
  for (const auto& text : opts_.axfr_allow) {
    auto c = config::Cidr::parse(text);
    if (!c) {
      return Error{"--axfr-allow " + c.error()};
    }
    settings.xfr_allow.push_back(*c);
  }
  return OkStatus();
}

Status Daemon::publish(const config::LoadedConfig& lc) {
  for (const auto& w : lc.warnings) {
    spdlog::warn("{}", w);
  }
  if (alerts_) {
    alerts_->configure(lc.alerts, lc.slo);  // routes and objectives follow every config change
  }
  if (!started_) {
    snapshot_.publish(lc.runtime);
    // Before serving: every check (standbys too) starts probing now, not on a first query.
    health_.on_transition([this](const health::Transition&) { steering_.health_changed(); });
    // A copy: steering needs the check specs too (overrides propagate through calculated
    // checks).
    if (auto st = health_.configure(settings_, lc.health_checks); !st) {
      return st;
    }
    // Restores the persisted steering state and publishes the first table before serving.
    if (auto st = steering_.start(settings_, lc, health_.view()); !st) {
      return st;
    }
    started_ = true;
    return OkStatus();
  }
  // (steering_.check ran as the plane's check hook on this very config before it was committed)
  // Checks first: it is the step that can still fail, and a change applies all or nothing.
  if (auto st = health_.configure(settings_, lc.health_checks); !st) {
    return st;
  }
  // Publishes lc.runtime with a steering table for the current health and state.
  return steering_.apply(lc, health_.view());
}

namespace {
bool is_operator_action(const std::string& cmd) {
  return cmd == "override-set" || cmd == "override-clear" || cmd == "failback-approve";
}
}  // namespace

Result<nlohmann::json> Daemon::steer(const nlohmann::json& req) {
  auto r = steering_.command(req);
  const std::string cmd = req.is_object() ? req.value("cmd", "") : "";
  if (!r || !cluster_ || !is_operator_action(cmd)) {
    return r;
  }
  nlohmann::json op = req;
  if (cmd == "override-set") {
    // The other nodes apply it later (or at their start): the expiry travels as a time.
    op["expires_at_ms"] = r->value("expires_wall_ms", int64_t{0});
  }
  if (auto st = cluster_->publish_op(op); st) {
    (*r)["fleet"] = "sent to every node";
  } else {
    spdlog::warn("fleet: {} applied on this node only: {}", cmd, st.error());
    (*r)["fleet"] = "applied on this node only (the fleet is out of reach: " + st.error() + ")";
  }
  return r;
}

Status Daemon::set_external(const std::string& id, health::Status status,
                            const std::string& reason) {
  const int64_t now = RealClock::instance().wall_ms();
  {
    // Under the lock: a set arriving from another node meanwhile is ordered against this one.
    std::lock_guard lk(external_mu_);
    if (auto st = health_.set_external(id, status, reason); !st) {
      return st;
    }
    external_set_[id] = {now, settings_.cluster.node_id};
  }
  if (cluster_) {
    nlohmann::json op{
        {"cmd", "external-set"}, {"id", id},         {"status", health::status_name(status)},
        {"reason", reason},      {"set_at_ms", now}, {"node", settings_.cluster.node_id}};
    if (auto st = cluster_->publish_op(op); !st) {
      spdlog::warn("fleet: external check '{}' set on this node only: {}", id, st.error());
    }
  }
  return OkStatus();
}

void Daemon::apply_fleet_op(const nlohmann::json& op) {
  nlohmann::json cmd = op;
  const std::string name = cmd.value("cmd", "");
  if (name == "external-set") {
    const std::string id = cmd.value("id", "");
    std::pair<int64_t, std::string> at{cmd.value("set_at_ms", int64_t{0}), cmd.value("node", "")};
    const bool healthy = cmd.value("status", "") == "healthy";
    std::lock_guard lk(external_mu_);
    if (auto it = external_set_.find(id); it != external_set_.end() && it->second > at) {
      return;  // a newer set was applied here already (two nodes set it at once)
    }
    auto st =
        health_.set_external(id, healthy ? health::Status::kHealthy : health::Status::kUnhealthy,
                             cmd.value("reason", ""));
    if (st) {
      external_set_[id] = std::move(at);
      spdlog::info("fleet: external check '{}' set {} on another node", id,
                   healthy ? "healthy" : "unhealthy");
    } else {
      spdlog::info("fleet: external check '{}' set on another node: {}", id, st.error());
    }
    return;
  }
  if (!is_operator_action(name)) {
    spdlog::warn("fleet: operator action '{}' from another node is not known here; ignored",
                 name);
    return;
  }
  if (name == "override-set") {
    int64_t left = cmd.value("expires_at_ms", int64_t{0}) - RealClock::instance().wall_ms();
    if (left <= 0) {
      return;  // expired before it reached us
    }
    cmd["expires"] = std::to_string(left) + "ms";
    cmd.erase("expires_at_ms");
  }
  auto r = steering_.command(cmd);
  if (r) {
    spdlog::info("fleet: applied {} from another node ({})", name,
                 cmd.value("target", cmd.value("set", std::string())));
  } else {
    // e.g. clearing an override this node never had: the fleet's intent holds anyway.
    spdlog::info("fleet: {} from another node: {}", name, r.error());
  }
}

// The query-path settings of `server:` (the ones a reload applies).
bool same_query_settings(const config::ServerSettings& a, const config::ServerSettings& b) {
  auto cidrs = [](const std::vector<config::XfrAllow>& v) {
    std::vector<std::string> out;
    for (const auto& c : v) {
      out.push_back(c.to_text());
    }
    return out;
  };
  return a.chaos.enabled == b.chaos.enabled && a.chaos.version == b.chaos.version &&
         a.chaos.id == b.chaos.id && a.max_udp_payload == b.max_udp_payload &&
         cidrs(a.xfr_allow) == cidrs(b.xfr_allow) && *a.tsig_keys == *b.tsig_keys;
}

std::vector<server::Notifier::Target> Daemon::notify_targets(
    const config::ServerSettings& s) const {
  std::vector<server::Notifier::Target> targets;
  for (const auto& t : s.notify) {
    targets.push_back({t.to, t.key});
  }
  for (const auto& t : opts_.notify) {
    targets.push_back({t, std::nullopt});
  }
  return targets;
}

std::string Daemon::notify_text(const config::ServerSettings& s) const {
  std::string out;
  for (const auto& t : notify_targets(s)) {
    out += (out.empty() ? "" : ", ") + t.addr + (t.key ? " key " + t.key->to_text() : "");
  }
  return out;
}

Result<std::string> Daemon::reload() {
  auto t0 = std::chrono::steady_clock::now();
  if (query_log_) {
    query_log_->reopen();  // logrotate moved it: a new file at the same path
  }
  config::ServerSettings settings;
  auto desired = source_catalog(&settings);
  if (!desired) {
    spdlog::error("reload failed, still serving the previous config: {}", desired.error());
    return Error{desired.error()};
  }
  (void)add_axfr_allow(settings);  // checked at startup
  if (!opts_.config_file.empty() && opts_.listen.empty() && settings.listen != settings_.listen) {
    spdlog::warn("reload: server.listen changed; listen addresses change only on restart");
  }
  // What the file said when it was last applied: only the file's own edits are applied, so a
  // reload does not undo changes made through the API to things the file did not touch.
  config::Catalog previous;
  if (auto prev = plane_->store().get_state("config-file"); prev && prev->has_value()) {
    if (auto c = config::catalog_from_json(**prev)) {
      previous = std::move(*c);
    }
  }
  config::ChangeBatch delta = config::diff(previous, *desired, /*compare_serials=*/true);
  std::string author = opts_.config_file.empty() ? "reload:--zone" : "reload:" + opts_.config_file;
  auto result = plane_->submit(
      [delta, author](const config::Catalog& cur) -> Result<config::ChangeBatch> {
        config::ChangeBatch b;
        b.author = author;
        b.comment = "config file reloaded";
        for (auto c : delta.changes) {
          bool exists = false;
          if (c.kind == config::Kind::kZone) {
            exists = cur.zones.count(c.key) != 0;
          } else if (c.kind == config::Kind::kHealthCheck) {
            exists = cur.checks.count(c.key) != 0;
          } else if (c.kind == config::Kind::kRecordSet) {
            const config::CatalogZone* z = nullptr;
            if (!c.zone.empty()) {
              auto it = cur.zones.find(c.zone);
              z = it == cur.zones.end() ? nullptr : &it->second;
            } else {
              z = cur.zone_for(c.key.substr(0, c.key.rfind('/')));
            }
            exists = z != nullptr && z->records.count(c.key) != 0;
          } else {
            exists = true;
          }
          if (c.action == config::Action::kDelete) {
            if (!exists) {
              continue;  // already gone (deleted through the API)
            }
            c.body = nullptr;
          } else if (c.kind != config::Kind::kSettings) {
            c.action = exists ? config::Action::kUpsert : config::Action::kCreate;
          }
          if (c.kind == config::Kind::kZone && c.body.is_object()) {
            c.body.erase("id");  // the store's id stays (the file's catalog has fresh ones)
          }
          b.changes.push_back(std::move(c));
        }
        return b;
      });
  if (!result) {
    spdlog::error("reload failed, still serving the previous config: {}", result.error());
    return Error{result.error()};
  }
  (void)plane_->store().put_state("config-file", config::to_json(*desired));
  if (!same_query_settings(settings, plane_->server_settings())) {
    config::ServerSettings next = plane_->server_settings();
    next.chaos = settings.chaos;
    next.max_udp_payload = settings.max_udp_payload;
    next.xfr_allow = settings.xfr_allow;
    next.tsig_keys = settings.tsig_keys;
    if (auto st = plane_->update_server(next); !st) {
      spdlog::error("reload: server settings not applied: {}", st.error());
      return Error{st.error()};
    }
    notifier_.set_keys(settings.tsig_keys);
    spdlog::info("reload: server chaos / max_udp_payload / xfr_allow / tsig_keys applied ({} keys)",
                 settings.tsig_keys->keys().size());
  }
  {
    std::lock_guard lk(notify_mu_);
    if (std::string text = notify_text(settings); text != notify_applied_) {
      // The loader checked every address, so this does not fail after the catalog applied.
      if (auto st = notifier_.set_keyed_targets(notify_targets(settings)); !st) {
        spdlog::error("reload: notify targets not applied: {}", st.error());
        return Error{st.error()};
      }
      notify_applied_ = std::move(text);
      spdlog::info("reload: notify targets applied ({}); the next serial change is sent to them",
                   notify_applied_.empty() ? "none" : notify_applied_);
    }
  }
  std::string change = "unchanged since it was last applied";
  if (!result->no_op) {
    bool insync = plane_->wait_insync(result->change.id, std::chrono::seconds(30));
    change = fmt::format("change {} ({} changes) {}", result->change.id, delta.changes.size(),
                         insync ? "INSYNC" : "PENDING");
  }
  // Zones first: what scripts that reload and check the serial read.
  // The published config: its serials are the served ones (docs/zone-transfer.md).
  auto served = snapshot_.load();
  std::string msg = fmt::format("{}; {} health checks in {:.1f} ms; {}",
                                served ? describe_zones(*served) : "no zones",
                                health_.check_count(), ms_since(t0), change);
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
    auto st = set_external(
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
    auto r = steer(req);
    return r ? ok + r->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
             : error + r.error();
  }
  return error + "unknown command '" + line + "' (known: reload, health, health-set, steer)";
}

int Daemon::run() {
  auto t0 = std::chrono::steady_clock::now();
  auto seed = source_catalog(&settings_);
  if (!seed) {
    spdlog::error("{}", seed.error());
    return 1;
  }
  // Compiled into every RuntimeConfig with the config's own xfr_allow.
  if (auto st = add_axfr_allow(settings_); !st) {
    spdlog::error("{}", st.error());
    return 1;
  }
  std::string spec = store_spec(settings_);
  if (!opts_.node_id.empty()) {
    settings_.cluster.node_id = opts_.node_id;
  }
  if (!opts_.site.empty()) {
    settings_.cluster.site = opts_.site;
  }
  const bool fleet = spec.rfind("etcd:", 0) == 0;
  if (fleet) {
    if (auto st = check_node_name(settings_.cluster.node_id, "--node-id"); !st) {
      spdlog::error("{} (an etcd store is shared by a fleet: every node needs its own name)",
                    st.error());
      return 1;
    }
    if (!settings_.cluster.site.empty()) {
      if (auto st = check_node_name(settings_.cluster.site, "--site"); !st) {
        spdlog::error("{}", st.error());
        return 1;
      }
    }
    // The node's health view is published under its name: peers count it as that checker.
    settings_.checker_id = settings_.cluster.node_id;
  }
  std::string catalog_cache;
  if (fleet) {
    if (!opts_.catalog_cache.empty()) {
      catalog_cache = opts_.catalog_cache == "off" ? "" : opts_.catalog_cache;
    } else if (settings_.cluster.catalog_cache) {
      catalog_cache = *settings_.cluster.catalog_cache;
    } else {
      catalog_cache = "steerdns-catalog-" + settings_.cluster.node_id + ".json";
    }
    if (!catalog_cache.empty()) {
      std::error_code ec;
      auto abs = std::filesystem::absolute(catalog_cache, ec);
      if (!ec) {
        catalog_cache = abs.lexically_normal().string();
      }
    }
  }
  store::OpenOptions open_opts{settings_.cluster.node_id};
  // With a catalog to serve, etcd being out of reach does not keep the node down.
  std::error_code cache_ec;
  open_opts.allow_offline =
      !catalog_cache.empty() && std::filesystem::is_regular_file(catalog_cache, cache_ec);
  auto store = store::open_store(spec, open_opts);
  if (!store) {
    spdlog::error("store: {}", store.error());
    return 1;
  }
  control::Hooks hooks;
  hooks.publish = [this](const config::LoadedConfig& lc) { return publish(lc); };
  hooks.check = [this](const config::LoadedConfig& lc) { return steering_.check(lc); };
  plane_ = std::make_unique<control::Plane>(std::move(*store), settings_, std::move(hooks));
  plane_->set_catalog_cache(catalog_cache);
  if (fleet) {
    auto eopts = store::etcd::parse_spec(spec);
    if (!eopts) {
      spdlog::error("store: {}", eopts.error());
      return 1;
    }
    cluster::Settings cs;
    cs.node_id = settings_.cluster.node_id;
    cs.site = settings_.cluster.site;
    cs.version = kVersion;
    cs.lease_ttl_ms = settings_.cluster.lease_ttl_ms;
    cs.heartbeat_ms = settings_.cluster.heartbeat_ms;
    cs.stale_after_ms = settings_.cluster.stale_after_ms;
    cs.peer_grace_ms = settings_.cluster.peer_grace_ms;
    cs.divergence_after_ms = settings_.cluster.divergence_after_ms;
    cluster::Hooks ch;
    ch.local_view = [this] { return health_.local_view(); };
    ch.set_peer = [this](const std::string& node, const std::vector<health::PeerStatus>& v) {
      health_.set_peer_view(node, v);
    };
    ch.drop_peer = [this](const std::string& node) { health_.drop_peer(node); };
    ch.consensus = [this] { return health_.statuses(); };
    ch.served_revision = [this] { return plane_->served_revision(); };
    ch.apply_op = [this](const nlohmann::json& op) { apply_fleet_op(op); };
    cluster_ = std::make_unique<cluster::Service>(
        std::make_unique<store::etcd::Client>(std::move(*eopts)), cs, std::move(ch));
    // Registered before the engine exists (the plane's first publish creates it).
    health_.on_local_change([this] { cluster_->local_changed(); });
  }
  AlertInputs alert_inputs;
  alert_inputs.health_report = [this] { return health_.report_json(); };
  alert_inputs.steering_status = [this] { return steering_.status_json(); };
  alert_inputs.runtime = &snapshot_;
  if (cluster_) {
    alert_inputs.fleet_conditions = [this] {
      std::vector<alert::Condition> out;
      for (auto& p : cluster_->problems()) {
        out.push_back({p.event, p.target, p.summary, std::move(p.details)});
      }
      return out;
    };
    alert_inputs.active = [this] { return cluster_->leader(); };
  }
  alerts_ = std::make_unique<AlertService>(plane_->store(), RealClock::instance(),
                                           std::move(alert_inputs));
  // Health and steering state and the event log live in the store too -- unless the store is
  // in memory and a state file was asked for (the files then keep them across restarts).
  if (spec != "sqlite::memory:" || settings_.health_state_file.empty()) {
    auto state = state_store_over(plane_->store(),
                                  catalog_cache.empty() ? "" : state_copy_path(catalog_cache));
    health_.set_state_store(state);
    steering_.set_state_store(state);
    transfers_.set_state_store(state);
  }
  {
    notifier_.set_keys(settings_.tsig_keys);
    notify_applied_ = notify_text(settings_);
    if (auto st = notifier_.set_keyed_targets(notify_targets(settings_)); !st) {
      spdlog::error("{}", st.error());
      return 1;
    }
    server::JournalLimits limits;
    limits.max_versions = settings_.ixfr_journal_versions;
    transfers_.set_limits(limits);
    transfers_.on_serial_change(
        [this](const dns::Name& zone, uint32_t serial) { notifier_.notify(zone, serial); });
    steering_.set_publish_filter(
        [this](std::shared_ptr<const config::RuntimeConfig> rc) {
          return transfers_.prepare(std::move(rc));
        },
        [this] { transfers_.published(); });
    notifier_.start();
    metric_handles_.push_back(
        metrics_.add([this](obs::Families& out) { notifier_.collect(out); }));
  }
  std::string author = opts_.config_file.empty() ? "--zone" : "config:" + opts_.config_file;
  auto prev = plane_->store().get_state("config-file");
  const bool fresh = !prev || !prev->has_value();
  // Publishes the stored (or seeded) catalog: health and steering start in publish().
  if (auto st = plane_->start(&*seed, author); !st) {
    spdlog::error("{}", st.error());
    return 1;
  }
  if (fresh) {
    (void)plane_->store().put_state("config-file", config::to_json(*seed));
  }
  if (cluster_) {
    cluster_->start();
  }
  if (auto st = alerts_->start(); !st) {
    spdlog::error("{}", st.error());
    return 1;
  }
  malloc_trim(0);
  std::shared_ptr<const config::RuntimeConfig> runtime = snapshot_.load();
  std::string zones_text = describe_zones(*runtime);
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
  tcp.set_journal(&transfers_);
  // Registered here, with udp and tcp: the handle goes (waiting out a scrape) before they do.
  server::ZoneNames zone_names;
  std::shared_ptr<void> dns_metrics = metrics_.add([&](obs::Families& out) {
    auto cfg = snapshot_.load();
    server::collect_dns_metrics(udp, tcp, cfg.get(), zone_names, out);
  });
  const double start_time =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  metric_handles_.push_back(metrics_.add([start_time](obs::Families& out) {
    obs::add_gauge(obs::add_family(out, "steerdns_build_info", "steerdns build; always 1.",
                                   prometheus::MetricType::Gauge),
                   {{"version", kVersion}}, 1);
    obs::add_gauge(obs::add_family(out, "steerdns_start_time_seconds",
                                   "Unix time the daemon started.", prometheus::MetricType::Gauge),
                   {}, start_time);
  }));
  // --query-log* override server.query_log.
  obs::QueryLogOptions qo;
  qo.path = opts_.query_log.empty() ? settings_.query_log_path : opts_.query_log;
  bool dnstap = opts_.query_log_format.empty() ? settings_.query_log_dnstap
                                               : opts_.query_log_format == "dnstap";
  qo.format = dnstap ? obs::QueryLogFormat::kDnstap : obs::QueryLogFormat::kJson;
  qo.sample = opts_.query_log_sample > 0 ? opts_.query_log_sample : settings_.query_log_sample;
  if (!qo.path.empty()) {
    qo.identity = config::host_name();
    qo.version = fmt::format("steerdns {}", kVersion);
    auto log = obs::QueryLog::open(qo);
    if (!log) {
      spdlog::error("{}", log.error());
      return 1;
    }
    query_log_ = std::move(*log);
    udp.set_query_log(query_log_.get());
    tcp.set_query_log(query_log_.get());
    metric_handles_.push_back(
        metrics_.add([q = query_log_.get()](obs::Families& out) { q->collect(out); }));
  }
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
      "{} health checks; store {} (revision {}); loaded in {:.1f} ms",
      kVersion, listen_text, threads, tcp_opts.max_clients,
      control.empty() ? "" : "; control " + control, zones_text, health_.check_count(),
      plane_->store().describe(), plane_->served_revision(), load_ms);
  // The sockets are bound already (queries queue in the kernel); logged first so that anyone
  // who got an answer can also read the startup line.
  if (query_log_) {
    query_log_->start();
    spdlog::info("query log: {} ({}, {})", qo.path, dnstap ? "dnstap" : "json",
                 qo.sample == 1 ? std::string("every query")
                                : fmt::format("1 in {} queries per thread", qo.sample));
  }
  udp.start();
  tcp.start();

  io_.run();

  udp.stop();
  tcp.stop();
  if (query_log_) {
    query_log_->stop();  // writes what the rings still hold
  }
  stop_services();
  dns_metrics.reset();
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
