// The etcd v3 JSON-gateway client (client.h): one libcurl easy handle per request, endpoints
// tried in turn within one deadline, and the watch stream on a curl multi handle so stop()
// can wake it at once.
#include "store/etcd/client.h"

#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <nlohmann/json.hpp>
#include <utility>

#include "core/file.h"

namespace steerdns::store::etcd {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr const char* kUnavailable = "unavailable: ";

// curl_global_init is not thread-safe; do it once before the first handle.
void global_init() {
  static const bool done = [] {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return true;
  }();
  (void)done;
}

int64_t ms_left(Clock::time_point deadline) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
}

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string b64(const std::string& in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t n = (static_cast<uint8_t>(in[i]) << 16) | (static_cast<uint8_t>(in[i + 1]) << 8) |
                 static_cast<uint8_t>(in[i + 2]);
    out.push_back(kB64[(n >> 18) & 63]);
    out.push_back(kB64[(n >> 12) & 63]);
    out.push_back(kB64[(n >> 6) & 63]);
    out.push_back(kB64[n & 63]);
  }
  if (i + 1 == in.size()) {
    uint32_t n = static_cast<uint8_t>(in[i]) << 16;
    out.push_back(kB64[(n >> 18) & 63]);
    out.push_back(kB64[(n >> 12) & 63]);
    out.append("==");
  } else if (i + 2 == in.size()) {
    uint32_t n = (static_cast<uint8_t>(in[i]) << 16) | (static_cast<uint8_t>(in[i + 1]) << 8);
    out.push_back(kB64[(n >> 18) & 63]);
    out.push_back(kB64[(n >> 12) & 63]);
    out.push_back(kB64[(n >> 6) & 63]);
    out.push_back('=');
  }
  return out;
}

std::string unb64(const std::string& in) {
  std::string out;
  uint32_t buf = 0;
  int bits = 0;
  for (char c : in) {
    int v;
    if (c >= 'A' && c <= 'Z') {
      v = c - 'A';
    } else if (c >= 'a' && c <= 'z') {
      v = c - 'a' + 26;
    } else if (c >= '0' && c <= '9') {
      v = c - '0' + 52;
    } else if (c == '+' || c == '-') {
      v = 62;
    } else if (c == '/' || c == '_') {
      v = 63;
    } else {
      continue;  // padding
    }
    buf = (buf << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buf >> bits) & 0xff));
    }
  }
  return out;
}

// The gateway writes 64-bit numbers as strings and omits zero values.
int64_t num(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    return 0;
  }
  if (it->is_number()) {
    return it->get<int64_t>();
  }
  if (it->is_string()) {
    // Member and lease ids are uint64: keep their bits (ids only compare for equality).
    const std::string& s = it->get_ref<const std::string&>();
    try {
      return !s.empty() && s[0] == '-' ? std::stoll(s) : static_cast<int64_t>(std::stoull(s));
    } catch (...) {
      return 0;
    }
  }
  return 0;
}

bool flag(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() && it->get<bool>();
}

std::string str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

KeyValue parse_kv(const json& j) {
  KeyValue kv;
  kv.key = unb64(str(j, "key"));
  kv.value = unb64(str(j, "value"));
  kv.create_revision = num(j, "create_revision");
  kv.mod_revision = num(j, "mod_revision");
  kv.version = num(j, "version");
  kv.lease = num(j, "lease");
  return kv;
}

RangeResult parse_range(const json& j) {
  RangeResult r;
  if (auto h = j.find("header"); h != j.end() && h->is_object()) {
    r.revision = num(*h, "revision");
  }
  if (auto k = j.find("kvs"); k != j.end() && k->is_array()) {
    for (const auto& kv : *k) {
      r.kvs.push_back(parse_kv(kv));
    }
  }
  r.count = num(j, "count");
  r.more = flag(j, "more");
  return r;
}

json range_json(const RangeRequest& req) {
  json j = {{"key", b64(req.key)}};
  if (!req.range_end.empty()) {
    j["range_end"] = b64(req.range_end);
  }
  if (req.limit > 0) {
    j["limit"] = std::to_string(req.limit);
  }
  if (req.revision > 0) {
    j["revision"] = std::to_string(req.revision);
  }
  if (req.max_create_revision > 0) {
    j["max_create_revision"] = std::to_string(req.max_create_revision);
  }
  if (req.min_create_revision > 0) {
    j["min_create_revision"] = std::to_string(req.min_create_revision);
  }
  if (req.keys_only) {
    j["keys_only"] = true;
  }
  if (req.count_only) {
    j["count_only"] = true;
  }
  if (req.serializable) {
    j["serializable"] = true;
  }
  if (!req.sort_target.empty()) {
    j["sort_target"] = req.sort_target;
  }
  if (!req.sort_order.empty()) {
    j["sort_order"] = req.sort_order;
  }
  return j;
}

