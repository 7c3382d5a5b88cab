// The query log fed by the real query pipeline: answer_query names the steering branch behind
// each answer (AnswerInfo::branch), log_query copies it with the messages into a ring, and the
// record formats as JSON and as dnstap (decoded again with protobuf-c) -- after the config
// snapshot that produced it is gone.
#include "server/query_log.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <memory>
#include <string>
#include <vector>

#include "config/loader.h"
#include "dns/rrtype.h"
#include "dnstap.pb-c.h"
#include "policy/table.h"
#include "server/query.h"
#include "testlib/dns_wire.h"
#include "unit/config/config_test_util.h"

namespace steerdns::server {
namespace {

namespace rt = dns::rrtype;

constexpr const char* kConfig = R"(health_checks:
  - { id: p, type: external }
  - { id: s, type: external }
zones:
  - name: example.test.
    soa: { mname: ns1.example.test., rname: hostmaster.example.test., minimum: 60, ttl: 3600 }
    ns: [ns1.example.test.]
    records:
      - { name: ns1, type: A, values: [127.0.0.1] }
      - { name: static, type: A, ttl: 300, values: [192.0.2.99] }
      - name: app
        type: A
        ttl: 60
        policy: failover
        members:
          - { set_id: pri, role: primary, values: [192.0.2.10], health_check: p }
          - { set_id: sec, role: secondary, values: [198.51.100.10], health_check: s }
      - name: www
        type: CNAME
        ttl: 120
        policy: failover
        members:
          - { set_id: pri, role: primary, values: [app.example.test.], health_check: p }
          - { set_id: sec, role: secondary, values: [static.example.test.], health_check: s }
      - name: sf
        type: A
        ttl: 60
        policy: failover
        on_all_down: servfail
        members:
          - { set_id: pri, role: primary, values: [192.0.2.40], health_check: p }
          - { set_id: sec, role: secondary, values: [198.51.100.40], health_check: s }
      - name: st
        type: A
        ttl: 60
        policy: failover
        on_all_down: static
        static_values: [203.0.113.1]
        members:
          - { set_id: pri, role: primary, values: [192.0.2.41], health_check: p }
          - { set_id: sec, role: secondary, values: [198.51.100.41], health_check: s }
      - name: w
        type: A
        ttl: 60
        policy: weighted
        members:
          - { set_id: blue, weight: 1, values: [192.0.2.60] }
      - name: lat
        type: A
        ttl: 60
        policy: latency
        members:
          - { set_id: tpe, region: east, values: [192.0.2.1] }
          - { set_id: nrt, region: west, values: [192.0.2.2] }
      - name: "@"
        type: A
        ttl: 60
        members:
          - alias: { name: app }
latency_map:
  - { cidr: 203.0.113.0/24, rtt_ms: { east: 10, west: 90 } }
  - { cidr: 0.0.0.0/0, rtt_ms: { east: 90, west: 10 } }
)";

class QueryLogPathTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new config::testing::TempDir();
    auto c = config::load_config_file(dir_->write("qlog.yaml", kConfig));
    ASSERT_TRUE(c.ok()) << c.error();
    loaded_ = new config::LoadedConfig(std::move(*c));
  }
  static void TearDownTestSuite() {
    delete loaded_;
    delete dir_;
  }
  static std::shared_ptr<const config::RuntimeConfig> with_down(std::vector<std::string> down) {
    policy::Overrides ov;
    for (const auto& id : down) {
      ov.checks[id] = policy::ForceState::kDown;
    }
    policy::CompileInputs in;
    in.spec = loaded_->steering_spec.get();
    in.overrides = &ov;
    auto table = policy::compile(in);
    EXPECT_TRUE(table.ok()) << table.error();
    auto rc = std::make_shared<config::RuntimeConfig>(*loaded_->runtime);
    rc->steering = *table;
    return rc;
  }

  // Answers `name` from `from` (an IPv4 address) and returns the branch text ("" = null).
  std::string branch(const config::RuntimeConfig& cfg, const std::string& name,
                     const char* from = "192.0.2.200") {
    testutil::Q q;
    q.name = name;
    q.type = rt::A;
    auto pkt = testutil::build_query(q);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    inet_pton(AF_INET, from, &sa.sin_addr);
    std::vector<uint8_t> out(4096);
    AnswerInfo info;
    size_t n = answer_query(cfg, pkt.data(), pkt.size(), out.data(), out.size(),
                            ClientInfo{reinterpret_cast<sockaddr*>(&sa), Transport::kUdp}, &info);
    EXPECT_GT(n, 0u) << name;
    return info.branch ? info.branch : "";
  }

  static config::testing::TempDir* dir_;
  static config::LoadedConfig* loaded_;
};
config::testing::TempDir* QueryLogPathTest::dir_ = nullptr;
config::LoadedConfig* QueryLogPathTest::loaded_ = nullptr;

