// The catalog model. Bodies are kept in one canonical form (canonical_record and friends), so
// the same content from a YAML file, the JSON API and the Route 53 API compares equal, and
// compile() hands the catalog to the config loader as an in-memory YAML document: one schema,
// one validator.
#include "config/catalog.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <string_view>
#include <utility>

#include "config/suggest.h"
#include "core/text.h"
#include "dns/cidr.h"
#include "dns/name.h"
#include "dns/rdata.h"
#include "dns/rrtype.h"
#include "policy/model.h"
#include "zone/loader.h"
#include "zone/zone.h"

namespace steerdns::config {

using nlohmann::json;

namespace {

constexpr const char* kSource = "catalog";

std::optional<int64_t> as_int(const json& v) {
  if (v.is_number_integer()) {
    return v.get<int64_t>();
  }
  if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    int64_t x = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), x);
    if (!s.empty() && ec == std::errc() && p == s.data() + s.size()) {
      return x;
    }
  }
  return std::nullopt;
}

std::optional<bool> as_bool(const json& v) {
  if (v.is_boolean()) {
    return v.get<bool>();
  }
  if (v.is_string()) {
    std::string s = lower(v.get<std::string>());
    if (s == "true" || s == "yes" || s == "on" || s == "y") {
      return true;
    }
    if (s == "false" || s == "no" || s == "off" || s == "n") {
      return false;
    }
  }
  return std::nullopt;
}

// "1h30m", "500ms", "0s": the largest units first (parse_duration_ms reads it back).
std::string format_duration(int64_t ms) {
  if (ms == 0) {
    return "0s";
  }
  std::string out;
  const std::pair<int64_t, const char*> units[] = {
      {86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}, {1, "ms"}};
  for (const auto& [n, u] : units) {
    if (ms >= n) {
      out += std::to_string(ms / n) + u;
      ms %= n;
    }
  }
  return out;
}

// Durations: a string with units becomes its canonical spelling; anything else is left for
// the loader to refuse with its own message.
void canon_duration(json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) {
    return;
  }
  auto d = parse_duration_ms(it->get<std::string>());
  if (d) {
    *it = format_duration(*d);
  }
}

// TTL-like: integer seconds (numbers, digit strings and whole-second durations).
void canon_seconds(json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end()) {
    return;
  }
  if (auto i = as_int(*it); i && *i >= 0) {
    *it = *i;
    return;
  }
  if (it->is_string()) {
    auto d = parse_duration_ms(it->get<std::string>());
    if (d && *d % 1000 == 0) {
      *it = *d / 1000;
    }
  }
}

void canon_int(json& obj, const char* key) {
  auto it = obj.find(key);
  if (it != obj.end()) {
    if (auto i = as_int(*it)) {
      *it = *i;
    }
  }
}

void canon_bool(json& obj, const char* key) {
  auto it = obj.find(key);
  if (it != obj.end()) {
    if (auto b = as_bool(*it)) {
      *it = *b;
    }
  }
}

void canon_lower(json& obj, const char* key) {
  auto it = obj.find(key);
  if (it != obj.end() && it->is_string()) {
    *it = lower(it->get<std::string>());
  }
}

// An absolute, lower-case name, or the value unchanged if it does not parse.
json canon_name(const json& v, const dns::Name& origin) {
  if (!v.is_string() || v.get_ref<const std::string&>().empty()) {
    return v;
  }
  auto n = dns::Name::from_text(v.get<std::string>(), &origin);
  if (!n) {
    return v;
  }
  return lower(n->to_text());
}

// Values in master-file presentation (dns::rdata_to_text), names absolute. A value that does
// not parse is kept as written: compile() reports it with the loader's message.
json canon_values(const json& vals, const dns::Name* owner, uint16_t type,
                  const dns::Name& origin) {
  if (!vals.is_array()) {
    return vals;
  }
  json out = json::array();
  for (const auto& v : vals) {
    json item = v;
    if (v.is_number()) {
      item = v.dump();
    }
    if (owner != nullptr && item.is_string()) {
      const auto& text = item.get_ref<const std::string&>();
      if (text.find_first_of("\r\n") == std::string::npos) {
        zone::ZoneBuilder scratch(*owner);
        zone::TextRecordParser parser(origin, 0);
        std::string line = owner->to_text() + " 0 IN " + dns::type_to_text(type) + " " +
                           record_value_presentation(type, text);
        if (parser.parse(line, scratch, "", 1) && scratch.record_count() == 1) {
          auto rd = scratch.rdata_of(*owner, type);
          if (rd.size() == 1) {
            item = dns::rdata_to_text(type, rd[0].data(), rd[0].size());
          }
        }
      }
    }
    out.push_back(std::move(item));
  }
  return out;
}

void canon_cidrs(json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_array()) {
    return;
  }
  for (auto& c : *it) {
    if (c.is_string()) {
      if (auto p = dns::Cidr::parse(c.get<std::string>())) {
        c = p->to_text();
      }
    }
  }
}

std::string abs_zone_name(const std::string& name) {
  std::string n = lower(name);
  if (n.empty() || n.back() != '.') {
    n += '.';
  }
  return n;
}

// Splits "name./TYPE" at the last '/'.
bool split_key(const std::string& key, std::string* name, std::string* type) {
  auto slash = key.rfind('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == key.size()) {
    return false;
  }
  *name = key.substr(0, slash);
  *type = key.substr(slash + 1);
  return true;
}

std::string type_text(const std::string& t) {
  auto code = dns::type_from_text(upper(t));
  return code ? dns::type_to_text(*code) : upper(t);
}

// "www.example.test. type A" (Route 53's wording).
std::string rrset_words(const std::string& key) {
  std::string name, type;
  if (!split_key(key, &name, &type)) {
    return key;
  }
  return name + " type " + type;
}

json zone_row_json(const store::ZoneRow& r) {
  return json{{"id", r.id},           {"name", r.name},         {"caller_ref", r.caller_ref},
              {"comment", r.comment}, {"settings", r.settings}, {"created_ms", r.created_ms}};
}

json check_json(const store::CheckRow& c) {
  json j = c.body.is_object() ? c.body : json::object();
  j["id"] = c.id;
  j["caller_ref"] = c.caller_ref;
  j["version"] = c.version;
  return j;
}

// ---- JSON <-> YAML ----

// Writes `j` into `dst`, a node of an existing document: children are created inside the
// document (operator[]), so no per-node memory is made and merged (compile() builds 100k+
// nodes; merging standalone nodes dominated its time).
void fill_yaml(YAML::Node dst, const json& j) {
  switch (j.type()) {
    case json::value_t::object:
      if (j.empty()) {
        dst = YAML::Node(YAML::NodeType::Map);
      }
      for (auto it = j.begin(); it != j.end(); ++it) {
        fill_yaml(dst[it.key()], it.value());
      }
      break;
    case json::value_t::array: {
      if (j.empty()) {
        dst = YAML::Node(YAML::NodeType::Sequence);
      }
      size_t i = 0;
      for (const auto& v : j) {
        fill_yaml(dst[i++], v);
      }
      break;
    }
    case json::value_t::string:
      dst = j.get_ref<const std::string&>();
      break;
    case json::value_t::boolean:
      dst = j.get<bool>() ? "true" : "false";
      break;
    case json::value_t::number_integer:
      dst = std::to_string(j.get<int64_t>());
      break;
    case json::value_t::number_unsigned:
      dst = std::to_string(j.get<uint64_t>());
      break;
    case json::value_t::number_float:
      dst = j.dump();
      break;
    default:
      dst = YAML::Null;
      break;
  }
}

json from_yaml(const YAML::Node& n) {
  if (n.IsMap()) {
    json o = json::object();
    for (const auto& kv : n) {
      o[kv.first.Scalar()] = from_yaml(kv.second);
    }
    return o;
  }
  if (n.IsSequence()) {
    json a = json::array();
    for (const auto& v : n) {
      a.push_back(from_yaml(v));
    }
    return a;
  }
  if (n.IsScalar()) {
    return n.Scalar();
  }
  return nullptr;
}

Result<dns::Name> origin_name(const std::string& zone) {
  auto o = dns::Name::from_text(abs_zone_name(zone.empty() ? "." : zone));
  if (!o) {
    return Error{"bad zone name '" + zone + "': " + o.error()};
  }
  return *o;
}

bool serial_newer(uint32_t a, uint32_t b) {  // RFC 1982: a > b
  return a != b && static_cast<uint32_t>(a - b) < 0x80000000u;
}

}  // namespace

// ---- canonical forms of the other bodies ----

json canonical_check(const json& body) {
  if (!body.is_object()) {
    return body;
  }
  json out = body;
  out.erase("id");
  out.erase("caller_ref");
  out.erase("version");
  canon_lower(out, "type");
  for (const char* k :
       {"interval", "timeout", "recheck", "initial_wait", "max_state_age", "stale_after"}) {
    canon_duration(out, k);
  }
  for (const char* k : {"failure_threshold", "success_threshold", "confirm_probes", "port",
                        "max_output", "healthy_threshold", "expect_status"}) {
    canon_int(out, k);
  }
  for (const char* k : {"inverted", "disabled", "verify_tls", "tcp"}) {
    canon_bool(out, k);
  }
  return out;
}

json canonical_zone_settings(const json& s, const std::string& zone) {
  auto o = origin_name(zone);
  if (!s.is_object() || !o) {
    return s;
  }
  const dns::Name& origin = *o;
  json out = s;
  canon_seconds(out, "ttl");
  if (auto it = out.find("soa"); it != out.end() && it->is_object()) {
    for (const char* k : {"mname", "rname"}) {
      if (auto n = it->find(k); n != it->end()) {
        *n = canon_name(*n, origin);
      }
    }
    canon_int(*it, "serial");
    for (const char* k : {"refresh", "retry", "expire", "minimum", "ttl"}) {
      canon_seconds(*it, k);
    }
  }
  if (auto it = out.find("ns"); it != out.end() && it->is_array()) {
    for (auto& n : *it) {
      n = canon_name(n, origin);
    }
  }
  return out;
}

json canonical_settings(const json& s) {
  if (!s.is_object()) {
    return s;
  }
  json out = s;
  if (auto it = out.find("latency_map"); it != out.end() && it->is_array()) {
    for (auto& e : *it) {
      if (!e.is_object()) {
        continue;
      }
      if (auto c = e.find("cidr"); c != e.end() && c->is_string()) {
        if (auto p = dns::Cidr::parse(c->get<std::string>())) {
          *c = p->to_text();
        }
      }
      if (auto r = e.find("rtt_ms"); r != e.end() && r->is_object()) {
        for (auto& v : *r) {
          if (auto i = as_int(v)) {
            v = *i;
          }
        }
      }
    }
  }
  canon_bool(out, "latency_measured_rtt");
  return out;
}

