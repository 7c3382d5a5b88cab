#include "api/auth.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <cctype>
#include <cstdlib>

namespace steerdns::api {

namespace {

std::array<unsigned char, 32> sha256(std::string_view s) {
  std::array<unsigned char, 32> d{};
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), d.data());
  return d;
}

bool has_space(std::string_view s) {
  for (char c : s) {
    if (std::isspace(static_cast<unsigned char>(c)) != 0 ||
        std::iscntrl(static_cast<unsigned char>(c)) != 0) {
      return true;
    }
  }
  return false;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

}  // namespace

Result<Auth> Auth::from_env() {
  Auth a;
  struct Var {
    const char* env;
    const char* name;
    bool can_write;
  };
  for (const Var& v : {Var{"STEERDNS_API_TOKEN", "env", true},
                       Var{"STEERDNS_API_READ_TOKEN", "env-read", false}}) {
    const char* value = std::getenv(v.env);
    if (value == nullptr) {
      continue;
    }
    if (auto st = a.add_token(v.name, value, v.can_write); !st) {
      return Error{std::string(v.env) + ": " + st.error()};
    }
  }
  return a;
}

Status Auth::add_token(std::string name, std::string_view secret, bool can_write) {
  if (name.empty()) {
    return Error{"token without a name"};
  }
  if (secret.empty()) {
    return Error{"token '" + name + "' is empty"};
  }
  if (has_space(secret)) {
    return Error{"token '" + name + "' contains whitespace or control characters"};
  }
  auto digest = sha256(secret);
  for (const auto& t : tokens_) {
    if (t.name == name) {
      return Error{"token name '" + name + "' is used twice"};
    }
    if (CRYPTO_memcmp(t.digest.data(), digest.data(), digest.size()) == 0) {
      return Error{"token '" + name + "' has the same secret as token '" + t.name + "'"};
    }
  }
  tokens_.push_back(Token{std::move(name), digest, can_write});
  return OkStatus();
}

Result<std::string> resolve_secret(const std::string& secret, const std::string& secret_env) {
  if (secret.empty() == secret_env.empty()) {
    return Error{"give exactly one of secret and secret_env"};
  }
  if (secret_env.empty()) {
    return secret;
  }
  const char* value = std::getenv(secret_env.c_str());
  if (value == nullptr) {
    return Error{"environment variable " + secret_env + " is not set"};
  }
  return std::string(value);
}

Status Auth::add_tokens(const std::vector<TokenSpec>& specs) {
  Auth scratch = *this;  // all or nothing
  for (const auto& spec : specs) {
    std::string where = "API token '" + spec.name + "'";
    auto secret = resolve_secret(spec.secret, spec.secret_env);
    if (!secret) {
      return Error{where + ": " + secret.error()};
    }
    if (auto st = scratch.add_token(spec.name, *secret, spec.can_write); !st) {
      return Error{where + ": " + st.error()};
    }
  }
  *this = std::move(scratch);
  return OkStatus();
}

std::string Auth::describe() const {
  std::string out;
  for (const auto& t : tokens_) {
    out += (out.empty() ? "" : ", ") + t.name + (t.can_write ? " (read-write)" : " (read-only)");
  }
  return out;
}

Principal Auth::authenticate(std::string_view authorization, bool peer_loopback) const {
  if (tokens_.empty()) {
    if (!peer_loopback) {
      throw HttpError(403, "no API credentials are configured; only loopback clients may call");
    }
    return Principal{"loopback", true};
  }
  if (authorization.empty()) {
    throw HttpError(401, "missing credentials: send 'Authorization: Bearer TOKEN'");
  }
  size_t sp = authorization.find(' ');
  if (sp == std::string_view::npos || !iequals(authorization.substr(0, sp), "bearer")) {
    throw HttpError(401, "unsupported Authorization scheme; send 'Authorization: Bearer TOKEN'");
  }
  std::string_view secret = authorization.substr(sp + 1);
  while (!secret.empty() && secret.front() == ' ') {
    secret.remove_prefix(1);
  }
  while (!secret.empty() && secret.back() == ' ') {
    secret.remove_suffix(1);
  }
  auto digest = sha256(secret);
  // Every token is compared, whatever matched, so the time does not depend on which one did.
  const Token* found = nullptr;
  for (const auto& t : tokens_) {
    bool eq = CRYPTO_memcmp(t.digest.data(), digest.data(), digest.size()) == 0;
    found = eq ? &t : found;
  }
  if (found == nullptr || secret.empty()) {
    throw HttpError(401, "invalid token");
  }
  return Principal{found->name, found->can_write};
}

}  // namespace steerdns::api