TEST_F(QueryLogPathTest, AnswerInfoNamesTheBranch) {
  const auto& healthy = *loaded_->runtime;
  EXPECT_EQ(branch(healthy, "app.example.test."), "failover tier 1 pri");
  EXPECT_EQ(branch(healthy, "static.example.test."), "");  // zone data
  EXPECT_EQ(branch(healthy, "w.example.test."), "weighted blue");
  EXPECT_EQ(branch(healthy, "lat.example.test.", "203.0.113.5"), "latency tpe region east");
  EXPECT_EQ(branch(healthy, "lat.example.test.", "198.18.0.1"), "latency nrt region west");
  // An alias answers with its target's branch; a CNAME chain names the first steered set.
  EXPECT_EQ(branch(healthy, "example.test."), "failover tier 1 pri");
  EXPECT_EQ(branch(healthy, "www.example.test."), "failover tier 1 pri");

  auto p_down = with_down({"p"});
  EXPECT_EQ(branch(*p_down, "app.example.test."), "failover tier 2 sec");
  auto all_down = with_down({"p", "s"});
  EXPECT_EQ(branch(*all_down, "app.example.test."), "all_down fail_open failover tier 1 pri");
  EXPECT_EQ(branch(*all_down, "sf.example.test."), "all_down servfail");
  EXPECT_EQ(branch(*all_down, "st.example.test."), "all_down static");
}

// A record made by the real pipeline, formatted after its snapshot (zones, table) was freed.
struct Logged {
  obs::QueryRecord rec;
  std::vector<uint8_t> query, response;
};

Logged log_one(std::shared_ptr<const config::RuntimeConfig> cfg, const std::string& name,
               Transport t) {
  Logged l;
  testutil::Q q;
  q.name = name;
  q.type = rt::A;
  l.query = testutil::build_query(q);
  sockaddr_in6 sa{};
  sa.sin6_family = AF_INET6;
  sa.sin6_port = htons(40000);
  inet_pton(AF_INET6, "2001:db8::77", &sa.sin6_addr);
  ClientInfo client{reinterpret_cast<sockaddr*>(&sa), t};
  std::vector<uint8_t> out(4096);
  AnswerInfo info;
  size_t n = answer_query(*cfg, l.query.data(), l.query.size(), out.data(), out.size(), client,
                          &info);
  EXPECT_GT(n, 0u);
  l.response.assign(out.begin(), out.begin() + static_cast<long>(n));
  obs::QueryLogRing ring(2, 1);
  log_query(ring, client, l.query.data(), l.query.size(), out.data(), n, info);
  cfg.reset();
  std::fill(out.begin(), out.end(), 0);  // the transport reuses its buffers
  EXPECT_EQ(ring.drain(10, [&](const obs::QueryRecord& r) { l.rec = r; }), 1u);
  return l;
}

