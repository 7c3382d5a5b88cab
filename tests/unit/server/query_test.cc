// Answers of the query engine (answer_query) for the test zones in tests/data/zones: RFC 1034
// 4.3.2, RFC 2308, RFC 4592, RFC 6672, RFC 8020, RFC 8482, RFC 6891 and RFC 7871 behaviour.
#include "server/query.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "dns/message.h"
#include "dns/name.h"
#include "dns/rdata.h"
#include "dns/rrtype.h"
#include "testlib/dns_wire.h"
#include "zone/loader.h"

namespace steerdns::server {
namespace {

namespace rt = dns::rrtype;
using dns::Name;

using testutil::build_query;
using testutil::Opt;
using testutil::parse_response;
using testutil::Q;
using testutil::Resp;
using testutil::RR;
using testutil::texts;

using Strings = std::vector<std::string>;

// ---- fixture: all test zones loaded into one RuntimeConfig ----

class QueryTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::vector<std::shared_ptr<const zone::Zone>> zones;
    for (const char* origin : {"example.com", "example.net", "2.0.192.in-addr.arpa"}) {
      auto n = Name::from_text(std::string(origin) + ".");
      std::string path = std::string(STEERDNS_TESTDATA) + "/zones/" + origin + ".zone";
      auto z = zone::load_zone_file(*n, path);
      ASSERT_TRUE(z.ok()) << z.error();
      zones.push_back(*z);
    }
    auto cfg = std::make_shared<config::RuntimeConfig>();
    cfg->set_zones(std::move(zones));
    cfg->chaos.version = "steerdns-test";
    cfg->chaos.id = "test-node";
    cfg_ = cfg;
  }
  static void TearDownTestSuite() { cfg_.reset(); }

  Resp ask(const Q& q, Transport t = Transport::kUdp, size_t cap = 65535,
           const config::RuntimeConfig* cfg = nullptr) {
    return ask_raw(build_query(q), t, cap, cfg);
  }
  Resp ask_raw(const std::vector<uint8_t>& pkt, Transport t = Transport::kUdp, size_t cap = 65535,
               const config::RuntimeConfig* cfg = nullptr) {
    out_.assign(cap, 0);
    ClientInfo ci;
    ci.transport = t;
    size_t n =
        answer_query(cfg ? *cfg : *cfg_, pkt.data(), pkt.size(), out_.data(), cap, ci, &info_);
    EXPECT_LE(n, cap);
    if (n == 0) return Resp{};
    Resp r = parse_response(out_.data(), n);
    EXPECT_TRUE(r.ok) << "response does not parse";
    EXPECT_EQ(r.id, 0xBEEF);
    EXPECT_TRUE(r.flags & dns::flag::QR);
    return r;
  }
  Resp ask(const std::string& name, uint16_t type, Transport t = Transport::kUdp) {
    Q q;
    q.name = name;
    q.type = type;
    return ask(q, t);
  }

  static std::shared_ptr<const config::RuntimeConfig> cfg_;
  std::vector<uint8_t> out_;
  AnswerInfo info_;
};
std::shared_ptr<const config::RuntimeConfig> QueryTest::cfg_;

const char kSoaCom[] =
    "example.com. 300 SOA ns1.example.com. hostmaster.example.com. 2024010101 7200 3600 1209600 "
    "300";

// ---- RFC 1034 4.3.2 ----

TEST_F(QueryTest, AuthoritativeAnswer) {
  Resp r = ask("www.example.com.", rt::A);
  EXPECT_EQ(r.rcode, dns::rcode::NOERROR);
  EXPECT_TRUE(r.aa());
  EXPECT_FALSE(r.tc());
  EXPECT_FALSE(r.flags & dns::flag::RA);
  EXPECT_EQ(texts(r.an),
            (Strings{"www.example.com. 3600 A 192.0.2.80", "www.example.com. 3600 A 192.0.2.81"}));
  EXPECT_TRUE(r.ns.empty());
  EXPECT_TRUE(r.ar.empty());
  EXPECT_FALSE(r.has_opt);
  EXPECT_EQ(info_.rcode, dns::rcode::NOERROR);
}

TEST_F(QueryTest, QuestionCaseIsEchoed) {
  Resp r = ask("wWw.ExAmPlE.cOm.", rt::AAAA);
  EXPECT_EQ(r.qname, "wWw.ExAmPlE.cOm.");
  EXPECT_EQ(texts(r.an), (Strings{"wWw.ExAmPlE.cOm. 3600 AAAA 2001:db8::80"}));
  Resp r2 = ask("www2.EXAMPLE.com.", rt::A);
  EXPECT_EQ(r2.qname, "www2.EXAMPLE.com.");
  ASSERT_EQ(r2.an.size(), 1u);
  EXPECT_EQ(r2.an[0].rdata, "192.0.2.82");
}

