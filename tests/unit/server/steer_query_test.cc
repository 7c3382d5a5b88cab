// Steered rrsets through answer_query: the config loader builds zones and the steering table,
// and every place that emits an rrset (answer, ANY, CNAME chase, wildcard, additional
// addresses, AXFR) answers with the table's selection for the client.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <memory>
#include <string>
#include <vector>

#include "config/loader.h"
#include "dns/message.h"
#include "dns/rrtype.h"
#include "policy/table.h"
#include "server/query.h"
#include "server/xfr.h"
#include "testlib/dns_wire.h"
#include "unit/config/config_test_util.h"

namespace steerdns::server {
namespace {

namespace rt = dns::rrtype;
using testutil::build_query;
using testutil::parse_response;
using testutil::Q;
using testutil::Resp;
using testutil::texts;
using Strings = std::vector<std::string>;

constexpr const char* kConfig = R"(health_checks:
  - { id: p, type: external }
  - { id: s, type: external }
zones:
  - name: example.test.
    soa: { mname: ns1.example.test., rname: hostmaster.example.test., minimum: 60, ttl: 3600 }
    ns: [ns1.example.test.]
    records:
      - { name: ns1, type: A, values: [127.0.0.1] }
      - { name: "@", type: MX, ttl: 300, values: ["10 mx.example.test."] }
      - { name: _s._tcp, type: SRV, ttl: 300, values: ["1 1 443 app.example.test."] }
      - name: app
        type: A
        ttl: 60
        policy: failover
        members:
          - { set_id: pri, role: primary, values: [192.0.2.10], health_check: p }
          - { set_id: sec, role: secondary, values: [198.51.100.10], health_check: s }
      - name: app
        type: AAAA
        ttl: 60
        policy: failover
        members:
          - { set_id: pri, role: primary, values: ["2001:db8::10"], health_check: p }
          - { set_id: sec, role: secondary, values: ["2001:db8:1::10"], health_check: s }
      - { name: app, type: TXT, ttl: 60, values: [app] }
      - name: mx
        type: A
        ttl: 60
        policy: failover
        members:
          - { set_id: pri, role: primary, values: [192.0.2.25], health_check: p }
          - { set_id: sec, role: secondary, values: [198.51.100.25], health_check: s }
      - name: www
        type: CNAME
        ttl: 120
        policy: failover
        members:
          - { set_id: pri, role: primary, values: [app.example.test.], health_check: p }
          - { set_id: sec, role: secondary, values: [static.example.test.], health_check: s }
      - { name: static, type: A, ttl: 300, values: [192.0.2.99] }
      - name: lat
        type: A
        ttl: 60
        policy: latency
        members:
          - { set_id: tpe, region: east, values: [192.0.2.1] }
          - { set_id: nrt, region: west, values: [192.0.2.2] }
      - name: nd
        type: A
        ttl: 60
        policy: failover
        on_all_down: nodata
        members:
          - { set_id: pri, role: primary, values: [192.0.2.30], health_check: p }
          - { set_id: sec, role: secondary, values: [198.51.100.30], health_check: s }
      - name: sf
        type: A
        ttl: 60
        policy: failover
        on_all_down: servfail
        members:
          - { set_id: pri, role: primary, values: [192.0.2.40], health_check: p }
          - { set_id: sec, role: secondary, values: [198.51.100.40], health_check: s }
      - name: "*.wild"
        type: A
        ttl: 60
        policy: failover
        members:
          - { set_id: pri, role: primary, values: [192.0.2.50], health_check: p }
          - { set_id: sec, role: secondary, values: [198.51.100.50], health_check: s }
      - name: "@"
        type: A
        ttl: 60
        members:
          - alias: { name: app }
latency_map:
  - { cidr: 203.0.113.0/24, rtt_ms: { east: 10, west: 90 } }
  - { cidr: 0.0.0.0/0, rtt_ms: { east: 90, west: 10 } }
)";

class SteerQueryTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new config::testing::TempDir();
    auto c = config::load_config_file(dir_->write("steer.yaml", kConfig));
    ASSERT_TRUE(c.ok()) << c.error();
    loaded_ = new config::LoadedConfig(std::move(*c));
    ASSERT_NE(loaded_->steering, nullptr);
  }
  static void TearDownTestSuite() {
    delete loaded_;
    delete dir_;
  }

  // A copy of the runtime config with a table compiled with these checks forced down, as the
  // steering service publishes it.
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

  Resp ask(const config::RuntimeConfig& cfg, const Q& q, Transport t = Transport::kUdp,
           const sockaddr* from = nullptr) {
    auto pkt = build_query(q);
    out_.assign(65535, 0);
    ClientInfo ci;
    ci.transport = t;
    ci.addr = from;
    size_t n = answer_query(cfg, pkt.data(), pkt.size(), out_.data(), out_.size(), ci);
    EXPECT_GT(n, 0u);
    Resp r = parse_response(out_.data(), n);
    EXPECT_TRUE(r.ok);
    return r;
  }
  Resp ask(const config::RuntimeConfig& cfg, const std::string& name, uint16_t type,
           Transport t = Transport::kUdp) {
    Q q;
    q.name = name;
    q.type = type;
    return ask(cfg, q, t);
  }
  Q ecs_query(const std::string& name, uint8_t a, uint8_t b, uint8_t c, uint8_t prefix) {
    Q q;
    q.name = name;
    q.type = rt::A;
    q.edns = true;
    q.opt.options = {0, dns::ednsopt::ECS, 0, 7, 0, 1, prefix, 0, a, b, c};
    return q;
  }
  const config::RuntimeConfig& healthy() { return *loaded_->runtime; }

  static config::testing::TempDir* dir_;
  static config::LoadedConfig* loaded_;
  std::vector<uint8_t> out_;
};
config::testing::TempDir* SteerQueryTest::dir_ = nullptr;
config::LoadedConfig* SteerQueryTest::loaded_ = nullptr;

