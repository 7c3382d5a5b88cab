#include "api/route53/sigv4.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <ctime>

#include "api/http.h"
#include "core/text.h"

namespace steerdns::api::route53 {
namespace {

constexpr int64_t kMaxSkewMs = 15 * 60 * 1000;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

// Trimmed, inner runs of spaces collapsed to one (SigV4's canonical header value).
std::string canonical_value(std::string_view v) {
  v = trim(v);
  std::string out;
  bool space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t') {
      space = true;
      continue;
    }
    if (space) {
      out += ' ';
      space = false;
    }
    out += c;
  }
  return out;
}

std::string hex(const unsigned char* p, size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    out += kHex[p[i] >> 4];
    out += kHex[p[i] & 15];
  }
  return out;
}

std::string hmac(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

// "20150830T123600Z" -> Unix ms; -1 if malformed.
int64_t parse_amz_date(std::string_view s) {
  if (s.size() != 16 || s[8] != 'T' || s[15] != 'Z') {
    return -1;
  }
  for (size_t i = 0; i < 15; ++i) {
    if (i != 8 && !std::isdigit(static_cast<unsigned char>(s[i]))) {
      return -1;
    }
  }
  auto num = [&](size_t at, size_t n) { return std::atoi(std::string(s.substr(at, n)).c_str()); };
  std::tm tm{};
  tm.tm_year = num(0, 4) - 1900;
  tm.tm_mon = num(4, 2) - 1;
  tm.tm_mday = num(6, 2);
  tm.tm_hour = num(9, 2);
  tm.tm_min = num(11, 2);
  tm.tm_sec = num(13, 2);
  if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
      tm.tm_min > 59 || tm.tm_sec > 60) {
    return -1;
  }
  return static_cast<int64_t>(timegm(&tm)) * 1000;
}

std::string amz_date_text(int64_t ms) {
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

AuthResult fail(unsigned status, std::string code, std::string message) {
  AuthResult r;
  r.failure = AuthFailure{status, std::move(code), std::move(message)};
  return r;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t at = s.find(sep, start);
    out.push_back(
        s.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) {
      return out;
    }
    start = at + 1;
  }
}

}  // namespace

Result<Route53Keys> Route53Keys::from_env() {
  Route53Keys keys;
  const char* id = std::getenv("STEERDNS_ACCESS_KEY_ID");
  const char* secret = std::getenv("STEERDNS_SECRET_ACCESS_KEY");
  if (id == nullptr && secret == nullptr) {
    return keys;
  }
  if (id == nullptr || secret == nullptr) {
    return Error{std::string("Route 53 API keys: ") +
                 (id == nullptr ? "STEERDNS_SECRET_ACCESS_KEY is set but STEERDNS_ACCESS_KEY_ID "
                                  "is not"
                                : "STEERDNS_ACCESS_KEY_ID is set but STEERDNS_SECRET_ACCESS_KEY "
                                  "is not") +
                 "; set both or neither"};
  }
  auto st = keys.add(id, secret);
  if (!st) {
    return Error{"Route 53 API keys from STEERDNS_ACCESS_KEY_ID/STEERDNS_SECRET_ACCESS_KEY: " +
                 st.error()};
  }
  return keys;
}

Status Route53Keys::add(std::string access_key_id, std::string secret) {
  auto has_space = [](const std::string& s) {
    return std::any_of(s.begin(), s.end(), [](unsigned char c) { return std::isspace(c); });
  };
  if (access_key_id.empty() || secret.empty()) {
    return Error{"access key id and secret must not be empty"};
  }
  if (has_space(access_key_id) || has_space(secret) ||
      access_key_id.find_first_of("/,=") != std::string::npos) {
    return Error{"access key '" + access_key_id +
                 "': ids and secrets may not contain whitespace (ids neither '/', ',' nor '=')"};
  }
  if (keys_.count(access_key_id) != 0) {
    return Error{"access key '" + access_key_id + "' given twice"};
  }
  keys_.emplace(std::move(access_key_id), std::move(secret));
  return OkStatus();
}

const std::string* Route53Keys::secret(std::string_view access_key_id) const {
  auto it = keys_.find(access_key_id);
  return it == keys_.end() ? nullptr : &it->second;
}

