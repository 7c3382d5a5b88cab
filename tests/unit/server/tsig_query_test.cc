// TSIG-signed queries through answer_query (the SOA checks secondaries sign, transfers): signed
// answers, the RFC 8945 error answers, and the room kept for the TSIG record in UDP answers.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "dns/message.h"
#include "dns/name.h"
#include "dns/rrtype.h"
#include "dns/tsig.h"
#include "server/query.h"
#include "testlib/dns_wire.h"
#include "zone/loader.h"

namespace steerdns::server {
namespace {

namespace rt = dns::rrtype;
using Bytes = std::vector<uint8_t>;

dns::TsigKey key(const char* secret = "c3RlZXJkbnMgdHNpZyB0ZXN0IGtleSAzMiBieXRlcyE=") {
  return dns::TsigKey{*dns::Name::from_text("xfr-key."), dns::TsigAlgorithm::kHmacSha256,
                      *dns::decode_base64(secret)};
}

class TsigQueryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto n = dns::Name::from_text("example.com.");
    auto z = zone::load_zone_file(*n, std::string(STEERDNS_TESTDATA) + "/zones/example.com.zone");
    ASSERT_TRUE(z.ok()) << z.error();
    auto cfg = std::make_shared<config::RuntimeConfig>();
    cfg->set_zones({*z});
    auto ring = std::make_shared<dns::TsigKeyring>();
    ASSERT_TRUE(ring->add(key()).ok());
    cfg->tsig_keys = ring;
    cfg_ = cfg;
  }

  // The query signed with `k` (the signer keeps its MAC for the answer).
  Bytes sign(const Bytes& q, dns::TsigSigner& s) {
    Bytes b = q;
    b.resize(q.size() + 200);
    size_t n = s.sign(b.data(), q.size(), b.size(), dns::tsig_now());
    EXPECT_NE(n, 0u);
    b.resize(n);
    return b;
  }

  Bytes ask(const Bytes& q, Transport t, size_t cap = 65535) {
    Bytes out(cap);
    ClientInfo ci;
    ci.transport = t;
    size_t n = answer_query(*cfg_, q.data(), q.size(), out.data(), cap, ci, &info_);
    out.resize(n);
    return out;
  }

  std::shared_ptr<const config::RuntimeConfig> cfg_;
  AnswerInfo info_;
};

Bytes query(const std::string& name, uint16_t type) {
  testutil::Q q;
  q.name = name;
  q.type = type;
  return testutil::build_query(q);
}

TEST_F(TsigQueryTest, SignedSoaQueryGetsTheSameAnswerSigned) {
  for (Transport t : {Transport::kUdp, Transport::kTcp}) {
    Bytes plain = ask(query("example.com.", rt::SOA), t);
    EXPECT_FALSE(info_.tsig);
    dns::TsigSigner req(key(), {}, false);
    Bytes r = ask(sign(query("example.com.", rt::SOA), req), t);
    EXPECT_TRUE(info_.tsig);
    EXPECT_EQ(info_.tsig_status, dns::TsigStatus::kOk);
    dns::TsigVerifier v(key(), req.mac());
    ASSERT_EQ(v.verify(r.data(), r.size(), dns::tsig_now()), dns::TsigStatus::kOk);
    // Without its TSIG record, the answer is the unsigned one.
    Bytes stripped(r.begin(), r.begin() + static_cast<std::ptrdiff_t>(v.record().start));
    stripped[11] = static_cast<uint8_t>(stripped[11] - 1);
    EXPECT_EQ(stripped, plain);
  }
}

TEST_F(TsigQueryTest, TruncatedUdpAnswerKeepsRoomForTheRecord) {
  // Unsigned, this answer is TC at 512; signed, it still fits 512 with its TSIG record.
  dns::TsigSigner req(key(), {}, false);
  Bytes r = ask(sign(query("big.example.com.", rt::TXT), req), Transport::kUdp);
  ASSERT_FALSE(r.empty());
  EXPECT_LE(r.size(), 512u);
  EXPECT_TRUE(info_.truncated);
  dns::TsigVerifier v(key(), req.mac());
  EXPECT_EQ(v.verify(r.data(), r.size(), dns::tsig_now()), dns::TsigStatus::kOk);
  // Over TCP: the whole answer, signed.
  dns::TsigSigner req2(key(), {}, false);
  Bytes t = ask(sign(query("big.example.com.", rt::TXT), req2), Transport::kTcp);
  EXPECT_FALSE(info_.truncated);
  EXPECT_GT(t.size(), 512u);
  dns::TsigVerifier v2(key(), req2.mac());
  EXPECT_EQ(v2.verify(t.data(), t.size(), dns::tsig_now()), dns::TsigStatus::kOk);
}

