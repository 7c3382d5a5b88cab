#include "daemon/health_service.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <exception>

#include "core/clock.h"
#include "daemon/health_report.h"
#include "health/metrics.h"
#include "health/spec.h"

namespace steerdns::daemon {

HealthService::~HealthService() { stop(); }

namespace {

// Fleet: a node of a site listed in cluster.sites probes that site's checks only; the peers'
// views decide the others.
void mark_probed_here(const config::ServerSettings& settings,
                      std::vector<health::CheckSpec>& specs) {
  const auto& sites = settings.cluster.sites;
  auto it = std::find_if(sites.begin(), sites.end(),
                         [&](const auto& s) { return s.first == settings.cluster.site; });
  if (settings.cluster.site.empty() || it == sites.end()) {
    return;
  }
  for (auto& spec : specs) {
    spec.probed_here =
        std::find(it->second.begin(), it->second.end(), spec.id) != it->second.end();
  }
  for (const auto& id : it->second) {
    if (std::none_of(specs.begin(), specs.end(), [&](const auto& s) { return s.id == id; })) {
      spdlog::warn("cluster.sites.{}: no health check '{}' (yet); nodes of this site run the "
                   "others listed",
                   settings.cluster.site, id);
    }
  }
}

}  // namespace

steerdns::Status HealthService::configure(const config::ServerSettings& settings,
                                          std::vector<health::CheckSpec> specs) {
  mark_probed_here(settings, specs);
  std::lock_guard lk(mu_);
  if (engine_) {
    if (settings.checker_id != checker_id_ ||
        (!state_store_ && settings.health_state_file != state_file_)) {
      spdlog::warn(
          "reload: server.checker_id / server.health_state_file changed; they change only on "
          "restart (still '{}', '{}')",
          checker_id_, state_file_);
    }
    size_t n = specs.size();
    auto st = engine_->configure(std::move(specs));
    if (st) {
      checks_ = n;
      for (const auto& [node, view] : peers_) {
        (void)engine_->set_peer_view(node, view);  // new checks learn the peers' statuses
      }
    }
    return st;
  }
  checker_id_ = settings.checker_id;
  state_file_ = state_store_ ? state_store_->describe() + " [health]" : settings.health_state_file;
  if (specs.empty()) {
    return OkStatus();  // nothing to probe: no thread, no state file
  }
  // Checked before anything starts, so a bad list leaves no half-made engine behind.
  if (auto st = health::validate_all(specs); !st) {
    return st;
  }
  io_ = std::make_unique<boost::asio::io_context>(1);
  work_.emplace(boost::asio::make_work_guard(*io_));
  prober_ = health::make_prober(*io_, checker_id_);
  health::EngineOptions opts;
  opts.checker_id = checker_id_;
  opts.state_file = state_store_ ? std::string() : state_file_;
  opts.state_store = state_store_;
  engine_ = std::make_unique<health::Engine>(*io_, RealClock::instance(), *prober_, opts);
  for (const auto& cb : listeners_) {
    engine_->on_transition(cb);
  }
  for (const auto& cb : local_listeners_) {
    engine_->on_local_change(cb);
  }
  engine_->on_transition([](const health::Transition& t) {
    auto level = t.to == health::Status::kUnhealthy ? spdlog::level::warn : spdlog::level::info;
    spdlog::log(level, "health: check '{}' {} -> {}: {} (source {})", t.check,
                health::status_name(t.from), health::status_name(t.to), t.reason,
                health::source_name(t.source));
  });
  if (std::string w = engine_->report().state_warning; !w.empty()) {
    spdlog::warn("health: {}", w);
  }
  size_t n = specs.size();
  if (auto st = engine_->configure(std::move(specs)); !st) {
    engine_.reset();
    prober_.reset();
    work_.reset();
    io_.reset();
    return st;
  }
  checks_ = n;
  for (const auto& [node, view] : peers_) {
    (void)engine_->set_peer_view(node, view);
  }
  engine_->start();
  thread_ = std::thread([this] {
    try {
      io_->run();
    } catch (const std::exception& e) {
      // Not expected (probe errors are results); without this thread checks would freeze.
      spdlog::critical("health: engine thread stopped: {}", e.what());
    }
  });
  spdlog::info("health: {} checks started, checker '{}', state file {}", n, checker_id_,
               state_file_.empty() ? "none" : state_file_);
  return OkStatus();
}

nlohmann::json HealthService::report_json() const {
  std::lock_guard lk(mu_);
  if (!engine_) {
    health::EngineReport empty;
    empty.checker_id = checker_id_;
    return health_report_json(empty, state_file_);
  }
  return health_report_json(engine_->report(), state_file_);
}

void HealthService::collect_metrics(obs::Families& out) const {
  std::lock_guard lk(mu_);
  if (engine_) {
    health::collect_health_metrics(*engine_, out);
  }
}

steerdns::Status HealthService::set_external(const std::string& id, health::Status status,
                                             const std::string& reason) {
  std::lock_guard lk(mu_);
  if (!engine_) {
    return Error{"health check '" + id + "': no such check (no health checks configured)"};
  }
  auto st = engine_->set_external(id, status, reason);
  if (st) {
    spdlog::info("health: external check '{}' set {}{}", id, health::status_name(status),
                 reason.empty() ? "" : ": " + reason);
  }
  return st;
}

std::vector<health::PeerStatus> HealthService::local_view() const {
  std::lock_guard lk(mu_);
  return engine_ ? engine_->local_view() : std::vector<health::PeerStatus>{};
}

void HealthService::set_peer_view(const std::string& node,
                                  const std::vector<health::PeerStatus>& view) {
  std::lock_guard lk(mu_);
  peers_[node] = view;
  if (engine_) {
    if (auto st = engine_->set_peer_view(node, view); !st) {
      spdlog::warn("health: view of node '{}': {}", node, st.error());
    }
  }
}

void HealthService::drop_peer(const std::string& node) {
  std::lock_guard lk(mu_);
  peers_.erase(node);
  if (engine_) {
    engine_->drop_peer(node);
  }
}

std::vector<std::pair<std::string, health::Status>> HealthService::statuses() const {
  std::vector<std::pair<std::string, health::Status>> out;
  const auto* v = view();
  if (v == nullptr) {
    return out;
  }
  auto snap = v->load();
  if (!snap) {
    return out;
  }
  for (size_t i = 0; i < snap->size(); ++i) {
    out.emplace_back(snap->id(static_cast<int>(i)), snap->at(static_cast<int>(i)).status);
  }
  return out;
}

void HealthService::stop() {
  std::lock_guard lk(mu_);
  if (!engine_) {
    return;
  }
  // Stop the thread first so that the state written below is the last state there is.
  work_.reset();
  io_->stop();
  if (thread_.joinable()) {
    thread_.join();
  }
  std::string before = engine_->report().state_warning;
  engine_->stop();  // with the io_context stopped: cancels the timer, writes the state file
  if (!state_file_.empty()) {
    std::string after = engine_->report().state_warning;
    if (after != before && !after.empty()) {
      spdlog::error("health: state not saved: {}", after);
    } else {
      spdlog::info("health: state saved to {}", state_file_);
    }
  }
  engine_.reset();
  prober_.reset();
  io_.reset();
}

}  // namespace steerdns::daemon
