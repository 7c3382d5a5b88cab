// YAML config loading. The file is walked once with a strict schema: every mapping lists the
// keys it accepts, so a typo is an error with a suggestion rather than a silently ignored
// setting. Record data is never parsed here: each record is handed to libzscanner as one
// master-file line, so the YAML and master-file forms of a zone cannot disagree.
#include "config/loader.h"

#include <arpa/inet.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <sstream>
#include <string_view>
#include <system_error>
#include <utility>

#include "config/alert_yaml.h"
#include "config/dr_yaml.h"
#include "config/health_yaml.h"
#include "config/suggest.h"
#include "core/version.h"
#include "dns/rrtype.h"
#include "policy/model.h"
#include "policy/table.h"
#include "zone/loader.h"

namespace steerdns::config {
namespace {

#define CONFIG_TRY(expr)                    \
  do {                                      \
    auto config_try_st_ = (expr);           \
    if (!config_try_st_) {                  \
      return Error{config_try_st_.error()}; \
    }                                       \
  } while (0)

// One key: value pair of a checked mapping.
struct Entry {
  std::string key;
  YAML::Node key_node;
  YAML::Node value;
};

// A mapping whose keys were checked against the schema: no unknown and no duplicate keys.
class Fields {
 public:
  const Entry* find(std::string_view key) const {
    for (const auto& e : entries_) {
      if (e.key == key) {
        return &e;
      }
    }
    return nullptr;
  }
  const std::vector<Entry>& entries() const { return entries_; }

 private:
  friend class Loader;
  std::vector<Entry> entries_;
};

// Record keys that only steered records (with 'members') take.
constexpr std::string_view kSteeringRecordKeys[] = {
    "on_all_down", "static_values", "failover_ttl",      "failback", "failback_ramp", "stabilize",
    "min_state",   "flap",          "failover_ttl_hold", "sticky",   "max_values"};
constexpr std::pair<std::string_view, policy::Policy> kPolicies[] = {
    {"simple", policy::Policy::kSimple},
    {"failover", policy::Policy::kFailover},
    {"weighted", policy::Policy::kWeighted},
    {"latency", policy::Policy::kLatency},
    {"geo", policy::Policy::kGeo},
    {"subnet", policy::Policy::kSubnet},
    {"multivalue", policy::Policy::kMultivalue}};

// A zone being loaded: built already (zone file) or still open for steered rrsets, which are
// added once every record set is known (aliases may point across zones).
struct PendingZone {
  dns::Name origin;
  std::unique_ptr<zone::ZoneBuilder> builder;
  std::shared_ptr<const zone::Zone> built;
};

class Loader {
 public:
  Loader(std::string file, std::filesystem::path dir, bool in_memory = false,
         const NodeLoadOptions* opts = nullptr)
      : file_(std::move(file)), dir_(std::move(dir)), in_memory_(in_memory), opts_(opts) {
    wheres_.push_back(file_);
    if (in_memory_) {
      // A marker no value can contain, so translate() never rewrites a quoted value.
      file_ = "\x1f" + file_ + "\x1f";
    }
  }

  Result<LoadedConfig> load(const YAML::Node& root);
  // In-memory documents: "file:N" in a message or a `where` (N = an index into wheres_, see
  // line_of) becomes the entity's description.
  std::string translate(const std::string& msg) const;

 private:
  // "file:line" for a node; nodes without a position (absent values) use `fallback`.
  std::string at(const YAML::Node& n, const YAML::Node* fallback = nullptr) const {
    int line = n.IsDefined() ? n.Mark().line : -1;
    if (line < 0 && fallback != nullptr && fallback->IsDefined()) {
      line = fallback->Mark().line;
    }
    if (line < 0 && in_memory_) {
      return file_ + ":" + std::to_string(cur_where_);
    }
    return file_ + ":" + std::to_string(line < 0 ? 1 : line + 1);
  }
  // In memory, nodes have no position: the "line" is the index (1-based) of the innermost
  // entity's `__where` in wheres_, which translate() turns back into text.
  uint32_t line_of(const YAML::Node& n) const {
    if (n.IsDefined() && n.Mark().line >= 0) {
      return static_cast<uint32_t>(n.Mark().line + 1);
    }
    return in_memory_ ? cur_where_ : 1;
  }
  // Makes the `__where` of mapping `n` (in-memory documents only) the current entity; returns
  // the previous one, to restore once `n` is done.
  uint32_t enter_where(const YAML::Node& n) {
    uint32_t prev = cur_where_;
    if (in_memory_ && n.IsMap()) {
      for (const auto& kv : n) {
        if (kv.first.IsScalar() && kv.first.Scalar() == kWhereKey && kv.second.IsScalar()) {
          wheres_.push_back(kv.second.Scalar());
          cur_where_ = static_cast<uint32_t>(wheres_.size());
          break;
        }
      }
    }
    return prev;
  }
  static constexpr std::string_view kWhereKey = "__where";
  Error err(const YAML::Node& n, const std::string& what) const {
    return Error{at(n) + ": " + what};
  }
  Error err(const Entry& e, const std::string& what) const {
    return Error{at(e.value, &e.key_node) + ": " + what};
  }

  Result<Fields> fields(const YAML::Node& n, const std::string& what,
                        std::initializer_list<std::string_view> allowed) const;

  // Typed values. Errors name the key and say what was expected.
  Result<std::string> str(const Entry& e) const;
  Result<int64_t> integer(const Entry& e, int64_t min, int64_t max) const;
  Result<bool> boolean(const Entry& e) const;
  Result<int64_t> duration_ms(const Entry& e, int64_t min_ms, int64_t max_ms) const;
  Result<uint32_t> seconds(const Entry& e) const;  // TTL-like: integer seconds or a duration
  Result<std::vector<std::pair<std::string, YAML::Node>>> str_list(const Entry& e) const;

  Status server(const Entry& e, LoadedConfig& out, RuntimeConfig& rc);
  Status api_credentials(const Entry& e, ServerSettings& s);
  Status tsig_keys(const Entry& e, dns::TsigKeyring& ring);
  // A key named in xfr_allow or notify: one of `ring`'s.
  Result<dns::Name> tsig_key_ref(const Entry& e, const dns::TsigKeyring& ring) const;
  Status query_log(const Entry& e, ServerSettings& s);
  Status cluster(const Entry& e, ServerSettings& s);
  Status health_checks(const Entry& e, LoadedConfig& out) const;
  // A path from the config: relative ones are relative to the config file's directory.
  // Made absolute, so logs and reports name the file the daemon really uses.
  std::string resolve(const std::string& p) const {
    if (p.empty() || std::filesystem::path(p).is_absolute()) {
      return p;
    }
    std::error_code ec;
    auto abs = std::filesystem::absolute(dir_ / p, ec);
    return ec ? (dir_ / p).string() : abs.lexically_normal().string();
  }
  // A file the daemon writes, resolved; `""` or `~` turns it off (empty result).
  Result<std::string> optional_file(const Entry& e) const {
    std::string v;
    if (!e.value.IsNull()) {
      auto p = str(e);
      if (!p) {
        return Error{p.error()};
      }
      v = *p;
    }
    std::error_code ec;
    if (!v.empty() && std::filesystem::is_directory(resolve(v), ec)) {
      return err(e, e.key + ": " + resolve(v) + " is a directory, not a file");
    }
    return resolve(v);
  }
  Status chaos(const Entry& e, Chaos& chaos);
  Status zones(const Entry& e, LoadedConfig& out);
  Result<PendingZone> zone(const YAML::Node& n, const dns::Name& origin, const Fields& f,
                           std::vector<std::string>* warn);
  Status record(const YAML::Node& n, const dns::Name& origin, uint32_t zone_ttl,
                zone::TextRecordParser& parser, zone::ZoneBuilder& builder);
  // A record with 'members': appended to spec_ (its rrset is added to the zone in finish()).
  Status steered_record(const YAML::Node& n, const Fields& f, const dns::Name& origin,
                        uint32_t zone_ttl, zone::TextRecordParser& parser);
  Result<policy::Member> member(const YAML::Node& n, const policy::RecordSet& rs,
                                const dns::Name& origin, zone::TextRecordParser& parser);
  // Values of `type` as wire rdata, each parsed as a master-file line like plain records.
  Result<std::vector<std::vector<uint8_t>>> rdata_values(const Entry& e, const dns::Name& owner,
                                                         uint16_t type, uint32_t ttl,
                                                         zone::TextRecordParser& parser,
                                                         const std::string& context);
  Status latency_map(const Entry& e);
  Status geoip(const Entry& e);
  // Resolves alias targets, validates the steering spec, adds the steered rrsets, builds the
  // zones and compiles the initial table (every check healthy).
  Status finish(LoadedConfig& out, RuntimeConfig& rc);
  // Adds one master-file line (OWNER TTL IN TYPE RDATA) read from YAML node `n`.
  Status add_text(const YAML::Node& n, const std::string& text, zone::TextRecordParser& parser,
                  zone::ZoneBuilder& builder, const std::string& context);
  Result<std::string> name_text(const Entry& e, const dns::Name& origin) const;

