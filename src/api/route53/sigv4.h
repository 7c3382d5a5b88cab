#pragma once
// AWS Signature Version 4 verification for the Route 53-compatible API
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html): the request is
// signed with HMAC-SHA256 under a key derived from the secret, the date, the region and the
// service. We recompute the signature from the request as received and compare it in constant
// time. Any region the client signs with is accepted; the service must be "route53"; the
// request time (X-Amz-Date) must be within 15 minutes of ours.
//
// Pure functions plus an immutable key table: safe from any thread.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"

namespace steerdns::api::route53 {

// Access keys (id -> secret). STEERDNS_ACCESS_KEY_ID / STEERDNS_SECRET_ACCESS_KEY give one; the
// config file may add more. Without any key, the Route 53 API serves loopback clients only and
// does not check signatures.
class Route53Keys {
 public:
  // Both variables or neither; one without the other, or an empty value, is an error rather
  // than a silently open API.
  static Result<Route53Keys> from_env();
  // Errors: empty id or secret, whitespace in either, an id given twice.
  Status add(std::string access_key_id, std::string secret);

  bool empty() const { return keys_.empty(); }
  // The secret for an access key id; nullptr if unknown.
  const std::string* secret(std::string_view access_key_id) const;
  // "AKID1, AKID2" (ids only, never secrets).
  std::string describe() const;

 private:
  std::map<std::string, std::string, std::less<>> keys_;
};

// What is signed: the request as received.
struct SignedRequest {
  std::string method;  // "GET"
  std::string target;  // path and query as sent, still percent-encoded
  // Every header (name as sent, value); names compare case-insensitively.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

// A verification failure in Route 53's terms.
struct AuthFailure {
  unsigned status = 403;
  std::string code;  // MissingAuthenticationToken, IncompleteSignature, InvalidClientTokenId,
                     // SignatureDoesNotMatch, RequestExpired
  std::string message;
};

struct AuthResult {
  bool ok = false;
  std::string access_key_id;  // who signed (ok)
  AuthFailure failure;        // why not (!ok)
};

// Verifies the Authorization header of `req` against `keys`. `now_ms`: Unix ms (the caller's
// clock, so tests can pin it).
AuthResult verify(const Route53Keys& keys, const SignedRequest& req, int64_t now_ms,
                  std::string_view service = "route53");

// The steps, exposed for tests against AWS's published vectors and botocore.
// Canonical request for the given signed header names (lower case, ';'-separated).
std::string canonical_request(const SignedRequest& req, std::string_view signed_headers,
                              std::string_view payload_hash);
std::string string_to_sign(std::string_view amz_date, std::string_view scope,
                           std::string_view canonical);
// Hex HMAC-SHA256 signature of `to_sign` with the key derived from the secret and the scope
// parts (date "20150830", region, service).
std::string signature(std::string_view secret, std::string_view date, std::string_view region,
                      std::string_view service, std::string_view to_sign);
std::string sha256_hex(std::string_view data);
// RFC 3986 percent-encoding as SigV4 wants it: unreserved characters kept, '/' kept when
// keep_slash, everything else %XX upper case.
std::string uri_encode(std::string_view s, bool keep_slash);

}  // namespace steerdns::api::route53
