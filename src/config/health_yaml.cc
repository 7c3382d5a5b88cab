// Parses `health_checks:` into CheckSpecs. One table lists every key with the check types it
// applies to, so unknown keys get a suggestion and misplaced keys say where they belong.
#include "config/health_yaml.h"

#include <algorithm>
#include <charconv>
#include <limits>
#include <optional>
#include <string_view>

#include "config/loader.h"
#include "config/suggest.h"
#include "config/yaml_fields.h"

namespace steerdns::config {
namespace {

using health::CheckSpec;
using health::Kind;

// Bit per check type; kAll for keys common to every type.
enum : unsigned {
  kHttpBit = 1u << 0,
  kHttpsBit = 1u << 1,
  kTcpBit = 1u << 2,
  kDnsBit = 1u << 3,
  kCalcBit = 1u << 4,
  kExecBit = 1u << 5,
  kExtBit = 1u << 6,
  kWeb = kHttpBit | kHttpsBit,
  kProbed = kWeb | kTcpBit | kDnsBit | kExecBit,
  kAll = 0x7f,
};

struct KeyInfo {
  std::string_view key;
  unsigned types;
};

constexpr KeyInfo kKeys[] = {
    {"id", kAll},
    {"type", kAll},
    {"interval", kAll},
    {"timeout", kProbed},
    {"recheck", kProbed},
    {"failure_threshold", kProbed},
    {"success_threshold", kProbed},
    {"confirm_probes", kProbed},
    {"inverted", kAll},
    {"disabled", kAll},
    {"initial", kProbed | kExtBit},
    {"initial_wait", kProbed | kExtBit},
    {"max_state_age", kProbed | kExtBit},
    {"aggregation", kProbed},
    {"url", kWeb},
    {"host", kWeb | kTcpBit},
    {"ip", kWeb},
    {"port", kWeb | kTcpBit},
    {"path", kWeb},
    {"method", kWeb},
    {"host_header", kWeb},
    {"headers", kWeb},
    {"user_agent", kWeb},
    {"expect_status", kWeb},
    {"search", kWeb},
    {"regex", kWeb},
    {"max_body", kWeb},
    {"verify_tls", kHttpsBit},
    {"ca_file", kHttpsBit},
    {"send", kTcpBit},
    {"expect", kTcpBit},
    {"server", kDnsBit},
    {"qname", kDnsBit},
    {"qtype", kDnsBit},
    {"expect_rcode", kDnsBit},
    {"expect_answer", kDnsBit},
    {"tcp", kDnsBit},
    {"command", kExecBit},
    {"max_output", kExecBit},
    {"children", kCalcBit},
    {"healthy_threshold", kCalcBit},
    {"stale_after", kExtBit},
    {"stale_state", kExtBit},
    {"file", kExtBit},
};

struct TypeName {
  std::string_view name;
  Kind kind;
  unsigned bit;
};
constexpr TypeName kTypes[] = {
    {"http", Kind::kHttp, kHttpBit},
    {"https", Kind::kHttps, kHttpsBit},
    {"tcp", Kind::kTcp, kTcpBit},
    {"dns", Kind::kDns, kDnsBit},
    {"calculated", Kind::kCalculated, kCalcBit},
    {"exec", Kind::kExec, kExecBit},
    {"external", Kind::kExternal, kExtBit},
};

std::string types_text(unsigned bits) {
  std::string out;
  for (const auto& t : kTypes) {
    if (bits & t.bit) {
      out += out.empty() ? "" : ", ";
      out += t.name;
    }
  }
  return out;
}

class Parser : public YamlFieldReader {
 public:
  explicit Parser(std::string file) : YamlFieldReader(std::move(file)) {}

  Result<std::vector<CheckSpec>> parse(const YAML::Node& node);

 private:
  // "file:line: health check 'id': field: reason"
  Error err(const YAML::Node& n, const std::string& field, const std::string& why) const override {
    std::string who = id_.empty() ? "health check" : "health check '" + id_ + "'";
    return Error{at(n) + ": " + who + ": " + field + ": " + why};
  }