TEST_F(SteerQueryTest, FailoverAAndAaaaFollowHealth) {
  Resp r = ask(healthy(), "app.example.test.", rt::A);
  EXPECT_EQ(r.rcode, dns::rcode::NOERROR);
  EXPECT_TRUE(r.aa());
  EXPECT_EQ(texts(r.an), (Strings{"app.example.test. 60 A 192.0.2.10"}));
  EXPECT_EQ(texts(ask(healthy(), "app.example.test.", rt::AAAA).an),
            (Strings{"app.example.test. 60 AAAA 2001:db8::10"}));

  auto down = with_down({"p"});
  r = ask(*down, "app.example.test.", rt::A);
  ASSERT_EQ(r.an.size(), 1u);
  EXPECT_EQ(r.an[0].rdata, "198.51.100.10");
  EXPECT_EQ(texts(ask(*down, "app.example.test.", rt::AAAA).an).at(0).find("2001:db8:1::10") !=
                std::string::npos,
            true);
  // A static rrset beside steered ones at the same name is unchanged.
  EXPECT_EQ(texts(ask(*down, "app.example.test.", rt::TXT).an),
            (Strings{"app.example.test. 60 TXT \"app\""}));
}

TEST_F(SteerQueryTest, WithoutATableTheFailOpenFallbackAnswers) {
  config::RuntimeConfig no_table = healthy();
  no_table.steering = nullptr;
  EXPECT_EQ(texts(ask(no_table, "app.example.test.", rt::A).an),
            (Strings{"app.example.test. 60 A 192.0.2.10"}));
  // The apex alias to a steered set has no fallback: NODATA with the SOA.
  Resp r = ask(no_table, "example.test.", rt::A);
  EXPECT_EQ(r.rcode, dns::rcode::NOERROR);
  EXPECT_TRUE(r.an.empty());
  ASSERT_EQ(r.ns.size(), 1u);
  EXPECT_EQ(r.ns[0].type, rt::SOA);
}

