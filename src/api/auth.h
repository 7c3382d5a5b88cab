#pragma once
// Bearer-token authentication for the native API. Tokens have a name (used in the audit log,
// never the secret) and are read-write or read-only. Secrets are compared in constant time
// (SHA-256 of both sides, then CRYPTO_memcmp, over every token) so neither a token's bytes nor
// its length leak through timing.
//
// Without any token the API is open, but only to loopback clients: the server refuses to
// listen on a non-loopback address then (Server::start), and each request's peer is checked
// again here.
//
// Built before the server starts and read-only afterwards (any thread).
#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "api/http.h"
#include "core/result.h"

namespace steerdns::api {

// One token from the config file (server.api_tokens): the secret inline, or the name of an
// environment variable that holds it (so the file itself need not hold secrets).
struct TokenSpec {
  std::string name;
  std::string secret;      // either this ...
  std::string secret_env;  // ... or this, not both
  bool can_write = false;
};

// A credential's secret given inline or as the name of the environment variable that holds it
// (exactly one of the two). Errors: both or neither given, the variable is not set.
Result<std::string> resolve_secret(const std::string& secret, const std::string& secret_env);

class Auth {
 public:
  // STEERDNS_API_TOKEN (read-write, named "env") and STEERDNS_API_READ_TOKEN (read-only, named
  // "env-read"). A variable that is set but empty (or has whitespace) is an error rather than
  // a silently open API.
  static Result<Auth> from_env();

  // Errors: empty name or secret, whitespace in the secret, a name or secret used twice.
  Status add_token(std::string name, std::string_view secret, bool can_write);
  // All of `specs` or none (on error no token was added). Errors name the token: neither or
  // both of secret/secret_env, an unset variable, and add_token's errors (a name or secret
  // that clashes with a token already added, e.g. from the environment).
  Status add_tokens(const std::vector<TokenSpec>& specs);

  bool has_credentials() const { return !tokens_.empty(); }
  // "env (read-write), env-read (read-only)"; "" without tokens.
  std::string describe() const;

  // The principal for a request's Authorization header value ("" when absent) from a peer
  // that is or is not on loopback. Throws HttpError 401 (missing header, not "Bearer TOKEN",
  // unknown token) or, without credentials, 403 for a peer that is not on loopback.
  Principal authenticate(std::string_view authorization, bool peer_loopback) const;

 private:
  struct Token {
    std::string name;
    std::array<unsigned char, 32> digest;
    bool can_write;
  };
  std::vector<Token> tokens_;
};

}  // namespace steerdns::api
