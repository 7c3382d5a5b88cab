// The CLI's HTTP client against a tiny HTTP server started here on loopback: what it sends
// (method, target, token, body), how it reads answers, and the errors an operator sees.
#include "cli/api_client.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cli/commands.h"
#include "testlib/http_stub.h"
#include "testlib/temp_dir.h"

namespace steerdns::cli {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

struct Seen {
  std::string method, target, authorization, content_type, body;
};

// Answers every request with the same canned reply (or none: `silent`, to test timeouts) and
// keeps what it was sent.
class TinyServer {
 public:
  TinyServer(int status, std::string body, std::string content_type = "application/json",
             bool silent = false)
      : stub_({steerdns::testing::HttpReply{.status = status,
                                            .body = std::move(body),
                                            .content_type = std::move(content_type),
                                            .hang = silent}}) {}
  std::string url() const { return stub_.url(""); }
  std::vector<Seen> seen() const {
    std::vector<Seen> out;
    for (const auto& r : stub_.requests()) {
      out.push_back(
          {r.method, r.path, r.header("Authorization"), r.header("Content-Type"), r.body});
    }
    return out;
  }

 private:
  steerdns::testing::HttpStub stub_;
};

Getenv env_of(std::map<std::string, std::string> vars) {
  auto m = std::make_shared<std::map<std::string, std::string>>(std::move(vars));
  return [m](const char* name) -> const char* {
    auto it = m->find(name);
    return it == m->end() ? nullptr : it->second.c_str();
  };
}

using steerdns::testing::TempDir;

ApiClient client_at(const std::string& url, const std::string& token = "tok",
                    long timeout_ms = 5000) {
  ApiSettings s;
  s.base_url = url;
  s.token = token;
  s.token_source = "STEERDNS_API_TOKEN";
  s.timeout_ms = timeout_ms;
  return ApiClient(s);
}

// A loopback port nobody listens on (bound, then closed).
uint16_t dead_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  socklen_t len = sizeof sa;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  ::close(fd);
  return ntohs(sa.sin_port);
}

// --- settings ----------------------------------------------------------------------------------

TEST(ApiSettings, DefaultsWithNothingConfigured) {
  TempDir home;
  auto s = resolve_settings({}, env_of({{"HOME", home.path()}}));
  ASSERT_TRUE(s) << s.error();
  EXPECT_EQ(s->base_url, "http://127.0.0.1:8053");
  EXPECT_EQ(s->token, "");
  EXPECT_EQ(s->timeout_ms, 10000);
}

TEST(ApiSettings, FlagsBeatEnvironmentBeatsConfigFile) {
  TempDir d;
  std::string cfg = d.write("cli.yaml",
                            "api: http://from-file:1/\ntoken: file-token\n"
                            "cacert: /file/ca.pem\n");
  std::string tf = d.write("token", "flag-token\n");
  auto env = env_of({{"STEERDNS_CLI_CONFIG", cfg},
                     {"STEERDNS_API_URL", "http://from-env:2"},
                     {"STEERDNS_API_TOKEN", "env-token"},
                     {"STEERDNS_API_CACERT", "/env/ca.pem"}});
  auto file_only = resolve_settings({}, env_of({{"STEERDNS_CLI_CONFIG", cfg}}));
  ASSERT_TRUE(file_only) << file_only.error();
  EXPECT_EQ(file_only->base_url, "http://from-file:1");
  EXPECT_EQ(file_only->token, "file-token");
  EXPECT_EQ(file_only->cacert, "/file/ca.pem");

  auto from_env = resolve_settings({}, env);
  ASSERT_TRUE(from_env) << from_env.error();
  EXPECT_EQ(from_env->base_url, "http://from-env:2");
  EXPECT_EQ(from_env->token, "env-token");
  EXPECT_EQ(from_env->token_source, "STEERDNS_API_TOKEN");
  EXPECT_EQ(from_env->cacert, "/env/ca.pem");

  ApiOptions flags{"https://from-flag:3", tf, "/flag/ca.pem", "2s"};
  auto from_flags = resolve_settings(flags, env);
  ASSERT_TRUE(from_flags) << from_flags.error();
  EXPECT_EQ(from_flags->base_url, "https://from-flag:3");
  EXPECT_EQ(from_flags->token, "flag-token");
  EXPECT_EQ(from_flags->token_source, "--token-file " + tf);
  EXPECT_EQ(from_flags->cacert, "/flag/ca.pem");
  EXPECT_EQ(from_flags->timeout_ms, 2000);
}