json default_zone_settings(const std::string& zone, const Catalog* catalog) {
  const std::string name = abs_zone_name(zone);
  json ns = json::array({"ns1." + name});
  if (catalog != nullptr) {
    for (const auto& [zn, z] : catalog->zones) {
      auto it = z.row.settings.find("ns");
      if (z.row.settings.is_object() && it != z.row.settings.end() && it->is_array() &&
          !it->empty() && it->front().is_string()) {
        ns = *it;
        break;
      }
    }
  }
  // Route 53's values (its SOA reads "ns-1.awsdns... awsdns-hostmaster.amazon.com. 1 7200 900
  // 1209600 86400", TTL 900; its NS TTL is 172800).
  return json{{"ttl", 172800},
              {"soa",
               {{"mname", ns[0]},
                {"rname", "hostmaster." + name},
                {"serial", 1},
                {"refresh", 7200},
                {"retry", 900},
                {"expire", 1209600},
                {"minimum", 86400},
                {"ttl", 900}}},
              {"ns", ns}};
}

// ---- canonical record ----

Result<json> canonical_record(const json& body, const std::string& zone_origin) {
  if (!body.is_object()) {
    return Error{"a record set must be an object, not " + std::string(body.type_name())};
  }
  auto origin = origin_name(zone_origin);
  if (!origin) {
    return Error{origin.error()};
  }
  json out = body;
  out.erase("__where");
  auto nit = out.find("name");
  if (nit == out.end() || !nit->is_string() || nit->get_ref<const std::string&>().empty()) {
    return Error{"'name': a record set needs a name"};
  }
  auto owner = dns::Name::from_text(nit->get<std::string>(), &*origin);
  if (!owner) {
    return Error{"'name': bad name '" + nit->get<std::string>() + "': " + owner.error()};
  }
  *nit = lower(owner->to_text());
  auto tit = out.find("type");
  if (tit == out.end() || !tit->is_string()) {
    return Error{"'type': a record set needs a type"};
  }
  auto code = dns::type_from_text(upper(tit->get<std::string>()));
  if (!code || dns::is_meta_type(*code)) {
    return Error{"'type': unknown record type '" + tit->get<std::string>() + "'"};
  }
  *tit = dns::type_to_text(*code);
  const uint16_t type = *code;
  canon_seconds(out, "ttl");
  canon_lower(out, "policy");
  canon_lower(out, "on_all_down");
  canon_lower(out, "failback");
  canon_seconds(out, "failover_ttl");
  canon_int(out, "max_values");
  for (const char* k : {"failback_ramp", "stabilize", "min_state", "failover_ttl_hold"}) {
    canon_duration(out, k);
  }
  if (auto f = out.find("flap"); f != out.end() && f->is_object()) {
    canon_int(*f, "transitions");
    canon_duration(*f, "window");
  }
  if (auto s = out.find("sticky"); s != out.end()) {
    if (s->is_object()) {
      canon_int(*s, "v4_prefix");
      canon_int(*s, "v6_prefix");
    } else if (auto b = as_bool(*s)) {
      *s = *b;
    }
  }
  for (const char* k : {"values", "static_values"}) {
    if (auto v = out.find(k); v != out.end()) {
      *v = canon_values(*v, &*owner, type, *origin);
    }
  }
  if (auto ms = out.find("members"); ms != out.end() && ms->is_array()) {
    for (auto& m : *ms) {
      if (!m.is_object()) {
        continue;
      }
      m.erase("__where");
      // role: primary/secondary is tier 1/2 (Route 53's PRIMARY/SECONDARY too).
      if (auto r = m.find("role"); r != m.end() && r->is_string() && m.find("tier") == m.end()) {
        std::string role = lower(r->get<std::string>());
        if (role == "primary" || role == "secondary") {
          m["tier"] = role == "primary" ? 1 : 2;
          m.erase("role");
        }
      }
      canon_int(m, "tier");
      canon_int(m, "weight");
      canon_bool(m, "default");
      canon_cidrs(m, "subnets");
      if (auto v = m.find("values"); v != m.end()) {
        *v = canon_values(*v, &*owner, type, *origin);
      }
      if (auto a = m.find("alias"); a != m.end() && a->is_object()) {
        if (auto an = a->find("name"); an != a->end()) {
          *an = canon_name(*an, *origin);
        }
        if (auto at = a->find("type"); at != a->end() && at->is_string()) {
          *at = type_text(at->get<std::string>());
        }
        canon_bool(*a, "evaluate_target_health");
      }
    }
  }
  return out;
}

// ---- Catalog ----

Catalog Catalog::from_rows(const store::CatalogRows& rows) {
  Catalog c;
  c.revision = rows.revision;
  std::map<std::string, std::string> by_id;
  for (const auto& z : rows.zones) {
    CatalogZone cz;
    cz.row = z;
    by_id[z.id] = z.name;
    c.zones[z.name] = std::move(cz);
  }
  for (const auto& r : rows.records) {
    auto it = by_id.find(r.zone_id);
    if (it != by_id.end()) {
      c.zones[it->second].records[r.key] = r.body;
    }
  }
  for (const auto& ch : rows.checks) {
    c.checks[ch.id] = ch;
  }
  c.settings = rows.settings.is_object() ? rows.settings : json::object();
  return c;
}

store::CatalogRows Catalog::to_rows() const {
  store::CatalogRows rows;
  rows.revision = revision;
  for (const auto& [name, z] : zones) {
    rows.zones.push_back(z.row);
    for (const auto& [key, body] : z.records) {
      rows.records.push_back(store::RecordRow{z.row.id, key, body});
    }
  }
  for (const auto& [id, c] : checks) {
    rows.checks.push_back(c);
  }
  rows.settings = settings;
  return rows;
}

const CatalogZone* Catalog::zone_by_id(const std::string& id) const {
  for (const auto& [n, z] : zones) {
    if (z.row.id == id) {
      return &z;
    }
  }
  return nullptr;
}

const CatalogZone* Catalog::zone_for(const std::string& absolute_name) const {
  std::string n = abs_zone_name(absolute_name);
  const CatalogZone* best = nullptr;
  for (const auto& [zn, z] : zones) {
    bool in = zn == "." || n == zn ||
              (n.size() > zn.size() && n.compare(n.size() - zn.size(), zn.size(), zn) == 0 &&
               n[n.size() - zn.size() - 1] == '.');
    if (in && (best == nullptr || zn.size() > best->row.name.size())) {
      best = &z;
    }
  }
  return best;
}

size_t Catalog::record_count() const {
  size_t n = 0;
  for (const auto& [zn, z] : zones) {
    n += z.records.size();
  }
  return n;
}

std::string record_key(const std::string& absolute_name, const std::string& type) {
  return abs_zone_name(absolute_name) + "/" + type_text(type);
}

const char* action_name(Action a) {
  switch (a) {
    case Action::kCreate:
      return "CREATE";
    case Action::kDelete:
      return "DELETE";
    case Action::kUpsert:
      return "UPSERT";
  }
  return "?";
}

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::kZone:
      return "zone";
    case Kind::kRecordSet:
      return "record_set";
    case Kind::kHealthCheck:
      return "health_check";
    case Kind::kSettings:
      return "settings";
  }
  return "?";
}

// ---- apply ----