json op_json(const TxnOp& op) {
  switch (op.kind) {
    case TxnOp::Kind::kPut: {
      json p = {{"key", b64(op.key)}, {"value", b64(op.value)}};
      if (op.lease != 0) {
        p["lease"] = std::to_string(op.lease);
      }
      return {{"request_put", p}};
    }
    case TxnOp::Kind::kDelete: {
      json d = {{"key", b64(op.key)}};
      if (!op.range_end.empty()) {
        d["range_end"] = b64(op.range_end);
      }
      return {{"request_delete_range", d}};
    }
    case TxnOp::Kind::kRange: {
      RangeRequest r;
      r.key = op.key;
      r.range_end = op.range_end;
      return {{"request_range", range_json(r)}};
    }
  }
  return json::object();
}

json compare_json(const Compare& c) {
  json j = {{"key", b64(c.key)}, {"target", c.target}, {"result", c.result}};
  if (c.target == "VERSION") {
    j["version"] = std::to_string(c.number);
  } else if (c.target == "CREATE") {
    j["create_revision"] = std::to_string(c.number);
  } else if (c.target == "MOD") {
    j["mod_revision"] = std::to_string(c.number);
  } else if (c.target == "LEASE") {
    j["lease"] = std::to_string(c.number);
  } else {
    j["value"] = b64(c.value);
  }
  return j;
}

// How an attempt on one endpoint failed, which decides whether the next endpoint is tried.
enum class Fail {
  kNone,
  kNotSent,    // connect failure, TLS handshake, no leader: safe to try elsewhere
  kAmbiguous,  // the request may have been applied (timeout after sending, server timeout)
  kAuth,       // authentication: no point trying elsewhere with the same credentials
  kBadToken,   // the token expired: authenticate again and retry
  kFinal,      // etcd answered with an error (not about availability)
};

struct Attempt {
  Fail fail = Fail::kNone;
  std::string error;  // without the endpoint
  json body;
};

size_t collect(char* p, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(p, size * n);
  return size * n;
}

Result<std::string> read_file_trimmed(const std::string& path) {
  auto s = read_file(path);
  if (s) {
    while (!s->empty() && (s->back() == '\n' || s->back() == '\r')) {
      s->pop_back();
    }
  }
  return s;
}

// Classifies a gateway error message ({"error": ..., "code": N, "message": ...}).
Fail classify(const std::string& msg, int grpc_code, long http) {
  if (msg.find("invalid auth token") != std::string::npos) {
    return Fail::kBadToken;
  }
  if (msg.find("authentication failed") != std::string::npos ||
      msg.find("user name is empty") != std::string::npos ||
      msg.find("permission denied") != std::string::npos) {
    return Fail::kAuth;
  }
  // Refused before being proposed to raft: safe to send elsewhere.
  if (msg.find("no leader") != std::string::npos || msg.find("not capable") != std::string::npos ||
      msg.find("too many requests") != std::string::npos ||
      msg.find("server is stopped") != std::string::npos ||
      msg.find("member has not started") != std::string::npos ||
      msg.find("unhealthy cluster") != std::string::npos) {
    return Fail::kNotSent;
  }
  if (grpc_code == 14 || grpc_code == 4 || http == 503 || http == 504 ||
      msg.find("request timed out") != std::string::npos ||
      msg.find("leader changed") != std::string::npos) {
    return Fail::kAmbiguous;
  }
  return Fail::kFinal;
}

}  // namespace