TEST(ApiSettings, BadInputIsAnErrorNamingWhere) {
  TempDir d;
  auto none = env_of({{"HOME", d.path()}});
  auto bad_url = resolve_settings(ApiOptions{"ftp://x", "", "", ""}, none);
  ASSERT_FALSE(bad_url);
  EXPECT_THAT(bad_url.error(), HasSubstr("--api"));

  auto missing_tf = resolve_settings(ApiOptions{"", d.path() + "/nope", "", ""}, none);
  ASSERT_FALSE(missing_tf);
  EXPECT_THAT(missing_tf.error(), HasSubstr("nope: No such file or directory"));

  auto empty_tf = resolve_settings(ApiOptions{"", d.write("empty", "\n"), "", ""}, none);
  ASSERT_FALSE(empty_tf);
  EXPECT_THAT(empty_tf.error(), HasSubstr("is empty"));

  auto empty_env = resolve_settings({}, env_of({{"HOME", d.path()}, {"STEERDNS_API_TOKEN", ""}}));
  ASSERT_FALSE(empty_env);
  EXPECT_THAT(empty_env.error(), HasSubstr("STEERDNS_API_TOKEN is set but empty"));

  std::string cfg = d.write("bad.yaml", "api: http://x:1\ntokn: abc\n");
  auto unknown = resolve_settings({}, env_of({{"STEERDNS_CLI_CONFIG", cfg}}));
  ASSERT_FALSE(unknown);
  EXPECT_THAT(unknown.error(), HasSubstr(cfg + ":2: unknown key 'tokn'"));

  auto missing_cfg =
      resolve_settings({}, env_of({{"STEERDNS_CLI_CONFIG", d.path() + "/missing.yaml"}}));
  ASSERT_FALSE(missing_cfg);
  EXPECT_THAT(missing_cfg.error(), HasSubstr("STEERDNS_CLI_CONFIG"));

  auto bad_timeout = resolve_settings(ApiOptions{"", "", "", "soon"}, none);
  ASSERT_FALSE(bad_timeout);
  EXPECT_THAT(bad_timeout.error(), HasSubstr("--api-timeout 'soon'"));
}

TEST(ApiSettings, DefaultConfigFileUnderHome) {
  TempDir home;
  std::filesystem::create_directories(home.path() + "/.config/steerdns");
  home.write(".config/steerdns/cli.yaml", "api: http://127.0.0.1:9999\ntoken: t1\n");
  auto s = resolve_settings({}, env_of({{"HOME", home.path()}}));
  ASSERT_TRUE(s) << s.error();
  EXPECT_EQ(s->base_url, "http://127.0.0.1:9999");
  EXPECT_EQ(s->token, "t1");
}

// --- requests ----------------------------------------------------------------------------------

TEST(ApiClient, SendsTokenAndParsesJson) {
  TinyServer srv(200, R"({"sets":[],"steered_sets":0})");
  auto r = client_at(srv.url(), "s3cret").call("GET", "/v1/status");
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ((*r)["steered_sets"], 0);
  auto seen = srv.seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "GET");
  EXPECT_EQ(seen[0].target, "/v1/status");
  EXPECT_EQ(seen[0].authorization, "Bearer s3cret");
}

TEST(ApiClient, NoTokenNoAuthorizationHeader) {
  TinyServer srv(200, "{}");
  ASSERT_TRUE(client_at(srv.url(), "").call("GET", "/v1/zones"));
  EXPECT_EQ(srv.seen().at(0).authorization, "");
}

TEST(ApiClient, PostsJsonBody) {
  TinyServer srv(201, R"({"change":{"id":"C1","status":"PENDING"}})");
  json body{{"ttl", 60}, {"values", {"192.0.2.1"}}};
  auto r = client_at(srv.url()).call("PUT", "/v1/zones/example.test/rrsets/www/A", &body);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(change_id_of(*r), "C1");
  auto s = srv.seen().at(0);
  EXPECT_EQ(s.method, "PUT");
  EXPECT_EQ(s.content_type, "application/json");
  EXPECT_EQ(json::parse(s.body), body);
}