TEST_F(QueryTest, HeaderFlagsCopiedOrCleared) {
  Q q;
  q.name = "www.example.com.";
  q.flags = dns::flag::RD | dns::flag::CD | dns::flag::Z | dns::flag::AD;
  Resp r = ask(q);
  EXPECT_TRUE(r.flags & dns::flag::RD);
  EXPECT_TRUE(r.flags & dns::flag::CD);
  EXPECT_FALSE(r.flags & dns::flag::Z);   // MBZ: not copied
  EXPECT_FALSE(r.flags & dns::flag::RA);  // not a resolver
  EXPECT_FALSE(r.flags & dns::flag::AD);
  Q q2 = q;
  q2.flags = 0;
  EXPECT_FALSE(ask(q2).flags & dns::flag::RD);
}

TEST_F(QueryTest, MxAndSrvGetAdditionalAddresses) {
  Resp r = ask("example.com.", rt::MX);
  EXPECT_TRUE(r.aa());
  EXPECT_EQ(texts(r.an), (Strings{"example.com. 3600 MX 10 mail.example.com.",
                                  "example.com. 3600 MX 20 mail.example.net."}));
  EXPECT_EQ(texts(r.ar), (Strings{"mail.example.com. 3600 A 192.0.2.25",
                                  "mail.example.com. 3600 AAAA 2001:db8::25"}));
  Resp s = ask("_sip._udp.example.com.", rt::SRV);
  EXPECT_EQ(texts(s.an), (Strings{"_sip._udp.example.com. 3600 SRV 0 5 5060 sip.example.com."}));
  EXPECT_EQ(texts(s.ar), (Strings{"sip.example.com. 3600 A 192.0.2.60"}));
}

TEST_F(QueryTest, CnameChainInsideTheZone) {
  Resp r = ask("chain1.example.com.", rt::A);
  EXPECT_EQ(r.rcode, dns::rcode::NOERROR);
  EXPECT_TRUE(r.aa());
  ASSERT_EQ(r.an.size(), 5u);
  // In chain order, then the final data.
  EXPECT_EQ(r.an[0].text(), "chain1.example.com. 3600 CNAME chain2.example.com.");
  EXPECT_EQ(r.an[1].text(), "chain2.example.com. 3600 CNAME chain3.example.com.");
  EXPECT_EQ(r.an[2].text(), "chain3.example.com. 3600 CNAME www.example.com.");
  EXPECT_EQ(r.an[3].type, rt::A);
  EXPECT_EQ(r.an[4].type, rt::A);
  EXPECT_TRUE(r.ns.empty());
}

TEST_F(QueryTest, CnameQueriedDirectlyIsNotFollowed) {
  Resp r = ask("chain1.example.com.", rt::CNAME);
  EXPECT_EQ(texts(r.an), (Strings{"chain1.example.com. 3600 CNAME chain2.example.com."}));
}

TEST_F(QueryTest, CnameOutOfZoneStops) {
  Resp r = ask("ext.example.com.", rt::A);
  EXPECT_EQ(r.rcode, dns::rcode::NOERROR);
  EXPECT_TRUE(r.aa());
  EXPECT_EQ(texts(r.an), (Strings{"ext.example.com. 3600 CNAME www.example.org."}));
  EXPECT_TRUE(r.ns.empty());
}

TEST_F(QueryTest, CnameToMissingNameIsNxdomain) {
  // RFC 6604: the rcode describes the last name of the chain.
  Resp r = ask("dangling.example.com.", rt::A);
  EXPECT_EQ(r.rcode, dns::rcode::NXDOMAIN);
  EXPECT_TRUE(r.aa());
  EXPECT_EQ(texts(r.an), (Strings{"dangling.example.com. 3600 CNAME nothing-here.example.com."}));
  EXPECT_EQ(texts(r.ns), (Strings{kSoaCom}));
}

TEST_F(QueryTest, CnameIntoDelegationGivesReferral) {
  Resp r = ask("tosub.example.com.", rt::A);
  EXPECT_EQ(r.rcode, dns::rcode::NOERROR);
  EXPECT_TRUE(r.aa());  // the CNAME is ours
  EXPECT_EQ(texts(r.an), (Strings{"tosub.example.com. 3600 CNAME host.sub.example.com."}));
  EXPECT_EQ(texts(r.ns), (Strings{"sub.example.com. 3600 NS ns.example.net.",
                                  "sub.example.com. 3600 NS ns.sub.example.com."}));
}

