#include "daemon/steering_cli.h"

#include <CLI/CLI.hpp>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/api_client.h"
#include "daemon/control.h"

namespace steerdns::daemon {
namespace {

using nlohmann::json;

struct Args {
  std::string control;
  cli::ApiOptions api;  // without --control the requests go to the API
  bool json_out = false;
  // override
  std::string check, member, set;
  std::string action, reason, author, expires, drain;
  // approve
  std::string approve_set;
  // events
  size_t last = 20;
  // explain / simulate
  std::string name, type, client, ecs;
  std::vector<std::string> down;
  std::vector<std::string> only_sets;
  // failover / failback SET
  std::string steer_set, to;
  // alerts
  bool all = false;
  std::string alert_id;
};

// `steerdns status` exits with this when something needs attention (1 is "could not tell").
constexpr int kNeedsAttention = 3;

int64_t now_wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string iso_time(int64_t wall_ms) {
  time_t secs = static_cast<time_t>(wall_ms / 1000);
  tm t{};
  gmtime_r(&secs, &t);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &t);
  return buf;
}

std::string ago(int64_t ms) {
  if (ms < 0) {
    ms = 0;
  }
  int64_t s = (ms + 999) / 1000;  // "expires in 10m" for an override set for 10m
  if (s < 120) {
    return std::to_string(s) + "s";
  }
  if (s < 7200) {
    return std::to_string(s / 60) + "m";
  }
  if (s < 2 * 86400) {
    return std::to_string(s / 3600) + "h" + std::to_string(s % 3600 / 60) + "m";
  }
  return std::to_string(s / 86400) + "d";
}

std::string str(const json& j, const char* k) {
  auto it = j.find(k);
  if (it == j.end() || it->is_null()) {
    return "";
  }
  return it->is_string() ? it->get<std::string>() : it->dump();
}

// Sends one steering request, to the control socket with --control, else to the API (the same
// JSON either way); prints the error and returns false on failure.
bool request(const char* what, const Args& a, const json& req, json& out) {
  if (a.control.empty()) {
    auto settings = cli::resolve_settings(a.api);
    if (!settings) {
      std::fprintf(stderr, "steerdns %s: %s\n", what, settings.error().c_str());
      return false;
    }
    auto r = cli::steer_via_api(cli::ApiClient(std::move(*settings)), req);
    if (!r) {
      std::fprintf(stderr, "steerdns %s: %s\n", what, r.error().c_str());
      return false;
    }
    out = std::move(*r);
    return true;
  }
  auto r = control_request(a.control, "steer " + req.dump());
  if (!r) {
    std::fprintf(stderr, "steerdns %s: %s\n", what, r.error().c_str());
    return false;
  }
  out = json::parse(*r, nullptr, false);
  if (out.is_discarded()) {
    std::fprintf(stderr, "steerdns %s: the daemon's reply is not JSON\n", what);
    return false;
  }
  return true;
}

void print_json(const json& j) {
  std::printf("%s\n", j.dump(2, ' ', false, json::error_handler_t::replace).c_str());
}

std::string override_line(const json& o, int64_t now) {
  std::string s = str(o, "scope") + " " + str(o, "target") + " forced " + str(o, "action");
  if (o.contains("drain_ms")) {
    s += " over " + ago(o["drain_ms"].get<int64_t>());
  }
  s += " by " + str(o, "author") + " (" + str(o, "reason") + "), expires in " +
       ago(o.value("expires_wall_ms", int64_t{0}) - now);
  return s;
}

// The steering part of the status report (what the control socket can tell too).
void print_sets(const json& r) {
  int64_t now = r.value("now_wall_ms", now_wall_ms());
  const json& sets = r["sets"];
  if (sets.empty()) {
    std::printf("no failover record sets (%s steered sets)\n", str(r, "steered_sets").c_str());
  } else {
    std::printf("%-36s %-13s %6s %7s %5s %7s %-8s %s\n", "SET", "PHASE", "ACTIVE", "HEALTHY", "TTL",
                "SINCE", "FAILBACK", "FLAGS");
  }
  for (const auto& s : sets) {
    std::string flags;
    if (s.value("frozen", false)) {
      flags += "frozen ";
    }
    if (s.value("awaiting_approval", false)) {
      flags += "awaiting-approval ";
    }
    if (s.value("ramp_share", 0.0) > 0) {
      flags +=
          "ramp " + std::to_string(static_cast<int>(s["ramp_share"].get<double>() * 100)) + "% ";
    }
    if (!s["overrides"].empty()) {
      flags += "overridden ";
    }
    std::printf("%-36s %-13s %6d %7d %5s %7s %-8s %s\n", str(s, "set").c_str(),
                str(s, "phase").c_str(), s.value("active_tier", 0), s.value("healthy_tier", 0),
                str(s, "ttl").c_str(), ago(now - s.value("since_wall_ms", now)).c_str(),
                str(s, "failback").c_str(), flags.c_str());
    if (!str(s, "reason").empty()) {
      std::printf("    why: %s\n", str(s, "reason").c_str());
    }
    for (const auto& o : s["overrides"]) {
      std::printf("    override: %s\n", override_line(o, now).c_str());
    }
  }
  if (!r["overrides"].empty()) {
    std::printf("overrides:\n");
    for (const auto& o : r["overrides"]) {
      std::printf("  %s\n", override_line(o, now).c_str());
    }
  }
  if (r.value("actions_pending", 0) > 0) {
    std::printf("actions: %s event(s) running or queued\n", str(r, "actions_pending").c_str());
  }
  if (r.contains("drills") && !r["drills"].empty()) {
    std::printf("drills (latest last):\n");
    for (const auto& d : r["drills"]) {
      const json& res = d["result"];
      std::string line = ago(now - d.value("time_ms", now)) + " ago  " + str(d, "actor");
      if (res.is_object()) {
        line += "  " + str(res, "result") + "  mode " + str(res, "mode") + "  client move " +
                str(res, "client_move_ms") + " ms (rto " + str(res, "rto_ms") + " ms)";
        if (!str(res, "reason").empty()) {
          line += "  " + str(res, "reason");
        }
      } else {
        line += "  " + res.dump();
      }
      std::printf("  %s\n", line.c_str());
    }
  }
}

std::string pct(double ratio) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f%%", ratio * 100);
  return buf;
}

