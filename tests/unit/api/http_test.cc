#include "api/http.h"

#include <gtest/gtest.h>

namespace steerdns::api {
namespace {

using nlohmann::json;

struct Req {
  RawRequest raw;
  Request req;
  Req(std::string body, std::string content_type = "application/json") {
    raw.body() = std::move(body);
    if (!content_type.empty()) {
      raw.set(http::field::content_type, content_type);
    }
    req.raw = &raw;
  }
};

// The HttpError a call throws (status 0 if none).
template <class F>
HttpError error_of(F f) {
  try {
    f();
  } catch (const HttpError& e) {
    return e;
  }
  return HttpError(0, "no error");
}

TEST(HttpTest, JsonBodyParses) {
  Req r(R"({"status": "healthy"})");
  EXPECT_EQ(r.req.json_body()["status"], "healthy");
  Req charset(R"([1])", "Application/JSON; charset=utf-8");
  EXPECT_TRUE(charset.req.json_body().is_array());
  Req none(R"({})", "");
  EXPECT_TRUE(none.req.json_body().is_object());
}

TEST(HttpTest, JsonBodyErrorsNameTheProblem) {
  Req bad(R"({"status": "healthy",})");
  auto e = error_of([&] { (void)bad.req.json_body(); });
  EXPECT_EQ(e.status(), 400u);
  EXPECT_EQ(e.code(), "invalid_json");
  EXPECT_NE(std::string(e.what()).find("request body is not valid JSON: parse error at line 1, "
                                       "column 22"),
            std::string::npos)
      << e.what();

  Req empty("");
  e = error_of([&] { (void)empty.req.json_body(); });
  EXPECT_EQ(e.status(), 400u);
  EXPECT_STREQ(e.what(), "request body is empty; expected a JSON object");

  Req form("status=healthy", "application/x-www-form-urlencoded");
  e = error_of([&] { (void)form.req.json_body(); });
  EXPECT_EQ(e.status(), 415u);
  EXPECT_EQ(e.code(), "unsupported_media_type");
  EXPECT_NE(std::string(e.what()).find("application/x-www-form-urlencoded"), std::string::npos);
}

TEST(HttpTest, FieldChecks) {
  auto e = error_of([] { require_object(json::array()); });
  EXPECT_EQ(e.status(), 400u);
  EXPECT_STREQ(e.what(), "request body must be a JSON object, got an array");

  json body = {{"stauts", "healthy"}};
  e = error_of([&] { reject_unknown_fields(body, {"status", "reason"}); });
  EXPECT_EQ(e.status(), 400u);
  EXPECT_STREQ(e.what(),
               "unknown field 'stauts' (did you mean 'status'?); known: status, reason");
  reject_unknown_fields(json{{"reason", "x"}}, {"status", "reason"});

  e = error_of([] { (void)string_field(json::object(), "status", true); });
  EXPECT_STREQ(e.what(), "field 'status' is required");
  e = error_of([] { (void)string_field(json{{"status", 1}}, "status", true); });
  EXPECT_STREQ(e.what(), "field 'status' must be a string, got a number");
  e = error_of([] { (void)string_field(json{{"r", "abcd"}}, "r", false, 3); });
  EXPECT_STREQ(e.what(), "field 'r' is 4 bytes long; at most 3");
  EXPECT_FALSE(string_field(json::object(), "reason", false).has_value());
  EXPECT_EQ(string_field(json{{"reason", "x"}}, "reason", false), "x");
}

TEST(HttpTest, ErrorResponseShape) {
  Response r = error_response(404, "not_found", "health check 'x': no such check");
  EXPECT_EQ(r.status, 404u);
  EXPECT_EQ(r.content_type, "application/json");
  json j = json::parse(r.body);
  EXPECT_EQ(j["error"]["code"], "not_found");
  EXPECT_EQ(j["error"]["message"], "health check 'x': no such check");
  EXPECT_EQ(HttpError(403, "x").code(), "forbidden");
  EXPECT_EQ(HttpError(409, "x", "not_external").code(), "not_external");
}

TEST(HttpTest, JsonResponseReplacesInvalidUtf8) {
  Response r = json_response(200, json{{"reason", std::string("bad \xff byte")}});
  EXPECT_NE(r.body.find("bad \xEF\xBF\xBD byte"), std::string::npos) << r.body;
}

TEST(HttpTest, PercentDecode) {
  EXPECT_EQ(percent_decode("a%2Fb%20c"), "a/b c");
  EXPECT_EQ(percent_decode("a+b"), "a+b");
  EXPECT_EQ(percent_decode("a+b", true), "a b");
  EXPECT_FALSE(percent_decode("%"));
  EXPECT_FALSE(percent_decode("%4"));
  EXPECT_FALSE(percent_decode("%g0"));
}

}  // namespace
}  // namespace steerdns::api
