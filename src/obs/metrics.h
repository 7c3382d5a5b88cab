#pragma once
// Metrics: per-thread counters and histograms written without locked instructions (one writer
// each, relaxed stores), summed only when Prometheus scrapes /metrics. Every subsystem that
// has figures registers a collector; a scrape calls each and serializes the families with
// prometheus-cpp's text serializer (exposition format 0.0.4). Nothing here runs on the query
// path except Counter::add and Histogram::observe.
//
// Names follow Prometheus conventions: `steerdns_` prefix, base units (seconds, bytes),
// `_total` for counters; the list with their labels is in docs/metrics.md.
#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <prometheus/metric_family.h>

namespace steerdns::obs {

// A monotonically increasing count with exactly one writing thread: a relaxed load and store
// (no lock prefix), read by anyone.
class Counter {
 public:
  void add(uint64_t n = 1) {
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  uint64_t get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

// Fixed upper bounds (seconds, ascending; +Inf implied), one writing thread.
class Histogram {
 public:
  explicit Histogram(std::span<const double> bounds);
  void observe(double v) { observe(v, 1); }
  void observe(double v, uint64_t n);  // n samples of the same value (a batch of responses)
  struct Snapshot {
    std::vector<double> bounds;
    std::vector<uint64_t> counts;  // per bucket, not cumulative; counts.size() == bounds.size()+1
    double sum = 0;
    uint64_t count = 0;
    void add(const Snapshot& o);  // same bounds
  };
  Snapshot snapshot() const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;
  std::atomic<double> sum_{0};
};

// Bucket bounds in seconds used across steerdns.
// DNS responses: 10 us .. 100 ms; probes: 1 ms .. 30 s.
std::span<const double> dns_latency_bounds();
std::span<const double> probe_latency_bounds();

using Labels = std::vector<std::pair<std::string, std::string>>;
using Families = std::vector<prometheus::MetricFamily>;

// Building families at scrape time. add_family returns a reference into `out`: the next
// add_family may move it, so fill one family before adding the next (or reserve first).
prometheus::MetricFamily& add_family(Families& out, std::string name, std::string help,
                                     prometheus::MetricType type);
void add_counter(prometheus::MetricFamily& f, const Labels& labels, double value);
void add_gauge(prometheus::MetricFamily& f, const Labels& labels, double value);
void add_histogram(prometheus::MetricFamily& f, const Labels& labels, const Histogram::Snapshot& h);

// The process-wide set of collectors. add() returns a handle; dropping it removes the collector
// and waits for a scrape that is running it, so a collector may refer to objects that die
// right after its handle (a subsystem that stops takes its figures with it). Collectors run on
// the scraping thread, one scrape at a time, in the order they were added; they must be quick
// and must not call back into the registry.
class Registry {
 public:
  using Collector = std::function<void(Families&)>;
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;
  [[nodiscard]] std::shared_ptr<void> add(Collector c);
  Families collect() const;
  std::string scrape() const;  // text exposition format 0.0.4

 private:
  mutable std::mutex mu_;  // held for a whole collection
  uint64_t next_id_ = 0;
  std::vector<std::pair<uint64_t, Collector>> entries_;
};

// Content-Type of scrape().
inline constexpr std::string_view kTextContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace steerdns::obs
