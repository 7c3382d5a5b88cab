#pragma once
// The daemon's alerting: every second it gathers what holds (checks unhealthy, sets failed
// over or all down, frozen, awaiting approval, certificates expiring, availability below its
// objective's alert level) and what happened (the store's event log since its cursor), and
// hands them to alert::Engine, which routes them by severity into the durable outbox. A second
// thread hands the due rows of the outbox to alert::Dispatcher, which sends them on one worker
// thread per channel. All run at background priority: alerting never competes with the query
// path.
//
// It also keeps the availability of every steered name (alert::SloTracker), saved in the
// store every 30 s and on stop.
//
// Threading: configure() from the daemon's publish path; start/stop from the main thread;
// the request methods (API, control) from any thread.
#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <vector>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "alert/dispatcher.h"
#include "alert/engine.h"
#include "alert/slo.h"
#include "config/runtime.h"
#include "core/clock.h"
#include "core/result.h"
#include "core/snapshot.h"
#include "obs/metrics.h"
#include "store/store.h"

namespace steerdns::daemon {

struct AlertInputs {
  std::function<nlohmann::json()> health_report;   // HealthService::report_json
  std::function<nlohmann::json()> steering_status;  // SteeringService::status_json
  const Snapshot<config::RuntimeConfig>* runtime = nullptr;
  // Fleet: conditions of the fleet (node_stale, checker_divergence), and whether this node is
  // the one that routes alerts now (only one does, or every page would come N times). Empty:
  // single node, always active.
  std::function<std::vector<alert::Condition>()> fleet_conditions;
  std::function<bool()> active;
};

class AlertService {
 public:
  AlertService(store::Store& store, Clock& clock, AlertInputs in);
  ~AlertService();
  AlertService(const AlertService&) = delete;
  AlertService& operator=(const AlertService&) = delete;

  void configure(const alert::AlertsSpec& alerts, const alert::SloSpec& slo);
  // Loads alerts, the cursor and the SLO history; starts the threads.
  Status start();
  void stop();
  // Runs one evaluation now (tests, and after a reload); wakes the delivery thread.
  void poke();
  // False while another fleet node routes the alerts (AlertInputs::active).
  bool active() const { return active_.load(); }

  // API / CLI requests: {"cmd": "list", "all": bool} | {"cmd": "ack", "id", "by", "reason"} |
  // {"cmd": "outbox", "limit", "alert"} | {"cmd": "slo"}.
  Result<nlohmann::json> command(const nlohmann::json& req);
  nlohmann::json slo_json() const;
  // The alert, outbox and SLO families of /metrics (docs/metrics.md).
  void collect_metrics(obs::Families& out) const;

 private:
  void tick_loop();
  void deliver_loop();
  void evaluate();  // one step; on the tick thread (or poke)
  void refresh_outbox_stats();  // on the tick thread
  void load_slo();  // the availability history kept in the store (start, fleet takeover)
  std::vector<alert::Condition> conditions(std::map<std::string, bool>& name_health,
                                           std::map<std::string, std::vector<std::string>>& sets,
                                           std::vector<alert::SloNameReport>* slo_out);

  store::Store& store_;
  Clock& clock_;
  AlertInputs in_;
  alert::Engine engine_;
  alert::Dispatcher dispatcher_;

  mutable std::mutex mu_;  // spec_, slo_, slo_report_, last_error_, outbox_stats_
  alert::AlertsSpec spec_;
  alert::SloSpec slo_spec_;
  alert::SloTracker slo_;
  std::vector<alert::SloNameReport> slo_report_;
  std::map<std::string, std::vector<std::string>> name_sets_;  // steered name -> set keys
  int64_t slo_saved_ms_ = 0;
  std::string last_error_;
  // The outbox's figures for GET /metrics, read by the tick thread (at most every 5 s) so that
  // a scrape never waits on the store (fleet: etcd, possibly out of reach); empty while the
  // store does not answer.
  std::optional<store::OutboxStats> outbox_stats_;
  int64_t outbox_stats_read_ms_ = 0;

  std::mutex eval_mu_;  // one evaluation at a time (tick thread, poke)
  std::mutex wake_mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool deliver_now_ = false;
  std::thread tick_;
  std::thread deliver_;
  bool started_ = false;
  std::atomic<bool> active_{true};  // fleet: this node routes alerts now
};

}  // namespace steerdns::daemon