TEST_F(SteerQueryTest, SteeredCnameIsChasedIntoASteeredA) {
  Resp r = ask(healthy(), "www.example.test.", rt::A);
  EXPECT_EQ(r.rcode, dns::rcode::NOERROR);
  EXPECT_EQ(texts(r.an), (Strings{"app.example.test. 60 A 192.0.2.10",
                                  "www.example.test. 120 CNAME app.example.test."}));
  auto down = with_down({"p"});
  r = ask(*down, "www.example.test.", rt::A);
  EXPECT_EQ(texts(r.an), (Strings{"static.example.test. 300 A 192.0.2.99",
                                  "www.example.test. 120 CNAME static.example.test."}));
  // Queried as CNAME: the selection itself.
  r = ask(*down, "www.example.test.", rt::CNAME);
  EXPECT_EQ(texts(r.an), (Strings{"www.example.test. 120 CNAME static.example.test."}));
}

TEST_F(SteerQueryTest, LatencyByClientSubnetWithScopeEchoed) {
  Resp near = ask(healthy(), ecs_query("lat.example.test.", 203, 0, 113, 24));
  ASSERT_EQ(near.an.size(), 1u);
  EXPECT_EQ(near.an[0].rdata, "192.0.2.1");
  // The scope is the selection's: what the decision used (the /24 of the latency map).
  policy::Client c;
  c.family = AF_INET;
  c.addr[0] = 203;
  c.addr[2] = 113;
  c.source_prefix = 24;
  c.from_ecs = true;
  uint32_t id = loaded_->steering->id_of("lat.example.test./A");
  uint8_t want = loaded_->steering->select(id, c, 1).scope;
  EXPECT_EQ(want, 24);
  ASSERT_EQ(near.opt_rdata.size(), 11u);
  EXPECT_EQ(near.opt_rdata[6], 24);  // source prefix echoed
  EXPECT_EQ(near.opt_rdata[7], want);

  Resp far = ask(healthy(), ecs_query("lat.example.test.", 198, 51, 100, 24));
  ASSERT_EQ(far.an.size(), 1u);
  EXPECT_EQ(far.an[0].rdata, "192.0.2.2");
  // Without ECS, the source address decides.
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  inet_pton(AF_INET, "203.0.113.9", &sin.sin_addr);
  Q q;
  q.name = "lat.example.test.";
  q.type = rt::A;
  Resp src = ask(healthy(), q, Transport::kUdp, reinterpret_cast<const sockaddr*>(&sin));
  ASSERT_EQ(src.an.size(), 1u);
  EXPECT_EQ(src.an[0].rdata, "192.0.2.1");
  // A client-independent answer keeps scope 0.
  Resp fixed = ask(healthy(), ecs_query("app.example.test.", 203, 0, 113, 24));
  ASSERT_EQ(fixed.opt_rdata.size(), 11u);
  EXPECT_EQ(fixed.opt_rdata[7], 0);
}

TEST_F(SteerQueryTest, AllDownNodataAndServfail) {
  auto down = with_down({"p", "s"});
  Resp nd = ask(*down, "nd.example.test.", rt::A);
  EXPECT_EQ(nd.rcode, dns::rcode::NOERROR);
  EXPECT_TRUE(nd.an.empty());
  ASSERT_EQ(nd.ns.size(), 1u);
  EXPECT_EQ(nd.ns[0].type, rt::SOA);
  EXPECT_EQ(nd.ns[0].ttl, 60u);  // negative TTL: min(SOA TTL, minimum)
  Resp sf = ask(*down, "sf.example.test.", rt::A);
  EXPECT_EQ(sf.rcode, dns::rcode::SERVFAIL);
  EXPECT_TRUE(sf.an.empty());
  EXPECT_FALSE(sf.aa());  // a SERVFAIL is not an authoritative answer (found by fuzz_message)
  // fail_open (the default): as if all were healthy, the primary.
  EXPECT_EQ(ask(*down, "app.example.test.", rt::A).an.at(0).rdata, "192.0.2.10");
  // Healthy: both answer.
  EXPECT_EQ(ask(healthy(), "nd.example.test.", rt::A).an.at(0).rdata, "192.0.2.30");
  EXPECT_EQ(ask(healthy(), "sf.example.test.", rt::A).an.at(0).rdata, "192.0.2.40");
}

