#include "cli/api_client.h"

#include <curl/curl.h>
#include <yaml-cpp/yaml.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>

#include "config/loader.h"
#include "core/file.h"
#include "core/text.h"

namespace steerdns::cli {
namespace {

using nlohmann::json;

struct FileConfig {
  std::string path;
  std::string api, token, token_file, cacert;
};

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) {
    s.pop_back();
  }
  size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) {
    ++i;
  }
  return s.substr(i);
}

Result<std::string> read_token_file(const std::string& path) {
  auto text = read_file(path);
  if (!text) {
    return Error{"token file " + text.error()};
  }
  std::string t = trim(*text);
  if (t.empty()) {
    return Error{"token file " + path + ": is empty"};
  }
  if (t.find_first_of(" \t\r\n") != std::string::npos) {
    return Error{"token file " + path + ": holds more than one word (want the token alone)"};
  }
  return t;
}

// The optional client config file; a missing default file is no error, a missing
// STEERDNS_CLI_CONFIG is.
Result<FileConfig> load_file_config(const Getenv& env) {
  FileConfig fc;
  bool explicit_path = false;
  if (const char* p = env("STEERDNS_CLI_CONFIG"); p != nullptr && *p != '\0') {
    fc.path = p;
    explicit_path = true;
  } else if (const char* home = env("HOME"); home != nullptr && *home != '\0') {
    fc.path = std::string(home) + "/.config/steerdns/cli.yaml";
  } else {
    return fc;
  }
  std::ifstream probe(fc.path);
  if (!probe) {
    if (explicit_path) {
      return Error{"client config " + fc.path + " (STEERDNS_CLI_CONFIG): cannot be read"};
    }
    return FileConfig{};
  }
  YAML::Node root;
  try {
    root = YAML::LoadFile(fc.path);
  } catch (const YAML::Exception& e) {
    return Error{"client config " + fc.path + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg};
  }
  if (root.IsNull()) {
    return fc;
  }
  if (!root.IsMap()) {
    return Error{"client config " + fc.path + ": want a mapping {api, token, cacert}"};
  }
  for (const auto& kv : root) {
    std::string key = kv.first.as<std::string>();
    std::string where = fc.path + ":" + std::to_string(kv.first.Mark().line + 1);
    if (!kv.second.IsScalar()) {
      return Error{"client config " + where + ": '" + key + "' must be a string"};
    }
    std::string v = kv.second.as<std::string>();
    if (key == "api") {
      fc.api = v;
    } else if (key == "token") {
      fc.token = v;
    } else if (key == "token_file") {
      fc.token_file = v;
    } else if (key == "cacert") {
      fc.cacert = v;
    } else {
      return Error{"client config " + where + ": unknown key '" + key +
                   "' (known: api, token, token_file, cacert)"};
    }
  }
  return fc;
}

const char* nonempty(const Getenv& env, const char* name) {
  const char* v = env(name);
  return v != nullptr && *v != '\0' ? v : nullptr;
}

size_t on_body(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

std::string seconds_text(long ms) {
  if (ms % 1000 == 0) {
    return std::to_string(ms / 1000) + "s";
  }
  return std::to_string(ms) + "ms";
}

}  // namespace

void add_api_options(CLI::App* cmd, ApiOptions& opts) {
  cmd->add_option("--api", opts.api,
                  "The API's base URL (default: STEERDNS_API_URL, the client config's `api`, "
                  "else http://127.0.0.1:8053)");
  cmd->add_option("--token-file", opts.token_file,
                  "Read the API token from this file (default: STEERDNS_API_TOKEN, the client "
                  "config's `token`)");
  cmd->add_option("--cacert", opts.cacert,
                  "CA certificate (PEM) for an https:// API (default: STEERDNS_API_CACERT, the "
                  "client config's `cacert`, else the system's CAs)");
  cmd->add_option("--api-timeout", opts.timeout,
                  "Give up on an API request after this long, e.g. 10s (default 10s)");
}

