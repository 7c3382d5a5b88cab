#pragma once
// The health engine's figures for /metrics (docs/metrics.md, "Health checks"), built at scrape
// time from Engine::report(): the engine keeps its counters and probe-latency histograms
// anyway, so nothing is counted twice and the probe path does no extra work for metrics.
#include "health/engine.h"
#include "obs/metrics.h"

namespace steerdns::health {

// Appends the steerdns_health_* families for `report` to `out`. Pure: any thread.
// The certificate gauge has day resolution (the probe reports whole days left); it is absent
// for checks that never saw a certificate.
void collect_health_metrics(const EngineReport& report, obs::Families& out);

// Convenience for the daemon's collector: engine.report() (takes the engine's mutex briefly,
// never waits on a probe) then the above.
void collect_health_metrics(const Engine& engine, obs::Families& out);

}  // namespace steerdns::health