namespace {

Result<store::ZoneRow> zone_row_from_json(const json& body, const std::string& name) {
  store::ZoneRow row;
  row.name = name;
  if (body.is_null()) {
    return row;
  }
  if (!body.is_object()) {
    return Error{"a zone must be an object {id, name, caller_ref, comment, settings}"};
  }
  static const std::vector<std::string_view> kKeys = {"id",      "name",     "caller_ref",
                                                      "comment", "settings", "created_ms"};
  for (auto it = body.begin(); it != body.end(); ++it) {
    if (std::find(kKeys.begin(), kKeys.end(), it.key()) == kKeys.end()) {
      return Error{"unknown key '" + it.key() + "' in zone" + did_you_mean(it.key(), kKeys)};
    }
  }
  auto str = [&](const char* k, std::string* out) -> Status {
    auto it = body.find(k);
    if (it == body.end() || it->is_null()) {
      return OkStatus();
    }
    if (!it->is_string()) {
      return Error{"'" + std::string(k) + "' must be a string"};
    }
    *out = it->get<std::string>();
    return OkStatus();
  };
  std::string bname;
  for (auto [k, p] : {std::pair<const char*, std::string*>{"id", &row.id},
                      {"caller_ref", &row.caller_ref},
                      {"comment", &row.comment},
                      {"name", &bname}}) {
    auto st = str(k, p);
    if (!st) {
      return Error{st.error()};
    }
  }
  if (!bname.empty() && abs_zone_name(bname) != name) {
    return Error{"'name' is " + abs_zone_name(bname) + ", not " + name};
  }
  if (auto it = body.find("created_ms"); it != body.end()) {
    auto v = as_int(*it);
    if (!v) {
      return Error{"'created_ms' must be a whole number"};
    }
    row.created_ms = *v;
  }
  if (auto it = body.find("settings"); it != body.end() && !it->is_null()) {
    if (!it->is_object()) {
      return Error{"'settings' must be an object {ttl, soa, ns}"};
    }
    static const std::vector<std::string_view> kZoneSettings = {"ttl", "soa", "ns", "file",
                                                                "file_sha256"};
    for (auto k = it->begin(); k != it->end(); ++k) {
      if (std::find(kZoneSettings.begin(), kZoneSettings.end(), k.key()) == kZoneSettings.end()) {
        return Error{"settings: unknown key '" + k.key() + "'" +
                     did_you_mean(k.key(), kZoneSettings) +
                     " (zone data other than the SOA and NS goes into record sets)"};
      }
    }
    if (it->contains("file")) {
      if (!(*it)["file"].is_string() || (*it)["file"].get<std::string>().empty()) {
        return Error{"settings: 'file' must be the master file's path"};
      }
      for (const char* k : {"soa", "ns"}) {
        if (it->contains(k)) {
          return Error{std::string("settings: give either 'file' or '") + k +
                       "', not both (a file-backed zone takes its SOA and NS from the file)"};
        }
      }
    }
    auto origin = origin_name(name);
    if (!origin) {
      return Error{origin.error()};
    }
    row.settings = canonical_zone_settings(*it, name);
  }
  return row;
}

// A record set change of the apex SOA or NS, applied to the zone settings.
Status apex_change(store::ZoneRow& row, const std::string& type, Action action, const json& body) {
  const std::string words = row.name + " type " + type;
  if (action == Action::kDelete) {
    return Error{"the apex " + type + " of " + row.name +
                 " cannot be deleted (InvalidChangeBatch); UPSERT it instead"};
  }
  if (!row.settings.is_object()) {
    row.settings = json::object();
  }
  if (action == Action::kCreate && row.settings.contains(type == "SOA" ? "soa" : "ns")) {
    return Error{"Tried to create resource record set " + words + ", but it already exists"};
  }
  auto values = body.is_object() ? body.value("values", json()) : json();
  if (!values.is_array() || values.empty()) {
    return Error{"values: the apex " + type + " needs at least one value"};
  }
  if (type == "NS") {
    row.settings["ns"] = values;
    row.settings = canonical_zone_settings(row.settings, row.name);
    return OkStatus();
  }
  if (values.size() != 1 || !values[0].is_string()) {
    return Error{"values: an SOA has exactly one value"};
  }
  std::istringstream in(values[0].get<std::string>());
  std::string mname, rname;
  uint64_t serial = 0, refresh = 0, retry = 0, expire = 0, minimum = 0;
  if (!(in >> mname >> rname >> serial >> refresh >> retry >> expire >> minimum)) {
    return Error{"values: '" + values[0].get<std::string>() +
                 "' is not 'MNAME RNAME SERIAL REFRESH RETRY EXPIRE MINIMUM'"};
  }
  json soa = row.settings.value("soa", json::object());
  soa["mname"] = lower(mname);
  soa["rname"] = lower(rname);
  soa["refresh"] = refresh;
  soa["retry"] = retry;
  soa["expire"] = expire;
  soa["minimum"] = minimum;
  if (body.contains("ttl")) {
    soa["ttl"] = body["ttl"];
  }
  row.settings["soa"] = std::move(soa);  // the serial stays the catalog's
  row.settings = canonical_zone_settings(row.settings, row.name);
  return OkStatus();
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

namespace {

// What apply_in_place() changed, to put back when the batch fails: the first state of every
// item it touched (so undo is exact however often an item changes in one batch).
class Journal {
 public:
  explicit Journal(Catalog& c) : c_(c) {}
  ~Journal() {
    if (!committed_) {
      rollback();
    }
  }
  void commit() { committed_ = true; }
  // Everything the journal holds a first state of: what the batch may have changed.
  void touched(Touched& t) const {
    for (const auto& [name, z] : zones_) {
      t.zones.insert(name);
    }
    for (const auto& [name, r] : rows_) {
      t.rows.insert(name);
    }
    for (const auto& [k, old] : records_) {
      t.records.insert(k);
    }
    for (const auto& [id, old] : checks_) {
      t.checks.insert(id);
    }
    t.settings = t.settings || settings_.has_value();
  }

  // Before a zone is created or erased: its whole first state (moved out when erased).
  void zone_erase(std::map<std::string, CatalogZone>::iterator it) {
    if (zones_.count(it->first) == 0) {
      zones_.emplace(it->first, std::optional<CatalogZone>(std::move(it->second)));
    }
    c_.zones.erase(it);
  }
  void zone_create(const std::string& name) {
    if (zones_.count(name) == 0) {
      zones_.emplace(name, std::nullopt);
    }
  }
  void row(const std::string& zone) {
    auto it = c_.zones.find(zone);
    if (it != c_.zones.end() && rows_.count(zone) == 0) {
      rows_.emplace(zone, it->second.row);
    }
  }
  void record(const std::string& zone, const std::string& key) {
    auto k = std::make_pair(zone, key);
    if (records_.count(k) != 0) {
      return;
    }
    std::optional<json> old;
    auto z = c_.zones.find(zone);
    if (z != c_.zones.end()) {
      if (auto r = z->second.records.find(key); r != z->second.records.end()) {
        old = r->second;
      }
    }
    records_.emplace(std::move(k), std::move(old));
  }
  void check(const std::string& id) {
    if (checks_.count(id) == 0) {
      auto it = c_.checks.find(id);
      checks_.emplace(id, it == c_.checks.end() ? std::nullopt
                                                : std::optional<store::CheckRow>(it->second));
    }
  }
  void settings() {
    if (!settings_) {
      settings_ = c_.settings;
    }
  }

 private:
  void rollback() {
    // Whole zones first, then what changed inside zones that still exist.
    for (auto& [name, z] : zones_) {
      if (z) {
        c_.zones[name] = std::move(*z);
      } else {
        c_.zones.erase(name);
      }
    }
    for (auto& [zone, row] : rows_) {
      if (auto it = c_.zones.find(zone); it != c_.zones.end()) {
        it->second.row = std::move(row);
      }
    }
    for (auto& [k, old] : records_) {
      auto it = c_.zones.find(k.first);
      if (it == c_.zones.end()) {
        continue;
      }
      if (old) {
        it->second.records[k.second] = std::move(*old);
      } else {
        it->second.records.erase(k.second);
      }
    }
    for (auto& [id, old] : checks_) {
      if (old) {
        c_.checks[id] = std::move(*old);
      } else {
        c_.checks.erase(id);
      }
    }
    if (settings_) {
      c_.settings = std::move(*settings_);
    }
  }

  Catalog& c_;
  bool committed_ = false;
  std::map<std::string, std::optional<CatalogZone>> zones_;
  std::map<std::string, store::ZoneRow> rows_;
  std::map<std::pair<std::string, std::string>, std::optional<json>> records_;
  std::map<std::string, std::optional<store::CheckRow>> checks_;
  std::optional<json> settings_;
};

}  // namespace

Result<Catalog> apply(const Catalog& base, const ChangeBatch& batch, Touched* touched) {
  Catalog c = base;
  if (auto st = apply_in_place(c, batch, touched); !st) {
    return Error{st.error()};
  }
  return c;
}

void add_touched(Touched& into, const Touched& more) {
  into.zones.insert(more.zones.begin(), more.zones.end());
  into.rows.insert(more.rows.begin(), more.rows.end());
  into.records.insert(more.records.begin(), more.records.end());
  into.checks.insert(more.checks.begin(), more.checks.end());
  into.settings = into.settings || more.settings;
}

void copy_touched(Catalog& dst, const Catalog& src, const Touched& t) {
  for (const auto& name : t.zones) {
    if (auto it = src.zones.find(name); it != src.zones.end()) {
      dst.zones[name] = it->second;
    } else {
      dst.zones.erase(name);
    }
  }
  for (const auto& name : t.rows) {
    auto s = src.zones.find(name);
    auto d = dst.zones.find(name);
    if (s != src.zones.end() && d != dst.zones.end()) {
      d->second.row = s->second.row;
    }
  }
  for (const auto& [zone, key] : t.records) {
    if (t.zones.count(zone) != 0) {
      continue;  // copied whole above
    }
    auto s = src.zones.find(zone);
    auto d = dst.zones.find(zone);
    if (s == src.zones.end() || d == dst.zones.end()) {
      continue;
    }
    if (auto r = s->second.records.find(key); r != s->second.records.end()) {
      d->second.records[key] = r->second;
    } else {
      d->second.records.erase(key);
    }
  }
  for (const auto& id : t.checks) {
    if (auto it = src.checks.find(id); it != src.checks.end()) {
      dst.checks[id] = it->second;
    } else {
      dst.checks.erase(id);
    }
  }
  if (t.settings) {
    dst.settings = src.settings;
  }
  dst.revision = src.revision;
}

Status apply_in_place(Catalog& c, const ChangeBatch& batch, Touched* touched_out) {
  Journal j(c);
  std::set<std::string> touched;  // zones whose serial is bumped
  std::set<std::string> created;
  std::map<std::string, uint32_t> declared_serial;    // zone -> serial the batch asked for
  std::map<std::string, std::string> deleted_checks;  // id -> where
  for (size_t i = 0; i < batch.changes.size(); ++i) {
    const Change& ch = batch.changes[i];
    const std::string where = ch.where.empty() ? "change " + std::to_string(i + 1) : ch.where;
    auto fail = [&](const std::string& why) { return Error{where + ": " + why}; };
    switch (ch.kind) {
      case Kind::kZone: {
        std::string key = ch.key;
        if (key.empty() && ch.body.is_object() && ch.body.value("name", json()).is_string()) {
          key = ch.body["name"].get<std::string>();
        }
        if (key.empty()) {
          return fail("zone change without a zone name");
        }
        const std::string name = abs_zone_name(key);
        if (!origin_name(name)) {
          return fail(origin_name(name).error());
        }
        auto it = c.zones.find(name);
        if (ch.action == Action::kDelete) {
          if (it == c.zones.end()) {
            return fail("Tried to delete hosted zone " + name + ", but it was not found");
          }
          if (ch.body.is_object() && ch.body.contains("id") &&
              ch.body["id"] != json(it->second.row.id)) {
            return fail("Tried to delete hosted zone " + name + " with id " + ch.body["id"].dump() +
                        ", but its id is " + it->second.row.id);
          }
          std::vector<std::string> left;
          for (const auto& [k, b] : it->second.records) {
            if (k != name + "/SOA" && k != name + "/NS") {
              left.push_back(k);
            }
          }
          if (!left.empty()) {
            return fail("HostedZoneNotEmpty: hosted zone " + name + " still has " +
                        std::to_string(left.size()) + " record set(s) other than the apex SOA " +
                        "and NS (" + left.front() + (left.size() > 1 ? ", ..." : "") +
                        "); delete them first");
          }
          j.zone_erase(it);
          touched.erase(name);
          created.erase(name);
          break;
        }
        auto row = zone_row_from_json(ch.body, name);
        if (!row) {
          return fail("zone " + name + ": " + row.error());
        }
        if (it != c.zones.end()) {
          if (ch.action == Action::kCreate) {
            return fail("Tried to create hosted zone " + name + ", but it already exists");
          }
          j.row(name);
          store::ZoneRow& cur = it->second.row;
          if (!row->id.empty() && row->id != cur.id) {
            return fail("zone " + name + ": id " + row->id + " does not match " + cur.id);
          }
          if (ch.body.is_object() && ch.body.contains("comment")) {
            cur.comment = row->comment;
          }
          if (ch.body.is_object() && ch.body.contains("settings")) {
            if (auto s = row->settings.find("soa");
                s != row->settings.end() && s->is_object() && s->contains("serial")) {
              if (auto v = as_int((*s)["serial"]); v && *v >= 0 && *v <= 0xFFFFFFFFLL) {
                declared_serial[name] = static_cast<uint32_t>(*v);
              }
            }
            // The serial stays the catalog's (bumped below), whatever the body says.
            json settings = row->settings;
            auto old_soa = cur.settings.find("soa");
            if (settings.contains("soa") && settings["soa"].is_object()) {
              if (old_soa != cur.settings.end() && old_soa->is_object() &&
                  old_soa->contains("serial")) {
                settings["soa"]["serial"] = (*old_soa)["serial"];
              } else {
                settings["soa"].erase("serial");
              }
            }
            cur.settings = std::move(settings);
          }
          touched.insert(name);
          break;
        }
        for (const auto& [zn, z] : c.zones) {
          if (!row->id.empty() && z.row.id == row->id) {
            return fail("zone " + name + ": id " + row->id + " is already used by zone " + zn);
          }
        }
        if (row->id.empty()) {
          row->id = store::make_id('Z');
        }
        if (row->created_ms == 0) {
          row->created_ms = now_ms();
        }
        CatalogZone z;
        z.row = std::move(*row);
        j.zone_create(name);
        c.zones[name] = std::move(z);
        created.insert(name);
        break;
      }
      case Kind::kRecordSet: {
        std::string zone = ch.zone.empty() ? std::string() : abs_zone_name(ch.zone);
        std::string kname, ktype;
        if (!ch.key.empty() && !split_key(ch.key, &kname, &ktype)) {
          return fail("record set key '" + ch.key + "' is not NAME/TYPE");
        }
        // Relative names in the body are relative to the zone (given, or the key's).
        std::string origin = zone;
        if (origin.empty() && !kname.empty()) {
          if (const CatalogZone* z = c.zone_for(kname)) {
            origin = z->row.name;
          }
        }
        json body;
        if (!ch.body.is_null()) {
          auto cb = canonical_record(ch.body, origin.empty() ? "." : origin);
          if (!cb) {
            return fail(cb.error());
          }
          body = std::move(*cb);
        }
        std::string key;
        if (!ch.key.empty()) {
          auto oname = origin_name(origin.empty() ? "." : origin);
          auto n = dns::Name::from_text(kname, oname ? &*oname : nullptr);
          if (!n) {
            return fail("record set key '" + ch.key + "': bad name: " + n.error());
          }
          key = record_key(n->to_text(), ktype);
        }
        if (!body.is_null()) {
          std::string bkey =
              record_key(body["name"].get<std::string>(), body["type"].get<std::string>());
          if (!key.empty() && key != bkey) {
            return fail("record set key " + key + " does not match the body's name and type (" +
                        bkey + ")");
          }
          key = bkey;
        }
        if (key.empty()) {
          return fail("record set change without a key or a body");
        }
        split_key(key, &kname, &ktype);
        const CatalogZone* holder = c.zone_for(kname);
        if (holder == nullptr) {
          return fail("record set " + rrset_words(key) + " is not in any hosted zone" +
                      (zone.empty() ? "" : " (zone " + zone + " does not exist)"));
        }
        if (!zone.empty() && holder->row.name != zone) {
          if (c.zones.count(zone) == 0) {
            return fail("no hosted zone " + zone);
          }
          return fail("record set " + rrset_words(key) + " belongs to zone " + holder->row.name +
                      ", not " + zone);
        }
        zone = holder->row.name;
        if (const std::string* f = zone_file(holder->row)) {
          return fail("zone " + zone + " is served from the master file " + *f +
                      ": edit the file and reload, or import it (steerdns zone import) to " +
                      "manage its records here");
        }
        if (kname == zone && (ktype == "SOA" || ktype == "NS")) {
          // The apex SOA and NS live in the zone settings (Route 53 lets clients edit both,
          // never delete them).
          j.row(zone);
          auto st = apex_change(c.zones[zone].row, ktype, ch.action, body);
          if (!st) {
            return fail(st.error());
          }
          touched.insert(zone);
          if (ktype == "SOA" && body.is_object()) {
            auto v = body.value("values", json::array());
            std::istringstream in(v.empty() || !v[0].is_string() ? "" : v[0].get<std::string>());
            std::string m, r;
            uint64_t serial = 0;
            if (in >> m >> r >> serial && serial <= 0xFFFFFFFFull) {
              declared_serial[zone] = static_cast<uint32_t>(serial);
            }
          }
          break;
        }
        j.record(zone, key);
        auto& records = c.zones[zone].records;
        auto it = records.find(key);
        if (ch.action == Action::kCreate) {
          if (it != records.end()) {
            return fail("Tried to create resource record set " + rrset_words(key) +
                        ", but it already exists");
          }
          if (body.is_null()) {
            return fail("CREATE of " + key + " without a body");
          }
          records[key] = std::move(body);
        } else if (ch.action == Action::kDelete) {
          if (it == records.end()) {
            return fail("Tried to delete resource record set " + rrset_words(key) +
                        ", but it was not found");
          }
          if (!body.is_null() && body != it->second) {
            return fail("Tried to delete resource record set " + rrset_words(key) +
                        ", but the values provided do not match the current values");
          }
          records.erase(it);
        } else {
          if (body.is_null()) {
            return fail("UPSERT of " + key + " without a body");
          }
          records[key] = std::move(body);
        }
        touched.insert(zone);
        break;
      }
      case Kind::kHealthCheck: {
        std::string id = ch.key;
        if (id.empty() && ch.body.is_object() && ch.body.value("id", json()).is_string()) {
          id = ch.body["id"].get<std::string>();
        }
        if (id.empty()) {
          return fail("health check change without an id");
        }
        if (ch.body.is_object() && ch.body.contains("id") && ch.body["id"] != json(id)) {
          return fail("health check " + id + ": the body's id is " + ch.body["id"].dump());
        }
        j.check(id);
        auto it = c.checks.find(id);
        if (ch.action == Action::kDelete) {
          if (it == c.checks.end()) {
            return fail("Tried to delete health check " + id + ", but it was not found");
          }
          if (!ch.body.is_null() && canonical_check(ch.body) != it->second.body) {
            return fail("Tried to delete health check " + id +
                        ", but the values provided do not match the current values");
          }
          c.checks.erase(it);
          deleted_checks[id] = where;
          break;
        }
        if (!ch.body.is_object()) {
          return fail("health check " + id + ": the body must be an object");
        }
        json body = canonical_check(ch.body);
        std::string caller_ref = ch.body.value("caller_ref", std::string());
        if (it != c.checks.end()) {
          if (ch.action == Action::kCreate) {
            return fail("Tried to create health check " + id + ", but it already exists");
          }
          if (it->second.body != body) {
            it->second.body = std::move(body);
            it->second.version += 1;
          }
          break;
        }
        store::CheckRow row;
        row.id = id;
        row.caller_ref = caller_ref;
        row.version = 1;
        row.body = std::move(body);
        c.checks[id] = std::move(row);
        deleted_checks.erase(id);
        break;
      }
      case Kind::kSettings: {
        j.settings();
        if (ch.action == Action::kDelete) {
          c.settings = json::object();
          break;
        }
        if (!ch.body.is_object()) {
          return fail("settings must be an object {latency_map, latency_measured_rtt, geoip, " +
                      std::string("actions, alerts, slo}"));
        }
        static const std::vector<std::string_view> kSettingKeys = {
            "latency_map", "latency_measured_rtt", "geoip", "actions", "alerts", "slo"};
        for (auto it = ch.body.begin(); it != ch.body.end(); ++it) {
          if (std::find(kSettingKeys.begin(), kSettingKeys.end(), it.key()) == kSettingKeys.end()) {
            return fail("settings: unknown key '" + it.key() + "'" +
                        did_you_mean(it.key(), kSettingKeys));
          }
        }
        c.settings = canonical_settings(ch.body);
        break;
      }
    }
  }
  // A deleted check must not be left in use (Route 53: HealthCheckInUse).
  for (const auto& [id, where] : deleted_checks) {
    if (c.checks.count(id) != 0) {
      continue;
    }
    auto users = check_users(c, id);
    if (!users.empty()) {
      return Error{where + ": HealthCheckInUse: health check " + id + " is still used by " +
                   users.front() +
                   (users.size() > 1 ? " and " + std::to_string(users.size() - 1) + " more" : "")};
    }
  }
  for (const auto& name : touched) {
    if (created.count(name) != 0) {
      continue;
    }
    auto zit = c.zones.find(name);
    if (zit == c.zones.end()) {
      continue;
    }
    j.row(name);
    json& settings = zit->second.row.settings;
    if (!settings.is_object()) {
      continue;
    }
    auto soa = settings.find("soa");
    if (soa == settings.end() || !soa->is_object()) {
      continue;  // compile() reports the missing SOA
    }
    uint32_t old = 1;
    if (auto v = as_int(soa->value("serial", json(1)))) {
      old = static_cast<uint32_t>(*v);
    }
    uint32_t next = old + 1;  // RFC 1982: wraps modulo 2^32
    auto d = declared_serial.find(name);
    if (d != declared_serial.end() && serial_newer(d->second, old)) {
      next = d->second;
    }
    (*soa)["serial"] = next;
  }
  j.commit();
  if (touched_out != nullptr) {
    j.touched(*touched_out);
  }
  return OkStatus();
}

// ---- compile ----

namespace {

struct BatchWheres {
  std::map<std::string, std::string> zones, records, checks;
  std::string settings;
};

BatchWheres batch_wheres(const ChangeBatch* batch) {
  BatchWheres w;
  if (batch == nullptr) {
    return w;
  }
  for (size_t i = 0; i < batch->changes.size(); ++i) {
    const Change& ch = batch->changes[i];
    std::string where = ch.where.empty() ? "change " + std::to_string(i + 1) : ch.where;
    where += " (" + std::string(action_name(ch.action)) + " " + ch.key + ")";
    switch (ch.kind) {
      case Kind::kZone:
        w.zones[abs_zone_name(ch.key)] = where;
        break;
      case Kind::kRecordSet: {
        std::string key = ch.key;
        if (ch.body.is_object() && ch.body.value("name", json()).is_string() &&
            ch.body.value("type", json()).is_string()) {
          key = record_key(ch.body["name"].get<std::string>(), ch.body["type"].get<std::string>());
        } else if (std::string n, t; split_key(ch.key, &n, &t)) {
          key = record_key(n, t);
        }
        w.records[key] = where;
        break;
      }
      case Kind::kHealthCheck:
        w.checks[ch.key] = where;
        break;
      case Kind::kSettings:
        w.settings = where;
        break;
    }
  }
  return w;
}

}  // namespace

size_t CompileCache::size() const {
  size_t n = 0;
  for (const auto& [name, z] : zones_) {
    n += z.sets.size();
  }
  return n;
}

Result<LoadedConfig> compile(const Catalog& catalog, const ServerSettings& server,
                             const ChangeBatch* batch, CompileCache* cache) {
  const BatchWheres bw = batch_wheres(batch);
  NodeLoadOptions opts;
  std::map<std::string, std::vector<CompiledRecords>> compiled;
  // Per zone: the keys of the record sets put in the document (cache misses), in order, to
  // pair with what the loader compiled for them; and how many sets the cache answered.
  std::map<std::string, std::vector<const std::string*>> missed;
  std::map<std::string, size_t> hits;
  if (cache != nullptr) {
    opts.compiled = &compiled;
  }
  YAML::Node root(YAML::NodeType::Map);
  if (!catalog.checks.empty()) {
    YAML::Node checks = root["health_checks"];
    size_t i = 0;
    for (const auto& [id, row] : catalog.checks) {
      YAML::Node n = checks[i++];
      fill_yaml(n, row.body.is_object() ? row.body : json::object());
      n["id"] = id;
    }
  }
  if (catalog.settings.is_object()) {
    static const std::vector<std::string_view> kSettingKeys = {
        "latency_map", "latency_measured_rtt", "geoip", "actions", "alerts", "slo"};
    for (auto it = catalog.settings.begin(); it != catalog.settings.end(); ++it) {
      if (std::find(kSettingKeys.begin(), kSettingKeys.end(), it.key()) == kSettingKeys.end()) {
        return Error{(bw.settings.empty() ? std::string("settings") : bw.settings) +
                     ": unknown key '" + it.key() + "'" + did_you_mean(it.key(), kSettingKeys)};
      }
      fill_yaml(root[it.key()], it.value());
    }
  }
  YAML::Node zones = root["zones"];
  if (catalog.zones.empty()) {
    zones = YAML::Node(YAML::NodeType::Sequence);
  }
  size_t zi = 0;
  for (const auto& [name, z] : catalog.zones) {
    YAML::Node zn = zones[zi++];
    json zset = z.row.settings.is_object() ? z.row.settings : json::object();
    zset.erase("file_sha256");  // the catalog's change detector, not a loader key
    fill_yaml(zn, zset);
    zn["name"] = name;
    auto zw = bw.zones.find(name);
    zn["__where"] = zw != bw.zones.end() ? zw->second : "zone " + name;
    CompileCache::Zone* cz = nullptr;  // this zone's entries in the cache
    if (cache != nullptr && zone_file(z.row) == nullptr) {
      json ttl = zset.value("ttl", json());
      cz = &cache->zones_[name];
      if (cz->ttl != ttl) {  // compiled with another default TTL: start over
        cz->sets.clear();
        cz->ttl = std::move(ttl);
      }
      missed[name];
      hits[name] = 0;
    }
    YAML::Node recs;
    size_t ri = 0;
    for (const auto& [key, body] : z.records) {
      auto rw = bw.records.find(key);
      if (cz != nullptr) {
        auto hit = cz->sets.find(key);
        if (hit != cz->sets.end() && hit->second.body == body) {
          opts.precompiled[name].push_back(PrecompiledSet{
              rw != bw.records.end() ? &rw->second : nullptr, name, key, hit->second.records});
          ++hits[name];
          ++cache->hits_;
          continue;
        }
        missed[name].push_back(&key);
        ++cache->misses_;
      }
      if (ri == 0) {
        recs = zn["records"];
      }
      YAML::Node rn = recs[ri++];
      fill_yaml(rn, body);
      rn["__where"] = rw != bw.records.end() ? rw->second : "zone " + name + " record set " + key;
    }
  }
  auto out = load_config_node(root, kSource, opts);
  if (cache != nullptr && out) {
    // The cache keeps this catalog's plain record sets: the misses as just compiled (null =
    // steered, not cached); sets no longer in the catalog are swept when the count says so.
    for (auto& [name, keys] : missed) {
      const auto& got = compiled[name];
      const CatalogZone& z = catalog.zones.at(name);
      CompileCache::Zone& cz = cache->zones_[name];
      size_t cached = hits[name];
      for (size_t i = 0; i < keys.size() && i < got.size(); ++i) {
        if (got[i]) {
          cz.sets.insert_or_assign(*keys[i], CompileCache::Entry{z.records.at(*keys[i]), got[i]});
          ++cached;
        } else {
          cz.sets.erase(*keys[i]);
        }
      }
      if (cz.sets.size() != cached) {
        std::erase_if(cz.sets, [&](const auto& kv) { return z.records.count(kv.first) == 0; });
      }
    }
    std::erase_if(cache->zones_, [&](const auto& kv) { return missed.count(kv.first) == 0; });
  }
  if (!out) {
    std::string msg = out.error();
    // Health checks and settings have no hidden where: name the change that touched them.
    const std::string hc = std::string(kSource) + ": health check '";
    if (msg.rfind(hc, 0) == 0) {
      auto end = msg.find('\'', hc.size());
      std::string id = msg.substr(hc.size(), end == std::string::npos ? 0 : end - hc.size());
      if (auto w = bw.checks.find(id); w != bw.checks.end()) {
        msg = w->second + msg.substr(std::string(kSource).size());
      }
    } else if (!bw.settings.empty() && msg.rfind(std::string(kSource) + ": ", 0) == 0 &&
               (msg.find("latency_map") != std::string::npos ||
                msg.find("geoip") != std::string::npos ||
                msg.find("actions") != std::string::npos ||
                msg.find("alerts") != std::string::npos || msg.find("slo") != std::string::npos)) {
      msg = bw.settings + msg.substr(std::string(kSource).size());
    }
    return Error{msg};
  }
  out->server = server;
  auto rc = std::make_shared<RuntimeConfig>(*out->runtime);  // shares zones and steering
  rc->chaos = server.chaos;
  rc->max_udp_payload = server.max_udp_payload;
  rc->xfr_allow = server.xfr_allow;
  rc->tsig_keys = server.tsig_keys;
  out->runtime = std::move(rc);
  return out;
}

// ---- diff / commit_ops / summaries ----

namespace {

json without_serial(const json& settings) {
  json s = settings;
  if (s.is_object() && s.contains("soa") && s["soa"].is_object()) {
    s["soa"].erase("serial");
  }
  return s;
}

json zone_change_body(const store::ZoneRow& row, const std::string& id) {
  json j = zone_row_json(row);
  j["id"] = id;
  return j;
}

}  // namespace

ChangeBatch diff(const Catalog& from, const Catalog& to, bool compare_serials) {
  auto settings_of = [compare_serials](const json& s) {
    return compare_serials ? s : without_serial(s);
  };
  ChangeBatch b;
  auto add = [&](Action a, Kind k, const std::string& key, const std::string& zone, json body) {
    Change ch;
    ch.action = a;
    ch.kind = k;
    ch.key = key;
    ch.zone = zone;
    ch.body = std::move(body);
    ch.where = std::string(kind_name(k)) + (key.empty() ? "" : " " + key);
    b.changes.push_back(std::move(ch));
  };
  // Checks first (records may use them), deletes last (after the records that used them).
  for (const auto& [id, row] : to.checks) {
    auto it = from.checks.find(id);
    if (it == from.checks.end()) {
      json body = row.body;
      if (!row.caller_ref.empty()) {
        body["caller_ref"] = row.caller_ref;
      }
      add(Action::kCreate, Kind::kHealthCheck, id, "", std::move(body));
    } else if (it->second.body != row.body) {
      add(Action::kUpsert, Kind::kHealthCheck, id, "", row.body);
    }
  }
  if (from.settings != to.settings) {
    add(Action::kUpsert, Kind::kSettings, "", "", to.settings);
  }
  for (const auto& [name, z] : to.zones) {
    auto it = from.zones.find(name);
    if (it == from.zones.end()) {
      add(Action::kCreate, Kind::kZone, name, "", zone_change_body(z.row, z.row.id));
    } else if (settings_of(it->second.row.settings) != settings_of(z.row.settings) ||
               it->second.row.comment != z.row.comment) {
      add(Action::kUpsert, Kind::kZone, name, "", zone_change_body(z.row, it->second.row.id));
    }
  }
  // Record deletes before creates: a CNAME replacing an A at the same name stays valid.
  for (const auto& [name, z] : from.zones) {
    auto tz = to.zones.find(name);
    for (const auto& [key, body] : z.records) {
      if (tz == to.zones.end() || tz->second.records.count(key) == 0) {
        add(Action::kDelete, Kind::kRecordSet, key, name, body);
      }
    }
  }
  for (const auto& [name, z] : to.zones) {
    auto fz = from.zones.find(name);
    for (const auto& [key, body] : z.records) {
      const json* old = nullptr;
      if (fz != from.zones.end()) {
        auto r = fz->second.records.find(key);
        old = r == fz->second.records.end() ? nullptr : &r->second;
      }
      if (old == nullptr) {
        add(Action::kCreate, Kind::kRecordSet, key, name, body);
      } else if (*old != body) {
        add(Action::kUpsert, Kind::kRecordSet, key, name, body);
      }
    }
  }
  for (const auto& [id, row] : from.checks) {
    if (to.checks.count(id) == 0) {
      add(Action::kDelete, Kind::kHealthCheck, id, "", nullptr);
    }
  }
  for (const auto& [name, z] : from.zones) {
    if (to.zones.count(name) == 0) {
      add(Action::kDelete, Kind::kZone, name, "", nullptr);
    }
  }
  return b;
}

namespace {

// The part of `c` that `t` names: whole zones for created/deleted ones, else the zone row and
// the touched record sets only.
Catalog touched_part(const Catalog& c, const Touched& t) {
  Catalog out;
  out.revision = c.revision;
  auto zone = [&](const std::string& name) -> CatalogZone* {
    auto src = c.zones.find(name);
    if (src == c.zones.end()) {
      return nullptr;
    }
    auto [it, fresh] = out.zones.try_emplace(name);
    if (fresh) {
      it->second.row = src->second.row;
    }
    return &it->second;
  };
  for (const auto& name : t.zones) {
    if (auto it = c.zones.find(name); it != c.zones.end()) {
      out.zones[name] = it->second;
    }
  }
  for (const auto& name : t.rows) {
    zone(name);
  }
  for (const auto& [name, key] : t.records) {
    if (t.zones.count(name) != 0) {
      continue;
    }
    if (CatalogZone* z = zone(name)) {
      const auto& src = c.zones.at(name).records;
      if (auto r = src.find(key); r != src.end()) {
        z->records.emplace(key, r->second);
      }
    }
  }
  for (const auto& id : t.checks) {
    if (auto it = c.checks.find(id); it != c.checks.end()) {
      out.checks.emplace(id, it->second);
    }
  }
  if (t.settings) {
    out.settings = c.settings;
  }
  return out;
}

}  // namespace

std::vector<store::Op> commit_ops(const Catalog& from, const Catalog& to, const Touched& t) {
  return commit_ops(touched_part(from, t), touched_part(to, t));
}

std::vector<store::Op> commit_ops(const Catalog& from, const Catalog& to) {
  std::vector<store::Op> ops;
  std::map<std::string, const CatalogZone*> from_ids, to_ids;
  for (const auto& [n, z] : from.zones) {
    from_ids[z.row.id] = &z;
  }
  for (const auto& [n, z] : to.zones) {
    to_ids[z.row.id] = &z;
  }
  for (const auto& [id, fz] : from_ids) {
    if (to_ids.count(id) == 0) {
      store::Op op;
      op.kind = "zone";
      op.key = id;
      op.del = true;
      ops.push_back(std::move(op));
    }
  }
  for (const auto& [id, tz] : to_ids) {
    auto f = from_ids.find(id);
    const CatalogZone* fz = f == from_ids.end() ? nullptr : f->second;
    if (fz == nullptr || zone_row_json(fz->row) != zone_row_json(tz->row)) {
      store::Op op;
      op.kind = "zone";
      op.key = id;
      op.zone = tz->row;
      ops.push_back(std::move(op));
    }
    for (const auto& [key, body] : tz->records) {
      const json* old = nullptr;
      if (fz != nullptr) {
        auto r = fz->records.find(key);
        old = r == fz->records.end() ? nullptr : &r->second;
      }
      if (old == nullptr || *old != body) {
        store::Op op;
        op.kind = "record";
        op.key = key;
        op.zone_id = id;
        op.record = store::RecordRow{id, key, body};
        ops.push_back(std::move(op));
      }
    }
    if (fz != nullptr) {
      for (const auto& [key, body] : fz->records) {
        if (tz->records.count(key) == 0) {
          store::Op op;
          op.kind = "record";
          op.key = key;
          op.zone_id = id;
          op.del = true;
          ops.push_back(std::move(op));
        }
      }
    }
  }
  for (const auto& [id, row] : from.checks) {
    if (to.checks.count(id) == 0) {
      store::Op op;
      op.kind = "check";
      op.key = id;
      op.del = true;
      ops.push_back(std::move(op));
    }
  }
  for (const auto& [id, row] : to.checks) {
    auto f = from.checks.find(id);
    if (f == from.checks.end() || check_json(f->second) != check_json(row)) {
      store::Op op;
      op.kind = "check";
      op.key = id;
      op.check = row;
      ops.push_back(std::move(op));
    }
  }
  if (from.settings != to.settings) {
    store::Op op;
    op.kind = "settings";
    op.settings = to.settings;
    ops.push_back(std::move(op));
  }
  return ops;
}

namespace {

// The current body of what a change names in `c`, or null.
json current_body(const Catalog& c, const Change& ch) {
  switch (ch.kind) {
    case Kind::kZone: {
      auto it = c.zones.find(abs_zone_name(ch.key));
      return it == c.zones.end() ? json() : zone_row_json(it->second.row);
    }
    case Kind::kRecordSet: {
      std::string n, t;
      if (!split_key(ch.key, &n, &t)) {
        return nullptr;
      }
      std::string key = record_key(n, t);
      const CatalogZone* z = ch.zone.empty() ? c.zone_for(n) : nullptr;
      if (z == nullptr) {
        auto it = c.zones.find(abs_zone_name(ch.zone.empty() ? n : ch.zone));
        z = it == c.zones.end() ? nullptr : &it->second;
      }
      if (z == nullptr) {
        return nullptr;
      }
      auto r = z->records.find(key);
      return r == z->records.end() ? json() : r->second;
    }
    case Kind::kHealthCheck: {
      auto it = c.checks.find(ch.key);
      return it == c.checks.end() ? json() : it->second.body;
    }
    case Kind::kSettings:
      return c.settings;
  }
  return nullptr;
}

// The new body of a change in canonical form (null for deletes).
json new_body(const Catalog& c, const Change& ch) {
  if (ch.action == Action::kDelete || ch.body.is_null()) {
    return nullptr;
  }
  switch (ch.kind) {
    case Kind::kRecordSet: {
      std::string origin = ch.zone;
      std::string n, t;
      if (origin.empty() && split_key(ch.key, &n, &t)) {
        if (const CatalogZone* z = c.zone_for(n)) {
          origin = z->row.name;
        }
      }
      auto r = canonical_record(ch.body, origin.empty() ? "." : origin);
      return r ? *r : ch.body;
    }
    case Kind::kHealthCheck:
      return canonical_check(ch.body);
    case Kind::kSettings:
      return canonical_settings(ch.body);
    case Kind::kZone:
      return ch.body;
  }
  return ch.body;
}

std::string short_dump(const json& v) {
  if (v.is_null()) {
    return "(none)";
  }
  return v.dump();
}

void field_diffs(const std::string& path, const json& a, const json& b,
                 std::vector<std::string>& out) {
  if (a == b) {
    return;
  }
  if (a.is_object() && b.is_object()) {
    std::set<std::string> keys;
    for (auto it = a.begin(); it != a.end(); ++it) {
      keys.insert(it.key());
    }
    for (auto it = b.begin(); it != b.end(); ++it) {
      keys.insert(it.key());
    }
    for (const auto& k : keys) {
      json av = a.contains(k) ? a[k] : json();
      json bv = b.contains(k) ? b[k] : json();
      field_diffs(path.empty() ? k : path + "." + k, av, bv, out);
    }
    return;
  }
  auto by_set_id = [](const json& arr) {
    std::map<std::string, json> m;
    for (const auto& x : arr) {
      if (!x.is_object() || !x.contains("set_id") || !x["set_id"].is_string()) {
        return std::optional<std::map<std::string, json>>();
      }
      m[x["set_id"].get<std::string>()] = x;
    }
    return std::optional<std::map<std::string, json>>(m);
  };
  if (path == "members" && a.is_array() && b.is_array()) {
    auto am = by_set_id(a);
    auto bm = by_set_id(b);
    if (am && bm) {
      for (const auto& [id, m] : *am) {
        auto it = bm->find(id);
        if (it == bm->end()) {
          out.push_back("member " + id + " removed");
        } else {
          std::vector<std::string> inner;
          field_diffs("", m, it->second, inner);
          for (const auto& s : inner) {
            out.push_back("member " + id + " " + s);
          }
        }
      }
      for (const auto& [id, m] : *bm) {
        if (am->count(id) == 0) {
          out.push_back("member " + id + " added");
        }
      }
      return;
    }
  }
  out.push_back(path + " " + short_dump(a) + " -> " + short_dump(b));
}

}  // namespace

json change_summary(const ChangeBatch& batch, const Catalog& before) {
  json out = json::array();
  for (const auto& ch : batch.changes) {
    std::string zone = ch.zone;
    std::string key = ch.key;
    if (ch.kind == Kind::kRecordSet) {
      std::string n, t;
      if (split_key(ch.key, &n, &t)) {
        key = record_key(n, t);
        if (zone.empty()) {
          if (const CatalogZone* z = before.zone_for(n)) {
            zone = z->row.name;
          }
        }
      }
    }
    out.push_back(json{{"action", action_name(ch.action)},
                       {"kind", kind_name(ch.kind)},
                       {"key", key},
                       {"zone", zone},
                       {"before", current_body(before, ch)},
                       {"after", new_body(before, ch)}});
  }
  return out;
}

std::string plan_text(const ChangeBatch& batch, const Catalog& before) {
  if (batch.changes.empty()) {
    return "No changes.\n";
  }
  std::string out;
  for (const auto& ch : batch.changes) {
    json cur = current_body(before, ch);
    std::string head = std::string(kind_name(ch.kind)) + (ch.key.empty() ? "" : " " + ch.key);
    if (ch.action == Action::kDelete) {
      out += "- " + head + "  (delete)\n";
    } else if (cur.is_null() || ch.action == Action::kCreate) {
      out += "+ " + head + "  (create)\n";
    } else {
      std::vector<std::string> d;
      json nb = new_body(before, ch);
      if (ch.kind == Kind::kZone) {
        field_diffs("",
                    json{{"comment", cur.value("comment", json())},
                         {"settings", without_serial(cur.value("settings", json()))}},
                    json{{"comment", nb.value("comment", json())},
                         {"settings", without_serial(nb.value("settings", json()))}},
                    d);
      } else {
        field_diffs("", cur, nb, d);
      }
      std::string joined;
      for (const auto& s : d) {
        joined += (joined.empty() ? "" : "; ") + s;
      }
      out += "~ " + head + "  " + (joined.empty() ? "(no change)" : joined) + "\n";
    }
  }
  return out;
}

// ---- JSON ----

json to_json(const Catalog& catalog) {
  json zones = json::array();
  for (const auto& [name, z] : catalog.zones) {
    json zj = zone_row_json(z.row);
    json recs = json::array();
    for (const auto& [key, body] : z.records) {
      recs.push_back(body);
    }
    zj["records"] = std::move(recs);
    zones.push_back(std::move(zj));
  }
  json checks = json::array();
  for (const auto& [id, row] : catalog.checks) {
    checks.push_back(check_json(row));
  }
  return json{{"revision", catalog.revision},
              {"zones", std::move(zones)},
              {"health_checks", std::move(checks)},
              {"settings", catalog.settings}};
}

Result<Catalog> catalog_from_json(const json& j) {
  if (!j.is_object()) {
    return Error{"catalog: must be an object {zones, health_checks, settings}, not " +
                 std::string(j.type_name())};
  }
  auto check_keys = [](const json& o, const std::string& path,
                       const std::vector<std::string_view>& keys) -> Status {
    for (auto it = o.begin(); it != o.end(); ++it) {
      if (std::find(keys.begin(), keys.end(), it.key()) == keys.end()) {
        return Error{path + ": unknown key '" + it.key() + "'" + did_you_mean(it.key(), keys)};
      }
    }
    return OkStatus();
  };
  auto st = check_keys(j, "catalog", {"revision", "zones", "health_checks", "settings"});
  if (!st) {
    return Error{st.error()};
  }
  Catalog c;
  if (auto r = j.find("revision"); r != j.end()) {
    auto v = as_int(*r);
    if (!v || !r->is_number()) {
      return Error{"revision: must be a whole number"};
    }
    c.revision = *v;
  }
  if (auto s = j.find("settings"); s != j.end() && !s->is_null()) {
    if (!s->is_object()) {
      return Error{"settings: must be an object"};
    }
    auto sst =
        check_keys(*s, "settings", {"latency_map", "latency_measured_rtt", "geoip", "actions", "alerts", "slo"});
    if (!sst) {
      return Error{sst.error()};
    }
    c.settings = canonical_settings(*s);
  }
  if (auto hc = j.find("health_checks"); hc != j.end() && !hc->is_null()) {
    if (!hc->is_array()) {
      return Error{"health_checks: must be a list"};
    }
    for (size_t i = 0; i < hc->size(); ++i) {
      const json& cj = (*hc)[i];
      std::string path = "health_checks[" + std::to_string(i) + "]";
      if (!cj.is_object() || !cj.contains("id") || !cj["id"].is_string() ||
          cj["id"].get_ref<const std::string&>().empty()) {
        return Error{path + ": must be an object with a string 'id'"};
      }
      store::CheckRow row;
      row.id = cj["id"].get<std::string>();
      if (auto cr = cj.find("caller_ref"); cr != cj.end() && !cr->is_null()) {
        if (!cr->is_string()) {
          return Error{path + ": 'caller_ref' must be a string"};
        }
        row.caller_ref = cr->get<std::string>();
      }
      if (auto v = cj.find("version"); v != cj.end()) {
        auto n = as_int(*v);
        if (!n || !v->is_number() || *n < 1) {
          return Error{path + ": 'version' must be a whole number >= 1"};
        }
        row.version = *n;
      }
      row.body = canonical_check(cj);
      if (c.checks.count(row.id) != 0) {
        return Error{path + ": health check '" + row.id + "' given twice"};
      }
      c.checks[row.id] = std::move(row);
    }
  }
  if (auto zs = j.find("zones"); zs != j.end() && !zs->is_null()) {
    if (!zs->is_array()) {
      return Error{"zones: must be a list"};
    }
    for (size_t i = 0; i < zs->size(); ++i) {
      const json& zj = (*zs)[i];
      std::string path = "zones[" + std::to_string(i) + "]";
      if (!zj.is_object()) {
        return Error{path + ": must be an object"};
      }
      auto zst = check_keys(
          zj, path, {"id", "name", "caller_ref", "comment", "settings", "created_ms", "records"});
      if (!zst) {
        return Error{zst.error()};
      }
      if (!zj.contains("name") || !zj["name"].is_string() ||
          zj["name"].get_ref<const std::string&>().empty()) {
        return Error{path + ": a zone needs a 'name'"};
      }
      std::string name = abs_zone_name(zj["name"].get<std::string>());
      if (auto o = origin_name(name); !o) {
        return Error{path + ": " + o.error()};
      }
      json row_body = zj;
      row_body.erase("records");
      auto row = zone_row_from_json(row_body, name);
      if (!row) {
        return Error{path + ": " + row.error()};
      }
      if (c.zones.count(name) != 0) {
        return Error{path + ": zone " + name + " given twice"};
      }
      CatalogZone z;
      z.row = std::move(*row);
      c.zones[name] = std::move(z);
    }
    // Records after every zone is known: each must be in its zone, not in a child zone.
    for (size_t i = 0; i < zs->size(); ++i) {
      const json& zj = (*zs)[i];
      std::string name = abs_zone_name(zj["name"].get<std::string>());
      auto rs = zj.find("records");
      if (rs == zj.end() || rs->is_null()) {
        continue;
      }
      if (!rs->is_array()) {
        return Error{"zones[" + std::to_string(i) + "].records: must be a list"};
      }
      for (size_t k = 0; k < rs->size(); ++k) {
        std::string path = "zones[" + std::to_string(i) + "].records[" + std::to_string(k) + "]";
        auto body = canonical_record((*rs)[k], name);
        if (!body) {
          return Error{path + ": " + body.error()};
        }
        std::string key =
            record_key((*body)["name"].get<std::string>(), (*body)["type"].get<std::string>());
        const CatalogZone* holder = c.zone_for((*body)["name"].get<std::string>());
        if (holder == nullptr || holder->row.name != name) {
          return Error{path + ": record set " + rrset_words(key) + " is not in zone " + name +
                       (holder ? " (it belongs to zone " + holder->row.name + ")" : "")};
        }
        auto& recs = c.zones[name].records;
        if (recs.count(key) != 0) {
          return Error{path + ": record set " + key + " given twice"};
        }
        recs[key] = std::move(*body);
      }
    }
  }
  return c;
}

// ---- zone import / export ----

namespace {

// The record sets of a built zone: SOA and apex NS to the settings, the rest to records.
Result<CatalogZone> zone_to_catalog(const zone::Zone& z) {
  CatalogZone cz;
  const std::string origin = lower(z.origin().to_text());
  cz.row.name = origin;
  cz.row.id = store::make_id('Z');
  json settings = json::object();
  for (size_t i = 0; i < z.node_count(); ++i) {
    const zone::Node& n = z.node(static_cast<uint32_t>(i));
    const std::string owner = lower(z.name(n).to_text());
    const bool apex = (n.flags & zone::nodeflag::kApex) != 0;
    for (const auto& rs : z.rrsets(n)) {
      std::vector<std::string> values;
      z.for_each_rdata(rs, [&](const uint8_t* rd, uint16_t len) {
        values.push_back(dns::rdata_to_text(rs.type, rd, len));
      });
      if (apex && rs.type == dns::rrtype::SOA && !values.empty()) {
        std::istringstream in(values[0]);
        std::string mname, rname;
        uint64_t serial = 0, refresh = 0, retry = 0, expire = 0, minimum = 0;
        if (!(in >> mname >> rname >> serial >> refresh >> retry >> expire >> minimum)) {
          return Error{origin + ": cannot read the SOA '" + values[0] + "'"};
        }
        settings["soa"] = json{{"mname", lower(mname)}, {"rname", lower(rname)}, {"serial", serial},
                               {"refresh", refresh},    {"retry", retry},        {"expire", expire},
                               {"minimum", minimum},    {"ttl", rs.ttl}};
        continue;
      }
      if (apex && rs.type == dns::rrtype::NS) {
        json ns = json::array();
        for (const auto& v : values) {
          ns.push_back(lower(v));
        }
        settings["ns"] = std::move(ns);
        settings["ttl"] = rs.ttl;
        continue;
      }
      json body{{"name", owner},
                {"type", dns::type_to_text(rs.type)},
                {"ttl", rs.ttl},
                {"values", values}};
      auto cb = canonical_record(body, origin);
      if (!cb) {
        return Error{origin + ": " + owner + " " + dns::type_to_text(rs.type) + ": " + cb.error()};
      }
      cz.records[record_key(owner, dns::type_to_text(rs.type))] = std::move(*cb);
    }
  }
  cz.row.settings = std::move(settings);
  return cz;
}

// The structured comment export writes before a steered set's fail-open answer. A comment, so
// NSD, Knot, BIND and libzscanner skip it; only import_file reads it.
constexpr std::string_view kSteerdnsTag = ";steerdns:";
constexpr std::string_view kSteeredWord = "steered";

// Puts the steered record sets held by the `;steerdns:steered {json}` comments of master file
// `path` in place of the plain record sets of the same name and type (their fail-open answers,
// which the zone loader read as ordinary records).
Status restore_steered(CatalogZone& cz, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Error{"cannot read " + path + ": " + std::generic_category().message(errno)};
  }
  auto origin = origin_name(cz.row.name);
  if (!origin) {
    return Error{origin.error()};
  }
  std::set<std::string> seen;
  std::string line;
  for (size_t no = 1; std::getline(in, line); ++no) {
    const size_t p = line.find_first_not_of(" \t");
    if (p == std::string::npos || line.compare(p, kSteerdnsTag.size(), kSteerdnsTag) != 0) {
      continue;
    }
    const std::string at = path + ":" + std::to_string(no) + ": ";
    std::string rest = line.substr(p + kSteerdnsTag.size());
    while (!rest.empty() && (rest.back() == '\r' || rest.back() == ' ' || rest.back() == '\t')) {
      rest.pop_back();
    }
    const size_t sp = rest.find_first_of(" \t");
    const std::string word = rest.substr(0, sp);
    if (word != kSteeredWord) {
      return Error{at + "unknown steerdns comment ';steerdns:" + word +
                   "' (the only one is ';steerdns:steered {json record set}')"};
    }
    const std::string text = sp == std::string::npos ? "" : rest.substr(sp + 1);
    json j;
    try {
      j = json::parse(text);
    } catch (const json::exception& e) {
      std::string why = e.what();
      if (auto b = why.find("] "); why.rfind("[json.exception", 0) == 0 && b != std::string::npos) {
        why = why.substr(b + 2);
      }
      return Error{at + "steered record set comment: the JSON does not parse: " + why};
    }
    if (!j.is_object()) {
      return Error{at + "steered record set comment: expected a JSON object, not " +
                   std::string(j.type_name())};
    }
    if (!j.contains("members")) {
      return Error{at + "steered record set comment: no 'members' (a plain record set is an " +
                   "ordinary master-file line)"};
    }
    auto body = canonical_record(j, cz.row.name);
    if (!body) {
      return Error{at + "steered record set comment: " + body.error()};
    }
    const std::string owner = (*body)["name"].get<std::string>();
    const std::string key = record_key(owner, (*body)["type"].get<std::string>());
    auto on = dns::Name::from_text(owner);
    if (!on || !on->is_subdomain_of(*origin)) {
      return Error{at + "steered record set " + key + " is not in zone " + cz.row.name};
    }
    if (!seen.insert(key).second) {
      return Error{at + "steered record set " + key + " is given twice"};
    }
    cz.records[key] = std::move(*body);
  }
  if (in.bad()) {
    return Error{"cannot read " + path + ": read error"};
  }
  return OkStatus();
}

Result<CatalogZone> import_file(const std::string& origin, const std::string& path,
                                uint32_t default_ttl) {
  auto o = origin_name(origin);
  if (!o) {
    return Error{o.error()};
  }
  zone::LoadOptions opts;
  opts.default_ttl = default_ttl;
  auto z = zone::load_zone_file(*o, path, nullptr, opts);
  if (!z) {
    return Error{z.error()};
  }
  auto cz = zone_to_catalog(**z);
  if (!cz) {
    return cz;
  }
  if (auto st = restore_steered(*cz, path); !st) {
    return Error{st.error()};
  }
  return cz;
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) {
    s.replace(p, from.size(), to);
  }
}

}  // namespace

