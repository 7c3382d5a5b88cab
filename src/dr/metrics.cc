#include "dr/metrics.h"

#include <algorithm>
#include <string>

namespace steerdns::dr {

void collect_steering_metrics(const std::vector<SetStatus>& sets, Millis now_wall_ms,
                              obs::Families& out) {
  using prometheus::MetricType;
  // add_family() returns a reference into `out`: make room first so later ones cannot move it.
  out.reserve(out.size() + 4);
  auto& tier =
      obs::add_family(out, "steerdns_steering_active_tier",
                      "tier being answered (1 = primary) for failover sets", MetricType::Gauge);
  auto& member = obs::add_family(out, "steerdns_steering_member_active",
                                 "1 when the member is in the answer", MetricType::Gauge);
  auto& failovers = obs::add_family(out, "steerdns_steering_failovers_total",
                                    "failovers since start", MetricType::Counter);
  auto& since = obs::add_family(out, "steerdns_steering_state_seconds", "time in the current state",
                                MetricType::Gauge);
  for (const SetStatus& s : sets) {
    const obs::Labels set{{"record_set", s.key}};
    obs::add_gauge(tier, set, s.active_tier);
    const bool ramping = s.ramp_tier > 0 && s.ramp_share > 0;
    for (const auto& [set_id, t] : s.members) {
      const bool active = t == s.active_tier || (ramping && t == s.ramp_tier);
      obs::add_gauge(member, {{"record_set", s.key}, {"member", set_id}}, active ? 1 : 0);
    }
    obs::add_counter(failovers, set, static_cast<double>(s.failovers));
    obs::add_gauge(
        since, set,
        static_cast<double>(std::max<Millis>(0, now_wall_ms - s.since_wall_ms)) / 1000.0);
  }
}

void collect_steering_metrics(const Orchestrator& orch, Millis now_wall_ms, obs::Families& out) {
  collect_steering_metrics(orch.status(), now_wall_ms, out);
}

void collect_action_metrics(const ActionStats& stats, obs::Families& out) {
  auto& f = obs::add_family(out, "steerdns_action_runs_total",
                            "webhook/command actions run, by final result",
                            prometheus::MetricType::Counter);
  obs::add_counter(f, {{"result", "ok"}}, static_cast<double>(stats.ok));
  obs::add_counter(f, {{"result", "failed"}}, static_cast<double>(stats.failed));
  obs::add_counter(f, {{"result", "dropped"}}, static_cast<double>(stats.dropped));
}

}  // namespace steerdns::dr
