#include "api/dashboard_routes.h"

#include <string>

namespace steerdns::api {

namespace {

std::string_view content_type_for(std::string_view name) {
  auto ends = [&](std::string_view ext) {
    return name.size() >= ext.size() && name.substr(name.size() - ext.size()) == ext;
  };
  if (ends(".html")) {
    return "text/html; charset=utf-8";
  }
  if (ends(".js")) {
    return "text/javascript; charset=utf-8";
  }
  if (ends(".css")) {
    return "text/css; charset=utf-8";
  }
  if (ends(".svg")) {
    return "image/svg+xml";
  }
  return "application/octet-stream";
}

void add_security_headers(Response& r) {
  r.headers.emplace_back("Content-Security-Policy", std::string(kDashboardCsp));
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("X-Frame-Options", "DENY");
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
}

Response file_response(std::string_view name) {
  for (const auto& f : dashboard_files()) {
    if (f.name == name) {
      Response r;
      r.content_type = std::string(content_type_for(name));
      r.body = std::string(f.data);
      // Revalidate every time: the files change with the binary, and they are small.
      r.headers.emplace_back("Cache-Control", "no-cache");
      add_security_headers(r);
      return r;
    }
  }
  throw HttpError(404, "dashboard: no file '" + std::string(name) + "'");
}

}  // namespace

void add_dashboard_routes(Router& router) {
  // The router ignores a trailing '/', so one route gets both; only the bare path redirects,
  // because the page's relative links (app.js, style.css) need the directory form.
  router.add(http::verb::get, "/dashboard", Access::kPublic, [](const Request& req) {
    if (req.path == "/dashboard") {
      Response r = text_response(301, "see /dashboard/\n");
      r.headers.emplace_back("Location", "/dashboard/");
      return r;
    }
    return file_response("index.html");
  });
  router.add(http::verb::get, "/dashboard/{file}", Access::kPublic,
             [](const Request& req) { return file_response(req.param("file")); });
  // Lets the page say which token it holds and warn before a read-only token's write is
  // refused; the API enforces the access either way.
  router.add(http::verb::get, "/dashboard/whoami", Access::kRead, [](const Request& req) {
    Response r = json_response(
        200, nlohmann::json{{"principal", req.principal.name},
                            {"can_write", req.principal.can_write}});
    r.headers.emplace_back("Cache-Control", "no-store");
    return r;
  });
}

}  // namespace steerdns::api
