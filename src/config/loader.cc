// YAML config loading. The file is walked once with a strict schema: every mapping lists the
// keys it accepts, so a typo is an error with a suggestion rather than a silently ignored
// setting. Record data is never parsed here: each record is handed to libzscanner as one
// master-file line, so the YAML and master-file forms of a zone cannot disagree.
#include "config/loader.h"

#include <arpa/inet.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <string_view>
#include <system_error>
#include <utility>

#include "config/health_yaml.h"
#include "config/suggest.h"
#include "core/version.h"
#include "dns/rrtype.h"
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

// Later sections and record keys: recognised so that they are refused with the issue that
// brings them, instead of an "unknown key" error.
struct Later {
  std::string_view key;
  std::string_view arrives_with;
};
constexpr Later kLaterSections[] = {
    {"latency_map", "traffic steering"},
    {"actions", "failover orchestration"},
    {"alerts", "alerting"},
    {"slo", "observability"},
};
constexpr std::string_view kSteeringRecordKeys[] = {
    "members", "failover_ttl", "failback", "failback_ramp", "on_all_down", "health_check"};
constexpr std::string_view kLaterPolicies[] = {"failover",     "weighted", "latency",    "geo",
                                               "geoproximity", "subnet",   "multivalue", "alias"};

class Loader {
 public:
  Loader(std::string file, std::filesystem::path dir)
      : file_(std::move(file)), dir_(std::move(dir)) {}

  Result<LoadedConfig> load(const YAML::Node& root);

 private:
  // "file:line" for a node; nodes without a position (absent values) use `fallback`.
  std::string at(const YAML::Node& n, const YAML::Node* fallback = nullptr) const {
    int line = n.IsDefined() ? n.Mark().line : -1;
    if (line < 0 && fallback != nullptr && fallback->IsDefined()) {
      line = fallback->Mark().line;
    }
    return file_ + ":" + std::to_string(line < 0 ? 1 : line + 1);
  }
  uint32_t line_of(const YAML::Node& n) const {
    return n.IsDefined() && n.Mark().line >= 0 ? static_cast<uint32_t>(n.Mark().line + 1) : 1;
  }
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
  Status chaos(const Entry& e, Chaos& chaos);
  Status zones(const Entry& e, LoadedConfig& out, RuntimeConfig& rc);
  Result<std::shared_ptr<const zone::Zone>> zone(const YAML::Node& n, const dns::Name& origin,
                                                 const Fields& f, std::vector<std::string>* warn);
  Status record(const YAML::Node& n, const dns::Name& origin, uint32_t zone_ttl,
                zone::TextRecordParser& parser, zone::ZoneBuilder& builder);
  // Adds one master-file line (OWNER TTL IN TYPE RDATA) read from YAML node `n`.
  Status add_text(const YAML::Node& n, const std::string& text, zone::TextRecordParser& parser,
                  zone::ZoneBuilder& builder, const std::string& context);
  Result<std::string> name_text(const Entry& e, const dns::Name& origin) const;

  std::string file_;
  std::filesystem::path dir_;
};

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
  auto top =
      fields(root, "the config",
             {"server", "zones", "health_checks", "latency_map", "actions", "alerts", "slo"});
  if (!top) {
    return Error{top.error()};
  }
  LoadedConfig out;
  auto rc = std::make_shared<RuntimeConfig>();
  rc->source = file_;
  rc->chaos = Chaos::defaults();
  out.server.health_state_file = resolve("steerdns-health.json");

  for (const auto& e : top->entries()) {
    for (const auto& l : kLaterSections) {
      if (e.key == l.key) {
        return Error{at(e.key_node) + ": section '" + e.key +
                     "' is not supported yet (arrives with " + std::string(l.arrives_with) + ")"};
      }
    }
  }
  const Entry* se = top->find("server");
  if (se != nullptr && !se->value.IsNull()) {  // "server:" with every key commented out is fine
    CONFIG_TRY(server(*se, out, *rc));
  }
  // Checks before zones: they are cheap to check, and a bad list should not wait for a big zone.
  if (const Entry* e = top->find("health_checks")) {
    CONFIG_TRY(health_checks(*e, out));
  }
  if (const Entry* e = top->find("zones")) {
    CONFIG_TRY(zones(*e, out, *rc));
  } else {
    out.warnings.push_back(file_ + ": no 'zones': every query will be refused");
  }
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
                  {"listen", "udp_threads", "tcp_max_clients", "tcp_idle_timeout", "tcp_io_timeout",
                   "control_socket", "max_udp_payload", "chaos", "xfr_allow", "api_listen", "store",
                   "health_state_file", "checker_id"});
  if (!f) {
    return Error{f.error()};
  }
  ServerSettings& s = out.server;
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
    } else if (e.key == "xfr_allow") {
      auto l = str_list(e);
      if (!l) {
        return Error{l.error()};
      }
      for (const auto& [text, node] : *l) {
        auto c = Cidr::parse(text);
        if (!c) {
          return err(node, "xfr_allow: " + c.error());
        }
        rc.xfr_allow.push_back(*c);
      }
    } else if (e.key == "api_listen") {
      auto v = str(e);
      if (!v) {
        return Error{v.error()};
      }
      auto st = check_listen_address(*v);
      if (!st) {
        return err(e, "api_listen: " + st.error());
      }
      s.api_listen = *v;
    } else if (e.key == "store") {
      auto v = str(e);
      if (!v) {
        return Error{v.error()};
      }
      s.store = *v;
    } else if (e.key == "health_state_file") {
      // `health_state_file: ""` or `~` turns persistence off.
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
        return err(e, "health_state_file: " + resolve(v) + " is a directory, not a file");
      }
      s.health_state_file = resolve(v);
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

