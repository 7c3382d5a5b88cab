// Spec validation: bad specs are refused with the field and the reason.
#include "health/spec.h"

#include <gtest/gtest.h>

#include "health/view.h"

namespace steerdns::health {
namespace {

CheckSpec http(const std::string& id) {
  CheckSpec s;
  s.id = id;
  s.kind = Kind::kHttp;
  s.http.host = "www.example.test";
  s.where = "cfg.yaml:7";
  return s;
}

CheckSpec calc(const std::string& id, std::vector<std::string> children, int n = 1) {
  CheckSpec s;
  s.id = id;
  s.kind = Kind::kCalculated;
  s.calculated.children = std::move(children);
  s.calculated.healthy_threshold = n;
  return s;
}

std::string error_of(const CheckSpec& s) {
  auto st = validate(s);
  return st.ok() ? "" : st.error();
}

TEST(Spec, Names) {
  EXPECT_STREQ(kind_name(Kind::kHttps), "https");
  EXPECT_STREQ(kind_name(Kind::kCalculated), "calculated");
  EXPECT_STREQ(status_name(Status::kUnhealthy), "unhealthy");
  EXPECT_STREQ(source_name(Source::kPersisted), "persisted");
  EXPECT_STREQ(source_name(Source::kStale), "stale");
}

TEST(Spec, ValidSpecsPass) {
  EXPECT_EQ(error_of(http("web")), "");
  CheckSpec t;
  t.id = "redis";
  t.kind = Kind::kTcp;
  t.tcp = {"::1", 6379, "PING\r\n", "^\\+PONG"};
  EXPECT_EQ(error_of(t), "");
  CheckSpec d;
  d.id = "dns";
  d.kind = Kind::kDns;
  d.dns.server = "[::1]:5300";
  d.dns.qname = "www.example.test.";
  d.dns.qtype = "AAAA";
  EXPECT_EQ(error_of(d), "");
  CheckSpec e;
  e.id = "lag";
  e.kind = Kind::kExternal;
  e.external.stale_after_ms = 30'000;
  EXPECT_EQ(error_of(e), "");
  CheckSpec fast = http("fast");
  fast.interval_ms = 100;
  fast.timeout_ms = 80;
  fast.recheck_ms = 50;
  EXPECT_EQ(error_of(fast), "");
}

TEST(Spec, BadSpecsNameFieldAndReason) {
  struct Row {
    const char* what;
    std::function<void(CheckSpec&)> edit;
    const char* want;  // expected error text
  };
  const std::vector<Row> rows = {
      {"bad host", [](CheckSpec& s) { s.http.host = "bad host!"; },
       "cfg.yaml:7: health check 'web': host: 'bad host!' is not a host name or IP address "
       "(bad character)"},
      {"empty host", [](CheckSpec& s) { s.http.host = ""; },
       "cfg.yaml:7: health check 'web': host: is empty"},
      {"numeric non-IP host", [](CheckSpec& s) { s.http.host = "300.1.2.3"; },
       "cfg.yaml:7: health check 'web': host: '300.1.2.3' is not a valid IP address"},
      {"bracketed v6", [](CheckSpec& s) { s.http.host = "[::1]"; },
       "cfg.yaml:7: health check 'web': host: '[::1]': write IPv6 addresses without brackets"},
      {"bad ip", [](CheckSpec& s) { s.http.ip = "10.0.0"; },
       "cfg.yaml:7: health check 'web': ip: '10.0.0' is not an IP address"},
      {"path", [](CheckSpec& s) { s.http.path = "health"; },
       "cfg.yaml:7: health check 'web': path: 'health' must start with '/'"},
      {"status range",
       [](CheckSpec& s) {
         s.http.expect_status = {{300, 200}};
       },
       "cfg.yaml:7: health check 'web': expect_status: 300-200 is not a range within 100-599"},
      {"regex", [](CheckSpec& s) { s.http.regex = "(unclosed"; }, "regex: '(unclosed' is not"},
      {"method", [](CheckSpec& s) { s.http.method = "GE T"; },
       "cfg.yaml:7: health check 'web': method: 'GE T' is not an HTTP method"},
      {"header",
       [](CheckSpec& s) {
         s.http.headers = {{"X-A", "b\r\nInjected: 1"}};
       },
       "headers: value of 'X-A' contains control characters"},
      {"tcp port 0",
       [](CheckSpec& s) {
         s.kind = Kind::kTcp;
         s.tcp.host = "127.0.0.1";
         s.tcp.port = 0;
       },
       "cfg.yaml:7: health check 'web': port: 0 is not a valid port (1..65535)"},
      {"failure threshold 0", [](CheckSpec& s) { s.failure_threshold = 0; },
       "cfg.yaml:7: health check 'web': failure_threshold: 0 is out of range 1..100"},
      {"success threshold 0", [](CheckSpec& s) { s.success_threshold = 0; },
       "cfg.yaml:7: health check 'web': success_threshold: 0 is out of range 1..100"},
      {"interval below minimum", [](CheckSpec& s) { s.interval_ms = 99; },
       "cfg.yaml:7: health check 'web': interval: 99ms is below the minimum of 100ms"},
      {"timeout above interval",
       [](CheckSpec& s) {
         s.interval_ms = 1000;
         s.timeout_ms = 1500;
       },
       "cfg.yaml:7: health check 'web': timeout: 1500ms exceeds the interval (1000ms)"},
      {"recheck too short", [](CheckSpec& s) { s.recheck_ms = 10; },
       "recheck: 10ms is out of range 50ms..interval"},
      {"dns server",
       [](CheckSpec& s) {
         s.kind = Kind::kDns;
         s.dns.server = "ns1.example.test:53";
         s.dns.qname = "a.test.";
       },
       "server: 'ns1.example.test:53': 'ns1.example.test' is not an IP address"},
      {"dns server port 0",
       [](CheckSpec& s) {
         s.kind = Kind::kDns;
         s.dns.server = "127.0.0.1:0";
         s.dns.qname = "a.test.";
       },
       "server: '127.0.0.1:0': port 0 out of range 1..65535"},
      {"dns qtype",
       [](CheckSpec& s) {
         s.kind = Kind::kDns;
         s.dns.server = "127.0.0.1";
         s.dns.qname = "a.test.";
         s.dns.qtype = "BOGUS";
       },
       "qtype: 'BOGUS' is not a known record type"},
      {"exec without command", [](CheckSpec& s) { s.kind = Kind::kExec; }, "command: is empty"},
      {"calculated without children", [](CheckSpec& s) { s.kind = Kind::kCalculated; },
       "children: a calculated check needs at least one child"},
      {"calculated self", [](CheckSpec& s) { s = calc("web", {"web"}); },
       "health check 'web': children: 'web' is the check itself (cycle)"},
      {"negative calculated threshold", [](CheckSpec& s) { s = calc("web", {"a"}, -1); },
       "healthy_threshold: must not be negative"},
      {"id with space", [](CheckSpec& s) { s.id = "a b"; }, "id: must not contain spaces"},
  };
  for (const auto& r : rows) {
    CheckSpec s = http("web");
    r.edit(s);
    std::string e = error_of(s);
    EXPECT_NE(e.find(r.want), std::string::npos) << r.what << ": got '" << e << "'";
  }
}

TEST(Spec, ValidateAll) {
  auto err = [](const std::vector<CheckSpec>& v) {
    auto st = validate_all(v);
    return st.ok() ? std::string() : st.error();
  };
  EXPECT_EQ(err({http("a"), http("b"), calc("c", {"a", "b"}, 2)}), "");
  EXPECT_EQ(err({http("a"), http("a")}),
            "cfg.yaml:7: health check 'a': id: defined twice (first at cfg.yaml:7)");
  EXPECT_EQ(err({http("a"), calc("c", {"a", "ghost"})}),
            "health check 'c': children: unknown check 'ghost'");
  std::string cyc = err({http("a"), calc("x", {"a", "y"}), calc("y", {"z"}), calc("z", {"x"})});
  EXPECT_NE(cyc.find("children: cycle x -> y -> z -> x"), std::string::npos) << cyc;
  // Nesting without a cycle is fine; diamonds too.
  EXPECT_EQ(err({http("a"), calc("l", {"a"}), calc("r", {"a"}), calc("top", {"l", "r"})}), "");
  // One bad spec in a list fails the list.
  CheckSpec bad = http("bad");
  bad.failure_threshold = 0;
  EXPECT_NE(err({http("a"), bad}).find("failure_threshold"), std::string::npos);
}

TEST(Spec, ProbeKey) {
  CheckSpec a = http("a");
  CheckSpec b = http("b");
  b.interval_ms = 5000;  // schedule and thresholds do not change what is probed
  b.failure_threshold = 5;
  b.inverted = true;
  EXPECT_EQ(a.probe_key(), b.probe_key());
  b.http.path = "/other";
  EXPECT_NE(a.probe_key(), b.probe_key());
  CheckSpec c = http("c");
  c.timeout_ms = 100;
  EXPECT_NE(a.probe_key(), c.probe_key());
  CheckSpec h = http("h");
  h.kind = Kind::kHttps;
  EXPECT_NE(a.probe_key(), h.probe_key());
  EXPECT_EQ(calc("x", {"a"}).probe_key(), "");
}

}  // namespace
}  // namespace steerdns::health