  // `key_id`: the mapping key in the `health_checks: {ID: {...}}` form.
  Result<CheckSpec> check(const YAML::Node& n, const YAML::Node* key_id = nullptr);
  // Bytes: a whole number with an optional unit (B, KiB/KB/K, MiB/MB/M, GiB/GB/G; all 1024-based).
  Result<int64_t> byte_size(const std::string& key, const YAML::Node& v, int64_t lo,
                            int64_t hi) const;
  Result<bool> boolean(const std::string& key, const YAML::Node& v) const;
  Result<health::Status> status(const std::string& key, const YAML::Node& v) const;
  steerdns::Status url(const YAML::Node& v, CheckSpec& s) const;
  steerdns::Status expect_status(const YAML::Node& v, CheckSpec& s) const;

  std::string id_;
};

// Splits "4 MiB" into 4 and "MiB" (spaces dropped); false unless it starts with a number.
bool split_number(const std::string& s, int64_t& x, std::string& rest) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), x);
  if (ec != std::errc() || p == s.data()) {
    return false;
  }
  rest.assign(p, static_cast<size_t>(s.data() + s.size() - p));
  rest.erase(0, rest.find_first_not_of(' '));
  return true;
}

Result<int64_t> Parser::byte_size(const std::string& key, const YAML::Node& v, int64_t lo,
                                  int64_t hi) const {
  auto s = str(key, v);
  if (!s) {
    return Error{s.error()};
  }
  int64_t x = 0;
  std::string unit;
  bool number = split_number(*s, x, unit);
  int64_t mult = 0;
  if (unit.empty() || unit == "B") {
    mult = 1;
  } else if (unit == "K" || unit == "KB" || unit == "KiB" || unit == "k" || unit == "kB") {
    mult = int64_t{1} << 10;
  } else if (unit == "M" || unit == "MB" || unit == "MiB") {
    mult = int64_t{1} << 20;
  } else if (unit == "G" || unit == "GB" || unit == "GiB") {
    mult = int64_t{1} << 30;
  }
  if (!number || x < 0 || mult == 0) {
    return err(v, key, "must be a size in bytes such as 65536, 64KiB or 4MiB, not '" + *s + "'");
  }
  if (x > hi / mult || x * mult < lo) {
    return err(
        v, key,
        *s + " is out of range " + std::to_string(lo) + ".." + std::to_string(hi) + " bytes");
  }
  return x * mult;
}

Result<bool> Parser::boolean(const std::string& key, const YAML::Node& v) const {
  bool b = false;
  if (!v.IsScalar() || !YAML::convert<bool>::decode(v, b)) {
    return err(v, key, "must be true or false");
  }
  return b;
}

Result<health::Status> Parser::status(const std::string& key, const YAML::Node& v) const {
  auto s = str(key, v);
  if (!s) {
    return Error{s.error()};
  }
  if (*s == "healthy") {
    return health::Status::kHealthy;
  }
  if (*s == "unhealthy") {
    return health::Status::kUnhealthy;
  }
  if (*s == "unknown") {
    return health::Status::kUnknown;
  }
  return err(v, key,
             "'" + *s + "' is not one of healthy, unhealthy, unknown" +
                 did_you_mean(*s, {"healthy", "unhealthy", "unknown"}));
}

