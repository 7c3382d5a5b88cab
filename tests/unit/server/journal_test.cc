// Served serials, the IXFR journal and IXFR framing (server/journal.h, server/xfr.h).
#include "server/journal.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/loader.h"
#include "dns/message.h"
#include "dns/name.h"
#include "dns/rdata.h"
#include "dns/rrtype.h"
#include "server/xfr.h"
#include "unit/config/config_test_util.h"
#include "zone/loader.h"

namespace steerdns::server {
namespace {

namespace rt = dns::rrtype;

dns::Name N(const std::string& s) { return *dns::Name::from_text(s); }

std::shared_ptr<const zone::Zone> make_zone(uint32_t serial, const std::string& extra) {
  dns::Name origin = N("example.test.");
  zone::ZoneBuilder b(origin);
  zone::TextRecordParser p(origin);
  std::string text = "@ 3600 IN SOA ns1 hostmaster ";
  text.append(std::to_string(serial))
      .append(" 7200 900 1209600 300\n@ 300 IN NS ns1\nns1 300 IN A 192.0.2.1\n")
      .append(extra);
  EXPECT_TRUE(p.parse(text, b, "test", 1).ok());
  auto z = b.build();
  EXPECT_TRUE(z.ok()) << z.error();
  return *z;
}

std::shared_ptr<const config::RuntimeConfig> config_with(std::shared_ptr<const zone::Zone> z) {
  auto rc = std::make_shared<config::RuntimeConfig>();
  rc->set_zones({std::move(z)});
  return rc;
}

class MemStore : public StateStore {
 public:
  std::string describe() const override { return "memory"; }
  Status put(const std::string& k, const std::string& v) override {
    kv[k] = v;
    return OkStatus();
  }
  Result<std::optional<std::string>> get(const std::string& k) override {
    auto it = kv.find(k);
    return it == kv.end() ? std::optional<std::string>() : std::optional<std::string>(it->second);
  }
  Status append_events(const std::vector<std::string>&) override { return OkStatus(); }
  Result<std::vector<std::string>> last_events(size_t) override {
    return std::vector<std::string>{};
  }
  std::map<std::string, std::string> kv;
};

uint32_t served(const std::shared_ptr<const config::RuntimeConfig>& rc) {
  return rc->zones().front()->serial();
}

TEST(Serial, Rfc1982) {
  EXPECT_TRUE(serial_gt(2, 1));
  EXPECT_FALSE(serial_gt(1, 2));
  EXPECT_FALSE(serial_gt(5, 5));
  EXPECT_TRUE(serial_gt(0, 0xFFFFFFFFu));  // wraps
  EXPECT_FALSE(serial_gt(0xFFFFFFFFu, 0));
}

TEST(ZoneTransfers, ContentChangeBumpsPastCatalogAndJournalsTheStep) {
  ZoneTransfers t;
  std::vector<uint32_t> notified;
  t.on_serial_change([&](const dns::Name&, uint32_t s) { notified.push_back(s); });
  auto a = make_zone(10, "www 300 IN A 192.0.2.80\n");
  EXPECT_EQ(served(t.prepare(config_with(a))), 10u);
  // Announced once published, not before: a secondary asking at once must find it served.
  EXPECT_TRUE(notified.empty());
  t.published();
  EXPECT_EQ(notified, (std::vector<uint32_t>{10}));
  // Same zone again: no change, no notify.
  EXPECT_EQ(served(t.prepare(config_with(a))), 10u);
  t.published();
  EXPECT_EQ(notified, (std::vector<uint32_t>{10}));
  // Changed content, catalog serial not moved (as a steering change looks): 11.
  auto b = make_zone(10, "www 300 IN A 192.0.2.81\n");
  auto rc = t.prepare(config_with(b));
  EXPECT_EQ(served(rc), 11u);
  t.published();
  // The published zone's SOA says 11 too.
  auto soa = soa_record(*rc->zones().front(), 11);
  EXPECT_EQ(soa_record(*rc->zones().front(), rc->zones().front()->serial()), soa);
  // A catalog serial newer than the served one is taken as is.
  auto c = make_zone(500, "www 300 IN A 192.0.2.82\n");
  EXPECT_EQ(served(t.prepare(config_with(c))), 500u);
  t.published();
  EXPECT_EQ(notified, (std::vector<uint32_t>{10, 11, 500}));
  // Two prepared before one publish: the zone's latest serial is announced, once.
  t.prepare(config_with(make_zone(600, "www 300 IN A 192.0.2.83\n")));
  t.prepare(config_with(make_zone(700, "www 300 IN A 192.0.2.84\n")));
  t.published();
  EXPECT_EQ(notified, (std::vector<uint32_t>{10, 11, 500, 700}));
  auto steps = t.chain(N("example.test."), 10, 500);
  ASSERT_EQ(steps.size(), 2u);
  EXPECT_EQ(steps[0]->from, 10u);
  EXPECT_EQ(steps[0]->to, 11u);
  ASSERT_EQ(steps[0]->removed.size(), 1u);
  ASSERT_EQ(steps[0]->added.size(), 1u);
  RecordView rem = view_record(steps[0]->removed[0]);
  RecordView add = view_record(steps[0]->added[0]);
  EXPECT_EQ(rem.type, rt::A);
  EXPECT_EQ(rem.rd[3], 80);
  EXPECT_EQ(add.rd[3], 81);
  EXPECT_EQ(steps[1]->from, 11u);
  EXPECT_EQ(t.chain(N("example.test."), 11, 500).size(), 1u);
  EXPECT_TRUE(t.chain(N("example.test."), 9, 500).empty());  // not in the journal
  EXPECT_TRUE(t.chain(N("example.test."), 10, 12).empty());  // not a version we served
}

TEST(ZoneTransfers, JournalIsBounded) {
  ZoneTransfers t(JournalLimits{3, 1u << 20});
  for (int i = 0; i < 10; ++i) {
    t.prepare(config_with(make_zone(1, "www 300 IN A 192.0.2." + std::to_string(i) + "\n")));
  }
  EXPECT_EQ(t.journal_size(N("example.test.")), 3u);
  EXPECT_TRUE(t.chain(N("example.test."), 1, 10).empty());
  EXPECT_EQ(t.chain(N("example.test."), 7, 10).size(), 3u);
}

TEST(ZoneTransfers, ServedSerialSurvivesRestartAndNeverGoesBack) {
  auto store = std::make_shared<MemStore>();
  {
    ZoneTransfers t;
    t.set_state_store(store);
    t.prepare(config_with(make_zone(10, "www 300 IN A 192.0.2.80\n")));
    EXPECT_EQ(served(t.prepare(config_with(make_zone(10, "www 300 IN A 192.0.2.81\n")))), 11u);
  }
  {
    // Restart with the content served last: the same serial.
    ZoneTransfers t;
    t.set_state_store(store);
    EXPECT_EQ(served(t.prepare(config_with(make_zone(10, "www 300 IN A 192.0.2.81\n")))), 11u);
  }
  {
    // Restart with other content and the old catalog serial: past the served one.
    ZoneTransfers t;
    t.set_state_store(store);
    EXPECT_EQ(served(t.prepare(config_with(make_zone(10, "www 300 IN A 192.0.2.80\n")))), 12u);
  }
}

TEST(ZoneTransfers, DeletedZoneComesBackAboveItsLastSerial) {
  ZoneTransfers t;
  t.prepare(config_with(make_zone(10, "www 300 IN A 192.0.2.80\n")));
  EXPECT_EQ(served(t.prepare(config_with(make_zone(10, "www 300 IN A 192.0.2.81\n")))), 11u);
  t.prepare(std::make_shared<config::RuntimeConfig>());  // the zone is gone
  EXPECT_EQ(t.journal_size(N("example.test.")), 0u);
  // Back with other content and the old catalog serial: past 11, never back to 10.
  EXPECT_EQ(served(t.prepare(config_with(make_zone(10, "www 300 IN A 192.0.2.82\n")))), 12u);
}

constexpr const char* kSteered = R"(health_checks:
  - { id: p, type: external }
  - { id: s, type: external }
  - { id: other, type: external }
zones:
  - name: example.test.
    soa: { mname: ns1.example.test., rname: hostmaster.example.test., serial: 5 }
    ns: [ns1.example.test.]
    records:
      - { name: ns1, type: A, values: [127.0.0.1] }
      - name: app
        type: A
        ttl: 60
        policy: failover
        members:
          - { set_id: pri, role: primary, values: [192.0.2.10], health_check: p }
          - { set_id: sec, role: secondary, values: [198.51.100.10], health_check: s }
)";

// The loaded config with a table compiled with these checks forced down, as the steering
// service publishes it (the same zone objects every time).
std::shared_ptr<const config::RuntimeConfig> with_down(const config::LoadedConfig& lc,
                                                       const std::vector<std::string>& down) {
  policy::Overrides ov;
  for (const auto& id : down) {
    ov.checks[id] = policy::ForceState::kDown;
  }
  policy::CompileInputs in;
  in.spec = lc.steering_spec.get();
  in.overrides = &ov;
  auto table = policy::compile(in);
  EXPECT_TRUE(table.ok()) << table.error();
  auto rc = std::make_shared<config::RuntimeConfig>(*lc.runtime);
  rc->steering = *table;
  return rc;
}

TEST(ZoneTransfers, SteeringChangeBumpsOnlyWhenTheAnswerMoves) {
  config::testing::TempDir dir;
  auto lc = config::load_config_file(dir.write("steer.yaml", kSteered));
  ASSERT_TRUE(lc.ok()) << lc.error();
  ZoneTransfers t;
  int notified = 0;
  t.on_serial_change([&](const dns::Name&, uint32_t) { ++notified; });
  EXPECT_EQ(served(t.prepare(with_down(*lc, {}))), 5u);
  // New tables that select the same answer: no bump, no NOTIFY.
  EXPECT_EQ(served(t.prepare(with_down(*lc, {}))), 5u);
  EXPECT_EQ(served(t.prepare(with_down(*lc, {"s"}))), 5u);
  EXPECT_EQ(served(t.prepare(with_down(*lc, {"other"}))), 5u);
  t.published();
  EXPECT_EQ(notified, 1);
  EXPECT_EQ(t.journal_size(N("example.test.")), 0u);
  // Failover: the answer moves, the serial goes up, one step: the primary out, the secondary in.
  auto rc = t.prepare(with_down(*lc, {"p"}));
  EXPECT_EQ(served(rc), 6u);
  t.published();
  EXPECT_EQ(notified, 2);
  auto steps = t.chain(N("example.test."), 5, 6);
  ASSERT_EQ(steps.size(), 1u);
  ASSERT_EQ(steps[0]->removed.size(), 1u);
  ASSERT_EQ(steps[0]->added.size(), 1u);
  EXPECT_EQ(view_record(steps[0]->removed[0]).rd[0], 192);
  EXPECT_EQ(view_record(steps[0]->added[0]).rd[0], 198);
  // The published zone (a copy carrying serial 6) transfers the secondary.
  auto recs = transfer_records(*rc->zones().front(), rc->steering.get());
  EXPECT_NE(std::find(recs.begin(), recs.end(), steps[0]->added[0]), recs.end());
  // Republishing the same answer reuses the copy carrying serial 6.
  auto again = t.prepare(with_down(*lc, {"p", "other"}));
  EXPECT_EQ(again->zones().front(), rc->zones().front());
  // Failback: up again.
  EXPECT_EQ(served(t.prepare(with_down(*lc, {}))), 7u);
  EXPECT_EQ(t.chain(N("example.test."), 5, 7).size(), 2u);
}

std::vector<uint8_t> ixfr_query(uint32_t serial, uint16_t id) {
  std::vector<uint8_t> buf(512);
  dns::WireWriter w(buf.data(), buf.size());
  w.u16(id);
  w.u16(0);
  w.u16(1);
  w.u16(0);
  w.u16(1);
  w.u16(0);
  dns::Name z = N("example.test.");
  w.bytes(z.data(), z.size());
  w.u16(rt::IXFR);
  w.u16(dns::rrclass::IN);
  w.u16(0xC00C);  // owner: the question name
  w.u16(rt::SOA);
  w.u16(dns::rrclass::IN);
  w.u32(0);
  w.u16(22);
  w.u8(0);  // mname "."
  w.u8(0);  // rname "."
  w.u32(serial);
  for (int i = 0; i < 4; ++i) {
    w.u32(0);
  }
  buf.resize(w.pos());
  return buf;
}

// (type, serial-or-last-octet) of every answer record of every message.
std::vector<std::pair<uint16_t, uint32_t>> answers(IxfrStream& s, size_t* msgs, uint16_t id) {
  std::vector<std::pair<uint16_t, uint32_t>> out;
  std::vector<uint8_t> buf(kMaxTcpMessage);
  *msgs = 0;
  while (size_t n = s.next(buf.data(), buf.size())) {
    ++*msgs;
    dns::WireReader r(buf.data(), n);
    EXPECT_EQ(r.u16(), id);
    uint16_t flags = r.u16();
    EXPECT_TRUE(flags & dns::flag::QR);
    EXPECT_EQ(flags & 0xF, 0);
    uint16_t qd = r.u16(), an = r.u16();
    r.skip(4);
    for (int i = 0; i < qd; ++i) {
      dns::Name::from_wire(r);
      r.skip(4);
    }
    for (int i = 0; i < an; ++i) {
      dns::Name::from_wire(r);
      uint16_t type = r.u16();
      r.skip(6);
      uint16_t rdlen = r.u16();
      std::vector<uint8_t> rd;
      EXPECT_TRUE(dns::rdata_from_wire(r, rdlen, type, rd));
      uint32_t v = 0;
      if (type == rt::SOA) {
        size_t l1 = dns::wire_name_length(rd.data(), rd.size());
        size_t l2 = dns::wire_name_length(rd.data() + l1, rd.size() - l1);
        const uint8_t* s4 = rd.data() + l1 + l2;
        v = uint32_t{s4[0]} << 24 | uint32_t{s4[1]} << 16 | uint32_t{s4[2]} << 8 | s4[3];
      } else {
        v = rd.back();
      }
      out.emplace_back(type, v);
    }
    EXPECT_TRUE(r.ok());
  }
  return out;
}

TEST(Ixfr, QuerySerialIsReadFromAuthority) {
  auto q = ixfr_query(1234, 1);
  uint32_t s = 0;
  ASSERT_TRUE(ixfr_query_serial(q.data(), q.size(), &s));
  EXPECT_EQ(s, 1234u);
  q.resize(q.size() - 5);  // cut inside the SOA
  EXPECT_FALSE(ixfr_query_serial(q.data(), q.size(), &s));
}

TEST(Ixfr, IncrementalFramingPerRfc1995) {
  ZoneTransfers t;
  t.prepare(config_with(make_zone(10, "www 300 IN A 192.0.2.80\n")));
  t.prepare(config_with(make_zone(10, "www 300 IN A 192.0.2.81\n")));
  auto rc =
      t.prepare(config_with(make_zone(10, "www 300 IN A 192.0.2.81\nx 300 IN A 192.0.2.9\n")));
  const zone::Zone& z = *rc->zones().front();
  ASSERT_EQ(z.serial(), 12u);
  auto q = ixfr_query(10, 77);
  IxfrStream s(q.data(), q.size(), soa_record(z, 12), t.chain(z.origin(), 10, 12));
  size_t msgs = 0;
  auto got = answers(s, &msgs, 77);
  using P = std::pair<uint16_t, uint32_t>;
  std::vector<P> want = {P{rt::SOA, 12}, P{rt::SOA, 10}, P{rt::A, 80}, P{rt::SOA, 11}, P{rt::A, 81},
                         P{rt::SOA, 11}, P{rt::SOA, 12}, P{rt::A, 9},  P{rt::SOA, 12}};
  EXPECT_EQ(got, want);
  EXPECT_EQ(msgs, 1u);
  // Up to date: the SOA alone.
  IxfrStream up(q.data(), q.size(), soa_record(z, 12), {});
  EXPECT_EQ(answers(up, &msgs, 77), (std::vector<P>{P{rt::SOA, 12}}));
}

TEST(Ixfr, SplitsAcrossMessages) {
  ZoneTransfers t;
  std::string many, other;
  for (int i = 0; i < 200; ++i) {
    std::string owner = "h";
    owner.append(std::to_string(i));
    many.append(owner).append(" 300 IN TXT \"").append(200, 'a').append("\"\n");
    other.append(owner).append(" 300 IN TXT \"").append(200, 'b').append("\"\n");
  }
  t.prepare(config_with(make_zone(1, many)));
  auto rc = t.prepare(config_with(make_zone(1, other)));
  const zone::Zone& z = *rc->zones().front();
  auto q = ixfr_query(1, 5);
  IxfrStream s(q.data(), q.size(), soa_record(z, 2), t.chain(z.origin(), 1, 2), 4096);
  size_t msgs = 0;
  auto got = answers(s, &msgs, 5);
  EXPECT_GT(msgs, 10u);
  EXPECT_EQ(got.size(), 400u + 4u);
  EXPECT_EQ(got.front(), got.back());
}

}  // namespace
}  // namespace steerdns::server
