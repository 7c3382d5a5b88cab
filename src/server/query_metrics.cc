#include "server/query_metrics.h"

#include "dns/rrtype.h"

namespace steerdns::server {
namespace {

// The qtypes named in metrics (docs/metrics.md); everything else is "other" (bucket 0).
constexpr std::pair<uint16_t, std::string_view> kQtypes[] = {
    {0, "other"},  {1, "A"},     {28, "AAAA"},  {5, "CNAME"}, {15, "MX"},  {2, "NS"},
    {6, "SOA"},    {16, "TXT"},  {33, "SRV"},   {257, "CAA"}, {12, "PTR"}, {65, "HTTPS"},
    {64, "SVCB"},  {43, "DS"},   {48, "DNSKEY"}, {255, "ANY"}, {252, "AXFR"}, {251, "IXFR"}};
constexpr size_t kNumQtypes = sizeof kQtypes / sizeof kQtypes[0];

// rcodes 0-5 and NOTAUTH (9) by name, the rest "other" (bucket 6).
constexpr std::string_view kRcodes[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
                                        "NOTIMP",  "REFUSED", "other",    "NOTAUTH"};

// Per query: a lookup table, not a scan of kQtypes.
struct QtypeBuckets {
  uint8_t of[256] = {};
  constexpr QtypeBuckets() {
    for (unsigned i = 1; i < kNumQtypes; ++i) {
      if (kQtypes[i].first < 256) {
        of[kQtypes[i].first] = static_cast<uint8_t>(i);
      }
    }
  }
};
constexpr QtypeBuckets kQtypeBuckets;
constexpr unsigned kCaaBucket = 9;  // the one named type above 255
static_assert(kQtypes[kCaaBucket].first == 257);

unsigned qtype_bucket(uint16_t qtype) {
  if (qtype < 256) {
    return kQtypeBuckets.of[qtype];
  }
  return qtype == 257 ? kCaaBucket : 0;
}

unsigned rcode_bucket(uint16_t rcode) {
  if (rcode <= 5) {
    return rcode;
  }
  return rcode == 9 ? 7 : 6;
}

uint64_t mix(uint64_t x) {  // splitmix64 finalizer: spreads similar keys across the table
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

std::string_view qtype_label(unsigned bucket) {
  return bucket < kNumQtypes ? kQtypes[bucket].second : "other";
}

std::string_view rcode_label(unsigned bucket) { return bucket < 8 ? kRcodes[bucket] : "other"; }

std::string_view transport_label(unsigned t) { return t == 0 ? "udp" : "tcp"; }

QueryMetrics::QueryMetrics()
    : slots_(std::make_unique<Slot[]>(kSlots)),
      udp_latency_(obs::dns_latency_bounds()),
      tcp_latency_(obs::dns_latency_bounds()) {}

uint32_t QueryMetrics::encode(uint16_t qtype, uint16_t rcode, Transport t) {
  // +1: code 0 marks an empty slot.
  return 1 + (qtype_bucket(qtype) | rcode_bucket(rcode) << 5 |
              (t == Transport::kTcp ? 1u : 0u) << 8);
}

// The slot of (zone, code) within `max_probe` steps of its hash, made if an empty slot comes
// first; null when the run is full.
QueryMetrics::Slot* QueryMetrics::probe(uint64_t zone, uint32_t code, size_t max_probe) {
  size_t i = mix(zone ^ (static_cast<uint64_t>(code) << 40)) & (kSlots - 1);
  for (size_t n = 0; n < max_probe; ++n, i = (i + 1) & (kSlots - 1)) {
    Slot& s = slots_[i];
    uint32_t c = s.code.load(std::memory_order_relaxed);  // we are its only writer
    if (c == 0) {
      s.zone.store(zone, std::memory_order_relaxed);
      s.code.store(code, std::memory_order_release);  // the key before any count is seen
      return &s;
    }
    if (c == code && s.zone.load(std::memory_order_relaxed) == zone) {
      return &s;
    }
  }
  return nullptr;
}

obs::Counter& QueryMetrics::slot_for(uint64_t zone, uint32_t code) {
  if (Slot* s = probe(zone, code, kProbe)) {
    return s->count;
  }
  // Crowded: the key goes under zone "other", probed without a limit (there are at most
  // 18 x 8 x 2 such keys, far fewer than slots).
  if (Slot* s = probe(kOtherZone, code, kSlots)) {
    return s->count;
  }
  return slots_[0].count;  // unreachable: the table holds far more than the keys
}

void QueryMetrics::for_each(
    const std::function<void(uint64_t, unsigned, unsigned, unsigned, uint64_t)>& f) const {
  for (size_t i = 0; i < kSlots; ++i) {
    const Slot& s = slots_[i];
    uint32_t c = s.code.load(std::memory_order_acquire);
    if (c == 0) {
      continue;
    }
    uint64_t n = s.count.get();
    if (n == 0) {
      continue;
    }
    uint32_t v = c - 1;
    f(s.zone.load(std::memory_order_relaxed), v & 31, (v >> 5) & 7, (v >> 8) & 1, n);
  }
}

}  // namespace steerdns::server