// What in the report needs someone to look: one line each. Empty = all clear.
std::vector<std::string> attention(const json& r, int64_t now) {
  std::vector<std::string> out;
  if (r.contains("cluster") && str(r["cluster"], "mode") == "fleet") {
    const json& c = r["cluster"];
    if (c.value("stale", false)) {
      out.push_back("this node has lost etcd (stale): " + str(c, "last_error"));
    }
    for (const auto& m : c.value("members", json::array())) {
      if (!m.value("self", false) && !m.value("left", false) && m.value("stale", false)) {
        out.push_back("fleet node " + str(m, "node") +
                      (m.value("alive", false) ? " is stale" : " is gone (lease expired)"));
      }
    }
  }
  for (const auto& s : r.value("sets", json::array())) {
    if (s.value("active_tier", 1) > 1) {
      out.push_back(str(s, "set") + " is failed over (tier " + str(s, "active_tier") + ")");
    }
    if (s.value("frozen", false)) {
      out.push_back(str(s, "set") + " is frozen after flapping");
    }
    if (s.value("awaiting_approval", false)) {
      out.push_back(str(s, "set") + " awaits failback approval");
    }
  }
  for (const auto& o : r.value("overrides", json::array())) {
    out.push_back("override in force: " + override_line(o, now));
  }
  const json& health = r.value("health", json::object());
  for (const auto& c : health.value("checks", json::array())) {
    if (c.value("disabled", false)) {
      continue;
    }
    if (str(c, "status") != "healthy") {
      std::string why = str(c, "last_failure_reason");
      out.push_back("check " + str(c, "id") + " is " + str(c, "status") +
                    (why.empty() ? "" : ": " + why));
    }
    auto d = c.find("cert_days_left");
    if (d != c.end() && d->is_number_integer() && d->get<int>() < 14) {
      out.push_back("certificate of " + str(c, "id") + " expires in " + std::to_string(d->get<int>()) +
                    " days");
    }
  }
  const json& alerts = r.value("alerts", json::object());
  for (const auto& al : alerts.value("alerts", json::array())) {
    if (str(al, "state") == "open") {
      out.push_back("open " + str(al, "severity") + " alert " + str(al, "id") + ": " +
                    str(al, "event") + " " + str(al, "target"));
    }
  }
  const json& ob = alerts.value("outbox", json::object());
  if (ob.value("dead", int64_t{0}) > 0) {
    out.push_back(str(ob, "dead") + " notification(s) could not be delivered (steerdns alerts outbox)");
  }
  int64_t oldest = ob.value("oldest_pending_ms", int64_t{0});
  if (oldest > 0 && now - oldest > 300'000) {
    out.push_back("notifications undelivered for " + ago(now - oldest) + " (steerdns alerts outbox)");
  }
  const json& store = alerts.value("store", json::object());
  if (store.is_object() && store.contains("ok") && !store.value("ok", true)) {
    out.push_back("store " + str(store, "describe") + ": " + str(store, "error"));
  }
  const json& slo = r.value("slo", json::object());
  for (const auto& n : slo.value("names", json::array())) {
    if (n.value("below_alert", false)) {
      out.push_back(str(n, "name") + " availability " + pct(n.value("alert_availability", 1.0)) +
                    " is below its alert level");
    }
    const json& w30 = n["windows"].value("30d", json::object());
    if (w30.value("budget_left", 1.0) < 0) {
      out.push_back(str(n, "name") + " has spent its 30-day error budget");
    }
  }
  for (const auto& u : r.value("unavailable", json::array())) {
    out.push_back("could not read " + u.get<std::string>());
  }
  return out;
}

// The rest of the morning check, from the API: checks, answers, availability, alerts, events.
void add_api_sections(const Args& a, json& r) {
  auto settings = cli::resolve_settings(a.api);
  if (!settings) {
    return;
  }
  cli::ApiClient c(std::move(*settings));
  json unavailable = json::array();
  auto get = [&](const char* what, const std::string& target) -> json {
    auto x = c.call("GET", target);
    if (!x) {
      unavailable.push_back(std::string(what) + " (" + x.error() + ")");
      return json::object();
    }
    return *x;
  };
  r["health"] = get("health checks", "/v1/health/checks");
  r["cluster"] = get("cluster", "/v1/cluster");
  r["alerts"] = get("alerts", "/v1/alerts");
  r["slo"] = get("availability", "/v1/slo");
  r["events"] = get("events", "/v1/events?last=8").value("events", json::array());
  json answers = json::array();
  for (const auto& n : r["slo"].value("names", json::array())) {
    for (const auto& key : n.value("sets", json::array())) {
      std::string k = key.get<std::string>();
      auto slash = k.rfind('/');
      std::string target = "/v1/answer?name=" + cli::url_escape(k.substr(0, slash)) +
                           "&type=" + cli::url_escape(k.substr(slash + 1));
      auto x = c.call("GET", target);
      json ans{{"set", k}};
      if (x) {
        std::string vals;
        for (const auto& rr : x->value("answers", json::array())) {
          vals.append(vals.empty() ? "" : " ").append(str(rr, "data"));
        }
        ans["rcode"] = str(*x, "rcode");
        ans["values"] = vals;
      } else {
        ans["error"] = x.error();
      }
      answers.push_back(std::move(ans));
    }
  }
  r["answers"] = std::move(answers);
  r["unavailable"] = std::move(unavailable);
}