TEST_F(TsigQueryTest, UdpAnswerThatFitsOnlyUnsignedIsTruncated) {
  // An EDNS payload size exactly the unsigned answer's: signed, the answer plus its TSIG
  // record would not fit, so it is truncated (and signed) instead of sent oversized.
  testutil::Q q;
  q.name = "big.example.com.";
  q.type = rt::TXT;
  q.edns = true;
  Bytes plain = ask(testutil::build_query(q), Transport::kUdp);
  ASSERT_FALSE(info_.truncated);
  ASSERT_GT(plain.size(), 512u);
  q.opt.payload = static_cast<uint16_t>(plain.size());
  EXPECT_EQ(ask(testutil::build_query(q), Transport::kUdp).size(), plain.size());
  dns::TsigSigner req(key(), {}, false);
  Bytes r = ask(sign(testutil::build_query(q), req), Transport::kUdp);
  EXPECT_TRUE(info_.truncated);
  EXPECT_LE(r.size(), plain.size());
  dns::TsigVerifier v(key(), req.mac());
  EXPECT_EQ(v.verify(r.data(), r.size(), dns::tsig_now()), dns::TsigStatus::kOk);
}

TEST_F(TsigQueryTest, FailuresGetNotauthWithTheTsigError) {
  // Wrong secret: BADSIG, unsigned.
  dns::TsigSigner wrong(key("d3Jvbmcgc2VjcmV0"), {}, false);
  Bytes r = ask(sign(query("example.com.", rt::SOA), wrong), Transport::kUdp);
  EXPECT_EQ(r[3] & 0x0F, dns::rcode::NOTAUTH);
  EXPECT_EQ(info_.tsig_status, dns::TsigStatus::kBadSig);
  dns::TsigRecord rec;
  ASSERT_EQ(dns::find_tsig(r.data(), r.size(), &rec), dns::TsigFind::kFound);
  EXPECT_EQ(rec.error, dns::tsigerr::BADSIG);
  EXPECT_TRUE(rec.mac.empty());
  EXPECT_EQ(dns::get16(r.data() + 6), 0);  // no answer records
  // Unknown key: BADKEY.
  dns::TsigKey other = key();
  other.name = *dns::Name::from_text("other.");
  dns::TsigSigner unknown(other, {}, false);
  r = ask(sign(query("example.com.", rt::SOA), unknown), Transport::kTcp);
  EXPECT_EQ(r[3] & 0x0F, dns::rcode::NOTAUTH);
  ASSERT_EQ(dns::find_tsig(r.data(), r.size(), &rec), dns::TsigFind::kFound);
  EXPECT_EQ(rec.error, dns::tsigerr::BADKEY);
  // Signed long ago: BADTIME, signed with the request's time.
  dns::TsigSigner old(key(), {}, false);
  Bytes q = query("example.com.", rt::SOA);
  Bytes b = q;
  b.resize(q.size() + 200);
  b.resize(old.sign(b.data(), q.size(), b.size(), dns::tsig_now() - 1000));
  r = ask(b, Transport::kUdp);
  EXPECT_EQ(r[3] & 0x0F, dns::rcode::NOTAUTH);
  dns::TsigVerifier v(key(), old.mac());
  EXPECT_EQ(v.verify(r.data(), r.size(), dns::tsig_now() - 1000), dns::TsigStatus::kPeerError);
  EXPECT_EQ(v.record().error, dns::tsigerr::BADTIME);
  EXPECT_EQ(v.record().other.size(), 6u);
}

TEST_F(TsigQueryTest, SignedTransferIsHandedToTheTransport) {
  dns::TsigSigner req(key(), {}, false);
  Bytes r = ask(sign(query("example.com.", rt::AXFR), req), Transport::kTcp);
  EXPECT_TRUE(r.empty());
  EXPECT_TRUE(info_.transfer);
  EXPECT_EQ(info_.tsig_status, dns::TsigStatus::kOk);
}

}  // namespace
}  // namespace steerdns::server