  std::string file_;
  std::filesystem::path dir_;
  std::vector<PendingZone> pending_;
  policy::SteeringSpec spec_;
  std::vector<size_t> steer_zone_;  // pending_ index of each spec_.record_sets entry
  std::vector<uint32_t> steer_line_;
  bool in_memory_ = false;
  const NodeLoadOptions* opts_ = nullptr;  // in-memory documents: the compile cache's part
  std::vector<std::string> wheres_;  // [0] = the file name (no entity)
  // "Lines" from kLazyWhere on name precompiled sets: their text is made by translate().
  static constexpr uint32_t kLazyWhere = 1u << 30;
  std::vector<const PrecompiledSet*> lazy_wheres_;
  uint32_t cur_where_ = 1;
};

std::string Loader::translate(const std::string& msg) const {
  if (!in_memory_) {
    return msg;
  }
  std::string out;
  const std::string& pre = file_;
  size_t i = 0;
  while (i < msg.size()) {
    size_t p = msg.find(pre, i);
    if (p == std::string::npos) {
      break;
    }
    size_t d = p + pre.size();
    if (d < msg.size() && msg[d] == ':' && d + 1 < msg.size() && msg[d + 1] >= '0' &&
        msg[d + 1] <= '9') {
      ++d;  // "file:N": N names the entity
    }
    size_t e = d;
    while (e < msg.size() && msg[e] >= '0' && msg[e] <= '9') {
      ++e;
    }
    uint32_t idx = 0;
    std::from_chars(msg.data() + d, msg.data() + e, idx);
    out.append(msg, i, p - i);
    if (e > d && idx >= kLazyWhere && idx - kLazyWhere < lazy_wheres_.size()) {
      const PrecompiledSet& set = *lazy_wheres_[idx - kLazyWhere];
      if (set.where != nullptr) {
        out += *set.where;
      } else {
        out += "zone ";
        out += set.zone;
        out += " record set ";
        out += set.key;
      }
    } else {
      out += e > d && idx >= 1 && idx <= wheres_.size() ? wheres_[idx - 1] : wheres_[0];
    }
    i = e;
  }
  out.append(msg, i, std::string::npos);
  return out;
}

Result<Fields> Loader::fields(const YAML::Node& n, const std::string& what,
                              std::initializer_list<std::string_view> allowed) const {
  if (!n.IsMap()) {
    return err(n, what + " must be a mapping of keys, not " + yaml_kind(n));
  }
  Fields f;
  std::vector<std::string_view> cands(allowed.begin(), allowed.end());
  for (const auto& kv : n) {
    const YAML::Node k = kv.first;
    const YAML::Node v = kv.second;
    if (!k.IsScalar()) {
      return err(k, "keys in " + what + " must be plain words");
    }
    const std::string& key = k.Scalar();
    if (in_memory_ && key == kWhereKey) {
      continue;  // set by the catalog's compile(), see enter_where
    }
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      return err(k, "unknown key '" + key + "' in " + what + did_you_mean(key, cands));
    }
    if (const Entry* prev = f.find(key)) {
      return err(k, "key '" + key + "' given twice in " + what + " (first at line " +
                        std::to_string(line_of(prev->key_node)) + ")");
    }
    f.entries_.push_back(Entry{key, k, v});
  }
  return f;
}

Result<std::string> Loader::str(const Entry& e) const {
  if (!e.value.IsScalar()) {
    return err(e, "'" + e.key + "' must be a string, not " + yaml_kind(e.value));
  }
  return e.value.Scalar();
}

Result<int64_t> Loader::integer(const Entry& e, int64_t min, int64_t max) const {
  auto s = str(e);
  if (!s) {
    return Error{s.error()};
  }
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s->data(), s->data() + s->size(), v);
  if (ec != std::errc() || p != s->data() + s->size() || s->empty()) {
    return err(e, "'" + e.key + "' must be a whole number, not '" + *s + "'");
  }
  if (v < min || v > max) {
    return err(e, "'" + e.key + "' is " + *s + ", out of range " + std::to_string(min) + ".." +
                      std::to_string(max));
  }
  return v;
}

Result<bool> Loader::boolean(const Entry& e) const {
  bool b = false;
  if (!e.value.IsScalar() || !YAML::convert<bool>::decode(e.value, b)) {
    std::string got = e.value.IsScalar() ? "'" + e.value.Scalar() + "'" : yaml_kind(e.value);
    return err(e, "'" + e.key + "' must be true or false (on/off, yes/no), not " + got);
  }
  return b;
}

Result<int64_t> Loader::duration_ms(const Entry& e, int64_t min_ms, int64_t max_ms) const {
  auto s = str(e);
  if (!s) {
    return Error{s.error()};
  }
  auto d = parse_duration_ms(*s);
  if (!d) {
    return err(e, "'" + e.key + "': " + d.error());
  }
  if (*d < min_ms || *d > max_ms) {
    return err(e, "'" + e.key + "' is " + *s + ", out of range " + std::to_string(min_ms) + "ms.." +
                      std::to_string(max_ms) + "ms");
  }
  return *d;
}

Result<uint32_t> Loader::seconds(const Entry& e) const {
  auto s = str(e);
  if (!s) {
    return Error{s.error()};
  }
  constexpr int64_t kMax = 0x7FFFFFFF;  // RFC 2181 8: TTLs are 31-bit
  if (!s->empty() &&
      std::all_of(s->begin(), s->end(), [](char c) { return c >= '0' && c <= '9'; })) {
    auto v = integer(e, 0, kMax);
    if (!v) {
      return Error{v.error()};
    }
    return static_cast<uint32_t>(*v);
  }
  auto d = parse_duration_ms(*s);
  if (!d) {
    return err(e, "'" + e.key + "' must be seconds or a duration like 5m: " + d.error());
  }
  if (*d % 1000 != 0) {
    return err(e, "'" + e.key + "' must be whole seconds, not " + *s);
  }
  if (*d / 1000 > kMax) {
    return err(e, "'" + e.key + "' is " + *s + ", above 2147483647 seconds");
  }
  return static_cast<uint32_t>(*d / 1000);
}

Result<std::vector<std::pair<std::string, YAML::Node>>> Loader::str_list(const Entry& e) const {
  if (!e.value.IsSequence()) {
    return err(e, "'" + e.key + "' must be a list, not " + yaml_kind(e.value) +
                      " (write [a, b] or one '- item' per line)");
  }
  std::vector<std::pair<std::string, YAML::Node>> out;
  for (const auto& item : e.value) {
    if (!item.IsScalar()) {
      return err(item.IsDefined() && item.Mark().line >= 0 ? item : e.value,
                 "items of '" + e.key + "' must be strings, not " + yaml_kind(item));
    }
    out.emplace_back(item.Scalar(), item);
  }
  return out;
}

Result<LoadedConfig> Loader::load(const YAML::Node& root) {
  if (root.IsNull() || !root.IsDefined()) {
    return Error{file_ + ":1: the config is empty (expected a mapping with 'server' and 'zones')"};
  }
  auto top = fields(
      root, "the config",
      {"server", "zones", "health_checks", "latency_map", "latency_measured_rtt", "geoip",
       "actions", "alerts", "slo"});
  if (!top) {
    return Error{top.error()};
  }
  LoadedConfig out;
  auto rc = std::make_shared<RuntimeConfig>();
  rc->source = wheres_[0];  // the file name (file_ carries a marker in memory)
  rc->chaos = Chaos::defaults();
  out.server.health_state_file = resolve("steerdns-health.json");

  const Entry* se = top->find("server");
  if (se != nullptr && !se->value.IsNull()) {  // "server:" with every key commented out is fine
    CONFIG_TRY(server(*se, out, *rc));
  }
  // Checks before zones: they are cheap to check, and a bad list should not wait for a big zone.
  if (const Entry* e = top->find("health_checks")) {
    CONFIG_TRY(health_checks(*e, out));
  }
  if (const Entry* e = top->find("actions")) {
    auto actions = parse_actions(e->value, file_);  // errors carry "file:line: actions: ..."
    if (!actions) {
      return Error{actions.error()};
    }
    out.actions = std::move(*actions);
  }
  if (const Entry* e = top->find("alerts")) {
    auto alerts = parse_alerts(e->value, file_, &out.warnings);  // errors carry "file:line: alerts: ..."
    if (!alerts) {
      return Error{alerts.error()};
    }
    out.alerts = std::move(*alerts);
  }
  if (const Entry* e = top->find("slo")) {
    auto slo = parse_slo(e->value, file_);
    if (!slo) {
      return Error{slo.error()};
    }
    out.slo = std::move(*slo);
  }
  if (const Entry* e = top->find("latency_map")) {
    CONFIG_TRY(latency_map(*e));
  }
  if (const Entry* e = top->find("latency_measured_rtt")) {
    auto v = boolean(*e);
    if (!v) {
      return Error{v.error()};
    }
    spec_.latency_use_measured_rtt = *v;
  }
  if (const Entry* e = top->find("geoip")) {
    CONFIG_TRY(geoip(*e));
  }
  if (const Entry* e = top->find("zones")) {
    CONFIG_TRY(zones(*e, out));
  } else {
    out.warnings.push_back(file_ + ": no 'zones': every query will be refused");
  }
  if (const Entry* e = top->find("actions")) {
    // `sets:` filters name steered record sets, known once the zones are read.
    CONFIG_TRY(check_action_sets(e->value, file_, spec_));
  }
  if (const Entry* e = top->find("slo")) {
    // Objectives name steered names, known once the zones are read.
    CONFIG_TRY(check_slo_names(e->value, file_, spec_));
  }
  CONFIG_TRY(finish(out, *rc));
  out.runtime = std::move(rc);
  return out;
}

Status Loader::health_checks(const Entry& e, LoadedConfig& out) const {
  // parse_health_checks applies the check schema and validate_all (ids, children, cycles);
  // its errors already read "file:line: health check 'id': field: reason".
  auto specs = parse_health_checks(e.value, file_);
  if (!specs) {
    return Error{specs.error()};
  }
  for (auto& s : *specs) {
    // Like zone files: a config and the files it names can move together.
    s.http.ca_file = resolve(s.http.ca_file);
    s.external.file = resolve(s.external.file);
  }
  out.health_checks = std::move(*specs);
  return OkStatus();
}