std::string prefix_end(const std::string& prefix) {
  std::string end = prefix;
  while (!end.empty()) {
    auto c = static_cast<unsigned char>(end.back());
    if (c < 0xff) {
      end.back() = static_cast<char>(c + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // every key
}

namespace {

Result<std::string> check_url(const std::string& url) {
  std::string rest;
  if (url.rfind("http://", 0) == 0) {
    rest = url.substr(7);
  } else if (url.rfind("https://", 0) == 0) {
    rest = url.substr(8);
  } else {
    return Error{"endpoint '" + url + "' must start with http:// or https://"};
  }
  if (!rest.empty() && rest.back() == '/') {
    rest.pop_back();
  }
  if (rest.find('/') != std::string::npos) {
    return Error{"endpoint '" + url + "' must be scheme://host:port without a path"};
  }
  auto colon = rest.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return Error{"endpoint '" + url + "' needs host:port"};
  }
  std::string port = rest.substr(colon + 1);
  if (port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      std::stoi(port) < 1 || std::stoi(port) > 65535) {
    return Error{"endpoint '" + url + "': bad port '" + port + "'"};
  }
  std::string out = url;
  if (out.back() == '/') {
    out.pop_back();
  }
  return out;
}

}  // namespace

Result<Options> parse_spec(const std::string& spec) {
  const std::string where = "store '" + spec + "': ";
  std::string s = spec;
  if (s.rfind("etcd:", 0) == 0) {
    s = s.substr(5);
  }
  std::string query;
  if (auto q = s.find('?'); q != std::string::npos) {
    query = s.substr(q + 1);
    s = s.substr(0, q);
  }
  Options o;
  if (s.empty()) {
    return Error{where + "no endpoint (expected etcd:http://HOST:PORT[,...])"};
  }
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    std::string ep =
        s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (ep.empty()) {
      return Error{where + "empty endpoint in the list"};
    }
    auto u = check_url(ep);
    if (!u.ok()) {
      return Error{where + u.error()};
    }
    o.endpoints.push_back(*u);
    if (comma == std::string::npos) {
      break;
    }
    start = comma + 1;
  }
  std::string password_file;
  start = 0;
  while (!query.empty() && start <= query.size()) {
    size_t amp = query.find('&', start);
    std::string kv =
        query.substr(start, amp == std::string::npos ? std::string::npos : amp - start);
    start = amp == std::string::npos ? query.size() + 1 : amp + 1;
    if (kv.empty()) {
      continue;
    }
    auto eq = kv.find('=');
    if (eq == std::string::npos) {
      return Error{where + "option '" + kv + "' needs a value (NAME=VALUE)"};
    }
    std::string k = kv.substr(0, eq);
    std::string v = kv.substr(eq + 1);
    auto number = [&](int64_t* out) -> Status {
      if (v.empty() || v.size() > 9 ||
          !std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
          std::stoll(v) <= 0) {
        return Error{where + "option " + k + "='" + v + "' is not a positive number"};
      }
      *out = std::stoll(v);
      return OkStatus();
    };
    if (k == "timeout_ms") {
      if (auto st = number(&o.timeout_ms); !st.ok()) {
        return Error{st.error()};
      }
    } else if (k == "connect_timeout_ms") {
      if (auto st = number(&o.connect_timeout_ms); !st.ok()) {
        return Error{st.error()};
      }
    } else if (k == "ca") {
      o.ca_file = v;
    } else if (k == "cert") {
      o.cert_file = v;
    } else if (k == "key") {
      o.key_file = v;
    } else if (k == "user") {
      o.user = v;
    } else if (k == "password_file") {
      password_file = v;
    } else if (k == "prefix") {
      if (v.empty()) {
        return Error{where + "option prefix is empty"};
      }
      o.prefix = v;
    } else {
      return Error{where + "unknown option '" + k +
                   "' (timeout_ms, connect_timeout_ms, ca, cert, key, user, password_file, "
                   "prefix)"};
    }
  }
  if (o.cert_file.empty() != o.key_file.empty()) {
    return Error{where + "cert and key go together"};
  }
  if (!password_file.empty()) {
    if (o.user.empty()) {
      return Error{where + "password_file without user"};
    }
    auto pw = read_file_trimmed(password_file);
    if (!pw) {
      return Error{where + "cannot read password_file: " + pw.error()};
    }
    o.password = std::move(*pw);
  } else if (!o.user.empty()) {
    return Error{where + "user without password_file"};
  }
  return o;
}

struct Client::Impl {
  explicit Impl(const Options& o) : opts(o) { global_init(); }

  const Options& opts;
  mutable std::mutex mu;
  size_t current = 0;    // the endpoint to try first
  std::string answered;  // the endpoint that answered last
  std::string token;     // auth token ("" = none yet)

  // Every gateway call is a JSON POST; `body` must outlive the transfer.
  void set_post(CURL* h, const std::string& url, struct curl_slist* headers,
                const std::string& body) const {
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_PROXY, "");  // loopback / cluster addresses: no proxy
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    if (!opts.ca_file.empty()) {
      curl_easy_setopt(h, CURLOPT_CAINFO, opts.ca_file.c_str());
    }
    if (!opts.cert_file.empty()) {
      curl_easy_setopt(h, CURLOPT_SSLCERT, opts.cert_file.c_str());
      curl_easy_setopt(h, CURLOPT_SSLKEY, opts.key_file.c_str());
    }
  }

  struct curl_slist* headers(bool with_token, bool hasleader) const {
    struct curl_slist* hs = curl_slist_append(nullptr, "Content-Type: application/json");
    hs = curl_slist_append(hs, "Expect:");
    if (hasleader) {
      hs = curl_slist_append(hs, "Grpc-Metadata-hasleader: true");
    }
    if (with_token) {
      std::lock_guard lock(mu);
      if (!token.empty()) {
        std::string h = "Authorization: " + token;
        hs = curl_slist_append(hs, h.c_str());
      }
    }
    return hs;
  }

  static std::string curl_cause(CURLcode rc, const char* errbuf) {
    std::string detail = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc);
    switch (rc) {
      case CURLE_COULDNT_CONNECT:
        return "connection refused";
      case CURLE_PEER_FAILED_VERIFICATION:
        return "TLS: certificate verify failed (" + detail + ")";
      case CURLE_SSL_CONNECT_ERROR:
      case CURLE_SSL_CERTPROBLEM:
      case CURLE_SSL_CIPHER:
      case CURLE_SSL_CACERT_BADFILE:
        return "TLS: " + detail;
      case CURLE_OPERATION_TIMEDOUT:
        return "timeout (" + detail + ")";
      default:
        return detail;
    }
  }

  // One request on one endpoint, within `deadline`.
  Attempt once(const std::string& endpoint, const std::string& path, const std::string& body,
               Clock::time_point deadline, bool with_token) const {
    Attempt a;
    const int64_t left = ms_left(deadline);
    if (left <= 0) {
      a.fail = Fail::kNotSent;
      a.error = "deadline exceeded before trying";
      return a;
    }
    CURL* h = curl_easy_init();
    if (h == nullptr) {
      a.fail = Fail::kNotSent;
      a.error = "curl_easy_init failed";
      return a;
    }
    std::string url = endpoint + path;
    struct curl_slist* hs = headers(with_token, false);
    set_post(h, url, hs, body);
    std::string out;
    char errbuf[CURL_ERROR_SIZE] = {0};
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &out);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(left));
    curl_easy_setopt(
        h, CURLOPT_CONNECTTIMEOUT_MS,
        static_cast<long>(std::min<int64_t>(left, std::max<int64_t>(opts.connect_timeout_ms, 1))));
    CURLcode rc = curl_easy_perform(h);
    long http = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &http);
    curl_off_t connected_us = 0;
    curl_off_t tls_us = 0;
    curl_easy_getinfo(h, CURLINFO_CONNECT_TIME_T, &connected_us);
    curl_easy_getinfo(h, CURLINFO_APPCONNECT_TIME_T, &tls_us);
    curl_easy_cleanup(h);
    curl_slist_free_all(hs);
    if (rc != CURLE_OK) {
      a.error = curl_cause(rc, errbuf);
      const bool https = endpoint.rfind("https://", 0) == 0;
      // Sent only once connected (and, with TLS, past the handshake).
      const bool maybe_sent = connected_us > 0 && (!https || tls_us > 0) &&
                              rc != CURLE_COULDNT_CONNECT && rc != CURLE_SSL_CONNECT_ERROR &&
                              rc != CURLE_PEER_FAILED_VERIFICATION;
      a.fail = maybe_sent ? Fail::kAmbiguous : Fail::kNotSent;
      return a;
    }
    a.body = json::parse(out, nullptr, /*allow_exceptions=*/false);
    if (a.body.is_discarded() || !a.body.is_object()) {
      a.fail = http >= 500 ? Fail::kAmbiguous : Fail::kFinal;
      a.error = "HTTP " + std::to_string(http) + ", not a JSON object: " + out.substr(0, 200);
      return a;
    }
    if (http != 200 || a.body.contains("error")) {
      std::string msg = str(a.body, "message");
      if (msg.empty()) {
        msg = str(a.body, "error");
      }
      if (msg.empty()) {
        msg = "HTTP " + std::to_string(http);
      }
      a.fail = classify(msg, static_cast<int>(num(a.body, "code")), http);
      a.error = msg;
      if (a.fail == Fail::kAuth && msg.find("authentication failed") != std::string::npos) {
        a.error = "authentication failed: invalid user ID or password";
      }
      return a;
    }
    return a;
  }

  Status authenticate(const std::string& endpoint, Clock::time_point deadline) {
    json req = {{"name", opts.user}, {"password", opts.password}};
    Attempt a = once(endpoint, "/v3/auth/authenticate", req.dump(), deadline, false);
    if (a.fail != Fail::kNone) {
      return Error{a.error};
    }
    std::string t = str(a.body, "token");
    if (t.empty()) {
      return Error{"authentication failed: no token in the answer"};
    }
    std::lock_guard lock(mu);
    token = t;
    return OkStatus();
  }

  // The call of client.h: endpoints in turn from the last good one, until the deadline.
  // `retry_safe`: the request may be sent again after an ambiguous failure (reads).
  Result<json> call(const std::string& path, const json& req, bool retry_safe) {
    const auto deadline = Clock::now() + std::chrono::milliseconds(opts.timeout_ms);
    const std::string body = req.dump(-1, ' ', false, json::error_handler_t::replace);
    const size_t n = opts.endpoints.size();
    if (n == 0) {
      return Error{std::string(kUnavailable) + "etcd: no endpoints configured"};
    }
    size_t first;
    {
      std::lock_guard lock(mu);
      first = current % n;
    }
    std::vector<std::string> tried;  // "etcd URL: cause", one per endpoint (last cause)
    std::vector<std::string> causes(n);
    bool reauthed = false;
    int64_t backoff_ms = 50;
    for (int pass = 0;; ++pass) {
      bool transient = false;  // some endpoint said "try later" (no leader): worth a new pass
      for (size_t k = 0; k < n; ++k) {
        if (ms_left(deadline) <= 0) {
          break;
        }
        const size_t i = (first + k) % n;
        const std::string& ep = opts.endpoints[i];
        if (!opts.user.empty()) {
          bool need;
          {
            std::lock_guard lock(mu);
            need = token.empty();
          }
          if (need) {
            if (auto st = authenticate(ep, deadline); !st.ok()) {
              causes[i] = st.error();
              if (st.error().find("authentication failed") != std::string::npos) {
                return Error{std::string(kUnavailable) + "etcd " + ep + ": " + st.error()};
              }
              continue;
            }
          }
        }
        Attempt a = once(ep, path, body, deadline, true);
        if (a.fail == Fail::kBadToken && !reauthed && !opts.user.empty()) {
          reauthed = true;
          {
            std::lock_guard lock(mu);
            token.clear();
          }
          if (auto st = authenticate(ep, deadline); st.ok()) {
            a = once(ep, path, body, deadline, true);
          } else {
            a.fail = Fail::kAuth;
            a.error = st.error();
          }
        }
        switch (a.fail) {
          case Fail::kNone: {
            std::lock_guard lock(mu);
            current = i;
            answered = ep;
            return std::move(a.body);
          }
          case Fail::kFinal:
            return Error{"etcd " + ep + ": " + a.error};
          case Fail::kAuth:
          case Fail::kBadToken:
            return Error{std::string(kUnavailable) + "etcd " + ep + ": " + a.error};
          case Fail::kAmbiguous:
            if (!retry_safe) {
              // Rotate for the next call, but do not send this write twice.
              std::lock_guard lock(mu);
              current = (i + 1) % n;
              return Error{std::string(kUnavailable) + "etcd " + ep + ": " + a.error +
                           " (the write may or may not have been applied)"};
            }
            transient = true;
            causes[i] = a.error;
            break;
          case Fail::kNotSent:
            causes[i] = a.error;
            if (a.error.find("no leader") != std::string::npos ||
                a.error.find("too many requests") != std::string::npos ||
                a.error.find("not capable") != std::string::npos ||
                a.error.find("member has not started") != std::string::npos) {
              transient = true;
            }
            break;
        }
        {
          std::lock_guard lock(mu);
          current = (i + 1) % n;
        }
      }
      // Another pass only while a member may come back soon (an election) and time is left.
      if (!transient || ms_left(deadline) <= backoff_ms) {
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(backoff_ms));
      backoff_ms = std::min<int64_t>(backoff_ms * 2, 400);
      (void)pass;
    }
    std::string msg = kUnavailable;
    bool any = false;
    for (size_t k = 0; k < n; ++k) {
      size_t i = (first + k) % n;
      if (causes[i].empty()) {
        continue;
      }
      if (any) {
        msg += "; ";
      }
      msg += "etcd " + opts.endpoints[i] + ": " + causes[i];
      any = true;
    }
    if (!any) {
      msg += "etcd " + opts.endpoints[first] + ": deadline of " + std::to_string(opts.timeout_ms) +
             " ms exceeded";
    } else if (ms_left(deadline) <= 0) {
      msg += " (deadline " + std::to_string(opts.timeout_ms) + " ms)";
    }
    return Error{msg};
  }
};

