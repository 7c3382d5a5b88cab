#pragma once
// What an API handler sees and returns: the parsed request (method, decoded path, query, route
// parameters, who sent it) and a response (status, content type, body). Errors are answered as
// JSON {"error": {"code": "...", "message": "..."}}; a handler may throw HttpError anywhere to
// answer with one. Values only; no I/O here.
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/verb.hpp>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace steerdns::api {

namespace http = boost::beast::http;
using RawRequest = http::request<http::string_body>;

// Who sent a request, after authentication.
struct Principal {
  std::string name;  // the token's name ("env", "env-read"), or "loopback" without credentials
  bool can_write = false;
};

struct Request {
  http::verb method = http::verb::unknown;
  std::string target;  // as sent: path and query, still encoded
  std::string path;    // the path without the query (still encoded; params are decoded)
  std::multimap<std::string, std::string> query;   // decoded ?k=v pairs
  std::map<std::string, std::string> params;       // decoded {name} values from the route
  std::string remote;                              // "127.0.0.1:40000", "[::1]:40000"
  Principal principal;
  // Headers and body exactly as received (for handlers that need more, e.g. SigV4 signing).
  const RawRequest* raw = nullptr;

  const std::string& body() const { return raw->body(); }
  // The header's value, "" when absent.
  std::string_view header(http::field f) const;
  std::string_view header(std::string_view name) const;
  // The first ?name= value, if any.
  std::optional<std::string> query_value(std::string_view name) const;
  // A route parameter ({name} in the pattern); "" when the route has none by that name.
  const std::string& param(const std::string& name) const;

  // The body as JSON. Throws HttpError 415 if the Content-Type is present and not
  // application/json, and 400 naming the problem (where the parser stopped and why) if the body
  // is empty or not JSON.
  nlohmann::json json_body() const;
};

struct Response {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
};

// Compact JSON plus a newline; bytes that are not UTF-8 are replaced rather than thrown on.
Response json_response(unsigned status, const nlohmann::json& body);
Response text_response(unsigned status, std::string body);
// {"error": {"code": code, "message": message}}
Response error_response(unsigned status, std::string_view code, std::string_view message);

// The error code for an HTTP status ("bad_request", "not_found", ...): the code error
// responses carry when a handler does not name a more specific one.
std::string_view error_code_for(unsigned status);

// Thrown by handlers and the helpers here; the server answers error_response(status, code,
// what()).
class HttpError : public std::runtime_error {
 public:
  HttpError(unsigned status, std::string message, std::string code = "")
      : std::runtime_error(std::move(message)),
        status_(status),
        code_(code.empty() ? std::string(error_code_for(status)) : std::move(code)) {}
  unsigned status() const { return status_; }
  const std::string& code() const { return code_; }

 private:
  unsigned status_;
  std::string code_;
};

// Field checks for JSON request bodies; each throws HttpError 400 naming the field and why.
// `obj` must be an object ("request body must be a JSON object, got an array").
void require_object(const nlohmann::json& obj, std::string_view what = "request body");
// Unknown keys: "unknown field 'stauts' (did you mean 'status'?); known: status, reason".
void reject_unknown_fields(const nlohmann::json& obj, const std::vector<std::string_view>& known);
// A string field: the value, or nullopt when absent (required = false) or a 400.
std::optional<std::string> string_field(const nlohmann::json& obj, const std::string& name,
                                        bool required, size_t max_len = 4096);

// Percent-decoding ("a%2Fb" -> "a/b"); '+' stays '+' unless plus_is_space. nullopt on a bad
// escape.
std::optional<std::string> percent_decode(std::string_view s, bool plus_is_space = false);

}  // namespace steerdns::api