Status Loader::server(const Entry& se, LoadedConfig& out, RuntimeConfig& rc) {
  auto f = fields(se.value, "server",
                  {"listen",         "udp_threads",    "tcp_max_clients",   "tcp_idle_timeout",
                   "tcp_io_timeout", "control_socket", "max_udp_payload",   "chaos",
                   "xfr_allow",      "notify",         "tsig_keys",         "ixfr_journal_versions",
                   "api_listen",     "store",          "health_state_file", "checker_id",
                   "api_tokens",     "route53_keys",   "api_tls",           "api_threads",
                   "query_log",      "cluster"});
  if (!f) {
    return Error{f.error()};
  }
  ServerSettings& s = out.server;
  // Keys first: xfr_allow and notify entries name them, in any order.
  auto keys = std::make_shared<dns::TsigKeyring>();
  if (const Entry* ke = f->find("tsig_keys")) {
    CONFIG_TRY(tsig_keys(*ke, *keys));
  }
  for (const auto& e : f->entries()) {
    if (e.key == "listen") {
      auto l = str_list(e);
      if (!l) {
        return Error{l.error()};
      }
      for (const auto& [addr, node] : *l) {
        auto st = check_listen_address(addr);
        if (!st) {
          return err(node, "listen: " + st.error());
        }
        if (std::find(s.listen.begin(), s.listen.end(), addr) != s.listen.end()) {
          return err(node, "listen: '" + addr + "' given twice");
        }
        s.listen.push_back(addr);
      }
    } else if (e.key == "udp_threads") {
      auto v = integer(e, 0, 1024);
      if (!v) {
        return Error{v.error()};
      }
      s.udp_threads = static_cast<int>(*v);
    } else if (e.key == "tcp_max_clients") {
      auto v = integer(e, 1, 1000000);
      if (!v) {
        return Error{v.error()};
      }
      s.tcp_max_clients = static_cast<int>(*v);
    } else if (e.key == "tcp_idle_timeout" || e.key == "tcp_io_timeout") {
      auto v = duration_ms(e, 1, 86400000);
      if (!v) {
        return Error{v.error()};
      }
      (e.key == "tcp_idle_timeout" ? s.tcp_idle_timeout_ms : s.tcp_io_timeout_ms) =
          static_cast<int>(*v);
    } else if (e.key == "control_socket") {
      auto v = str(e);
      if (!v) {
        return Error{v.error()};
      }
      if (v->size() >= 108) {
        return err(e, "control_socket: path longer than 107 bytes");
      }
      s.control_socket = *v;
    } else if (e.key == "max_udp_payload") {
      auto v = integer(e, 512, 4096);
      if (!v) {
        return Error{v.error()};
      }
      rc.max_udp_payload = static_cast<uint16_t>(*v);
    } else if (e.key == "chaos") {
      CONFIG_TRY(chaos(e, rc.chaos));
    } else if (e.key == "xfr_allow" || e.key == "notify") {
      // Items: a plain prefix / address, or {from: PREFIX, key: NAME} / {to: ADDR, key: NAME}.
      const bool xfr = e.key == "xfr_allow";
      const char* addr_key = xfr ? "from" : "to";
      const std::string forms = xfr ? "prefixes or {from: PREFIX, key: NAME}"
                                    : "ADDR:PORT strings or {to: ADDR:PORT, key: NAME}";
      if (!e.value.IsSequence()) {
        return err(e, "'" + e.key + "' must be a list of " + forms + ", not " + yaml_kind(e.value));
      }
      for (const auto& item : e.value) {
        std::string text;
        YAML::Node node = item;
        std::optional<dns::Name> key;
        if (item.IsMap()) {
          auto m = fields(item, e.key, {addr_key, "key"});
          if (!m) {
            return Error{m.error()};
          }
          const Entry* ae = m->find(addr_key);
          if (ae == nullptr) {
            return err(item, e.key + ": an entry needs '" + addr_key + "'");
          }
          auto v = str(*ae);
          if (!v) {
            return Error{v.error()};
          }
          text = *v;
          node = ae->value;
          if (const Entry* ke = m->find("key")) {
            auto k = tsig_key_ref(*ke, *keys);
            if (!k) {
              return Error{k.error()};
            }
            key = *k;
          }
        } else if (item.IsScalar()) {
          text = item.Scalar();
        } else {
          return err(item.IsDefined() && item.Mark().line >= 0 ? item : e.value,
                     "items of '" + e.key + "' must be " + forms + ", not " + yaml_kind(item));
        }
        if (xfr) {
          auto c = Cidr::parse(text);
          if (!c) {
            return err(node, "xfr_allow: " + c.error());
          }
          XfrAllow a(*c);
          a.key = key;
          rc.xfr_allow.push_back(a);
        } else {
          if (auto st = check_listen_address(text); !st) {
            return err(node, "notify: " + st.error());
          }
          s.notify.push_back({text, key});
        }
      }
    } else if (e.key == "ixfr_journal_versions") {
      auto v = integer(e, 1, 100000);
      if (!v) {
        return Error{v.error()};
      }
      s.ixfr_journal_versions = static_cast<uint32_t>(*v);
    } else if (e.key == "api_listen") {
      auto v = str(e);
      if (!v) {
        return Error{v.error()};
      }
      auto st = *v == "off" ? OkStatus() : check_listen_address(*v);
      if (!st) {
        return err(e, "api_listen: " + st.error() + " (or 'off')");
      }
      s.api_listen = *v;
    } else if (e.key == "store") {
      auto v = str(e);
      if (!v) {
        return Error{v.error()};
      }
      s.store = *v;
    } else if (e.key == "health_state_file") {
      auto v = optional_file(e);
      if (!v) {
        return Error{v.error()};
      }
      s.health_state_file = *v;
    } else if (e.key == "checker_id") {
      auto v = str(e);
      if (!v) {
        return Error{v.error()};
      }
      if (v->empty() || v->size() > 64) {
        return err(e, "checker_id: must be 1 to 64 characters");
      }
      for (unsigned char c : *v) {
        if (c <= 0x20 || c >= 0x7F) {
          return err(e, "checker_id: '" + *v + "' has a space or a non-printable character");
        }
      }
      s.checker_id = *v;
    } else if (e.key == "api_tokens" || e.key == "route53_keys") {
      CONFIG_TRY(api_credentials(e, s));
    } else if (e.key == "api_tls") {
      auto t = fields(e.value, "api_tls", {"cert", "key"});
      if (!t) {
        return Error{t.error()};
      }
      for (const auto& te : t->entries()) {
        auto v = str(te);
        if (!v) {
          return Error{v.error()};
        }
        (te.key == "cert" ? s.api_tls_cert : s.api_tls_key) = resolve(*v);
      }
      if (s.api_tls_cert.empty() != s.api_tls_key.empty()) {
        return err(e, "api_tls: needs both 'cert' and 'key'");
      }
    } else if (e.key == "api_threads") {
      auto v = integer(e, 1, 256);
      if (!v) {
        return Error{v.error()};
      }
      s.api_threads = static_cast<int>(*v);
    } else if (e.key == "query_log") {
      CONFIG_TRY(query_log(e, s));
    } else if (e.key == "cluster") {
      CONFIG_TRY(cluster(e, s));
    }
  }
  s.chaos = rc.chaos;
  s.max_udp_payload = rc.max_udp_payload;
  s.xfr_allow = rc.xfr_allow;
  s.tsig_keys = keys;
  rc.tsig_keys = std::move(keys);
  return OkStatus();
}

Status Loader::tsig_keys(const Entry& le, dns::TsigKeyring& ring) {
  if (!le.value.IsSequence()) {
    return err(le,
               "'tsig_keys' must be a list of {name, algorithm, secret | secret_file | "
               "secret_env}, not " +
                   std::string(yaml_kind(le.value)));
  }
  const dns::Name root;
  std::vector<std::pair<dns::Name, uint32_t>> seen;  // name -> line, for duplicates
  for (const auto& item : le.value) {
    auto f =
        fields(item, "tsig_keys", {"name", "algorithm", "secret", "secret_file", "secret_env"});
    if (!f) {
      return Error{f.error()};
    }
    dns::TsigKey key;
    std::string name;
    const Entry* name_e = nullptr;
    const Entry* secret_e = nullptr;
    int sources = 0;
    for (const auto& e : f->entries()) {
      auto v = str(e);
      if (!v) {
        return Error{v.error()};
      }
      if (e.key == "name") {
        auto n = dns::Name::from_text(*v, &root);
        if (!n || n->is_root()) {
          return err(e, "tsig_keys: name '" + *v +
                            "': " + (n ? std::string("the root is no key name") : n.error()));
        }
        name = *v;
        name_e = &e;
        key.name = n->lowered();
      } else if (e.key == "algorithm") {
        auto a = dns::tsig_algorithm_from_text(*v);
        if (!a) {
          return err(e, "tsig_keys: unknown algorithm '" + *v + "' (one of " +
                            dns::tsig_algorithm_list() + ")");
        }
        key.algorithm = *a;
      } else {
        ++sources;
        secret_e = &e;
      }
    }
    if (name_e == nullptr) {
      return err(item, "tsig_keys: every key needs 'name'");
    }
    const std::string what = "tsig_keys: key '" + name + "'";
    if (sources != 1) {
      return err(item, what + " needs exactly one of 'secret', 'secret_file' (a file holding " +
                           "the base64 secret) and 'secret_env'");
    }
    for (const auto& [n, line] : seen) {
      if (n == key.name) {
        return err(*name_e, what + " given twice (first at line " + std::to_string(line) + ")");
      }
    }
    seen.emplace_back(key.name, line_of(name_e->value));
    // The secret's text; never echoed in an error.
    std::string text = secret_e->value.Scalar();
    std::string source = "'secret'";
    if (secret_e->key == "secret_file") {
      std::string path = resolve(text);
      source = "secret_file " + path;
      std::ifstream in(path, std::ios::binary);
      if (!in) {
        return err(*secret_e, what + ": cannot read " + source + ": " + std::strerror(errno));
      }
      std::ostringstream ss;
      ss << in.rdbuf();
      text = ss.str();
    } else if (secret_e->key == "secret_env") {
      source = "secret_env " + text;
      const char* env = std::getenv(text.c_str());
      if (env == nullptr) {
        return err(*secret_e, what + ": the environment variable " + text + " is not set");
      }
      text = env;
    }
    auto secret = dns::decode_base64(text);
    if (!secret) {
      return err(*secret_e, what + ": " + source + ": " +
                                (secret.error() == "empty" ? std::string("the secret is empty")
                                                           : secret.error()));
    }
    key.secret = std::move(*secret);
    if (auto st = ring.add(std::move(key)); !st) {
      return err(*name_e, what + ": " + st.error());
    }
  }
  return OkStatus();
}

