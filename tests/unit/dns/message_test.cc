#include "dns/message.h"

#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "dns/name.h"
#include "dns/rrtype.h"

namespace steerdns::dns {
namespace {

// Builds query packets by hand so that every field can be broken on purpose.
struct Packet {
  std::vector<uint8_t> b;
  void u8(uint8_t v) { b.push_back(v); }
  void u16(uint16_t v) {
    b.push_back(static_cast<uint8_t>(v >> 8));
    b.push_back(static_cast<uint8_t>(v));
  }
  void u32(uint32_t v) {
    u16(static_cast<uint16_t>(v >> 16));
    u16(static_cast<uint16_t>(v));
  }
  void name(const std::string& text) {
    auto n = Name::from_text(text);
    EXPECT_TRUE(n.ok());
    b.insert(b.end(), n->data(), n->data() + n->size());
  }
  void header(uint16_t flags, uint16_t qd, uint16_t an, uint16_t ns, uint16_t ar) {
    u16(0x1234);
    u16(flags);
    u16(qd);
    u16(an);
    u16(ns);
    u16(ar);
  }
  // OPT RR: payload, extended rcode/version/flags, options as raw bytes.
  void opt(uint16_t payload, uint8_t version, bool do_bit, const std::vector<uint8_t>& opts) {
    u8(0);
    u16(rrtype::OPT);
    u16(payload);
    u32(uint32_t{version} << 16 | (do_bit ? 0x8000u : 0u));
    u16(static_cast<uint16_t>(opts.size()));
    b.insert(b.end(), opts.begin(), opts.end());
  }
  ParseResult parse(Query& q) const { return parse_query(b.data(), b.size(), q); }
  ParseResult parse() const {
    Query q;
    return parse_query(b.data(), b.size(), q);
  }
};

Packet simple(uint16_t flags = 0, uint16_t ar = 0) {
  Packet p;
  p.header(flags, 1, 0, 0, ar);
  p.name("www.Example.com.");
  p.u16(rrtype::A);
  p.u16(rrclass::IN);
  return p;
}

std::vector<uint8_t> ecs(uint16_t family, uint8_t source, uint8_t scope,
                         const std::vector<uint8_t>& addr) {
  std::vector<uint8_t> o = {0,
                            ednsopt::ECS,
                            0,
                            static_cast<uint8_t>(4 + addr.size()),
                            static_cast<uint8_t>(family >> 8),
                            static_cast<uint8_t>(family),
                            source,
                            scope};
  o.insert(o.end(), addr.begin(), addr.end());
  return o;
}

TEST(ParseQuery, SimpleQuery) {
  Packet p = simple(flag::RD);
  Query q;
  ASSERT_EQ(p.parse(q), ParseResult::kOk);
  EXPECT_EQ(q.id, 0x1234);
  EXPECT_EQ(q.opcode, opcode::QUERY);
  EXPECT_TRUE(q.has_question);
  EXPECT_EQ(q.qtype, rrtype::A);
  EXPECT_EQ(q.qclass, rrclass::IN);
  EXPECT_EQ(q.qname_off, kHeaderLen);
  EXPECT_EQ(q.qname_len, 17u);
  EXPECT_EQ(q.question_end, p.b.size());
  EXPECT_FALSE(q.edns.present);
  EXPECT_EQ(p.b[q.qname_off + 5], 'E');  // the question is left as sent (0x20 case)
}

TEST(ParseQuery, ShortOrResponsePacketsAreDropped) {
  Packet p = simple();
  Query q;
  EXPECT_EQ(parse_query(p.b.data(), 0, q), ParseResult::kDrop);
  EXPECT_EQ(parse_query(p.b.data(), 11, q), ParseResult::kDrop);
  Packet r = simple(flag::QR);
  EXPECT_EQ(r.parse(), ParseResult::kDrop);
}

TEST(ParseQuery, TruncatedQuestionIsFormErr) {
  Packet p = simple();
  for (size_t len = kHeaderLen; len < p.b.size(); ++len) {
    Query q;
    EXPECT_EQ(parse_query(p.b.data(), len, q), ParseResult::kFormErr) << len;
  }
}

TEST(ParseQuery, BadQuestionNames) {
  {  // compression pointer in the question (nothing before it to point to)
    Packet p;
    p.header(0, 1, 0, 0, 0);
    p.u8(0xC0);
    p.u8(12);
    p.u16(rrtype::A);
    p.u16(rrclass::IN);
    EXPECT_EQ(p.parse(), ParseResult::kFormErr);
  }
  {  // label of 64 octets
    Packet p;
    p.header(0, 1, 0, 0, 0);
    p.u8(64);
    p.b.insert(p.b.end(), 64, 'a');
    p.u8(0);
    p.u16(rrtype::A);
    p.u16(rrclass::IN);
    EXPECT_EQ(p.parse(), ParseResult::kFormErr);
  }
  {  // name of 257 octets: four 63-octet labels + a 1-octet label + root
    Packet p;
    p.header(0, 1, 0, 0, 0);
    for (int i = 0; i < 4; ++i) {
      p.u8(63);
      p.b.insert(p.b.end(), 63, 'a');
    }
    p.u8(1);
    p.u8('b');
    p.u8(0);
    p.u16(rrtype::A);
    p.u16(rrclass::IN);
    EXPECT_EQ(p.parse(), ParseResult::kFormErr);
  }
  {  // exactly 255 octets is fine
    Packet p;
    p.header(0, 1, 0, 0, 0);
    for (int i = 0; i < 3; ++i) {
      p.u8(63);
      p.b.insert(p.b.end(), 63, 'a');
    }
    p.u8(61);
    p.b.insert(p.b.end(), 61, 'c');
    p.u8(0);
    p.u16(rrtype::A);
    p.u16(rrclass::IN);
    Query q;
    EXPECT_EQ(p.parse(q), ParseResult::kOk);
    EXPECT_EQ(q.qname_len, 255u);
  }
  {  // extended label type
    Packet p;
    p.header(0, 1, 0, 0, 0);
    p.u8(0x41);
    p.u8('x');
    p.u8(0);
    p.u16(rrtype::A);
    p.u16(rrclass::IN);
    EXPECT_EQ(p.parse(), ParseResult::kFormErr);
  }
}

TEST(ParseQuery, WrongCounts) {
  {  // QDCOUNT 0
    Packet p;
    p.header(0, 0, 0, 0, 0);
    EXPECT_EQ(p.parse(), ParseResult::kFormErr);
  }
  {  // QDCOUNT 2
    Packet p = simple();
    p.b[5] = 2;
    p.name("x.");
    p.u16(rrtype::A);
    p.u16(rrclass::IN);
    EXPECT_EQ(p.parse(), ParseResult::kFormErr);
  }
  {  // ANCOUNT 1 with nothing there
    Packet p = simple();
    p.b[7] = 1;
    EXPECT_EQ(p.parse(), ParseResult::kFormErr);
  }
  {  // ARCOUNT 3 with one record
    Packet p = simple(0, 3);
    p.opt(1232, 0, false, {});
    EXPECT_EQ(p.parse(), ParseResult::kFormErr);
  }
  {  // NSCOUNT 65535
    Packet p = simple();
    p.b[8] = 0xFF;
    p.b[9] = 0xFF;
    EXPECT_EQ(p.parse(), ParseResult::kFormErr);
  }
  {  // an answer record whose RDLENGTH runs past the end
    Packet p = simple();
    p.b[7] = 1;
    p.u8(0xC0);
    p.u8(12);
    p.u16(rrtype::A);
    p.u16(rrclass::IN);
    p.u32(0);
    p.u16(200);
    p.u32(0);
    EXPECT_EQ(p.parse(), ParseResult::kFormErr);
  }
}

TEST(ParseQuery, RecordsWithPointerLoopsDoNotHang) {
  // An additional record whose owner is a pointer to itself.
  Packet p = simple(0, 1);
  size_t at = p.b.size();
  p.u8(static_cast<uint8_t>(0xC0 | (at >> 8)));
  p.u8(static_cast<uint8_t>(at));
  p.u16(rrtype::A);
  p.u16(rrclass::IN);
  p.u32(0);
  p.u16(4);
  p.u32(0x7F000001);
  ParseResult r = p.parse();
  EXPECT_TRUE(r == ParseResult::kOk || r == ParseResult::kFormErr);
}

TEST(ParseQuery, OpcodesAreChecked) {
  Packet notify = simple(static_cast<uint16_t>(opcode::NOTIFY << 11));
  Query q;
  EXPECT_EQ(notify.parse(q), ParseResult::kOk);
  EXPECT_EQ(q.opcode, opcode::NOTIFY);
  Packet update = simple(static_cast<uint16_t>(opcode::UPDATE << 11));
  EXPECT_EQ(update.parse(), ParseResult::kNotImp);
  Packet op15 = simple(static_cast<uint16_t>(15 << 11));
  EXPECT_EQ(op15.parse(), ParseResult::kNotImp);
  // opcode 15 with no question at all (dig +header-only) still gets NOTIMP.
  Packet header_only;
  header_only.header(static_cast<uint16_t>(15 << 11), 0, 0, 0, 0);
  EXPECT_EQ(header_only.parse(), ParseResult::kNotImp);
}

TEST(ParseQuery, Edns) {
  Packet p = simple(0, 1);
  p.opt(4096, 0, true, {});
  Query q;
  ASSERT_EQ(p.parse(q), ParseResult::kOk);
  EXPECT_TRUE(q.edns.present);
  EXPECT_EQ(q.edns.udp_size, 4096);
  EXPECT_EQ(q.edns.version, 0);
  EXPECT_TRUE(q.edns.do_bit);
  EXPECT_FALSE(q.edns.ecs.present);
}

TEST(ParseQuery, EdnsVersion1IsBadVers) {
  Packet p = simple(0, 1);
  p.opt(1232, 1, true, {0, 100, 0, 0});
  Query q;
  EXPECT_EQ(p.parse(q), ParseResult::kBadVers);
  EXPECT_TRUE(q.edns.present);
  EXPECT_EQ(q.edns.version, 1);
}

TEST(ParseQuery, UnknownOptionsAreIgnored) {
  Packet p = simple(0, 1);
  p.opt(1232, 0, false,
        {0, 100, 0, 2, 0xAB, 0xCD, 0, ednsopt::COOKIE, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8});
  EXPECT_EQ(p.parse(), ParseResult::kOk);
}

TEST(ParseQuery, TwoOptsAreFormErr) {
  Packet p = simple(0, 2);
  p.opt(1232, 0, false, {});
  p.opt(1232, 0, false, {});
  EXPECT_EQ(p.parse(), ParseResult::kFormErr);
}

TEST(ParseQuery, OptNotAtRootIsFormErr) {
  Packet p = simple(0, 1);
  p.name("x.");
  p.u16(rrtype::OPT);
  p.u16(1232);
  p.u32(0);
  p.u16(0);
  EXPECT_EQ(p.parse(), ParseResult::kFormErr);
}

TEST(ParseQuery, MalformedOptionListIsFormErr) {
  {  // option length beyond RDATA
    Packet p = simple(0, 1);
    p.opt(1232, 0, false, {0, 100, 0, 9, 1, 2});
    EXPECT_EQ(p.parse(), ParseResult::kFormErr);
  }
  {  // stray octets after the last option
    Packet p = simple(0, 1);
    p.opt(1232, 0, false, {0, 100, 0, 0, 1});
    EXPECT_EQ(p.parse(), ParseResult::kFormErr);
  }
  {  // RDATA too short for an option header
    Packet p = simple(0, 1);
    p.opt(1232, 0, false, {0, 100});
    EXPECT_EQ(p.parse(), ParseResult::kFormErr);
  }
}

TEST(ParseQuery, ClientSubnet) {
  Packet p = simple(0, 1);
  p.opt(1232, 0, false, ecs(1, 24, 0, {192, 0, 2}));
  Query q;
  ASSERT_EQ(p.parse(q), ParseResult::kOk);
  ASSERT_TRUE(q.edns.ecs.present);
  EXPECT_EQ(q.edns.ecs.family, 1);
  EXPECT_EQ(q.edns.ecs.source_prefix, 24);
  EXPECT_EQ(q.edns.ecs.addr[0], 192);
  EXPECT_EQ(q.edns.ecs.addr[2], 2);
  Packet v6 = simple(0, 1);
  v6.opt(1232, 0, false, ecs(2, 56, 0, {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0}));
  EXPECT_EQ(v6.parse(), ParseResult::kOk);
  Packet zero = simple(0, 1);
  zero.opt(1232, 0, false, ecs(1, 0, 0, {}));
  EXPECT_EQ(zero.parse(), ParseResult::kOk);
}

TEST(ParseQuery, BadClientSubnetIsFormErr) {
  struct Bad {
    const char* why;
    std::vector<uint8_t> opt;
  };
  std::vector<Bad> cases = {
      {"unknown family", ecs(3, 8, 0, {1})},
      {"IPv4 prefix 33", ecs(1, 33, 0, {1, 2, 3, 4, 5})},
      {"IPv6 prefix 129", ecs(2, 129, 0, std::vector<uint8_t>(17, 0))},
      {"scope in a query", ecs(1, 24, 8, {192, 0, 2})},
      {"address longer than the prefix", ecs(1, 16, 0, {192, 0, 2})},
      {"address shorter than the prefix", ecs(1, 24, 0, {192, 0})},
      {"bits beyond the prefix", ecs(1, 23, 0, {192, 0, 3})},
      {"option shorter than 4 octets", {0, ednsopt::ECS, 0, 2, 0, 1}},
  };
  for (const Bad& b : cases) {
    Packet p = simple(0, 1);
    p.opt(1232, 0, false, b.opt);
    EXPECT_EQ(p.parse(), ParseResult::kFormErr) << b.why;
  }
  // Two ECS options.
  Packet two = simple(0, 1);
  auto o = ecs(1, 24, 0, {192, 0, 2});
  auto both = o;
  both.insert(both.end(), o.begin(), o.end());
  two.opt(1232, 0, false, both);
  EXPECT_EQ(two.parse(), ParseResult::kFormErr);
}

TEST(ParseQuery, RandomMutationsNeverReadOutOfBounds) {
  // Mutates a valid EDNS query at random; each parse must finish with some result. Packets are
  // copied into exactly-sized heap buffers so that ASan builds catch any over-read.
  Packet base = simple(flag::RD, 1);
  base.opt(1232, 0, true, ecs(1, 24, 0, {192, 0, 2}));
  std::mt19937 rng(12345);
  for (int i = 0; i < 20000; ++i) {
    std::vector<uint8_t> m = base.b;
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      m[rng() % m.size()] = static_cast<uint8_t>(rng());
    }
    m.resize(rng() % (m.size() + 1));
    auto heap = std::make_unique<uint8_t[]>(m.size() + 1);
    std::copy(m.begin(), m.end(), heap.get());
    Query q;
    ParseResult r = parse_query(heap.get(), m.size(), q);
    if (r == ParseResult::kOk) {
      ASSERT_LE(q.question_end, m.size());
      ASSERT_LE(q.qname_off + q.qname_len, m.size());
    }
  }
}

}  // namespace
}  // namespace steerdns::dns