int run_status(const Args& a) {
  json r;
  if (!request("status", a, json{{"cmd", "status"}}, r)) {
    return 1;
  }
  if (a.control.empty()) {
    add_api_sections(a, r);
  }
  int64_t now = r.value("now_wall_ms", now_wall_ms());
  std::vector<std::string> todo = attention(r, now);
  r["attention"] = todo;
  if (a.json_out) {
    print_json(r);
    return todo.empty() ? 0 : kNeedsAttention;
  }
  std::printf("steerdns status at %s\n\n", iso_time(now).c_str());
  if (r.contains("health")) {
    const json& checks = r["health"].value("checks", json::array());
    std::printf("HEALTH CHECKS (%zu)\n", checks.size());
    for (const auto& c : checks) {
      std::string cert = c.contains("cert_days_left") && c["cert_days_left"].is_number_integer()
                             ? "cert " + str(c, "cert_days_left") + "d"
                             : "";
      std::printf("  %-10s %-28s %-8s since %-7s %s %s\n", str(c, "status").c_str(),
                  str(c, "id").c_str(), str(c, "kind").c_str(),
                  ago(now - c.value("since_ms", now)).c_str(), cert.c_str(),
                  str(c, "last_failure_reason").c_str());
    }
    std::printf("\n");
  }
  if (r.contains("cluster") && str(r["cluster"], "mode") == "fleet") {
    const json& c = r["cluster"];
    size_t ok = 0;
    size_t n = 0;
    for (const auto& m : c.value("members", json::array())) {
      n += m.value("left", false) ? 0 : 1;
      ok += !m.value("left", false) && !m.value("stale", false) ? 1 : 0;
    }
    std::printf("FLEET: node %s, %zu of %zu members in contact, %s (steerdns cluster status)\n\n",
                str(c, "node").c_str(), ok, n,
                c.value("stale", false) ? "THIS NODE IS STALE" : "this node in contact");
  }
  std::printf("FAILOVER SETS\n");
  print_sets(r);
  if (r.contains("answers")) {
    std::printf("\nANSWERS NOW\n");
    for (const auto& x : r["answers"]) {
      std::printf("  %-40s %s %s\n", str(x, "set").c_str(),
                  x.contains("error") ? "?" : str(x, "rcode").c_str(),
                  x.contains("error") ? str(x, "error").c_str() : str(x, "values").c_str());
    }
  }
  if (r.contains("slo")) {
    std::printf("\nAVAILABILITY        %-10s %-9s %-9s %-9s %s\n", "OBJECTIVE", "1H", "1D", "30D",
                "BUDGET LEFT (30D)");
    for (const auto& n : r["slo"].value("names", json::array())) {
      const json& w = n["windows"];
      auto av = [&](const char* k) { return pct(w.value(k, json::object()).value("availability", 1.0)); };
      std::printf("  %-36s %-9s %-9s %-9s %-9s %s\n", str(n, "name").c_str(),
                  (str(n, "objective") + "%").c_str(), av("1h").c_str(), av("1d").c_str(),
                  av("30d").c_str(),
                  pct(w.value("30d", json::object()).value("budget_left", 1.0)).c_str());
    }
  }
  if (r.contains("alerts")) {
    const json& al = r["alerts"].value("alerts", json::array());
    std::printf("\nALERTS (%zu open or acknowledged)\n", al.size());
    for (const auto& x : al) {
      std::string ack = str(x, "state") == "acknowledged" ? " ack by " + str(x, "acked_by") : "";
      std::printf("  %-9s %-12s %s %s %s: %s%s\n", str(x, "severity").c_str(),
                  str(x, "state").c_str(), str(x, "id").c_str(), str(x, "event").c_str(),
                  str(x, "target").c_str(), str(x, "summary").c_str(), ack.c_str());
    }
    const json& ob = r["alerts"].value("outbox", json::object());
    const json& st = r["alerts"].value("store", json::object());
    std::printf("  outbox: %s pending, %s dead, %s delivered; store %s %s\n",
                str(ob, "pending").c_str(), str(ob, "dead").c_str(), str(ob, "delivered").c_str(),
                str(st, "describe").c_str(), st.value("ok", true) ? "ok" : str(st, "error").c_str());
  }
  if (r.contains("events") && !r["events"].empty()) {
    std::printf("\nRECENT EVENTS\n");
    for (const auto& e : r["events"]) {
      std::printf("  %s %-22s %s: %s\n", iso_time(e.value("wall_ms", int64_t{0})).c_str(),
                  str(e, "type").c_str(), str(e, "target").c_str(), str(e, "cause").c_str());
    }
  }
  if (todo.empty()) {
    std::printf("\nall clear\n");
    return 0;
  }
  std::printf("\nNEEDS ATTENTION (%zu)\n", todo.size());
  for (const auto& t : todo) {
    std::printf("  - %s\n", t.c_str());
  }
  return kNeedsAttention;
}

// A command that exists over the API only (`steerdns alerts ...`, `cluster status`).
bool api_only_call(const char* what, const Args& a, const char* method, const std::string& target,
                   const json* body, json& out) {
  auto settings = cli::resolve_settings(a.api);
  if (!settings) {
    std::fprintf(stderr, "steerdns %s: %s\n", what, settings.error().c_str());
    return false;
  }
  auto r = cli::ApiClient(std::move(*settings)).call(method, target, body);
  if (!r) {
    std::fprintf(stderr, "steerdns %s: %s\n", what, r.error().c_str());
    return false;
  }
  out = std::move(*r);
  return true;
}

int run_alerts_list(const Args& a) {
  json r;
  if (!api_only_call("alerts", a, "GET", a.all ? "/v1/alerts?all=1" : "/v1/alerts", nullptr, r)) {
    return 1;
  }
  if (a.json_out) {
    print_json(r);
    return 0;
  }
  int64_t now = now_wall_ms();
  const json& al = r.value("alerts", json::array());
  if (al.empty()) {
    std::printf("no %salerts\n", a.all ? "" : "open ");
  }
  for (const auto& x : al) {
    std::printf("%s %-9s %-12s %-24s %s (%s ago): %s\n", str(x, "id").c_str(),
                str(x, "severity").c_str(), str(x, "state").c_str(), str(x, "event").c_str(),
                str(x, "target").c_str(), ago(now - x.value("opened_ms", now)).c_str(),
                str(x, "summary").c_str());
  }
  const json& ob = r.value("outbox", json::object());
  std::printf("outbox: %s pending, %s dead, %s delivered\n", str(ob, "pending").c_str(),
              str(ob, "dead").c_str(), str(ob, "delivered").c_str());
  return 0;
}

