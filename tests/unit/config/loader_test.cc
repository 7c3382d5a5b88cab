#include "config/loader.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "config_test_util.h"
#include "core/version.h"
#include "zone/loader.h"

namespace steerdns::config {
namespace {

namespace rt = dns::rrtype;
using testing::dump;
using testing::rdata_of;
using testing::TempDir;

const char* kZoneHead = R"(zones:
  - name: example.test
    soa: { mname: ns1, rname: hostmaster.example.test., serial: 7, minimum: 60 }
    ns: [ns1.example.test.]
)";

TEST(ConfigLoader, DemoConfigLoads) {
  auto c = load_config_file(STEERDNS_SOURCE_DIR "/examples/demo.yaml");
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(c->server.listen, (std::vector<std::string>{"127.0.0.1:5300", "[::1]:5300"}));
  EXPECT_EQ(c->server.control_socket, "/tmp/steerdns-demo.sock");
  ASSERT_EQ(c->runtime->zones().size(), 1u);
  EXPECT_EQ(c->runtime->zones()[0]->origin().to_text(), "example.test.");
  EXPECT_EQ(c->runtime->zones()[0]->serial(), 2026112501u);
  EXPECT_EQ(c->runtime->source, STEERDNS_SOURCE_DIR "/examples/demo.yaml");
  EXPECT_EQ(rdata_of(*c, "genai-demo.example.test.", rt::A),
            std::vector<std::string>{"192.0.2.10"});
  EXPECT_EQ(rdata_of(*c, "api.genai-demo.example.test.", rt::CNAME),
            std::vector<std::string>{"genai-demo.example.test."});
  EXPECT_TRUE(c->warnings.empty()) << c->warnings.front();
}

// `make run` (YAML) and `--zone` (master file) must serve the same records.
TEST(ConfigLoader, DemoYamlAndMasterFileHaveTheSameRecords) {
  auto c = load_config_file(STEERDNS_SOURCE_DIR "/examples/demo.yaml");
  ASSERT_TRUE(c.ok()) << c.error();
  auto origin = dns::Name::from_text("example.test.");
  ASSERT_TRUE(origin.ok());
  auto z = zone::load_zone_file(*origin, STEERDNS_SOURCE_DIR "/examples/example.test.zone");
  ASSERT_TRUE(z.ok()) << z.error();
  auto from_yaml = dump(*c->runtime->zones()[0]);
  auto from_file = dump(**z);
  EXPECT_GE(from_yaml.size(), 20u);
  EXPECT_EQ(from_yaml, from_file);
}

TEST(ConfigLoader, DefaultsWhenServerSectionIsAbsent) {
  TempDir d;
  auto c = load_config_file(d.write("t.yaml", kZoneHead));
  ASSERT_TRUE(c.ok()) << c.error();
  ServerSettings defaults;
  EXPECT_TRUE(c->server.listen.empty());
  EXPECT_EQ(c->server.tcp_idle_timeout_ms, defaults.tcp_idle_timeout_ms);
  EXPECT_EQ(c->server.tcp_max_clients, defaults.tcp_max_clients);
  EXPECT_EQ(c->runtime->max_udp_payload, 1232);
  EXPECT_TRUE(c->runtime->chaos.enabled);
  EXPECT_EQ(c->runtime->chaos.version, std::string("steerdns ") + kVersion);
  char host[256] = {};
  ASSERT_EQ(gethostname(host, sizeof host - 1), 0);
  EXPECT_EQ(c->runtime->chaos.id, host);
  EXPECT_TRUE(c->runtime->xfr_allow.empty());
  // Zone and SOA defaults: ttl 3600, serial as given, refresh/retry/expire defaults.
  uint32_t ttl = 0;
  EXPECT_EQ(
      rdata_of(*c, "example.test.", rt::SOA, &ttl),
      std::vector<std::string>{"ns1.example.test. hostmaster.example.test. 7 3600 900 1209600 60"});
  EXPECT_EQ(ttl, 3600u);
}

TEST(ConfigLoader, ServerSettings) {
  TempDir d;
  std::string yaml = R"(server:
  listen: ["127.0.0.1:5301", "[::1]:5301", 0.0.0.0:53]
  udp_threads: 3
  tcp_max_clients: 50
  tcp_idle_timeout: 1m30s
  tcp_io_timeout: 250ms
  control_socket: /run/steerdns.sock
  max_udp_payload: 4096
  chaos: { version: "v-test", id: ~ }
  xfr_allow: [192.0.2.0/24, "2001:db8::/32", 127.0.0.1]
  api_listen: 127.0.0.1:8053
  store: "sqlite:steerdns.db"
)" + std::string(kZoneHead);
  auto c = load_config_file(d.write("t.yaml", yaml));
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(c->server.listen.size(), 3u);
  EXPECT_EQ(c->server.udp_threads, 3);
  EXPECT_EQ(c->server.tcp_max_clients, 50);
  EXPECT_EQ(c->server.tcp_idle_timeout_ms, 90000);
  EXPECT_EQ(c->server.tcp_io_timeout_ms, 250);
  EXPECT_EQ(c->server.control_socket, "/run/steerdns.sock");
  EXPECT_EQ(c->server.api_listen, "127.0.0.1:8053");
  EXPECT_EQ(c->server.store, "sqlite:steerdns.db");
  EXPECT_EQ(c->runtime->max_udp_payload, 4096);
  EXPECT_TRUE(c->runtime->chaos.enabled);
  EXPECT_EQ(c->runtime->chaos.version, "v-test");
  EXPECT_EQ(c->runtime->chaos.id, "");  // null: refuse id.server
  ASSERT_EQ(c->runtime->xfr_allow.size(), 3u);
  EXPECT_EQ(c->runtime->xfr_allow[0].to_text(), "192.0.2.0/24");
  EXPECT_EQ(c->runtime->xfr_allow[1].to_text(), "2001:db8::/32");
  EXPECT_EQ(c->runtime->xfr_allow[2].to_text(), "127.0.0.1/32");
}

