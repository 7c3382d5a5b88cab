#include "obs/metrics.h"

#include <prometheus/text_serializer.h>

#include <algorithm>
#include <limits>
#include <sstream>

namespace steerdns::obs {

Histogram::Histogram(std::span<const double> bounds)
    : bounds_(bounds.begin(), bounds.end()),
      counts_(std::make_unique<std::atomic<uint64_t>[]>(bounds.size() + 1)) {
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    counts_[i].store(0, std::memory_order_relaxed);
  }
}

void Histogram::observe(double v, uint64_t n) {
  // Bounds are few (a dozen or two): a linear scan beats a binary search here.
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) {
    ++i;
  }
  auto& c = counts_[i];
  c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  sum_.store(sum_.load(std::memory_order_relaxed) + v * static_cast<double>(n),
             std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.bounds = bounds_;
  s.counts.resize(bounds_.size() + 1);
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    s.counts[i] = counts_[i].load(std::memory_order_relaxed);
  }
  s.sum = sum_.load(std::memory_order_relaxed);
  // The bucket counts, read one by one, are the consistent total Prometheus needs
  // (count == the +Inf bucket), even while the writer moves on.
  s.count = 0;
  for (uint64_t c : s.counts) {
    s.count += c;
  }
  return s;
}

void Histogram::Snapshot::add(const Snapshot& o) {
  if (bounds.empty() && counts.empty()) {
    *this = o;
    return;
  }
  for (size_t i = 0; i < counts.size() && i < o.counts.size(); ++i) {
    counts[i] += o.counts[i];
  }
  sum += o.sum;
  count += o.count;
}

std::span<const double> dns_latency_bounds() {
  static const double kBounds[] = {10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6,
                                   1e-3,  2.5e-3, 5e-3, 10e-3,  25e-3,  100e-3};
  return kBounds;
}

std::span<const double> probe_latency_bounds() {
  static const double kBounds[] = {1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3,
                                   250e-3, 500e-3, 1,    2.5,    5,     10,    30};
  return kBounds;
}

prometheus::MetricFamily& add_family(Families& out, std::string name, std::string help,
                                     prometheus::MetricType type) {
  prometheus::MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  out.push_back(std::move(f));
  return out.back();
}

namespace {

prometheus::ClientMetric& add_metric(prometheus::MetricFamily& f, const Labels& labels) {
  prometheus::ClientMetric m;
  for (const auto& [k, v] : labels) {
    m.label.push_back({k, v});
  }
  f.metric.push_back(std::move(m));
  return f.metric.back();
}

}  // namespace

void add_counter(prometheus::MetricFamily& f, const Labels& labels, double value) {
  add_metric(f, labels).counter.value = value;
}

void add_gauge(prometheus::MetricFamily& f, const Labels& labels, double value) {
  add_metric(f, labels).gauge.value = value;
}

void add_histogram(prometheus::MetricFamily& f, const Labels& labels,
                   const Histogram::Snapshot& h) {
  auto& m = add_metric(f, labels);
  uint64_t cumulative = 0;
  for (size_t i = 0; i < h.bounds.size(); ++i) {
    cumulative += h.counts[i];
    m.histogram.bucket.push_back({cumulative, h.bounds[i]});
  }
  cumulative += h.counts.empty() ? 0 : h.counts.back();
  m.histogram.bucket.push_back({cumulative, std::numeric_limits<double>::infinity()});
  m.histogram.sample_count = cumulative;
  m.histogram.sample_sum = h.sum;
}

std::shared_ptr<void> Registry::add(Collector c) {
  std::lock_guard lk(mu_);
  const uint64_t id = next_id_++;
  entries_.emplace_back(id, std::move(c));
  // The handle's deleter takes the lock a scrape holds: removal waits for it.
  return std::shared_ptr<void>(nullptr, [this, id](void*) {
    std::lock_guard lk2(mu_);
    std::erase_if(entries_, [id](const auto& e) { return e.first == id; });
  });
}

Families Registry::collect() const {
  Families out;
  {
    std::lock_guard lk(mu_);
    for (const auto& [id, c] : entries_) {
      c(out);
    }
  }
  // One family per name (two collectors may add to the same name: merge their samples).
  Families merged;
  for (auto& f : out) {
    auto it = std::find_if(merged.begin(), merged.end(),
                           [&](const prometheus::MetricFamily& m) { return m.name == f.name; });
    if (it == merged.end()) {
      merged.push_back(std::move(f));
    } else {
      for (auto& m : f.metric) {
        it->metric.push_back(std::move(m));
      }
    }
  }
  return merged;
}

std::string Registry::scrape() const {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, collect());
  return out.str();
}

}  // namespace steerdns::obs