// scheme://host[:port][/path][?query]; IPv6 literals in brackets.
steerdns::Status Parser::url(const YAML::Node& v, CheckSpec& s) const {
  auto text = str("url", v);
  if (!text) {
    return Error{text.error()};
  }
  const std::string& u = *text;
  size_t sep = u.find("://");
  if (sep == std::string::npos) {
    return err(v, "url", "'" + u + "' is not a URL (expected http://host[:port]/path)");
  }
  std::string scheme = u.substr(0, sep);
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  Kind k;
  if (scheme == "http") {
    k = Kind::kHttp;
  } else if (scheme == "https") {
    k = Kind::kHttps;
  } else {
    return err(v, "url", "scheme '" + scheme + "' is not http or https");
  }
  if (k != s.kind) {
    return err(v, "url", "an " + scheme + " URL in a check of type " + health::kind_name(s.kind));
  }
  std::string rest = u.substr(sep + 3);
  size_t path_at = rest.find_first_of("/?");
  std::string authority = rest.substr(0, path_at);
  std::string path = path_at == std::string::npos ? "/" : rest.substr(path_at);
  if (!path.empty() && path.front() == '?') {
    path = "/" + path;
  }
  if (authority.find('@') != std::string::npos) {
    return err(v, "url", "'" + u + "': user names and passwords in URLs are not supported");
  }
  std::string host = authority;
  std::string port;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string::npos) {
      return err(v, "url", "'" + u + "': missing ']'");
    }
    host = authority.substr(1, close - 1);
    std::string after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        return err(v, "url", "'" + u + "': expected ':port' after ']'");
      }
      port = after.substr(1);
    }
  } else if (size_t c = authority.rfind(':'); c != std::string::npos) {
    host = authority.substr(0, c);
    port = authority.substr(c + 1);
    if (host.find(':') != std::string::npos) {
      return err(v, "url", "'" + u + "': write IPv6 addresses in brackets, e.g. http://[::1]:80/");
    }
  }
  if (host.empty()) {
    return err(v, "url", "'" + u + "' has no host");
  }
  s.http.host = host;
  s.http.path = path;
  if (!port.empty() || authority.back() == ':') {
    int64_t p = -1;
    auto [e, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (port.empty() || ec != std::errc() || e != port.data() + port.size() || p < 1 || p > 65535) {
      return err(v, "url", "'" + u + "': port '" + port + "' is not 1..65535");
    }
    s.http.port = static_cast<uint16_t>(p);
  }
  return OkStatus();
}

// A code (200), a range ("200-299"), or a list of them.
steerdns::Status Parser::expect_status(const YAML::Node& v, CheckSpec& s) const {
  std::vector<YAML::Node> items;
  if (v.IsSequence()) {
    for (const auto& i : v) {
      items.push_back(i);
    }
  } else {
    items.push_back(v);
  }
  if (items.empty()) {
    return err(v, "expect_status", "is empty");
  }
  s.http.expect_status.clear();
  for (const auto& i : items) {
    auto t = str("expect_status", i);
    if (!t) {
      return Error{t.error()};
    }
    std::string lo_s = *t;
    std::string hi_s = *t;
    if (size_t dash = t->find('-'); dash != std::string::npos) {
      lo_s = t->substr(0, dash);
      hi_s = t->substr(dash + 1);
    }
    int lo = 0;
    int hi = 0;
    auto r1 = std::from_chars(lo_s.data(), lo_s.data() + lo_s.size(), lo);
    auto r2 = std::from_chars(hi_s.data(), hi_s.data() + hi_s.size(), hi);
    if (lo_s.empty() || hi_s.empty() || r1.ec != std::errc() || r2.ec != std::errc() ||
        r1.ptr != lo_s.data() + lo_s.size() || r2.ptr != hi_s.data() + hi_s.size()) {
      return err(i, "expect_status", "'" + *t + "' is not a status code or a range like 200-299");
    }
    s.http.expect_status.push_back({lo, hi});
  }
  return OkStatus();
}

