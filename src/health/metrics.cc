#include "health/metrics.h"

#include <string>
#include <utility>

namespace steerdns::health {

ProbeLatency::ProbeLatency()
    : connect(obs::probe_latency_bounds()),
      tls(obs::probe_latency_bounds()),
      first_byte(obs::probe_latency_bounds()),
      total(obs::probe_latency_bounds()) {}

void ProbeLatency::observe(const ProbeTimings& t) {
  auto put = [](obs::Histogram& h, double ms) {
    if (ms >= 0) {
      h.observe(ms / 1000.0);
    }
  };
  put(connect, t.connect_ms);
  put(tls, t.tls_ms);
  put(first_byte, t.first_byte_ms);
  put(total, t.total_ms);
}

namespace {

constexpr double kSecondsPerDay = 86'400;

}  // namespace

void collect_health_metrics(const EngineReport& report, obs::Families& out) {
  using prometheus::MetricType;
  // add_family() returns a reference into `out`: room for all ten first, so that adding the
  // later ones cannot move the earlier ones.
  out.reserve(out.size() + 10);
  auto& healthy =
      obs::add_family(out, "steerdns_health_check_healthy",
                      "1 healthy, 0 unhealthy; absent while unknown", MetricType::Gauge);
  auto& status =
      obs::add_family(out, "steerdns_health_check_status",
                      "1 for the check's current status, 0 for the others", MetricType::Gauge);
  auto& checker =
      obs::add_family(out, "steerdns_health_check_checker_healthy",
                      "each checker location's view of the check (1/0)", MetricType::Gauge);
  auto& succ = obs::add_family(out, "steerdns_health_check_consecutive_successes",
                               "consecutive successful probes (this checker)", MetricType::Gauge);
  auto& fail = obs::add_family(out, "steerdns_health_check_consecutive_failures",
                               "consecutive failed probes (this checker)", MetricType::Gauge);
  auto& transitions = obs::add_family(out, "steerdns_health_check_transitions_total",
                                      "status changes", MetricType::Counter);
  auto& probes = obs::add_family(out, "steerdns_health_check_probes_total",
                                 "probes, counted after inversion", MetricType::Counter);
  auto& latency = obs::add_family(out, "steerdns_health_probe_duration_seconds",
                                  "probe timings by phase", MetricType::Histogram);
  auto& cert = obs::add_family(out, "steerdns_health_check_certificate_expiry_seconds",
                               "time left on the endpoint's certificate (day resolution)",
                               MetricType::Gauge);
  auto& in_flight =
      obs::add_family(out, "steerdns_health_probes_in_flight", "probes running", MetricType::Gauge);

  static constexpr Status kStatuses[] = {Status::kHealthy, Status::kUnhealthy, Status::kUnknown};
  for (const CheckReport& c : report.checks) {
    const obs::Labels id{{"check", c.id}};
    const Status s = c.state.status;
    if (s != Status::kUnknown) {
      obs::add_gauge(healthy, id, s == Status::kHealthy ? 1 : 0);
    }
    for (Status each : kStatuses) {
      obs::add_gauge(status, {{"check", c.id}, {"status", status_name(each)}}, each == s ? 1 : 0);
    }
    for (const CheckerReport& k : c.checkers) {
      if (k.status != Status::kUnknown) {
        obs::add_gauge(checker, {{"check", c.id}, {"checker", k.checker}},
                       k.status == Status::kHealthy ? 1 : 0);
      }
    }
    obs::add_gauge(succ, id, c.state.consecutive_ok);
    obs::add_gauge(fail, id, c.state.consecutive_fail);
    obs::add_counter(transitions, id, static_cast<double>(c.transitions));
    obs::add_counter(probes, {{"check", c.id}, {"result", "ok"}}, static_cast<double>(c.probes_ok));
    obs::add_counter(probes, {{"check", c.id}, {"result", "failed"}},
                     static_cast<double>(c.probes_failed));
    if (c.latency) {
      const std::pair<const char*, const obs::Histogram*> phases[] = {
          {"connect", &c.latency->connect},
          {"tls", &c.latency->tls},
          {"first_byte", &c.latency->first_byte},
          {"total", &c.latency->total}};
      for (const auto& [phase, h] : phases) {
        obs::add_histogram(latency, {{"check", c.id}, {"phase", phase}}, h->snapshot());
      }
    }
    // -1 means no certificate seen; a certificate expired a day ago also reads -1 (whole days),
    // which only hides it for that one day (the probe itself fails then).
    if (c.state.cert_days_left != -1) {
      obs::add_gauge(cert, id, c.state.cert_days_left * kSecondsPerDay);
    }
  }
  obs::add_gauge(in_flight, {}, static_cast<double>(report.probes_in_flight));
}

void collect_health_metrics(const Engine& engine, obs::Families& out) {
  collect_health_metrics(engine.report(), out);
}

}  // namespace steerdns::health