std::vector<std::string> check_users(const Catalog& c, const std::string& id) {
  std::vector<std::string> out;
  for (const auto& [zn, z] : c.zones) {
    for (const auto& [key, body] : z.records) {
      auto m = body.find("members");
      if (m == body.end() || !m->is_array()) {
        continue;
      }
      for (const auto& mem : *m) {
        if (mem.is_object() && mem.value("health_check", json()) == json(id)) {
          out.push_back("record set " + key + " (member " +
                        mem.value("set_id", std::string("?")) + ")");
        }
      }
    }
  }
  for (const auto& [cid, row] : c.checks) {
    for (const auto& k : row.body.value("children", json::array())) {
      if (k == json(id)) {
        out.push_back("calculated health check " + cid);
      }
    }
  }
  return out;
}

const std::string* zone_file(const store::ZoneRow& row) {
  if (!row.settings.is_object()) {
    return nullptr;
  }
  auto it = row.settings.find("file");
  return it != row.settings.end() && it->is_string() ? it->get_ptr<const std::string*>() : nullptr;
}

Result<std::string> file_sha256(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Error{"cannot read " + path + ": " + std::generic_category().message(errno)};
  }
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
    return Error{"sha256: cannot initialise a digest"};
  }
  std::vector<char> buf(1 << 16);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    if (in.gcount() > 0) {
      EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<size_t>(in.gcount()));
    }
  }
  if (in.bad()) {
    return Error{"cannot read " + path + ": read error"};
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &len);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

