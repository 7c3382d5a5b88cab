#pragma once
// The web dashboard (docs/dashboard.md): the files of web/dashboard/, compiled into the binary
// at build time (web/dashboard/embed.cmake), served by the API server under /dashboard/.
//
//   GET /dashboard             -> 301 to /dashboard/
//   GET /dashboard/            -> index.html
//   GET /dashboard/{file}      -> app.js, style.css (404 for anything else)
//   GET /dashboard/whoami      -> {"principal", "can_write"} for the caller's token
//
// The files are public (like /metrics): they hold no data. Everything the page shows comes
// from the JSON API with the token the user types in, so the API's own auth (401, 403 for a
// read-only token on writes) applies unchanged. Every file is sent with a Content-Security-
// Policy that allows this origin only (no inline script, no CDN, no framing).
#include <span>
#include <string_view>

#include "api/router.h"

namespace steerdns::api {

// One embedded file. Defined in the generated dashboard_assets.cc.
struct EmbeddedFile {
  std::string_view name;  // "index.html"
  std::string_view data;
};
std::span<const EmbeddedFile> dashboard_files();

// The Content-Security-Policy every dashboard response carries.
inline constexpr std::string_view kDashboardCsp =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

void add_dashboard_routes(Router& router);

}  // namespace steerdns::api