Result<dns::Name> Loader::tsig_key_ref(const Entry& e, const dns::TsigKeyring& ring) const {
  auto v = str(e);
  if (!v) {
    return Error{v.error()};
  }
  const dns::Name root;
  auto n = dns::Name::from_text(*v, &root);
  if (n && ring.find(*n) != nullptr) {
    return n->lowered();
  }
  std::string known;
  for (const auto& k : ring.keys()) {
    known += (known.empty() ? "" : ", ") + k.name.to_text();
  }
  return err(e, "key '" + *v + "' is not in server.tsig_keys (" +
                    (known.empty() ? std::string("none defined") : "defined: " + known) + ")");
}

Status Loader::query_log(const Entry& qe, ServerSettings& s) {
  auto f = fields(qe.value, "query_log", {"format", "path", "sample"});
  if (!f) {
    return Error{f.error()};
  }
  for (const auto& e : f->entries()) {
    if (e.key == "sample") {
      auto v = integer(e, 1, 1000000000);
      if (!v) {
        return Error{v.error()};
      }
      s.query_log_sample = static_cast<uint32_t>(*v);
      continue;
    }
    auto v = str(e);
    if (!v) {
      return Error{v.error()};
    }
    if (e.key == "format") {
      if (*v != "json" && *v != "dnstap") {
        return err(e, "query_log: format '" + *v + "' is not json or dnstap");
      }
      s.query_log_dnstap = *v == "dnstap";
    } else if (v->rfind("unix:", 0) == 0) {
      // A dnstap collector's socket, relative to the config file like other paths.
      std::string sock = resolve(v->substr(5));
      if (v->size() == 5 || sock.size() >= 108) {
        return err(e, "query_log: path '" + *v + "': unix:SOCKET needs a path of 1 to 107 bytes");
      }
      s.query_log_path = "unix:" + sock;
    } else {
      std::error_code ec;
      if (v->empty() || std::filesystem::is_directory(resolve(*v), ec)) {
        return err(e, "query_log: path '" + *v + "' is not a file name");
      }
      s.query_log_path = resolve(*v);
    }
  }
  if (s.query_log_path.empty()) {
    return err(qe, "query_log: needs 'path' (a file, or unix:SOCKET for dnstap)");
  }
  if (s.query_log_path.rfind("unix:", 0) == 0 && !s.query_log_dnstap) {
    return err(qe, "query_log: a unix: socket takes format: dnstap (JSON lines go to a file)");
  }
  return OkStatus();
}

Status Loader::cluster(const Entry& ce, ServerSettings& s) {
  auto f = fields(ce.value, "cluster",
                  {"node_id", "site", "lease_ttl", "heartbeat", "stale_after", "peer_grace",
                   "divergence_after", "sites", "catalog_cache"});
  if (!f) {
    return Error{f.error()};
  }
  ServerSettings::Cluster& c = s.cluster;
  auto name = [&](const Entry& e, const std::string& v) -> Status {
    if (v.empty() || v.size() > 64) {
      return err(e, e.key + ": must be 1 to 64 characters");
    }
    for (unsigned char ch : v) {
      if (!std::isalnum(ch) && ch != '-' && ch != '_' && ch != '.') {
        return err(e, e.key + ": '" + v + "' may hold letters, digits, '-', '_' and '.' only");
      }
    }
    return OkStatus();
  };
  for (const auto& e : f->entries()) {
    if (e.key == "node_id" || e.key == "site") {
      auto v = str(e);
      if (!v) {
        return Error{v.error()};
      }
      CONFIG_TRY(name(e, *v));
      (e.key == "node_id" ? c.node_id : c.site) = *v;
    } else if (e.key == "catalog_cache") {
      auto v = optional_file(e);
      if (!v) {
        return Error{v.error()};
      }
      c.catalog_cache = *v;
    } else if (e.key == "sites") {
      if (!e.value.IsMap()) {
        return err(e, "sites: must map a site name to the list of check ids it runs");
      }
      for (const auto& kv : e.value) {
        if (in_memory_ && kv.first.Scalar() == kWhereKey) {
          continue;
        }
        Entry se{kv.first.Scalar(), kv.first, kv.second};
        CONFIG_TRY(name(se, se.key));
        auto l = str_list(se);
        if (!l) {
          return Error{l.error()};
        }
        std::vector<std::string> ids;
        for (const auto& [id, node] : *l) {
          ids.push_back(id);
        }
        c.sites.emplace_back(se.key, std::move(ids));
      }
    } else {
      auto v = duration_ms(e, 100, 3'600'000);
      if (!v) {
        return Error{v.error()};
      }
      if (e.key == "lease_ttl") {
        if (*v < 2'000) {
          return err(e, "lease_ttl: must be at least 2s (etcd leases count whole seconds)");
        }
        c.lease_ttl_ms = *v;
      } else if (e.key == "heartbeat") {
        c.heartbeat_ms = *v;
      } else if (e.key == "stale_after") {
        c.stale_after_ms = *v;
      } else if (e.key == "peer_grace") {
        c.peer_grace_ms = *v;
      } else {
        c.divergence_after_ms = *v;
      }
    }
  }
  if (c.heartbeat_ms * 2 > c.lease_ttl_ms) {
    return err(ce, "cluster: heartbeat (" + std::to_string(c.heartbeat_ms) +
                       " ms) must be at most half of lease_ttl (" +
                       std::to_string(c.lease_ttl_ms) + " ms), or leases expire between beats");
  }
  return OkStatus();
}

Status Loader::api_credentials(const Entry& le, ServerSettings& s) {
  const bool tokens = le.key == "api_tokens";
  if (!le.value.IsSequence()) {
    return err(le, "'" + le.key + "' must be a list of " +
                       (tokens ? std::string("{name, secret | secret_env, access}")
                               : std::string("{access_key_id, secret | secret_env}")) +
                       ", not " + std::string(yaml_kind(le.value)));
  }
  for (const auto& item : le.value) {
    auto f = tokens ? fields(item, "api_tokens", {"name", "secret", "secret_env", "access"})
                    : fields(item, "route53_keys", {"access_key_id", "secret", "secret_env"});
    if (!f) {
      return Error{f.error()};
    }
    std::string name, secret, secret_env, access = "read-only";
    for (const auto& e : f->entries()) {
      auto v = str(e);
      if (!v) {
        return Error{v.error()};
      }
      if (e.key == "name" || e.key == "access_key_id") {
        name = *v;
      } else if (e.key == "secret") {
        secret = *v;
      } else if (e.key == "secret_env") {
        secret_env = *v;
      } else if (*v == "read-only" || *v == "read-write") {
        access = *v;
      } else {
        return err(e, "access: '" + *v + "' is not read-only or read-write");
      }
    }
    const char* id_key = tokens ? "name" : "access_key_id";
    if (name.empty()) {
      return err(item, le.key + ": every item needs '" + id_key + "'");
    }
    if (secret.empty() == secret_env.empty()) {
      return err(item, le.key + ": '" + name + "' needs exactly one of 'secret' and 'secret_env'" +
                           " (secret_env names the environment variable that holds it)");
    }
    if (tokens) {
      s.api_tokens.push_back({name, secret, secret_env, access == "read-write"});
    } else {
      s.route53_keys.push_back({name, secret, secret_env});
    }
  }
  return OkStatus();
}

Status Loader::chaos(const Entry& ce, Chaos& chaos) {
  if (ce.value.IsScalar()) {  // chaos: off / chaos: on
    auto b = boolean(ce);
    if (!b) {
      return err(ce, "'chaos' must be on, off or a mapping {version, id, enabled}");
    }
    chaos.enabled = *b;
    return OkStatus();
  }
  auto f = fields(ce.value, "chaos", {"version", "id", "enabled"});
  if (!f) {
    return Error{f.error()};
  }
  for (const auto& e : f->entries()) {
    if (e.key == "enabled") {
      auto b = boolean(e);
      if (!b) {
        return Error{b.error()};
      }
      chaos.enabled = *b;
    } else {
      // An empty (null) value means "refuse this query".
      std::string v;
      if (!e.value.IsNull()) {
        auto s = str(e);
        if (!s) {
          return Error{s.error()};
        }
        v = *s;
      }
      if (v.size() > 255) {
        return err(e, "'" + e.key + "' is longer than 255 bytes (one TXT string)");
      }
      (e.key == "version" ? chaos.version : chaos.id) = v;
    }
  }
  return OkStatus();
}

