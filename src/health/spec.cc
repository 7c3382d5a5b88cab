// Check spec names, probe keys and validation. Validation is strict and says which field is
// wrong and why, so a bad spec is refused before it can replace running checks.
#include "health/spec.h"

#include <arpa/inet.h>

#include <algorithm>
#include <functional>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string_view>
#include <unordered_map>

#include "dns/name.h"
#include "dns/rrtype.h"
#include "health/view.h"

namespace steerdns::health {

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::kHttp:
      return "http";
    case Kind::kHttps:
      return "https";
    case Kind::kTcp:
      return "tcp";
    case Kind::kDns:
      return "dns";
    case Kind::kCalculated:
      return "calculated";
    case Kind::kExec:
      return "exec";
    case Kind::kExternal:
      return "external";
  }
  return "?";
}

const char* status_name(Status s) {
  switch (s) {
    case Status::kUnknown:
      return "unknown";
    case Status::kHealthy:
      return "healthy";
    case Status::kUnhealthy:
      return "unhealthy";
  }
  return "?";
}

std::string CheckSpec::probe_key() const {
  // A JSON array is an unambiguous encoding of the fields (no separator collisions).
  using nlohmann::json;
  json k = json::array({kind_name(kind), timeout_ms});
  switch (kind) {
    case Kind::kHttp:
    case Kind::kHttps: {
      json hdrs = json::array();
      for (const auto& [n, v] : http.headers) {
        hdrs.push_back(json::array({n, v}));
      }
      json codes = json::array();
      for (const auto& r : http.expect_status) {
        codes.push_back(json::array({r.lo, r.hi}));
      }
      k.push_back(json::array({http.method, http.host, http.ip, http.port, http.path,
                               http.host_header, hdrs, http.user_agent, codes, http.search,
                               http.regex, http.verify_tls, http.ca_file, http.max_body}));
      break;
    }
    case Kind::kTcp:
      k.push_back(json::array({tcp.host, tcp.port, tcp.send, tcp.expect}));
      break;
    case Kind::kDns:
      k.push_back(json::array(
          {dns.server, dns.qname, dns.qtype, dns.expect_rcode, dns.expect_answer, dns.tcp}));
      break;
    case Kind::kExec:
      k.push_back(json::array({exec.argv, exec.max_output}));
      break;
    case Kind::kCalculated:
    case Kind::kExternal:
      return "";  // not probed
  }
  return k.dump();
}

namespace {

bool is_ip_literal(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

// A host name (letters, digits, '-', '_', dots; labels 1..63) or an IP literal.
std::string check_host(const std::string& h) {
  if (h.empty()) {
    return "is empty";
  }
  if (h.front() == '[') {
    return "'" + h + "': write IPv6 addresses without brackets";
  }
  if (is_ip_literal(h)) {
    return "";
  }
  if (h.size() > 253) {
    return "'" + h + "' is longer than 253 characters";
  }
  std::string_view v = h;
  if (v.back() == '.') {
    v.remove_suffix(1);
  }
  size_t label = 0;
  bool digits_only = true;
  for (char c : v) {
    if (c == '.') {
      if (label == 0) {
        return "'" + h + "' has an empty label";
      }
      label = 0;
      continue;
    }
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_';
    if (!ok) {
      return "'" + h + "' is not a host name or IP address (bad character)";
    }
    if (!(c >= '0' && c <= '9')) {
      digits_only = false;
    }
    if (++label > 63) {
      return "'" + h + "' has a label longer than 63 characters";
    }
  }
  if (label == 0) {
    return "'" + h + "' has an empty label";
  }
  if (digits_only) {
    return "'" + h + "' is not a valid IP address";
  }
  return "";
}

bool is_token(const std::string& s) {
  if (s.empty()) {
    return false;
  }
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  });
}

