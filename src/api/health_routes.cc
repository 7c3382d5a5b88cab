#include "api/health_routes.h"

#include <memory>

namespace steerdns::api {

namespace {

using nlohmann::json;

// The check with this id in a report, or 404.
json find_check(const json& report, const std::string& id) {
  auto checks = report.find("checks");
  if (checks != report.end() && checks->is_array()) {
    for (const auto& c : *checks) {
      if (c.is_object() && c.value("id", "") == id) {
        return c;
      }
    }
  }
  throw HttpError(404, "health check '" + id + "': no such check");
}

}  // namespace

void add_health_routes(Router& router, HealthAccess access) {
  auto a = std::make_shared<const HealthAccess>(std::move(access));
  router.add(http::verb::get, "/v1/health/checks",
             [a](const Request&) { return json_response(200, a->report()); });
  router.add(http::verb::get, "/v1/health/checks/{id}", [a](const Request& req) {
    return json_response(200, find_check(a->report(), req.param("id")));
  });
  router.add(http::verb::put, "/v1/health/checks/{id}/status", [a](const Request& req) {
    const std::string& id = req.param("id");
    json body = req.json_body();
    require_object(body);
    reject_unknown_fields(body, {"status", "reason"});
    std::string status = *string_field(body, "status", true, 64);
    if (status != "healthy" && status != "unhealthy") {
      throw HttpError(400, "field 'status': '" + status + "' is not 'healthy' or 'unhealthy'");
    }
    std::string reason = string_field(body, "reason", false, 1024).value_or("");
    json check = find_check(a->report(), id);
    if (check.value("kind", "") != "external") {
      throw HttpError(409,
                      "health check '" + id + "' is a " + check.value("kind", "?") +
                          " check; only external checks can be set",
                      "not_external");
    }
    if (auto st = a->set_external(id, status == "healthy", reason); !st) {
      // Removed or changed by a reload since the look-up above.
      throw HttpError(409, st.error());
    }
    return json_response(200, find_check(a->report(), id));
  });
}

}  // namespace steerdns::api
