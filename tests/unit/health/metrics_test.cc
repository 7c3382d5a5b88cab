// Health metrics: the families built from a real engine (fake prober, simulated time), their
// names, labels and values, the probe-latency histograms (right bucket, kept across
// reconfiguration, dropped with the check) and the text a scrape serves.
#include "health/metrics.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine_sim.h"
#include "testlib/metrics_samples.h"
#include "obs/metrics.h"

namespace steerdns::health::testing {
namespace {

using steerdns::testing::find_sample;
using steerdns::testing::sample_value;


// Cumulative count of the histogram bucket with upper bound `le`.
uint64_t bucket(const prometheus::ClientMetric& m, double le) {
  for (const auto& b : m.histogram.bucket) {
    if (b.upper_bound == le) {
      return b.cumulative_count;
    }
  }
  ADD_FAILURE() << "no bucket le=" << le;
  return 0;
}

obs::Families collect(const Engine& e) {
  obs::Families out;
  collect_health_metrics(e, out);
  return out;
}

CheckSpec https_check(const std::string& id) {
  CheckSpec s = http_check(id);
  s.kind = Kind::kHttps;
  s.http.port = 443;
  return s;
}

TEST(HealthMetrics, StatusCountersLatencyAndCertificate) {
  Sim sim;
  sim.prober.latency_ms = 40;  // the fake prober reports this as the total time
  sim.prober.respond = [](const CheckSpec& s) {
    ProbeResult r;
    r.ok = true;
    r.reason = "ok";
    r.timings.connect_ms = 3;
    if (s.kind == Kind::kHttps) {
      r.timings.tls_ms = 8;
      r.cert_days_left = 30;
    }
    r.timings.first_byte_ms = 20;
    return r;
  };
  ASSERT_TRUE(sim.engine.configure({https_check("web"), http_check("plain", "192.0.2.2")}));
  sim.run_for(1'500);  // first round (within a second) and its results
  ASSERT_EQ(sim.status("web"), Status::kHealthy);

  auto f = collect(sim.engine);
  const obs::Labels web{{"check", "web"}};
  auto* healthy = find_sample(f, "steerdns_health_check_healthy", web);
  ASSERT_NE(healthy, nullptr);
  EXPECT_EQ(healthy->gauge.value, 1);
  for (const char* s : {"healthy", "unhealthy", "unknown"}) {
    auto* m = find_sample(f, "steerdns_health_check_status", {{"check", "web"}, {"status", s}});
    ASSERT_NE(m, nullptr) << s;
    EXPECT_EQ(m->gauge.value, std::string(s) == "healthy" ? 1 : 0) << s;
  }
  auto* checker =
      find_sample(f, "steerdns_health_check_checker_healthy", {{"check", "web"}, {"checker", "local"}});
  ASSERT_NE(checker, nullptr);
  EXPECT_EQ(checker->gauge.value, 1);

  auto report = sim.engine.report();
  const CheckReport& wr = report.checks[0];
  ASSERT_GE(wr.probes_ok, 1u);
  auto* ok = find_sample(f, "steerdns_health_check_probes_total", {{"check", "web"}, {"result", "ok"}});
  ASSERT_NE(ok, nullptr);
  EXPECT_EQ(ok->counter.value, static_cast<double>(wr.probes_ok));
  auto* failed =
      find_sample(f, "steerdns_health_check_probes_total", {{"check", "web"}, {"result", "failed"}});
  ASSERT_NE(failed, nullptr);
  EXPECT_EQ(failed->counter.value, 0);
  auto* succ = find_sample(f, "steerdns_health_check_consecutive_successes", web);
  ASSERT_NE(succ, nullptr);
  EXPECT_EQ(succ->gauge.value, wr.state.consecutive_ok);
  ASSERT_NE(find_sample(f, "steerdns_health_check_consecutive_failures", web), nullptr);
  auto* tr = find_sample(f, "steerdns_health_check_transitions_total", web);
  ASSERT_NE(tr, nullptr);
  EXPECT_EQ(tr->counter.value, static_cast<double>(wr.transitions));
  ASSERT_NE(find_sample(f, "steerdns_health_probes_in_flight", {}), nullptr);

  // connect 3 ms: above the 2.5 ms bound, within 5 ms.
  auto* connect =
      find_sample(f, "steerdns_health_probe_duration_seconds", {{"check", "web"}, {"phase", "connect"}});
  ASSERT_NE(connect, nullptr);
  const uint64_t n = wr.probes_ok;
  EXPECT_EQ(connect->histogram.sample_count, n);
  EXPECT_EQ(bucket(*connect, 2.5e-3), 0u);
  EXPECT_EQ(bucket(*connect, 5e-3), n);
  EXPECT_NEAR(connect->histogram.sample_sum, 0.003 * static_cast<double>(n), 1e-9);
  auto* total =
      find_sample(f, "steerdns_health_probe_duration_seconds", {{"check", "web"}, {"phase", "total"}});
  ASSERT_NE(total, nullptr);
  EXPECT_EQ(bucket(*total, 25e-3), 0u);
  EXPECT_EQ(bucket(*total, 50e-3), n);
  // The plain HTTP check had no TLS phase: its tls histogram stays empty.
  auto* plain_tls =
      find_sample(f, "steerdns_health_probe_duration_seconds", {{"check", "plain"}, {"phase", "tls"}});
  ASSERT_NE(plain_tls, nullptr);
  EXPECT_EQ(plain_tls->histogram.sample_count, 0u);
  auto* plain_fb = find_sample(f, "steerdns_health_probe_duration_seconds",
                        {{"check", "plain"}, {"phase", "first_byte"}});
  ASSERT_NE(plain_fb, nullptr);
  EXPECT_GE(plain_fb->histogram.sample_count, 1u);

  // Certificate: days -> seconds; absent for the check that never saw one.
  auto* cert = find_sample(f, "steerdns_health_check_certificate_expiry_seconds", web);
  ASSERT_NE(cert, nullptr);
  EXPECT_EQ(cert->gauge.value, 30.0 * 86'400);
  EXPECT_EQ(find_sample(f, "steerdns_health_check_certificate_expiry_seconds", {{"check", "plain"}}),
            nullptr);
}

TEST(HealthMetrics, UnknownHasNoHealthyGaugeAndFailuresCount) {
  Sim sim;
  sim.prober.respond = [](const CheckSpec&) {
    ProbeResult r;
    r.ok = false;
    r.reason = "connection refused";
    return r;
  };
  CheckSpec s = http_check("down");
  ASSERT_TRUE(sim.engine.configure({s}));
  auto before = collect(sim.engine);  // not probed yet
  EXPECT_EQ(find_sample(before, "steerdns_health_check_healthy", {{"check", "down"}}), nullptr);
  auto* unknown =
      find_sample(before, "steerdns_health_check_status", {{"check", "down"}, {"status", "unknown"}});
  ASSERT_NE(unknown, nullptr);
  EXPECT_EQ(unknown->gauge.value, 1);
  // No probe result yet: no latency series.
  EXPECT_EQ(find_sample(before, "steerdns_health_probe_duration_seconds",
                 {{"check", "down"}, {"phase", "total"}}),
            nullptr);

  sim.run_for(10'000);
  ASSERT_EQ(sim.status("down"), Status::kUnhealthy);
  auto f = collect(sim.engine);
  auto* healthy = find_sample(f, "steerdns_health_check_healthy", {{"check", "down"}});
  ASSERT_NE(healthy, nullptr);
  EXPECT_EQ(healthy->gauge.value, 0);
  auto* failed =
      find_sample(f, "steerdns_health_check_probes_total", {{"check", "down"}, {"result", "failed"}});
  ASSERT_NE(failed, nullptr);
  EXPECT_GE(failed->counter.value, 3);
  auto* fails = find_sample(f, "steerdns_health_check_consecutive_failures", {{"check", "down"}});
  ASSERT_NE(fails, nullptr);
  EXPECT_EQ(fails->gauge.value, failed->counter.value);
}

TEST(HealthMetrics, LatencyKeptAcrossReconfigurationAndDroppedWithTheCheck) {
  Sim sim;
  sim.prober.latency_ms = 7;
  ASSERT_TRUE(sim.engine.configure({http_check("a")}));
  sim.run_for(1'500);
  auto count_a = [&]() -> uint64_t {
    auto f = collect(sim.engine);
    auto* m =
        find_sample(f, "steerdns_health_probe_duration_seconds", {{"check", "a"}, {"phase", "total"}});
    return m == nullptr ? 0 : m->histogram.sample_count;
  };
  uint64_t before = count_a();
  ASSERT_GE(before, 1u);
  // Another check added, and "a" pointed elsewhere: its id, and so its series, stays.
  ASSERT_TRUE(sim.engine.configure({http_check("a", "192.0.2.9"), http_check("b", "192.0.2.3")}));
  EXPECT_EQ(count_a(), before);
  sim.run_for(1'500);
  EXPECT_GT(count_a(), before);
  // Removed: its series go.
  ASSERT_TRUE(sim.engine.configure({http_check("b", "192.0.2.3")}));
  auto f = collect(sim.engine);
  EXPECT_EQ(find_sample(f, "steerdns_health_probe_duration_seconds", {{"check", "a"}, {"phase", "total"}}),
            nullptr);
  EXPECT_EQ(find_sample(f, "steerdns_health_check_status", {{"check", "a"}, {"status", "unknown"}}),
            nullptr);
  EXPECT_NE(find_sample(f, "steerdns_health_probe_duration_seconds", {{"check", "b"}, {"phase", "total"}}),
            nullptr);
}

TEST(HealthMetrics, ScrapeText) {
  Sim sim;
  ASSERT_TRUE(sim.engine.configure({http_check("web")}));
  sim.run_for(1'500);
  obs::Registry reg;
  auto handle = reg.add([&](obs::Families& out) { collect_health_metrics(sim.engine, out); });
  std::string text = reg.scrape();
  EXPECT_NE(text.find("# TYPE steerdns_health_check_healthy gauge"), std::string::npos) << text;
  EXPECT_NE(text.find("steerdns_health_check_healthy{check=\"web\"} 1"), std::string::npos);
  EXPECT_NE(text.find("# TYPE steerdns_health_probe_duration_seconds histogram"),
            std::string::npos);
  EXPECT_NE(
      text.find("steerdns_health_probe_duration_seconds_count{check=\"web\",phase=\"total\"}"),
      std::string::npos);
  EXPECT_NE(text.find("steerdns_health_check_probes_total{check=\"web\",result=\"ok\"}"),
            std::string::npos);
}

}  // namespace
}  // namespace steerdns::health::testing