TEST_F(QueryTest, NodataHasSoaWithNegativeTtl) {
  Resp r = ask("www.example.com.", rt::MX);
  EXPECT_EQ(r.rcode, dns::rcode::NOERROR);
  EXPECT_TRUE(r.aa());
  EXPECT_TRUE(r.an.empty());
  EXPECT_EQ(texts(r.ns), (Strings{kSoaCom}));  // TTL = min(3600, MINIMUM 300)
  // example.net: SOA TTL 300, MINIMUM 60.
  Resp n = ask("host.example.net.", rt::MX);
  ASSERT_EQ(n.ns.size(), 1u);
  EXPECT_EQ(n.ns[0].type, rt::SOA);
  EXPECT_EQ(n.ns[0].ttl, 60u);
  // Unknown type at an existing name.
  Resp u = ask("www.example.com.", 1000);
  EXPECT_EQ(u.rcode, dns::rcode::NOERROR);
  EXPECT_TRUE(u.an.empty());
  EXPECT_EQ(texts(u.ns), (Strings{kSoaCom}));
}

TEST_F(QueryTest, NxdomainHasSoa) {
  Resp r = ask("nope.example.com.", rt::A);
  EXPECT_EQ(r.rcode, dns::rcode::NXDOMAIN);
  EXPECT_TRUE(r.aa());
  EXPECT_TRUE(r.an.empty());
  EXPECT_EQ(texts(r.ns), (Strings{kSoaCom}));
  EXPECT_EQ(info_.rcode, dns::rcode::NXDOMAIN);
}

TEST_F(QueryTest, Rfc8020NxdomainBelowNxdomain) {
  EXPECT_EQ(ask("a.b.nope.example.com.", rt::A).rcode, dns::rcode::NXDOMAIN);
  EXPECT_EQ(ask("x.a.b.c.nope.example.com.", rt::TXT).rcode, dns::rcode::NXDOMAIN);
  // ... but an empty non-terminal exists: NODATA, and names below it are NXDOMAIN.
  Resp ent = ask("b.ent.example.com.", rt::A);
  EXPECT_EQ(ent.rcode, dns::rcode::NOERROR);
  EXPECT_TRUE(ent.an.empty());
  EXPECT_EQ(texts(ent.ns), (Strings{kSoaCom}));
  EXPECT_EQ(ask("ent.example.com.", rt::A).rcode, dns::rcode::NOERROR);
  EXPECT_EQ(ask("x.b.ent.example.com.", rt::A).rcode, dns::rcode::NXDOMAIN);
  EXPECT_EQ(ask("a.b.ent.example.com.", rt::A).an.size(), 1u);
}

TEST_F(QueryTest, ReferralWithGlue) {
  Resp r = ask("host.sub.example.com.", rt::A);
  EXPECT_EQ(r.rcode, dns::rcode::NOERROR);
  EXPECT_FALSE(r.aa());
  EXPECT_TRUE(r.an.empty());
  EXPECT_EQ(texts(r.ns), (Strings{"sub.example.com. 3600 NS ns.example.net.",
                                  "sub.example.com. 3600 NS ns.sub.example.com."}));
  EXPECT_EQ(texts(r.ar), (Strings{"ns.sub.example.com. 3600 A 192.0.2.100",
                                  "ns.sub.example.com. 3600 AAAA 2001:db8::100"}));
  // The cut itself, for NS or any other type.
  Resp cut = ask("sub.example.com.", rt::NS);
  EXPECT_FALSE(cut.aa());
  EXPECT_TRUE(cut.an.empty());
  EXPECT_EQ(cut.ns.size(), 2u);
  EXPECT_FALSE(ask("sub.example.com.", rt::A).aa());
}

TEST_F(QueryTest, ReferralWithoutInBailiwickGlue) {
  Resp r = ask("www.other.example.com.", rt::A);
  EXPECT_FALSE(r.aa());
  EXPECT_EQ(texts(r.ns), (Strings{"other.example.com. 3600 NS ns1.example.net."}));
  EXPECT_TRUE(r.ar.empty());
}

