// The health endpoints over a real server, with a fake engine behind HealthAccess.
#include "api/health_routes.h"

#include <gtest/gtest.h>

#include <map>
#include <mutex>

#include "api/server.h"
#include "test_client.h"

namespace steerdns::api {
namespace {

using nlohmann::json;
using testing::Client;
using testing::Reply;

// Two checks: "lag" (external) and "web" (http); set_external changes "lag" as the engine
// would, so a following GET sees it.
class FakeHealth {
 public:
  json report() {
    std::lock_guard lk(mu_);
    json checks = json::array();
    checks.push_back({{"id", "lag"}, {"kind", "external"}, {"status", lag_status_},
                      {"last_failure_reason", lag_reason_.empty() ? json() : json(lag_reason_)}});
    checks.push_back({{"id", "web"}, {"kind", "http"}, {"status", "healthy"}});
    return {{"checker_id", "test"}, {"checks", checks}};
  }
  Status set(const std::string& id, bool healthy, const std::string& reason) {
    std::lock_guard lk(mu_);
    ++sets_;
    if (id != "lag") {
      return Error{"health check '" + id + "': no such check"};
    }
    lag_status_ = healthy ? "healthy" : "unhealthy";
    lag_reason_ = healthy ? "" : reason;
    return OkStatus();
  }
  int sets() {
    std::lock_guard lk(mu_);
    return sets_;
  }

 private:
  std::mutex mu_;
  std::string lag_status_ = "unknown";
  std::string lag_reason_;
  int sets_ = 0;
};

class HealthRoutesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Router r;
    add_health_routes(
        r, HealthAccess{[this] { return fake_.report(); },
                        [this](const std::string& id, bool h, const std::string& why) {
                          return fake_.set(id, h, why);
                        }});
    Auth auth;
    ASSERT_TRUE(auth.add_token("env", "rw", true));
    ASSERT_TRUE(auth.add_token("env-read", "ro", false));
    ServerOptions o;
    o.listen = "127.0.0.1:0";
    server_ = std::make_unique<Server>(o, std::move(auth), std::move(r));
    ASSERT_TRUE(server_->start());
  }

  Reply call(http::verb m, const std::string& target, const std::string& body = "",
             const std::string& token = "rw") {
    Client c(server_->port());
    return c.request(m, target, body, {{"Authorization", "Bearer " + token}});
  }

  FakeHealth fake_;
  std::unique_ptr<Server> server_;
};

TEST_F(HealthRoutesTest, ListAndOne) {
  Reply r = call(http::verb::get, "/v1/health/checks", "", "ro");
  ASSERT_EQ(r.status, 200u);
  EXPECT_EQ(r.json(), fake_.report());
  r = call(http::verb::get, "/v1/health/checks/web", "", "ro");
  ASSERT_EQ(r.status, 200u);
  EXPECT_EQ(r.json()["kind"], "http");
  r = call(http::verb::get, "/v1/health/checks/nosuch", "", "ro");
  EXPECT_EQ(r.status, 404u);
  EXPECT_EQ(r.error_message(), "health check 'nosuch': no such check");
}

TEST_F(HealthRoutesTest, SetExternal) {
  Reply r = call(http::verb::put, "/v1/health/checks/lag/status",
                 R"({"status": "unhealthy", "reason": "replication lag 40s"})");
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.json()["status"], "unhealthy");
  EXPECT_EQ(r.json()["last_failure_reason"], "replication lag 40s");
  r = call(http::verb::get, "/v1/health/checks/lag", "", "ro");
  EXPECT_EQ(r.json()["status"], "unhealthy");
  r = call(http::verb::put, "/v1/health/checks/lag/status", R"({"status": "healthy"})");
  EXPECT_EQ(r.json()["status"], "healthy");
  EXPECT_EQ(fake_.sets(), 2);
}

TEST_F(HealthRoutesTest, SetErrorsChangeNothing) {
  struct Case {
    std::string target;
    std::string body;
    std::string token;
    unsigned status;
    std::string code;
    std::string message;
  };
  const std::string lag = "/v1/health/checks/lag/status";
  for (const Case& c : std::vector<Case>{
           {lag, R"({"status": "healthy"})", "ro", 403, "forbidden",
            "token 'env-read' is read-only; PUT /v1/health/checks/lag/status needs a read-write "
            "token"},
           {lag, R"({"status": "up"})", "rw", 400, "bad_request",
            "field 'status': 'up' is not 'healthy' or 'unhealthy'"},
           {lag, R"({"reason": "x"})", "rw", 400, "bad_request", "field 'status' is required"},
           {lag, R"({"stauts": "healthy"})", "rw", 400, "bad_request",
            "unknown field 'stauts' (did you mean 'status'?); known: status, reason"},
           {lag, R"({"status": "healthy", "reason": 5})", "rw", 400, "bad_request",
            "field 'reason' must be a string, got a number"},
           {lag, R"(["healthy"])", "rw", 400, "bad_request",
            "request body must be a JSON object, got an array"},
           {"/v1/health/checks/nosuch/status", R"({"status": "healthy"})", "rw", 404,
            "not_found", "health check 'nosuch': no such check"},
           {"/v1/health/checks/web/status", R"({"status": "healthy"})", "rw", 409,
            "not_external", "health check 'web' is a http check; only external checks can be set"},
       }) {
    Reply r = call(http::verb::put, c.target, c.body, c.token);
    EXPECT_EQ(r.status, c.status) << c.body;
    EXPECT_EQ(r.error_code(), c.code) << c.body;
    EXPECT_EQ(r.error_message(), c.message) << c.body;
  }
  Reply r = call(http::verb::put, lag, R"({"status": )");
  EXPECT_EQ(r.status, 400u);
  EXPECT_EQ(r.error_code(), "invalid_json");
  EXPECT_EQ(fake_.sets(), 0);
  EXPECT_EQ(call(http::verb::get, "/v1/health/checks/lag").json()["status"], "unknown");
}

}  // namespace
}  // namespace steerdns::api