TEST(ApiClient, TextBodyAndAnswer) {
  TinyServer srv(200, "example.test. 3600 IN SOA a. b. 1 2 3 4 5\n", "text/plain");
  auto r = client_at(srv.url()).call_text("POST", "/v1/zones/example.test/import",
                                          "www 60 IN A 192.0.2.1\n");
  ASSERT_TRUE(r) << r.error();
  EXPECT_THAT(*r, HasSubstr("SOA"));
  EXPECT_EQ(srv.seen().at(0).content_type, "text/plain");
  EXPECT_EQ(srv.seen().at(0).body, "www 60 IN A 192.0.2.1\n");
}

TEST(ApiClient, ConnectionRefusedSaysWhatToDo) {
  std::string url = "http://127.0.0.1:" + std::to_string(dead_port());
  auto r = client_at(url).call("GET", "/v1/status");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), "cannot reach the API at " + url +
                           ": connection refused — is `steerdns serve` running? (--api URL)");
}

TEST(ApiClient, UnauthorizedNamesTheTokensSource) {
  TinyServer srv(401, R"({"error":{"code":"unauthorized","message":"unknown token"}})");
  auto r = client_at(srv.url(), "wrong").call("GET", "/v1/status");
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error(), HasSubstr("the API refused the token (STEERDNS_API_TOKEN)"));

  auto none = client_at(srv.url(), "").call("GET", "/v1/status");
  ASSERT_FALSE(none);
  EXPECT_THAT(none.error(), HasSubstr("set STEERDNS_API_TOKEN or give --token-file"));
}

TEST(ApiClient, ServerErrorMessagePrintedAsIs) {
  TinyServer srv(500, R"({"error":{"code":"internal","message":"store: disk I/O error"}})");
  auto r = client_at(srv.url()).call("POST", "/v1/apply");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), "store: disk I/O error");
}

TEST(ApiClient, NonJsonErrorShowsStatusAndBody) {
  TinyServer srv(502, "bad gateway\n", "text/plain");
  auto r = client_at(srv.url()).call("GET", "/v1/status");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), "the API answered HTTP 502: bad gateway");
}

TEST(ApiClient, AnswerThatIsNotJson) {
  TinyServer srv(200, "<html>", "text/html");
  auto r = client_at(srv.url()).call("GET", "/v1/status");
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error(), HasSubstr("is not JSON"));
}

TEST(ApiClient, TimeoutIsReported) {
  TinyServer srv(200, "{}", "application/json", /*silent=*/true);
  auto start = std::chrono::steady_clock::now();
  auto r = client_at(srv.url(), "tok", 300).call("GET", "/v1/status");
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), "the API at " + srv.url() + " did not answer within 300ms (--api-timeout)");
  EXPECT_LT(took, std::chrono::seconds(3));
}

// --- steering requests over the API --------------------------------------------------------------

TEST(SteerViaApi, MapsEveryCommandToItsRoute) {
  TinyServer srv(200, "{}");
  ApiClient c = client_at(srv.url());
  ASSERT_TRUE(steer_via_api(c, {{"cmd", "status"}}));
  ASSERT_TRUE(steer_via_api(c, {{"cmd", "override-list"}}));
  ASSERT_TRUE(steer_via_api(c, {{"cmd", "override-set"},
                                {"scope", "member"},
                                {"target", "app.example.test./A#primary"},
                                {"action", "down"},
                                {"reason", "db migration"},
                                {"author", "ops"},
                                {"expires", "30m"}}));
  ASSERT_TRUE(steer_via_api(c, {{"cmd", "override-clear"},
                                {"scope", "member"},
                                {"target", "app.example.test./A#primary"},
                                {"author", "ops"}}));
  ASSERT_TRUE(steer_via_api(c, {{"cmd", "failback-approve"}, {"set", "app/A"}, {"author", "o"}}));
  ASSERT_TRUE(steer_via_api(c, {{"cmd", "events"}, {"last", 5}}));
  ASSERT_TRUE(steer_via_api(
      c, {{"cmd", "explain"}, {"name", "app.example.test"}, {"type", "A"}, {"ecs", "10.0.0.0/8"}}));
  ASSERT_TRUE(steer_via_api(c, {{"cmd", "simulate"}, {"down", {"primary-app"}}}));
  auto s = srv.seen();
  ASSERT_EQ(s.size(), 8u);
  EXPECT_EQ(s[0].method + " " + s[0].target, "GET /v1/status");
  EXPECT_EQ(s[1].method + " " + s[1].target, "GET /v1/overrides");
  EXPECT_EQ(s[2].method + " " + s[2].target, "POST /v1/overrides");
  json set_body = json::parse(s[2].body);
  EXPECT_FALSE(set_body.contains("cmd"));
  EXPECT_EQ(set_body["target"], "app.example.test./A#primary");
  EXPECT_EQ(set_body["expires"], "30m");
  EXPECT_EQ(s[3].method + " " + s[3].target,
            "DELETE /v1/overrides?scope=member&target=app.example.test.%2FA%23primary&author=ops");
  EXPECT_EQ(json::parse(s[3].body)["scope"], "member");
  EXPECT_EQ(s[4].method + " " + s[4].target, "POST /v1/failback/approve");
  EXPECT_EQ(s[5].method + " " + s[5].target, "GET /v1/events?last=5");
  EXPECT_EQ(s[6].method + " " + s[6].target,
            "GET /v1/explain?name=app.example.test&type=A&ecs=10.0.0.0%2F8");
  EXPECT_EQ(s[7].method + " " + s[7].target, "POST /v1/simulate");
  EXPECT_EQ(json::parse(s[7].body)["down"], json({"primary-app"}));

  auto unknown = steer_via_api(c, {{"cmd", "reboot"}});
  ASSERT_FALSE(unknown);
  EXPECT_THAT(unknown.error(), HasSubstr("'reboot'"));
}