TEST_F(QueryTest, DsIsAnsweredAtTheParentSideOfACut) {
  Resp r = ask("sub.example.com.", rt::DS);
  EXPECT_EQ(r.rcode, dns::rcode::NOERROR);
  EXPECT_TRUE(r.aa());
  ASSERT_EQ(r.an.size(), 1u);
  EXPECT_EQ(r.an[0].type, rt::DS);
  EXPECT_EQ(r.an[0].rdata.rfind("12345 13 2 0C72AC70", 0), 0u) << r.an[0].rdata;
  // DS for a cut without one: NODATA from the parent.
  Resp o = ask("other.example.com.", rt::DS);
  EXPECT_TRUE(o.aa());
  EXPECT_TRUE(o.an.empty());
  EXPECT_EQ(texts(o.ns), (Strings{kSoaCom}));
  // DS below the cut belongs to the child: referral.
  Resp below = ask("x.sub.example.com.", rt::DS);
  EXPECT_FALSE(below.aa());
  EXPECT_EQ(below.ns.size(), 2u);
}

TEST_F(QueryTest, OccludedGlueIsNotAnsweredAuthoritatively) {
  Resp r = ask("ns.sub.example.com.", rt::A);
  EXPECT_FALSE(r.aa());
  EXPECT_TRUE(r.an.empty());
  EXPECT_EQ(r.ns.size(), 2u);
  EXPECT_EQ(r.ns[0].name, "sub.example.com.");
}

// ---- RFC 4592 wildcards ----

TEST_F(QueryTest, WildcardSynthesis) {
  Resp r = ask("Foo.wild.example.com.", rt::A);
  EXPECT_EQ(r.rcode, dns::rcode::NOERROR);
  EXPECT_TRUE(r.aa());
  EXPECT_EQ(texts(r.an), (Strings{"Foo.wild.example.com. 3600 A 192.0.2.70"}));
  EXPECT_EQ(texts(ask("foo.wild.example.com.", rt::TXT).an),
            (Strings{"foo.wild.example.com. 3600 TXT \"wildcard\""}));
  // Several labels below the closest encloser still match.
  EXPECT_EQ(texts(ask("a.b.wild.example.com.", rt::A).an),
            (Strings{"a.b.wild.example.com. 3600 A 192.0.2.70"}));
  // Wildcard without the type: NODATA.
  Resp nd = ask("foo.wild.example.com.", rt::MX);
  EXPECT_EQ(nd.rcode, dns::rcode::NOERROR);
  EXPECT_TRUE(nd.an.empty());
  EXPECT_EQ(texts(nd.ns), (Strings{kSoaCom}));
}

TEST_F(QueryTest, WildcardDoesNotApplyToExistingNames) {
  Resp r = ask("exact.wild.example.com.", rt::TXT);
  EXPECT_EQ(r.rcode, dns::rcode::NOERROR);
  EXPECT_TRUE(r.an.empty());
  // Below an existing name the wildcard of its parent does not apply either.
  EXPECT_EQ(ask("x.exact.wild.example.com.", rt::A).rcode, dns::rcode::NXDOMAIN);
  // The wildcard owner itself answers as a normal name.
  EXPECT_EQ(texts(ask("*.wild.example.com.", rt::A).an),
            (Strings{"*.wild.example.com. 3600 A 192.0.2.70"}));
}

TEST_F(QueryTest, WildcardCname) {
  Resp r = ask("anything.cw.example.com.", rt::A);
  EXPECT_EQ(r.rcode, dns::rcode::NOERROR);
  EXPECT_TRUE(r.aa());
  ASSERT_EQ(r.an.size(), 3u);
  EXPECT_EQ(r.an[0].text(), "anything.cw.example.com. 3600 CNAME www.example.com.");
  EXPECT_EQ(r.an[1].name, "www.example.com.");
}

TEST_F(QueryTest, EmptyNonTerminalBlocksWildcard) {
  // x.ent2 exists only as the parent of *.x.ent2.
  Resp ent = ask("x.ent2.example.com.", rt::A);
  EXPECT_EQ(ent.rcode, dns::rcode::NOERROR);
  EXPECT_TRUE(ent.an.empty());
  EXPECT_EQ(texts(ask("q.x.ent2.example.com.", rt::A).an),
            (Strings{"q.x.ent2.example.com. 3600 A 192.0.2.72"}));
  EXPECT_EQ(ask("z.ent2.example.com.", rt::A).rcode, dns::rcode::NXDOMAIN);
  // Apex wildcard of example.net does not reach below the ENT c.example.net.
  Resp c = ask("c.example.net.", rt::A);
  EXPECT_EQ(c.rcode, dns::rcode::NOERROR);
  EXPECT_TRUE(c.an.empty());
  EXPECT_EQ(ask("zz.c.example.net.", rt::A).rcode, dns::rcode::NXDOMAIN);
  EXPECT_EQ(texts(ask("nothing.example.net.", rt::A).an),
            (Strings{"nothing.example.net. 300 A 198.51.100.99"}));
}