Result<ApiSettings> resolve_settings(const ApiOptions& flags, const Getenv& env) {
  auto fc = load_file_config(env);
  if (!fc) {
    return Error{fc.error()};
  }
  ApiSettings s;
  std::string url_from;
  if (!flags.api.empty()) {
    s.base_url = flags.api;
    url_from = "--api";
  } else if (const char* u = nonempty(env, "STEERDNS_API_URL")) {
    s.base_url = u;
    url_from = "STEERDNS_API_URL";
  } else if (!fc->api.empty()) {
    s.base_url = fc->api;
    url_from = fc->path;
  } else {
    s.base_url = kDefaultApiUrl;
  }
  while (!s.base_url.empty() && s.base_url.back() == '/') {
    s.base_url.pop_back();
  }
  std::string scheme = lower(s.base_url.substr(0, s.base_url.find("://") + 3));
  if (scheme != "http://" && scheme != "https://") {
    return Error{"API URL '" + s.base_url + "' (" + url_from +
                 "): want http://HOST:PORT or https://HOST:PORT"};
  }

  if (!flags.token_file.empty()) {
    auto t = read_token_file(flags.token_file);
    if (!t) {
      return Error{t.error() + " (--token-file)"};
    }
    s.token = *t;
    s.token_source = "--token-file " + flags.token_file;
  } else if (const char* env_token = env("STEERDNS_API_TOKEN"); env_token != nullptr) {
    s.token = trim(env_token);
    if (s.token.empty()) {
      // The server treats a set-but-empty variable as an error too: never silently tokenless.
      return Error{"STEERDNS_API_TOKEN is set but empty"};
    }
    s.token_source = "STEERDNS_API_TOKEN";
  } else if (!fc->token.empty()) {
    s.token = trim(fc->token);
    s.token_source = "token in " + fc->path;
  } else if (!fc->token_file.empty()) {
    auto t = read_token_file(fc->token_file);
    if (!t) {
      return Error{t.error() + " (token_file in " + fc->path + ")"};
    }
    s.token = *t;
    s.token_source = "token_file in " + fc->path;
  }

  if (!flags.cacert.empty()) {
    s.cacert = flags.cacert;
  } else if (const char* c = nonempty(env, "STEERDNS_API_CACERT")) {
    s.cacert = c;
  } else {
    s.cacert = fc->cacert;
  }

  if (!flags.timeout.empty()) {
    auto ms = config::parse_duration_ms(flags.timeout);
    if (!ms || *ms <= 0) {
      return Error{"--api-timeout '" + flags.timeout +
                   "': " + (ms ? std::string("must be more than 0") : ms.error())};
    }
    s.timeout_ms = static_cast<long>(*ms);
    s.connect_timeout_ms = std::min(s.connect_timeout_ms, s.timeout_ms);
  }
  return s;
}

Result<ApiSettings> resolve_settings(const ApiOptions& flags) {
  return resolve_settings(flags, [](const char* name) { return std::getenv(name); });
}

ApiClient::ApiClient(ApiSettings settings) : settings_(std::move(settings)) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

Result<HttpReply> ApiClient::send(std::string_view method, const std::string& target,
                                  const std::string& body, const std::string& content_type) const {
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> h(curl_easy_init(), curl_easy_cleanup);
  if (!h) {
    return Error{"cannot set up an HTTP request (curl_easy_init failed)"};
  }
  CURL* c = h.get();
  std::string url = settings_.base_url + target;
  std::string m(method);
  HttpReply reply;
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, m.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, settings_.connect_timeout_ms);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, settings_.timeout_ms);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &reply.body);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  if (!settings_.cacert.empty()) {
    curl_easy_setopt(c, CURLOPT_CAINFO, settings_.cacert.c_str());
  }
  curl_slist* headers = nullptr;
  std::string auth;
  if (!settings_.token.empty()) {
    auth = "Authorization: Bearer " + settings_.token;
    headers = curl_slist_append(headers, auth.c_str());
  }
  headers = curl_slist_append(headers, "Accept: application/json, text/plain");
  // No "Expect: 100-continue" round trip for larger bodies.
  headers = curl_slist_append(headers, "Expect:");
  std::string ctype;
  if (!body.empty() || m == "POST" || m == "PUT") {
    ctype = "Content-Type: " + content_type;
    headers = curl_slist_append(headers, ctype.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  CURLcode rc = curl_easy_perform(c);
  curl_slist_free_all(headers);

  if (rc != CURLE_OK) {
    std::string detail = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc);
    std::string where = "cannot reach the API at " + settings_.base_url + ": ";
    switch (rc) {
      case CURLE_COULDNT_CONNECT: {
        long os_errno = 0;
        curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &os_errno);
        if (os_errno == ECONNREFUSED) {
          detail = "connection refused";
        } else if (os_errno != 0) {
          detail = lower(std::strerror(static_cast<int>(os_errno)));
        }
        return Error{where + detail + " — is `steerdns serve` running? (--api URL)"};
      }
      case CURLE_COULDNT_RESOLVE_HOST:
        return Error{where + "cannot resolve the host name (" + detail + ") (--api URL)"};
      case CURLE_OPERATION_TIMEDOUT:
        return Error{"the API at " + settings_.base_url + " did not answer within " +
                     seconds_text(settings_.timeout_ms) + " (--api-timeout)"};
      case CURLE_PEER_FAILED_VERIFICATION:
      case CURLE_SSL_CACERT_BADFILE:
      case CURLE_SSL_CONNECT_ERROR:
        return Error{where + "TLS: " + detail + " (--cacert FILE / STEERDNS_API_CACERT)"};
      default:
        return Error{where + detail};
    }
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &reply.status);
  char* ct = nullptr;
  curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
  if (ct != nullptr) {
    reply.content_type = ct;
  }
  return reply;
}