std::string Route53Keys::describe() const {
  std::string out;
  for (const auto& [id, s] : keys_) {
    out += (out.empty() ? "" : ", ") + id;
  }
  return out;
}

std::string uri_encode(std::string_view s, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
        (keep_slash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string sha256_hex(std::string_view data) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), md);
  return hex(md, sizeof md);
}

std::string canonical_request(const SignedRequest& req, std::string_view signed_headers,
                              std::string_view payload_hash) {
  std::string_view target = req.target;
  size_t q = target.find('?');
  std::string_view path = target.substr(0, q);
  std::string_view query = q == std::string_view::npos ? std::string_view() : target.substr(q + 1);

  std::string out = req.method + "\n";
  // The path as sent, encoded once more (what botocore and the AWS test suite do for every
  // service but S3).
  out += path.empty() ? std::string("/") : uri_encode(path, true);
  out += "\n";

  std::vector<std::pair<std::string, std::string>> params;
  if (!query.empty()) {
    for (std::string_view part : split(query, '&')) {
      if (part.empty()) {
        continue;
      }
      size_t eq = part.find('=');
      std::string_view k = part.substr(0, eq);
      std::string_view v = eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1);
      auto dk = percent_decode(k, true);
      auto dv = percent_decode(v, true);
      params.emplace_back(uri_encode(dk ? *dk : std::string(k), false),
                          uri_encode(dv ? *dv : std::string(v), false));
    }
  }
  std::sort(params.begin(), params.end());
  for (size_t i = 0; i < params.size(); ++i) {
    if (i != 0) {
      out += '&';
    }
    out += params[i].first;
    out += '=';
    out += params[i].second;
  }
  out += "\n";

  for (std::string_view name : split(signed_headers, ';')) {
    std::string value;
    bool first = true;
    for (const auto& [k, v] : req.headers) {
      if (lower(k) == name) {
        if (!first) {
          value += ',';
        }
        value += canonical_value(v);
        first = false;
      }
    }
    out += std::string(name) + ":" + value + "\n";
  }
  out += "\n";
  out += std::string(signed_headers) + "\n";
  out += payload_hash;
  return out;
}

std::string string_to_sign(std::string_view amz_date, std::string_view scope,
                           std::string_view canonical) {
  return "AWS4-HMAC-SHA256\n" + std::string(amz_date) + "\n" + std::string(scope) + "\n" +
         sha256_hex(canonical);
}

std::string signature(std::string_view secret, std::string_view date, std::string_view region,
                      std::string_view service, std::string_view to_sign) {
  std::string k = hmac("AWS4" + std::string(secret), date);
  k = hmac(k, region);
  k = hmac(k, service);
  k = hmac(k, "aws4_request");
  std::string sig = hmac(k, to_sign);
  return hex(reinterpret_cast<const unsigned char*>(sig.data()), sig.size());
}

