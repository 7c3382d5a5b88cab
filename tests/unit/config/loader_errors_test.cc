// Bad input: every error names the file and line and says what is wrong, and no config is
// returned.
#include <gtest/gtest.h>

#include <string>

#include "config/loader.h"
#include "config_test_util.h"

namespace steerdns::config {
namespace {

using testing::line_of;
using testing::TempDir;

const std::string kHead =
    std::string("server:\n  listen: [\"127.0.0.1:5300\"]\n") + testing::kMinimalZones;

struct BadCase {
  const char* what;
  std::string yaml;
  std::string marker;  // the error must name the line containing this text
  std::string reason;  // and contain this text
};

std::string rec(const std::string& body) { return std::string(kHead) + body; }

std::string replace(std::string s, const std::string& from, const std::string& to) {
  auto p = s.find(from);
  EXPECT_NE(p, std::string::npos) << from;
  if (p != std::string::npos) {
    s.replace(p, from.size(), to);
  }
  return s;
}

std::vector<BadCase> bad_cases() {
  return {
      {"unknown record key",
       rec("      - { name: www, type: A, ttl_seconds: 60, values: [192.0.2.1] }\n"), "ttl_seconds",
       "unknown key 'ttl_seconds' in record (did you mean 'ttl'?)"},
      {"unknown top-level key", replace(kHead, "zones:", "zone:"),
       "zone:", "unknown key 'zone' in the config (did you mean 'zones'?)"},
      {"unknown server key", replace(kHead, "  listen:", "  listen_on:"), "listen_on",
       "unknown key 'listen_on' in server (did you mean 'listen'?)"},
      {"api_tokens not a list", replace(kHead, "  listen:", "  api_tokens: oncall\n  listen:"),
       "api_tokens", "'api_tokens' must be a list of {name, secret | secret_env, access}"},
      {"api token without a name",
       replace(kHead, "  listen:", "  api_tokens:\n    - { secret: s3cret }\n  listen:"),
       "secret: s3cret", "api_tokens: every item needs 'name'"},
      {"api token with both secrets",
       replace(kHead, "  listen:",
               "  api_tokens:\n    - { name: a, secret: x, secret_env: X }\n  listen:"),
       "name: a", "'a' needs exactly one of 'secret' and 'secret_env'"},
      {"api token access typo",
       replace(kHead, "  listen:",
               "  api_tokens:\n    - { name: a, secret: x, access: write }\n  listen:"),
       "name: a", "access: 'write' is not read-only or read-write"},
      {"api token unknown key",
       replace(kHead, "  listen:",
               "  api_tokens:\n    - { name: a, secret: x, acess: read-only }\n  listen:"),
       "name: a", "did you mean 'access'?"},
      {"route53 key without a secret",
       replace(kHead, "  listen:", "  route53_keys:\n    - { access_key_id: AKID }\n  listen:"),
       "access_key_id: AKID", "'AKID' needs exactly one of 'secret' and 'secret_env'"},
      {"api_tls without key", replace(kHead, "  listen:", "  api_tls: { cert: c.pem }\n  listen:"),
       "api_tls", "api_tls: needs both 'cert' and 'key'"},
      {"api_threads out of range", replace(kHead, "  listen:", "  api_threads: 0\n  listen:"),
       "api_threads", "api_threads"},
      {"typo in soa key", replace(kHead, "rname:", "rnme:"), "rnme", "did you mean 'rname'?"},
      {"duplicate key",
       replace(kHead, "  listen:", "  udp_threads: 1\n  udp_threads: 2\n  listen:"),
       "udp_threads: 2", "key 'udp_threads' given twice in server"},
      {"string where a list is expected", replace(kHead, "[\"127.0.0.1:5300\"]", "127.0.0.1:5300"),
       "listen:", "'listen' must be a list, not a single value"},
      {"values not a list", rec("      - { name: www, type: A, values: 192.0.2.1 }\n"), "name: www",
       "'values' must be a list"},
      {"port out of range", replace(kHead, "5300\"]", "5300\", \"127.0.0.1:70000\"]"), "70000",
       "port '70000' is out of range 1..65535"},
      {"IPv6 without brackets", replace(kHead, "\"127.0.0.1:5300\"", "\"::1:5300\""), "::1:5300",
       "in brackets"},
      {"bad duration", replace(kHead, "  listen:", "  tcp_idle_timeout: 10 seconds\n  listen:"),
       "tcp_idle_timeout", "'tcp_idle_timeout': bad duration unit ' seconds'"},
      {"duration without unit", replace(kHead, "  listen:", "  tcp_io_timeout: 500\n  listen:"),
       "tcp_io_timeout", "needs a unit"},
      {"bad CIDR", replace(kHead, "  listen:", "  xfr_allow: [10.0.0.0/33]\n  listen:"),
       "xfr_allow", "IPv4 prefix length above 32"},
      {"not an address", replace(kHead, "  listen:", "  xfr_allow: [\"secondary\"]\n  listen:"),
       "xfr_allow", "'secondary' is not an IP address"},
      {"notify target without port",
       replace(kHead, "  listen:", "  notify: [\"192.0.2.53\"]\n  listen:"), "notify", "notify: "},
      // TSIG keys (docs/zone-transfer.md). A secret is never echoed in an error.
      {"tsig key unknown algorithm",
       replace(kHead, "  listen:",
               "  tsig_keys:\n    - { name: k1, algorithm: hmac-md5, secret: YWJj }\n  listen:"),
       "hmac-md5", "tsig_keys: unknown algorithm 'hmac-md5' (one of hmac-sha1, hmac-sha224,"},
      {"tsig key bad base64",
       replace(kHead,
               "  listen:", "  tsig_keys:\n    - { name: k1, secret: \"not*base64\" }\n  listen:"),
       "not*base64", "tsig_keys: key 'k1': 'secret': not base64: the length"},
      {"tsig key empty secret",
       replace(kHead, "  listen:", "  tsig_keys:\n    - { name: k1, secret: \"\" }\n  listen:"),
       "name: k1", "tsig_keys: key 'k1': 'secret': the secret is empty"},
      {"tsig key without a secret",
       replace(kHead, "  listen:", "  tsig_keys:\n    - { name: k1 }\n  listen:"), "name: k1",
       "tsig_keys: key 'k1' needs exactly one of 'secret', 'secret_file'"},
      {"tsig key duplicate name",
       replace(kHead, "  listen:",
               "  tsig_keys:\n    - { name: k1, secret: YWJj }\n"
               "    - { name: K1., secret: ZGVm }\n  listen:"),
       "K1.", "tsig_keys: key 'K1.' given twice (first at line 3)"},
      {"tsig secret_file missing",
       replace(kHead, "  listen:",
               "  tsig_keys:\n    - { name: k1, secret_file: /nonexistent/k1.key }\n  listen:"),
       "/nonexistent/k1.key", "cannot read secret_file /nonexistent/k1.key: No such file"},
      {"xfr_allow names an unknown key",
       replace(kHead, "  listen:",
               "  tsig_keys: [{ name: k1, secret: YWJj }]\n"
               "  xfr_allow: [{ from: 127.0.0.1, key: k2 }]\n  listen:"),
       "key: k2", "key 'k2' is not in server.tsig_keys (defined: k1.)"},
      {"xfr_allow entry without from",
       replace(kHead, "  listen:",
               "  tsig_keys: [{ name: k1, secret: YWJj }]\n  xfr_allow: [{ key: k1 }]\n  listen:"),
       "xfr_allow: [{", "xfr_allow: an entry needs 'from'"},
      {"xfr_allow bad prefix in a keyed entry",
       replace(kHead, "  listen:",
               "  tsig_keys: [{ name: k1, secret: YWJj }]\n"
               "  xfr_allow:\n    - { from: 10.0.0.0/40, key: k1 }\n  listen:"),
       "10.0.0.0/40", "xfr_allow: "},
      {"notify names an unknown key",
       replace(kHead,
               "  listen:", "  notify:\n    - { to: \"192.0.2.53:53\", key: nokey }\n  listen:"),
       "key: nokey", "key 'nokey' is not in server.tsig_keys (none defined)"},
      {"notify entry with a typo",
       replace(kHead, "  listen:", "  notify:\n    - { addr: \"192.0.2.53:53\" }\n  listen:"),
       "addr:", "unknown key 'addr' in notify"},
      {"journal too long", replace(kHead, "  listen:", "  ixfr_journal_versions: 0\n  listen:"),
       "ixfr_journal_versions", "out of range 1..100000"},
      {"max_udp_payload too small",
       replace(kHead, "  listen:", "  max_udp_payload: 100\n  listen:"), "max_udp_payload",
       "'max_udp_payload' is 100, out of range 512..4096"},
      {"udp_threads not a number", replace(kHead, "  listen:", "  udp_threads: many\n  listen:"),
       "udp_threads", "'udp_threads' must be a whole number, not 'many'"},
      {"chaos not a bool", replace(kHead, "  listen:", "  chaos: maybe\n  listen:"), "chaos",
       "'chaos' must be on, off or a mapping"},
      {"duplicate zone", rec("  - name: EXAMPLE.test\n    file: x.zone\n"), "EXAMPLE.test",
       "duplicate zone 'EXAMPLE.test.' (first at line 4)"},
      {"zone without name", rec("  - file: x.zone\n"), "file: x.zone", "zone without 'name'"},
      {"inline zone without soa", rec("  - name: b.test.\n    ns: [ns1.b.test.]\n"), "b.test.",
       "zone b.test.: inline zones need 'soa'"},
      {"file and records", rec("  - name: b.test.\n    file: b.zone\n    records: []\n"),
       "records: []", "give either 'file' or inline data ('records'), not both"},
      {"missing zone file", rec("  - name: b.test.\n    file: nowhere.zone\n"), "file: nowhere",
       "zone b.test.: cannot read zone file "},
      {"bad A value", rec("      - { name: www, type: A, values: [192.0.2.300] }\n"), "192.0.2.300",
       "www.example.test. A '192.0.2.300': "},
      {"bad value on its own line",
       rec("      - name: www\n        type: MX\n        values:\n          - 10 "
           "mail.example.test.\n"
           "          - mail.example.test.\n"),
       "- mail.example.test.", "www.example.test. MX 'mail.example.test.'"},
      {"unknown type", rec("      - { name: www, type: AAA, values: [\"::1\"] }\n"), "AAA",
       "unknown record type 'AAA' (did you mean 'AAAA'?)"},
      {"SOA in records", rec("      - { name: \"@\", type: SOA, values: [\"a b 1 2 3 4 5\"] }\n"),
       "SOA", "SOA records come from the zone's 'soa' key"},
      {"record without values", rec("      - { name: www, type: A }\n"), "name: www",
       "record without 'values'"},
      {"empty values", rec("      - { name: www, type: A, values: [] }\n"), "name: www",
       "'values' is empty"},
      {"bad owner name",
       rec("      - { name: " + std::string(64, 'a') + ", type: A, values: [192.0.2.1] }\n"),
       "aaaa", "'name': bad name"},
      {"out of zone", rec("      - { name: www.other.test., type: A, values: [192.0.2.1] }\n"),
       "www.other.test.", "outside the zone"},
      {"CNAME beside other data",
       rec("      - { name: www, type: A, values: [192.0.2.1] }\n"
           "      - { name: www, type: CNAME, values: [ns1] }\n"),
       "type: CNAME", "CNAME at www.example.test."},
      {"line break in a value",
       rec("      - { name: www, type: A, values: [\"192.0.2.1\\nevil 60 IN A 192.0.2.66\"] }\n"),
       "evil", "values must be on one line"},
      {"failover policy",
       rec("      - name: genai-demo\n        type: A\n        policy: failover\n"
           "        members: []\n"),
       "members: []", "genai-demo.example.test./A: 'members' is empty"},
      {"latency policy", rec("      - { name: x, type: A, policy: latency, members: [] }\n"),
       "policy: latency", "x.example.test./A: 'members' is empty"},
      {"unknown policy",
       rec("      - { name: x, type: A, policy: failovr, values: [192.0.2.1] }\n"), "failovr",
       "unknown routing policy 'failovr' (did you mean 'failover'?)"},
      {"steering key without policy",
       rec("      - { name: x, type: A, failover_ttl: 30, values: [192.0.2.1] }\n"), "failover_ttl",
       "'failover_ttl' belongs to steered records (with 'policy' and 'members')"},
      {"latency_map a mapping", std::string(kHead) + "latency_map:\n  a: {}\n", "  a: {}",
       "'latency_map' must be a list of {cidr, rtt_ms: {region: ms}}, not a mapping"},
      {"alert route event",
       "alerts:\n  routes:\n    - { events: [failovr], severity: critical }\n" + std::string(kHead),
       "failovr", "alerts: routes[0]: events: unknown event 'failovr' (did you mean 'failover'?)"},
      {"alert severity channel",
       "alerts:\n  severities:\n    critical: { channels: [pagr] }\n  channels:\n"
       "    pager: { type: pagerduty, routing_key: k, url: \"http://127.0.0.1:9/\" }\n" +
           std::string(kHead),
       "channels: [pagr]",
       "alerts: severities: critical: channels: no channel 'pagr' under alerts: channels (did you "
       "mean 'pager'?)"},
      {"alert channel scheme",
       "alerts:\n  channels:\n    mail: { type: smtp, url: \"http://127.0.0.1:25\", to: [a@b.c] "
       "}\n" +
           std::string(kHead),
       "http://127.0.0.1:25", "alerts: channels: mail: url: scheme 'http' is not smtp or smtps"},
      {"slo objective range", "slo:\n  default: { objective: 100 }\n" + std::string(kHead),
       "objective: 100", "slo: default: objective: 100 is out of range"},
      {"malformed YAML", rec("      - { name: www, type: A, values: [192.0.2.1 }\n"), "192.0.2.1 }",
       "malformed YAML"},
      {"bad indentation", replace(kHead, "    ns: [ns1", "   ns: [ns1"),
       "   ns:", "malformed YAML"},
      {"records not a list",
       replace(kHead, "    records:\n      - { name: ns1, type: A, values: [127.0.0.1] }\n",
               "    records: { name: ns1 }\n"),
       "records:", "'records' must be a list of records"},
      {"zones a mapping", "zones:\n  example.test.: {}\n",
       "example.test.:", "'zones' must be a list"},
      {"top level a list", "- zones\n", "- zones", "the config must be a mapping"},
      {"empty file", "", "", "the config is empty"},
      {"bad TTL", rec("      - { name: www, type: A, ttl: -5, values: [192.0.2.1] }\n"), "ttl: -5",
       "'ttl' must be seconds or a duration"},
      {"TTL above 31 bits",
       rec("      - { name: www, type: A, ttl: 4294967295, values: [192.0.2.1] }\n"), "4294967295",
       "'ttl' is 4294967295, out of range 0..2147483647"},
  };
}

TEST(ConfigErrors, EveryBadInputNamesFileLineAndReason) {
  TempDir d;
  for (const auto& bc : bad_cases()) {
    SCOPED_TRACE(bc.what);
    std::string path = d.write("t.yaml", bc.yaml);
    auto c = load_config_file(path);
    ASSERT_FALSE(c.ok()) << bc.yaml;
    const std::string& e = c.error();
    if (bc.what == std::string("missing zone file")) {
      EXPECT_NE(e.find(d.path() + "/nowhere.zone: No such file"), std::string::npos) << e;
    }
    {
      int line = bc.marker.empty() ? 1 : line_of(bc.yaml, bc.marker);
      ASSERT_GT(line, 0) << "marker not in yaml: " << bc.marker;
      std::string where = path + ":" + std::to_string(line) + ": ";
      EXPECT_EQ(e.rfind(where, 0), 0u) << "error: " << e << "\nexpected to start with: " << where;
    }
    EXPECT_NE(e.find(bc.reason), std::string::npos)
        << "error: " << e << "\nexpected: " << bc.reason;
  }
}

TEST(ConfigErrors, MissingConfigFile) {
  auto c = load_config_file("/nonexistent/steerdns.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().find("/nonexistent/steerdns.yaml: cannot read config file"),
            std::string::npos)
      << c.error();
}

TEST(ConfigErrors, BrokenZoneFileNamesItsLine) {
  TempDir d;
  d.write("b.zone", "@ 60 IN SOA ns1 h 1 1 1 1 1\n@ 60 IN NS ns1\nns1 60 IN A 192.0.2.999\n");
  auto c = load_config_file(d.write("t.yaml", "zones:\n  - { name: b.test., file: b.zone }\n"));
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().find(d.path() + "/b.zone:3: "), std::string::npos) << c.error();
}

// The shared flagship proposal (a copy in tests/data; examples/flagship.yaml is what steerdns
// reads) is refused clearly at its first difference, a check key that steerdns spells
// differently; its zones alone are refused at the first member whose health check is not
// defined.
TEST(ConfigErrors, FlagshipProposalIsRefusedAtItsFirstDifference) {
  std::string path = STEERDNS_TESTDATA "/config/flagship.yaml";
  auto c = load_config_file(path);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().find("flagship.yaml:15: health check 'primary-app': fqdn: unknown key"),
            std::string::npos)
      << c.error();

  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Keep server and zones only.
  std::string kept;
  bool keep = true;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string line = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos + 1);
    pos = nl == std::string::npos ? text.size() : nl + 1;
    if (!line.empty() && line[0] != ' ' && line[0] != '#' && line[0] != '\n') {
      keep = line.rfind("server:", 0) == 0 || line.rfind("zones:", 0) == 0;
    }
    kept += keep ? line : "\n";  // blank lines keep the line numbers
  }
  TempDir d;
  std::string p2 = d.write("flagship-zones.yaml", kept);
  auto c2 = load_config_file(p2);
  ASSERT_FALSE(c2.ok());
  std::string where = p2 + ":" + std::to_string(line_of(kept, "set_id: genai-demo-primary")) + ": ";
  EXPECT_EQ(c2.error(), where +
                            "genai-demo.example.test./A genai-demo-primary: health check "
                            "'primary-region' does not exist");
}

}  // namespace
}  // namespace steerdns::config
