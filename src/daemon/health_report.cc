#include "daemon/health_report.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "health/tracker.h"

namespace steerdns::daemon {
namespace {

using nlohmann::json;

json ms_or_null(double v) { return v < 0 ? json(nullptr) : json(v); }
json int_or_null(int64_t v, int64_t none) { return v == none ? json(nullptr) : json(v); }
json str_or_null(const std::string& s) { return s.empty() ? json(nullptr) : json(s); }

std::string age_text(Millis ms) {
  if (ms < 0) {
    ms = 0;
  }
  int64_t s = ms / 1000;
  if (s < 60) {
    return fmt::format("{}s", s);
  }
  if (s < 3600) {
    return fmt::format("{}m{:02}s", s / 60, s % 60);
  }
  if (s < 86400) {
    return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
  }
  return fmt::format("{}d{:02}h", s / 86400, (s % 86400) / 3600);
}

std::string text_or(const json& v, const std::string& none) {
  if (v.is_string()) {
    return v.get<std::string>();
  }
  if (v.is_number_integer()) {
    return std::to_string(v.get<int64_t>());
  }
  return none;
}

// Keeps the table one line per check: long reasons are cut, line breaks flattened.
std::string cell(std::string s, size_t max) {
  std::replace_if(
      s.begin(), s.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  if (s.size() > max) {
    s = s.substr(0, max - 3) + "...";
  }
  return s;
}

}  // namespace

json health_report_json(const health::EngineReport& r, const std::string& state_file) {
  json out = {
      {"checker_id", r.checker_id},
      {"state_file", str_or_null(state_file)},
      {"state_warning", str_or_null(r.state_warning)},
      {"view_version", r.view_version},
      {"probes_in_flight", r.probes_in_flight},
      {"probes_waiting", r.probes_waiting},
      {"probes_started", r.probes_started},
      {"observations", r.observations},
  };
  json checks = json::array();
  for (const auto& c : r.checks) {
    json recent = json::array();
    for (const auto& o : c.recent) {
      recent.push_back({
          {"checker", o.checker},
          {"time_ms", o.wall_ms},
          {"ok", o.ok},
          {"counted_ok", o.counted_ok},
          {"reason", o.reason},
          {"probes", o.probes},  // 2: a confirmation pair decided it
          {"split", o.split},    // the pair disagreed; the result agreeing with the status won
          {"http_status", int_or_null(o.http_status, 0)},
          {"timings",
           {{"dns_ms", ms_or_null(o.timings.dns_ms)},
            {"connect_ms", ms_or_null(o.timings.connect_ms)},
            {"tls_ms", ms_or_null(o.timings.tls_ms)},
            {"first_byte_ms", ms_or_null(o.timings.first_byte_ms)},
            {"total_ms", ms_or_null(o.timings.total_ms)}}},
      });
    }
    json checkers = json::array();
    for (const auto& v : c.checkers) {
      checkers.push_back({
          {"checker", v.checker},
          {"status", health::status_name(v.status)},
          {"consecutive_ok", v.consecutive_ok},
          {"consecutive_fail", v.consecutive_fail},
          {"last_ms", int_or_null(v.last_wall_ms, 0)},
          {"last_reason", str_or_null(v.last_reason)},
          {"counted", v.counted},
          {"peer", v.peer},
      });
    }
    checks.push_back({
        {"id", c.id},
        {"kind", health::kind_name(c.kind)},
        {"status", health::status_name(c.state.status)},
        {"source", health::source_name(c.state.source)},
        {"since_ms", c.state.since_wall_ms},
        {"inverted", c.inverted},
        {"disabled", c.disabled},
        {"aggregation", health::aggregation_name(c.aggregation)},
        {"consecutive_ok", c.state.consecutive_ok},
        {"consecutive_fail", c.state.consecutive_fail},
        {"last_failure_reason", str_or_null(c.state.last_failure_reason)},
        {"cert_days_left", int_or_null(c.state.cert_days_left, -1)},
        {"last_rtt_ms", ms_or_null(c.state.last_rtt_ms)},
        {"transitions", c.transitions},
        {"probes_ok", c.probes_ok},
        {"probes_failed", c.probes_failed},
        {"last_observation_ms", int_or_null(c.last_observation_wall_ms, 0)},
        {"next_probe_in_ms", int_or_null(c.next_probe_in_ms, -1)},
        {"recent", std::move(recent)},
        {"checkers", std::move(checkers)},
    });
  }
  out["checks"] = std::move(checks);
  return out;
}

Result<json> filter_health_report(const json& report, const std::vector<std::string>& ids) {
  if (ids.empty()) {
    return report;
  }
  std::set<std::string> want(ids.begin(), ids.end());
  json out = report;
  json kept = json::array();
  for (const auto& c : report.value("checks", json::array())) {
    std::string id = c.value("id", "");
    if (want.erase(id) > 0) {
      kept.push_back(c);
    }
  }
  if (!want.empty()) {
    std::string names;
    for (const auto& w : want) {
      names += (names.empty() ? "'" : ", '") + w + "'";
    }
    return Error{"no such health check: " + names};
  }
  out["checks"] = std::move(kept);
  return out;
}

std::string health_table(const json& report, Millis now_wall_ms) {
  const json checks = report.value("checks", json::array());
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"ID", "KIND", "STATUS", "SOURCE", "SINCE", "PROBES OK/FAIL", "STREAK",
                  "LAST FAILURE", "CERT DAYS", "CHECKERS"});
  int healthy = 0;
  int unhealthy = 0;
  for (const auto& c : checks) {
    std::string status = c.value("status", "?");
    healthy += status == "healthy";
    unhealthy += status == "unhealthy";
    std::string kind = c.value("kind", "?");
    if (c.value("inverted", false)) {
      kind += " inverted";
    }
    if (c.value("disabled", false)) {
      kind += " disabled";
    }
    int ok = c.value("consecutive_ok", 0);
    int fail = c.value("consecutive_fail", 0);
    std::string streak = ok > 0     ? fmt::format("{} ok", ok)
                         : fail > 0 ? fmt::format("{} fail", fail)
                                    : "-";
    std::string views;
    for (const auto& v : c.value("checkers", json::array())) {
      views += fmt::format("{}{}={}{}", views.empty() ? "" : ", ", v.value("checker", "?"),
                           v.value("status", "?"), v.value("counted", true) ? "" : " (stale)");
    }
    rows.push_back({
        c.value("id", "?"),
        kind,
        status,
        c.value("source", "?"),
        age_text(now_wall_ms - c.value("since_ms", now_wall_ms)) + " ago",
        fmt::format("{}/{}", c.value("probes_ok", 0), c.value("probes_failed", 0)),
        streak,
        cell(text_or(c.value("last_failure_reason", json(nullptr)), "-"), 48),
        text_or(c.value("cert_days_left", json(nullptr)), "-"),
        views.empty() ? "-" : views,
    });
  }
  std::vector<size_t> width(rows.front().size(), 0);
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size(); ++i) {
      width[i] = std::max(width[i], r[i].size());
    }
  }
  std::string out =
      fmt::format("checker {}: {} checks, {} healthy, {} unhealthy, {} unknown; state file {}\n",
                  report.value("checker_id", "?"), checks.size(), healthy, unhealthy,
                  static_cast<int>(checks.size()) - healthy - unhealthy,
                  text_or(report.value("state_file", json(nullptr)), "none"));
  if (std::string w = text_or(report.value("state_warning", json(nullptr)), ""); !w.empty()) {
    out += "warning: " + w + "\n";
  }
  for (const auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      line += i + 1 == r.size() ? r[i] : fmt::format("{:<{}}  ", r[i], width[i]);
    }
    while (!line.empty() && line.back() == ' ') {
      line.pop_back();
    }
    out += line + "\n";
  }
  return out;
}

}  // namespace steerdns::daemon