std::string ApiClient::reply_error(const HttpReply& r) const {
  std::string message;
  json j = json::parse(r.body, nullptr, false);
  if (!j.is_discarded() && j.is_object()) {
    if (auto e = j.find("error"); e != j.end()) {
      if (e->is_object() && e->contains("message") && (*e)["message"].is_string()) {
        message = (*e)["message"].get<std::string>();
      } else if (e->is_string()) {
        message = e->get<std::string>();
      }
    } else if (auto m = j.find("message"); m != j.end() && m->is_string()) {
      message = m->get<std::string>();
    }
  }
  if (r.status == 401) {
    if (settings_.token.empty()) {
      return "the API wants a token: set STEERDNS_API_TOKEN or give --token-file FILE" +
             (message.empty() ? "" : " (" + message + ")");
    }
    return "the API refused the token (" + settings_.token_source + ")" +
           (message.empty() ? "" : ": " + message);
  }
  if (!message.empty()) {
    return message;
  }
  std::string start = r.body.substr(0, 200);
  while (!start.empty() && (start.back() == '\n' || start.back() == '\r')) {
    start.pop_back();
  }
  return "the API answered HTTP " + std::to_string(r.status) + (start.empty() ? "" : ": " + start);
}

Result<json> ApiClient::call(std::string_view method, const std::string& target,
                             const json* body) const {
  std::string text =
      body != nullptr ? body->dump(-1, ' ', false, json::error_handler_t::replace) : "";
  auto r = send(method, target, text);
  if (!r) {
    return Error{r.error()};
  }
  if (r->status < 200 || r->status > 299) {
    return Error{reply_error(*r)};
  }
  if (trim(r->body).empty()) {
    return json(nullptr);
  }
  json j = json::parse(r->body, nullptr, false);
  if (j.is_discarded()) {
    return Error{"the API's answer to " + std::string(method) + " " + target +
                 " is not JSON: " + r->body.substr(0, 200)};
  }
  return j;
}

Result<std::string> ApiClient::call_text(std::string_view method, const std::string& target,
                                         const std::string& body,
                                         const std::string& content_type) const {
  auto r = send(method, target, body, content_type);
  if (!r) {
    return Error{r.error()};
  }
  if (r->status < 200 || r->status > 299) {
    return Error{reply_error(*r)};
  }
  return std::move(r->body);
}

std::string url_escape(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

Result<json> steer_via_api(const ApiClient& client, const json& req) {
  std::string cmd = req.value("cmd", "");
  json body = req;
  body.erase("cmd");
  auto q = [&](const char* k) -> std::string {
    auto it = req.find(k);
    if (it == req.end() || it->is_null()) {
      return "";
    }
    return std::string(k) + "=" + url_escape(it->is_string() ? it->get<std::string>() : it->dump());
  };
  auto query = [&](std::initializer_list<const char*> keys) {
    std::string s;
    for (const char* k : keys) {
      if (std::string p = q(k); !p.empty()) {
        s += (s.empty() ? "?" : "&") + p;
      }
    }
    return s;
  };
  if (cmd == "status") {
    return client.call("GET", "/v1/status");
  }
  if (cmd == "override-list") {
    return client.call("GET", "/v1/overrides");
  }
  if (cmd == "override-set") {
    return client.call("POST", "/v1/overrides", &body);
  }
  if (cmd == "override-clear") {
    // The target in the query too: some HTTP stacks drop a DELETE's body.
    return client.call("DELETE", "/v1/overrides" + query({"scope", "target", "author"}), &body);
  }
  if (cmd == "failback-approve") {
    return client.call("POST", "/v1/failback/approve", &body);
  }
  if (cmd == "events") {
    return client.call("GET", "/v1/events" + query({"last"}));
  }
  if (cmd == "explain") {
    return client.call("GET", "/v1/explain" + query({"name", "type", "client", "ecs"}));
  }
  if (cmd == "simulate") {
    return client.call("POST", "/v1/simulate", &body);
  }
  return Error{"no API route for the steering command '" + cmd + "'"};
}

}  // namespace steerdns::cli