Result<CatalogZone> file_zone(const std::string& origin, const std::string& path) {
  const std::string name = abs_zone_name(origin);
  if (auto o = origin_name(name); !o) {
    return Error{"zone " + name + ": " + o.error()};
  }
  std::error_code ec;
  std::string abs = std::filesystem::absolute(path, ec).lexically_normal().string();
  if (ec) {
    abs = path;
  }
  auto sum = file_sha256(abs);
  if (!sum) {
    return Error{"zone " + name + ": " + sum.error()};
  }
  CatalogZone cz;
  cz.row.name = name;
  cz.row.id = store::make_id('Z');
  cz.row.settings = json{{"file", abs}, {"file_sha256", *sum}};
  return cz;
}

Result<CatalogZone> import_zone_file(const std::string& origin, const std::string& path) {
  return import_file(origin, path, 3600);
}

Result<CatalogZone> import_zone_text(const std::string& origin, const std::string& text) {
  // libzscanner reports line numbers for files; the text goes through a private temp file.
  std::string tmpl = (std::filesystem::temp_directory_path() / "sdzone.XXXXXX").string();
  int fd = mkstemp(tmpl.data());
  if (fd < 0) {
    return Error{"zone import: cannot create a temporary file"};
  }
  close(fd);
  {
    std::ofstream out(tmpl, std::ios::binary);
    out << text;
    if (!out) {
      std::filesystem::remove(tmpl);
      return Error{"zone import: cannot write a temporary file"};
    }
  }
  auto r = import_file(origin, tmpl, 3600);
  std::error_code ec;
  std::filesystem::remove(tmpl, ec);
  if (!r) {
    std::string msg = r.error();
    replace_all(msg, tmpl, "zone " + abs_zone_name(origin) + " text");
    return Error{msg};
  }
  return r;
}

