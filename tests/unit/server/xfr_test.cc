#include "server/xfr.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "dns/message.h"
#include "dns/name.h"
#include "dns/rdata.h"
#include "dns/rrtype.h"
#include "zone/loader.h"
#include "zone/zone.h"

namespace steerdns::server {
namespace {

namespace rt = dns::rrtype;

dns::Name N(const std::string& s) {
  auto r = dns::Name::from_text(s);
  EXPECT_TRUE(r.ok()) << s;
  return r.ok() ? *r : dns::Name();
}

// An AXFR (or other type) query for `zone`, optionally with an OPT record.
std::vector<uint8_t> make_query(const std::string& zone, uint16_t qtype, bool edns = false,
                                uint16_t id = 0x4242) {
  std::vector<uint8_t> buf(512);
  dns::WireWriter w(buf.data(), buf.size());
  w.u16(id);
  w.u16(0);
  w.u16(1);
  w.u16(0);
  w.u16(0);
  w.u16(edns ? 1 : 0);
  dns::Name n = N(zone);
  w.bytes(n.data(), n.size());
  w.u16(qtype);
  w.u16(dns::rrclass::IN);
  if (edns) {
    w.u8(0);
    w.u16(rt::OPT);
    w.u16(4096);
    w.u32(0x8000);  // DO
    w.u16(0);
  }
  buf.resize(w.pos());
  return buf;
}

struct Record {
  std::string owner;  // lower-case text
  uint16_t type;
  uint32_t ttl;
  std::vector<uint8_t> rdata;  // uncompressed
  bool operator<(const Record& o) const {
    return std::tie(owner, type, ttl, rdata) < std::tie(o.owner, o.type, o.ttl, o.rdata);
  }
  bool operator==(const Record& o) const {
    return std::tie(owner, type, ttl, rdata) == std::tie(o.owner, o.type, o.ttl, o.rdata);
  }
};

void PrintTo(const Record& r, std::ostream* os) {
  *os << r.owner << " " << r.type << " " << r.ttl << " "
      << dns::rdata_to_text(r.type, r.rdata.data(), r.rdata.size());
}

std::string lower_text(const dns::Name& n) {
  std::string s = n.lowered().to_text();
  return s;
}

struct Parsed {
  uint16_t id = 0, flags = 0, qd = 0, an = 0, ns = 0, ar = 0;
  std::vector<Record> answers;
  bool has_opt = false;
};

// Decodes a whole response, following compression pointers.
Parsed parse(const std::vector<uint8_t>& m) {
  Parsed p;
  dns::WireReader r(m.data(), m.size());
  p.id = r.u16();
  p.flags = r.u16();
  p.qd = r.u16();
  p.an = r.u16();
  p.ns = r.u16();
  p.ar = r.u16();
  for (int i = 0; i < p.qd; ++i) {
    dns::Name::from_wire(r);
    r.u16();
    r.u16();
  }
  for (int i = 0; i < p.an + p.ns + p.ar; ++i) {
    dns::Name owner = dns::Name::from_wire(r);
    Record rec;
    rec.type = r.u16();
    uint16_t cls = r.u16();
    rec.ttl = r.u32();
    uint16_t rdlen = r.u16();
    if (rec.type == rt::OPT) {
      p.has_opt = true;
      r.skip(rdlen);
      continue;
    }
    EXPECT_EQ(cls, dns::rrclass::IN);
    rec.owner = lower_text(owner);
    EXPECT_TRUE(dns::rdata_from_wire(r, rdlen, rec.type, rec.rdata));
    if (i < p.an) {
      p.answers.push_back(std::move(rec));
    }
  }
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.remaining(), 0u);
  return p;
}

// Every record of the zone, read straight from the zone's own tables.
std::multiset<Record> zone_records(const zone::Zone& z) {
  std::multiset<Record> out;
  for (uint32_t i = 0; i < z.node_count(); ++i) {
    const zone::Node& n = z.node(i);
    std::string owner = lower_text(z.name(n));
    for (const zone::RRset& rs : z.rrsets(n)) {
      z.for_each_rdata(rs, [&](const uint8_t* rd, uint16_t len) {
        out.insert(Record{owner, rs.type, rs.ttl, std::vector<uint8_t>(rd, rd + len)});
      });
    }
  }
  return out;
}

std::shared_ptr<const zone::Zone> load_test_zone() {
  auto z = zone::load_zone_file(N("example.test."),
                                std::string(STEERDNS_TESTDATA) + "/transport/example.test.zone");
  EXPECT_TRUE(z.ok()) << z.error();
  return z.ok() ? *z : nullptr;
}

// Checks the RFC 5936 shape and returns all answer records of all messages.
std::vector<Record> check_transfer(const zone::Zone& z,
                                   const std::vector<std::vector<uint8_t>>& msgs, size_t max_msg,
                                   uint16_t id, bool edns) {
  std::vector<Record> all;
  for (size_t i = 0; i < msgs.size(); ++i) {
    EXPECT_LE(msgs[i].size(), max_msg);
    Parsed p = parse(msgs[i]);
    EXPECT_EQ(p.id, id);
    EXPECT_TRUE(p.flags & dns::flag::QR);
    EXPECT_TRUE(p.flags & dns::flag::AA);
    EXPECT_EQ(p.flags & 0x000F, dns::rcode::NOERROR);
    EXPECT_EQ(p.qd, i == 0 ? 1 : 0) << "question only in the first message";
    EXPECT_EQ(p.has_opt, edns);
    EXPECT_GT(p.an, 0);
    all.insert(all.end(), p.answers.begin(), p.answers.end());
  }
  if (all.size() < 2) {
    ADD_FAILURE() << "transfer too short";
    return all;
  }
  EXPECT_EQ(all.front().type, rt::SOA);
  EXPECT_EQ(all.back().type, rt::SOA);
  EXPECT_EQ(all.front(), all.back());
  EXPECT_EQ(all.front().owner, lower_text(z.origin()));
  // SOA appears exactly twice: first and last.
  EXPECT_EQ(
      std::count_if(all.begin(), all.end(), [](const Record& r) { return r.type == rt::SOA; }), 2);
  return all;
}

TEST(Axfr, WholeZoneInOneMessage) {
  auto z = load_test_zone();
  ASSERT_TRUE(z);
  auto q = make_query("example.test.", rt::AXFR);
  auto msgs = axfr_messages(*z, q.data(), q.size());
  ASSERT_EQ(msgs.size(), 1u);
  auto all = check_transfer(*z, msgs, kMaxTcpMessage, 0x4242, false);
  std::multiset<Record> got(all.begin() + 1, all.end());  // drop the leading SOA
  EXPECT_EQ(got, zone_records(*z));
  EXPECT_EQ(all.size(), z->record_count() + 1);
  // A record we wrote in the file is there, byte for byte.
  Record www{"www.example.test.", rt::A, 300, {192, 0, 2, 80}};
  EXPECT_EQ(std::count(all.begin(), all.end(), www), 1);
  // Glue below the delegation is part of the zone and is transferred.
  Record glue{"ns.sub.example.test.", rt::A, 300, {192, 0, 2, 53}};
  EXPECT_EQ(std::count(all.begin(), all.end(), glue), 1);
}

TEST(Axfr, SmallMessagesSplitWithoutLosingRecords) {
  auto z = load_test_zone();
  ASSERT_TRUE(z);
  auto q = make_query("Example.TEST.", rt::AXFR, true, 7);
  auto one = axfr_messages(*z, q.data(), q.size());
  auto many = axfr_messages(*z, q.data(), q.size(), 512);
  ASSERT_GT(many.size(), 2u);
  auto a = check_transfer(*z, one, kMaxTcpMessage, 7, true);
  auto b = check_transfer(*z, many, 512, 7, true);
  EXPECT_EQ(a, b);  // same records, same order
  // The question is echoed as sent (case preserved).
  dns::WireReader r(many[0].data(), many[0].size(), dns::kHeaderLen);
  EXPECT_EQ(dns::Name::from_wire(r).to_text(), "Example.TEST.");
}

TEST(Axfr, LargeZoneUsesFullSizedMessages) {
  zone::ZoneBuilder b(N("big.test."));
  std::vector<uint8_t> soa;
  {
    dns::Name m = N("ns.big.test."), rn = N("h.big.test.");
    soa.insert(soa.end(), m.data(), m.data() + m.size());
    soa.insert(soa.end(), rn.data(), rn.data() + rn.size());
    for (uint32_t v : {7u, 3600u, 600u, 86400u, 60u}) {
      for (int s = 24; s >= 0; s -= 8) {
        soa.push_back(static_cast<uint8_t>(v >> s));
      }
    }
  }
  ASSERT_TRUE(b.add(N("big.test."), rt::SOA, 3600, soa).ok());
  dns::Name ns = N("ns.big.test.");
  ASSERT_TRUE(
      b.add(N("big.test."), rt::NS, 3600, std::vector<uint8_t>(ns.data(), ns.data() + ns.size()))
          .ok());
  ASSERT_TRUE(b.add(ns, rt::A, 3600, {10, 0, 0, 1}).ok());
  for (int i = 0; i < 20000; ++i) {
    auto owner = N("host" + std::to_string(i) + ".big.test.");
    ASSERT_TRUE(b.add(owner, rt::A, 60,
                      {10, static_cast<uint8_t>(i >> 16), static_cast<uint8_t>(i >> 8),
                       static_cast<uint8_t>(i)})
                    .ok());
  }
  auto z = b.build();
  ASSERT_TRUE(z.ok()) << z.error();
  auto q = make_query("big.test.", rt::IXFR);
  auto msgs = axfr_messages(**z, q.data(), q.size());
  ASSERT_GT(msgs.size(), 1u);
  for (size_t i = 0; i + 1 < msgs.size(); ++i) {
    EXPECT_GT(msgs[i].size(), 60000u) << "messages are packed";
  }
  auto all = check_transfer(**z, msgs, kMaxTcpMessage, 0x4242, false);
  std::multiset<Record> got(all.begin() + 1, all.end());
  EXPECT_EQ(got, zone_records(**z));
  EXPECT_EQ(got.size(), 20003u);
}

TEST(Axfr, RecordLargerThanAMessageEndsWithServfail) {
  auto z = load_test_zone();
  ASSERT_TRUE(z);
  auto q = make_query("example.test.", rt::AXFR);
  // The 4-string TXT RRset's records are ~180 bytes; the SOA is ~70: 120 bytes fits the SOA
  // but not a TXT record.
  auto msgs = axfr_messages(*z, q.data(), q.size(), 120);
  ASSERT_FALSE(msgs.empty());
  Parsed last = parse(msgs.back());
  EXPECT_EQ(last.flags & 0x000F, dns::rcode::SERVFAIL);
  EXPECT_EQ(last.an, 0);
}

TEST(Axfr, StreamCountsMessagesAndRecords) {
  auto z = load_test_zone();
  ASSERT_TRUE(z);
  auto q = make_query("example.test.", rt::AXFR);
  AxfrStream s(*z, q.data(), q.size(), 300);
  std::vector<uint8_t> buf(kMaxTcpMessage);
  size_t n = 0, total = 0;
  while (size_t len = s.next(buf.data(), buf.size())) {
    EXPECT_LE(len, 300u);
    ++n;
    total += parse(std::vector<uint8_t>(buf.begin(), buf.begin() + static_cast<long>(len))).an;
  }
  EXPECT_TRUE(s.done());
  EXPECT_EQ(s.messages(), n);
  EXPECT_EQ(s.records(), total);
  EXPECT_EQ(total, z->record_count() + 1);
  EXPECT_EQ(s.next(buf.data(), buf.size()), 0u);
}

TEST(XfrError, RefusedEchoesQuestion) {
  auto q = make_query("example.test.", rt::AXFR, true, 99);
  std::vector<uint8_t> out(512);
  size_t n = xfr_error(q.data(), q.size(), dns::rcode::REFUSED, out.data(), out.size());
  ASSERT_GT(n, 0u);
  out.resize(n);
  Parsed p = parse(out);
  EXPECT_EQ(p.id, 99);
  EXPECT_EQ(p.flags & 0x000F, dns::rcode::REFUSED);
  EXPECT_TRUE(p.flags & dns::flag::QR);
  EXPECT_FALSE(p.flags & dns::flag::AA);
  EXPECT_EQ(p.qd, 1);
  EXPECT_EQ(p.an, 0);
  EXPECT_TRUE(p.has_opt);
  // Garbage is not answered.
  uint8_t junk[5] = {1, 2, 3, 4, 5};
  EXPECT_EQ(xfr_error(junk, sizeof junk, dns::rcode::REFUSED, out.data(), 512), 0u);
}

}  // namespace
}  // namespace steerdns::server