bool has_ctl(const std::string& s) {
  return std::any_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

std::string check_regex(const std::string& re) {
  try {
    std::regex r(re, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    return "'" + re + "' is not a valid regular expression (" + e.what() + ")";
  }
  return "";
}

// "ip", "ip:port", "[v6]:port" or a bare IPv6 literal.
std::string check_server(const std::string& s) {
  if (s.empty()) {
    return "is empty";
  }
  std::string host = s;
  std::string port;
  if (s.front() == '[') {
    size_t close = s.find(']');
    if (close == std::string::npos) {
      return "'" + s + "': missing ']'";
    }
    host = s.substr(1, close - 1);
    if (close + 1 < s.size()) {
      if (s[close + 1] != ':') {
        return "'" + s + "': expected ':port' after ']'";
      }
      port = s.substr(close + 2);
    }
  } else if (std::count(s.begin(), s.end(), ':') == 1) {
    size_t c = s.find(':');
    host = s.substr(0, c);
    port = s.substr(c + 1);
  }
  if (!is_ip_literal(host)) {
    return "'" + s + "': '" + host + "' is not an IP address";
  }
  if (s.front() == '[' || !port.empty()) {
    if (port.empty() || port.size() > 5 ||
        !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return "'" + s + "': bad port";
    }
    int p = std::stoi(port);
    if (p < 1 || p > 65535) {
      return "'" + s + "': port " + port + " out of range 1..65535";
    }
  }
  return "";
}

constexpr Millis kMaxIntervalMs = 86'400'000;
constexpr Millis kMinRecheckMs = 50;
constexpr int kMaxThreshold = 100;

}  // namespace

steerdns::Status validate(const CheckSpec& s) {
  std::string prefix = (s.where.empty() ? "" : s.where + ": ") + "health check '" + s.id + "': ";
  auto fail = [&](const std::string& field, const std::string& why) -> steerdns::Status {
    return Error{prefix + field + ": " + why};
  };
  if (s.id.empty()) {
    return Error{(s.where.empty() ? "" : s.where + ": ") + "health check: id: is empty"};
  }
  if (s.id.size() > 255) {
    return fail("id", "longer than 255 characters");
  }
  for (char c : s.id) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '"' || c == '\\') {
      return fail("id", "must not contain spaces, quotes, backslashes or control characters");
    }
  }
  const bool probed = s.kind != Kind::kCalculated && s.kind != Kind::kExternal;
  if (s.interval_ms < kMinIntervalMs) {
    return fail("interval", std::to_string(s.interval_ms) + "ms is below the minimum of " +
                                std::to_string(kMinIntervalMs) + "ms");
  }
  if (s.interval_ms > kMaxIntervalMs) {
    return fail("interval", "above 24h");
  }
  if (probed) {
    if (s.timeout_ms <= 0) {
      return fail("timeout", "must be positive");
    }
    if (s.timeout_ms > s.interval_ms) {
      return fail("timeout", std::to_string(s.timeout_ms) + "ms exceeds the interval (" +
                                 std::to_string(s.interval_ms) + "ms)");
    }
    if (s.recheck_ms < kMinRecheckMs || s.recheck_ms > s.interval_ms) {
      return fail("recheck", std::to_string(s.recheck_ms) + "ms is out of range " +
                                 std::to_string(kMinRecheckMs) + "ms..interval");
    }
  }
  if (s.failure_threshold < 1 || s.failure_threshold > kMaxThreshold) {
    return fail("failure_threshold", std::to_string(s.failure_threshold) + " is out of range 1.." +
                                         std::to_string(kMaxThreshold));
  }
  if (s.success_threshold < 1 || s.success_threshold > kMaxThreshold) {
    return fail("success_threshold", std::to_string(s.success_threshold) + " is out of range 1.." +
                                         std::to_string(kMaxThreshold));
  }
  if (s.confirm_probes < 1 || s.confirm_probes > 2) {
    return fail("confirm_probes", std::to_string(s.confirm_probes) + " is out of range 1..2");
  }
  if (s.initial_wait_ms < 0 || s.initial_wait_ms > 3'600'000) {
    return fail("initial_wait", "out of range 0..1h");
  }
  if (s.max_state_age_ms < 0) {
    return fail("max_state_age", "must not be negative");
  }

  switch (s.kind) {
    case Kind::kHttp:
    case Kind::kHttps: {
      const HttpSpec& h = s.http;
      if (auto e = check_host(h.host); !e.empty()) {
        return fail("host", e);
      }
      if (!h.ip.empty() && !is_ip_literal(h.ip)) {
        return fail("ip", "'" + h.ip + "' is not an IP address");
      }
      if (!is_token(h.method)) {
        return fail("method", "'" + h.method + "' is not an HTTP method");
      }
      if (h.path.empty() || h.path.front() != '/') {
        return fail("path", "'" + h.path + "' must start with '/'");
      }
      if (h.path.find_first_of(" #") != std::string::npos || has_ctl(h.path)) {
        return fail("path", "'" + h.path + "' contains spaces, '#' or control characters");
      }
      if (!h.host_header.empty() && check_host(h.host_header) != "") {
        return fail("host_header", check_host(h.host_header));
      }
      for (const auto& [n, v] : h.headers) {
        if (!is_token(n)) {
          return fail("headers", "'" + n + "' is not a valid header name");
        }
        if (has_ctl(v)) {
          return fail("headers", "value of '" + n + "' contains control characters");
        }
      }
      if (has_ctl(h.user_agent)) {
        return fail("user_agent", "contains control characters");
      }
      if (h.expect_status.empty()) {
        return fail("expect_status", "is empty");
      }
      for (const auto& r : h.expect_status) {
        if (r.lo < 100 || r.hi > 599 || r.lo > r.hi) {
          return fail("expect_status", std::to_string(r.lo) + "-" + std::to_string(r.hi) +
                                           " is not a range within 100-599");
        }
      }
      if (h.max_body < 1 || h.max_body > kMaxMaxBody) {
        return fail("max_body", std::to_string(h.max_body) + " bytes is out of range 1.." +
                                    std::to_string(kMaxMaxBody));
      }
      if (h.search.size() > 5120) {
        return fail("search", "longer than the 5,120 bytes searched");
      }
      if (!h.regex.empty()) {
        if (auto e = check_regex(h.regex); !e.empty()) {
          return fail("regex", e);
        }
      }
      if (s.kind == Kind::kHttp && !h.ca_file.empty()) {
        return fail("ca_file", "only applies to https checks");
      }
      break;
    }
    case Kind::kTcp: {
      if (auto e = check_host(s.tcp.host); !e.empty()) {
        return fail("host", e);
      }
      if (s.tcp.port == 0) {
        return fail("port", "0 is not a valid port (1..65535)");
      }
      if (!s.tcp.expect.empty()) {
        if (auto e = check_regex(s.tcp.expect); !e.empty()) {
          return fail("expect", e);
        }
      }
      break;
    }
    case Kind::kDns: {
      if (auto e = check_server(s.dns.server); !e.empty()) {
        return fail("server", e);
      }
      if (s.dns.qname.empty()) {
        return fail("qname", "is empty");
      }
      if (auto n = dns::Name::from_text(s.dns.qname); !n.ok()) {
        return fail("qname", "'" + s.dns.qname + "': " + n.error());
      }
      if (!dns::type_from_text(s.dns.qtype)) {
        return fail("qtype", "'" + s.dns.qtype + "' is not a known record type");
      }
      static const std::set<std::string> kRcodes = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
                                                    "NOTIMP",  "REFUSED", "YXDOMAIN", "NOTAUTH"};
      if (!kRcodes.count(s.dns.expect_rcode)) {
        return fail("expect_rcode",
                    "'" + s.dns.expect_rcode +
                        "' is not one of NOERROR, "
                        "NXDOMAIN, SERVFAIL, REFUSED, FORMERR, NOTIMP, YXDOMAIN, NOTAUTH");
      }
      break;
    }
    case Kind::kExec: {
      if (s.exec.argv.empty() || s.exec.argv.front().empty()) {
        return fail("command", "is empty (give the program and its arguments as a list)");
      }
      if (s.exec.max_output < 1 || s.exec.max_output > (1u << 20)) {
        return fail("max_output", "out of range 1..1048576 bytes");
      }
      break;
    }
    case Kind::kCalculated: {
      const auto& c = s.calculated;
      if (c.children.empty()) {
        return fail("children", "a calculated check needs at least one child");
      }
      std::set<std::string> seen;
      for (const auto& ch : c.children) {
        if (ch == s.id) {
          return fail("children", "'" + ch + "' is the check itself (cycle)");
        }
        if (!seen.insert(ch).second) {
          return fail("children", "'" + ch + "' is listed twice");
        }
      }
      if (c.healthy_threshold < 0) {
        return fail("healthy_threshold", "must not be negative");
      }
      break;
    }
    case Kind::kExternal: {
      if (s.external.stale_after_ms < 0) {
        return fail("stale_after", "must not be negative");
      }
      break;
    }
  }
  return OkStatus();
}