Client::Client(Options opts) : opts_(std::move(opts)), impl_(std::make_unique<Impl>(opts_)) {}

Client::~Client() = default;

std::string Client::current_endpoint() const {
  std::lock_guard lock(impl_->mu);
  return impl_->answered;
}

Result<RangeResult> Client::range(const RangeRequest& req) {
  auto r = impl_->call("/v3/kv/range", range_json(req), true);
  if (!r.ok()) {
    return Error{r.error()};
  }
  return parse_range(*r);
}

Result<TxnResult> Client::txn(const Txn& t) {
  json j = json::object();
  json cmp = json::array();
  for (const auto& c : t.compare) {
    cmp.push_back(compare_json(c));
  }
  json succ = json::array();
  bool writes = false;
  for (const auto& op : t.success) {
    succ.push_back(op_json(op));
    writes = writes || op.kind != TxnOp::Kind::kRange;
  }
  json fail = json::array();
  for (const auto& op : t.failure) {
    fail.push_back(op_json(op));
    writes = writes || op.kind != TxnOp::Kind::kRange;
  }
  if (!cmp.empty()) {
    j["compare"] = cmp;
  }
  if (!succ.empty()) {
    j["success"] = succ;
  }
  if (!fail.empty()) {
    j["failure"] = fail;
  }
  auto r = impl_->call("/v3/kv/txn", j, !writes);
  if (!r.ok()) {
    return Error{r.error()};
  }
  TxnResult out;
  out.succeeded = flag(*r, "succeeded");
  if (auto h = r->find("header"); h != r->end() && h->is_object()) {
    out.revision = num(*h, "revision");
  }
  if (auto rs = r->find("responses"); rs != r->end() && rs->is_array()) {
    for (const auto& resp : *rs) {
      if (auto rr = resp.find("response_range"); rr != resp.end()) {
        out.ranges.push_back(parse_range(*rr));
      } else {
        out.ranges.emplace_back();
      }
    }
  }
  return out;
}

