// The `health_checks:` YAML section: every check type, and errors with file:line, field and
// reason.
#include "config/health_yaml.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

namespace steerdns::config {
namespace {

using health::Kind;
using health::Status;

Result<std::vector<health::CheckSpec>> parse(const std::string& yaml) {
  YAML::Node root = YAML::Load(yaml);
  return parse_health_checks(root["health_checks"], "steerdns.yaml");
}

std::string error_of(const std::string& yaml) {
  auto r = parse(yaml);
  return r.ok() ? "" : r.error();
}

TEST(HealthYaml, EveryType) {
  auto r = parse(R"(health_checks:
  - id: primary
    url: https://primary.example.test:8443/healthz?full=1
    ip: 192.0.2.10
    headers: { X-Probe: steerdns }
    expect_status: [200, "204-299"]
    search: '"status":"ok"'
    verify_tls: false
    interval: 1s
    recheck: 100ms
    confirm_probes: 1
    max_body: 4MiB
    failure_threshold: 3
    success_threshold: 2
    initial: unknown
    initial_wait: 3s
    max_state_age: 10m
    aggregation: majority
  - id: v6
    type: http
    url: "http://[2001:db8::10]/"
    expect_status: 200
  - { id: redis, type: tcp, host: "::1", port: 6379, send: "PING\r\n", expect: "^\\+PONG" }
  - { id: ns, type: dns, server: "127.0.0.1:5300", qname: a.test., qtype: AAAA, tcp: true }
  - { id: db, type: exec, command: [/usr/bin/pg_isready, -q], timeout: 3s, interval: 10s }
  - { id: site, type: calculated, children: [primary, v6], healthy_threshold: 1, inverted: true }
  - { id: lag, type: external, stale_after: 30s, stale_state: unhealthy, file: /run/lag }
  - { id: off, type: http, host: 192.0.2.1, disabled: true }
)");
  ASSERT_TRUE(r.ok()) << r.error();
  ASSERT_EQ(r->size(), 8u);
  const auto& p = (*r)[0];
  EXPECT_EQ(p.id, "primary");
  EXPECT_EQ(p.kind, Kind::kHttps);
  EXPECT_EQ(p.http.host, "primary.example.test");
  EXPECT_EQ(p.http.port, 8443);
  EXPECT_EQ(p.http.path, "/healthz?full=1");
  EXPECT_EQ(p.http.ip, "192.0.2.10");
  EXPECT_EQ(p.confirm_probes, 1);
  EXPECT_EQ(p.http.max_body, 4u << 20);
  EXPECT_EQ((*r)[1].confirm_probes, 2) << "pairs by default";
  EXPECT_EQ((*r)[1].http.max_body, 1u << 20) << "1 MiB by default";
  ASSERT_EQ(p.http.headers.size(), 1u);
  EXPECT_EQ(p.http.headers[0].first, "X-Probe");
  ASSERT_EQ(p.http.expect_status.size(), 2u);
  EXPECT_EQ(p.http.expect_status[0].lo, 200);
  EXPECT_EQ(p.http.expect_status[0].hi, 200);
  EXPECT_EQ(p.http.expect_status[1].lo, 204);
  EXPECT_EQ(p.http.expect_status[1].hi, 299);
  EXPECT_EQ(p.http.search, "\"status\":\"ok\"");
  EXPECT_FALSE(p.http.verify_tls);
  EXPECT_EQ(p.interval_ms, 1000);
  EXPECT_EQ(p.timeout_ms, 500) << "default timeout shrinks to half a short interval";
  EXPECT_EQ(p.recheck_ms, 100);
  EXPECT_EQ(p.initial, Status::kUnknown);
  EXPECT_EQ(p.initial_wait_ms, 3000);
  EXPECT_EQ(p.max_state_age_ms, 600'000);
  EXPECT_EQ(p.aggregation, health::Aggregation::kMajority);
  EXPECT_EQ(p.where, "steerdns.yaml:2");
  EXPECT_EQ((*r)[1].http.host, "2001:db8::10");
  EXPECT_EQ((*r)[1].http.port, 0);
  EXPECT_EQ((*r)[2].tcp.host, "::1");
  EXPECT_EQ((*r)[2].tcp.port, 6379);
  EXPECT_EQ((*r)[2].tcp.send, "PING\r\n");
  EXPECT_EQ((*r)[3].dns.qtype, "AAAA");
  EXPECT_TRUE((*r)[3].dns.tcp);
  EXPECT_EQ((*r)[4].exec.argv, (std::vector<std::string>{"/usr/bin/pg_isready", "-q"}));
  EXPECT_EQ((*r)[4].timeout_ms, 3000);
  EXPECT_EQ((*r)[5].calculated.children, (std::vector<std::string>{"primary", "v6"}));
  EXPECT_TRUE((*r)[5].inverted);
  EXPECT_EQ((*r)[6].external.stale_after_ms, 30'000);
  EXPECT_EQ((*r)[6].external.file, "/run/lag");
  EXPECT_TRUE((*r)[7].disabled);
  EXPECT_EQ((*r)[7].where, "steerdns.yaml:28");
}

TEST(HealthYaml, MaxBodySizes) {
  const std::pair<const char*, size_t> rows[] = {
      {"65536", 65536}, {"64KiB", 65536},   {"64 KB", 65536},
      {"2M", 2u << 20}, {"1GiB", 1u << 30}, {"1B", 1},
  };
  for (const auto& [text, want] : rows) {
    auto r = parse(std::string("health_checks:\n  - { id: w, url: http://a.test/, max_body: ") +
                   text + " }\n");
    ASSERT_TRUE(r.ok()) << text << ": " << r.error();
    EXPECT_EQ((*r)[0].http.max_body, want) << text;
  }
  for (const char* bad : {"-1", "MiB", "4 MiBs", "1.5MiB"}) {
    EXPECT_NE(error_of(std::string("health_checks:\n  - { id: w, url: http://a.test/, "
                                   "max_body: \"") +
                       bad + "\" }\n")
                  .find("max_body: must be a size in bytes"),
              std::string::npos)
        << bad;
  }
}

TEST(HealthYaml, EmptyOrAbsent) {
  auto r = parse("health_checks:\n");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
  EXPECT_EQ(error_of("health_checks: 1\n"),
            "steerdns.yaml:1: health_checks: must be a list of checks ('- id: ...') or a mapping "
            "of id to check, not a single value");
  EXPECT_EQ(error_of("health_checks: {a: 1}\n"),
            "steerdns.yaml:1: health check 'a': must be a mapping with 'type', not a single value");
}

// The flagship form: a mapping keyed by check id, in file order, same specs as the list form.
TEST(HealthYaml, MappingKeyedById) {
  auto r = parse(
      "health_checks:\n"
      "  web: { url: \"http://127.0.0.1:8080/\" }\n"
      "  db: { type: tcp, host: 127.0.0.1, port: 5432 }\n");
  ASSERT_TRUE(r.ok()) << r.error();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].id, "web");
  EXPECT_EQ((*r)[1].id, "db");
  EXPECT_EQ((*r)[1].kind, health::Kind::kTcp);
  EXPECT_EQ(error_of("health_checks:\n  web: { id: web, url: \"http://127.0.0.1/\" }\n"),
            "steerdns.yaml:2: health check 'web': id: is already given by the mapping key");
}

TEST(HealthYaml, ErrorsNameLineFieldAndReason) {
  struct Row {
    const char* yaml;
    const char* want;
  };
  const Row rows[] = {
      {"health_checks:\n  - id: web\n    type: http\n    host: a.test\n    failure_treshold: 3\n",
       "steerdns.yaml:5: health check 'web': failure_treshold: unknown key "
       "(did you mean 'failure_threshold'?)"},
      {"health_checks:\n  - id: web\n    type: http\n    host: a.test\n    children: [x]\n",
       "steerdns.yaml:5: health check 'web': children: does not apply to type http "
       "(only to calculated)"},
      {"health_checks:\n  - id: web\n    type: htps\n",
       "steerdns.yaml:3: health check 'web': type: 'htps' is not one of http, https, tcp, dns, "
       "calculated, exec, external (did you mean 'https'?)"},
      {"health_checks:\n  - id: web\n    url: ftp://a.test/\n",
       "steerdns.yaml:3: health check 'web': url: scheme 'ftp' is not http or https"},
      {"health_checks:\n  - id: web\n    host: a.test\n",
       "steerdns.yaml:2: health check 'web': type: is missing (one of http, https"},
      {"health_checks:\n  - id: web\n    type: http\n    url: a.test/health\n",
       "steerdns.yaml:4: health check 'web': url: 'a.test/health' is not a URL "
       "(expected http://host[:port]/path)"},
      {"health_checks:\n  - id: web\n    type: http\n    url: http://a.test:0/\n",
       "steerdns.yaml:4: health check 'web': url: 'http://a.test:0/': port '0' is not 1..65535"},
      {"health_checks:\n  - id: web\n    type: http\n    url: https://a.test/\n",
       "steerdns.yaml:4: health check 'web': url: an https URL in a check of type http"},
      {"health_checks:\n  - id: web\n    type: http\n    url: http://bad_host!/\n",
       "steerdns.yaml:2: health check 'web': host: 'bad_host!' is not a host name or IP address"},
      {"health_checks:\n  - id: r\n    type: tcp\n    host: 127.0.0.1\n    port: 0\n",
       "steerdns.yaml:5: health check 'r': port: 0 is out of range 1..65535"},
      {"health_checks:\n  - id: r\n    type: tcp\n    host: 127.0.0.1\n",
       "steerdns.yaml:2: health check 'r': port: 0 is not a valid port (1..65535)"},
      {"health_checks:\n  - id: web\n    type: http\n    host: a.test\n    failure_threshold: 0\n",
       "steerdns.yaml:5: health check 'web': failure_threshold: 0 is out of range 1..100"},
      {"health_checks:\n  - id: web\n    type: http\n    host: a.test\n    interval: 50ms\n",
       "steerdns.yaml:2: health check 'web': interval: 50ms is below the minimum of 100ms"},
      {"health_checks:\n  - id: web\n    type: http\n    host: a.test\n    interval: 10\n",
       "steerdns.yaml:5: health check 'web': interval: duration '10' needs a unit"},
      {"health_checks:\n  - { id: c, type: calculated, children: [ghost] }\n",
       "steerdns.yaml:2: health check 'c': children: unknown check 'ghost'"},
      {"health_checks:\n  - { id: a, type: calculated, children: [b] }\n"
       "  - { id: b, type: calculated, children: [a] }\n",
       "health check 'b': children: cycle a -> b -> a"},
      {"health_checks:\n  - { id: a, type: http, host: x.test }\n  - { id: a, type: tcp, host: "
       "x.test, port: 1 }\n",
       "steerdns.yaml:3: health check 'a': id: defined twice (first at steerdns.yaml:2)"},
      {"health_checks:\n  - type: http\n    host: a.test\n",
       "steerdns.yaml:2: health check: id: is missing"},
      {"health_checks:\n  - id: web\n    type: http\n    host: a.test\n    host: b.test\n",
       "steerdns.yaml:5: health check: key 'host' given twice (first at line 4)"},
      {"health_checks:\n  - id: web\n    type: http\n    host: a.test\n    expect_status: [ok]\n",
       "steerdns.yaml:5: health check 'web': expect_status: 'ok' is not a status code or a range"},
      {"health_checks:\n  - id: e\n    type: external\n    stale_state: dead\n",
       "steerdns.yaml:4: health check 'e': stale_state: 'dead' is not one of healthy, unhealthy, "
       "unknown"},
      {"health_checks:\n  - id: w\n    type: http\n    host: a.test\n    aggregation: quorum\n",
       "steerdns.yaml:5: health check 'w': aggregation: 'quorum' is not one of route53, majority, "
       "all"},
      {"health_checks:\n  - id: w\n    type: http\n    host: a.test\n    inverted: maybe\n",
       "steerdns.yaml:5: health check 'w': inverted: must be true or false"},
      {"health_checks:\n  - id: w\n    type: http\n    host: a.test\n    confirm_probes: 3\n",
       "steerdns.yaml:5: health check 'w': confirm_probes: 3 is out of range 1..2"},
      {"health_checks:\n  - id: w\n    type: http\n    host: a.test\n    max_body: 0\n",
       "steerdns.yaml:5: health check 'w': max_body: 0 is out of range 1..1073741824 bytes"},
      {"health_checks:\n  - id: w\n    type: http\n    host: a.test\n    max_body: 2TiB\n",
       "steerdns.yaml:5: health check 'w': max_body: must be a size in bytes such as 65536, "
       "64KiB or 4MiB, not '2TiB'"},
      {"health_checks:\n  - id: w\n    type: http\n    host: a.test\n    max_body: 2GiB\n",
       "steerdns.yaml:5: health check 'w': max_body: 2GiB is out of range 1..1073741824 bytes"},
      {"health_checks:\n  - { id: r, type: tcp, host: 127.0.0.1, port: 1, max_body: 10 }\n",
       "health check 'r': max_body: does not apply to type tcp (only to http, https)"},
      {"health_checks:\n  - just-a-string\n",
       "steerdns.yaml:2: health check: must be a mapping with 'id' and 'type', not a single value"},
  };
  for (const auto& r : rows) {
    std::string e = error_of(r.yaml);
    EXPECT_NE(e.find(r.want), std::string::npos) << "yaml:\n" << r.yaml << "got: " << e;
  }
}

}  // namespace
}  // namespace steerdns::config
