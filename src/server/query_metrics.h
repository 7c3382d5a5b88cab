#pragma once
// DNS metrics of one transport thread: queries by (zone, qtype, rcode, transport) and response
// time. One writer (the thread that answers), read by the scrape (collect_dns_metrics) at any
// time; nothing is locked and nothing allocated per query.
//
// Queries are counted in a fixed open-addressing table keyed by the zone's origin hash and a
// small code (qtype bucket, rcode bucket, transport). A key is written once, before its count
// becomes visible (release/acquire on the code), so the reader never sees a half-made slot.
// A full table counts the rest under zone "other".
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string_view>

#include "obs/metrics.h"
#include "server/query.h"

namespace steerdns::server {

// Label values of the code's parts (docs/metrics.md).
std::string_view qtype_label(unsigned bucket);
std::string_view rcode_label(unsigned bucket);
std::string_view transport_label(unsigned t);

class QueryMetrics {
 public:
  QueryMetrics();
  // Writer side.
  void count(const AnswerInfo& info, Transport t) {
    const uint64_t zone = info.zone != nullptr ? info.zone->origin_hash() : 0;
    const uint32_t code = encode(info.qtype, info.rcode, t);
    slot_for(zone, code).add();
  }
  obs::Histogram& latency(Transport t) { return t == Transport::kUdp ? udp_latency_ : tcp_latency_; }

  // Reader side: f(zone_hash (0 = none, 2 = other), qtype bucket, rcode bucket, transport, n).
  void for_each(const std::function<void(uint64_t, unsigned, unsigned, unsigned, uint64_t)>& f)
      const;
  const obs::Histogram& latency(Transport t) const {
    return t == Transport::kUdp ? udp_latency_ : tcp_latency_;
  }

  static constexpr uint64_t kOtherZone = 2;  // (origin hashes are odd, see zone.h)
  static uint32_t encode(uint16_t qtype, uint16_t rcode, Transport t);

 private:
  struct Slot {
    std::atomic<uint64_t> zone{0};
    std::atomic<uint32_t> code{0};  // 0 = empty; else encode()
    obs::Counter count;
  };
  static constexpr size_t kSlots = 4096;  // power of two
  static constexpr size_t kProbe = 16;
  obs::Counter& slot_for(uint64_t zone, uint32_t code);
  Slot* probe(uint64_t zone, uint32_t code, size_t max_probe);

  std::unique_ptr<Slot[]> slots_;
  obs::Histogram udp_latency_;
  obs::Histogram tcp_latency_;
};

}  // namespace steerdns::server
