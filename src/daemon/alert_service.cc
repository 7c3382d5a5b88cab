#include "daemon/alert_service.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <set>

#include "core/thread_priority.h"
#include "policy/table.h"

namespace steerdns::daemon {

using nlohmann::json;

namespace {

constexpr auto kTick = std::chrono::seconds(1);
constexpr int64_t kOutboxStatsEvery = 5000;  // ms; the metrics' outbox figures lag this much
constexpr int64_t kSloSaveMs = 30'000;
constexpr const char* kSloKey = "slo";

std::string str(const json& j, const char* k) {
  auto it = j.find(k);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string pct(double ratio) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f%%", ratio * 100);
  return buf;
}

// The one-shot events of the event log that routes may name.
bool is_notice(const std::string& type) {
  return type == "action_failed" || type == "failback_rolled_back";
}

}  // namespace

AlertService::AlertService(store::Store& store, Clock& clock, AlertInputs in)
    : store_(store), clock_(clock), in_(std::move(in)), engine_(store), dispatcher_(store, clock) {
  // A channel done with its rows: the next pass at once (a resolve that waited for its
  // trigger, rows of that channel that came due meanwhile).
  dispatcher_.on_idle([this] {
    std::lock_guard lk(wake_mu_);
    deliver_now_ = true;
    wake_.notify_all();
  });
}

AlertService::~AlertService() { stop(); }

void AlertService::configure(const alert::AlertsSpec& alerts, const alert::SloSpec& slo) {
  {
    std::lock_guard lk(mu_);
    spec_ = alerts;
    slo_spec_ = slo;
  }
  engine_.configure(alerts);
  dispatcher_.configure(alerts);
}

void AlertService::load_slo() {
  if (auto saved = store_.get_state(kSloKey); saved && saved->has_value()) {
    std::lock_guard lk(mu_);
    if (auto st = slo_.from_json(**saved); !st) {
      spdlog::warn("alerts: {} (availability history starts over)", st.error());
    }
  }
}

Status AlertService::start() {
  if (auto st = engine_.load(); !st) {
    if (!in_.active) {
      return st;
    }
    // Fleet, the store out of reach at start (a node serving its catalog cache): alert routing
    // loads the shared state when this node takes it over (evaluate()).
    spdlog::warn("{} (loaded when this node routes the fleet's alerts)", st.error());
  } else {
    load_slo();
  }
  if (!engine_.cursor()) {
    // First start with this store: alert on what happens from now, not on old history.
    auto last = store_.last_events(1);
    int64_t seq = last && !last->empty() ? last->back().seq : 0;
    if (auto st = engine_.step({}, {}, clock_.wall_ms(), seq); !st && !in_.active) {
      return st;
    }
  }
  stopping_ = false;
  tick_ = std::thread([this] { tick_loop(); });
  deliver_ = std::thread([this] { deliver_loop(); });
  started_ = true;
  return OkStatus();
}

void AlertService::stop() {
  if (!started_) {
    return;
  }
  {
    std::lock_guard lk(wake_mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  tick_.join();
  deliver_.join();
  dispatcher_.stop();  // aborts the sends in flight: a hanging receiver does not hold us here
  started_ = false;
  std::lock_guard lk(mu_);
  (void)store_.put_state(kSloKey, slo_.to_json());
}

void AlertService::poke() {
  evaluate();
  {
    std::lock_guard lk(wake_mu_);
    deliver_now_ = true;
  }
  wake_.notify_all();
}

void AlertService::refresh_outbox_stats() {
  const int64_t now = clock_.now_ms();
  if (outbox_stats_read_ms_ != 0 && now - outbox_stats_read_ms_ < kOutboxStatsEvery) {
    return;
  }
  outbox_stats_read_ms_ = now;  // (tick thread only)
  auto ob = store_.outbox_stats();
  std::lock_guard lk(mu_);
  outbox_stats_ = ob ? std::optional<store::OutboxStats>(*ob) : std::nullopt;
}

void AlertService::tick_loop() {
  make_background_thread("sd-alerts");
  std::unique_lock lk(wake_mu_);
  while (!stopping_) {
    lk.unlock();
    evaluate();
    refresh_outbox_stats();
    lk.lock();
    deliver_now_ = true;
    wake_.notify_all();
    wake_.wait_for(lk, kTick, [this] { return stopping_; });
  }
}

void AlertService::deliver_loop() {
  make_background_thread("sd-outbox");
  std::unique_lock lk(wake_mu_);
  while (!stopping_) {
    wake_.wait_for(lk, std::chrono::milliseconds(250), [this] { return stopping_ || deliver_now_; });
    if (stopping_) {
      break;
    }
    deliver_now_ = false;
    lk.unlock();
    if (!active_.load()) {
      dispatcher_.hold();  // another fleet node delivers the outbox
      lk.lock();
      continue;
    }
    auto n = dispatcher_.run_once(clock_.wall_ms());
    if (!n) {
      spdlog::warn("alerts: {}", n.error());
    }
    lk.lock();
  }
}

std::vector<alert::Condition> AlertService::conditions(
    std::map<std::string, bool>& name_health, std::map<std::string, std::vector<std::string>>& sets,
    std::vector<alert::SloNameReport>* slo_out) {
  std::vector<alert::Condition> out;
  int cert_days;
  {
    std::lock_guard lk(mu_);
    cert_days = spec_.cert_expiring_days;
  }
  if (in_.health_report) {
    json report = in_.health_report();
    for (const auto& c : report.value("checks", json::array())) {
      std::string id = str(c, "id");
      if (str(c, "status") == "unhealthy") {
        std::string why = str(c, "last_failure_reason");
        out.push_back({"check_unhealthy", id, why.empty() ? "unhealthy" : "unhealthy: " + why,
                       json{{"since_ms", c.value("since_ms", int64_t{0})}}});
      }
      auto days = c.find("cert_days_left");
      if (days != c.end() && days->is_number_integer() && days->get<int>() < cert_days) {
        out.push_back({"cert_expiring", id,
                       "certificate expires in " + std::to_string(days->get<int>()) + " days",
                       json{{"days_left", days->get<int>()}}});
      }
    }
  }
  if (in_.steering_status) {
    json status = in_.steering_status();
    for (const auto& s : status.value("sets", json::array())) {
      std::string key = str(s, "set");
      int active = s.value("active_tier", 1);
      int healthy = s.value("healthy_tier", 1);
      json d{{"active_tier", active}, {"healthy_tier", healthy}, {"phase", str(s, "phase")}};
      if (active > 1) {
        out.push_back({"failover", key,
                       "answering tier " + std::to_string(active) + ": " + str(s, "reason"), d});
      }
      if (healthy != 1) {
        out.push_back({"primary_unhealthy", key,
                       healthy == 0 ? "no tier is healthy"
                                    : "first healthy tier is " + std::to_string(healthy),
                       d});
      }
      if (s.value("frozen", false)) {
        out.push_back({"flap_frozen", key, "frozen after flapping: " + str(s, "reason"), d});
      }
      if (s.value("awaiting_approval", false)) {
        out.push_back({"failback_pending_approval", key,
                       "tier 1 is healthy again; failback waits for approval", d});
      }
    }
  }
  if (in_.runtime != nullptr) {
    auto rc = in_.runtime->load();
    if (rc && rc->steering_spec && rc->steering) {
      for (const auto& rs : rc->steering_spec->record_sets) {
        std::string key = rs.key();
        uint32_t id = rc->steering->id_of(key);
        bool ok = id == policy::kNoSteer || rc->steering->has_healthy_answer(id);
        std::string name = key.substr(0, key.rfind('/'));
        auto [it, fresh] = name_health.emplace(name, ok);
        it->second = it->second && ok;
        sets[name].push_back(key);
        if (!ok) {
          out.push_back({"all_down", key, "no member is healthy", json::object()});
        }
      }
    }
  }
  if (in_.fleet_conditions) {
    for (auto& c : in_.fleet_conditions()) {
      out.push_back(std::move(c));
    }
  }
  int64_t now = clock_.wall_ms();
  std::lock_guard lk(mu_);
  slo_.observe(name_health, now);
  *slo_out = slo_.report(slo_spec_, now);
  for (const auto& r : *slo_out) {
    if (r.below_alert()) {
      out.push_back({"slo_below", r.name,
                     "availability " + pct(r.alert_availability) + " over the last " +
                         std::to_string(r.alert_window_ms / 60'000) + " min is below " +
                         pct(*r.alert_below / 100) + " (objective " + pct(r.objective / 100) + ")",
                     json{{"availability", r.alert_availability}, {"objective", r.objective}}});
    }
  }
  if (now - slo_saved_ms_ >= kSloSaveMs) {
    if (auto st = store_.put_state(kSloKey, slo_.to_json()); st) {
      slo_saved_ms_ = now;
    }
  }
  return out;
}

void AlertService::evaluate() {
  std::lock_guard ev(eval_mu_);
  if (in_.active) {
    bool now_active = in_.active();
    if (now_active && !active_.load()) {
      // Taking over from another node: its alerts, cursor and availability are in the
      // shared store; continue from them rather than from what this node knew before.
      if (auto st = engine_.load(); !st) {
        spdlog::warn("alerts: taking over alert routing: {}", st.error());
        return;
      }
      load_slo();
      spdlog::info("alerts: this node routes the fleet's alerts now");
    }
    active_ = now_active;
    if (!now_active) {
      return;
    }
  }
  std::map<std::string, bool> name_health;
  std::map<std::string, std::vector<std::string>> sets;
  std::vector<alert::SloNameReport> slo;
  std::vector<alert::Condition> active = conditions(name_health, sets, &slo);
  std::vector<alert::Notice> notices;
  std::optional<int64_t> cursor = engine_.cursor();
  if (cursor) {
    auto events = store_.events(*cursor, 1000);
    if (events) {
      for (const auto& e : *events) {
        cursor = e.seq;
        std::string type = str(e.body, "type");
        if (is_notice(type)) {
          notices.push_back({type, str(e.body, "target"), str(e.body, "cause"), e.time_ms,
                             json{{"actor", str(e.body, "actor")}, {"seq", e.seq}}});
        }
      }
    }
  }
  auto st = engine_.step(active, notices, clock_.wall_ms(), cursor);
  std::lock_guard lk(mu_);
  slo_report_ = std::move(slo);
  name_sets_ = std::move(sets);
  if (!st) {
    if (last_error_ != st.error()) {
      spdlog::warn("{}", st.error());
    }
    last_error_ = st.error();
  } else {
    last_error_.clear();
  }
}

json AlertService::slo_json() const {
  std::lock_guard lk(mu_);
  json names = json::array();
  for (const auto& r : slo_report_) {
    json windows = json::object();
    for (const auto& w : r.windows) {
      windows[w.label] = {{"availability", w.availability},
                          {"observed_s", w.observed_ms / 1000.0},
                          {"unhealthy_s", w.unhealthy_ms / 1000.0},
                          {"budget_left", w.budget_left}};
    }
    json j{{"name", r.name},
           {"objective", r.objective},
           {"healthy", r.healthy_now},
           {"windows", std::move(windows)},
           {"alert_window_s", r.alert_window_ms / 1000},
           {"alert_availability", r.alert_availability},
           {"below_alert", r.below_alert()}};
    j["alert_below"] = r.alert_below ? json(*r.alert_below) : json(nullptr);
    auto ks = name_sets_.find(r.name);
    j["sets"] = ks == name_sets_.end() ? json::array() : json(ks->second);
    names.push_back(std::move(j));
  }
  return json{{"names", std::move(names)}};
}

Result<json> AlertService::command(const json& req) {
  std::string cmd = req.value("cmd", std::string());
  if (cmd == "list") {
    auto r = engine_.list(req.value("all", false));
    if (!r) {
      return r;
    }
    auto stats = store_.outbox_stats();
    {
      std::lock_guard lk(mu_);
      (*r)["store"] = {{"describe", store_.describe()},
                       {"ok", stats.ok() && last_error_.empty()},
                       {"error", !stats.ok() ? stats.error() : last_error_}};
    }
    if (stats) {
      (*r)["outbox"] = {{"pending", stats->pending},
                        {"dead", stats->dead},
                        {"delivered", stats->delivered},
                        {"oldest_pending_ms", stats->oldest_pending_ms}};
    }
    return r;
  }
  if (cmd == "ack") {
    std::string id = req.value("id", std::string());
    std::string reason = req.value("reason", std::string());
    if (id.empty()) {
      return Error{"ack: give the alert's id"};
    }
    if (reason.empty()) {
      return Error{"ack: give a reason (who is on it, what is being done)"};
    }
    auto r = engine_.ack(id, req.value("by", std::string("operator")), reason, clock_.wall_ms());
    if (r) {
      std::lock_guard lk(wake_mu_);
      deliver_now_ = true;
      wake_.notify_all();
    }
    return r;
  }
  if (cmd == "outbox") {
    size_t limit = req.value("limit", size_t{100});
    auto rows = store_.outbox(std::min<size_t>(limit, 1000), req.value("alert", std::string()));
    if (!rows) {
      return Error{rows.error()};
    }
    json out = json::array();
    for (const auto& r : *rows) {
      out.push_back({{"id", r.id},
                     {"alert_id", r.alert_id},
                     {"channel", r.channel},
                     {"dedup_key", r.dedup_key},
                     {"kind", r.payload.value("kind", std::string())},
                     {"status", r.status},
                     {"attempts", r.attempts},
                     {"created_ms", r.created_ms},
                     {"next_attempt_ms", r.next_attempt_ms},
                     {"done_ms", r.done_ms},
                     {"history", r.history}});
    }
    return json{{"outbox", std::move(out)}};
  }
  if (cmd == "slo") {
    return slo_json();
  }
  return Error{"unknown alerts command '" + cmd + "' (known: list, ack, outbox, slo)"};
}

void AlertService::collect_metrics(obs::Families& out) const {
  using prometheus::MetricType;
  out.reserve(out.size() + 9);
  auto stats = engine_.stats();
  auto& open = obs::add_family(out, "steerdns_alerts_open",
                               "alerts open or acknowledged, by current severity", MetricType::Gauge);
  for (size_t i = 0; i < alert::kSeverityNames.size(); ++i) {
    obs::add_gauge(open, {{"severity", std::string(alert::kSeverityNames[i])}},
                   static_cast<double>(stats.open_by_severity[i]));
  }
  auto& acked = obs::add_family(out, "steerdns_alerts_acknowledged",
                                "alerts acknowledged and not yet resolved", MetricType::Gauge);
  obs::add_gauge(acked, {}, static_cast<double>(stats.acknowledged));
  std::lock_guard lk(mu_);
  const auto& ob = outbox_stats_;
  auto& depth = obs::add_family(out, "steerdns_outbox_depth",
                                "notifications in the outbox not yet delivered, by status",
                                MetricType::Gauge);
  auto& age = obs::add_family(out, "steerdns_outbox_oldest_pending_seconds",
                              "age of the oldest undelivered notification (0 = none)",
                              MetricType::Gauge);
  if (ob) {
    obs::add_gauge(depth, {{"status", "pending"}}, static_cast<double>(ob->pending));
    obs::add_gauge(depth, {{"status", "dead"}}, static_cast<double>(ob->dead));
    obs::add_gauge(age, {},
                   ob->oldest_pending_ms > 0
                       ? std::max<double>(0, (clock_.wall_ms() - ob->oldest_pending_ms) / 1000.0)
                       : 0.0);
  }
  auto& sent = obs::add_family(out, "steerdns_notifications_total",
                               "notification delivery attempts, by channel and result",
                               MetricType::Counter);
  for (const auto& [ch, s] : dispatcher_.stats()) {
    obs::add_counter(sent, {{"channel", ch}, {"result", "delivered"}},
                     static_cast<double>(s.delivered));
    obs::add_counter(sent, {{"channel", ch}, {"result", "failed"}}, static_cast<double>(s.failed));
    obs::add_counter(sent, {{"channel", ch}, {"result", "dead"}}, static_cast<double>(s.dead));
  }
  auto& avail = obs::add_family(out, "steerdns_slo_availability_ratio",
                                "share of observed time the name had a healthy answer",
                                MetricType::Gauge);
  for (const auto& r : slo_report_) {
    for (const auto& w : r.windows) {
      obs::add_gauge(avail, {{"name", r.name}, {"window", w.label}}, w.availability);
    }
  }
  auto& obj = obs::add_family(out, "steerdns_slo_objective_ratio",
                              "configured availability objective", MetricType::Gauge);
  for (const auto& r : slo_report_) {
    obs::add_gauge(obj, {{"name", r.name}}, r.objective / 100.0);
  }
  auto& budget = obs::add_family(out, "steerdns_slo_error_budget_remaining_ratio",
                                 "share of the error budget left (negative when overspent)",
                                 MetricType::Gauge);
  for (const auto& r : slo_report_) {
    for (const auto& w : r.windows) {
      obs::add_gauge(budget, {{"name", r.name}, {"window", w.label}}, w.budget_left);
    }
  }
}

}  // namespace steerdns::daemon