Status Loader::zones(const Entry& ze, LoadedConfig& out) {
  if (!ze.value.IsSequence()) {
    return err(ze, "'zones' must be a list of zones (each '- name: ...'), not " +
                       std::string(yaml_kind(ze.value)));
  }
  std::vector<std::pair<dns::Name, uint32_t>> seen;  // origin, line
  for (const auto& zn : ze.value) {
    cur_where_ = 1;
    enter_where(zn);  // stays the current entity for the zone's own keys
    auto f = fields(zn, "zone", {"name", "file", "ttl", "soa", "ns", "records"});
    if (!f) {
      return Error{f.error()};
    }
    const Entry* name = f->find("name");
    if (name == nullptr) {
      return err(zn, "zone without 'name'");
    }
    auto text = str(*name);
    if (!text) {
      return Error{text.error()};
    }
    std::string t = *text;
    if (t.empty()) {
      return err(*name, "zone 'name' is empty");
    }
    if (t.back() != '.') {
      t += '.';
    }
    auto origin = dns::Name::from_text(t);
    if (!origin) {
      return err(*name, "zone name '" + *text + "': " + origin.error());
    }
    for (const auto& [o, line] : seen) {
      if (o == *origin) {
        return err(*name, "duplicate zone '" + origin->to_text() + "' (first at line " +
                              std::to_string(line) + ")");
      }
    }
    seen.emplace_back(*origin, line_of(name->value));
    pending_.push_back(PendingZone{*origin, nullptr, nullptr});
    auto z = zone(zn, *origin, *f, &out.warnings);
    if (!z) {
      return Error{z.error()};
    }
    pending_.back() = std::move(*z);
  }
  cur_where_ = 1;
  if (pending_.empty()) {
    out.warnings.push_back(at(ze.value) + ": no zones: every query will be refused");
  }
  return OkStatus();
}

Result<PendingZone> Loader::zone(const YAML::Node& zn, const dns::Name& origin, const Fields& f,
                                 std::vector<std::string>* warn) {
  const std::string zname = "zone " + origin.to_text();
  uint32_t ttl = 3600;
  if (const Entry* e = f.find("ttl")) {
    auto v = seconds(*e);
    if (!v) {
      return Error{v.error()};
    }
    ttl = *v;
  }
  const Entry* file = f.find("file");
  if (file != nullptr) {
    // One source per zone keeps "where does this record come from" obvious.
    for (const char* k : {"soa", "ns", "records"}) {
      if (const Entry* e = f.find(k)) {
        return err(e->key_node, zname + ": give either 'file' or inline data ('" + std::string(k) +
                                    "'), not both");
      }
    }
    auto p = str(*file);
    if (!p) {
      return Error{p.error()};
    }
    if (p->empty()) {
      return err(*file, zname + ": 'file' is empty");
    }
    std::filesystem::path path(*p);
    if (path.is_relative()) {
      path = dir_ / path;
    }
    // Checked here so that the error also names the config line that refers to the file.
    if (std::ifstream probe(path); !probe) {
      return err(*file, zname + ": cannot read zone file " + path.string() + ": " +
                            std::generic_category().message(errno));
    }
    zone::LoadOptions opts;
    opts.default_ttl = ttl;
    auto z = zone::load_zone_file(origin, path.string(), warn, opts);
    if (!z) {
      return Error{z.error()};
    }
    return PendingZone{origin, nullptr, std::move(*z)};
  }

  const Entry* soa = f.find("soa");
  if (soa == nullptr) {
    return err(zn, zname + ": inline zones need 'soa' (or give 'file')");
  }
  const Entry* ns = f.find("ns");
  if (ns == nullptr) {
    return err(zn, zname + ": inline zones need 'ns' (the apex name servers)");
  }

  auto owned = std::make_unique<zone::ZoneBuilder>(origin);
  zone::ZoneBuilder& builder = *owned;
  zone::TextRecordParser parser(origin, ttl);
  const std::string apex = origin.to_text();

  // SOA: mname and rname required; timers default to common values (RFC 1912 2.2).
  auto sf = fields(soa->value, "soa",
                   {"mname", "rname", "serial", "refresh", "retry", "expire", "minimum", "ttl"});
  if (!sf) {
    return Error{sf.error()};
  }
  std::string mname, rname;
  int64_t serial = 1;
  uint32_t refresh = 3600, retry = 900, expire = 1209600, minimum = 300, soa_ttl = ttl;
  for (const char* req : {"mname", "rname"}) {
    if (sf->find(req) == nullptr) {
      return err(soa->value, zname + ": soa needs '" + std::string(req) + "'");
    }
  }
  for (const auto& e : sf->entries()) {
    if (e.key == "mname" || e.key == "rname") {
      auto n = name_text(e, origin);
      if (!n) {
        return Error{n.error()};
      }
      (e.key == "mname" ? mname : rname) = *n;
    } else if (e.key == "serial") {
      auto v = integer(e, 0, 0xFFFFFFFFLL);
      if (!v) {
        return Error{v.error()};
      }
      serial = *v;
    } else {
      auto v = seconds(e);
      if (!v) {
        return Error{v.error()};
      }
      const std::pair<const char*, uint32_t*> timers[] = {{"refresh", &refresh},
                                                          {"retry", &retry},
                                                          {"expire", &expire},
                                                          {"minimum", &minimum},
                                                          {"ttl", &soa_ttl}};
      for (const auto& [key, slot] : timers) {
        if (e.key == key) {
          *slot = *v;
        }
      }
    }
  }
  CONFIG_TRY(add_text(soa->value,
                      apex + " " + std::to_string(soa_ttl) + " IN SOA " + mname + " " + rname +
                          " " + std::to_string(serial) + " " + std::to_string(refresh) + " " +
                          std::to_string(retry) + " " + std::to_string(expire) + " " +
                          std::to_string(minimum),
                      parser, builder, zname + ": soa"));

  auto nsl = str_list(*ns);
  if (!nsl) {
    return Error{nsl.error()};
  }
  if (nsl->empty()) {
    return err(*ns, zname + ": 'ns' needs at least one name server");
  }
  for (const auto& [text, node] : *nsl) {
    auto n = name_text(Entry{"ns", node, node}, origin);
    if (!n) {
      return Error{n.error()};
    }
    CONFIG_TRY(add_text(node, apex + " " + std::to_string(ttl) + " IN NS " + *n, parser, builder,
                        zname + ": ns"));
  }

  if (const Entry* recs = f.find("records")) {
    if (!recs->value.IsSequence()) {
      return err(*recs, "'records' must be a list of records (each '- name: ...'), not " +
                            std::string(yaml_kind(recs->value)));
    }
    std::vector<CompiledRecords>* compiled = nullptr;
    if (opts_ != nullptr && opts_->compiled != nullptr) {
      compiled = &(*opts_->compiled)[apex];
      compiled->clear();
    }
    for (const auto& rn : recs->value) {
      uint32_t zone_where = enter_where(rn);
      size_t first = builder.record_count();
      CONFIG_TRY(record(rn, origin, ttl, parser, builder));
      cur_where_ = zone_where;
      if (compiled != nullptr) {
        // Steered sets add nothing here (their rrsets come in finish()).
        compiled->push_back(builder.record_count() == first
                                ? nullptr
                                : std::make_shared<const std::vector<zone::ZoneBuilder::Record>>(
                                      builder.records_from(first)));
      }
    }
  }
  if (opts_ != nullptr) {
    if (auto pre = opts_->precompiled.find(apex); pre != opts_->precompiled.end()) {
      for (const PrecompiledSet& set : pre->second) {
        lazy_wheres_.push_back(&set);
        const auto line = kLazyWhere + static_cast<uint32_t>(lazy_wheres_.size() - 1);
        for (const auto& r : *set.records) {
          CONFIG_TRY(builder.add(r.owner.data(), r.owner.size(), r.type, dns::rrclass::IN, r.ttl,
                                 r.rdata.data(), r.rdata.size(), file_, line));
        }
      }
    }
  }
  // Built in finish(), once the steered rrsets are known.
  return PendingZone{origin, std::move(owned), nullptr};
}

Result<std::string> Loader::name_text(const Entry& e, const dns::Name& origin) const {
  auto s = str(e);
  if (!s) {
    return Error{s.error()};
  }
  if (s->empty()) {
    return err(e, "'" + e.key + "' is empty");
  }
  auto n = dns::Name::from_text(*s, &origin);
  if (!n) {
    return err(e, "'" + e.key + "': bad name '" + *s + "': " + n.error());
  }
  return n->to_text();
}

// TXT values are taken literally unless they are already quoted master-file text, so a value
// with spaces stays one string; long values are split into 255-octet strings (RFC 1035 3.3.14).
std::string txt_presentation(const std::string& v) {
  if (!v.empty() && v.front() == '"') {
    return v;
  }
  std::string out;
  size_t i = 0;
  do {
    size_t n = std::min<size_t>(255, v.size() - i);
    if (!out.empty()) {
      out += ' ';
    }
    out += '"';
    for (size_t k = i; k < i + n; ++k) {
      auto c = static_cast<unsigned char>(v[k]);
      if (c == '"' || c == '\\') {
        out += '\\';
        out += static_cast<char>(c);
      } else if (c < 0x20 || c >= 0x7F) {
        char buf[5];
        std::snprintf(buf, sizeof buf, "\\%03u", c);
        out += buf;
      } else {
        out += static_cast<char>(c);
      }
    }
    out += '"';
    i += n;
  } while (i < v.size());
  return out;
}

// A YAML value as master-file rdata text.
std::string value_presentation(uint16_t type, const std::string& v) {
  if (type == dns::rrtype::TXT || type == 99 /* SPF */) {
    return txt_presentation(v);
  }
  return v;
}

std::vector<std::string_view> type_names() {
  std::vector<std::string_view> names;
  static const std::vector<std::string> all = [] {
    std::vector<std::string> v;
    for (uint32_t c = 1; c < 300; ++c) {
      auto t = dns::type_to_text(static_cast<uint16_t>(c));
      if (t.rfind("TYPE", 0) != 0 && !dns::is_meta_type(static_cast<uint16_t>(c))) {
        v.push_back(t);
      }
    }
    return v;
  }();
  for (const auto& s : all) {
    names.push_back(s);
  }
  return names;
}

