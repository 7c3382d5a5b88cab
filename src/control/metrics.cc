#include "control/metrics.h"

namespace steerdns::control {

void collect_control_metrics(const Plane::Stats& stats, int64_t served_revision,
                             obs::Families& out) {
  using prometheus::MetricType;
  {
    auto& f = obs::add_family(out, "steerdns_change_batches_total", "change batches",
                              MetricType::Counter);
    obs::add_counter(f, {{"result", "committed"}}, static_cast<double>(stats.batches));
    obs::add_counter(f, {{"result", "rejected"}}, static_cast<double>(stats.rejected));
  }
  {
    auto& f = obs::add_family(out, "steerdns_change_groups_total",
                              "store transactions (group commits)", MetricType::Counter);
    obs::add_counter(f, {}, static_cast<double>(stats.groups));
  }
  {
    auto& f = obs::add_family(out, "steerdns_catalog_revision", "catalog revision served",
                              MetricType::Gauge);
    obs::add_gauge(f, {}, static_cast<double>(served_revision));
  }
}

void collect_control_metrics(const Plane& plane, obs::Families& out) {
  collect_control_metrics(plane.stats(), plane.served_revision(), out);
}

}  // namespace steerdns::control
