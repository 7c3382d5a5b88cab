#pragma once
// The operator CLI's HTTP client for the native JSON API (docs/api.md, docs/cli.md), over
// libcurl. One blocking request at a time; an ApiClient may be used from one thread at once.
//
// Where the client points and which token it sends, first match wins:
//   URL:    --api URL,           STEERDNS_API_URL,    config `api`,    http://127.0.0.1:8053
//   token:  --token-file FILE,   STEERDNS_API_TOKEN,  config `token` / `token_file`, none
//   CA:     --cacert FILE,       STEERDNS_API_CACERT, config `cacert`, the system's CAs
// The config file is STEERDNS_CLI_CONFIG, else ~/.config/steerdns/cli.yaml (optional).
//
// Errors are sentences an operator can act on: "cannot reach the API at URL: connection
// refused — is `steerdns serve` running? (--api URL)", "the API refused the token
// (STEERDNS_API_TOKEN)", or the server's own JSON error message, as it sent it.
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "core/result.h"

namespace CLI {
class App;
}

namespace steerdns::cli {

inline constexpr const char* kDefaultApiUrl = "http://127.0.0.1:8053";

// What the command line gave (empty = not given).
struct ApiOptions {
  std::string api;
  std::string token_file;
  std::string cacert;
  std::string timeout;  // --api-timeout DURATION ("10s")
};

// Adds --api, --token-file, --cacert and --api-timeout to a subcommand.
void add_api_options(CLI::App* cmd, ApiOptions& opts);

struct ApiSettings {
  std::string base_url;      // without a trailing '/'
  std::string token;         // "" = send no Authorization header
  std::string token_source;  // for errors: "STEERDNS_API_TOKEN", "--token-file t.txt", ...
  std::string cacert;        // "" = the system's CAs
  long connect_timeout_ms = 3000;
  long timeout_ms = 10000;  // the whole request
};

// Environment look-up (getenv in the CLI; a map in tests). Returns null when unset.
using Getenv = std::function<const char*(const char*)>;

// Resolves the settings from flags, environment and the config file. Errors: an unreadable or
// empty token file, a config file that is not YAML or has unknown keys (file:line), a URL that
// is not http:// or https://, a bad --api-timeout.
Result<ApiSettings> resolve_settings(const ApiOptions& flags, const Getenv& env);
// The same with the process environment.
Result<ApiSettings> resolve_settings(const ApiOptions& flags);

struct HttpReply {
  long status = 0;
  std::string content_type;
  std::string body;
};

class ApiClient {
 public:
  explicit ApiClient(ApiSettings settings);

  const ApiSettings& settings() const { return settings_; }

  // One request. `target` is the path and query ("/v1/events?last=5"), already escaped. An
  // error only when no HTTP answer came (refused, timeout, TLS); any status is a reply.
  Result<HttpReply> send(std::string_view method, const std::string& target,
                         const std::string& body = "",
                         const std::string& content_type = "application/json") const;

  // send() and then: a 2xx reply's body as JSON (null for an empty body), anything else an
  // error with the server's message (reply_error()).
  Result<nlohmann::json> call(std::string_view method, const std::string& target,
                              const nlohmann::json* body = nullptr) const;
  // The same for a body and an answer that are text (zone files).
  Result<std::string> call_text(std::string_view method, const std::string& target,
                                const std::string& body = "",
                                const std::string& content_type = "text/plain") const;

  // The error for a non-2xx reply: 401 names the token's source, others print the server's
  // {"error": {"message"}} as is, or the status and the start of the body.
  std::string reply_error(const HttpReply& reply) const;

 private:
  ApiSettings settings_;
};

// Percent-encodes everything but unreserved characters (RFC 3986): for path segments and
// query values.
std::string url_escape(std::string_view s);

// A steering request as the control socket takes it ({"cmd": "status" | "override-set" |
// ...}) sent to its API route (GET /v1/status, POST /v1/overrides, ...), so both transports
// return the same JSON.
Result<nlohmann::json> steer_via_api(const ApiClient& client, const nlohmann::json& req);

}  // namespace steerdns::cli