TEST_F(QueryTest, WildcardThatIsAnEmptyNonTerminal) {
  // *.star exists only because of a.*.star: a match gives NODATA (RFC 4592 4.1? 2.2.2).
  Resp r = ask("foo.star.example.com.", rt::A);
  EXPECT_EQ(r.rcode, dns::rcode::NOERROR);
  EXPECT_TRUE(r.an.empty());
  EXPECT_EQ(texts(r.ns), (Strings{kSoaCom}));
  EXPECT_EQ(texts(ask("a.*.star.example.com.", rt::A).an),
            (Strings{"a.*.star.example.com. 3600 A 192.0.2.74"}));
  // a.foo.star: closest encloser star, the wildcard is empty: NODATA too.
  EXPECT_EQ(ask("a.foo.star.example.com.", rt::A).rcode, dns::rcode::NOERROR);
}

// ---- RFC 6672 DNAME ----

TEST_F(QueryTest, DnameToAnotherZone) {
  Resp r = ask("www.dn.example.com.", rt::A);
  EXPECT_EQ(r.rcode, dns::rcode::NOERROR);
  EXPECT_TRUE(r.aa());
  ASSERT_EQ(r.an.size(), 2u);
  EXPECT_EQ(r.an[0].text(), "dn.example.com. 3600 DNAME example.net.");
  EXPECT_EQ(r.an[1].text(), "www.dn.example.com. 3600 CNAME www.example.net.");
  EXPECT_TRUE(r.ns.empty());
}

TEST_F(QueryTest, DnameOwnerItself) {
  EXPECT_EQ(texts(ask("dn.example.com.", rt::DNAME).an),
            (Strings{"dn.example.com. 3600 DNAME example.net."}));
  Resp a = ask("dn.example.com.", rt::A);
  EXPECT_EQ(a.rcode, dns::rcode::NOERROR);
  EXPECT_TRUE(a.an.empty());
  EXPECT_EQ(texts(a.ns), (Strings{kSoaCom}));
}

TEST_F(QueryTest, DnameInsideTheZoneIsFollowed) {
  Resp r = ask("foo.dnin.example.com.", rt::A);
  EXPECT_EQ(r.rcode, dns::rcode::NOERROR);
  ASSERT_EQ(r.an.size(), 3u);
  EXPECT_EQ(r.an[0].text(), "dnin.example.com. 3600 DNAME wild.example.com.");
  EXPECT_EQ(r.an[1].text(), "foo.dnin.example.com. 3600 CNAME foo.wild.example.com.");
  EXPECT_EQ(r.an[2].text(), "foo.wild.example.com. 3600 A 192.0.2.70");
}

TEST_F(QueryTest, DnameCnameQueryStopsAtTheSynthesisedCname) {
  // RFC 6672 3.2: the synthesised CNAME answers a CNAME query; its target is not chased.
  Resp r = ask("foo.dnin.example.com.", rt::CNAME);
  EXPECT_EQ(r.rcode, dns::rcode::NOERROR);
  EXPECT_TRUE(r.aa());
  EXPECT_EQ(texts(r.an), (Strings{"dnin.example.com. 3600 DNAME wild.example.com.",
                                  "foo.dnin.example.com. 3600 CNAME foo.wild.example.com."}));
  EXPECT_TRUE(r.ns.empty());
}

TEST_F(QueryTest, DnameOverflowIsYxdomain) {
  // yx.example.com. (16 octets) has a 59-octet target. A 239-octet name below it would become
  // 239 - 16 + 59 = 282 octets.
  std::string prefix = std::string(63, 'a') + "." + std::string(63, 'b') + "." +
                       std::string(63, 'c') + "." + std::string(30, 'd') + ".";
  Resp r = ask(prefix + "yx.example.com.", rt::A, Transport::kTcp);
  EXPECT_EQ(r.rcode, dns::rcode::YXDOMAIN);
  EXPECT_TRUE(r.aa());
  ASSERT_EQ(r.an.size(), 1u);  // the DNAME; no CNAME can be synthesised
  EXPECT_EQ(r.an[0].type, rt::DNAME);
  std::string fits = std::string(63, 'a') + "." + std::string(63, 'b') + "." +
                     std::string(63, 'c') + "." + std::string(3, 'd') + ".";
  // 196 + 59 = 255 octets: the largest legal result.
  Resp ok = ask(fits + "yx.example.com.", rt::A, Transport::kTcp);
  EXPECT_EQ(ok.rcode, dns::rcode::NOERROR);
  ASSERT_EQ(ok.an.size(), 2u);
  EXPECT_EQ(ok.an[1].type, rt::CNAME);
  EXPECT_EQ(ok.an[1].rdata.size(), 254u);  // presentation of a 255-octet name
  Resp w = ask("w.yx.example.com.", rt::A);
  EXPECT_EQ(w.rcode, dns::rcode::NOERROR);
  EXPECT_EQ(w.an.size(), 2u);
}

