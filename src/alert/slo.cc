#include "alert/slo.h"

#include <algorithm>

namespace steerdns::alert {

using nlohmann::json;

namespace {
constexpr size_t kMaxSegments = 20'000;  // per name: ~one a minute for two weeks of flapping
struct Window {
  const char* label;
  int64_t ms;
};
constexpr Window kWindows[] = {{"1h", 3'600'000}, {"1d", 86'400'000}, {"30d", 30LL * 86'400'000}};
}  // namespace

void SloTracker::observe(const std::map<std::string, bool>& healthy, int64_t now_ms) {
  for (auto& [name, s] : series_) {
    s.current = false;
  }
  for (const auto& [name, h] : healthy) {
    Series& s = series_[name];
    s.current = true;
    if (!s.segs.empty()) {
      Segment& last = s.segs.back();
      if (now_ms < last.end) {
        continue;  // the wall clock stepped back: wait for it rather than count time twice
      }
      if (now_ms - last.end <= kMaxGapMs) {
        if (last.healthy == h) {
          last.end = now_ms;
        } else {
          // The state changed somewhere in between: count the interval as the new state
          // (pessimistic for a failure, which is what an SLO should be).
          s.segs.push_back({last.end, now_ms, h});
        }
        continue;
      }
    }
    s.segs.push_back({now_ms, now_ms, h});
  }
  // Forget what no window can see any more.
  for (auto it = series_.begin(); it != series_.end();) {
    auto& segs = it->second.segs;
    auto keep = std::find_if(segs.begin(), segs.end(),
                             [&](const Segment& g) { return g.end >= now_ms - kKeepMs; });
    segs.erase(segs.begin(), keep);
    if (segs.size() > kMaxSegments) {
      segs.erase(segs.begin(), segs.end() - kMaxSegments);
    }
    it = segs.empty() ? series_.erase(it) : std::next(it);
  }
}

void SloTracker::measure(const std::vector<Segment>& segs, int64_t from, int64_t to,
                         int64_t& observed, int64_t& unhealthy) {
  observed = 0;
  unhealthy = 0;
  for (const auto& g : segs) {
    int64_t lo = std::max(g.start, from);
    int64_t hi = std::min(g.end, to);
    if (hi > lo) {
      observed += hi - lo;
      if (!g.healthy) {
        unhealthy += hi - lo;
      }
    }
  }
}

std::vector<SloNameReport> SloTracker::report(const SloSpec& spec, int64_t now_ms) const {
  std::vector<SloNameReport> out;
  for (const auto& [name, s] : series_) {
    if (!s.current) {
      continue;
    }
    const SloObjective& o = spec.for_name(name);
    SloNameReport r;
    r.name = name;
    r.objective = o.objective;
    r.alert_below = o.alert_below;
    r.alert_window_ms = o.alert_window_ms;
    r.healthy_now = s.segs.back().healthy;
    double budget = 1.0 - o.objective / 100.0;
    for (const auto& w : kWindows) {
      SloWindowReport wr;
      wr.label = w.label;
      wr.length_ms = w.ms;
      measure(s.segs, now_ms - w.ms, now_ms, wr.observed_ms, wr.unhealthy_ms);
      if (wr.observed_ms > 0) {
        wr.availability = 1.0 - static_cast<double>(wr.unhealthy_ms) / wr.observed_ms;
      }
      wr.budget_left = 1.0 - (1.0 - wr.availability) / budget;
      r.windows.push_back(wr);
    }
    int64_t obs = 0;
    int64_t bad = 0;
    measure(s.segs, now_ms - o.alert_window_ms, now_ms, obs, bad);
    r.alert_availability = obs > 0 ? 1.0 - static_cast<double>(bad) / obs : 1.0;
    out.push_back(std::move(r));
  }
  return out;
}

json SloTracker::to_json() const {
  json names = json::object();
  for (const auto& [name, s] : series_) {
    json segs = json::array();
    for (const auto& g : s.segs) {
      segs.push_back(json::array({g.start, g.end, g.healthy ? 1 : 0}));
    }
    names[name] = std::move(segs);
  }
  return json{{"version", 1}, {"names", std::move(names)}};
}

Status SloTracker::from_json(const json& j) {
  series_.clear();
  if (!j.is_object() || j.value("version", 0) != 1 || !j.contains("names") ||
      !j["names"].is_object()) {
    return Error{"slo state: not a version 1 document"};
  }
  std::map<std::string, Series> out;
  for (const auto& [name, segs] : j["names"].items()) {
    if (!segs.is_array()) {
      return Error{"slo state: " + name + ": segments must be a list"};
    }
    Series s;
    for (const auto& g : segs) {
      if (!g.is_array() || g.size() != 3 || !g[0].is_number_integer() ||
          !g[1].is_number_integer() || !g[2].is_number_integer() ||
          g[1].get<int64_t>() < g[0].get<int64_t>()) {
        return Error{"slo state: " + name + ": a segment is not [start, end, healthy]"};
      }
      s.segs.push_back({g[0].get<int64_t>(), g[1].get<int64_t>(), g[2].get<int>() != 0});
    }
    if (!s.segs.empty()) {
      out[name] = std::move(s);
    }
  }
  series_ = std::move(out);
  return OkStatus();
}

}  // namespace steerdns::alert
