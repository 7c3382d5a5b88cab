#include "api/route53/routes.h"

#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "api/route53/xml.h"
#include "config/catalog.h"
#include "config/loader.h"
#include "config/suggest.h"
#include "control/plane.h"
#include "core/text.h"
#include "dns/name.h"
#include "dns/rdata.h"
#include "dns/rrtype.h"
#include "store/store.h"
#include "zone/loader.h"
#include "zone/zone.h"

namespace steerdns::api {
namespace {

using nlohmann::json;
using route53::add;
using route53::Elem;
using route53::invalid_change_batch;
using route53::invalid_input;
using route53::Route53Error;

constexpr char kPrefix[] = "/2013-04-01";
constexpr size_t kMaxChanges = 1000;

// ---------------------------------------------------------------------------------------------
// Small helpers.

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string uuid() {
  unsigned char b[16];
  if (RAND_bytes(b, sizeof b) != 1) {
    throw std::runtime_error("RAND_bytes failed");
  }
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) {
      out += '-';
    }
    out += kHex[b[i] >> 4];
    out += kHex[b[i] & 15];
  }
  return out;
}

bool is_ip(const std::string& s) {
  boost::system::error_code ec;
  boost::asio::ip::make_address(s, ec);
  return !ec;
}

// "127.0.0.1:4000", "[::1]:4000" -> on loopback?
bool remote_is_loopback(const std::string& remote) {
  std::string host = remote;
  if (!host.empty() && host.front() == '[') {
    host = host.substr(1, host.find(']') - 1);
  } else if (auto c = host.rfind(':'); c != std::string::npos) {
    host = host.substr(0, c);
  }
  boost::system::error_code ec;
  auto a = boost::asio::ip::make_address(host, ec);
  if (ec) {
    return false;
  }
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, a.to_v6()).is_loopback();
  }
  return a.is_loopback();
}

// Route 53 ids arrive bare ("Z123") or with their resource prefix ("/hostedzone/Z123").
std::string strip_prefix(std::string id, std::string_view prefix) {
  if (id.rfind(prefix, 0) == 0) {
    id = id.substr(prefix.size());
  }
  return id;
}

// A name as Route 53 takes it: always absolute, lower case; \052 and other escapes allowed.
std::optional<dns::Name> parse_name(std::string text) {
  if (text.empty()) {
    return std::nullopt;
  }
  if (text.back() != '.') {
    text += '.';
  }
  auto n = dns::Name::from_text(text);
  if (!n) {
    return std::nullopt;
  }
  return n->lowered();
}

// Route 53 prints '*' labels as \052.
std::string r53_name(const std::string& name) {
  if (name.rfind("*.", 0) == 0) {
    return "\\052" + name.substr(1);
  }
  return name;
}

int64_t as_seconds(const json& v, int64_t fallback) {
  if (v.is_number_integer()) {
    return v.get<int64_t>();
  }
  if (v.is_string()) {
    auto d = config::parse_duration_ms(v.get<std::string>());
    if (d) {
      return *d / 1000;
    }
    try {
      return std::stoll(v.get<std::string>());
    } catch (...) {
      return fallback;
    }
  }
  return fallback;
}

int64_t zone_ttl(const config::CatalogZone& z) {
  return as_seconds(z.row.settings.value("ttl", json()), 3600);
}

// Labels from the root, for Route 53's listing order.
std::vector<std::string> reversed_labels(const std::string& name) {
  std::vector<std::string> labels;
  std::string cur;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    if (c == '\\' && i + 1 < name.size()) {
      cur += c;
      cur += name[++i];
      continue;
    }
    if (c == '.') {
      labels.push_back(cur);
      cur.clear();
      continue;
    }
    cur += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  if (!cur.empty()) {
    labels.push_back(cur);
  }
  std::reverse(labels.begin(), labels.end());
  return labels;
}

// ---------------------------------------------------------------------------------------------
// Route 53 record sets (one per name, type and SetIdentifier) and our record sets (one per
// name and type, holding them as members).

struct Geo {
  std::string continent, country, subdivision;
  bool operator==(const Geo&) const = default;
};

struct RRset {
  std::string name;  // absolute, lower case, '*' unescaped
  std::string type;  // mnemonic
  std::string set_id;
  std::optional<int64_t> ttl;
  std::vector<std::string> values;  // master-file presentation, names absolute
  bool alias = false;
  std::string alias_zone;  // hosted zone id of the target
  std::string alias_name;  // absolute
  bool alias_eval = false;
  std::string health_check;
  std::string failover;  // PRIMARY / SECONDARY
  std::optional<int64_t> weight;
  std::string region;
  std::optional<Geo> geo;
  bool multivalue = false;
  std::string unexpressible;  // why Route 53 cannot express this member (listing still shows it)

  std::string policy() const {
    if (!failover.empty()) {
      return "failover";
    }
    if (weight) {
      return "weighted";
    }
    if (!region.empty()) {
      return "latency";
    }
    if (geo) {
      return "geo";
    }
    if (multivalue) {
      return "multivalue";
    }
    return "simple";
  }
  // Route 53's "[name='www.example.test.', type='A', set-identifier='x']".
  std::string words() const {
    return "[name='" + name + "', type='" + type + "'" +
           (set_id.empty() ? "" : ", set-identifier='" + set_id + "'") + "]";
  }
  bool same(const RRset& o) const {
    auto sv = values;
    auto ov = o.values;
    std::sort(sv.begin(), sv.end());
    std::sort(ov.begin(), ov.end());
    return name == o.name && type == o.type && set_id == o.set_id &&
           (alias || o.alias || ttl == o.ttl) && sv == ov && alias == o.alias &&
           alias_name == o.alias_name && (!alias || alias_eval == o.alias_eval) &&
           health_check == o.health_check && failover == o.failover && weight == o.weight &&
           region == o.region && geo == o.geo && multivalue == o.multivalue;
  }
};

// Canonical presentation of one value (names absolute: Route 53 never appends an origin).
Result<std::string> canonical_value(const dns::Name& owner, uint16_t type, const std::string& v,
                                    const dns::Name& origin) {
  if (v.find_first_of("\r\n") != std::string::npos) {
    return Error{"a value must be on one line"};
  }
  zone::ZoneBuilder scratch(dns::Name{});
  zone::TextRecordParser parser(origin, 0);
  std::string line = owner.to_text() + " 0 IN " + dns::type_to_text(type) + " " +
                     config::record_value_presentation(type, v);
  auto st = parser.parse(line, scratch, "", 1);
  if (!st) {
    std::string msg = st.error();
    if (msg.rfind(":1: ", 0) == 0) {
      msg = msg.substr(4);
    }
    return Error{msg};
  }
  auto rd = scratch.rdata_of(owner, type);
  if (rd.size() != 1) {
    return Error{"not exactly one record"};
  }
  return dns::rdata_to_text(type, rd[0].data(), rd[0].size());
}

std::string location_of(const Geo& g) {
  if (!g.continent.empty()) {
    return "continent:" + g.continent;
  }
  if (!g.subdivision.empty()) {
    return g.country + "-" + g.subdivision;
  }
  return g.country;
}

Geo geo_of(const std::string& loc) {
  Geo g;
  if (loc.rfind("continent:", 0) == 0) {
    g.continent = upper(loc.substr(10));
  } else if (auto dash = loc.find('-'); dash != std::string::npos) {
    g.country = upper(loc.substr(0, dash));
    g.subdivision = upper(loc.substr(dash + 1));
  } else {
    g.country = upper(loc);
  }
  return g;
}