TEST(UrlEscape, KeepsUnreservedOnly) {
  EXPECT_EQ(url_escape("www.example.test."), "www.example.test.");
  EXPECT_EQ(url_escape("a b/c#d?e&f"), "a%20b%2Fc%23d%3Fe%26f");
  EXPECT_EQ(url_escape("*.example.test"), "%2A.example.test");
}

// --- command helpers ---------------------------------------------------------------------------

TEST(CliHelpers, YamlToJsonKeepsQuotedStringsAndTypesPlainScalars) {
  auto j =
      yaml_text_to_json("ttl: 60\nvalues: [192.0.2.1, '10']\nenabled: true\nx: ~\n", "body.yaml");
  ASSERT_TRUE(j) << j.error();
  EXPECT_EQ((*j)["ttl"], 60);
  EXPECT_EQ((*j)["values"], json({"192.0.2.1", "10"}));
  EXPECT_EQ((*j)["enabled"], true);
  EXPECT_TRUE((*j)["x"].is_null());
  auto js = yaml_text_to_json(R"({"ttl": 30, "values": ["2001:db8::1"]})", "body.json");
  ASSERT_TRUE(js) << js.error();
  EXPECT_EQ((*js)["values"][0], "2001:db8::1");
  auto bad = yaml_text_to_json("ttl: 60\nvalues: [a, b\n", "body.yaml");
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error(), HasSubstr("body.yaml:"));
}

TEST(CliHelpers, ChangeIdFromReplyShapes) {
  EXPECT_EQ(change_id_of(json{{"change", {{"id", "C1"}, {"status", "PENDING"}}}}), "C1");
  EXPECT_EQ(change_id_of(json{{"change_id", "C2"}}), "C2");
  EXPECT_EQ(change_id_of(json{{"id", "C3"}, {"status", "INSYNC"}}), "C3");
  EXPECT_EQ(change_id_of(json{{"zone", {{"id", "Z1"}}}}), "");
  EXPECT_EQ(change_id_of(json(nullptr)), "");
}

TEST(CliHelpers, ChangesTable) {
  EXPECT_EQ(changes_table(json::array()), "no changes\n");
  std::string t =
      changes_table(json::array({{{"id", "CABC"},
                                  {"status", "INSYNC"},
                                  {"author", "env"},
                                  {"comment", "hello"},
                                  {"submitted_ms", 0},
                                  {"changes", json::array({json::object(), json::object()})}}}));
  EXPECT_THAT(t, HasSubstr("ID"));
  EXPECT_THAT(t, HasSubstr("CABC"));
  EXPECT_THAT(t, HasSubstr("INSYNC"));
  EXPECT_THAT(t, HasSubstr("hello"));
  EXPECT_THAT(t, HasSubstr("      2 "));
}

}  // namespace
}  // namespace steerdns::cli