Result<int64_t> Client::put(const std::string& key, const std::string& value, int64_t lease) {
  json j = {{"key", b64(key)}, {"value", b64(value)}};
  if (lease != 0) {
    j["lease"] = std::to_string(lease);
  }
  auto r = impl_->call("/v3/kv/put", j, false);
  if (!r.ok()) {
    return Error{r.error()};
  }
  return num(r->value("header", json::object()), "revision");
}

Result<int64_t> Client::del(const std::string& key, const std::string& range_end) {
  json j = {{"key", b64(key)}};
  if (!range_end.empty()) {
    j["range_end"] = b64(range_end);
  }
  // A delete is idempotent: sending it twice deletes the same keys.
  auto r = impl_->call("/v3/kv/deleterange", j, true);
  if (!r.ok()) {
    return Error{r.error()};
  }
  return num(r->value("header", json::object()), "revision");
}

Status Client::compact(int64_t revision) {
  auto r = impl_->call("/v3/kv/compaction", {{"revision", std::to_string(revision)}}, true);
  if (!r.ok()) {
    return Error{r.error()};
  }
  return OkStatus();
}

Result<int64_t> Client::lease_grant(int64_t ttl_s, int64_t* granted_ttl_s) {
  // Not retried after an ambiguous failure: a second grant would leak a lease until its TTL.
  auto r = impl_->call("/v3/lease/grant", {{"TTL", std::to_string(ttl_s)}}, false);
  if (!r.ok()) {
    return Error{r.error()};
  }
  if (!str(*r, "error").empty()) {
    return Error{"etcd " + current_endpoint() + ": lease grant: " + str(*r, "error")};
  }
  if (granted_ttl_s != nullptr) {
    *granted_ttl_s = num(*r, "TTL");
  }
  return num(*r, "ID");
}