// ---- outside our zones, opcodes, malformed ----

TEST_F(QueryTest, RefusedOutsideOurZones) {
  for (const char* name : {"www.example.org.", ".", "com.", "example.co."}) {
    Resp r = ask(name, rt::A);
    EXPECT_EQ(r.rcode, dns::rcode::REFUSED) << name;
    EXPECT_FALSE(r.aa()) << name;
    EXPECT_TRUE(r.an.empty() && r.ns.empty() && r.ar.empty()) << name;
  }
}

TEST_F(QueryTest, ReverseZone) {
  EXPECT_EQ(texts(ask("80.2.0.192.in-addr.arpa.", rt::PTR).an),
            (Strings{"80.2.0.192.in-addr.arpa. 86400 PTR www.example.com."}));
  // Classless delegation label with a slash.
  EXPECT_FALSE(ask("5.0/26.2.0.192.in-addr.arpa.", rt::PTR).aa());
}

TEST_F(QueryTest, UnknownOpcodesAreNotImp) {
  for (uint16_t op : {1, 2, 3, 5, 6, 15}) {
    Q q;
    q.name = "www.example.com.";
    q.flags = static_cast<uint16_t>(op << 11);
    Resp r = ask(q);
    EXPECT_EQ(r.rcode, dns::rcode::NOTIMP) << op;
    EXPECT_FALSE(r.aa()) << op;
    EXPECT_EQ(r.flags >> 11 & 0xF, op);  // opcode echoed
    EXPECT_TRUE(r.an.empty() && r.ns.empty()) << op;
  }
}

TEST_F(QueryTest, MalformedQueriesGetFormErrOrNothing) {
  auto pkt = build_query(Q{"www.example.com."});
  // QDCOUNT 0.
  std::vector<uint8_t> no_q(pkt.begin(), pkt.begin() + 12);
  no_q[5] = 0;
  Resp r = ask_raw(no_q);
  EXPECT_EQ(r.rcode, dns::rcode::FORMERR);
  EXPECT_FALSE(r.aa());
  // Truncated question.
  std::vector<uint8_t> cut(pkt.begin(), pkt.end() - 3);
  EXPECT_EQ(ask_raw(cut).rcode, dns::rcode::FORMERR);
  // A response is never answered; neither is a runt.
  std::vector<uint8_t> resp = pkt;
  resp[2] |= 0x80;
  out_.assign(512, 0);
  EXPECT_EQ(answer_query(*cfg_, resp.data(), resp.size(), out_.data(), 512, ClientInfo{}), 0u);
  EXPECT_EQ(answer_query(*cfg_, pkt.data(), 5, out_.data(), 512, ClientInfo{}), 0u);
  // qtype OPT in the question.
  EXPECT_EQ(ask("www.example.com.", rt::OPT).rcode, dns::rcode::FORMERR);
}

TEST_F(QueryTest, RandomGarbageNeverCrashes) {
  std::mt19937 rng(7);
  std::vector<uint8_t> base = build_query(Q{"www.example.com.", rt::A, 1, 0, true, Opt{}});
  for (int i = 0; i < 20000; ++i) {
    std::vector<uint8_t> m = base;
    int edits = 1 + static_cast<int>(rng() % 6);
    for (int e = 0; e < edits; ++e) m[rng() % m.size()] = static_cast<uint8_t>(rng());
    m.resize(rng() % (m.size() + 8));
    std::vector<uint8_t> out(512);
    ClientInfo ci;
    size_t n = answer_query(*cfg_, m.data(), m.size(), out.data(), out.size(), ci);
    ASSERT_LE(n, 512u);
    if (n) {
      ASSERT_GE(n, 12u);
      ASSERT_TRUE(out[2] & 0x80);
    }
  }
}

// ---- RFC 8482 ANY ----

