#include "api/dashboard_routes.h"

#include <gtest/gtest.h>

#include <string>

namespace steerdns::api {
namespace {

std::string header(const Response& r, const std::string& name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) {
      return v;
    }
  }
  return "";
}

// Runs the route that matches GET `path` as the server would (params, path, principal).
Response get(const Router& router, const std::string& path, Principal who = {}) {
  auto m = router.match(http::verb::get, path);
  if (m.kind != Router::Match::kFound) {
    throw HttpError(404, "no route for " + path);
  }
  Request req;
  req.method = http::verb::get;
  req.path = path;
  req.target = path;
  req.params = m.params;
  req.principal = std::move(who);
  return m.route->handler(req);
}

TEST(DashboardRoutesTest, EmbedsTheFiles) {
  for (const char* name : {"index.html", "app.js", "style.css", "favicon.svg"}) {
    bool found = false;
    for (const auto& f : dashboard_files()) {
      found = found || (f.name == name && !f.data.empty());
    }
    EXPECT_TRUE(found) << name;
  }
}

TEST(DashboardRoutesTest, ServesFilesWithTypesAndCsp) {
  Router r;
  add_dashboard_routes(r);
  struct Case {
    const char* path;
    const char* type;
    const char* marker;
  };
  for (const Case& c : {Case{"/dashboard/", "text/html; charset=utf-8", "<!DOCTYPE html>"},
                        Case{"/dashboard/index.html", "text/html; charset=utf-8", "app.js"},
                        Case{"/dashboard/app.js", "text/javascript; charset=utf-8", "use strict"},
                        Case{"/dashboard/style.css", "text/css; charset=utf-8", ":root"},
                        Case{"/dashboard/favicon.svg", "image/svg+xml", "<svg"}}) {
    Response resp = get(r, c.path);
    EXPECT_EQ(resp.status, 200u) << c.path;
    EXPECT_EQ(resp.content_type, c.type) << c.path;
    EXPECT_NE(resp.body.find(c.marker), std::string::npos) << c.path;
    EXPECT_EQ(header(resp, "Content-Security-Policy"), kDashboardCsp) << c.path;
    EXPECT_EQ(header(resp, "Cache-Control"), "no-cache") << c.path;
    EXPECT_EQ(header(resp, "X-Content-Type-Options"), "nosniff") << c.path;
  }
  for (const auto& route : r.routes()) {
    bool whoami = route.pattern == "/dashboard/whoami";
    EXPECT_EQ(route.access, whoami ? Access::kRead : Access::kPublic) << route.pattern;
  }
}

TEST(DashboardRoutesTest, RedirectsBarePathAndRefusesUnknownFiles) {
  Router r;
  add_dashboard_routes(r);
  Response resp = get(r, "/dashboard");
  EXPECT_EQ(resp.status, 301u);
  EXPECT_EQ(header(resp, "Location"), "/dashboard/");
  try {
    get(r, "/dashboard/embed.cmake");
    ADD_FAILURE() << "embed.cmake was served";
  } catch (const HttpError& e) {
    EXPECT_EQ(e.status(), 404u);
    EXPECT_NE(std::string(e.what()).find("embed.cmake"), std::string::npos);
  }
}

TEST(DashboardRoutesTest, WhoamiTellsTheAccess) {
  Router r;
  add_dashboard_routes(r);
  Response ro = get(r, "/dashboard/whoami", Principal{"auditor", false});
  EXPECT_EQ(ro.body, "{\"can_write\":false,\"principal\":\"auditor\"}\n");
  Response rw = get(r, "/dashboard/whoami", Principal{"env", true});
  EXPECT_EQ(rw.body, "{\"can_write\":true,\"principal\":\"env\"}\n");
}

}  // namespace
}  // namespace steerdns::api