Result<int64_t> Client::lease_keepalive(int64_t id) {
  auto r = impl_->call("/v3/lease/keepalive", {{"ID", std::to_string(id)}}, true);
  if (!r.ok()) {
    return Error{r.error()};
  }
  const json res = r->value("result", json::object());
  int64_t ttl = num(res, "TTL");
  if (ttl <= 0) {
    return Error{"etcd " + current_endpoint() + ": lease " + std::to_string(id) +
                 " not found (expired or revoked)"};
  }
  return ttl;
}

Status Client::lease_revoke(int64_t id) {
  auto r = impl_->call("/v3/lease/revoke", {{"ID", std::to_string(id)}}, true);
  if (!r.ok()) {
    return Error{r.error()};
  }
  return OkStatus();
}

std::vector<MemberStatus> Client::member_status() {
  std::vector<MemberStatus> out;
  for (const auto& ep : opts_.endpoints) {
    MemberStatus m;
    m.endpoint = ep;
    const auto deadline = Clock::now() + std::chrono::milliseconds(opts_.timeout_ms);
    if (!opts_.user.empty()) {
      bool need;
      {
        std::lock_guard lock(impl_->mu);
        need = impl_->token.empty();
      }
      if (need) {
        if (auto st = impl_->authenticate(ep, deadline); !st.ok()) {
          m.error = st.error();
          out.push_back(std::move(m));
          continue;
        }
      }
    }
    Attempt a = impl_->once(ep, "/v3/maintenance/status", "{}", deadline, true);
    if (a.fail != Fail::kNone) {
      m.error = a.error;
      out.push_back(std::move(m));
      continue;
    }
    const json& b = a.body;
    m.reachable = true;
    m.version = str(b, "version");
    const json h = b.value("header", json::object());
    m.member_id = num(h, "member_id");
    m.revision = num(h, "revision");
    m.leader = num(b, "leader");
    m.raft_term = num(b, "raftTerm") != 0 ? num(b, "raftTerm") : num(h, "raft_term");
    m.db_size = num(b, "db_size") != 0 ? num(b, "db_size") : num(b, "dbSize");
    out.push_back(std::move(m));
  }
  return out;
}

// ---- Watch ----