AuthResult verify(const Route53Keys& keys, const SignedRequest& req, int64_t now_ms,
                  std::string_view service) {
  std::string authz;
  std::string amz_date;
  bool has_authz = false;
  for (const auto& [k, v] : req.headers) {
    std::string name = lower(k);
    if (name == "authorization") {
      authz = std::string(trim(v));
      has_authz = true;
    } else if (name == "x-amz-date") {
      amz_date = std::string(trim(v));
    }
  }
  if (!has_authz || authz.empty()) {
    return fail(403, "MissingAuthenticationToken", "Missing Authentication Token");
  }
  constexpr std::string_view kAlgo = "AWS4-HMAC-SHA256";
  size_t sp = authz.find(' ');
  std::string_view algo = std::string_view(authz).substr(0, sp);
  if (algo != kAlgo) {
    return fail(400, "IncompleteSignature",
                "Unsupported authorization algorithm '" + std::string(algo) +
                    "': only AWS4-HMAC-SHA256 (Signature Version 4) is accepted");
  }
  std::string credential, signed_headers, sig;
  std::string_view rest =
      sp == std::string::npos ? std::string_view() : std::string_view(authz).substr(sp + 1);
  for (std::string_view part : split(rest, ',')) {
    part = trim(part);
    size_t eq = part.find('=');
    if (eq == std::string_view::npos) {
      continue;
    }
    std::string_view k = part.substr(0, eq);
    std::string v(part.substr(eq + 1));
    if (k == "Credential") {
      credential = v;
    } else if (k == "SignedHeaders") {
      signed_headers = v;
    } else if (k == "Signature") {
      sig = v;
    }
  }
  std::string missing;
  for (const auto& [name, value] :
       {std::pair<const char*, const std::string*>{"Credential", &credential},
        {"SignedHeaders", &signed_headers},
        {"Signature", &sig}}) {
    if (value->empty()) {
      missing += std::string(missing.empty() ? "" : " ") + "Authorization header requires '" +
                 name + "' parameter.";
    }
  }
  if (amz_date.empty()) {
    missing += std::string(missing.empty() ? "" : " ") +
               "Authorization header requires existence of an 'X-Amz-Date' header.";
  }
  if (!missing.empty()) {
    return fail(400, "IncompleteSignature", missing + " Authorization=" + authz);
  }
  auto scope_parts = split(credential, '/');
  if (scope_parts.size() != 5) {
    return fail(400, "IncompleteSignature",
                "Credential '" + credential +
                    "' is not of the form ACCESS_KEY_ID/YYYYMMDD/REGION/SERVICE/aws4_request");
  }
  std::string key_id(scope_parts[0]);
  std::string_view date = scope_parts[1];
  std::string_view region = scope_parts[2];
  std::string_view svc = scope_parts[3];
  const std::string* secret = keys.secret(key_id);
  if (secret == nullptr) {
    return fail(403, "InvalidClientTokenId",
                "The security token included in the request is invalid (unknown access key '" +
                    key_id + "').");
  }
  bool host_signed = false;
  for (std::string_view h : split(signed_headers, ';')) {
    host_signed = host_signed || h == "host";
  }
  if (!host_signed) {
    return fail(400, "IncompleteSignature",
                "'Host' must be a 'SignedHeader' in the AWS Authorization.");
  }
  int64_t t = parse_amz_date(amz_date);
  if (t < 0) {
    return fail(400, "IncompleteSignature",
                "X-Amz-Date '" + amz_date + "' is not of the form YYYYMMDDTHHMMSSZ");
  }
  if (svc != service) {
    return fail(403, "SignatureDoesNotMatch",
                "Credential should be scoped to correct service: '" + std::string(service) +
                    "', not '" + std::string(svc) + "'.");
  }
  if (scope_parts[4] != "aws4_request") {
    return fail(403, "SignatureDoesNotMatch",
                "Credential should be scoped with a valid terminator: 'aws4_request', not '" +
                    std::string(scope_parts[4]) + "'.");
  }
  if (date != std::string_view(amz_date).substr(0, 8)) {
    return fail(403, "SignatureDoesNotMatch",
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
                "from HTTP: '" +
                    std::string(date) + "' != '" + amz_date.substr(0, 8) + "', from '" + amz_date +
                    "'.");
  }
  if (t < now_ms - kMaxSkewMs) {
    return fail(403, "RequestExpired",
                "Signature expired: " + amz_date + " is now earlier than " +
                    amz_date_text(now_ms - kMaxSkewMs) + " (" + amz_date_text(now_ms) +
                    " - 15 min.)");
  }
  if (t > now_ms + kMaxSkewMs) {
    return fail(403, "RequestExpired",
                "Signature not yet current: " + amz_date + " is still later than " +
                    amz_date_text(now_ms + kMaxSkewMs) + " (" + amz_date_text(now_ms) +
                    " + 15 min.)");
  }
  std::string canonical = canonical_request(req, signed_headers, sha256_hex(req.body));
  std::string scope =
      std::string(date) + "/" + std::string(region) + "/" + std::string(svc) + "/aws4_request";
  std::string expected =
      signature(*secret, date, region, svc, string_to_sign(amz_date, scope, canonical));
  std::string given = lower(sig);
  if (given.size() != expected.size() ||
      CRYPTO_memcmp(given.data(), expected.data(), expected.size()) != 0) {
    return fail(403, "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided. "
                "Check your AWS Secret Access Key and signing method. Consult the service "
                "documentation for details.");
  }
  AuthResult ok;
  ok.ok = true;
  ok.access_key_id = key_id;
  return ok;
}

}  // namespace steerdns::api::route53