// Our record set body -> its Route 53 record sets.
std::vector<RRset> expand(const config::Catalog& cat, const config::CatalogZone& z,
                          const json& body) {
  std::vector<RRset> out;
  RRset base;
  base.name = lower(body.value("name", std::string()));
  base.type = body.value("type", std::string());
  auto origin = dns::Name::from_text(z.row.name);
  auto owner = dns::Name::from_text(base.name);
  auto type = dns::type_from_text(base.type);
  auto canon = [&](const json& vals) {
    std::vector<std::string> o;
    if (!vals.is_array()) {
      return o;
    }
    for (const auto& v : vals) {
      std::string text = v.is_string() ? v.get<std::string>() : v.dump();
      if (origin && owner && type) {
        if (auto c = canonical_value(*owner, *type, text, *origin)) {
          text = *c;
        }
      }
      o.push_back(text);
    }
    return o;
  };
  int64_t ttl = as_seconds(body.value("ttl", json()), zone_ttl(z));
  auto members = body.find("members");
  if (members == body.end() || !members->is_array()) {
    base.ttl = ttl;
    base.values = canon(body.value("values", json::array()));
    out.push_back(base);
    return out;
  }
  std::string policy = body.value("policy", std::string("simple"));
  for (const auto& m : *members) {
    RRset r = base;
    if (policy != "simple") {
      r.set_id = m.value("set_id", std::string());
    }
    if (auto a = m.find("alias"); a != m.end() && a->is_object()) {
      r.alias = true;
      std::string an = lower(a->value("name", std::string()));
      if (!an.empty() && an.back() != '.') {
        an += "." + z.row.name;
      }
      r.alias_name = an;
      r.alias_eval = a->value("evaluate_target_health", true);
      if (const config::CatalogZone* tz = cat.zone_for(an)) {
        r.alias_zone = tz->row.id;
      }
    } else {
      r.ttl = ttl;
      r.values = canon(m.value("values", json::array()));
    }
    r.health_check = m.value("health_check", std::string());
    if (policy == "failover") {
      int tier = 0;
      if (auto t = m.find("tier"); t != m.end() && t->is_number_integer()) {
        tier = t->get<int>();
      } else if (m.value("role", std::string()) == "primary") {
        tier = 1;
      } else if (m.value("role", std::string()) == "secondary") {
        tier = 2;
      }
      r.failover = tier == 1 ? "PRIMARY" : "SECONDARY";
      if (tier > 2) {
        r.unexpressible = "failover tier " + std::to_string(tier);
      }
    } else if (policy == "weighted") {
      r.weight = m.value("weight", int64_t{0});
    } else if (policy == "latency") {
      r.region = m.value("region", std::string());
    } else if (policy == "geo") {
      auto locs = m.value("locations", json::array());
      r.geo = Geo{};
      if (!locs.empty() && locs[0].is_string()) {
        std::string l = locs[0].get<std::string>();
        r.geo = l == "*" ? Geo{"", "*", ""} : geo_of(l);
      }
      if (locs.size() > 1) {
        r.unexpressible = "a geo member with " + std::to_string(locs.size()) + " locations";
      }
    } else if (policy == "multivalue") {
      r.multivalue = true;
    } else if (policy != "simple") {
      r.unexpressible = "the " + policy + " policy";
    }
    out.push_back(std::move(r));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Catalog access and responses.

struct Ctx {
  Services svc;
  Route53Keys keys;

  control::Plane& plane() const {
    if (svc.plane == nullptr) {
      throw Route53Error(503, "ServiceUnavailable", "the control plane is not running");
    }
    return *svc.plane;
  }
  std::shared_ptr<const config::Catalog> catalog() const { return plane().catalog(); }
};

const config::CatalogZone& find_zone(const config::Catalog& cat, const std::string& raw_id) {
  std::string id = strip_prefix(raw_id, "/hostedzone/");
  const config::CatalogZone* z = cat.zone_by_id(id);
  if (z == nullptr) {
    throw Route53Error(404, "NoSuchHostedZone", "No hosted zone found with ID: " + id);
  }
  return *z;
}

const store::CheckRow& find_check(const config::Catalog& cat, const std::string& raw_id) {
  std::string id = strip_prefix(raw_id, "/healthcheck/");
  auto it = cat.checks.find(id);
  if (it == cat.checks.end()) {
    throw Route53Error(404, "NoSuchHealthCheck",
                       "No health check exists with the specified ID " + id + ".");
  }
  return it->second;
}

std::vector<RRset> zone_rrsets(const config::Catalog& cat, const config::CatalogZone& z) {
  std::vector<RRset> out;
  const json& s = z.row.settings;
  int64_t ttl = zone_ttl(z);
  if (auto soa = s.find("soa"); soa != s.end() && soa->is_object()) {
    RRset r;
    r.name = z.row.name;
    r.type = "SOA";
    r.ttl = as_seconds(soa->value("ttl", json()), ttl);
    auto num = [&](const char* k, int64_t d) {
      return std::to_string(as_seconds(soa->value(k, json()), d));
    };
    r.values.push_back(soa->value("mname", std::string()) + " " +
                       soa->value("rname", std::string()) + " " + num("serial", 1) + " " +
                       num("refresh", 3600) + " " + num("retry", 900) + " " +
                       num("expire", 1209600) + " " + num("minimum", 300));
    out.push_back(r);
  }
  if (auto ns = s.find("ns"); ns != s.end() && ns->is_array() && !ns->empty()) {
    RRset r;
    r.name = z.row.name;
    r.type = "NS";
    r.ttl = ttl;
    for (const auto& n : *ns) {
      r.values.push_back(n.is_string() ? n.get<std::string>() : n.dump());
    }
    out.push_back(r);
  }
  for (const auto& [key, body] : z.records) {
    if (key == z.row.name + "/SOA" || key == z.row.name + "/NS") {
      continue;  // the apex's, from the settings above
    }
    auto part = expand(cat, z, body);
    out.insert(out.end(), part.begin(), part.end());
  }
  std::sort(out.begin(), out.end(), [](const RRset& a, const RRset& b) {
    auto la = reversed_labels(a.name);
    auto lb = reversed_labels(b.name);
    if (la != lb) {
      return la < lb;
    }
    if (a.type != b.type) {
      return a.type < b.type;
    }
    return a.set_id < b.set_id;
  });
  return out;
}

void write_rrset(pugi::xml_node parent, const RRset& r) {
  pugi::xml_node n = add(parent, "ResourceRecordSet");
  add(n, "Name", r53_name(r.name));
  add(n, "Type", r.type);
  if (!r.set_id.empty()) {
    add(n, "SetIdentifier", r.set_id);
  }
  if (r.weight) {
    add(n, "Weight", std::to_string(*r.weight));
  }
  if (!r.region.empty()) {
    add(n, "Region", r.region);
  }
  if (r.geo) {
    pugi::xml_node g = add(n, "GeoLocation");
    if (!r.geo->continent.empty()) {
      add(g, "ContinentCode", r.geo->continent);
    }
    if (!r.geo->country.empty()) {
      add(g, "CountryCode", r.geo->country);
    }
    if (!r.geo->subdivision.empty()) {
      add(g, "SubdivisionCode", r.geo->subdivision);
    }
  }
  if (!r.failover.empty()) {
    add(n, "Failover", r.failover);
  }
  if (r.multivalue) {
    add(n, "MultiValueAnswer", "true");
  }
  if (r.alias) {
    pugi::xml_node a = add(n, "AliasTarget");
    add(a, "HostedZoneId", r.alias_zone);
    add(a, "DNSName", r53_name(r.alias_name));
    add(a, "EvaluateTargetHealth", r.alias_eval ? "true" : "false");
  } else {
    add(n, "TTL", std::to_string(r.ttl.value_or(300)));
    pugi::xml_node rrs = add(n, "ResourceRecords");
    for (const auto& v : r.values) {
      add(add(rrs, "ResourceRecord"), "Value", v);
    }
  }
  if (!r.health_check.empty()) {
    add(n, "HealthCheckId", r.health_check);
  }
}

size_t rrset_count(const config::Catalog& cat, const config::CatalogZone& z) {
  size_t n = 2;  // SOA and NS
  for (const auto& [key, body] : z.records) {
    if (key == z.row.name + "/SOA" || key == z.row.name + "/NS") {
      continue;
    }
    auto m = body.find("members");
    n += (m != body.end() && m->is_array()) ? m->size() : 1;
  }
  (void)cat;
  return n;
}

void write_zone(pugi::xml_node parent, const config::Catalog& cat, const config::CatalogZone& z) {
  pugi::xml_node n = add(parent, "HostedZone");
  add(n, "Id", "/hostedzone/" + z.row.id);
  add(n, "Name", z.row.name);
  add(n, "CallerReference", z.row.caller_ref);
  pugi::xml_node c = add(n, "Config");
  if (!z.row.comment.empty()) {
    add(c, "Comment", z.row.comment);
  }
  add(c, "PrivateZone", "false");
  add(n, "ResourceRecordSetCount", std::to_string(rrset_count(cat, z)));
}

void write_delegation(pugi::xml_node parent, const config::CatalogZone& z) {
  pugi::xml_node d = add(parent, "DelegationSet");
  pugi::xml_node ns = add(d, "NameServers");
  if (auto it = z.row.settings.find("ns"); it != z.row.settings.end() && it->is_array()) {
    for (const auto& n : *it) {
      std::string s = n.is_string() ? n.get<std::string>() : n.dump();
      if (!s.empty() && s.back() == '.') {
        s.pop_back();  // Route 53 lists name servers without the final dot
      }
      add(ns, "NameServer", s);
    }
  }
}

void write_change(pugi::xml_node parent, const store::ChangeRow& c) {
  pugi::xml_node n = add(parent, "ChangeInfo");
  add(n, "Id", "/change/" + c.id);
  add(n, "Status", c.status.empty() ? "PENDING" : c.status);
  add(n, "SubmittedAt", route53::iso8601(c.submitted_ms));
  if (!c.comment.empty()) {
    add(n, "Comment", c.comment);
  }
}

// The ChangeInfo for a submit: a batch that changed nothing reports the newest change (the
// state asked for is in sync when that one is).
store::ChangeRow change_of(Ctx& ctx, const control::SubmitResult& r, const std::string& comment) {
  if (!r.no_op) {
    return r.change;
  }
  auto latest = ctx.plane().store().changes(1);
  if (latest && !latest->empty()) {
    return latest->front();
  }
  store::ChangeRow c;
  c.id = store::make_id('C');
  c.status = "INSYNC";
  c.submitted_ms = now_ms();
  c.comment = comment;
  return c;
}

// Submits a builder; structured errors thrown inside it come back out as themselves, the
// plane's validation errors as `fallback_code`.
using Build = std::function<config::ChangeBatch(const config::Catalog&)>;

control::SubmitResult submit(Ctx& ctx, const Build& fn, const std::string& fallback_code) {
  auto err = std::make_shared<std::optional<Route53Error>>();
  auto res =
      ctx.plane().submit([fn, err](const config::Catalog& cat) -> Result<config::ChangeBatch> {
        try {
          return fn(cat);
        } catch (const Route53Error& e) {
          *err = e;
          return Error{e.what()};
        } catch (const std::exception& e) {
          *err = Route53Error(500, "InternalFailure", e.what());
          return Error{e.what()};
        }
      });
  if (!res) {
    if (*err) {
      throw **err;
    }
    const std::string& msg = res.error();
    // The store out of reach (fleet: etcd lost its quorum): nothing was written; the AWS CLI
    // retries a 503 ServiceUnavailable by itself.
    if (store::wraps_unavailable(msg)) {
      throw Route53Error(503, "ServiceUnavailable", msg);
    }
    if (msg.find("HealthCheckInUse") != std::string::npos) {
      throw Route53Error(400, "HealthCheckInUse", msg);
    }
    if (msg.find("HostedZoneNotEmpty") != std::string::npos) {
      throw Route53Error(400, "HostedZoneNotEmpty", msg);
    }
    if (fallback_code == "InvalidChangeBatch") {
      invalid_change_batch({msg});
    }
    throw Route53Error(400, fallback_code, msg);
  }
  return *res;
}

size_t max_items(const Request& req, size_t def, size_t cap) {
  auto v = req.query_value("maxitems");
  if (!v) {
    return def;
  }
  size_t n = 0;
  try {
    n = static_cast<size_t>(std::stoul(*v));
  } catch (...) {
    invalid_input("Invalid value for maxitems: '" + *v + "' is not a number");
  }
  if (n == 0) {
    invalid_input("Invalid value for maxitems: must be at least 1");
  }
  return std::min(n, cap);
}

// ---------------------------------------------------------------------------------------------
// Hosted zones.

// The Location header of a 201: the new resource's URL as the client addressed this server.
void add_location(Response& resp, const Request& req, const std::string& resource) {
  std::string host(req.header(http::field::host));
  resp.headers.emplace_back("Location",
                            "http://" + (host.empty() ? "localhost" : host) + kPrefix + resource);
}

Response create_zone(Ctx& ctx, const Request& req, const std::string& who) {
  pugi::xml_document doc;
  Elem root = route53::parse_request(doc, req.body(), "CreateHostedZoneRequest");
  root.only({"Name", "VPC", "CallerReference", "HostedZoneConfig", "DelegationSetId"});
  if (root.has("VPC")) {
    invalid_input("Private hosted zones (VPC) are not supported by steerdns");
  }
  if (root.has("DelegationSetId")) {
    invalid_input("Reusable delegation sets (DelegationSetId) are not supported by steerdns");
  }
  std::string name_text = root.required_text("Name");
  auto name = parse_name(name_text);
  if (!name || name->is_root()) {
    throw Route53Error(400, "InvalidDomainName", "'" + name_text + "' is not a valid domain name");
  }
  std::string zone_name = name->to_text();
  std::string caller_ref = root.required_text("CallerReference");
  if (caller_ref.empty() || caller_ref.size() > 128) {
    invalid_input("CallerReference must be 1 to 128 characters");
  }
  std::string comment;
  if (auto cfg = root.child("HostedZoneConfig")) {
    cfg->only({"Comment", "PrivateZone"});
    comment = cfg->text("Comment").value_or("");
    if (comment.size() > 256) {
      invalid_input("HostedZoneConfig/Comment is longer than 256 characters");
    }
    if (cfg->boolean("PrivateZone").value_or(false)) {
      invalid_input("Private hosted zones are not supported by steerdns");
    }
  }
  std::string id = store::make_id('Z');
  auto r = submit(
      ctx,
      [&](const config::Catalog& cat) {
        for (const auto& [zn, z] : cat.zones) {
          if (!caller_ref.empty() && z.row.caller_ref == caller_ref) {
            throw Route53Error(409, "HostedZoneAlreadyExists",
                               "A hosted zone has already been created with the specified "
                               "caller reference (" +
                                   caller_ref + ": " + zn + ", " + z.row.id + ").");
          }
        }
        if (auto it = cat.zones.find(zone_name); it != cat.zones.end()) {
          throw Route53Error(409, "HostedZoneAlreadyExists",
                             "A hosted zone named " + zone_name + " already exists (" +
                                 it->second.row.id +
                                 "); steerdns serves one hosted zone per "
                                 "name.");
        }
        // The delegation set: the servers that serve the other zones serve this one too.
        json settings = config::default_zone_settings(zone_name, &cat);
        config::ChangeBatch b;
        b.author = who;
        b.comment = comment;
        config::Change ch;
        ch.action = config::Action::kCreate;
        ch.kind = config::Kind::kZone;
        ch.key = zone_name;
        ch.body = {{"id", id},
                   {"name", zone_name},
                   {"caller_ref", caller_ref},
                   {"comment", comment},
                   {"settings", settings}};
        ch.where = "CreateHostedZone " + zone_name;
        b.changes.push_back(std::move(ch));
        return b;
      },
      "InvalidInput");
  auto cat = ctx.catalog();
  auto it = cat->zones.find(zone_name);
  if (it == cat->zones.end()) {
    throw Route53Error(500, "InternalFailure", "zone " + zone_name + " vanished after creation");
  }
  pugi::xml_document out;
  pugi::xml_node root_out = route53::start_response(out, "CreateHostedZoneResponse");
  write_zone(root_out, *cat, it->second);
  write_change(root_out, change_of(ctx, r, comment));
  write_delegation(root_out, it->second);
  Response resp = route53::xml_response(201, out);
  add_location(resp, req, "/hostedzone/" + it->second.row.id);
  return resp;
}

Response get_zone(Ctx& ctx, const Request& req, const std::string&) {
  auto cat = ctx.catalog();
  const auto& z = find_zone(*cat, req.param("id"));
  pugi::xml_document out;
  pugi::xml_node root = route53::start_response(out, "GetHostedZoneResponse");
  write_zone(root, *cat, z);
  write_delegation(root, z);
  return route53::xml_response(200, out);
}

Response list_zones(Ctx& ctx, const Request& req, const std::string&) {
  auto cat = ctx.catalog();
  size_t max = max_items(req, 100, 100);
  auto marker = req.query_value("marker");
  if (req.query_value("delegationsetid")) {
    invalid_input("Reusable delegation sets are not supported by steerdns");
  }
  std::vector<const config::CatalogZone*> zones;
  for (const auto& [n, z] : cat->zones) {
    zones.push_back(&z);
  }
  size_t start = 0;
  if (marker) {
    std::string m = strip_prefix(*marker, "/hostedzone/");
    auto it = std::find_if(zones.begin(), zones.end(),
                           [&](const config::CatalogZone* z) { return z->row.id == m; });
    if (it == zones.end()) {
      invalid_input("Invalid marker '" + *marker + "': no such hosted zone");
    }
    start = static_cast<size_t>(it - zones.begin());
  }
  pugi::xml_document out;
  pugi::xml_node root = route53::start_response(out, "ListHostedZonesResponse");
  pugi::xml_node list = add(root, "HostedZones");
  size_t i = start;
  for (; i < zones.size() && i < start + max; ++i) {
    write_zone(list, *cat, *zones[i]);
  }
  add(root, "Marker", marker.value_or(""));
  bool truncated = i < zones.size();
  add(root, "IsTruncated", truncated ? "true" : "false");
  if (truncated) {
    add(root, "NextMarker", zones[i]->row.id);
  }
  add(root, "MaxItems", std::to_string(max));
  return route53::xml_response(200, out);
}

Response list_zones_by_name(Ctx& ctx, const Request& req, const std::string&) {
  auto cat = ctx.catalog();
  size_t max = max_items(req, 100, 100);
  std::vector<const config::CatalogZone*> zones;
  for (const auto& [n, z] : cat->zones) {
    zones.push_back(&z);
  }
  std::sort(zones.begin(), zones.end(), [](const auto* a, const auto* b) {
    return reversed_labels(a->row.name) < reversed_labels(b->row.name);
  });
  size_t start = 0;
  auto dnsname = req.query_value("dnsname");
  if (dnsname) {
    auto n = parse_name(*dnsname);
    if (!n) {
      throw Route53Error(400, "InvalidDomainName", "'" + *dnsname + "' is not a valid domain name");
    }
    auto key = reversed_labels(n->to_text());
    while (start < zones.size() && reversed_labels(zones[start]->row.name) < key) {
      ++start;
    }
  }
  pugi::xml_document out;
  pugi::xml_node root = route53::start_response(out, "ListHostedZonesByNameResponse");
  pugi::xml_node list = add(root, "HostedZones");
  size_t i = start;
  for (; i < zones.size() && i < start + max; ++i) {
    write_zone(list, *cat, *zones[i]);
  }
  if (dnsname) {
    add(root, "DNSName", *dnsname);
  }
  bool truncated = i < zones.size();
  add(root, "IsTruncated", truncated ? "true" : "false");
  if (truncated) {
    add(root, "NextDNSName", zones[i]->row.name);
    add(root, "NextHostedZoneId", zones[i]->row.id);
  }
  add(root, "MaxItems", std::to_string(max));
  return route53::xml_response(200, out);
}

Response delete_zone(Ctx& ctx, const Request& req, const std::string& who) {
  std::string raw_id = req.param("id");
  { find_zone(*ctx.catalog(), raw_id); }  // 404 before anything else
  auto r = submit(
      ctx,
      [&](const config::Catalog& cat) {
        const auto& z = find_zone(cat, raw_id);
        for (const auto& [key, body] : z.records) {
          if (key != z.row.name + "/SOA" && key != z.row.name + "/NS") {
            throw Route53Error(400, "HostedZoneNotEmpty",
                               "The specified hosted zone contains non-required resource record "
                               "sets and so cannot be deleted (" +
                                   key + ", and " + std::to_string(z.records.size() - 1) +
                                   " more).");
          }
        }
        config::ChangeBatch b;
        b.author = who;
        config::Change ch;
        ch.action = config::Action::kDelete;
        ch.kind = config::Kind::kZone;
        ch.key = z.row.name;
        ch.where = "DeleteHostedZone " + z.row.name;
        b.changes.push_back(std::move(ch));
        return b;
      },
      "InvalidInput");
  pugi::xml_document out;
  pugi::xml_node root = route53::start_response(out, "DeleteHostedZoneResponse");
  write_change(root, change_of(ctx, r, ""));
  return route53::xml_response(200, out);
}

// ---------------------------------------------------------------------------------------------
// Record sets.

struct ParsedChange {
  std::string action;  // CREATE, DELETE, UPSERT
  RRset rr;
  int index = 0;             // 1-based
  std::string desc;          // "[Action=CREATE, Name=..., Type=A, SetIdentifier=x]"
  std::string alias_target;  // raw DNSName (for messages)
};

const std::set<std::string> kContinents = {"AF", "AN", "AS", "EU", "OC", "NA", "SA"};

// Parses one Change; problems go to `msgs` (Route 53 reports them all at once).
std::optional<ParsedChange> parse_change(const Elem& c, int index, std::vector<std::string>& msgs) {
  c.only({"Action", "ResourceRecordSet"});
  ParsedChange pc;
  pc.index = index;
  pc.action = c.required_text("Action");
  if (pc.action != "CREATE" && pc.action != "DELETE" && pc.action != "UPSERT") {
    invalid_input("Invalid value for " + c.path() + "/Action: '" + pc.action +
                  "' is not CREATE, DELETE or UPSERT" +
                  config::did_you_mean(pc.action, {"CREATE", "DELETE", "UPSERT"}));
  }
  Elem rs = c.required("ResourceRecordSet");
  rs.only({"Name", "Type", "SetIdentifier", "Weight", "Region", "GeoLocation", "Failover",
           "MultiValueAnswer", "TTL", "ResourceRecords", "AliasTarget", "HealthCheckId",
           "TrafficPolicyInstanceId", "CidrRoutingConfig", "GeoProximityLocation"});
  RRset& r = pc.rr;
  std::string name_text = rs.required_text("Name");
  std::string type_text = upper(rs.required_text("Type"));
  r.set_id = rs.text("SetIdentifier").value_or("");
  pc.desc = "[Action=" + pc.action + ", Name=" + name_text + ", Type=" + type_text +
            ", SetIdentifier=" + (r.set_id.empty() ? "null" : r.set_id) + "]";
  auto name = parse_name(name_text);
  if (!name) {
    msgs.push_back("Invalid Resource Record Set: the name '" + name_text +
                   "' is not a valid domain name in Change " + pc.desc);
    return std::nullopt;
  }
  r.name = name->to_text();
  auto type = dns::type_from_text(type_text);
  if (!type || dns::is_meta_type(*type)) {
    invalid_input("Invalid value for " + rs.path() + "/Type: unknown record type '" + type_text +
                  "'");
  }
  r.type = dns::type_to_text(*type);
  for (const char* unsupported :
       {"TrafficPolicyInstanceId", "CidrRoutingConfig", "GeoProximityLocation"}) {
    if (rs.has(unsupported)) {
      msgs.push_back(std::string(unsupported) + " is not supported by steerdns (Change " + pc.desc +
                     "); use the native API for subnet routing");
      return std::nullopt;
    }
  }
  if (r.set_id.size() > 128) {
    msgs.push_back("SetIdentifier is longer than 128 characters in Change " + pc.desc);
  }
  int routing = 0;
  if (auto w = rs.integer("Weight", 0, 255)) {
    r.weight = *w;
    ++routing;
  }
  if (auto reg = rs.text("Region")) {
    if (reg->empty()) {
      msgs.push_back("Region is empty in Change " + pc.desc);
    }
    r.region = *reg;
    ++routing;
  }
  if (auto f = rs.text("Failover")) {
    if (*f != "PRIMARY" && *f != "SECONDARY") {
      invalid_input("Invalid value for " + rs.path() + "/Failover: '" + *f +
                    "' is not PRIMARY or SECONDARY");
    }
    r.failover = *f;
    ++routing;
  }
  if (auto g = rs.child("GeoLocation")) {
    g->only({"ContinentCode", "CountryCode", "SubdivisionCode"});
    Geo geo;
    geo.continent = g->text("ContinentCode").value_or("");
    geo.country = g->text("CountryCode").value_or("");
    geo.subdivision = g->text("SubdivisionCode").value_or("");
    bool ok = true;
    if (!geo.continent.empty() && (!geo.country.empty() || !geo.subdivision.empty())) {
      ok = false;
    }
    if (geo.continent.empty() && geo.country.empty()) {
      ok = false;
    }
    if (!geo.continent.empty() && kContinents.count(geo.continent) == 0) {
      ok = false;
    }
    if (!geo.country.empty() && geo.country != "*" &&
        (geo.country.size() != 2 || !std::isupper(static_cast<unsigned char>(geo.country[0])) ||
         !std::isupper(static_cast<unsigned char>(geo.country[1])))) {
      ok = false;
    }
    if (!geo.subdivision.empty() && (geo.country.empty() || geo.country == "*")) {
      ok = false;
    }
    if (!ok) {
      msgs.push_back("Invalid GeoLocation (ContinentCode='" + geo.continent + "', CountryCode='" +
                     geo.country + "', SubdivisionCode='" + geo.subdivision +
                     "'): give a ContinentCode (AF, AN, AS, EU, OC, NA, SA), or a CountryCode "
                     "(ISO 3166 alpha-2, or * for the default) with an optional SubdivisionCode, "
                     "in Change " +
                     pc.desc);
    }
    r.geo = geo;
    ++routing;
  }
  // Only `true` chooses multivalue routing: counting `false` as a policy kept the SetIdentifier
  // of a record set that then became a plain record, which a DELETE of the same set never found.
  if (auto mv = rs.boolean("MultiValueAnswer"); mv && *mv) {
    r.multivalue = true;
    ++routing;
  }
  static const std::string kOneOf =
      "[Weight, Region, Failover, GeoLocation, MultiValueAnswer, GeoProximityLocation, or "
      "CidrRoutingConfig]";
  if (!r.set_id.empty() && routing == 0) {
    msgs.push_back("Invalid request: Expected exactly one of " + kOneOf +
                   ", but found none in Change with " + pc.desc);
  } else if (routing > 1) {
    msgs.push_back("Invalid request: Expected exactly one of " + kOneOf +
                   ", but found more than one in Change with " + pc.desc);
  } else if (r.set_id.empty() && routing == 1) {
    msgs.push_back("Invalid request: Missing field 'SetIdentifier' in Change with " + pc.desc);
  }
  auto ttl = rs.integer("TTL", 0, 2147483647);
  auto recs = rs.child("ResourceRecords");
  auto alias = rs.child("AliasTarget");
  static const std::string kShape =
      "[AliasTarget, all of [TTL, and ResourceRecords], or TrafficPolicyInstanceId]";
  if (alias && (ttl || recs)) {
    msgs.push_back("Invalid request: Expected exactly one of " + kShape +
                   ", but found more than one in Change with " + pc.desc);
    return std::nullopt;
  }
  if (!alias && !(ttl && recs)) {
    msgs.push_back("Invalid request: Expected exactly one of " + kShape +
                   ", but found none in Change with " + pc.desc);
    return std::nullopt;
  }
  if (alias) {
    alias->only({"HostedZoneId", "DNSName", "EvaluateTargetHealth"});
    r.alias = true;
    r.alias_zone = strip_prefix(alias->required_text("HostedZoneId"), "/hostedzone/");
    pc.alias_target = alias->required_text("DNSName");
    auto an = parse_name(pc.alias_target);
    if (!an) {
      msgs.push_back("Invalid alias target name '" + pc.alias_target + "' in Change " + pc.desc);
      return std::nullopt;
    }
    r.alias_name = an->to_text();
    auto eval = alias->boolean("EvaluateTargetHealth");
    if (!eval) {
      invalid_input("Missing element " + alias->path() + "/EvaluateTargetHealth");
    }
    r.alias_eval = *eval;
  } else {
    r.ttl = *ttl;
    recs->only({"ResourceRecord"}, {"ResourceRecord"});
    auto items = recs->children("ResourceRecord");
    if (items.empty()) {
      msgs.push_back("Invalid request: ResourceRecords is empty in Change with " + pc.desc);
    }
    std::set<std::string> seen;
    for (const auto& item : items) {
      item.only({"Value"});
      std::string v = item.required_text("Value");
      auto cv = canonical_value(*name, *type, v, dns::Name{});
      if (!cv) {
        msgs.push_back("Invalid Resource Record: '" + cv.error() + "' encountered with '" + v +
                       "' in Change " + pc.desc);
        continue;
      }
      if (!seen.insert(*cv).second) {
        msgs.push_back("Duplicate Resource Record: '" + v + "' in Change " + pc.desc);
        continue;
      }
      r.values.push_back(*cv);
    }
    if (*type == dns::rrtype::CNAME && r.values.size() > 1) {
      msgs.push_back("RRSet of type CNAME with DNS name " + r.name +
                     " has more than one value; a CNAME has exactly one");
    }
  }
  if (auto hc = rs.text("HealthCheckId")) {
    r.health_check = *hc;
  }
  return pc;
}

// One (name, type) while a batch is translated.
struct Group {
  std::string zone;                  // zone name
  json before;                       // our body before the batch (null: none)
  std::vector<RRset> sets;           // Route 53 record sets now
  std::vector<json> origin_members;  // parallel to sets: the member json it came from, if any
  std::vector<int> changes;          // indexes of the changes that touched it
};

json member_json(const RRset& r, const std::string& policy) {
  json m = json::object();
  m["set_id"] = r.set_id.empty() ? "default" : r.set_id;
  if (policy == "failover") {
    m["tier"] = r.failover == "PRIMARY" ? 1 : 2;
  } else if (policy == "weighted") {
    m["weight"] = r.weight.value_or(0);
  } else if (policy == "latency") {
    m["region"] = r.region;
  } else if (policy == "geo") {
    m["locations"] = json::array({r.geo ? location_of(*r.geo) : "*"});
  }
  if (r.alias) {
    m["alias"] = {
        {"name", r.alias_name}, {"type", r.type}, {"evaluate_target_health", r.alias_eval}};
  } else {
    m["values"] = r.values;
  }
  if (!r.health_check.empty()) {
    m["health_check"] = r.health_check;
  }
  return m;
}

// Our body for a group's Route 53 record sets (null when none is left).
json collapse(const Group& g, std::vector<std::string>& msgs) {
  if (g.sets.empty()) {
    return json();
  }
  const RRset& first = g.sets.front();
  std::string policy = first.policy();
  std::string words = "RRSet with DNS name " + first.name + " and type " + first.type;
  for (const auto& r : g.sets) {
    if (r.policy() != policy) {
      msgs.push_back(words + " mixes routing policies (" + policy + " and " + r.policy() +
                     "); all record sets with the same name and type must use the same one");
      return json();
    }
    if (r.set_id.empty() != first.set_id.empty()) {
      msgs.push_back(words + " mixes record sets with and without SetIdentifier");
      return json();
    }
    if (!r.unexpressible.empty()) {
      msgs.push_back(words + " uses " + r.unexpressible +
                     ", which the Route 53 API cannot express; change it with the native API "
                     "or the config file");
      return json();
    }
  }
  std::optional<int64_t> ttl;
  for (const auto& r : g.sets) {
    if (r.alias) {
      continue;
    }
    if (ttl && *ttl != *r.ttl) {
      msgs.push_back(words +
                     ": all record sets with the same name and type must have the same "
                     "TTL in steerdns (" +
                     std::to_string(*ttl) + " and " + std::to_string(*r.ttl) + ")");
      return json();
    }
    ttl = r.ttl;
  }
  bool before_steered = g.before.is_object() && g.before.contains("members");
  std::string before_policy =
      before_steered ? g.before.value("policy", std::string("simple")) : std::string();
  if (policy == "simple" && !first.alias && first.health_check.empty()) {
    return json{
        {"name", first.name}, {"type", first.type}, {"ttl", *first.ttl}, {"values", first.values}};
  }
  json body = json::object();
  if (before_steered && before_policy == policy) {
    body = g.before;  // keeps the orchestration settings (failover_ttl, failback, ...)
  }
  body["name"] = first.name;
  body["type"] = first.type;
  body["policy"] = policy;
  if (ttl) {
    body["ttl"] = *ttl;
  }
  json members = json::array();
  for (size_t i = 0; i < g.sets.size(); ++i) {
    if (!g.origin_members[i].is_null()) {
      members.push_back(g.origin_members[i]);
    } else {
      json m = member_json(g.sets[i], policy);
      if (policy == "simple" && before_steered && before_policy == "simple") {
        auto bm = g.before.find("members");
        if (bm != g.before.end() && bm->is_array() && !bm->empty()) {
          m["set_id"] = (*bm)[0].value("set_id", std::string("default"));
        }
      }
      members.push_back(std::move(m));
    }
  }
  body["members"] = std::move(members);
  return body;
}

config::ChangeBatch translate(const config::Catalog& cat, const std::string& raw_zone_id,
                              const std::vector<ParsedChange>& changes, const std::string& comment,
                              const std::string& who) {
  const config::CatalogZone& zone = find_zone(cat, raw_zone_id);
  std::vector<std::string> msgs;
  std::map<std::string, Group> groups;  // by record key
  std::vector<std::string> order;       // keys in first-touch order
  json apex;                            // new zone settings (apex SOA/NS UPSERTs); null: none
  auto origin = dns::Name::from_text(zone.row.name);
  for (const auto& pc : changes) {
    const RRset& r = pc.rr;
    auto owner = dns::Name::from_text(r.name);
    if (!owner->is_subdomain_of(*origin)) {
      msgs.push_back("RRSet with DNS name " + r.name + " is not permitted in zone " +
                     zone.row.name);
      continue;
    }
    if (r.type == "SOA" || (r.name == zone.row.name && r.type == "NS")) {
      // The apex SOA and NS live in the zone's settings: Route 53 lets them be UPSERTed only.
      if (r.name != zone.row.name) {
        msgs.push_back("RRSet of type SOA with DNS name " + r.name +
                       " is not permitted: the only SOA is at the apex of zone " + zone.row.name);
      } else if (pc.action == "CREATE") {
        msgs.push_back("Tried to create resource record set " + r.words() +
                       " but it already exists");
      } else if (pc.action == "DELETE") {
        msgs.push_back(r.type == "SOA" ? "A HostedZone must contain exactly one SOA record."
                                       : "A HostedZone must contain at least one NS record for "
                                         "the zone itself.");
      } else if (!r.set_id.empty() || r.alias || !r.health_check.empty()) {
        msgs.push_back("The apex " + r.type + " of zone " + zone.row.name +
                       " cannot have a SetIdentifier, an AliasTarget or a HealthCheckId");
      } else {
        if (apex.is_null()) {
          apex = zone.row.settings;
        }
        if (r.type == "NS") {
          apex["ns"] = r.values;
          apex["ttl"] = *r.ttl;  // the zone's default TTL is the NS TTL
        } else {
          std::vector<std::string> f;
          if (r.values.size() == 1) {
            std::string word;
            for (char ch : r.values[0] + " ") {
              if (ch == ' ') {
                if (!word.empty()) {
                  f.push_back(word);
                }
                word.clear();
              } else {
                word += ch;
              }
            }
          }
          if (f.size() != 7) {
            msgs.push_back("The SOA of zone " + zone.row.name + " must have exactly one value");
            continue;
          }
          // The serial stays the catalog's (every change bumps it).
          apex["soa"] = {{"mname", f[0]},
                         {"rname", f[1]},
                         {"refresh", std::stoll(f[3])},
                         {"retry", std::stoll(f[4])},
                         {"expire", std::stoll(f[5])},
                         {"minimum", std::stoll(f[6])},
                         {"ttl", *r.ttl}};
        }
      }
      continue;
    }
    if (r.name == zone.row.name && r.type == "CNAME") {
      msgs.push_back("RRSet of type CNAME with DNS name " + r.name +
                     " is not permitted at apex in zone " + zone.row.name);
      continue;
    }
    if (const config::CatalogZone* holder = cat.zone_for(r.name);
        holder != nullptr && holder->row.name != zone.row.name) {
      msgs.push_back("RRSet with DNS name " + r.name + " is not permitted in zone " +
                     zone.row.name + ": it belongs to the hosted zone " + holder->row.name + " (" +
                     holder->row.id + ")");
      continue;
    }
    if (!r.health_check.empty() && cat.checks.count(r.health_check) == 0) {
      msgs.push_back("Invalid request: the health check " + r.health_check +
                     " does not exist (Change " + pc.desc + ")");
      continue;
    }
    if (r.alias && pc.action != "DELETE") {
      const config::CatalogZone* tz = cat.zone_by_id(r.alias_zone);
      if (tz == nullptr) {
        msgs.push_back("Tried to create an alias that targets " + r.alias_name + ", type " +
                       r.type + " in zone " + r.alias_zone +
                       ", but the hosted zone was not found (steerdns aliases target its own "
                       "hosted zones)");
        continue;
      }
      auto an = dns::Name::from_text(r.alias_name);
      if (!an->is_subdomain_of(*dns::Name::from_text(tz->row.name))) {
        msgs.push_back("Tried to create an alias that targets " + r.alias_name + ", type " +
                       r.type + " in zone " + r.alias_zone +
                       ", but the alias target name does not lie within the target zone");
        continue;
      }
    }
    std::string key = config::record_key(r.name, r.type);
    auto [git, fresh] = groups.try_emplace(key);
    Group& g = git->second;
    if (fresh) {
      order.push_back(key);
      g.zone = zone.row.name;
      auto rec = zone.records.find(key);
      if (rec != zone.records.end()) {
        g.before = rec->second;
        g.sets = expand(cat, zone, rec->second);
        auto ms = rec->second.find("members");
        for (size_t i = 0; i < g.sets.size(); ++i) {
          g.origin_members.push_back(ms != rec->second.end() && ms->is_array() ? (*ms)[i] : json());
        }
      }
    }
    g.changes.push_back(pc.index);
    auto it = std::find_if(g.sets.begin(), g.sets.end(),
                           [&](const RRset& s) { return s.set_id == r.set_id; });
    size_t at = static_cast<size_t>(it - g.sets.begin());
    if (pc.action == "CREATE") {
      if (it != g.sets.end()) {
        msgs.push_back("Tried to create resource record set " + r.words() +
                       " but it already exists");
        continue;
      }
      g.sets.push_back(r);
      g.origin_members.push_back(json());
    } else if (pc.action == "DELETE") {
      if (it == g.sets.end()) {
        msgs.push_back("Tried to delete resource record set " + r.words() +
                       " but it was not found");
        continue;
      }
      if (!it->same(r)) {
        msgs.push_back("Tried to delete resource record set " + r.words() +
                       " but the values provided do not match the current values");
        continue;
      }
      g.sets.erase(it);
      g.origin_members.erase(g.origin_members.begin() + static_cast<std::ptrdiff_t>(at));
    } else {
      if (it != g.sets.end()) {
        if (!it->same(r)) {
          *it = r;
          g.origin_members[at] = json();
        }
      } else {
        g.sets.push_back(r);
        g.origin_members.push_back(json());
      }
    }
  }
  // CNAME and other data cannot share a name (RFC 1034 3.6.2).
  auto nonempty = [&](const std::string& key) {
    auto g = groups.find(key);
    if (g != groups.end()) {
      return !g->second.sets.empty();
    }
    return zone.records.count(key) != 0;
  };
  for (const auto& key : order) {
    const Group& g = groups[key];
    if (g.sets.empty()) {
      continue;
    }
    const std::string& name = g.sets.front().name;
    const std::string& type = g.sets.front().type;
    std::set<std::string> keys_at_name;
    for (auto it = zone.records.lower_bound(name + "/");
         it != zone.records.end() && it->first.rfind(name + "/", 0) == 0; ++it) {
      keys_at_name.insert(it->first);
    }
    for (const auto& [k, og] : groups) {
      if (k.rfind(name + "/", 0) == 0) {
        keys_at_name.insert(k);
      }
    }
    for (const auto& k : keys_at_name) {
      if (k == key || !nonempty(k)) {
        continue;
      }
      std::string other = k.substr(name.size() + 1);
      if (type == "CNAME") {
        msgs.push_back("RRSet of type CNAME with DNS name " + name +
                       " is not permitted as it conflicts with other records with the same DNS "
                       "name in zone " +
                       zone.row.name);
        break;
      }
      if (other == "CNAME") {
        msgs.push_back("RRSet of type " + type + " with DNS name " + name +
                       " is not permitted because a conflicting RRSet of type CNAME with the "
                       "same DNS name exists in zone " +
                       zone.row.name);
        break;
      }
    }
  }
  config::ChangeBatch batch;
  batch.author = who;
  batch.comment = comment;
  if (!apex.is_null() && apex != zone.row.settings) {
    config::Change ch;
    ch.action = config::Action::kUpsert;
    ch.kind = config::Kind::kZone;
    ch.key = zone.row.name;
    ch.body = {{"id", zone.row.id},
               {"name", zone.row.name},
               {"caller_ref", zone.row.caller_ref},
               {"comment", zone.row.comment},
               {"settings", apex}};
    ch.where = "apex SOA/NS of " + zone.row.name;
    batch.changes.push_back(std::move(ch));
  }
  for (const auto& key : order) {
    const Group& g = groups[key];
    size_t before = msgs.size();
    json body = collapse(g, msgs);
    if (msgs.size() != before) {
      continue;
    }
    std::string where = "Change";
    where += g.changes.size() > 1 ? "s " : " ";
    for (size_t i = 0; i < g.changes.size(); ++i) {
      where += (i == 0 ? "" : ", ") + std::to_string(g.changes[i]);
    }
    config::Change ch;
    ch.kind = config::Kind::kRecordSet;
    ch.key = key;
    ch.zone = zone.row.name;
    ch.where = where;
    if (body.is_null()) {
      if (g.before.is_null()) {
        continue;  // created and deleted in the same batch
      }
      ch.action = config::Action::kDelete;
    } else {
      ch.action = g.before.is_null() ? config::Action::kCreate : config::Action::kUpsert;
      ch.body = std::move(body);
    }
    batch.changes.push_back(std::move(ch));
  }
  if (!msgs.empty()) {
    invalid_change_batch(std::move(msgs));
  }
  return batch;
}

Response change_rrsets(Ctx& ctx, const Request& req, const std::string& who) {
  std::string raw_id = req.param("id");
  { find_zone(*ctx.catalog(), raw_id); }
  pugi::xml_document doc;
  Elem root = route53::parse_request(doc, req.body(), "ChangeResourceRecordSetsRequest");
  root.only({"ChangeBatch"});
  Elem batch = root.required("ChangeBatch");
  batch.only({"Comment", "Changes"});
  std::string comment = batch.text("Comment").value_or("");
  Elem changes = batch.required("Changes");
  changes.only({"Change"}, {"Change"});
  auto items = changes.children("Change");
  if (items.empty()) {
    invalid_input("ChangeBatch/Changes must hold at least one Change");
  }
  if (items.size() > kMaxChanges) {
    invalid_change_batch({"Number of records limit of " + std::to_string(kMaxChanges) +
                          " exceeded (" + std::to_string(items.size()) + " changes)"});
  }
  std::vector<std::string> msgs;
  std::vector<ParsedChange> parsed;
  for (size_t i = 0; i < items.size(); ++i) {
    if (auto pc = parse_change(items[i], static_cast<int>(i + 1), msgs)) {
      parsed.push_back(std::move(*pc));
    }
  }
  if (!msgs.empty()) {
    invalid_change_batch(std::move(msgs));
  }
  auto r = submit(
      ctx, [&](const config::Catalog& cat) { return translate(cat, raw_id, parsed, comment, who); },
      "InvalidChangeBatch");
  pugi::xml_document out;
  pugi::xml_node root_out = route53::start_response(out, "ChangeResourceRecordSetsResponse");
  write_change(root_out, change_of(ctx, r, comment));
  return route53::xml_response(200, out);
}

Response list_rrsets(Ctx& ctx, const Request& req, const std::string&) {
  auto cat = ctx.catalog();
  const auto& z = find_zone(*cat, req.param("id"));
  size_t max = max_items(req, 300, 300);
  auto sname = req.query_value("name");
  auto stype = req.query_value("type");
  auto sid = req.query_value("identifier");
  if (stype && !sname) {
    invalid_input("The input is not valid: StartRecordType requires StartRecordName");
  }
  if (sid && !stype) {
    invalid_input("The input is not valid: StartRecordIdentifier requires StartRecordType");
  }
  auto sets = zone_rrsets(*cat, z);
  size_t start = 0;
  if (sname) {
    auto n = parse_name(*sname);
    if (!n) {
      invalid_input("Invalid StartRecordName '" + *sname + "'");
    }
    auto key = reversed_labels(n->to_text());
    std::string t = stype ? upper(*stype) : "";
    std::string id = sid.value_or("");
    while (start < sets.size()) {
      auto k = reversed_labels(sets[start].name);
      if (k > key || (k == key && (sets[start].type > t ||
                                   (sets[start].type == t && sets[start].set_id >= id)))) {
        break;
      }
      ++start;
    }
  }
  pugi::xml_document out;
  pugi::xml_node root = route53::start_response(out, "ListResourceRecordSetsResponse");
  pugi::xml_node list = add(root, "ResourceRecordSets");
  size_t i = start;
  for (; i < sets.size() && i < start + max; ++i) {
    write_rrset(list, sets[i]);
  }
  bool truncated = i < sets.size();
  add(root, "IsTruncated", truncated ? "true" : "false");
  if (truncated) {
    add(root, "NextRecordName", r53_name(sets[i].name));
    add(root, "NextRecordType", sets[i].type);
    if (!sets[i].set_id.empty()) {
      add(root, "NextRecordIdentifier", sets[i].set_id);
    }
  }
  add(root, "MaxItems", std::to_string(max));
  return route53::xml_response(200, out);
}

Response get_change(Ctx& ctx, const Request& req, const std::string&) {
  std::string id = strip_prefix(req.param("id"), "/change/");
  auto c = ctx.plane().store().change(id);
  if (!c) {
    throw Route53Error(500, "InternalFailure", c.error());
  }
  if (!c->has_value()) {
    throw Route53Error(404, "NoSuchChange",
                       "A change with the specified change ID does not exist: " + id);
  }
  pugi::xml_document out;
  pugi::xml_node root = route53::start_response(out, "GetChangeResponse");
  write_change(root, **c);
  return route53::xml_response(200, out);
}

// ---------------------------------------------------------------------------------------------
// Health checks: Route 53's HealthCheckConfig <-> our check schema (config/health_yaml.cc).

struct Target {
  std::string ip, fqdn;
};

bool web(const std::string& type) { return type == "http" || type == "https"; }

// The body with a `url` expanded into host/port/path (explicit keys win), so that updates can
// change single parts.
json expand_url(json body) {
  auto u = body.find("url");
  if (u == body.end() || !u->is_string()) {
    return body;
  }
  std::string url = u->get<std::string>();
  body.erase("url");
  size_t sep = url.find("://");
  if (sep == std::string::npos) {
    return body;
  }
  std::string rest = url.substr(sep + 3);
  size_t p = rest.find_first_of("/?");
  std::string authority = rest.substr(0, p);
  std::string path = p == std::string::npos ? "/" : rest.substr(p);
  std::string host = authority;
  std::string port;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    host = authority.substr(1, close - 1);
    if (close + 1 < authority.size() && authority[close + 1] == ':') {
      port = authority.substr(close + 2);
    }
  } else if (auto c = authority.rfind(':'); c != std::string::npos) {
    host = authority.substr(0, c);
    port = authority.substr(c + 1);
  }
  if (!body.contains("host")) {
    body["host"] = host;
  }
  if (!body.contains("path")) {
    body["path"] = path;
  }
  if (!body.contains("port") && !port.empty()) {
    try {
      body["port"] = std::stoi(port);
    } catch (...) {
    }
  }
  return body;
}

Target target_of(const json& b) {
  Target t;
  std::string host = b.value("host", std::string());
  if (b.contains("ip")) {
    t.ip = b.value("ip", std::string());
    t.fqdn = host;
  } else if (is_ip(host)) {
    t.ip = host;
  } else {
    t.fqdn = host;
  }
  if (b.contains("host_header")) {
    t.fqdn = b.value("host_header", std::string());
  }
  return t;
}

void set_target(json& b, const Target& t) {
  b.erase("ip");
  b.erase("host");
  b.erase("host_header");
  if (b.value("type", std::string()) == "tcp") {
    b["host"] = t.ip.empty() ? t.fqdn : t.ip;
    return;
  }
  if (!t.fqdn.empty()) {
    b["host"] = t.fqdn;
    if (!t.ip.empty()) {
      b["ip"] = t.ip;
    }
  } else {
    b["host"] = t.ip;
  }
}

void write_check_config(pugi::xml_node parent, const std::string& id, const json& raw) {
  json b = expand_url(raw);
  std::string type = b.value("type", std::string());
  pugi::xml_node c = add(parent, "HealthCheckConfig");
  bool search = b.contains("search");
  if (web(type) || type == "tcp") {
    Target t = target_of(b);
    if (!t.ip.empty()) {
      add(c, "IPAddress", t.ip);
    }
    int64_t port = b.value("port", int64_t{type == "https" ? 443 : type == "http" ? 80 : 0});
    if (port != 0) {
      add(c, "Port", std::to_string(port));
    }
  }
  std::string r53_type = type == "http"         ? (search ? "HTTP_STR_MATCH" : "HTTP")
                         : type == "https"      ? (search ? "HTTPS_STR_MATCH" : "HTTPS")
                         : type == "tcp"        ? "TCP"
                         : type == "calculated" ? "CALCULATED"
                         : type == "external"   ? "RECOVERY_CONTROL"
                                                : upper(type);
  add(c, "Type", r53_type);
  if (web(type)) {
    add(c, "ResourcePath", b.value("path", std::string("/")));
  }
  if (web(type) || type == "tcp") {
    Target t = target_of(b);
    if (!t.fqdn.empty()) {
      add(c, "FullyQualifiedDomainName", t.fqdn);
    }
  }
  if (search) {
    add(c, "SearchString", b.value("search", std::string()));
  }
  if (type != "calculated" && type != "external") {
    int64_t interval = as_seconds(b.value("interval", json()), 10);
    add(c, "RequestInterval", std::to_string(interval));
    add(c, "FailureThreshold", std::to_string(b.value("failure_threshold", int64_t{3})));
    add(c, "MeasureLatency", "false");
  }
  add(c, "Inverted", b.value("inverted", false) ? "true" : "false");
  add(c, "Disabled", b.value("disabled", false) ? "true" : "false");
  if (type == "calculated") {
    add(c, "HealthThreshold",
        std::to_string(b.value("healthy_threshold",
                               static_cast<int64_t>(b.value("children", json::array()).size()))));
    pugi::xml_node kids = add(c, "ChildHealthChecks");
    for (const auto& k : b.value("children", json::array())) {
      add(kids, "ChildHealthCheck", k.is_string() ? k.get<std::string>() : k.dump());
    }
  }
  if (type == "https") {
    add(c, "EnableSNI", "true");
  }
  if (type == "external") {
    add(c, "RoutingControlArn", "arn:steerdns:external-check:" + id);
  }
}

void write_check(pugi::xml_node parent, const store::CheckRow& row) {
  pugi::xml_node n = add(parent, "HealthCheck");
  add(n, "Id", row.id);
  add(n, "CallerReference", row.caller_ref);
  write_check_config(n, row.id, row.body);
  add(n, "HealthCheckVersion", std::to_string(row.version));
}

void reject_unsupported_check_fields(const Elem& e) {
  for (const char* k :
       {"Regions", "AlarmIdentifier", "InsufficientDataHealthStatus", "RoutingControlArn"}) {
    if (e.has(k)) {
      invalid_input(std::string(k) +
                    " is not supported by steerdns: checks run from the steerdns nodes, and "
                    "CloudWatch alarms and routing controls do not exist here (use an external "
                    "check set through the native API)");
    }
  }
  if (auto sni = e.boolean("EnableSNI"); sni && !*sni) {
    invalid_input(
        "EnableSNI false is not supported: steerdns always sends the "
        "FullyQualifiedDomainName as SNI (leave it out for IP-only checks)");
  }
}

void set_threshold(json& b, int64_t n) {
  b["failure_threshold"] = n;
  b["success_threshold"] = n;  // Route 53 uses one threshold both ways
}

json check_from_config(const Elem& c) {
  c.only({"IPAddress", "Port", "Type", "ResourcePath", "FullyQualifiedDomainName", "SearchString",
          "RequestInterval", "FailureThreshold", "MeasureLatency", "Inverted", "Disabled",
          "HealthThreshold", "ChildHealthChecks", "EnableSNI", "Regions", "AlarmIdentifier",
          "InsufficientDataHealthStatus", "RoutingControlArn"});
  reject_unsupported_check_fields(c);
  std::string type = c.required_text("Type");
  static const std::vector<std::string_view> kTypes = {
      "HTTP", "HTTPS", "HTTP_STR_MATCH", "HTTPS_STR_MATCH", "TCP", "CALCULATED"};
  if (std::find(kTypes.begin(), kTypes.end(), type) == kTypes.end()) {
    invalid_input("Health check type " + type +
                  " is not supported by steerdns (supported: HTTP, HTTPS, HTTP_STR_MATCH, "
                  "HTTPS_STR_MATCH, TCP, CALCULATED)" +
                  config::did_you_mean(type, kTypes));
  }
  json b = json::object();
  bool str_match = type.find("_STR_MATCH") != std::string::npos;
  if (type == "CALCULATED") {
    b["type"] = "calculated";
    for (const char* k : {"IPAddress", "Port", "ResourcePath", "FullyQualifiedDomainName",
                          "SearchString", "RequestInterval", "FailureThreshold"}) {
      if (c.has(k)) {
        invalid_input(std::string(k) + " does not apply to CALCULATED health checks");
      }
    }
    json kids = json::array();
    if (auto ch = c.child("ChildHealthChecks")) {
      ch->only({"ChildHealthCheck"}, {"ChildHealthCheck"});
      for (const auto& k : ch->children("ChildHealthCheck")) {
        kids.push_back(k.value());
      }
    }
    if (kids.size() > 256) {
      invalid_input("ChildHealthChecks holds more than 256 health checks");
    }
    b["children"] = kids;
    b["healthy_threshold"] =
        c.integer("HealthThreshold", 0, 256).value_or(static_cast<int64_t>(kids.size()));
  } else {
    if (c.has("HealthThreshold") || c.has("ChildHealthChecks")) {
      invalid_input(
          "HealthThreshold and ChildHealthChecks apply to CALCULATED health checks "
          "only");
    }
    b["type"] = type == "TCP" ? "tcp" : type.rfind("HTTPS", 0) == 0 ? "https" : "http";
    Target t;
    t.ip = c.text("IPAddress").value_or("");
    t.fqdn = c.text("FullyQualifiedDomainName").value_or("");
    if (!t.ip.empty() && !is_ip(t.ip)) {
      invalid_input("Invalid IP address '" + t.ip + "' in HealthCheckConfig/IPAddress");
    }
    if (t.ip.empty() && t.fqdn.empty()) {
      invalid_input("HealthCheckConfig needs IPAddress or FullyQualifiedDomainName");
    }
    set_target(b, t);
    auto port = c.integer("Port", 1, 65535);
    if (type == "TCP" && !port) {
      invalid_input("TCP health checks need HealthCheckConfig/Port");
    }
    b["port"] = port.value_or(b["type"] == "https" ? 443 : 80);
    if (b["type"] != "tcp") {
      std::string path = c.text("ResourcePath").value_or("/");
      if (path.empty() || path.front() != '/') {
        path = "/" + path;
      }
      b["path"] = path;
    } else if (c.has("ResourcePath")) {
      invalid_input("ResourcePath does not apply to TCP health checks");
    }
    if (str_match) {
      std::string s = c.required_text("SearchString");
      if (s.empty() || s.size() > 255) {
        invalid_input("SearchString must be 1 to 255 characters");
      }
      b["search"] = s;
    } else if (c.has("SearchString")) {
      invalid_input(
          "SearchString applies to HTTP_STR_MATCH and HTTPS_STR_MATCH health checks "
          "only");
    }
    int64_t interval = c.integer("RequestInterval", 10, 30).value_or(30);
    if (interval != 10 && interval != 30) {
      invalid_input("RequestInterval must be 10 or 30 (seconds), not " + std::to_string(interval));
    }
    b["interval"] = std::to_string(interval) + "s";
    set_threshold(b, c.integer("FailureThreshold", 1, 10).value_or(3));
    if (b["type"] == "https") {
      b["verify_tls"] = false;  // Route 53 does not validate certificates either
    }
  }
  if (auto v = c.boolean("Inverted")) {
    b["inverted"] = *v;
  }
  if (auto v = c.boolean("Disabled")) {
    b["disabled"] = *v;
  }
  return b;
}

Response create_check(Ctx& ctx, const Request& req, const std::string& who) {
  pugi::xml_document doc;
  Elem root = route53::parse_request(doc, req.body(), "CreateHealthCheckRequest");
  root.only({"CallerReference", "HealthCheckConfig"});
  std::string caller_ref = root.required_text("CallerReference");
  if (caller_ref.empty() || caller_ref.size() > 64) {
    invalid_input("CallerReference must be 1 to 64 characters");
  }
  json body = check_from_config(root.required("HealthCheckConfig"));
  std::string id = uuid();
  std::string existing;
  auto r = submit(
      ctx,
      [&](const config::Catalog& cat) {
        config::ChangeBatch b;
        b.author = who;
        for (const auto& [cid, row] : cat.checks) {
          if (row.caller_ref == caller_ref) {
            // Same request again: the existing check; other settings: an error.
            json mine = body;
            if (config::canonical_check(mine) != row.body) {
              throw Route53Error(409, "HealthCheckAlreadyExists",
                                 "A health check with the caller reference " + caller_ref +
                                     " already exists (" + cid + ") with other settings.");
            }
            existing = cid;
            return b;
          }
        }
        config::Change ch;
        ch.action = config::Action::kCreate;
        ch.kind = config::Kind::kHealthCheck;
        ch.key = id;
        ch.body = body;
        ch.body["caller_ref"] = caller_ref;
        ch.where = "CreateHealthCheck " + id;
        b.changes.push_back(std::move(ch));
        return b;
      },
      "InvalidInput");
  (void)r;
  auto cat = ctx.catalog();
  const store::CheckRow& row = find_check(*cat, existing.empty() ? id : existing);
  pugi::xml_document out;
  pugi::xml_node root_out = route53::start_response(out, "CreateHealthCheckResponse");
  write_check(root_out, row);
  Response resp = route53::xml_response(201, out);
  add_location(resp, req, "/healthcheck/" + row.id);
  return resp;
}

Response get_check(Ctx& ctx, const Request& req, const std::string&) {
  auto cat = ctx.catalog();
  const auto& row = find_check(*cat, req.param("id"));
  pugi::xml_document out;
  pugi::xml_node root = route53::start_response(out, "GetHealthCheckResponse");
  write_check(root, row);
  return route53::xml_response(200, out);
}

Response list_checks(Ctx& ctx, const Request& req, const std::string&) {
  auto cat = ctx.catalog();
  size_t max = max_items(req, 100, 1000);
  auto marker = req.query_value("marker");
  auto it = cat->checks.begin();
  if (marker) {
    it = cat->checks.find(*marker);
    if (it == cat->checks.end()) {
      invalid_input("Invalid marker '" + *marker + "': no such health check");
    }
  }
  pugi::xml_document out;
  pugi::xml_node root = route53::start_response(out, "ListHealthChecksResponse");
  pugi::xml_node list = add(root, "HealthChecks");
  size_t n = 0;
  for (; it != cat->checks.end() && n < max; ++it, ++n) {
    write_check(list, it->second);
  }
  add(root, "Marker", marker.value_or(""));
  bool truncated = it != cat->checks.end();
  add(root, "IsTruncated", truncated ? "true" : "false");
  if (truncated) {
    add(root, "NextMarker", it->first);
  }
  add(root, "MaxItems", std::to_string(max));
  return route53::xml_response(200, out);
}

Response update_check(Ctx& ctx, const Request& req, const std::string& who) {
  std::string id = strip_prefix(req.param("id"), "/healthcheck/");
  { find_check(*ctx.catalog(), id); }
  pugi::xml_document doc;
  Elem u = route53::parse_request(doc, req.body(), "UpdateHealthCheckRequest");
  u.only({"HealthCheckVersion", "IPAddress", "Port", "ResourcePath", "FullyQualifiedDomainName",
          "SearchString", "FailureThreshold", "Inverted", "Disabled", "HealthThreshold",
          "ChildHealthChecks", "EnableSNI", "Regions", "AlarmIdentifier",
          "InsufficientDataHealthStatus", "ResetElements"});
  reject_unsupported_check_fields(u);
  auto version = u.integer("HealthCheckVersion", 1, INT64_MAX);
  std::vector<std::string> resets;
  if (auto re = u.child("ResetElements")) {
    re->only({"ResetElement"}, {"ResetElement"});
    for (const auto& e : re->children("ResetElement")) {
      std::string v = e.value();
      static const std::vector<std::string_view> kResettable = {
          "FullyQualifiedDomainName", "Regions", "ResourcePath", "ChildHealthChecks"};
      if (std::find(kResettable.begin(), kResettable.end(), v) == kResettable.end()) {
        invalid_input("Invalid ResetElement '" + v +
                      "' (FullyQualifiedDomainName, Regions, ResourcePath or ChildHealthChecks)" +
                      config::did_you_mean(v, kResettable));
      }
      resets.push_back(v);
    }
  }
  submit(
      ctx,
      [&](const config::Catalog& cat) {
        const store::CheckRow& row = find_check(cat, id);
        if (version && *version != row.version) {
          throw Route53Error(409, "HealthCheckVersionMismatch",
                             "The value of HealthCheckVersion in the request (" +
                                 std::to_string(*version) +
                                 ") doesn't match the value of "
                                 "HealthCheckVersion in the health check (" +
                                 std::to_string(row.version) + ").");
        }
        json b = expand_url(row.body);
        std::string type = b.value("type", std::string());
        bool targeted = web(type) || type == "tcp";
        auto only_for = [&](const char* el, bool ok, const char* what) {
          if (u.has(el) && !ok) {
            invalid_input(std::string(el) + " applies to " + what + " health checks only; " + id +
                          " is a " + type + " check");
          }
        };
        only_for("IPAddress", targeted, "HTTP, HTTPS and TCP");
        only_for("Port", targeted, "HTTP, HTTPS and TCP");
        only_for("FullyQualifiedDomainName", targeted, "HTTP, HTTPS and TCP");
        only_for("ResourcePath", web(type), "HTTP and HTTPS");
        only_for("SearchString", web(type) && b.contains("search"),
                 "HTTP_STR_MATCH and "
                 "HTTPS_STR_MATCH");
        only_for("FailureThreshold", targeted || type == "dns" || type == "exec", "probed");
        only_for("HealthThreshold", type == "calculated", "CALCULATED");
        only_for("ChildHealthChecks", type == "calculated", "CALCULATED");
        if (targeted) {
          Target t = target_of(b);
          if (auto ip = u.text("IPAddress")) {
            if (!is_ip(*ip)) {
              invalid_input("Invalid IP address '" + *ip + "' in IPAddress");
            }
            t.ip = *ip;
          }
          if (auto f = u.text("FullyQualifiedDomainName")) {
            t.fqdn = *f;
          }
          for (const auto& r : resets) {
            if (r == "FullyQualifiedDomainName") {
              t.fqdn.clear();
            }
          }
          if (t.ip.empty() && t.fqdn.empty()) {
            invalid_input("A health check needs IPAddress or FullyQualifiedDomainName");
          }
          set_target(b, t);
          if (auto p = u.integer("Port", 1, 65535)) {
            b["port"] = *p;
          }
        }
        if (auto p = u.text("ResourcePath")) {
          b["path"] = p->empty() || p->front() != '/' ? "/" + *p : *p;
        }
        if (auto s = u.text("SearchString")) {
          b["search"] = *s;
        }
        if (auto f = u.integer("FailureThreshold", 1, 10)) {
          set_threshold(b, *f);
        }
        if (auto v = u.boolean("Inverted")) {
          b["inverted"] = *v;
        }
        if (auto v = u.boolean("Disabled")) {
          b["disabled"] = *v;
        }
        if (auto h = u.integer("HealthThreshold", 0, 256)) {
          b["healthy_threshold"] = *h;
        }
        if (auto ch = u.child("ChildHealthChecks")) {
          ch->only({"ChildHealthCheck"}, {"ChildHealthCheck"});
          json kids = json::array();
          for (const auto& k : ch->children("ChildHealthCheck")) {
            kids.push_back(k.value());
          }
          b["children"] = kids;
        }
        for (const auto& r : resets) {
          if (r == "ResourcePath" && web(type)) {
            b["path"] = "/";
          } else if (r == "ChildHealthChecks" && type == "calculated") {
            b["children"] = json::array();
          }
        }
        config::ChangeBatch batch;
        batch.author = who;
        config::Change ch;
        ch.action = config::Action::kUpsert;
        ch.kind = config::Kind::kHealthCheck;
        ch.key = id;
        ch.body = b;
        ch.where = "UpdateHealthCheck " + id;
        batch.changes.push_back(std::move(ch));
        return batch;
      },
      "InvalidInput");
  auto cat = ctx.catalog();
  pugi::xml_document out;
  pugi::xml_node root = route53::start_response(out, "UpdateHealthCheckResponse");
  write_check(root, find_check(*cat, id));
  return route53::xml_response(200, out);
}

Response delete_check(Ctx& ctx, const Request& req, const std::string& who) {
  std::string id = strip_prefix(req.param("id"), "/healthcheck/");
  { find_check(*ctx.catalog(), id); }
  submit(
      ctx,
      [&](const config::Catalog& cat) {
        find_check(cat, id);
        auto users = config::check_users(cat, id);
        if (!users.empty()) {
          std::string list;
          for (size_t i = 0; i < users.size() && i < 3; ++i) {
            list += (i == 0 ? "" : ", ") + users[i];
          }
          throw Route53Error(400, "HealthCheckInUse",
                             "The health check " + id + " is still referenced from " + list +
                                 (users.size() > 3 ? " and more" : "") + ".");
        }
        config::ChangeBatch b;
        b.author = who;
        config::Change ch;
        ch.action = config::Action::kDelete;
        ch.kind = config::Kind::kHealthCheck;
        ch.key = id;
        ch.where = "DeleteHealthCheck " + id;
        b.changes.push_back(std::move(ch));
        return b;
      },
      "InvalidInput");
  pugi::xml_document out;
  route53::start_response(out, "DeleteHealthCheckResponse");
  return route53::xml_response(200, out);
}

Response check_status(Ctx& ctx, const Request& req, const std::string&) {
  std::string id = strip_prefix(req.param("id"), "/healthcheck/");
  auto cat = ctx.catalog();
  const store::CheckRow& row = find_check(*cat, id);
  if (!ctx.svc.health_report) {
    throw Route53Error(503, "ServiceUnavailable", "health reports are not available");
  }
  json report = ctx.svc.health_report();
  json check;
  for (const auto& c : report.value("checks", json::array())) {
    if (c.value("id", std::string()) == id) {
      check = c;
    }
  }
  Target t = target_of(expand_url(row.body));
  pugi::xml_document out;
  pugi::xml_node root = route53::start_response(out, "GetHealthCheckStatusResponse");
  pugi::xml_node obs = add(root, "HealthCheckObservations");
  auto observation = [&](const std::string& region, bool ok, const std::string& reason,
                         int64_t time_ms) {
    pugi::xml_node o = add(obs, "HealthCheckObservation");
    add(o, "Region", region);
    if (!t.ip.empty()) {
      add(o, "IPAddress", t.ip);
    }
    pugi::xml_node s = add(o, "StatusReport");
    add(s, "Status", std::string(ok ? "Success: " : "Failure: ") + reason);
    if (time_ms > 0) {
      add(s, "CheckedTime", route53::iso8601(time_ms));
    }
  };
  auto text = [](const json& v) { return v.is_string() ? v.get<std::string>() : std::string(); };
  if (check.is_null()) {
    observation(report.value("checker_id", std::string("steerdns")), true,
                "no result yet (a new check counts as healthy)", 0);
  } else {
    auto checkers = check.value("checkers", json::array());
    if (checkers.empty()) {
      std::string st = check.value("status", std::string("unknown"));
      std::string reason = text(check.value("last_failure_reason", json()));
      observation(report.value("checker_id", std::string("steerdns")), st != "unhealthy",
                  st + (reason.empty() || st != "unhealthy" ? "" : ": " + reason),
                  check.value("last_observation_ms", json()).is_number()
                      ? check["last_observation_ms"].get<int64_t>()
                      : check.value("since_ms", int64_t{0}));
    }
    for (const auto& c : checkers) {
      std::string st = c.value("status", std::string("unknown"));
      std::string reason = text(c.value("last_reason", json()));
      observation(c.value("checker", std::string("?")), st != "unhealthy",
                  reason.empty() ? st : reason,
                  c.value("last_ms", json()).is_number() ? c["last_ms"].get<int64_t>() : 0);
    }
  }
  return route53::xml_response(200, out);
}

// ---------------------------------------------------------------------------------------------
// test-dns-answer.

Response test_dns_answer(Ctx& ctx, const Request& req, const std::string&) {
  auto cat = ctx.catalog();
  auto zid = req.query_value("hostedzoneid");
  auto rname = req.query_value("recordname");
  auto rtype = req.query_value("recordtype");
  if (!zid || !rname || !rtype) {
    invalid_input("test-dns-answer needs hostedzoneid, recordname and recordtype");
  }
  const auto& z = find_zone(*cat, *zid);
  auto name = parse_name(*rname);
  if (!name || !name->is_subdomain_of(*dns::Name::from_text(z.row.name))) {
    invalid_input("RecordName " + *rname + " is not in hosted zone " + z.row.name);
  }
  if (!ctx.svc.answer) {
    throw Route53Error(503, "ServiceUnavailable", "the query path is not available");
  }
  Question q;
  q.name = name->to_text();
  q.type = upper(*rtype);
  q.client_ip = req.query_value("resolverip").value_or("");
  if (auto ecs = req.query_value("edns0clientsubnetip")) {
    q.ecs = *ecs + "/" +
            req.query_value("edns0clientsubnetmask")
                .value_or(ecs->find(':') != std::string::npos ? "56" : "24");
  }
  auto a = ctx.svc.answer(q);
  if (!a) {
    invalid_input(a.error());
  }
  pugi::xml_document out;
  pugi::xml_node root = route53::start_response(out, "TestDNSAnswerResponse");
  std::string ns = "steerdns";
  if (auto it = z.row.settings.find("ns");
      it != z.row.settings.end() && it->is_array() && !it->empty() && (*it)[0].is_string()) {
    ns = (*it)[0].get<std::string>();
  }
  add(root, "Nameserver", ns);
  add(root, "RecordName", *rname);
  add(root, "RecordType", q.type);
  pugi::xml_node data = add(root, "RecordData");
  for (const auto& ans : a->value("answers", json::array())) {
    add(data, "RecordDataEntry", ans.value("data", std::string()));
  }
  add(root, "ResponseCode", a->value("rcode", std::string("NOERROR")));
  add(root, "Protocol", "UDP");
  return route53::xml_response(200, out);
}

// ---------------------------------------------------------------------------------------------
// Authentication and the route wrapper.

// The batch author for a request: "route53:AKID", or "route53:loopback" without keys.
std::string authenticate(const Ctx& ctx, const Request& req) {
  if (ctx.keys.empty()) {
    if (!remote_is_loopback(req.remote)) {
      throw Route53Error(403, "AccessDenied",
                         "No Route 53 access keys are configured: only loopback clients may use "
                         "the API (set STEERDNS_ACCESS_KEY_ID and STEERDNS_SECRET_ACCESS_KEY)");
    }
    return "route53:loopback";
  }
  route53::SignedRequest sr;
  sr.method = std::string(req.raw->method_string());
  sr.target = req.target;
  for (const auto& f : *req.raw) {
    sr.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
  }
  sr.body = req.body();
  auto res = route53::verify(ctx.keys, sr, now_ms());
  if (!res.ok) {
    spdlog::info("route53: {} {} from {}: {}: {}", sr.method, req.target, req.remote,
                 res.failure.code, res.failure.message);
    throw Route53Error(res.failure.status, res.failure.code, res.failure.message);
  }
  return "route53:" + res.access_key_id;
}

using Op = Response (*)(Ctx&, const Request&, const std::string&);

Response unknown_operation(Ctx&, const Request& req, const std::string&) {
  throw Route53Error(
      404, "UnknownOperationException",
      "Unknown Route 53 operation: " + std::string(req.raw->method_string()) + " " + req.path);
}

Handler wrap(std::shared_ptr<Ctx> ctx, Op op) {
  return [ctx, op](const Request& req) -> Response {
    std::string rid = uuid();
    Response r;
    std::string who = "-";
    // Writes are audited with the signer's access key (the server's own audit line only knows
    // bearer tokens).
    auto audit = [&](unsigned status) {
      if (req.method != http::verb::get && req.method != http::verb::head) {
        spdlog::info("route53: {} {} by '{}' from {} -> {}", std::string(req.raw->method_string()),
                     req.target, who, req.remote, status);
      }
    };
    try {
      who = authenticate(*ctx, req);
      r = op(*ctx, req, who);
    } catch (const Route53Error& e) {
      audit(e.status());
      return route53::error_response(e, rid);
    } catch (const HttpError& e) {
      return route53::error_response(Route53Error(e.status(), "InvalidInput", e.what()), rid);
    } catch (const std::exception& e) {
      spdlog::error("route53: {} {}: {}", std::string(req.raw->method_string()), req.target,
                    e.what());
      return route53::error_response(
          Route53Error(500, "InternalFailure", std::string("internal error: ") + e.what()), rid);
    }
    audit(r.status);
    r.headers.emplace_back("x-amzn-RequestId", rid);
    return r;
  };
}

}  // namespace

