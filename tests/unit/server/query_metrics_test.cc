// server/query_metrics: per-thread DNS counters keyed by zone and (qtype, rcode, transport).
#include "server/query_metrics.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <thread>
#include <tuple>

#include "dns/name.h"
#include "server/metrics.h"
#include "zone/zone.h"

namespace steerdns::server {
namespace {

std::shared_ptr<const zone::Zone> make_zone(const std::string& origin) {
  auto o = dns::Name::from_text(origin).value();
  zone::ZoneBuilder b(o);
  std::vector<uint8_t> soa = {1, 'a', 0, 1, 'b', 0, 0, 0, 0, 1, 0, 0, 0, 1,
                              0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1};
  EXPECT_TRUE(b.add(o, 6, 300, soa).ok());
  EXPECT_TRUE(b.add(o, 2, 300, {2, 'n', 's', 0}).ok());
  return b.build().value();
}

using Key = std::tuple<uint64_t, std::string, std::string, std::string>;

std::map<Key, uint64_t> dump(const QueryMetrics& m) {
  std::map<Key, uint64_t> out;
  m.for_each([&](uint64_t z, unsigned qt, unsigned rc, unsigned tr, uint64_t n) {
    out[Key{z, std::string(qtype_label(qt)), std::string(rcode_label(rc)),
            std::string(transport_label(tr))}] += n;
  });
  return out;
}

TEST(QueryMetrics, CountsByZoneTypeRcodeAndTransport) {
  auto z = make_zone("example.test.");
  QueryMetrics m;
  AnswerInfo a;
  a.zone = z.get();
  a.qtype = 1;
  a.rcode = 0;
  for (int i = 0; i < 3; ++i) m.count(a, Transport::kUdp);
  a.rcode = 3;
  m.count(a, Transport::kUdp);
  a.qtype = 15;  // MX over TCP
  a.rcode = 0;
  m.count(a, Transport::kTcp);
  AnswerInfo none;  // no zone: REFUSED
  none.qtype = 99;  // SPF: "other"
  none.rcode = 5;
  m.count(none, Transport::kUdp);
  none.rcode = 16;  // BADVERS (extended): "other"
  m.count(none, Transport::kUdp);
  a.qtype = 257;  // CAA: the one named type above 255
  m.count(a, Transport::kUdp);
  a.qtype = 256;  // URI: not named
  m.count(a, Transport::kUdp);
  auto d = dump(m);
  const uint64_t h = z->origin_hash();
  EXPECT_EQ((d[Key{h, "CAA", "NOERROR", "udp"}]), 1u);
  EXPECT_EQ((d[Key{h, "other", "NOERROR", "udp"}]), 1u);
  EXPECT_EQ((d[Key{h, "A", "NOERROR", "udp"}]), 3u);
  EXPECT_EQ((d[Key{h, "A", "NXDOMAIN", "udp"}]), 1u);
  EXPECT_EQ((d[Key{h, "MX", "NOERROR", "tcp"}]), 1u);
  EXPECT_EQ((d[Key{0, "other", "REFUSED", "udp"}]), 1u);
  EXPECT_EQ((d[Key{0, "other", "other", "udp"}]), 1u);
  EXPECT_EQ(d.size(), 7u);
}

TEST(QueryMetrics, ACrowdedTableCountsTheRestAsOther) {
  // Far more distinct keys than the table holds: nothing is lost, the excess is "other".
  std::vector<std::shared_ptr<const zone::Zone>> zones;
  for (int i = 0; i < 700; ++i) {
    std::string origin = "z";  // (appends: GCC 12 warns falsely on a chain of + here)
    origin.append(std::to_string(i)).append(".test.");
    zones.push_back(make_zone(origin));
  }
  QueryMetrics m;
  uint64_t sent = 0;
  for (const auto& z : zones) {
    for (uint16_t t : {1, 28, 15, 16, 6, 2, 33}) {
      AnswerInfo a;
      a.zone = z.get();
      a.qtype = t;
      m.count(a, Transport::kUdp);
      ++sent;
    }
  }
  uint64_t total = 0, other = 0;
  for (const auto& [k, n] : dump(m)) {
    total += n;
    other += std::get<0>(k) == QueryMetrics::kOtherZone ? n : 0;
  }
  EXPECT_EQ(total, sent);
  EXPECT_GT(other, 0u);
}

TEST(QueryMetrics, ReaderSeesOnlyWholeSlotsWhileTheWriterRuns) {
  auto z = make_zone("example.test.");
  QueryMetrics m;
  std::atomic<bool> done{false};
  std::thread w([&] {
    AnswerInfo a;
    a.zone = z.get();
    for (int i = 0; i < 200000; ++i) {
      a.qtype = static_cast<uint16_t>(1 + i % 3);
      m.count(a, Transport::kUdp);
    }
    done = true;
  });
  while (!done) {
    for (const auto& [k, n] : dump(m)) {
      ASSERT_EQ(std::get<0>(k), z->origin_hash());  // never a half-written key
    }
  }
  w.join();
  uint64_t total = 0;
  for (const auto& [k, n] : dump(m)) total += n;
  EXPECT_EQ(total, 200000u);
}

TEST(ZoneNames, NamesFromTheServedConfigAreKept) {
  auto z = make_zone("example.test.");
  config::RuntimeConfig cfg;
  cfg.set_zones({z});
  ZoneNames names;
  EXPECT_EQ(names.name(0, &cfg), "none");
  EXPECT_EQ(names.name(QueryMetrics::kOtherZone, &cfg), "other");
  EXPECT_EQ(names.name(z->origin_hash(), &cfg), "example.test.");
  config::RuntimeConfig empty;  // the zone was deleted since: its name stays
  EXPECT_EQ(names.name(z->origin_hash(), &empty), "example.test.");
  EXPECT_EQ(names.name(12345, &empty), "unknown");
}

}  // namespace
}  // namespace steerdns::server