Status Loader::record(const YAML::Node& rn, const dns::Name& origin, uint32_t zone_ttl,
                      zone::TextRecordParser& parser, zone::ZoneBuilder& builder) {
  auto f = fields(rn, "record",
                  {"name", "type", "ttl", "values", "policy", "members", "on_all_down",
                   "static_values", "failover_ttl", "failback", "failback_ramp", "stabilize",
                   "min_state", "flap", "failover_ttl_hold", "sticky", "max_values"});
  if (!f) {
    return Error{f.error()};
  }
  if (const Entry* p = f->find("policy")) {
    auto v = str(*p);
    if (!v) {
      return Error{v.error()};
    }
    bool known = false;
    std::vector<std::string_view> cands;
    for (const auto& [name, pol] : kPolicies) {
      known = known || *v == name;
      cands.push_back(name);
    }
    if (!known) {
      return err(*p, "unknown routing policy '" + *v + "'" + did_you_mean(*v, cands));
    }
    if (*v != "simple" && f->find("members") == nullptr) {
      return err(rn, "record with 'policy: " + *v + "' without 'members'");
    }
  }
  if (f->find("members") != nullptr) {
    return steered_record(rn, *f, origin, zone_ttl, parser);
  }
  for (auto k : kSteeringRecordKeys) {
    if (const Entry* e = f->find(k)) {
      return err(e->key_node,
                 "'" + e->key + "' belongs to steered records (with 'policy' and 'members')");
    }
  }
  for (const char* req : {"name", "type", "values"}) {
    if (f->find(req) == nullptr) {
      return err(rn, "record without '" + std::string(req) + "'");
    }
  }
  auto owner = name_text(*f->find("name"), origin);
  if (!owner) {
    return Error{owner.error()};
  }
  const Entry& te = *f->find("type");
  auto tt = str(te);
  if (!tt) {
    return Error{tt.error()};
  }
  auto type = dns::type_from_text(*tt);
  if (!type || dns::is_meta_type(*type)) {
    return err(te, "unknown record type '" + *tt + "'" + did_you_mean(*tt, type_names()));
  }
  if (*type == dns::rrtype::SOA) {
    return err(te, "SOA records come from the zone's 'soa' key, not from 'records'");
  }
  std::string tname = dns::type_to_text(*type);
  uint32_t ttl = zone_ttl;
  if (const Entry* e = f->find("ttl")) {
    auto v = seconds(*e);
    if (!v) {
      return Error{v.error()};
    }
    ttl = *v;
  }
  auto values = str_list(*f->find("values"));
  if (!values) {
    return Error{values.error()};
  }
  if (values->empty()) {
    return err(f->find("values")->value, "'values' is empty");
  }
  const std::string prefix = *owner + " " + std::to_string(ttl) + " IN " + tname + " ";
  for (const auto& [v, node] : *values) {
    std::string rdata = value_presentation(*type, v);
    CONFIG_TRY(
        add_text(node, prefix + rdata, parser, builder, *owner + " " + tname + " '" + v + "'"));
  }
  return OkStatus();
}

Status Loader::add_text(const YAML::Node& n, const std::string& text,
                        zone::TextRecordParser& parser, zone::ZoneBuilder& builder,
                        const std::string& context) {
  // One YAML value must be exactly one record: no line breaks that could smuggle in more.
  if (text.find_first_of("\r\n") != std::string::npos) {
    return err(n, context + ": values must be on one line");
  }
  uint32_t line = line_of(n);
  size_t before = builder.record_count();
  auto st = parser.parse(text, builder, file_, line);
  if (!st) {
    // Put what the value was between "file:line:" and the parser's reason.
    std::string where = file_ + ":" + std::to_string(line) + ": ";
    std::string msg = st.error();
    if (msg.rfind(where, 0) == 0) {
      msg = msg.substr(where.size());
    }
    return Error{where + context + ": " + msg};
  }
  if (builder.record_count() > before + 1) {
    return err(n, context + ": more than one record");
  }
  return OkStatus();
}

Result<std::vector<std::vector<uint8_t>>> Loader::rdata_values(const Entry& e,
                                                               const dns::Name& owner,
                                                               uint16_t type, uint32_t ttl,
                                                               zone::TextRecordParser& parser,
                                                               const std::string& context) {
  auto values = str_list(e);
  if (!values) {
    return Error{values.error()};
  }
  if (values->empty()) {
    return err(e, "'" + e.key + "' is empty");
  }
  // The same master-file path as plain records, into a scratch builder.
  zone::ZoneBuilder scratch(owner);
  const std::string prefix =
      owner.to_text() + " " + std::to_string(ttl) + " IN " + dns::type_to_text(type) + " ";
  for (const auto& [v, node] : *values) {
    CONFIG_TRY(add_text(node, prefix + value_presentation(type, v), parser, scratch,
                        context + " '" + v + "'"));
  }
  auto out = scratch.rdata_of(owner, type);
  if (type == dns::rrtype::CNAME && out.size() > 1) {
    return err(e, context + ": a CNAME has one value, not " + std::to_string(out.size()));
  }
  return out;
}

Result<policy::Member> Loader::member(const YAML::Node& mn, const policy::RecordSet& rs,
                                      const dns::Name& origin, zone::TextRecordParser& parser) {
  using policy::Policy;
  auto f = fields(mn, "member",
                  {"set_id", "role", "tier", "weight", "region", "locations", "subnets", "default",
                   "values", "alias", "health_check"});
  if (!f) {
    return Error{f.error()};
  }
  policy::Member m;
  m.where = at(mn);
  const std::string ctx = rs.key() + " member";
  // Keys that belong to one policy: elsewhere they would be silently ignored.
  const std::pair<const char*, Policy> kOwnKeys[] = {
      {"role", Policy::kFailover},  {"tier", Policy::kFailover}, {"weight", Policy::kWeighted},
      {"region", Policy::kLatency}, {"locations", Policy::kGeo}, {"subnets", Policy::kSubnet},
      {"default", Policy::kSubnet}};
  for (const auto& [key, pol] : kOwnKeys) {
    if (const Entry* e = f->find(key); e != nullptr && rs.policy != pol) {
      return err(e->key_node, ctx + ": '" + e->key + "' is for " + policy::policy_name(pol) +
                                  " records, not " + policy::policy_name(rs.policy));
    }
  }
  if (f->find("role") != nullptr && f->find("tier") != nullptr) {
    return err(f->find("tier")->key_node, ctx + ": give 'role' or 'tier', not both");
  }
  if (f->find("values") != nullptr && f->find("alias") != nullptr) {
    return err(f->find("alias")->key_node, ctx + ": give 'values' or 'alias', not both");
  }
  if (f->find("values") == nullptr && f->find("alias") == nullptr) {
    return err(mn, ctx + " without 'values' or 'alias'");
  }
  for (const auto& e : f->entries()) {
    if (e.key == "set_id" || e.key == "region" || e.key == "health_check") {
      auto v = str(e);
      if (!v) {
        return Error{v.error()};
      }
      if (v->empty()) {
        return err(e, ctx + ": '" + e.key + "' is empty");
      }
      (e.key == "set_id" ? m.set_id : e.key == "region" ? m.region : m.health_check) = *v;
    } else if (e.key == "role") {
      auto v = str(e);
      if (!v) {
        return Error{v.error()};
      }
      if (*v == "primary") {
        m.tier = 1;
      } else if (*v == "secondary") {
        m.tier = 2;
      } else {
        return err(e, ctx + ": role '" + *v + "' is not primary or secondary (or use tier: N)");
      }
    } else if (e.key == "tier") {
      auto v = integer(e, 1, 16);
      if (!v) {
        return Error{v.error()};
      }
      m.tier = static_cast<int>(*v);
    } else if (e.key == "weight") {
      // The range (0..255) is policy::validate's, which names the member.
      auto v = integer(e, -1000000, 1000000);
      if (!v) {
        return Error{v.error()};
      }
      m.weight = static_cast<int>(*v);
      if (m.weight < 0 || m.weight > 255) {
        return err(e, ctx + " " + m.set_id + ": weight " + std::to_string(m.weight) +
                          " out of range 0..255");
      }
    } else if (e.key == "locations") {
      auto l = str_list(e);
      if (!l) {
        return Error{l.error()};
      }
      for (const auto& [v, node] : *l) {
        m.locations.push_back(v);
      }
    } else if (e.key == "subnets") {
      auto l = str_list(e);
      if (!l) {
        return Error{l.error()};
      }
      for (const auto& [v, node] : *l) {
        auto c = dns::Cidr::parse(v);
        if (!c) {
          return err(node, ctx + ": subnets: " + c.error());
        }
        m.subnets.push_back(*c);
      }
    } else if (e.key == "default") {
      auto b = boolean(e);
      if (!b) {
        return Error{b.error()};
      }
      m.subnet_default = *b;
    } else if (e.key == "values") {
      auto rd = rdata_values(e, rs.name, rs.type, rs.ttl, parser, ctx);
      if (!rd) {
        return Error{rd.error()};
      }
      m.rdata = std::move(*rd);
    } else if (e.key == "alias") {
      auto af = fields(e.value, "alias", {"name", "type", "evaluate_target_health"});
      if (!af) {
        return Error{af.error()};
      }
      const Entry* an = af->find("name");
      if (an == nullptr) {
        return err(e, ctx + ": alias without 'name'");
      }
      auto sv = str(*an);
      if (!sv) {
        return Error{sv.error()};
      }
      auto target = dns::Name::from_text(*sv, &origin);
      if (!target || sv->empty()) {
        return err(*an, ctx + ": alias: bad name '" + *sv + "'" +
                            (target ? std::string() : ": " + target.error()));
      }
      policy::AliasTarget a;
      a.name = *target;
      a.type = rs.type;
      if (const Entry* at = af->find("type")) {
        auto tv = str(*at);
        if (!tv) {
          return Error{tv.error()};
        }
        auto t = dns::type_from_text(*tv);
        if (!t || dns::is_meta_type(*t)) {
          return err(*at, ctx + ": alias: unknown record type '" + *tv + "'");
        }
        a.type = *t;
      }
      if (const Entry* ev = af->find("evaluate_target_health")) {
        auto b = boolean(*ev);
        if (!b) {
          return Error{b.error()};
        }
        a.evaluate_target_health = *b;
      }
      m.alias = a;
    }
  }
  return m;
}