// `steerdns cluster status`: the fleet as the daemon asked sees it, and etcd's members.
int run_cluster_status(const Args& a) {
  json r;
  if (!api_only_call("cluster status", a, "GET", "/v1/cluster?etcd=1", nullptr, r)) {
    return 1;
  }
  bool attention = false;
  if (str(r, "mode") != "fleet") {
    if (a.json_out) {
      print_json(r);
    } else {
      std::printf("single node '%s' (store %s, revision %s): no fleet\n", str(r, "node").c_str(),
                  str(r, "store").c_str(), str(r, "served_revision").c_str());
    }
    return 0;
  }
  int64_t now = now_wall_ms();
  for (const auto& m : r.value("members", json::array())) {
    attention = attention || m.value("stale", false);
  }
  for (const auto& e : r.value("etcd", json::array())) {
    attention = attention || !e.value("reachable", false);
  }
  attention = attention || r.value("stale", false);
  if (a.json_out) {
    print_json(r);
    return attention ? kNeedsAttention : 0;
  }
  std::printf("node %s (site %s): %s; alert routing on %s\n", str(r, "node").c_str(),
              str(r, "site").empty() ? "-" : str(r, "site").c_str(),
              r.value("stale", false)
                  ? ("STALE since " + ago(now - r.value("stale_since_ms", now)) +
                     " ago, serving its last snapshot: " + str(r, "last_error"))
                        .c_str()
                  : ("in contact via " + str(r, "endpoint")).c_str(),
              r["leader"].is_string() ? str(r, "leader").c_str() : "no node");
  if (str(r, "catalog_source") == "cache") {
    std::printf("serving the catalog cache: started while etcd was out of reach\n");
  }
  std::printf("\n%-20s %-12s %-6s %-14s %-9s %-10s %s\n", "NODE", "SITE", "STATE",
              "LAST CONTACT", "REVISION", "VERSION", "");
  for (const auto& m : r.value("members", json::array())) {
    std::string state = m.value("left", false) ? "left"
                        : !m.value("alive", false) ? "GONE"
                        : m.value("stale", false)  ? "STALE"
                                                   : "ok";
    int64_t last = m.value("last_contact_ms", int64_t{0});
    std::string flags = m.value("self", false) ? "(this node)" : "";
    if (m.value("leader", false)) {
      flags += flags.empty() ? "(alerts)" : " (alerts)";
    }
    std::printf("%-20s %-12s %-6s %-14s %-9s %-10s %s\n", str(m, "node").c_str(),
                str(m, "site").empty() ? "-" : str(m, "site").c_str(), state.c_str(),
                last > 0 ? (ago(now - last) + " ago").c_str() : "never",
                str(m, "served_revision").c_str(), str(m, "version").c_str(), flags.c_str());
  }
  std::printf("\n%-28s %-5s %-7s %-10s %s\n", "ETCD MEMBER", "UP", "LEADER", "REVISION",
              "VERSION / ERROR");
  for (const auto& e : r.value("etcd", json::array())) {
    bool up = e.value("reachable", false);
    std::printf("%-28s %-5s %-7s %-10s %s\n", str(e, "endpoint").c_str(), up ? "yes" : "NO",
                e.value("is_leader", false) ? "yes" : "",
                up ? str(e, "revision").c_str() : "-",
                up ? str(e, "version").c_str() : str(e, "error").c_str());
  }
  bool header = false;
  for (const auto& c : r.value("checks", json::array())) {
    const json& div = c.value("diverging", json::array());
    if (div.empty()) {
      continue;
    }
    if (!header) {
      std::printf("\nchecks where a node disagrees with the consensus:\n");
      header = true;
    }
    std::string views;
    for (auto it = c["views"].begin(); it != c["views"].end(); ++it) {
      views.append(views.empty() ? "" : ", ").append(it.key()).append(" ").append(
          it.value().get<std::string>());
    }
    std::printf("  %s: consensus %s (%s)\n", str(c, "id").c_str(), str(c, "consensus").c_str(),
                views.c_str());
  }
  return attention ? kNeedsAttention : 0;
}

int run_alerts_ack(const Args& a) {
  json body{{"reason", a.reason}};
  if (!a.author.empty()) {
    body["author"] = a.author;
  }
  json r;
  if (!api_only_call("alerts ack", a, "POST", "/v1/alerts/" + cli::url_escape(a.alert_id) + "/ack",
                   &body, r)) {
    return 1;
  }
  if (a.json_out) {
    print_json(r);
  } else {
    std::printf("acknowledged %s (%s %s) by %s\n", str(r, "id").c_str(), str(r, "event").c_str(),
                str(r, "target").c_str(), str(r, "acked_by").c_str());
  }
  return 0;
}

int run_alerts_outbox(const Args& a) {
  std::string target = "/v1/alerts/outbox?limit=" + std::to_string(a.last);
  if (!a.alert_id.empty()) {
    target += "&alert=" + cli::url_escape(a.alert_id);
  }
  json r;
  if (!api_only_call("alerts outbox", a, "GET", target, nullptr, r)) {
    return 1;
  }
  if (a.json_out) {
    print_json(r);
    return 0;
  }
  for (const auto& o : r.value("outbox", json::array())) {
    const json& h = o.value("history", json::array());
    std::string last = h.empty() ? "" : str(h.back(), "detail");
    std::printf("%s %-9s %-8s %-18s attempts %-3s %s  %s\n",
                iso_time(o.value("created_ms", int64_t{0})).c_str(), str(o, "status").c_str(),
                str(o, "kind").c_str(), str(o, "channel").c_str(), str(o, "attempts").c_str(),
                str(o, "dedup_key").c_str(), last.c_str());
  }
  return 0;
}

// The one of --check / --member / --set that was given.
bool override_target(const char* what, const Args& a, json& req) {
  int n = !a.check.empty() + !a.member.empty() + !a.set.empty();
  if (n != 1) {
    std::fprintf(stderr,
                 "steerdns %s: give exactly one of --check ID, --member SET#ID, --set KEY\n", what);
    return false;
  }
  req["scope"] = !a.check.empty() ? "check" : !a.member.empty() ? "member" : "set";
  req["target"] = !a.check.empty() ? a.check : !a.member.empty() ? a.member : a.set;
  return true;
}

int run_override_set(const Args& a) {
  json req{{"cmd", "override-set"},
           {"action", a.action},
           {"reason", a.reason},
           {"author", a.author},
           {"expires", a.expires}};
  if (!a.drain.empty()) {
    req["drain"] = a.drain;
  }
  if (!override_target("override set", a, req)) {
    return 2;
  }
  json r;
  if (!request("override set", a, req, r)) {
    return 1;
  }
  if (a.json_out) {
    print_json(r);
  } else {
    std::printf("override set: %s\n", override_line(r, now_wall_ms()).c_str());
  }
  return 0;
}

int run_override_clear(const Args& a) {
  json req{{"cmd", "override-clear"}, {"author", a.author}};
  if (!override_target("override clear", a, req)) {
    return 2;
  }
  json r;
  if (!request("override clear", a, req, r)) {
    return 1;
  }
  if (a.json_out) {
    print_json(r);
  } else {
    std::printf("override on %s %s cleared\n", str(r, "scope").c_str(), str(r, "target").c_str());
  }
  return 0;
}

