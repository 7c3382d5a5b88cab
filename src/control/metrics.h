#pragma once
// The control plane's figures for /metrics (docs/metrics.md, "Control plane and API"), read
// at scrape time from what the plane counts anyway.
#include <cstdint>

#include "control/plane.h"
#include "obs/metrics.h"

namespace steerdns::control {

// steerdns_change_batches_total{result=committed|rejected}, steerdns_change_groups_total,
// steerdns_catalog_revision. Pure: any thread.
void collect_control_metrics(const Plane::Stats& stats, int64_t served_revision,
                             obs::Families& out);
// The same from plane.stats() and plane.served_revision(): each takes the plane's mutex only
// to copy a few numbers (it is never held across a compile, a commit or a publish).
void collect_control_metrics(const Plane& plane, obs::Families& out);

}  // namespace steerdns::control