Status Loader::steered_record(const YAML::Node& rn, const Fields& f, const dns::Name& origin,
                              uint32_t zone_ttl, zone::TextRecordParser& parser) {
  using policy::Policy;
  for (const char* req : {"name", "type"}) {
    if (f.find(req) == nullptr) {
      return err(rn, "record without '" + std::string(req) + "'");
    }
  }
  if (const Entry* v = f.find("values")) {
    return err(v->key_node, "give 'values' or 'members', not both (values go in a member)");
  }
  policy::RecordSet rs;
  rs.where = at(rn);
  auto owner = name_text(*f.find("name"), origin);
  if (!owner) {
    return Error{owner.error()};
  }
  rs.name = *dns::Name::from_text(*owner);
  const Entry& te = *f.find("type");
  auto tt = str(te);
  if (!tt) {
    return Error{tt.error()};
  }
  auto type = dns::type_from_text(*tt);
  if (!type || dns::is_meta_type(*type)) {
    return err(te, "unknown record type '" + *tt + "'" + did_you_mean(*tt, type_names()));
  }
  rs.type = *type;
  if (rs.type == dns::rrtype::SOA || rs.type == dns::rrtype::NS || rs.type == dns::rrtype::DNAME) {
    return err(te, *owner + ": " + dns::type_to_text(rs.type) +
                       " records cannot be steered (they define the zone's structure)");
  }
  rs.ttl = zone_ttl;
  if (const Entry* e = f.find("ttl")) {
    auto v = seconds(*e);
    if (!v) {
      return Error{v.error()};
    }
    rs.ttl = *v;
  }
  if (const Entry* p = f.find("policy")) {
    for (const auto& [name, pol] : kPolicies) {
      if (p->value.Scalar() == name) {
        rs.policy = pol;
      }
    }
  }
  const std::string ctx = rs.key();
  auto only_for = [&](const Entry& e, Policy pol) -> Status {
    if (rs.policy != pol) {
      return err(e.key_node, ctx + ": '" + e.key + "' is for " + policy::policy_name(pol) +
                                 " records, not " + policy::policy_name(rs.policy));
    }
    return OkStatus();
  };
  for (const auto& e : f.entries()) {
    if (e.key == "on_all_down") {
      auto v = str(e);
      if (!v) {
        return Error{v.error()};
      }
      const std::pair<const char*, policy::AllDown> kModes[] = {
          {"fail_open", policy::AllDown::kFailOpen},
          {"static", policy::AllDown::kStatic},
          {"nodata", policy::AllDown::kNodata},
          {"servfail", policy::AllDown::kServfail}};
      bool found = false;
      for (const auto& [name, mode] : kModes) {
        if (*v == name) {
          rs.on_all_down = mode;
          found = true;
        }
      }
      if (!found) {
        return err(e, ctx + ": on_all_down '" + *v +
                          "' is not fail_open, static, nodata or servfail" +
                          did_you_mean(*v, {"fail_open", "static", "nodata", "servfail"}));
      }
    } else if (e.key == "static_values") {
      auto rd = rdata_values(e, rs.name, rs.type, rs.ttl, parser, ctx + " static_values");
      if (!rd) {
        return Error{rd.error()};
      }
      rs.static_values = std::move(*rd);
    } else if (e.key == "failover_ttl") {
      CONFIG_TRY(only_for(e, Policy::kFailover));
      auto v = seconds(e);
      if (!v) {
        return Error{v.error()};
      }
      rs.failover_ttl = *v;
    } else if (e.key == "failback") {
      CONFIG_TRY(only_for(e, Policy::kFailover));
      auto v = str(e);
      if (!v) {
        return Error{v.error()};
      }
      if (*v == "auto") {
        rs.failback = policy::FailbackMode::kAuto;
      } else if (*v == "manual") {
        rs.failback = policy::FailbackMode::kManual;
      } else if (*v == "gradual") {
        rs.failback = policy::FailbackMode::kGradual;
      } else {
        return err(e, ctx + ": failback '" + *v + "' is not auto, manual or gradual" +
                          did_you_mean(*v, {"auto", "manual", "gradual"}));
      }
    } else if (e.key == "failback_ramp" || e.key == "stabilize" || e.key == "min_state" ||
               e.key == "failover_ttl_hold") {
      CONFIG_TRY(only_for(e, Policy::kFailover));
      auto v = duration_ms(e, 0, 30LL * 86400000);
      if (!v) {
        return Error{v.error()};
      }
      (e.key == "failback_ramp" ? rs.ramp_ms
       : e.key == "stabilize"   ? rs.stabilize_ms
       : e.key == "min_state"   ? rs.min_state_ms
                                : rs.failover_ttl_hold_ms) = *v;
    } else if (e.key == "flap") {
      CONFIG_TRY(only_for(e, Policy::kFailover));
      auto ff = fields(e.value, "flap", {"transitions", "window"});
      if (!ff) {
        return Error{ff.error()};
      }
      if (const Entry* t = ff->find("transitions")) {
        auto v = integer(*t, 2, 1000);
        if (!v) {
          return Error{v.error()};
        }
        rs.flap_transitions = static_cast<int>(*v);
      }
      if (const Entry* w = ff->find("window")) {
        auto v = duration_ms(*w, 1000, 30LL * 86400000);
        if (!v) {
          return Error{v.error()};
        }
        rs.flap_window_ms = *v;
      }
    } else if (e.key == "sticky") {
      CONFIG_TRY(only_for(e, Policy::kWeighted));
      if (e.value.IsScalar()) {
        auto b = boolean(e);
        if (!b) {
          return err(e, ctx + ": 'sticky' must be true, false or {v4_prefix, v6_prefix}");
        }
        rs.sticky = *b;
      } else {
        auto sf = fields(e.value, "sticky", {"v4_prefix", "v6_prefix"});
        if (!sf) {
          return Error{sf.error()};
        }
        rs.sticky = true;
        if (const Entry* v4 = sf->find("v4_prefix")) {
          auto v = integer(*v4, 0, 32);
          if (!v) {
            return Error{v.error()};
          }
          rs.sticky_v4_prefix = static_cast<uint8_t>(*v);
        }
        if (const Entry* v6 = sf->find("v6_prefix")) {
          auto v = integer(*v6, 0, 128);
          if (!v) {
            return Error{v.error()};
          }
          rs.sticky_v6_prefix = static_cast<uint8_t>(*v);
        }
      }
    } else if (e.key == "max_values") {
      CONFIG_TRY(only_for(e, Policy::kMultivalue));
      auto v = integer(e, 1, 8);
      if (!v) {
        return Error{v.error()};
      }
      rs.max_values = static_cast<int>(*v);
    }
  }
  const Entry& me = *f.find("members");
  if (!me.value.IsSequence()) {
    return err(me, ctx + ": 'members' must be a list (each '- set_id: ...'), not " +
                       std::string(yaml_kind(me.value)));
  }
  for (const auto& mn : me.value) {
    auto m = member(mn, rs, origin, parser);
    if (!m) {
      return Error{m.error()};
    }
    rs.members.push_back(std::move(*m));
  }
  if (rs.members.empty()) {
    return err(me, ctx + ": 'members' is empty");
  }
  steer_zone_.push_back(pending_.size() - 1);
  steer_line_.push_back(line_of(rn));
  spec_.record_sets.push_back(std::move(rs));
  return OkStatus();
}

Status Loader::latency_map(const Entry& le) {
  if (!le.value.IsSequence()) {
    return err(le, "'latency_map' must be a list of {cidr, rtt_ms: {region: ms}}, not " +
                       std::string(yaml_kind(le.value)));
  }
  for (const auto& n : le.value) {
    auto f = fields(n, "latency_map entry", {"cidr", "rtt_ms"});
    if (!f) {
      return Error{f.error()};
    }
    const Entry* c = f->find("cidr");
    const Entry* r = f->find("rtt_ms");
    if (c == nullptr || r == nullptr) {
      return err(n, "latency_map entry needs 'cidr' and 'rtt_ms'");
    }
    policy::LatencyEntry entry;
    entry.where = at(n);
    auto text = str(*c);
    if (!text) {
      return Error{text.error()};
    }
    auto cidr = dns::Cidr::parse(*text);
    if (!cidr) {
      return err(*c, "latency_map: " + cidr.error());
    }
    entry.cidr = *cidr;
    for (const auto& prev : spec_.latency_map) {
      if (prev.cidr.family == cidr->family && prev.cidr.prefix == cidr->prefix &&
          std::memcmp(prev.cidr.addr, cidr->addr, 16) == 0) {
        return err(
            *c, "latency_map: " + cidr->to_text() + " given twice (first at " + prev.where + ")");
      }
    }
    if (!r->value.IsMap() || r->value.size() == 0) {
      return err(*r, "latency_map " + cidr->to_text() +
                         ": 'rtt_ms' must be a mapping {region: milliseconds}");
    }
    for (const auto& kv : r->value) {
      if (!kv.first.IsScalar() || kv.first.Scalar().empty()) {
        return err(kv.first, "latency_map " + cidr->to_text() + ": region names must be words");
      }
      auto ms = integer(Entry{kv.first.Scalar(), kv.first, kv.second}, 0, 600000);
      if (!ms) {
        return Error{ms.error()};
      }
      entry.rtt_ms.emplace_back(kv.first.Scalar(), static_cast<uint32_t>(*ms));
    }
    spec_.latency_map.push_back(std::move(entry));
  }
  return OkStatus();
}