TEST_F(QueryTest, MinimalAnyOverUdpFullOverTcp) {
  Resp u = ask("example.com.", rt::ANY, Transport::kUdp);
  EXPECT_EQ(u.rcode, dns::rcode::NOERROR);
  EXPECT_TRUE(u.aa());
  ASSERT_FALSE(u.an.empty());
  for (const RR& rr : u.an) EXPECT_EQ(rr.type, u.an[0].type);  // one RRset
  Resp t = ask("example.com.", rt::ANY, Transport::kTcp);
  std::vector<uint16_t> types;
  for (const RR& rr : t.an) types.push_back(rr.type);
  std::sort(types.begin(), types.end());
  types.erase(std::unique(types.begin(), types.end()), types.end());
  EXPECT_EQ(types,
            (std::vector<uint16_t>{rt::A, rt::NS, rt::SOA, rt::MX, rt::TXT, rt::HTTPS, rt::CAA}));
  // ANY at a CNAME gives the CNAME; at an ENT, NODATA.
  EXPECT_EQ(texts(ask("chain1.example.com.", rt::ANY).an),
            (Strings{"chain1.example.com. 3600 CNAME chain2.example.com."}));
  EXPECT_TRUE(ask("ent.example.com.", rt::ANY).an.empty());
}

// ---- truncation by payload size ----

TEST_F(QueryTest, TruncatesAt512WithoutEdns) {
  Resp r = ask("big.example.com.", rt::TXT);
  EXPECT_TRUE(r.tc());
  EXPECT_TRUE(r.an.empty());
  EXPECT_LE(r.size, 512u);
  EXPECT_EQ(r.qname, "big.example.com.");  // the question stays
  EXPECT_TRUE(info_.truncated);
  // Small answers are not truncated.
  EXPECT_FALSE(ask("www.example.com.", rt::A).tc());
  // Over TCP the whole RRset comes back.
  Resp t = ask("big.example.com.", rt::TXT, Transport::kTcp);
  EXPECT_FALSE(t.tc());
  EXPECT_EQ(t.an.size(), 4u);
  EXPECT_GT(t.size, 512u);
}

TEST_F(QueryTest, EdnsPayloadIsRespectedAndCappedAt1232) {
  Q q;
  q.name = "big.example.com.";
  q.type = rt::TXT;
  q.edns = true;
  q.opt.payload = 1232;
  Resp r = ask(q);
  EXPECT_FALSE(r.tc());
  EXPECT_EQ(r.an.size(), 4u);
  EXPECT_TRUE(r.has_opt);
  EXPECT_GT(r.size, 512u);
  EXPECT_LE(r.size, 1232u);
  q.opt.payload = 700;
  Resp small = ask(q);
  EXPECT_TRUE(small.tc());
  EXPECT_TRUE(small.an.empty());
  EXPECT_TRUE(small.has_opt);  // OPT stays in a truncated EDNS response
  EXPECT_LE(small.size, 700u);
  q.opt.payload = 100;  // below 512 counts as 512 (RFC 6891 6.2.3)
  Resp tiny = ask(q);
  EXPECT_TRUE(tiny.tc());
  EXPECT_LE(tiny.size, 512u);
  // 1800 octets do not fit even with a 4096 payload: our maximum is 1232.
  q.name = "huge.example.com.";
  q.opt.payload = 4096;
  Resp huge = ask(q);
  EXPECT_TRUE(huge.tc());
  EXPECT_LE(huge.size, 1232u);
  Resp huge_tcp = ask(q, Transport::kTcp);
  EXPECT_FALSE(huge_tcp.tc());
  EXPECT_EQ(huge_tcp.an.size(), 8u);
  EXPECT_EQ(huge_tcp.opt_payload, 1232);  // we advertise our own maximum
}

// ---- EDNS ----

TEST_F(QueryTest, EdnsBasics) {
  Q q;
  q.name = "www.example.com.";
  q.edns = true;
  q.opt.payload = 4096;
  Resp r = ask(q);
  EXPECT_TRUE(r.has_opt);
  EXPECT_EQ(r.opt_version, 0);
  EXPECT_EQ(r.opt_payload, 1232);
  EXPECT_EQ(r.opt_flags, 0);
  EXPECT_TRUE(r.opt_rdata.empty());
  EXPECT_TRUE(r.aa());
  EXPECT_EQ(r.an.size(), 2u);
}

TEST_F(QueryTest, EdnsVersion1IsBadVers) {
  Q q;
  q.name = "www.example.com.";
  q.edns = true;
  q.opt.version = 1;
  q.opt.do_bit = true;
  q.opt.options = {0, 100, 0, 0};
  Resp r = ask(q);
  EXPECT_EQ(r.flags & 0xF, 0);  // the low bits of BADVERS (16) are 0
  EXPECT_EQ(r.rcode, dns::rcode::BADVERS);
  EXPECT_TRUE(r.has_opt);
  EXPECT_EQ(r.opt_version, 0);
  EXPECT_FALSE(r.aa());
  EXPECT_TRUE(r.an.empty() && r.ns.empty() && r.ar.empty());
}