Result<std::string> export_zone_text(const Catalog& catalog, const std::string& zone_name) {
  const std::string name = abs_zone_name(zone_name);
  if (catalog.zones.count(name) == 0) {
    return Error{"no hosted zone " + name};
  }
  auto cfg = compile(catalog, ServerSettings{});
  if (!cfg) {
    return Error{cfg.error()};
  }
  const zone::Zone* z = nullptr;
  for (const auto& zp : cfg->runtime->zones()) {
    if (lower(zp->origin().to_text()) == name) {
      z = zp.get();
    }
  }
  if (z == nullptr) {
    return Error{"zone " + name + " did not compile"};
  }
  std::string out = "; zone " + name + " exported by steerdns\n$ORIGIN " + name + "\n";
  auto write_rrset = [&](const std::string& owner, const zone::RRset& rs) {
    z->for_each_rdata(rs, [&](const uint8_t* rd, uint16_t len) {
      out += owner + " " + std::to_string(rs.ttl) + " IN " + dns::type_to_text(rs.type) + " " +
             dns::rdata_to_text(rs.type, rd, len) + "\n";
    });
  };
  write_rrset(z->origin().to_text(), z->soa());
  const auto& spec = cfg->steering_spec;
  // Each steered set also as its whole body, which import_file restores (see catalog.h).
  const auto& records = catalog.zones.at(name).records;
  std::set<std::string> written;
  auto write_steered = [&](const std::string& key) {
    auto it = records.find(key);
    if (it != records.end() && it->second.contains("members") && written.insert(key).second) {
      out += std::string(kSteerdnsTag) + std::string(kSteeredWord) + " " +
             it->second.dump(-1, ' ', true, json::error_handler_t::replace) + "\n";
    }
  };
  for (size_t i = 0; i < z->node_count(); ++i) {
    const zone::Node& n = z->node(static_cast<uint32_t>(i));
    const std::string owner = z->name(n).to_text();
    for (const auto& rs : z->rrsets(n)) {
      if (&rs == &z->soa()) {
        continue;
      }
      if (rs.steer != zone::kNone && spec && rs.steer < spec->record_sets.size()) {
        const auto& set = spec->record_sets[rs.steer];
        std::string members;
        for (const auto& m : set.members) {
          members += (members.empty() ? "" : ", ") + m.set_id;
        }
        out += "; steered " + set.key() + ": policy " + policy::policy_name(set.policy) +
               ", members " + members + "; fail-open answer:\n";
        write_steered(set.key());
      }
      write_rrset(owner, rs);
    }
  }
  // Steered sets the zone has no answer for (none is served) still go into the file.
  for (const auto& [key, body] : records) {
    if (body.contains("members") && written.count(key) == 0) {
      out += "; steered " + key + ": no fail-open answer\n";
      write_steered(key);
    }
  }
  return out;
}