namespace {

struct StreamState {
  std::string buf;  // bytes after the last newline
  Clock::time_point last_byte;
  std::vector<json> messages;  // complete lines not yet handled
};

size_t stream_write(char* p, size_t size, size_t n, void* user) {
  auto* s = static_cast<StreamState*>(user);
  s->last_byte = Clock::now();
  s->buf.append(p, size * n);
  size_t nl;
  while ((nl = s->buf.find('\n')) != std::string::npos) {
    std::string line = s->buf.substr(0, nl);
    s->buf.erase(0, nl + 1);
    if (line.find_first_not_of(" \r\t") == std::string::npos) {
      continue;
    }
    json j = json::parse(line, nullptr, false);
    if (!j.is_discarded()) {
      s->messages.push_back(std::move(j));
    }
  }
  return size * n;
}

}  // namespace

struct WatchShared {
  std::mutex mu;
  std::condition_variable cv;
  CURLM* multi = nullptr;  // the stream in progress, for stop() to wake
};

Watch::Watch(Client& client, std::string key, std::string range_end, int64_t start_revision,
             WatchCallbacks cb, int64_t idle_timeout_ms)
    : client_(client),
      key_(std::move(key)),
      range_end_(std::move(range_end)),
      next_revision_(start_revision),
      cb_(std::move(cb)),
      idle_timeout_ms_(idle_timeout_ms) {
  shared_ = std::make_shared<WatchShared>();
  thread_ = std::thread([this] { run(); });
}

Watch::~Watch() { stop(); }

void Watch::stop() {
  stop_.store(true);
  {
    std::lock_guard lock(shared_->mu);
    if (shared_->multi != nullptr) {
      curl_multi_wakeup(shared_->multi);
    }
    shared_->cv.notify_all();
  }
  if (thread_.joinable() && std::this_thread::get_id() != thread_.get_id()) {
    thread_.join();
  }
}