Status Loader::geoip(const Entry& ge) {
  auto f = fields(ge.value, "geoip", {"database"});
  if (!f) {
    return Error{f.error()};
  }
  const Entry* d = f->find("database");
  if (d == nullptr) {
    return err(ge, "geoip needs 'database' (a MaxMind .mmdb file)");
  }
  auto v = str(*d);
  if (!v) {
    return Error{v.error()};
  }
  std::string path = resolve(*v);
  if (std::ifstream probe(path, std::ios::binary); !probe) {
    return err(*d, "geoip: cannot read " + path + ": " + std::generic_category().message(errno));
  }
  spec_.geoip_db = path;
  return OkStatus();
}

// The fail-open answer: what a steered rrset serves without a table (as if all were healthy).
std::vector<std::vector<uint8_t>> fail_open_values(const policy::RecordSet& rs) {
  int min_tier = 0;
  bool any_weight = false;
  for (const auto& m : rs.members) {
    if (m.tier > 0 && (min_tier == 0 || m.tier < min_tier)) {
      min_tier = m.tier;
    }
    any_weight = any_weight || m.weight > 0;
  }
  std::vector<std::vector<uint8_t>> out;
  for (const auto& m : rs.members) {
    if (rs.policy == policy::Policy::kFailover && m.tier != min_tier) {
      continue;
    }
    if (rs.policy == policy::Policy::kWeighted && any_weight && m.weight == 0) {
      continue;
    }
    for (const auto& rd : m.rdata) {
      if (std::find(out.begin(), out.end(), rd) == out.end()) {
        out.push_back(rd);
      }
    }
  }
  if (rs.type == dns::rrtype::CNAME && out.size() > 1) {
    out.resize(1);
  }
  if (rs.policy == policy::Policy::kMultivalue && out.size() > static_cast<size_t>(rs.max_values)) {
    out.resize(static_cast<size_t>(rs.max_values));
  }
  return out;
}

Status Loader::finish(LoadedConfig& out, RuntimeConfig& rc) {
  auto& sets = spec_.record_sets;
  if (in_memory_) {
    for (auto& le : spec_.latency_map) {
      le.where = translate(le.where);
    }
    for (auto& rs : sets) {
      rs.where = translate(rs.where);
      for (auto& m : rs.members) {
        m.where = translate(m.where);
      }
    }
  }
  // Alias targets: a static rrset in one of our zones is copied into the member (the alias
  // stays for explain); a steered set is left for the table.
  for (auto& rs : sets) {
    for (auto& m : rs.members) {
      if (!m.alias || !m.rdata.empty()) {
        continue;
      }
      bool steered = false;
      for (const auto& t : sets) {
        steered = steered || (t.type == m.alias->type && t.name == m.alias->name);
      }
      if (steered) {
        continue;
      }
      const PendingZone* best = nullptr;
      for (const auto& pz : pending_) {
        if (m.alias->name.is_subdomain_of(pz.origin) &&
            (best == nullptr || pz.origin.size() > best->origin.size())) {
          best = &pz;
        }
      }
      std::string target = m.alias->name.to_text() + " " + dns::type_to_text(m.alias->type);
      if (best == nullptr) {
        return Error{m.where + ": " + rs.key() + " " + m.set_id + ": alias target " + target +
                     " is not in a zone served here"};
      }
      if (best->builder) {
        m.rdata = best->builder->rdata_of(m.alias->name, m.alias->type);
      } else if (const zone::Node* n = best->built->find(m.alias->name)) {
        if (const zone::RRset* t = best->built->rrset(*n, m.alias->type)) {
          best->built->for_each_rdata(
              *t, [&](const uint8_t* rd, uint16_t len) { m.rdata.emplace_back(rd, rd + len); });
        }
      }
      if (m.rdata.empty()) {
        return Error{m.where + ": " + rs.key() + " " + m.set_id + ": alias target " + target +
                     " does not exist"};
      }
    }
  }
  std::vector<std::string> known;
  for (const auto& c : out.health_checks) {
    known.push_back(c.id);
  }
  CONFIG_TRY(policy::validate(spec_, known));
  for (size_t i = 0; i < sets.size(); ++i) {
    PendingZone& pz = pending_[steer_zone_[i]];
    CONFIG_TRY(pz.builder->add_steered(sets[i].name, sets[i].type, sets[i].ttl,
                                       static_cast<uint32_t>(i), fail_open_values(sets[i]), file_,
                                       steer_line_[i]));
  }
  std::vector<std::shared_ptr<const zone::Zone>> zones;
  for (auto& pz : pending_) {
    if (pz.builder) {
      auto z = pz.builder->build(&out.warnings);
      if (!z) {
        return Error{z.error()};
      }
      pz.built = std::move(*z);
      pz.builder.reset();
    }
    zones.push_back(pz.built);
  }
  rc.set_zones(std::move(zones));
  auto spec = std::make_shared<const policy::SteeringSpec>(std::move(spec_));
  rc.steering_spec = spec;
  if (!spec->record_sets.empty()) {
    policy::CompileInputs in;
    in.spec = spec.get();
    auto table = policy::compile(in);
    if (!table) {
      return Error{file_ + ": steering: " + table.error()};
    }
    rc.steering = std::move(*table);
  }
  out.steering_spec = rc.steering_spec;
  out.steering = rc.steering;
  return OkStatus();
}

#undef CONFIG_TRY

}  // namespace

std::string record_value_presentation(uint16_t type, const std::string& value) {
  return value_presentation(type, value);
}

Result<LoadedConfig> load_config_node(const YAML::Node& root, const std::string& source) {
  return load_config_node(root, source, NodeLoadOptions{});
}

Result<LoadedConfig> load_config_node(const YAML::Node& root, const std::string& source,
                                      const NodeLoadOptions& opts) {
  Loader loader(source, std::filesystem::path(), /*in_memory=*/true, &opts);
  Result<LoadedConfig> r = Error{""};
  try {
    r = loader.load(root);
  } catch (const YAML::Exception& e) {
    return Error{source + ": " + e.msg};
  }
  if (!r) {
    return Error{loader.translate(r.error())};
  }
  for (auto& w : r->warnings) {
    w = loader.translate(w);
  }
  for (auto& c : r->health_checks) {
    c.where = loader.translate(c.where);
  }
  for (auto& [type, list] : r->actions.on) {
    for (auto& a : list) {
      a.where = loader.translate(a.where);
    }
  }
  return r;
}

Result<int64_t> parse_duration_ms(std::string_view text) {
  if (text.empty()) {
    return Error{"empty duration"};
  }
  int64_t total = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      ++i;
    }
    if (i == start) {
      return Error{"bad duration '" + std::string(text) + "' (e.g. 10s, 500ms, 1h30m)"};
    }
    int64_t v = 0;
    auto [p, ec] = std::from_chars(text.data() + start, text.data() + i, v);
    if (ec != std::errc() || v > 1000000000) {
      return Error{"duration '" + std::string(text) + "' is too large"};
    }
    size_t ustart = i;
    while (i < text.size() && (text[i] < '0' || text[i] > '9')) {
      ++i;
    }
    std::string_view unit = text.substr(ustart, i - ustart);
    int64_t mult;
    if (unit == "ms") {
      mult = 1;
    } else if (unit == "s") {
      mult = 1000;
    } else if (unit == "m") {
      mult = 60000;
    } else if (unit == "h") {
      mult = 3600000;
    } else if (unit == "d") {
      mult = 86400000;
    } else if (unit.empty()) {
      return Error{"duration '" + std::string(text) + "' needs a unit (ms, s, m, h, d)"};
    } else {
      return Error{"bad duration unit '" + std::string(unit) + "' in '" + std::string(text) +
                   "' (use ms, s, m, h, d)"};
    }
    total += v * mult;
    if (total > 100LL * 365 * 86400000) {
      return Error{"duration '" + std::string(text) + "' is too large"};
    }
  }
  return total;
}

Status check_listen_address(std::string_view text) {
  std::string s(text);
  std::string host, port;
  if (!s.empty() && s.front() == '[') {
    auto close = s.find(']');
    if (close == std::string::npos || close + 1 >= s.size() || s[close + 1] != ':') {
      return Error{"'" + s + "': expected [ipv6]:port"};
    }
    host = s.substr(1, close - 1);
    port = s.substr(close + 2);
    in6_addr a6;
    if (inet_pton(AF_INET6, host.c_str(), &a6) != 1) {
      return Error{"'" + s + "': '" + host + "' is not an IPv6 address"};
    }
  } else {
    auto colon = s.rfind(':');
    if (colon == std::string::npos) {
      return Error{"'" + s + "': expected ip:port"};
    }
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
    in_addr a4;
    if (host.find(':') != std::string::npos) {
      return Error{"'" + s + "': write IPv6 addresses in brackets, e.g. [::1]:5300"};
    }
    if (inet_pton(AF_INET, host.c_str(), &a4) != 1) {
      return Error{"'" + s + "': '" + host + "' is not an IPv4 address"};
    }
  }
  int p = -1;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (ec != std::errc() || ptr != port.data() + port.size() || port.empty() || p < 1 || p > 65535) {
    return Error{"'" + s + "': port '" + port + "' is out of range 1..65535"};
  }
  return OkStatus();
}

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') {
    return "localhost";
  }
  return buf;
}

Result<LoadedConfig> load_config_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return Error{path + ": is a directory, not a config file"};
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Error{path + ": cannot read config file: " + std::generic_category().message(errno)};
  }
  YAML::Node root;
  try {
    root = YAML::Load(in);
  } catch (const YAML::Exception& e) {
    int line = e.mark.line >= 0 ? e.mark.line + 1 : 1;
    return Error{path + ":" + std::to_string(line) + ": malformed YAML: " + e.msg};
  }
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  Loader loader(path, dir);
  try {
    return loader.load(root);
  } catch (const YAML::Exception& e) {
    // Should not happen (every access is type-checked first); keep it an error, not a crash.
    int line = e.mark.line >= 0 ? e.mark.line + 1 : 1;
    return Error{path + ":" + std::to_string(line) + ": " + e.msg};
  }
}

}  // namespace steerdns::config
