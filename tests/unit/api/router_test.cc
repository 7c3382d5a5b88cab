#include "api/router.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace steerdns::api {
namespace {

Handler named(std::string name) {
  return [name](const Request&) { return text_response(200, name); };
}

std::string call(const Router::Match& m) {
  Request req;
  return m.route->handler(req).body;
}

TEST(RouterTest, LiteralAndParamsDecoded) {
  Router r;
  r.add(http::verb::get, "/v1/health/checks", named("list"));
  r.add(http::verb::get, "/v1/health/checks/{id}", named("one"));
  r.add(http::verb::put, "/v1/health/checks/{id}/status", named("set"));

  auto m = r.match(http::verb::get, "/v1/health/checks");
  ASSERT_EQ(m.kind, Router::Match::kFound);
  EXPECT_EQ(call(m), "list");
  EXPECT_TRUE(m.params.empty());

  m = r.match(http::verb::get, "/v1/health/checks/db%2Dlag");
  ASSERT_EQ(m.kind, Router::Match::kFound);
  EXPECT_EQ(call(m), "one");
  EXPECT_EQ(m.params.at("id"), "db-lag");

  // An escaped slash stays inside the one segment.
  m = r.match(http::verb::put, "/v1/health/checks/a%2Fb/status");
  ASSERT_EQ(m.kind, Router::Match::kFound);
  EXPECT_EQ(m.params.at("id"), "a/b");
}

TEST(RouterTest, TrailingSlashIgnored) {
  Router r;
  r.add(http::verb::get, "/v1/health/checks", named("list"));
  EXPECT_EQ(r.match(http::verb::get, "/v1/health/checks/").kind, Router::Match::kFound);
  EXPECT_EQ(r.match(http::verb::get, "/v1/health").kind, Router::Match::kNoPath);
  EXPECT_EQ(r.match(http::verb::get, "/v1/health/checks/x").kind, Router::Match::kNoPath);
  EXPECT_EQ(r.match(http::verb::get, "/").kind, Router::Match::kNoPath);
}

TEST(RouterTest, WrongMethodListsAllowed) {
  Router r;
  r.add(http::verb::get, "/v1/zones/{id}", named("get"));
  r.add(http::verb::delete_, "/v1/zones/{id}", named("delete"));
  auto m = r.match(http::verb::post, "/v1/zones/z1");
  EXPECT_EQ(m.kind, Router::Match::kNoMethod);
  ASSERT_EQ(m.allowed.size(), 3u);
  EXPECT_EQ(m.allowed[0], http::verb::get);
  EXPECT_EQ(m.allowed[1], http::verb::delete_);
  EXPECT_EQ(m.allowed[2], http::verb::head);  // implied by GET
}

TEST(RouterTest, HeadFallsBackToGet) {
  Router r;
  r.add(http::verb::get, "/healthz", named("get"));
  auto m = r.match(http::verb::head, "/healthz");
  ASSERT_EQ(m.kind, Router::Match::kFound);
  EXPECT_EQ(call(m), "get");
}

TEST(RouterTest, MostLiteralRouteWins) {
  Router r;
  r.add(http::verb::get, "/v1/zones/{id}", named("param"));
  r.add(http::verb::get, "/v1/zones/export", named("literal"));
  r.add(http::verb::get, "/v1/{rest...}", named("rest"));
  EXPECT_EQ(call(r.match(http::verb::get, "/v1/zones/export")), "literal");
  EXPECT_EQ(call(r.match(http::verb::get, "/v1/zones/z9")), "param");
  auto m = r.match(http::verb::get, "/v1/assets/js/app.js");
  EXPECT_EQ(call(m), "rest");
  EXPECT_EQ(m.params.at("rest"), "assets/js/app.js");
  m = r.match(http::verb::get, "/v1");
  ASSERT_EQ(m.kind, Router::Match::kFound);
  EXPECT_EQ(m.params.at("rest"), "");
}

TEST(RouterTest, BadEscapeIsBadPath) {
  Router r;
  r.add(http::verb::get, "/v1/health/checks/{id}", named("one"));
  auto m = r.match(http::verb::get, "/v1/health/checks/a%zz");
  EXPECT_EQ(m.kind, Router::Match::kBadPath);
  EXPECT_NE(m.error.find("bad percent-escape in 'a%zz'"), std::string::npos) << m.error;
  EXPECT_EQ(r.match(http::verb::get, "/v1/health/checks/a%2").kind, Router::Match::kBadPath);
}

TEST(RouterTest, DefaultAccessFollowsMethod) {
  Router r;
  r.add(http::verb::get, "/a", named("a"));
  r.add(http::verb::put, "/a", named("a"));
  r.add(http::verb::get, "/b", Access::kPublic, named("b"));
  EXPECT_EQ(r.routes()[0].access, Access::kRead);
  EXPECT_EQ(r.routes()[1].access, Access::kWrite);
  EXPECT_EQ(r.routes()[2].access, Access::kPublic);
}

TEST(RouterTest, MalformedPatternsThrow) {
  Router r;
  EXPECT_THROW(r.add(http::verb::get, "v1/x", named("x")), std::invalid_argument);
  EXPECT_THROW(r.add(http::verb::get, "/v1//x", named("x")), std::invalid_argument);
  EXPECT_THROW(r.add(http::verb::get, "/v1/{}", named("x")), std::invalid_argument);
  EXPECT_THROW(r.add(http::verb::get, "/v1/{id", named("x")), std::invalid_argument);
  EXPECT_THROW(r.add(http::verb::get, "/v1/x{id}", named("x")), std::invalid_argument);
  EXPECT_THROW(r.add(http::verb::get, "/v1/{rest...}/x", named("x")), std::invalid_argument);
  r.add(http::verb::get, "/v1/x", named("x"));
  EXPECT_THROW(r.add(http::verb::get, "/v1/x", named("x")), std::invalid_argument);
  r.add(http::verb::put, "/v1/x", named("x"));  // another method is fine
}

}  // namespace
}  // namespace steerdns::api
