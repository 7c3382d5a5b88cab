// The `health_checks:` section and the health server keys, through load_config_file: good
// sections become validated CheckSpecs next to the zones, bad ones fail the whole load with
// "file:line: ..." and no config.
#include <gtest/gtest.h>

#include <string>

#include "config/loader.h"
#include "config_test_util.h"

namespace steerdns::config {
namespace {

using health::Kind;
using testing::line_of;
using testing::TempDir;

const char* const kZones = testing::kMinimalZones;

TEST(ConfigHealth, SectionBecomesSpecsBesideTheZones) {
  TempDir d;
  std::string yaml = std::string(kZones) + R"(health_checks:
  - id: web
    url: http://127.0.0.1:8080/healthz
    interval: 1s
    failure_threshold: 3
  - { id: redis, type: tcp, host: 127.0.0.1, port: 6379, send: "PING\r\n", expect: "^\\+PONG" }
  - { id: lag, type: external, stale_after: 30s, file: state/lag }
  - { id: tls, url: "https://127.0.0.1:8443/", ca_file: certs/ca.crt }
  - { id: site, type: calculated, children: [web, redis, lag], healthy_threshold: 2 }
)";
  std::string path = d.write("steerdns.yaml", yaml);
  auto c = load_config_file(path);
  ASSERT_TRUE(c.ok()) << c.error();
  ASSERT_EQ(c->runtime->zones().size(), 1u);
  ASSERT_EQ(c->health_checks.size(), 5u);
  const auto& web = c->health_checks[0];
  EXPECT_EQ(web.id, "web");
  EXPECT_EQ(web.kind, Kind::kHttp);
  EXPECT_EQ(web.http.port, 8080);
  EXPECT_EQ(web.interval_ms, 1000);
  EXPECT_EQ(web.failure_threshold, 3);
  EXPECT_EQ(web.recheck_ms, 200);
  EXPECT_EQ(web.where, path + ":" + std::to_string(line_of(yaml, "id: web")));
  EXPECT_EQ(c->health_checks[1].kind, Kind::kTcp);
  EXPECT_EQ(c->health_checks[1].tcp.send, "PING\r\n");
  // Files named by checks are relative to the config's directory, as zone files are.
  EXPECT_EQ(c->health_checks[2].external.file, d.path() + "/state/lag");
  EXPECT_EQ(c->health_checks[3].http.ca_file, d.path() + "/certs/ca.crt");
  EXPECT_EQ(c->health_checks[4].calculated.children,
            (std::vector<std::string>{"web", "redis", "lag"}));
  // Defaults of the health server keys.
  EXPECT_EQ(c->server.health_state_file, d.path() + "/steerdns-health.json");
  EXPECT_EQ(c->server.checker_id, host_name());
  EXPECT_FALSE(c->server.checker_id.empty());
}

TEST(ConfigHealth, NoSectionMeansNoChecks) {
  TempDir d;
  auto c = load_config_file(d.write("t.yaml", kZones));
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_TRUE(c->health_checks.empty());
  auto e = load_config_file(d.write("e.yaml", std::string(kZones) + "health_checks:\n"));
  ASSERT_TRUE(e.ok()) << e.error();
  EXPECT_TRUE(e->health_checks.empty());
}

TEST(ConfigHealth, ServerKeys) {
  TempDir d;
  auto c = load_config_file(d.write("t.yaml", std::string("server:\n"
                                                          "  health_state_file: var/h.json\n"
                                                          "  checker_id: taipei-1\n") +
                                                  kZones));
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(c->server.health_state_file, d.path() + "/var/h.json");
  EXPECT_EQ(c->server.checker_id, "taipei-1");

  auto abs = load_config_file(
      d.write("a.yaml", std::string("server: { health_state_file: /var/lib/h.json }\n") + kZones));
  ASSERT_TRUE(abs.ok()) << abs.error();
  EXPECT_EQ(abs->server.health_state_file, "/var/lib/h.json");

  for (const char* off : {"\"\"", "~"}) {
    auto o = load_config_file(
        d.write("o.yaml", std::string("server:\n  health_state_file: ") + off + "\n" + kZones));
    ASSERT_TRUE(o.ok()) << o.error();
    EXPECT_EQ(o->server.health_state_file, "") << off;
  }
}

TEST(ConfigHealth, ZoneArgsHaveNoStateFile) {
  auto c = load_zone_args({});
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(c->server.health_state_file, "");
  EXPECT_EQ(c->server.checker_id, host_name());
  EXPECT_TRUE(c->health_checks.empty());
}

struct BadCase {
  const char* what;
  std::string yaml;    // appended to kZones
  std::string marker;  // the error names the line containing this text
  std::string reason;
};

TEST(ConfigHealth, BadSectionsFailTheWholeLoadWithFileAndLine) {
  const std::vector<BadCase> cases = {
      {"a single value instead of a list", "health_checks: web\n", "health_checks:",
       "health_checks: must be a list of checks"},
      {"typo in a key",
       "health_checks:\n  - id: web\n    url: http://127.0.0.1/\n    failure_treshold: 3\n",
       "failure_treshold", "did you mean 'failure_threshold'"},
      {"port 0", "health_checks:\n  - { id: r, type: tcp, host: 127.0.0.1, port: 0 }\n", "id: r",
       "health check 'r'"},
      {"threshold 0",
       "health_checks:\n  - { id: w, url: \"http://127.0.0.1/\", failure_threshold: 0 }\n", "id: w",
       "failure_threshold"},
      {"interval below the minimum",
       "health_checks:\n  - { id: w, url: \"http://127.0.0.1/\", interval: 50ms }\n", "id: w",
       "interval"},
      {"bad url", "health_checks:\n  - { id: w, url: \"ftp://a.test/\" }\n", "id: w", "url"},
      {"unknown child",
       "health_checks:\n  - { id: a, url: \"http://127.0.0.1/\" }\n"
       "  - { id: s, type: calculated, children: [a, primry] }\n",
       "id: s", "children: unknown check 'primry'"},
      {"cycle",
       "health_checks:\n  - { id: a, type: calculated, children: [b] }\n"
       "  - { id: b, type: calculated, children: [a] }\n",
       "id: ", "cycle"},
      {"duplicate id",
       "health_checks:\n  - { id: a, url: \"http://127.0.0.1/\" }\n"
       "  - { id: a, url: \"http://127.0.0.2/\" }\n",
       "127.0.0.2", "id: defined twice"},
  };
  TempDir d;
  for (const auto& bc : cases) {
    SCOPED_TRACE(bc.what);
    std::string yaml = std::string(kZones) + bc.yaml;
    std::string path = d.write("t.yaml", yaml);
    auto c = load_config_file(path);
    ASSERT_FALSE(c.ok()) << yaml;
    const std::string& e = c.error();
    EXPECT_EQ(e.rfind(path + ":", 0), 0u) << e;
    if (std::string(bc.what) != "cycle") {  // a cycle is reported at either member
      std::string where = path + ":" + std::to_string(line_of(yaml, bc.marker)) + ": ";
      EXPECT_EQ(e.rfind(where, 0), 0u) << "error: " << e << "\nexpected to start with: " << where;
    }
    EXPECT_NE(e.find(bc.reason), std::string::npos)
        << "error: " << e << "\nexpected: " << bc.reason;
  }
}

TEST(ConfigHealth, BadServerKeys) {
  const std::vector<BadCase> cases = {
      {"checker_id with a space", "server:\n  checker_id: \"taipei 1\"\n", "checker_id",
       "checker_id: 'taipei 1' has a space"},
      {"checker_id empty", "server:\n  checker_id: \"\"\n", "checker_id",
       "checker_id: must be 1 to 64 characters"},
      {"checker_id a list", "server:\n  checker_id: [a]\n", "checker_id",
       "'checker_id' must be a string"},
      {"state file a directory", "server:\n  health_state_file: .\n", "health_state_file",
       "is a directory"},
      {"typo", "server:\n  health_state_fle: x.json\n", "health_state_fle",
       "did you mean 'health_state_file'"},
  };
  TempDir d;
  for (const auto& bc : cases) {
    SCOPED_TRACE(bc.what);
    std::string yaml = bc.yaml + kZones;
    std::string path = d.write("t.yaml", yaml);
    auto c = load_config_file(path);
    ASSERT_FALSE(c.ok()) << yaml;
    std::string where = path + ":" + std::to_string(line_of(yaml, bc.marker)) + ": ";
    EXPECT_EQ(c.error().rfind(where, 0), 0u) << c.error();
    EXPECT_NE(c.error().find(bc.reason), std::string::npos) << c.error();
  }
}

// Alerts beside a valid health section load into the config.
TEST(ConfigHealth, AlertsSectionLoads) {
  TempDir d;
  std::string yaml = std::string(kZones) +
                     "health_checks:\n  - { id: a, url: \"http://127.0.0.1/\" }\n"
                     "alerts:\n  routes:\n    - { events: [check_unhealthy], severity: warning }\n"
                     "  severities:\n    warning: { channels: [hook], repeat: 1h }\n"
                     "  channels:\n    hook: { type: webhook, url: \"http://127.0.0.1:9/x\" }\n";
  auto c = load_config_file(d.write("t.yaml", yaml));
  ASSERT_TRUE(c.ok()) << c.error();
  ASSERT_EQ(c->alerts.routes.size(), 1u);
  EXPECT_EQ(c->alerts.severities[1].repeat_ms, 3'600'000);
  EXPECT_EQ(c->alerts.channels.at("hook").url, "http://127.0.0.1:9/x");
}

}  // namespace
}  // namespace steerdns::config