// ---- from_config_file ----

Result<Catalog> from_config_file(const std::string& path, ServerSettings* server) {
  auto loaded = load_config_file(path);
  if (!loaded) {
    return Error{loaded.error()};
  }
  if (server != nullptr) {
    *server = loaded->server;
  }
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    return Error{path + ": " + e.msg};
  }
  const std::filesystem::path dir = std::filesystem::path(path).parent_path();
  auto resolve = [&](const std::string& p) {
    if (p.empty() || std::filesystem::path(p).is_absolute()) {
      return p;
    }
    std::error_code ec;
    auto abs = std::filesystem::absolute(dir / p, ec);
    return ec ? (dir / p).string() : abs.lexically_normal().string();
  };
  Catalog c;
  // Health checks: list or {id: body} form.
  if (YAML::Node hc = root["health_checks"]; hc && !hc.IsNull()) {
    auto add_check = [&](const std::string& id, json body) {
      body.erase("id");
      for (const char* k : {"ca_file", "file"}) {
        if (auto it = body.find(k); it != body.end() && it->is_string()) {
          *it = resolve(it->get<std::string>());
        }
      }
      store::CheckRow row;
      row.id = id;
      row.body = canonical_check(body);
      c.checks[id] = std::move(row);
    };
    if (hc.IsSequence()) {
      for (const auto& n : hc) {
        json body = from_yaml(n);
        add_check(body.value("id", std::string()), body);
      }
    } else if (hc.IsMap()) {
      for (const auto& kv : hc) {
        add_check(kv.first.Scalar(), from_yaml(kv.second));
      }
    }
  }
  json settings = json::object();
  for (const char* k : {"latency_map", "latency_measured_rtt", "geoip", "actions", "alerts", "slo"}) {
    if (YAML::Node n = root[k]; n) {
      settings[k] = from_yaml(n);
    }
  }
  if (auto g = settings.find("geoip"); g != settings.end() && g->is_object()) {
    if (auto d = g->find("database"); d != g->end() && d->is_string()) {
      *d = resolve(d->get<std::string>());
    }
  }
  c.settings = canonical_settings(settings);
  if (YAML::Node zs = root["zones"]; zs && zs.IsSequence()) {
    for (const auto& zn : zs) {
      json zj = from_yaml(zn);
      std::string name = abs_zone_name(zj["name"].get<std::string>());
      auto origin = origin_name(name);
      if (!origin) {
        return Error{path + ": " + origin.error()};
      }
      json zset = json::object();
      if (zj.contains("ttl")) {
        zset["ttl"] = zj["ttl"];
      }
      CatalogZone cz;
      if (zj.contains("file")) {
        auto fz = file_zone(name, resolve(zj["file"].get<std::string>()));
        if (!fz) {
          return Error{path + ": " + fz.error()};
        }
        cz = std::move(*fz);
        if (zset.contains("ttl")) {
          cz.row.settings["ttl"] = zset["ttl"];
          cz.row.settings = canonical_zone_settings(cz.row.settings, name);
        }
      } else {
        for (const char* k : {"soa", "ns"}) {
          if (zj.contains(k)) {
            zset[k] = zj[k];
          }
        }
        cz.row.settings = canonical_zone_settings(zset, name);
        if (auto rs = zj.find("records"); rs != zj.end() && rs->is_array()) {
          for (const auto& r : *rs) {
            auto body = canonical_record(r, name);
            if (!body) {
              return Error{path + ": zone " + name + ": " + body.error()};
            }
            std::string key =
                record_key((*body)["name"].get<std::string>(), (*body)["type"].get<std::string>());
            auto it = cz.records.find(key);
            // Plain records of one (name, type) may be spread over several entries: one set.
            if (it != cz.records.end() && !body->contains("members") &&
                !it->second.contains("members") && body->contains("values") &&
                it->second.contains("values")) {
              for (const auto& v : (*body)["values"]) {
                it->second["values"].push_back(v);
              }
            } else {
              cz.records[key] = std::move(*body);
            }
          }
        }
      }
      cz.row.name = name;
      cz.row.id = store::make_id('Z');
      c.zones[name] = std::move(cz);
    }
  }
  return c;
}

}  // namespace steerdns::config