steerdns::Status validate_all(const std::vector<CheckSpec>& specs) {
  std::unordered_map<std::string, const CheckSpec*> by_id;
  for (const auto& s : specs) {
    auto st = validate(s);
    if (!st) {
      return st;
    }
    auto [it, fresh] = by_id.emplace(s.id, &s);
    if (!fresh) {
      std::string where = s.where.empty() ? "" : s.where + ": ";
      std::string first = it->second->where.empty() ? "" : " (first at " + it->second->where + ")";
      return Error{where + "health check '" + s.id + "': id: defined twice" + first};
    }
  }
  for (const auto& s : specs) {
    if (s.kind != Kind::kCalculated) {
      continue;
    }
    for (const auto& ch : s.calculated.children) {
      if (!by_id.count(ch)) {
        std::string where = s.where.empty() ? "" : s.where + ": ";
        return Error{where + "health check '" + s.id + "': children: unknown check '" + ch + "'"};
      }
    }
  }
  // Cycles among calculated checks: depth-first search with colours, reporting the path.
  std::unordered_map<std::string, int> colour;  // 0 new, 1 on stack, 2 done
  std::vector<std::string> path;
  std::string cycle;
  std::function<bool(const CheckSpec&)> dfs = [&](const CheckSpec& s) -> bool {
    colour[s.id] = 1;
    path.push_back(s.id);
    if (s.kind == Kind::kCalculated) {
      for (const auto& ch : s.calculated.children) {
        int c = colour[ch];
        if (c == 1) {
          auto from = std::find(path.begin(), path.end(), ch);
          for (auto it = from; it != path.end(); ++it) {
            cycle += *it + " -> ";
          }
          cycle += ch;
          return false;
        }
        if (c == 0 && !dfs(*by_id[ch])) {
          return false;
        }
      }
    }
    path.pop_back();
    colour[s.id] = 2;
    return true;
  };
  for (const auto& s : specs) {
    if (colour[s.id] == 0 && !dfs(s)) {
      const CheckSpec& head = *by_id[path.back()];
      std::string where = head.where.empty() ? "" : head.where + ": ";
      return Error{where + "health check '" + head.id + "': children: cycle " + cycle};
    }
  }
  return OkStatus();
}

}  // namespace steerdns::health