TEST_F(SteerQueryTest, AnyOverTcpIncludesSteeredSets) {
  auto down = with_down({"p"});
  Resp r = ask(*down, "app.example.test.", rt::ANY, Transport::kTcp);
  EXPECT_EQ(texts(r.an), (Strings{"app.example.test. 60 A 198.51.100.10",
                                  "app.example.test. 60 AAAA 2001:db8:1::10",
                                  "app.example.test. 60 TXT \"app\""}));
  // All down with nodata: the set is left out of ANY.
  auto all = with_down({"p", "s"});
  r = ask(*all, "nd.example.test.", rt::ANY, Transport::kTcp);
  EXPECT_TRUE(r.an.empty());
  EXPECT_EQ(r.ns.size(), 1u);
}

TEST_F(SteerQueryTest, AdditionalAddressesOfMxAndSrvTargetsAreSteered) {
  auto down = with_down({"p"});
  Resp r = ask(*down, "example.test.", rt::MX);
  EXPECT_EQ(texts(r.an), (Strings{"example.test. 300 MX 10 mx.example.test."}));
  EXPECT_EQ(texts(r.ar), (Strings{"mx.example.test. 60 A 198.51.100.25"}));
  r = ask(healthy(), "_s._tcp.example.test.", rt::SRV);
  EXPECT_EQ(texts(r.ar), (Strings{"app.example.test. 60 A 192.0.2.10",
                                  "app.example.test. 60 AAAA 2001:db8::10"}));
}

TEST_F(SteerQueryTest, WildcardSteeredSet) {
  Resp r = ask(healthy(), "foo.wild.example.test.", rt::A);
  EXPECT_EQ(texts(r.an), (Strings{"foo.wild.example.test. 60 A 192.0.2.50"}));
  auto down = with_down({"p"});
  r = ask(*down, "bar.wild.example.test.", rt::A);
  EXPECT_EQ(texts(r.an), (Strings{"bar.wild.example.test. 60 A 198.51.100.50"}));
}

TEST_F(SteerQueryTest, ApexAliasFollowsItsTarget) {
  EXPECT_EQ(texts(ask(healthy(), "example.test.", rt::A).an),
            (Strings{"example.test. 60 A 192.0.2.10"}));
  auto down = with_down({"p"});
  Resp r = ask(*down, "example.test.", rt::A);
  ASSERT_EQ(r.an.size(), 1u);
  EXPECT_EQ(r.an[0].rdata, "198.51.100.10");
}

TEST_F(SteerQueryTest, AxfrSendsTheCurrentClientlessAnswer) {
  auto down = with_down({"p"});
  const zone::Zone& z = *down->zones()[0];
  auto q = build_query(Q{"example.test.", rt::AXFR, 1, 0, false, {}});
  auto msgs = axfr_messages(z, q.data(), q.size(), kMaxTcpMessage, down->steering.get());
  Strings all;
  for (const auto& m : msgs) {
    Resp r = parse_response(m.data(), m.size());
    for (const auto& rr : r.an) {
      all.push_back(rr.text());
    }
  }
  auto has = [&](const std::string& t) {
    return std::find(all.begin(), all.end(), t) != all.end();
  };
  EXPECT_TRUE(has("app.example.test. 60 A 198.51.100.10"));
  EXPECT_FALSE(has("app.example.test. 60 A 192.0.2.10"));
  EXPECT_TRUE(has("example.test. 60 A 198.51.100.10"));  // the apex alias, resolved
  EXPECT_TRUE(has("www.example.test. 120 CNAME static.example.test."));
}

}  // namespace
}  // namespace steerdns::server
