// API metrics: responses of a real server counted by status class.
#include "api/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>
#include <string>

#include "api/http.h"
#include "api/router.h"
#include "testlib/metrics_samples.h"
#include "obs/metrics.h"
#include "test_client.h"

namespace steerdns::api {
namespace {

using steerdns::testing::find_sample;
using steerdns::testing::sample_value;

using testing::Client;


TEST(ApiMetrics, RequestsByStatusClass) {
  Router r;
  r.add(http::verb::get, "/v1/ok", [](const Request&) { return json_response(200, {}); });
  r.add(http::verb::get, "/v1/throw",
        [](const Request&) -> Response { throw std::runtime_error("boom"); });
  ServerOptions o;
  o.listen = "127.0.0.1:0";
  Server server(o, Auth(), std::move(r));
  ASSERT_TRUE(server.start());
  auto get = [&](const std::string& target) {
    Client c(server.port());
    return c.request(http::verb::get, target).status;
  };
  EXPECT_EQ(get("/v1/ok"), 200u);
  EXPECT_EQ(get("/healthz"), 200u);
  EXPECT_EQ(get("/v1/nothing"), 404u);
  EXPECT_EQ(get("/v1/throw"), 500u);
  ServerStats st = server.stats();
  EXPECT_EQ(st.responses_2xx, 2u);
  EXPECT_EQ(st.responses_4xx, 1u);
  EXPECT_EQ(st.responses_5xx, 1u);
  EXPECT_EQ(st.responses_2xx + st.responses_4xx + st.responses_5xx + st.responses_1xx_3xx,
            st.requests);

  obs::Families f;
  collect_api_metrics(st, f);
  EXPECT_EQ(sample_value(f, "steerdns_api_requests_total", {{"code", "2xx"}}), 2);
  EXPECT_EQ(sample_value(f, "steerdns_api_requests_total", {{"code", "4xx"}}), 1);
  EXPECT_EQ(sample_value(f, "steerdns_api_requests_total", {{"code", "5xx"}}), 1);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].metric.size(), 3u);  // no "other": the API sends no 1xx/3xx
  EXPECT_EQ(f[0].type, prometheus::MetricType::Counter);
  server.stop();
}

}  // namespace
}  // namespace steerdns::api