TEST_F(QueryTest, DoBitIsEchoedOtherFlagsAreNot) {
  Q q;
  q.name = "www.example.com.";
  q.edns = true;
  q.opt.do_bit = true;
  q.opt.ext_flags = 0x40;  // an unknown EDNS flag
  Resp r = ask(q);
  EXPECT_EQ(r.opt_flags, 0x8000);
  q.opt.do_bit = false;
  EXPECT_EQ(ask(q).opt_flags, 0);
}

TEST_F(QueryTest, UnknownOptionsAreNotEchoed) {
  Q q;
  q.name = "www.example.com.";
  q.edns = true;
  q.opt.options = {0, 100, 0, 2, 0xAB, 0xCD, 0, dns::ednsopt::NSID, 0, 0};
  Resp r = ask(q);
  EXPECT_EQ(r.rcode, dns::rcode::NOERROR);
  EXPECT_TRUE(r.has_opt);
  EXPECT_TRUE(r.opt_rdata.empty());
}

TEST_F(QueryTest, ClientSubnetEchoedWithScopeZero) {
  Q q;
  q.name = "www.example.com.";
  q.edns = true;
  q.opt.options = {0, dns::ednsopt::ECS, 0, 7, 0, 1, 24, 0, 198, 51, 100};
  Resp r = ask(q);
  EXPECT_EQ(r.rcode, dns::rcode::NOERROR);
  EXPECT_EQ(r.opt_rdata,
            (std::vector<uint8_t>{0, dns::ednsopt::ECS, 0, 7, 0, 1, 24, 0, 198, 51, 100}));
  // A malformed ECS is FORMERR.
  q.opt.options = {0, dns::ednsopt::ECS, 0, 7, 0, 1, 24, 8, 198, 51, 100};
  EXPECT_EQ(ask(q).rcode, dns::rcode::FORMERR);
}

TEST_F(QueryTest, NoOptInResponseWithoutOptInQuery) {
  EXPECT_FALSE(ask("nope.example.com.", rt::A).has_opt);
  Q q;
  q.name = "nope.example.com.";
  q.edns = true;
  Resp r = ask(q);
  EXPECT_TRUE(r.has_opt);
  EXPECT_EQ(r.rcode, dns::rcode::NXDOMAIN);
}

// ---- CHAOS ----

TEST_F(QueryTest, ChaosVersionAndId) {
  Q q;
  q.name = "version.bind.";
  q.type = rt::TXT;
  q.qclass = dns::rrclass::CH;
  Resp v = ask(q);
  EXPECT_EQ(v.rcode, dns::rcode::NOERROR);
  ASSERT_EQ(v.an.size(), 1u);
  EXPECT_EQ(v.an[0].rclass, dns::rrclass::CH);
  EXPECT_EQ(v.an[0].rdata, "\"steerdns-test\"");
  q.name = "ID.SERVER.";
  Resp id = ask(q);
  ASSERT_EQ(id.an.size(), 1u);
  EXPECT_EQ(id.an[0].rdata, "\"test-node\"");
  EXPECT_EQ(id.qname, "ID.SERVER.");
  q.name = "other.bind.";
  EXPECT_EQ(ask(q).rcode, dns::rcode::REFUSED);

  // Configured off, or with an empty string: REFUSED.
  config::RuntimeConfig off;
  off.chaos.enabled = false;
  off.chaos.version = "x";
  q.name = "version.bind.";
  EXPECT_EQ(ask(q, Transport::kUdp, 65535, &off).rcode, dns::rcode::REFUSED);
  config::RuntimeConfig empty;
  empty.chaos.version = "";
  EXPECT_EQ(ask(q, Transport::kUdp, 65535, &empty).rcode, dns::rcode::REFUSED);
}

TEST_F(QueryTest, OtherClassesAreRefused) {
  Q q;
  q.name = "www.example.com.";
  q.qclass = 4;  // HS
  EXPECT_EQ(ask(q).rcode, dns::rcode::REFUSED);
}

TEST_F(QueryTest, UnknownTypeRecord) {
  Resp r = ask("unknown.example.com.", 65280);
  EXPECT_EQ(texts(r.an), (Strings{"unknown.example.com. 3600 TYPE65280 \\# 4 0A000001"}));
}

TEST_F(QueryTest, ZoneTransfersOverUdp) {
  EXPECT_EQ(ask("example.com.", rt::AXFR).rcode, dns::rcode::FORMERR);
  Resp ixfr = ask("example.com.", rt::IXFR);
  ASSERT_EQ(ixfr.an.size(), 1u);
  EXPECT_EQ(ixfr.an[0].type, rt::SOA);
}

}  // namespace
}  // namespace steerdns::server