Result<CheckSpec> Parser::check(const YAML::Node& n, const YAML::Node* key_id) {
  id_.clear();
  if (!n.IsMap()) {
    if (key_id != nullptr) {
      return Error{at(n) + ": health check '" + key_id->Scalar() +
                   "': must be a mapping with 'type', not " + yaml_kind(n)};
    }
    return Error{at(n) + ": health check: must be a mapping with 'id' and 'type', not " +
                 yaml_kind(n)};
  }
  std::vector<std::pair<std::string, std::pair<YAML::Node, YAML::Node>>> entries;
  // (std::optional: assigning to a yaml-cpp Node rebinds document content, not the handle.)
  std::optional<YAML::Node> id_node;
  std::optional<YAML::Node> type_node;
  for (auto it = n.begin(); it != n.end(); ++it) {
    if (!it->first.IsScalar()) {
      return Error{at(it->first) + ": health check: keys must be words"};
    }
    std::string key = it->first.Scalar();
    for (const auto& e : entries) {
      if (e.first == key) {
        return Error{at(it->first) + ": health check: key '" + key +
                     "' given twice (first at line " +
                     std::to_string(e.second.first.Mark().line + 1) + ")"};
      }
    }
    entries.push_back({key, {it->first, it->second}});
    if (key == "id") {
      id_node.emplace(it->second);
    }
    if (key == "type") {
      type_node.emplace(it->second);
    }
  }
  if (key_id != nullptr) {
    if (id_node) {
      return Error{at(*id_node) + ": health check '" + key_id->Scalar() +
                   "': id: is already given by the mapping key"};
    }
    id_node.emplace(*key_id);
  }
  if (!id_node) {
    return Error{at(n) + ": health check: id: is missing"};
  }
  auto id = str("id", *id_node);
  if (!id) {
    return Error{id.error()};
  }
  id_ = *id;

  CheckSpec s;
  s.id = id_;
  s.where = at(n);
  unsigned type_bit = 0;
  bool has_url = false;
  for (const auto& e : entries) {
    has_url |= e.first == "url";
  }
  if (type_node) {
    auto t = str("type", *type_node);
    if (!t) {
      return Error{t.error()};
    }
    std::vector<std::string_view> names;
    for (const auto& tn : kTypes) {
      names.push_back(tn.name);
      if (tn.name == *t) {
        s.kind = tn.kind;
        type_bit = tn.bit;
      }
    }
    if (type_bit == 0) {
      return err(*type_node, "type",
                 "'" + *t + "' is not one of " + types_text(kAll) + did_you_mean(*t, names));
    }
  } else if (has_url) {
    // The URL's scheme gives the type.
    for (const auto& e : entries) {
      if (e.first == "url" && e.second.second.IsScalar()) {
        bool https = e.second.second.Scalar().rfind("https://", 0) == 0;
        s.kind = https ? Kind::kHttps : Kind::kHttp;
        type_bit = https ? kHttpsBit : kHttpBit;
      }
    }
    if (type_bit == 0) {
      return err(n, "type", "is missing");
    }
  } else {
    return err(n, "type", "is missing (one of " + types_text(kAll) + ")");
  }

  std::vector<std::string_view> all_keys;
  for (const auto& k : kKeys) {
    all_keys.push_back(k.key);
  }
  // `url` first: explicit host/port/path given next to it override its parts.
  std::vector<const std::pair<std::string, std::pair<YAML::Node, YAML::Node>>*> ordered;
  for (const auto& e : entries) {
    if (e.first == "url") {
      ordered.push_back(&e);
    }
  }
  for (const auto& e : entries) {
    if (e.first != "url") {
      ordered.push_back(&e);
    }
  }
  for (const auto* entry : ordered) {
    const std::string& key = entry->first;
    const auto& kv = entry->second;
    const YAML::Node& k = kv.first;
    const YAML::Node& v = kv.second;
    const KeyInfo* info = nullptr;
    for (const auto& ki : kKeys) {
      if (ki.key == key) {
        info = &ki;
      }
    }
    if (info == nullptr) {
      return err(k, key, "unknown key" + did_you_mean(key, all_keys));
    }
    if (!(info->types & type_bit)) {
      return err(k, key,
                 std::string("does not apply to type ") + health::kind_name(s.kind) + " (only to " +
                     types_text(info->types) + ")");
    }
    if (key == "id" || key == "type") {
      continue;
    }
    steerdns::Status st = OkStatus();
    auto set_str = [&](std::string& out) -> steerdns::Status {
      auto r = str(key, v);
      if (!r) {
        return Error{r.error()};
      }
      out = *r;
      return OkStatus();
    };
    auto set_ms = [&](Millis& out) -> steerdns::Status {
      auto r = duration(key, v);
      if (!r) {
        return Error{r.error()};
      }
      out = *r;
      return OkStatus();
    };
    auto set_int = [&](auto& out, int64_t lo, int64_t hi) -> steerdns::Status {
      auto r = integer(key, v, lo, hi);
      if (!r) {
        return Error{r.error()};
      }
      out = static_cast<std::remove_reference_t<decltype(out)>>(*r);
      return OkStatus();
    };
    auto set_bool = [&](bool& out) -> steerdns::Status {
      auto r = boolean(key, v);
      if (!r) {
        return Error{r.error()};
      }
      out = *r;
      return OkStatus();
    };
    if (key == "interval") {
      st = set_ms(s.interval_ms);
    } else if (key == "timeout") {
      st = set_ms(s.timeout_ms);
    } else if (key == "recheck") {
      st = set_ms(s.recheck_ms);
    } else if (key == "failure_threshold") {
      st = set_int(s.failure_threshold, 1, 100);
    } else if (key == "success_threshold") {
      st = set_int(s.success_threshold, 1, 100);
    } else if (key == "confirm_probes") {
      st = set_int(s.confirm_probes, 1, 2);
    } else if (key == "max_body") {
      auto r = byte_size(key, v, 1, static_cast<int64_t>(health::kMaxMaxBody));
      if (!r) {
        return Error{r.error()};
      }
      s.http.max_body = static_cast<size_t>(*r);
    } else if (key == "inverted") {
      st = set_bool(s.inverted);
    } else if (key == "disabled") {
      st = set_bool(s.disabled);
    } else if (key == "initial") {
      auto r = status(key, v);
      if (!r) {
        return Error{r.error()};
      }
      s.initial = *r;
    } else if (key == "initial_wait") {
      st = set_ms(s.initial_wait_ms);
    } else if (key == "max_state_age") {
      st = set_ms(s.max_state_age_ms);
    } else if (key == "aggregation") {
      auto r = str(key, v);
      if (!r) {
        return Error{r.error()};
      }
      if (*r == "route53") {
        s.aggregation = health::Aggregation::kRoute53;
      } else if (*r == "majority") {
        s.aggregation = health::Aggregation::kMajority;
      } else if (*r == "all") {
        s.aggregation = health::Aggregation::kAll;
      } else {
        return err(v, key,
                   "'" + *r + "' is not one of route53, majority, all" +
                       did_you_mean(*r, {"route53", "majority", "all"}));
      }
    } else if (key == "url") {
      st = url(v, s);
    } else if (key == "host") {
      st = set_str(s.kind == Kind::kTcp ? s.tcp.host : s.http.host);
    } else if (key == "ip") {
      st = set_str(s.http.ip);
    } else if (key == "port") {
      if (s.kind == Kind::kTcp) {
        st = set_int(s.tcp.port, 1, 65535);
      } else {
        st = set_int(s.http.port, 1, 65535);
      }
    } else if (key == "path") {
      st = set_str(s.http.path);
    } else if (key == "method") {
      st = set_str(s.http.method);
    } else if (key == "host_header") {
      st = set_str(s.http.host_header);
    } else if (key == "headers") {
      if (!v.IsMap()) {
        return err(v, key, std::string("must be a mapping, not ") + yaml_kind(v));
      }
      for (auto h = v.begin(); h != v.end(); ++h) {
        auto name = str(key, h->first);
        if (!name) {
          return Error{name.error()};
        }
        auto val = str(key, h->second);
        if (!val) {
          return Error{val.error()};
        }
        s.http.headers.emplace_back(*name, *val);
      }
    } else if (key == "user_agent") {
      st = set_str(s.http.user_agent);
    } else if (key == "expect_status") {
      st = expect_status(v, s);
    } else if (key == "search") {
      st = set_str(s.http.search);
    } else if (key == "regex") {
      st = set_str(s.http.regex);
    } else if (key == "verify_tls") {
      st = set_bool(s.http.verify_tls);
    } else if (key == "ca_file") {
      st = set_str(s.http.ca_file);
    } else if (key == "send") {
      st = set_str(s.tcp.send);
    } else if (key == "expect") {
      st = set_str(s.tcp.expect);
    } else if (key == "server") {
      st = set_str(s.dns.server);
    } else if (key == "qname") {
      st = set_str(s.dns.qname);
    } else if (key == "qtype") {
      st = set_str(s.dns.qtype);
    } else if (key == "expect_rcode") {
      st = set_str(s.dns.expect_rcode);
    } else if (key == "expect_answer") {
      st = set_str(s.dns.expect_answer);
    } else if (key == "tcp") {
      st = set_bool(s.dns.tcp);
    } else if (key == "command") {
      auto r = str_list(key, v);
      if (!r) {
        return Error{r.error()};
      }
      s.exec.argv = *r;
    } else if (key == "max_output") {
      st = set_int(s.exec.max_output, 1, 1 << 20);
    } else if (key == "children") {
      auto r = str_list(key, v);
      if (!r) {
        return Error{r.error()};
      }
      s.calculated.children = *r;
    } else if (key == "healthy_threshold") {
      st = set_int(s.calculated.healthy_threshold, 0, 1'000'000);
    } else if (key == "stale_after") {
      st = set_ms(s.external.stale_after_ms);
    } else if (key == "stale_state") {
      auto r = status(key, v);
      if (!r) {
        return Error{r.error()};
      }
      s.external.stale_state = *r;
    } else if (key == "file") {
      st = set_str(s.external.file);
    }
    if (!st) {
      return Error{st.error()};
    }
  }
  // A timeout longer than a short interval is the usual mistake: default it down instead.
  bool timeout_given = std::any_of(entries.begin(), entries.end(),
                                   [](const auto& e) { return e.first == "timeout"; });
  if (!timeout_given && s.timeout_ms > s.interval_ms) {
    s.timeout_ms = s.interval_ms / 2;
  }
  bool recheck_given = std::any_of(entries.begin(), entries.end(),
                                   [](const auto& e) { return e.first == "recheck"; });
  if (!recheck_given && s.recheck_ms > s.interval_ms) {
    s.recheck_ms = s.interval_ms;
  }
  return s;
}