TEST(ConfigLoader, EmptyServerSectionMeansDefaults) {
  TempDir d;
  auto c = load_config_file(
      d.write("t.yaml", "server:\n  # listen: [127.0.0.1:53]\n" + std::string(kZoneHead)));
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_TRUE(c->server.listen.empty());
}

TEST(ConfigLoader, ChaosOff) {
  TempDir d;
  for (const char* form : {"chaos: off", "chaos: false", "chaos: { enabled: no }"}) {
    auto c =
        load_config_file(d.write("t.yaml", "server:\n  " + std::string(form) + "\n" + kZoneHead));
    ASSERT_TRUE(c.ok()) << form << ": " << c.error();
    EXPECT_FALSE(c->runtime->chaos.enabled) << form;
  }
}

TEST(ConfigLoader, InlineRecordsRoundTrip) {
  TempDir d;
  std::string long_txt(300, 'k');
  std::string yaml = std::string(kZoneHead) + R"(    ttl: 120
    records:
      - { name: "@", type: MX, values: ["10 mail", "20 mx.other.test."] }
      - { name: www, type: a, ttl: 30, values: [192.0.2.1, 192.0.2.2] }
      - { name: www.example.test., type: AAAA, values: ["2001:db8::1"] }
      - { name: alias, type: CNAME, ttl: 5m, values: [www] }
      - { name: t, type: TXT, values: ["hello world", 'say "hi"', '"two" "strings"', ")" +
                     long_txt + R"("] }
      - { name: _sip._udp, type: SRV, values: ["0 5 5060 sip.example.test."] }
      - { name: "@", type: CAA, values: ['0 issue "ca.example.net"'] }
      - { name: svc, type: HTTPS, values: ['1 . alpn="h2,h3" port=8443'] }
      - { name: svc, type: SVCB, values: ["0 www.example.test."] }
      - { name: ssh, type: SSHFP, values: ["1 1 0123456789abcdef0123456789abcdef01234567"] }
      - { name: _443._tcp.www, type: TLSA, values: ["3 1 0 30820122300d06092a864886f70d01"] }
      - { name: n, type: NAPTR, values: ['100 10 "u" "E2U+sip" "!^.*$!sip:info@example.test!" .'] }
      - { name: h, type: HINFO, values: ['"PC" "Linux"'] }
      - { name: p, type: PTR, values: [www.example.test.] }
      - { name: old, type: DNAME, values: [new.example.test.] }
      - { name: x, type: TYPE65280, values: ['\# 3 010203'] }
      - { name: sub, type: NS, values: [ns.sub] }
      - { name: ns.sub, type: A, values: [192.0.2.53] }
      - { name: "*.wild", type: A, policy: simple, values: [192.0.2.9] }
)";
  auto c = load_config_file(d.write("t.yaml", yaml));
  ASSERT_TRUE(c.ok()) << c.error();
  using V = std::vector<std::string>;
  uint32_t ttl = 0;
  EXPECT_EQ(rdata_of(*c, "example.test.", rt::MX, &ttl),
            (V{"10 mail.example.test.", "20 mx.other.test."}));
  EXPECT_EQ(ttl, 120u);  // zone ttl
  EXPECT_EQ(rdata_of(*c, "www.example.test.", rt::A, &ttl), (V{"192.0.2.1", "192.0.2.2"}));
  EXPECT_EQ(ttl, 30u);
  EXPECT_EQ(rdata_of(*c, "www.example.test.", rt::AAAA), V{"2001:db8::1"});
  EXPECT_EQ(rdata_of(*c, "alias.example.test.", rt::CNAME, &ttl), V{"www.example.test."});
  EXPECT_EQ(ttl, 300u);
  EXPECT_EQ(rdata_of(*c, "t.example.test.", rt::TXT),
            (V{"\"hello world\"", "\"say \\\"hi\\\"\"", "\"two\" \"strings\"",
               "\"" + std::string(255, 'k') + "\" \"" + std::string(45, 'k') + "\""}));
  EXPECT_EQ(rdata_of(*c, "_sip._udp.example.test.", rt::SRV), V{"0 5 5060 sip.example.test."});
  EXPECT_EQ(rdata_of(*c, "example.test.", rt::CAA), V{"0 issue \"ca.example.net\""});
  EXPECT_EQ(rdata_of(*c, "svc.example.test.", rt::HTTPS), V{"1 . alpn=\"h2,h3\" port=8443"});
  EXPECT_EQ(rdata_of(*c, "svc.example.test.", rt::SVCB), V{"0 www.example.test."});
  EXPECT_EQ(rdata_of(*c, "ssh.example.test.", rt::SSHFP),
            V{"1 1 0123456789ABCDEF0123456789ABCDEF01234567"});
  EXPECT_EQ(rdata_of(*c, "_443._tcp.www.example.test.", rt::TLSA),
            V{"3 1 0 30820122300D06092A864886F70D01"});
  EXPECT_EQ(rdata_of(*c, "n.example.test.", rt::NAPTR),
            V{"100 10 \"u\" \"E2U+sip\" \"!^.*$!sip:info@example.test!\" ."});
  EXPECT_EQ(rdata_of(*c, "h.example.test.", rt::HINFO), V{"\"PC\" \"Linux\""});
  EXPECT_EQ(rdata_of(*c, "p.example.test.", rt::PTR), V{"www.example.test."});
  EXPECT_EQ(rdata_of(*c, "old.example.test.", rt::DNAME), V{"new.example.test."});
  EXPECT_EQ(rdata_of(*c, "x.example.test.", 65280), V{"\\# 3 010203"});
  EXPECT_EQ(rdata_of(*c, "sub.example.test.", rt::NS), V{"ns.sub.example.test."});
  EXPECT_EQ(rdata_of(*c, "*.wild.example.test.", rt::A), V{"192.0.2.9"});
}