void Watch::run() {
  WatchShared* shared = shared_.get();
  Client::Impl& impl = *client_.impl_;
  const Options& opts = client_.opts_;
  const size_t n = opts.endpoints.size();
  size_t idx;
  {
    std::lock_guard lock(impl.mu);
    idx = n > 0 ? impl.current % n : 0;
  }
  int reported = -1;  // last on_state: -1 none, 0 lost, 1 connected
  auto report = [&](bool up, const std::string& why) {
    connected_.store(up);
    if (reported != static_cast<int>(up)) {
      reported = static_cast<int>(up);
      if (cb_.on_state) {
        cb_.on_state(up, why);
      }
    }
  };
  int64_t backoff_ms = 100;
  auto wait_backoff = [&] {
    std::unique_lock lock(shared->mu);
    shared->cv.wait_for(lock, std::chrono::milliseconds(backoff_ms), [&] { return stop_.load(); });
    backoff_ms = std::min<int64_t>(backoff_ms * 2, 2000);
  };
  // The current revision (for a restart after compaction); 0 when unreachable.
  auto current_revision = [&]() -> int64_t {
    RangeRequest r;
    r.key = key_;
    r.range_end = range_end_;
    r.count_only = true;
    auto res = client_.range(r);
    return res.ok() ? res->revision : 0;
  };

  while (!stop_.load() && n > 0) {
    const std::string ep = opts.endpoints[idx % n];
    if (!opts.user.empty()) {
      bool need;
      {
        std::lock_guard lock(impl.mu);
        need = impl.token.empty();
      }
      if (need) {
        auto st = impl.authenticate(ep, Clock::now() + std::chrono::milliseconds(opts.timeout_ms));
        if (!st.ok()) {
          report(false, "etcd " + ep + ": " + st.error());
          idx++;
          wait_backoff();
          continue;
        }
      }
    }
    json create = {{"key", b64(key_)}, {"progress_notify", true}};
    if (!range_end_.empty()) {
      create["range_end"] = b64(range_end_);
    }
    if (next_revision_.load() > 0) {
      create["start_revision"] = std::to_string(next_revision_.load());
    }
    const std::string body = json{{"create_request", create}}.dump();

    CURL* h = curl_easy_init();
    CURLM* m = curl_multi_init();
    struct curl_slist* hs = impl.headers(true, true);
    impl.set_post(h, ep + "/v3/watch", hs, body);
    StreamState ss;
    ss.last_byte = Clock::now();
    char errbuf[CURL_ERROR_SIZE] = {0};
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, stream_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &ss);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(std::max<int64_t>(opts.connect_timeout_ms, 1)));
    curl_multi_add_handle(m, h);
    {
      std::lock_guard lock(shared->mu);
      shared->multi = m;
    }

    std::string why;     // why the stream ended
    bool reset = false;  // compaction: on_reset and restart from now
    bool was_created = false;
    bool probing = false;  // an idle stream is being checked with a read on ep
    int running = 1;
    while (!stop_.load()) {
      curl_multi_perform(m, &running);
      // Handle complete messages.
      for (auto& msg : ss.messages) {
        if (auto e = msg.find("error"); e != msg.end()) {
          const json& ej = *e;
          why = ej.is_object() ? str(ej, "message") : ej.dump();
          if (why.empty()) {
            why = str(msg, "message");
          }
          break;
        }
        const json res = msg.value("result", json::object());
        const int64_t header_rev = num(res.value("header", json::object()), "revision");
        if (num(res, "compact_revision") > 0 ||
            str(res, "cancel_reason").find("compacted") != std::string::npos) {
          reset = true;
          why = "revision " + std::to_string(next_revision_.load()) + " was compacted (now " +
                std::to_string(num(res, "compact_revision")) + ")";
          break;
        }
        if (flag(res, "canceled")) {
          why = str(res, "cancel_reason");
          if (why.empty()) {
            why = "watch canceled by the server";
          }
          break;
        }
        if (flag(res, "created")) {
          was_created = true;
          // Watching "from now": pin now, so a reconnect resumes here rather than at its own
          // "now" (which would skip what happened in between).
          if (next_revision_.load() == 0 && header_rev > 0) {
            next_revision_.store(header_rev + 1);
          }
          backoff_ms = 100;
          {
            std::lock_guard lock(impl.mu);
            impl.current = idx % n;
          }
          report(true, "watching on etcd " + ep);
        }
        std::vector<WatchEvent> events;
        if (auto ev = res.find("events"); ev != res.end() && ev->is_array()) {
          for (const auto& e : *ev) {
            WatchEvent we;
            we.deleted = str(e, "type") == "DELETE";
            we.kv = parse_kv(e.value("kv", json::object()));
            if (we.kv.mod_revision >= next_revision_.load()) {
              next_revision_.store(we.kv.mod_revision + 1);
            }
            events.push_back(std::move(we));
          }
        }
        if (!events.empty()) {
          if (cb_.on_events) {
            cb_.on_events(events, header_rev);
          }
        } else if (was_created && header_rev > 0 && !flag(res, "created")) {
          // A progress notification: everything up to header_rev was delivered.
          if (header_rev + 1 > next_revision_.load()) {
            next_revision_.store(header_rev + 1);
          }
        }
      }
      ss.messages.clear();
      if (!why.empty() || reset) {
        break;
      }
      if (running == 0) {
        CURLMsg* done;
        int q = 0;
        CURLcode rc = CURLE_OK;
        while ((done = curl_multi_info_read(m, &q)) != nullptr) {
          if (done->msg == CURLMSG_DONE) {
            rc = done->data.result;
          }
        }
        why = rc == CURLE_OK ? "stream closed by etcd " + ep : Client::Impl::curl_cause(rc, errbuf);
        // An error answer without a trailing newline ({"error": ...} when etcd refuses the
        // watch, e.g. no leader) is still in the buffer: its message says more.
        json tail = json::parse(ss.buf, nullptr, false);
        if (!tail.is_discarded() && tail.is_object() && tail.contains("error")) {
          const json& ej = tail["error"];
          std::string said = ej.is_object() ? str(ej, "message") : str(tail, "message");
          if (!said.empty()) {
            why = said;
          }
        }
        break;
      }
      // Idle: etcd sends progress notifications only every 10 minutes by default, so silence
      // is checked with a quick read on the same member (which needs a leader) before the
      // stream is given up.
      if (ms_left(ss.last_byte + std::chrono::milliseconds(idle_timeout_ms_)) <= 0 && !probing) {
        probing = true;
        Attempt a = impl.once(
            ep, "/v3/kv/range", json{{"key", b64(key_)}, {"count_only", true}}.dump(),
            Clock::now() + std::chrono::milliseconds(std::min<int64_t>(opts.timeout_ms, 2000)),
            true);
        probing = false;
        if (a.fail != Fail::kNone) {
          why = "no data for " + std::to_string(idle_timeout_ms_) + " ms and the member " +
                "does not answer: " + a.error;
          break;
        }
        ss.last_byte = Clock::now();
      }
      curl_multi_poll(m, nullptr, 0, 200, nullptr);
    }
    {
      std::lock_guard lock(shared->mu);
      shared->multi = nullptr;
    }
    curl_multi_remove_handle(m, h);
    curl_easy_cleanup(h);
    curl_multi_cleanup(m);
    curl_slist_free_all(hs);
    if (stop_.load()) {
      break;
    }
    if (reset) {
      int64_t now_rev = current_revision();
      if (now_rev > 0) {
        next_revision_.store(now_rev + 1);
        if (cb_.on_reset) {
          cb_.on_reset();
        }
        continue;  // same endpoint, no backoff
      }
      why = "compacted, and the current revision cannot be read";
      next_revision_.store(0);
      if (cb_.on_reset) {
        cb_.on_reset();
      }
    }
    if (why.find("invalid auth token") != std::string::npos) {
      std::lock_guard lock(impl.mu);
      impl.token.clear();
    }
    report(false, "etcd " + ep + ": " + why);
    idx++;
    wait_backoff();
  }
  connected_.store(false);
}

}  // namespace steerdns::store::etcd