int run_override_list(const Args& a) {
  json r;
  if (!request("override list", a, json{{"cmd", "override-list"}}, r)) {
    return 1;
  }
  if (a.json_out) {
    print_json(r);
    return 0;
  }
  if (r["overrides"].empty()) {
    std::printf("no overrides\n");
  }
  int64_t now = now_wall_ms();
  for (const auto& o : r["overrides"]) {
    std::printf("%s\n", override_line(o, now).c_str());
  }
  return 0;
}

int run_approve(const Args& a) {
  json r;
  if (!request("failback approve", a,
               json{{"cmd", "failback-approve"}, {"set", a.approve_set}, {"author", a.author}},
               r)) {
    return 1;
  }
  if (a.json_out) {
    print_json(r);
  } else {
    std::printf("failback of %s approved by %s\n", str(r, "set").c_str(),
                str(r, "approved_by").c_str());
  }
  return 0;
}

int run_events(const Args& a) {
  json r;
  if (!request("events", a, json{{"cmd", "events"}, {"last", a.last}}, r)) {
    return 1;
  }
  if (a.json_out) {
    print_json(r);
    return 0;
  }
  if (r.contains("warning")) {
    std::fprintf(stderr, "steerdns events: %s\n", str(r, "warning").c_str());
  }
  for (const auto& e : r["events"]) {
    std::string tiers;
    if (e.value("from_tier", 0) != 0 || e.value("to_tier", 0) != 0) {
      tiers = " tier " + str(e, "from_tier") + " -> " + str(e, "to_tier");
    }
    std::printf("%s %-26s %s%s: %s [%s]\n", iso_time(e.value("wall_ms", int64_t{0})).c_str(),
                str(e, "type").c_str(), str(e, "target").c_str(), tiers.c_str(),
                str(e, "cause").c_str(), str(e, "actor").c_str());
  }
  return 0;
}

std::string values_text(const json& answer) {
  std::string out = str(answer, "outcome");
  if (out == "answer") {
    out.clear();
    for (const auto& v : answer["values"]) {
      out += (out.empty() ? "" : " ") + v.get<std::string>();
    }
  }
  return out + " (ttl " + str(answer, "ttl") + ", scope /" + str(answer, "scope") + ")";
}

int run_explain(const Args& a) {
  json req{{"cmd", "explain"}, {"name", a.name}, {"type", a.type}};
  if (!a.client.empty()) {
    req["client"] = a.client;
  }
  if (!a.ecs.empty()) {
    req["ecs"] = a.ecs;
  }
  json r;
  if (!request("explain", a, req, r)) {
    return 1;
  }
  if (a.json_out) {
    print_json(r);
    return 0;
  }
  int64_t now = now_wall_ms();
  std::printf("%s: %s policy (%s)\n", str(r, "set").c_str(), str(r, "policy").c_str(),
              str(r, "where").c_str());
  std::printf("answer: %s\n", values_text(r["answer"]).c_str());
  if (r.contains("ttl")) {
    std::printf("ttl: %s because %s\n", str(r["ttl"], "value").c_str(),
                str(r["ttl"], "why").c_str());
  }
  if (r.contains("tier_chosen")) {
    std::printf("tier chosen: %s (first healthy tier by health: %s)\n",
                str(r, "tier_chosen").c_str(), str(r, "first_healthy_tier").c_str());
  }
  if (r.contains("orchestration")) {
    const json& o = r["orchestration"];
    std::printf("orchestration: %s on tier %s since %s ago%s%s: %s\n", str(o, "phase").c_str(),
                str(o, "active_tier").c_str(), ago(now - o.value("since_wall_ms", now)).c_str(),
                o.value("frozen", false) ? ", frozen" : "",
                o.value("awaiting_approval", false) ? ", awaiting approval" : "",
                str(o, "reason").c_str());
  }
  std::printf("members:\n");
  for (const auto& m : r["members"]) {
    std::string extra;
    if (m.contains("tier")) {
      extra += " tier " + str(m, "tier");
    }
    if (m.contains("weight")) {
      extra += " weight " + str(m, "weight") + " (effective " + str(m, "effective_weight") + ")";
    }
    if (m.contains("region")) {
      extra += " region " + str(m, "region");
    }
    std::string source;
    if (m.contains("check")) {
      source = " [health source: " + str(m["check"], "source") + "]";
    }
    std::printf("  %s %s%s: %s: %s%s\n", m.value("chosen", false) ? "*" : " ",
                str(m, "set_id").c_str(), extra.c_str(),
                m.value("healthy", false) ? "healthy" : "UNHEALTHY", str(m, "why").c_str(),
                source.c_str());    if (m.contains("check") && m["check"].contains("spec")) {
      const json& sp = m["check"]["spec"];
      if (str(sp, "kind") == "external") {
        std::printf("      check %s: external (pushed by a monitor, the API or `steerdns health "
                    "set`)\n",
                    str(m["check"], "id").c_str());
      } else if (str(sp, "kind") == "calculated") {
        std::printf("      check %s: calculated, healthy when %s of %s are healthy\n",
                    str(m["check"], "id").c_str(), str(sp, "healthy_threshold").c_str(),
                    str(sp, "children").c_str());
      } else {
        std::printf("      check %s: %s every %s ms, timeout %s ms, down after %s failures, up "
                    "after %s successes (recheck %s ms x %s probes)\n",
                    str(m["check"], "id").c_str(), str(sp, "kind").c_str(),
                    str(sp, "interval_ms").c_str(), str(sp, "timeout_ms").c_str(),
                    str(sp, "failure_threshold").c_str(), str(sp, "success_threshold").c_str(),
                    str(sp, "recheck_ms").c_str(), str(sp, "confirm_probes").c_str());
      }
    }
  }
  std::printf("all-down handling (%s): %s\n", str(r, "on_all_down").c_str(),
              r.value("all_down_fired", false) ? "FIRED" : "not needed");
  for (const auto& o : r["overrides"]) {
    std::printf("override: %s\n", override_line(o, now).c_str());
  }
  if (r.contains("steps") && !r["steps"].empty()) {
    std::printf("decision:\n");
    for (const auto& s : r["steps"]) {
      std::printf("  - %s\n", s.get<std::string>().c_str());
    }
  }
  return 0;
}

