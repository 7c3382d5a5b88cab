#pragma once
// Routes: method + path pattern -> handler. Patterns are '/'-separated segments: a literal
// ("health"), a parameter ("{id}", one non-empty segment, percent-decoded into
// Request::params), or, as the last segment only, a rest parameter ("{path...}", what is left,
// slashes included, possibly empty). When several routes match, the most literal one wins
// segment by segment ("/v1/zones/export" over "/v1/zones/{id}"). A GET route answers HEAD too.
//
// Build the router completely, then hand it to the Server; it is read-only from then on (safe
// from any thread).
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "api/http.h"

namespace steerdns::api {

// Who may call a route. kPublic: anybody (e.g. /healthz). kRead: any valid token. kWrite: a
// read-write token (403 for a read-only one). kCustom: the handler authenticates by itself
// (e.g. Route 53 SigV4); the bearer check is skipped.
enum class Access { kPublic, kRead, kWrite, kCustom };

using Handler = std::function<Response(const Request&)>;

struct Route {
  http::verb method;
  std::string pattern;
  Access access;
  Handler handler;
};

class Router {
 public:
  // Throws std::invalid_argument for a malformed pattern (a programming error): not starting
  // with '/', an empty or unterminated {param}, a rest parameter that is not last, or the
  // same method + pattern twice.
  void add(http::verb method, std::string_view pattern, Access access, Handler handler);
  // Access from the method: GET/HEAD read, everything else write.
  void add(http::verb method, std::string_view pattern, Handler handler);

  struct Match {
    enum Kind { kFound, kNoPath, kNoMethod, kBadPath } kind = kNoPath;
    const Route* route = nullptr;
    std::map<std::string, std::string> params;
    std::vector<http::verb> allowed;  // for kNoMethod: the methods the path has (Allow header)
    std::string error;                // for kBadPath: why the path is not valid
  };
  // `path` is the encoded path (no query). A trailing '/' is ignored except on "/".
  Match match(http::verb method, std::string_view path) const;

  const std::vector<Route>& routes() const { return routes_; }

 private:
  struct Segment {
    enum Kind { kLiteral, kParam, kRest } kind;
    std::string text;  // the literal, or the parameter's name
  };
  struct Compiled {
    std::vector<Segment> segments;
  };
  static bool match_one(const Compiled& c, const std::vector<std::string>& segs,
                        std::map<std::string, std::string>* params);

  std::vector<Route> routes_;
  std::vector<Compiled> compiled_;  // parallel to routes_
};

// "GET", "PUT", ...
std::string method_name(http::verb v);

}  // namespace steerdns::api
