#include "alert/engine.h"

#include <algorithm>
#include <set>

namespace steerdns::alert {

using nlohmann::json;

namespace {

constexpr const char* kCursorKey = "alerts-cursor";

// The event that ends a condition, routed on its own when an operator wants to hear about it.
const char* end_event(const std::string& event) {
  if (event == "check_unhealthy") {
    return "check_healthy";
  }
  if (event == "failover") {
    return "failback";
  }
  return nullptr;
}

bool target_matches(const RouteSpec& r, const std::string& target) {
  if (r.targets.empty()) {
    return true;
  }
  // A set key "name./TYPE" is matched by its name too, with or without the final dot.
  std::string name = target.substr(0, target.rfind('/'));
  std::string bare = !name.empty() && name.back() == '.' ? name.substr(0, name.size() - 1) : name;
  return std::any_of(r.targets.begin(), r.targets.end(), [&](const std::string& t) {
    return t == target || t == name || t == bare;
  });
}

std::vector<std::string> str_vec(const json& j) {
  std::vector<std::string> out;
  if (j.is_array()) {
    for (const auto& s : j) {
      if (s.is_string()) {
        out.push_back(s.get<std::string>());
      }
    }
  }
  return out;
}

Severity sev_of(const json& a) {
  return severity_from(a.value("severity", std::string("warning"))).value_or(Severity::kWarning);
}

}  // namespace

Status Engine::load() {
  auto rows = store_.alerts();
  if (!rows) {
    return Error{"alerts: " + rows.error()};
  }
  auto cur = store_.get_state(kCursorKey);
  if (!cur) {
    return Error{"alerts: " + cur.error()};
  }
  std::lock_guard lk(mu_);
  live_.clear();
  for (auto& r : *rows) {
    if (r.body.value("state", std::string()) != "resolved") {
      // (the key first: json's operator= takes its argument by value, moving the body out)
      std::string key = r.body.value("key", r.id);
      live_[key] = std::move(r.body);
    }
  }
  cursor_.reset();
  if (cur->has_value() && (**cur).contains("seq")) {
    cursor_ = (**cur)["seq"].get<int64_t>();
  }
  return OkStatus();
}

void Engine::configure(AlertsSpec spec) {
  std::lock_guard lk(mu_);
  spec_ = std::move(spec);
}

std::optional<int64_t> Engine::cursor() const {
  std::lock_guard lk(mu_);
  return cursor_;
}

const RouteSpec* Engine::route(const std::string& event, const std::string& target) const {
  for (const auto& r : spec_.routes) {
    if (std::find(r.events.begin(), r.events.end(), event) != r.events.end() &&
        target_matches(r, target)) {
      return &r;
    }
  }
  return nullptr;
}

void Engine::notify(json& alert, const std::string& kind, const std::vector<std::string>& channels,
                    int64_t now_ms, Pending& p) const {
  int64_t n = alert.value("notifications", int64_t{0});
  json sent = alert.value("channels", json::array());
  json summary{{"id", alert["id"]},           {"event", alert["event"]},
               {"target", alert["target"]},   {"severity", alert["severity"]},
               {"summary", alert["summary"]}, {"state", alert["state"]},
               {"opened_ms", alert["opened_ms"]}};
  if (alert.contains("details")) {
    summary["details"] = alert["details"];
  }
  for (const auto& ch : channels) {
    store::OutboxRow row;
    row.alert_id = alert["id"].get<std::string>();
    row.channel = ch;
    // Unique per alert, kind, occurrence and channel: a replayed step queues nothing twice,
    // and a receiver seeing the key again knows it is a re-delivery.
    row.dedup_key = row.alert_id + "/" + kind + "/" + std::to_string(n) + "/" + ch;
    row.created_ms = now_ms;
    row.next_attempt_ms = now_ms;
    row.payload = {{"kind", kind}, {"channel", ch}, {"dedup_key", row.dedup_key},
                   {"time_ms", now_ms}, {"alert", summary}};
    p.rows.push_back(std::move(row));
    if (std::find(sent.begin(), sent.end(), ch) == sent.end()) {
      sent.push_back(ch);
    }
  }
  alert["notifications"] = n + 1;
  alert["channels"] = std::move(sent);
  if (kind != "resolve" && kind != "ack") {
    alert["last_notified_ms"] = now_ms;
  }
}

json Engine::open_alert(const std::string& event, const std::string& target,
                        const std::string& summary, const json& details, Severity sev,
                        int64_t now_ms, Pending& p) const {
  json a{{"id", store::make_id('A')},
         {"key", event + "|" + target},
         {"event", event},
         {"target", target},
         {"summary", summary},
         {"details", details},
         {"severity", std::string(severity_name(sev))},
         {"base_severity", std::string(severity_name(sev))},
         {"state", "open"},
         {"opened_ms", now_ms},
         {"updated_ms", now_ms},
         {"last_notified_ms", now_ms},
         {"notifications", 0},
         {"channels", json::array()}};
  notify(a, "trigger", spec_.severities[static_cast<size_t>(sev)].channels, now_ms, p);
  return a;
}

Status Engine::step(const std::vector<Condition>& active, const std::vector<Notice>& notices,
                    int64_t now_ms, std::optional<int64_t> cursor) {
  std::lock_guard lk(mu_);
  Pending p;
  std::map<std::string, json> live = live_;  // applied only once the store has it
  std::set<std::string> holding;
  for (const auto& c : active) {
    std::string key = c.event + "|" + c.target;
    holding.insert(key);
    if (live.count(key)) {
      continue;
    }
    const RouteSpec* r = route(c.event, c.target);
    if (r == nullptr) {
      continue;  // nobody asked to hear about it
    }
    json a = open_alert(c.event, c.target, c.summary, c.details, r->severity, now_ms, p);
    p.alerts[a["id"].get<std::string>()] = a;
    live[key] = std::move(a);
  }
  for (auto it = live.begin(); it != live.end();) {
    json& a = it->second;
    bool one_shot = a.value("one_shot", false);
    if (one_shot || holding.count(it->first)) {
      ++it;
      continue;
    }
    // The condition ended: resolve, telling every channel that heard of it.
    a["state"] = "resolved";
    a["resolved_ms"] = now_ms;
    a["updated_ms"] = now_ms;
    std::vector<std::string> told = str_vec(a["channels"]);
    notify(a, "resolve", told, now_ms, p);
    if (const char* end = end_event(a.value("event", std::string()))) {
      if (const RouteSpec* r = route(end, a.value("target", std::string()))) {
        std::vector<std::string> extra;
        for (const auto& ch : spec_.severities[static_cast<size_t>(r->severity)].channels) {
          if (std::find(told.begin(), told.end(), ch) == told.end()) {
            extra.push_back(ch);
          }
        }
        // Said as the end event at its own severity ("[INFO] failback ..."), under the alert.
        json end_view = a;
        end_view["event"] = end;
        end_view["severity"] = std::string(severity_name(r->severity));
        notify(end_view, "notice", extra, now_ms, p);
        a["notifications"] = end_view["notifications"];
        a["channels"] = end_view["channels"];
      }
    }
    p.alerts[a["id"].get<std::string>()] = a;
    it = live.erase(it);
  }
  for (const auto& n : notices) {
    const RouteSpec* r = route(n.event, n.target);
    if (r == nullptr) {
      continue;
    }
    json a = open_alert(n.event, n.target, n.summary, n.details, r->severity, now_ms, p);
    a["one_shot"] = true;
    a["event_time_ms"] = n.time_ms;
    if (r->severity < Severity::kCritical) {
      a["state"] = "resolved";  // said once; nobody has to acknowledge an info
      a["resolved_ms"] = now_ms;
    } else {
      a["key"] = n.event + "|" + n.target + "|" + a["id"].get<std::string>();
      live[a["key"].get<std::string>()] = a;
    }
    p.alerts[a["id"].get<std::string>()] = a;
  }
  // Repeats and escalation of what is open and not acknowledged.
  for (auto& [key, a] : live) {
    if (a.value("state", std::string()) != "open") {
      continue;
    }
    Severity sev = sev_of(a);
    const SeveritySpec& s = spec_.severities[static_cast<size_t>(sev)];
    int64_t since = a.value("escalated_ms", a.value("opened_ms", now_ms));
    if (s.escalate_after_ms > 0 && sev < Severity::kEmergency &&
        now_ms - since >= s.escalate_after_ms) {
      auto up = static_cast<Severity>(static_cast<int>(sev) + 1);
      a["severity"] = std::string(severity_name(up));
      a["escalated_ms"] = now_ms;
      a["escalations"] = a.value("escalations", 0) + 1;
      a["updated_ms"] = now_ms;
      notify(a, "escalate", spec_.severities[static_cast<size_t>(up)].channels, now_ms, p);
      p.alerts[a["id"].get<std::string>()] = a;
      continue;
    }
    if (s.repeat_ms > 0 && now_ms - a.value("last_notified_ms", now_ms) >= s.repeat_ms) {
      a["updated_ms"] = now_ms;
      notify(a, "repeat", s.channels, now_ms, p);
      p.alerts[a["id"].get<std::string>()] = a;
    }
  }
  bool cursor_moved = cursor.has_value() && cursor != cursor_;
  if (p.alerts.empty() && p.rows.empty() && !cursor_moved) {
    return OkStatus();
  }
  store::AlertCommit c;
  for (auto& [id, body] : p.alerts) {
    c.alerts.push_back({id, body});
  }
  c.enqueue = std::move(p.rows);
  if (cursor_moved) {
    c.state.emplace_back(kCursorKey, json{{"seq", *cursor}});
  }
  if (auto st = store_.commit_alerts(c); !st) {
    return Error{"alerts: " + st.error()};
  }
  live_ = std::move(live);
  if (cursor_moved) {
    cursor_ = cursor;
  }
  return OkStatus();
}

Result<json> Engine::ack(const std::string& id, const std::string& by, const std::string& reason,
                         int64_t now_ms) {
  std::lock_guard lk(mu_);
  auto it = std::find_if(live_.begin(), live_.end(), [&](const auto& kv) {
    return kv.second.value("id", std::string()) == id || kv.first == id;
  });
  if (it == live_.end()) {
    return Error{"no open alert '" + id + "' (resolved, or never existed: GET /v1/alerts?all=1)"};
  }
  json a = it->second;
  if (a.value("state", std::string()) == "acknowledged") {
    return a;  // idempotent: a second ack changes nothing
  }
  a["state"] = "acknowledged";
  a["acked_by"] = by;
  a["ack_reason"] = reason;
  a["acked_ms"] = now_ms;
  a["updated_ms"] = now_ms;
  Pending p;
  std::vector<std::string> paged;
  for (const auto& ch : str_vec(a["channels"])) {
    auto c = spec_.channels.find(ch);
    if (c != spec_.channels.end() && c->second.kind == ChannelKind::kPagerDuty) {
      paged.push_back(ch);
    }
  }
  notify(a, "ack", paged, now_ms, p);
  store::AlertCommit c;
  c.alerts.push_back({a["id"].get<std::string>(), a});
  c.enqueue = std::move(p.rows);
  if (auto st = store_.commit_alerts(c); !st) {
    return Error{"alerts: " + st.error()};
  }
  it->second = a;
  return a;
}

Result<json> Engine::list(bool all) const {
  json out = json::array();
  if (all) {
    auto rows = store_.alerts();
    if (!rows) {
      return Error{"alerts: " + rows.error()};
    }
    for (auto& r : *rows) {
      out.push_back(std::move(r.body));
    }
  } else {
    std::lock_guard lk(mu_);
    for (const auto& [key, a] : live_) {
      out.push_back(a);
    }
    std::sort(out.begin(), out.end(), [](const json& x, const json& y) {
      return x.value("opened_ms", int64_t{0}) < y.value("opened_ms", int64_t{0});
    });
  }
  return json{{"alerts", std::move(out)}};
}

EngineStats Engine::stats() const {
  std::lock_guard lk(mu_);
  EngineStats s;
  for (const auto& [key, a] : live_) {
    s.open_by_severity[static_cast<size_t>(sev_of(a))]++;
    if (a.value("state", std::string()) == "acknowledged") {
      s.acknowledged++;
    }
  }
  return s;
}

}  // namespace steerdns::alert