Result<std::vector<CheckSpec>> Parser::parse(const YAML::Node& node) {
  std::vector<CheckSpec> out;
  if (!node.IsDefined() || node.IsNull()) {
    return out;
  }
  // Two forms: a list (`- id: primary-app`) or a mapping keyed by id (`primary-app: {...}`),
  // as in the flagship config; both keep the file's order.
  if (node.IsMap()) {
    for (auto it = node.begin(); it != node.end(); ++it) {
      if (!it->first.IsScalar()) {
        return Error{at(it->first) + ": health_checks: keys must be check ids"};
      }
      for (const auto& prev : out) {
        if (prev.id == it->first.Scalar()) {
          return Error{at(it->first) + ": health_checks: '" + prev.id + "' given twice"};
        }
      }
      auto c = check(it->second, &it->first);
      if (!c) {
        return Error{c.error()};
      }
      out.push_back(std::move(c.value()));
    }
  } else if (node.IsSequence()) {
    for (const auto& item : node) {
      auto c = check(item);
      if (!c) {
        return Error{c.error()};
      }
      out.push_back(std::move(c.value()));
    }
  } else {
    return Error{at(node) + ": health_checks: must be a list of checks ('- id: ...') or a " +
                 "mapping of id to check, not " + yaml_kind(node)};
  }
  auto st = health::validate_all(out);
  if (!st) {
    return Error{st.error()};
  }
  return out;
}

}  // namespace

Result<std::vector<health::CheckSpec>> parse_health_checks(const YAML::Node& node,
                                                           const std::string& file) {
  return Parser(file).parse(node);
}

const char* yaml_kind(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Null:
      return "nothing";
    case YAML::NodeType::Scalar:
      return "a single value";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    default:
      return "undefined";
  }
}

}  // namespace steerdns::config