int run_simulate(const Args& a) {
  json req{{"cmd", "simulate"}, {"down", a.down}};
  if (!a.client.empty()) {
    req["client"] = a.client;
  }
  if (!a.ecs.empty()) {
    req["ecs"] = a.ecs;
  }
  json r;
  if (!request("simulate", a, req, r)) {
    return 1;
  }
  if (!a.only_sets.empty()) {
    json kept = json::array();
    for (const auto& s : r["sets"]) {
      for (const auto& want : a.only_sets) {
        if (str(s, "set").rfind(want, 0) == 0) {
          kept.push_back(s);
          break;
        }
      }
    }
    r["sets"] = kept;
  }
  if (a.json_out) {
    print_json(r);
    return 0;
  }
  std::string down;
  for (const auto& d : r["forced_down"]) {
    down += (down.empty() ? "" : ", ") + d.get<std::string>();
  }
  std::printf("what if %s went down (nothing was changed):\n", down.c_str());
  size_t changed = 0;
  for (const auto& s : r["sets"]) {
    bool c = s.value("changed", false);
    changed += c ? 1 : 0;
    std::string after = values_text(s["after"]);
    if (s.contains("after_phase")) {
      after += " [" + str(s, "after_phase") + ", tier " + str(s, "after_tier") + "]";
    }
    std::printf("  %s %s: %s -> %s\n", c ? "CHANGED" : "same   ", str(s, "set").c_str(),
                values_text(s["before"]).c_str(), after.c_str());
  }
  std::printf("%zu of %zu record sets would change\n", changed, r["sets"].size());
  return 0;
}

std::string default_author(const Args& a) {
  if (!a.author.empty()) {
    return a.author;
  }
  const char* user = std::getenv("USER");
  return user != nullptr && *user != '\0' ? user : "cli";
}

// The status entry of the failover set SET ("NAME/TYPE" or "NAME"), as the daemon resolves
// it: one match or an error listing the candidates.
bool find_failover_set(const char* what, const Args& a, json& set_out) {
  json st;
  if (!request(what, a, json{{"cmd", "status"}}, st)) {
    return false;
  }
  std::string name = a.steer_set;
  for (char& c : name) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  std::string type;
  if (auto slash = name.rfind('/'); slash != std::string::npos) {
    type = name.substr(slash + 1);
    name = name.substr(0, slash);
  }
  if (name.empty() || name.back() != '.') {
    name += '.';
  }
  // An exact name first; else a name relative to its zone ("app" for app.example.test.), as
  // long as it names one set.
  std::vector<json> matches;
  std::vector<json> relative;
  std::string all;
  for (const auto& s : st["sets"]) {
    std::string key = str(s, "set");
    all += (all.empty() ? "" : ", ") + key;
    std::string lk = key;
    for (char& c : lk) {
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    auto slash = lk.rfind('/');
    if (!type.empty() && lk.substr(slash + 1) != type) {
      continue;
    }
    if (lk.substr(0, slash) == name) {
      matches.push_back(s);
    } else if (lk.compare(0, name.size(), name) == 0) {
      relative.push_back(s);
    }
  }
  if (matches.empty()) {
    matches = relative;
  }
  if (matches.size() == 1) {
    set_out = matches[0];
    return true;
  }
  if (matches.empty()) {
    std::fprintf(stderr, "steerdns %s: no failover record set '%s' (failover sets: %s)\n", what,
                 a.steer_set.c_str(), all.empty() ? "none" : all.c_str());
  } else {
    std::string keys;
    for (const auto& m : matches) {
      keys += (keys.empty() ? "" : ", ") + str(m, "set");
    }
    std::fprintf(stderr, "steerdns %s: '%s' is ambiguous (%s): give NAME/TYPE\n", what,
                 a.steer_set.c_str(), keys.c_str());
  }
  return false;
}

int tier_of_word(const std::string& to) {
  static const char* names[] = {"primary", "secondary", "tertiary"};
  for (int i = 0; i < 3; ++i) {
    if (to == names[i]) {
      return i + 1;
    }
  }
  if (!to.empty() && to.size() < 4 && to.find_first_not_of("0123456789") == std::string::npos) {
    return std::stoi(to);
  }
  return 0;
}

// Forces the set onto a later tier (or one member) with member overrides: every member before
// it is forced down, so the orchestrator fails over as it would for a real outage (timed,
// TTL-lowered, logged). `steerdns failback SET` clears them.
int run_failover(const Args& a) {
  const char* what = "failover";
  json set;
  if (!find_failover_set(what, a, set)) {
    return 1;
  }
  std::string key = str(set, "set");
  auto slash = key.rfind('/');
  json ex;
  if (!request(what, a,
               json{{"cmd", "explain"}, {"name", key.substr(0, slash)},
                    {"type", key.substr(slash + 1)}},
               ex)) {
    return 1;
  }
  int to_tier = tier_of_word(a.to);
  std::string to_member;
  std::string tiers, ids;
  for (const auto& m : ex["members"]) {
    ids += (ids.empty() ? "" : ", ") + str(m, "set_id") + " (tier " + str(m, "tier") + ")";
    if (to_tier == 0 && str(m, "set_id") == a.to) {
      to_member = a.to;
      to_tier = m.value("tier", 0);
    }
  }
  if (to_tier <= 0) {
    std::fprintf(stderr,
                 "steerdns failover: --to '%s' is not secondary, a tier number or a member of "
                 "%s (members: %s)\n",
                 a.to.c_str(), key.c_str(), ids.c_str());
    return 2;
  }
  std::vector<std::string> down;
  std::vector<std::string> target_unhealthy;
  bool target_exists = false;
  for (const auto& m : ex["members"]) {
    int tier = m.value("tier", 0);
    std::string id = str(m, "set_id");
    bool is_target = tier == to_tier && (to_member.empty() || id == to_member);
    if (is_target) {
      target_exists = true;
      if (!m.value("healthy", false)) {
        target_unhealthy.push_back(id);
      }
    } else if (tier < to_tier || (tier == to_tier && !to_member.empty())) {
      down.push_back(id);
    }
  }
  if (!target_exists) {
    std::fprintf(stderr, "steerdns failover: %s has no tier %d (members: %s)\n", key.c_str(),
                 to_tier, ids.c_str());
    return 2;
  }
  if (down.empty()) {
    std::fprintf(stderr,
                 "steerdns failover: %s: nothing comes before %s, so nothing to force down (to "
                 "go back, use `steerdns failback %s`)\n",
                 key.c_str(), a.to.c_str(), key.c_str());
    return 2;
  }
  std::string author = default_author(a);
  json replies = json::array();
  for (size_t i = 0; i < down.size(); ++i) {
    json req{{"cmd", "override-set"},      {"scope", "member"},
             {"target", key + "#" + down[i]}, {"action", "down"},
             {"reason", a.reason},          {"author", author},
             {"expires", a.expires.empty() ? "1h" : a.expires}};
    json r;
    if (!request(what, a, req, r)) {
      // Undo the ones already set: a half-done failover must not linger.
      for (size_t j = 0; j < i; ++j) {
        json ignored;
        request(what, a,
                json{{"cmd", "override-clear"}, {"scope", "member"},
                     {"target", key + "#" + down[j]}, {"author", author}},
                ignored);
      }
      return 1;
    }
    replies.push_back(r);
  }
  if (a.json_out) {
    print_json(json{{"set", key}, {"to_tier", to_tier}, {"to", a.to}, {"overrides", replies}});
  } else {
    int64_t now = now_wall_ms();
    std::printf("failover of %s to %s (tier %d):\n", key.c_str(), a.to.c_str(), to_tier);
    for (const auto& r : replies) {
      std::printf("  override: %s\n", override_line(r, now).c_str());
    }
    std::printf("undo with: steerdns failback %s\n", key.c_str());
  }
  for (const auto& id : target_unhealthy) {
    std::fprintf(stderr, "steerdns failover: warning: %s#%s is unhealthy right now\n", key.c_str(),
                 id.c_str());
  }
  return 0;
}

// Clears the set's own overrides (member and record-set scope) and approves a manual failback
// that is waiting; check overrides reach other sets too and are only reported.
int run_failback(const Args& a) {
  const char* what = "failback";
  json set;
  if (!find_failover_set(what, a, set)) {
    return 1;
  }
  std::string key = str(set, "set");
  std::string author = default_author(a);
  json done = json::array();
  for (const auto& o : set["overrides"]) {
    std::string scope = str(o, "scope");
    std::string target = str(o, "target");
    if (scope == "check") {
      std::fprintf(stderr,
                   "steerdns failback: the override on check %s also reaches %s; clear it with "
                   "`steerdns override clear --check %s`\n",
                   target.c_str(), key.c_str(), target.c_str());
      continue;
    }
    json r;
    if (!request(what, a,
                 json{{"cmd", "override-clear"}, {"scope", scope == "record_set" ? "set" : scope},
                      {"target", target}, {"author", author}},
                 r)) {
      return 1;
    }
    done.push_back(json{{"cleared", o}});
  }
  json now_set;
  if (!find_failover_set(what, a, now_set)) {
    return 1;
  }
  if (now_set.value("awaiting_approval", false)) {
    json r;
    if (!request(what, a, json{{"cmd", "failback-approve"}, {"set", key}, {"author", author}},
                 r)) {
      return 1;
    }
    done.push_back(json{{"approved", r}});
  }
  if (a.json_out) {
    print_json(json{{"set", key}, {"done", done}});
    return 0;
  }
  if (done.empty()) {
    std::printf("%s: nothing to fail back (phase %s, tier %s, no overrides of its own)\n",
                key.c_str(), str(now_set, "phase").c_str(), str(now_set, "active_tier").c_str());
    return 0;
  }
  for (const auto& d : done) {
    if (d.contains("cleared")) {
      std::printf("cleared override on %s %s\n", str(d["cleared"], "scope").c_str(),
                  str(d["cleared"], "target").c_str());
    } else {
      std::printf("failback of %s approved by %s\n", key.c_str(), author.c_str());
    }
  }
  return 0;
}

void control_opts(CLI::App* c, Args& a) {
  c->add_option("--control", a.control,
                "Talk to the daemon's control socket at PATH instead of the API");
  cli::add_api_options(c, a.api);
  c->add_flag("--json", a.json_out, "Print the daemon's JSON reply");
}

void target_opts(CLI::App* c, Args& a) {
  c->add_option("--check", a.check, "A health check id: forces the check for every set using it");
  c->add_option("--member", a.member, "A member: SET#SET_ID, e.g. app.example.test/A#app-primary");
  c->add_option("--set", a.set, "A record set: NAME/TYPE (or NAME when it has one type)");
}

}  // namespace

