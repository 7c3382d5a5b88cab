// obs/metrics: per-thread counters and histograms, collectors, the text exposition.
#include "obs/metrics.h"

#include <gtest/gtest.h>

#include <thread>

namespace steerdns::obs {
namespace {

TEST(ObsHistogram, BucketsAreCumulativeInTheExposition) {
  Histogram h(dns_latency_bounds());
  h.observe(5e-6);    // first bucket (<= 10 us)
  h.observe(30e-6);   // <= 50 us
  h.observe(0.5);     // above every bound: +Inf only
  auto s = h.snapshot();
  EXPECT_EQ(s.count, 3u);
  EXPECT_NEAR(s.sum, 5e-6 + 30e-6 + 0.5, 1e-12);
  Families fams;
  add_histogram(add_family(fams, "t_seconds", "help", prometheus::MetricType::Histogram),
                {{"transport", "udp"}}, s);
  ASSERT_EQ(fams[0].metric.size(), 1u);
  const auto& b = fams[0].metric[0].histogram.bucket;
  ASSERT_EQ(b.size(), dns_latency_bounds().size() + 1);
  EXPECT_EQ(b[0].cumulative_count, 1u);      // 10 us
  EXPECT_EQ(b[1].cumulative_count, 1u);      // 25 us
  EXPECT_EQ(b[2].cumulative_count, 2u);      // 50 us
  EXPECT_EQ(b[b.size() - 2].cumulative_count, 2u);  // 100 ms
  EXPECT_EQ(b.back().cumulative_count, 3u);  // +Inf
  EXPECT_EQ(fams[0].metric[0].histogram.sample_count, 3u);
}

TEST(ObsHistogram, SnapshotsAdd) {
  Histogram a(probe_latency_bounds()), b(probe_latency_bounds());
  a.observe(0.002);
  b.observe(0.002);
  b.observe(40);
  Histogram::Snapshot sum;
  sum.add(a.snapshot());
  sum.add(b.snapshot());
  EXPECT_EQ(sum.count, 3u);
  EXPECT_EQ(sum.counts[1], 2u);  // <= 2.5 ms
  EXPECT_EQ(sum.counts.back(), 1u);
}

TEST(ObsCounter, OneWriterManyReaders) {
  Counter c;
  std::thread w([&] {
    for (int i = 0; i < 100000; ++i) {
      c.add();
    }
  });
  uint64_t last = 0;
  while (last < 100000) {
    uint64_t v = c.get();
    ASSERT_GE(v, last);  // never goes back
    last = v;
  }
  w.join();
  EXPECT_EQ(c.get(), 100000u);
}

TEST(ObsRegistry, CollectorsMergeByNameAndLeaveWithTheirHandle) {
  Registry r;
  auto one = r.add([](Families& f) {
    add_counter(add_family(f, "steerdns_x_total", "X.", prometheus::MetricType::Counter),
                {{"k", "a"}}, 1);
  });
  auto two = r.add([](Families& f) {
    add_counter(add_family(f, "steerdns_x_total", "X.", prometheus::MetricType::Counter),
                {{"k", "b"}}, 2);
    add_gauge(add_family(f, "steerdns_y", "Y.", prometheus::MetricType::Gauge), {}, 7);
  });
  std::string text = r.scrape();
  EXPECT_NE(text.find("# TYPE steerdns_x_total counter"), std::string::npos) << text;
  EXPECT_EQ(text.find("# TYPE steerdns_x_total counter"),
            text.rfind("# TYPE steerdns_x_total counter"))
      << "one family per name:\n"
      << text;
  EXPECT_NE(text.find("steerdns_x_total{k=\"a\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("steerdns_x_total{k=\"b\"} 2"), std::string::npos) << text;
  EXPECT_NE(text.find("steerdns_y 7"), std::string::npos) << text;
  two.reset();
  text = r.scrape();
  EXPECT_EQ(text.find("steerdns_y"), std::string::npos) << text;
  EXPECT_NE(text.find("steerdns_x_total{k=\"a\"} 1"), std::string::npos) << text;
}

TEST(ObsRegistry, LabelValuesAreEscaped) {
  Registry r;
  auto h = r.add([](Families& f) {
    add_gauge(add_family(f, "steerdns_z", "Z.", prometheus::MetricType::Gauge),
              {{"check", "a\"b\\c\nd"}}, 1);
  });
  EXPECT_NE(r.scrape().find(R"(steerdns_z{check="a\"b\\c\nd"} 1)"), std::string::npos)
      << r.scrape();
}

}  // namespace
}  // namespace steerdns::obs