Status Loader::zones(const Entry& ze, LoadedConfig& out, RuntimeConfig& rc) {
  if (!ze.value.IsSequence()) {
    return err(ze, "'zones' must be a list of zones (each '- name: ...'), not " +
                       std::string(yaml_kind(ze.value)));
  }
  std::vector<std::shared_ptr<const zone::Zone>> loaded;
  std::vector<std::pair<dns::Name, uint32_t>> seen;  // origin, line
  for (const auto& zn : ze.value) {
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
    auto z = zone(zn, *origin, *f, &out.warnings);
    if (!z) {
      return Error{z.error()};
    }
    loaded.push_back(std::move(*z));
  }
  if (loaded.empty()) {
    out.warnings.push_back(at(ze.value) + ": no zones: every query will be refused");
  }
  rc.set_zones(std::move(loaded));
  return OkStatus();
}

Result<std::shared_ptr<const zone::Zone>> Loader::zone(const YAML::Node& zn,
                                                       const dns::Name& origin, const Fields& f,
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
    return zone::load_zone_file(origin, path.string(), warn, opts);
  }

  const Entry* soa = f.find("soa");
  if (soa == nullptr) {
    return err(zn, zname + ": inline zones need 'soa' (or give 'file')");
  }
  const Entry* ns = f.find("ns");
  if (ns == nullptr) {
    return err(zn, zname + ": inline zones need 'ns' (the apex name servers)");
  }

  zone::ZoneBuilder builder(origin);
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
    for (const auto& rn : recs->value) {
      CONFIG_TRY(record(rn, origin, ttl, parser, builder));
    }
  }
  auto z = builder.build(warn);
  if (!z) {
    return Error{z.error()};
  }
  return std::move(*z);
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
                  {"name", "type", "ttl", "values", "policy", "members", "failover_ttl", "failback",
                   "failback_ramp", "on_all_down", "health_check"});
  if (!f) {
    return Error{f.error()};
  }
  // Steering first: a flagship record should get "not supported yet", not a missing-key error.
  if (const Entry* p = f->find("policy")) {
    auto v = str(*p);
    if (!v) {
      return Error{v.error()};
    }
    if (*v != "simple") {
      for (auto l : kLaterPolicies) {
        if (*v == l) {
          return err(*p, "routing policy '" + *v +
                             "' is not supported yet (arrives with traffic steering)");
        }
      }
      std::vector<std::string_view> cands(std::begin(kLaterPolicies), std::end(kLaterPolicies));
      cands.push_back("simple");
      return err(*p, "unknown routing policy '" + *v + "'" + did_you_mean(*v, cands));
    }
  }
  for (auto k : kSteeringRecordKeys) {
    if (const Entry* e = f->find(k)) {
      return err(e->key_node, "'" + e->key +
                                  "' belongs to routing policies, which are not supported yet "
                                  "(arrives with traffic steering)");
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
    std::string rdata = v;
    if (*type == dns::rrtype::TXT || *type == 99 /* SPF */) {
      rdata = txt_presentation(v);
    }
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

#undef CONFIG_TRY

}  // namespace

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