TEST(ConfigLoader, ZoneFromFileRelativeToTheConfig) {
  TempDir d;
  std::filesystem::create_directories(d.path() + "/zones");
  d.write("zones/b.test.zone",
          "$TTL 600\n@ IN SOA ns1 h 3 1 1 1 1\n@ IN NS ns1\nns1 IN A 192.0.2.53\n"
          "www IN A 192.0.2.80\n");
  std::string yaml = std::string(kZoneHead) + "  - name: b.test.\n    file: zones/b.test.zone\n";
  auto c = load_config_file(d.write("t.yaml", yaml));
  ASSERT_TRUE(c.ok()) << c.error();
  ASSERT_EQ(c->runtime->zones().size(), 2u);
  auto name = dns::Name::from_text("www.b.test.");
  const zone::Zone* z = c->runtime->find_zone(name->data(), name->size());
  ASSERT_NE(z, nullptr);
  EXPECT_EQ(z->origin().to_text(), "b.test.");
  EXPECT_NE(z->find(*name), nullptr);
}

TEST(ConfigLoader, EmptyZoneListWarns) {
  TempDir d;
  auto c = load_config_file(d.write("t.yaml", "server: { listen: [127.0.0.1:5300] }\nzones: []\n"));
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_TRUE(c->runtime->zones().empty());
  ASSERT_EQ(c->warnings.size(), 1u);
  EXPECT_NE(c->warnings[0].find("refused"), std::string::npos);
}

TEST(Duration, Parses) {
  EXPECT_EQ(*parse_duration_ms("500ms"), 500);
  EXPECT_EQ(*parse_duration_ms("10s"), 10000);
  EXPECT_EQ(*parse_duration_ms("1h30m"), 5400000);
  EXPECT_EQ(*parse_duration_ms("2d"), 172800000);
  EXPECT_FALSE(parse_duration_ms("10").ok());
  EXPECT_FALSE(parse_duration_ms("10 s").ok());
  EXPECT_FALSE(parse_duration_ms("s").ok());
  EXPECT_FALSE(parse_duration_ms("5y").ok());
  EXPECT_FALSE(parse_duration_ms("").ok());
}

TEST(ListenAddress, Checks) {
  EXPECT_TRUE(check_listen_address("127.0.0.1:53").ok());
  EXPECT_TRUE(check_listen_address("[::1]:5300").ok());
  EXPECT_FALSE(check_listen_address("::1:5300").ok());
  EXPECT_FALSE(check_listen_address("127.0.0.1").ok());
  EXPECT_FALSE(check_listen_address("127.0.0.1:0").ok());
  EXPECT_FALSE(check_listen_address("127.0.0.1:65536").ok());
  EXPECT_FALSE(check_listen_address("localhost:53").ok());
  EXPECT_FALSE(check_listen_address("[::1]5300").ok());
}

}  // namespace
}  // namespace steerdns::config