std::function<int()> add_steering_commands(CLI::App& app) {
  auto a = std::make_shared<Args>();

  CLI::App* status = app.add_subcommand(
      "status",
      "The morning check of a running daemon: health checks, failover sets (phase, tiers, TTL, "
      "failback mode, flags, overrides), every steered name's answer, availability against its "
      "objective, open alerts, outbox and store, recent events. Exits 3 when anything needs "
      "attention, 1 when the daemon cannot be asked (--control: the failover sets only)");
  control_opts(status, *a);

  CLI::App* ov = app.add_subcommand(
      "override",
      "Force a check, member or record set up, down or draining, with a reason, an "
      "author and an expiry (set | clear | list)");
  ov->require_subcommand(1);
  CLI::App* ov_set = ov->add_subcommand(
      "set",
      "Set an override: exactly one of --check/--member/--set, and --action, --reason, "
      "--author, --expires");
  target_opts(ov_set, *a);
  ov_set
      ->add_option("--action", a->action,
                   "up (force healthy), down (force unhealthy: traffic moves away), drain "
                   "(member only: weight ramps to 0 over --drain)")
      ->required()
      ->check(CLI::IsMember({"up", "down", "drain"}));
  ov_set->add_option("--reason", a->reason, "Why (required; shown wherever the state is)")
      ->required();
  ov_set->add_option("--author", a->author, "Who sets it (required)")->required();
  ov_set
      ->add_option("--expires", a->expires,
                   "How long it lasts, e.g. 30m, 2h (required: overrides never last forever)")
      ->required();
  ov_set->add_option("--drain", a->drain, "With --action drain: how long the ramp to 0 takes");
  control_opts(ov_set, *a);
  CLI::App* ov_clear = ov->add_subcommand(
      "clear", "Remove an override before it expires: one of --check/--member/--set, --author");
  target_opts(ov_clear, *a);
  ov_clear->add_option("--author", a->author, "Who clears it (required)")->required();
  control_opts(ov_clear, *a);
  CLI::App* ov_list = ov->add_subcommand("list", "List the overrides in force");
  control_opts(ov_list, *a);

  CLI::App* fo = app.add_subcommand(
      "failover",
      "Move a failover set to a later tier or one member now: forces every member before it "
      "down with member overrides (undo: steerdns failback SET)");
  fo->add_option("set", a->steer_set, "The record set: NAME/TYPE, or NAME")->required();
  fo->add_option("--to", a->to,
                 "secondary (tier 2), tertiary, a tier number, or a member's set_id")
      ->required();
  fo->add_option("--reason", a->reason, "Why (required; shown wherever the state is)")
      ->required();
  fo->add_option("--expires", a->expires, "How long the overrides last, e.g. 30m (default 1h)");
  fo->add_option("--author", a->author, "Who does it (default: $USER)");
  control_opts(fo, *a);

  CLI::App* fb = app.add_subcommand(
      "failback",
      "Go back to the first healthy tier: `failback SET` clears the set's own overrides and "
      "approves a waiting manual failback; `failback approve SET` only approves");
  fb->require_subcommand(0, 1);
  fb->add_option("set", a->steer_set, "The record set: NAME/TYPE, or NAME");
  fb->add_option("--author", a->author, "Who does it (default: $USER)");
  control_opts(fb, *a);
  CLI::App* fb_approve = fb->add_subcommand(
      "approve", "Approve failing back a set held on a later tier (failback: manual)");
  fb_approve->add_option("set", a->approve_set, "The record set: NAME/TYPE, or NAME")->required();
  fb_approve->add_option("--author", a->author, "Who approves (required)")->required();
  control_opts(fb_approve, *a);

  CLI::App* events = app.add_subcommand(
      "events", "Show the last events: transitions, overrides, approvals, action results");
  events->add_option("--last", a->last, "How many (default 20; 0 = all)");
  control_opts(events, *a);

  CLI::App* explain = app.add_subcommand(
      "explain",
      "Explain the live answer for NAME TYPE: record set and policy, every member's health and "
      "its source, tier chosen, all-down handling, TTL and why, overrides");
  explain->add_option("name", a->name, "The owner name, e.g. app.example.test")->required();
  explain->add_option("type", a->type, "The record type, e.g. A")->required();
  auto* client = explain->add_option("--client", a->client,
                                     "Answer as for this client address (default: no client)");
  auto* ecs = explain->add_option("--ecs", a->ecs,
                                  "Answer as for this EDNS Client Subnet, e.g. 203.0.113.0/24");
  client->excludes(ecs);
  control_opts(explain, *a);

  CLI::App* simulate = app.add_subcommand(
      "simulate",
      "Show how every steered answer would change if these checks went down (what the "
      "orchestrator would decide, on a scratch copy); changes nothing");
  simulate->add_option("--down", a->down, "A health check id to treat as down (repeatable)")
      ->required();
  auto* sclient = simulate->add_option("--client", a->client, "Answer as for this client");
  auto* secs = simulate->add_option("--ecs", a->ecs, "Answer as for this EDNS Client Subnet");
  sclient->excludes(secs);
  simulate->add_option("--set", a->only_sets, "Show only record sets starting with this key");
  control_opts(simulate, *a);

  CLI::App* alerts = app.add_subcommand(
      "alerts", "Alerts: list the open ones (--all: every kept one), ack one, show the outbox");
  alerts->add_flag("--all", a->all, "Every alert kept, resolved ones too");
  cli::add_api_options(alerts, a->api);
  alerts->add_flag("--json", a->json_out, "Print the API's JSON reply");
  alerts->require_subcommand(0, 1);
  CLI::App* al_ack = alerts->add_subcommand(
      "ack", "Acknowledge an alert: no more repeats or escalation; PagerDuty is told");
  al_ack->add_option("id", a->alert_id, "The alert's id (steerdns alerts)")->required();
  al_ack->add_option("--reason", a->reason, "Who is on it and what is being done")->required();
  al_ack->add_option("--author", a->author, "Kept as a note beside the token's name");
  cli::add_api_options(al_ack, a->api);
  al_ack->add_flag("--json", a->json_out, "Print the API's JSON reply");
  CLI::App* al_outbox = alerts->add_subcommand(
      "outbox", "Notifications with their delivery status and history, newest first");
  al_outbox->add_option("--alert", a->alert_id, "Only this alert's notifications");
  al_outbox->add_option("--last", a->last, "How many (default 20)")->check(CLI::Range(1, 1000));
  cli::add_api_options(al_outbox, a->api);
  al_outbox->add_flag("--json", a->json_out, "Print the API's JSON reply");

  CLI::App* cluster = app.add_subcommand("cluster", "Fleet mode (docs/fleet.md)");
  cluster->require_subcommand(1);
  CLI::App* cl_status = cluster->add_subcommand(
      "status",
      "Nodes with their last contact, the store revision each serves and stale flags, etcd's "
      "members, and checks where a node's view differs from the consensus; exit 3 when a node "
      "is stale or gone or an etcd member is down");
  cli::add_api_options(cl_status, a->api);
  cl_status->add_flag("--json", a->json_out, "Print the API's JSON reply");

  return [=]() -> int {
    if (cl_status->parsed()) {
      return run_cluster_status(*a);
    }
    if (al_ack->parsed()) {
      return run_alerts_ack(*a);
    }
    if (al_outbox->parsed()) {
      return run_alerts_outbox(*a);
    }
    if (alerts->parsed()) {
      return run_alerts_list(*a);
    }
    if (status->parsed()) {
      return run_status(*a);
    }
    if (ov_set->parsed()) {
      return run_override_set(*a);
    }
    if (ov_clear->parsed()) {
      return run_override_clear(*a);
    }
    if (ov_list->parsed()) {
      return run_override_list(*a);
    }
    if (fb_approve->parsed()) {
      return run_approve(*a);
    }
    if (fo->parsed()) {
      return run_failover(*a);
    }
    if (fb->parsed()) {
      if (a->steer_set.empty()) {
        std::fprintf(stderr, "steerdns failback: give SET, or approve SET\n");
        return 2;
      }
      return run_failback(*a);
    }
    if (events->parsed()) {
      return run_events(*a);
    }
    if (explain->parsed()) {
      return run_explain(*a);
    }
    if (simulate->parsed()) {
      return run_simulate(*a);
    }
    return -1;
  };
}

}  // namespace steerdns::daemon
