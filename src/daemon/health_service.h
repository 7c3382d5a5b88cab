#pragma once
// The daemon's health engine: one health::Engine with the real prober on its own io_context
// thread, so probes and their thresholds never run on the DNS workers or the control thread.
// The engine is created on the first configuration that has checks (a daemon without checks
// runs no thread and writes no state file) and reconfigured in place on reload.
//
// Threading: configure() and stop() come from the daemon's main (control/signal) thread;
// report_json() and set_external() from any thread (the control socket, the HTTP API). The
// engine's own callbacks (transition logs) run on the health thread.
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/state_store.h"
#include "config/loader.h"
#include "core/result.h"
#include "health/engine.h"
#include "obs/metrics.h"
#include "health/probe.h"

namespace steerdns::daemon {

class HealthService {
 public:
  HealthService() = default;
  // Before the first configure(): persist check states in `store` (the daemon's durable
  // store) instead of server.health_state_file.
  void set_state_store(std::shared_ptr<StateStore> store) { state_store_ = std::move(store); }
  ~HealthService();
  HealthService(const HealthService&) = delete;
  HealthService& operator=(const HealthService&) = delete;

  // Applies a validated check list. The first list with checks starts the engine (with
  // settings.checker_id and settings.health_state_file, which are startup settings from then
  // on); later calls replace the list in place (Engine::configure). An invalid list is an
  // error and changes nothing.
  steerdns::Status configure(const config::ServerSettings& settings,
                             std::vector<health::CheckSpec> specs);

  // The engine's report as JSON (see health_report.h); an empty check list before any checks.
  nlohmann::json report_json() const;
  // The health families of /metrics (docs/metrics.md); nothing before any checks.
  void collect_metrics(obs::Families& out) const;
  // Sets an external check ("no such check" when there is no engine).
  steerdns::Status set_external(const std::string& id, health::Status status,
                                const std::string& reason);
  size_t check_count() const { return checks_; }
  // Also told of every transition (on the health thread, after the view showing it is
  // published). Register before the first configure(); must not block.
  void on_transition(std::function<void(const health::Transition&)> cb) {
    listeners_.push_back(std::move(cb));
  }
  // Fleet (cluster/service.h): this node's own view, peers' views (kept here too, so that an
  // engine created or reconfigured later gets them again), and news of local changes
  // (register before the first configure()).
  std::vector<health::PeerStatus> local_view() const;
  void set_peer_view(const std::string& node, const std::vector<health::PeerStatus>& view);
  void drop_peer(const std::string& node);
  void on_local_change(std::function<void()> cb) { local_listeners_.push_back(std::move(cb)); }
  // The consensus: every check's status in the published view.
  std::vector<std::pair<std::string, health::Status>> statuses() const;

  // The engine's published view; null before the first configuration with checks. Valid until
  // stop().
  const Snapshot<health::HealthView>* view() const {
    std::lock_guard lk(mu_);
    return engine_ ? &engine_->view() : nullptr;
  }

  // Stops probing, joins the health thread and writes the state file. Idempotent.
  void stop();

 private:
  // Guards engine_ (created by the first configure, reset by stop) against the readers.
  mutable std::mutex mu_;
  std::unique_ptr<boost::asio::io_context> io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::unique_ptr<health::Prober> prober_;
  std::unique_ptr<health::Engine> engine_;
  std::thread thread_;
  std::string checker_id_;
  std::string state_file_;
  std::shared_ptr<StateStore> state_store_;  // when set: the state goes here, not to a file
  size_t checks_ = 0;
  std::vector<std::function<void(const health::Transition&)>> listeners_;
  std::vector<std::function<void()>> local_listeners_;
  std::map<std::string, std::vector<health::PeerStatus>> peers_;  // fleet: node -> view
};

}  // namespace steerdns::daemon