void add_route53_routes(Router& router, const Services& services, const Route53Keys& keys) {
  auto ctx = std::make_shared<Ctx>();
  ctx->svc = services;
  ctx->keys = keys;
  struct Def {
    http::verb method;
    const char* path;
    Op op;
  };
  const Def defs[] = {
      {http::verb::post, "/hostedzone", create_zone},
      {http::verb::get, "/hostedzone", list_zones},
      {http::verb::get, "/hostedzonesbyname", list_zones_by_name},
      {http::verb::get, "/hostedzone/{id}", get_zone},
      {http::verb::delete_, "/hostedzone/{id}", delete_zone},
      {http::verb::post, "/hostedzone/{id}/rrset", change_rrsets},
      {http::verb::get, "/hostedzone/{id}/rrset", list_rrsets},
      {http::verb::get, "/change/{id}", get_change},
      {http::verb::post, "/healthcheck", create_check},
      {http::verb::get, "/healthcheck", list_checks},
      {http::verb::get, "/healthcheck/{id}", get_check},
      {http::verb::post, "/healthcheck/{id}", update_check},
      {http::verb::delete_, "/healthcheck/{id}", delete_check},
      {http::verb::get, "/healthcheck/{id}/status", check_status},
      {http::verb::get, "/testdnsanswer", test_dns_answer},
  };
  for (const auto& d : defs) {
    router.add(d.method, std::string(kPrefix) + d.path, Access::kCustom, wrap(ctx, d.op));
  }
  // Anything else under the prefix still gets a Route 53 error body (after authentication).
  for (auto m : {http::verb::get, http::verb::post, http::verb::delete_, http::verb::put}) {
    router.add(m, std::string(kPrefix) + "/{rest...}", Access::kCustom,
               wrap(ctx, unknown_operation));
  }
}

}  // namespace steerdns::api