TEST_F(QueryLogPathTest, JsonOfARealAnswer) {
  Logged l = log_one(with_down({"p"}), "app.example.test.", Transport::kTcp);
  std::string j = obs::query_record_to_json(l.rec);
  for (const char* want :
       {"\"client\":\"2001:db8::77\",\"port\":40000,\"transport\":\"tcp\"",
        "\"qname\":\"app.example.test.\",\"qtype\":\"A\",\"qclass\":\"IN\"",
        "\"rcode\":\"NOERROR\",\"tc\":false",
        "\"answers\":[\"app.example.test. 60 IN A 198.51.100.10\"]",
        "\"zone\":\"example.test.\",\"branch\":\"failover tier 2 sec\""}) {
    EXPECT_NE(j.find(want), std::string::npos) << want << "\n in " << j;
  }
  EXPECT_EQ(j.substr(0, 9), "{\"time\":\"");
  EXPECT_EQ(j.back(), '}');
}

TEST_F(QueryLogPathTest, DnstapRoundTrip) {
  Logged l = log_one(with_down({"p"}), "app.example.test.", Transport::kUdp);
  std::vector<uint8_t> packed = obs::query_record_to_dnstap(l.rec, "ns-test", "steerdns x");
  Dnstap__Dnstap* d = dnstap__dnstap__unpack(nullptr, packed.size(), packed.data());
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->type, DNSTAP__DNSTAP__TYPE__MESSAGE);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(d->identity.data), d->identity.len), "ns-test");
  EXPECT_EQ(std::string(reinterpret_cast<char*>(d->version.data), d->version.len), "steerdns x");
  EXPECT_EQ(std::string(reinterpret_cast<char*>(d->extra.data), d->extra.len),
            "branch=failover tier 2 sec");
  ASSERT_NE(d->message, nullptr);
  const Dnstap__Message& m = *d->message;
  EXPECT_EQ(m.type, DNSTAP__MESSAGE__TYPE__AUTH_RESPONSE);
  EXPECT_EQ(m.socket_family, DNSTAP__SOCKET_FAMILY__INET6);
  EXPECT_EQ(m.socket_protocol, DNSTAP__SOCKET_PROTOCOL__UDP);
  in6_addr want{};
  inet_pton(AF_INET6, "2001:db8::77", &want);
  ASSERT_EQ(m.query_address.len, 16u);
  EXPECT_EQ(std::memcmp(m.query_address.data, &want, 16), 0);
  EXPECT_EQ(m.query_port, 40000u);
  EXPECT_EQ(std::vector<uint8_t>(m.query_message.data, m.query_message.data + m.query_message.len),
            l.query);
  EXPECT_EQ(std::vector<uint8_t>(m.response_message.data,
                                 m.response_message.data + m.response_message.len),
            l.response);
  const uint8_t zone[] = {7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 4, 't', 'e', 's', 't', 0};
  ASSERT_EQ(m.query_zone.len, sizeof zone);
  EXPECT_EQ(std::memcmp(m.query_zone.data, zone, sizeof zone), 0);
  EXPECT_TRUE(m.has_response_time_sec);
  EXPECT_EQ(m.response_time_sec, static_cast<uint64_t>(l.rec.time_sec));
  dnstap__dnstap__free_unpacked(d, nullptr);
}

TEST_F(QueryLogPathTest, OversizedResponseKeepsItsLengthAndNoCutMessage) {
  obs::QueryRecord r;
  std::vector<uint8_t> big(1500, 0);
  std::vector<uint8_t> q(30, 0);
  r.set_messages(q.data(), q.size(), big.data(), big.size());
  EXPECT_EQ(r.response_len, 1500u);
  EXPECT_EQ(r.response_kept(), obs::QueryRecord::kMaxMessage);
  auto packed = obs::query_record_to_dnstap(r, "", "");
  Dnstap__Dnstap* d = dnstap__dnstap__unpack(nullptr, packed.size(), packed.data());
  ASSERT_NE(d, nullptr);
  EXPECT_FALSE(d->message->has_response_message);  // a cut message would not parse
  EXPECT_EQ(std::string(reinterpret_cast<char*>(d->extra.data), d->extra.len),
            "branch=none response_size=1500");
  dnstap__dnstap__free_unpacked(d, nullptr);
  EXPECT_NE(obs::query_record_to_json(r).find("\"response_cut\":true"), std::string::npos);
}

}  // namespace
}  // namespace steerdns::server
