#pragma once
// Steering and action figures for /metrics (docs/metrics.md, "Steering" and
// "steerdns_action_runs_total"), built at scrape time from what the orchestrator and the
// action runner keep anyway.
#include <vector>

#include "core/clock.h"
#include "dr/actions.h"
#include "dr/orchestrator.h"
#include "obs/metrics.h"

namespace steerdns::dr {

// steerdns_steering_{active_tier,member_active,failovers_total,state_seconds} per failover
// record set. `now_wall_ms`: the clock the orchestrator runs on (state time = now - since).
// active_tier is the tier number as configured (1 = primary). A member is active when it is in
// the orchestrator's answer: its tier is the active tier, or the tier a gradual failback is
// ramping to while its share is above 0. Pure: any thread.
void collect_steering_metrics(const std::vector<SetStatus>& sets, Millis now_wall_ms,
                              obs::Families& out);
// The same from orch.status(): takes only the orchestrator's own mutex, for microseconds (it
// never waits on I/O), so a scrape may call it from any thread.
void collect_steering_metrics(const Orchestrator& orch, Millis now_wall_ms, obs::Families& out);

// steerdns_action_runs_total{result=ok|failed|dropped}. Any thread.
void collect_action_metrics(const ActionStats& stats, obs::Families& out);

}  // namespace steerdns::dr
