#include "api/native_routes.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/dashboard_routes.h"
#include "api/health_routes.h"
#include "config/catalog.h"
#include "config/suggest.h"
#include "control/plane.h"
#include "core/text.h"
#include "dns/name.h"
#include "dns/rrtype.h"
#include "store/store.h"

namespace steerdns::api {

namespace {

using config::Action;
using config::Catalog;
using config::CatalogZone;
using config::Change;
using config::ChangeBatch;
using config::Kind;
using nlohmann::json;

constexpr size_t kMaxChanges = 10000;
constexpr int kMaxWaitSeconds = 60;

control::Plane& plane_of(const Services& s) {
  if (s.plane == nullptr) {
    throw HttpError(503, "the control plane is not available");
  }
  return *s.plane;
}

std::shared_ptr<const Catalog> snapshot(const Services& s) {
  auto cat = plane_of(s).catalog();
  if (!cat) {
    throw HttpError(503, "the control plane has not loaded the catalog yet");
  }
  return cat;
}

// ---- Query parameters -------------------------------------------------------------------

int64_t int_query(const Request& req, const char* name, int64_t def, int64_t min, int64_t max) {
  auto v = req.query_value(name);
  if (!v) {
    return def;
  }
  if (v->empty() || v->size() > 18 || v->find_first_not_of("0123456789") != std::string::npos) {
    throw HttpError(
        400, std::string("query parameter '") + name + "': '" + *v + "' is not a whole number");
  }
  int64_t n = std::stoll(*v);
  if (n < min || n > max) {
    throw HttpError(400, std::string("query parameter '") + name + "': " + *v +
                             " is out of range (" + std::to_string(min) + " to " +
                             std::to_string(max) + ")");
  }
  return n;
}

bool bool_query(const Request& req, const char* name) {
  auto v = req.query_value(name);
  if (!v) {
    return false;
  }
  std::string t = lower(*v);
  if (t.empty() || t == "true" || t == "1" || t == "yes") {
    return true;
  }
  if (t == "false" || t == "0" || t == "no") {
    return false;
  }
  throw HttpError(400,
                  std::string("query parameter '") + name + "': '" + *v + "' is not true or false");
}

std::string required_query(const Request& req, const char* name) {
  auto v = req.query_value(name);
  if (!v || v->empty()) {
    throw HttpError(400, std::string("query parameter '") + name + "' is required");
  }
  return *v;
}

// ---- Names and types --------------------------------------------------------------------

// "Example.Test" / "example.test." -> "example.test."; 400 naming `field` when not a name.
std::string zone_name(const std::string& text, const std::string& field) {
  if (text.empty()) {
    throw HttpError(400, field + ": the zone name is empty");
  }
  std::string t = lower(text);
  if (t.back() != '.') {
    t += '.';
  }
  auto n = dns::Name::from_text(t);
  if (!n) {
    throw HttpError(400, field + ": '" + text + "' is not a valid domain name: " + n.error());
  }
  return lower(n->to_text());
}

// An owner name, relative to `zone` (absolute, "example.test.") unless it ends in '.';
// "@" is the apex. Must lie in the zone.
std::string owner_name(const std::string& text, const std::string& zone, const std::string& field) {
  if (text.empty()) {
    throw HttpError(400, field + ": the name is empty");
  }
  auto origin = dns::Name::from_text(zone);
  if (!origin) {
    throw HttpError(400, field + ": zone '" + zone + "': " + origin.error());
  }
  auto n = dns::Name::from_text(text, &*origin);
  if (!n) {
    throw HttpError(400, field + ": '" + text + "' is not a valid domain name: " + n.error());
  }
  if (!n->is_subdomain_of(*origin)) {
    throw HttpError(400, field + ": '" + text + "' is not in zone " + zone);
  }
  return lower(n->to_text());
}

std::string type_text(const std::string& text, const std::string& field) {
  auto t = dns::type_from_text(upper(text));
  if (!t) {
    throw HttpError(400, field + ": '" + text + "' is not a record type");
  }
  return dns::type_to_text(*t);
}

// The zone a {zone} path parameter names: an id ("Z...") or a name, with or without the dot.
const CatalogZone& find_zone(const Catalog& cat, const std::string& param) {
  if (const CatalogZone* z = cat.zone_by_id(param); z != nullptr) {
    return *z;
  }
  std::string name;
  try {
    name = zone_name(param, "zone");
  } catch (const HttpError&) {
    throw HttpError(404, "zone '" + param + "': no such hosted zone (by id or name)");
  }
  auto it = cat.zones.find(name);
  if (it == cat.zones.end()) {
    throw HttpError(404, "zone '" + param + "': no such hosted zone (by id or name)");
  }
  return it->second;
}

// ---- JSON views -------------------------------------------------------------------------

json zone_json(const CatalogZone& z) {
  return json{{"id", z.row.id},
              {"name", z.row.name},
              {"comment", z.row.comment},
              {"caller_ref", z.row.caller_ref},
              {"created_ms", z.row.created_ms},
              {"settings", z.row.settings},
              {"rrset_count", z.records.size()}};
}

json change_json(const store::ChangeRow& c, bool with_changes) {
  json j{{"id", c.id},
         {"status", c.status},
         {"revision", c.revision},
         {"author", c.author},
         {"comment", c.comment},
         {"submitted_ms", c.submitted_ms},
         {"insync_ms", c.insync_ms == 0 ? json() : json(c.insync_ms)},
         {"change_count", c.changes.is_array() ? c.changes.size() : 0}};
  if (with_changes) {
    j["changes"] = c.changes;
  }
  return j;
}

json plan_json(const ChangeBatch& batch, const Catalog& before) {
  return json{{"text", config::plan_text(batch, before)},
              {"changes", config::change_summary(batch, before)}};
}

// ---- Submitting -------------------------------------------------------------------------

// The plane's error as an HTTP error: its messages name the change and the field.
[[noreturn]] void throw_submit_error(const std::string& msg) {
  // The store out of reach (fleet: etcd lost its quorum): nothing was written, retry later.
  if (msg.find("shutting down") != std::string::npos ||
      msg.find("not running") != std::string::npos || store::wraps_unavailable(msg)) {
    throw HttpError(503, msg, "store_unavailable");
  }
  if (msg.rfind("conflict", 0) == 0) {
    throw HttpError(409, msg);
  }
  if (msg.find("could not commit") != std::string::npos) {
    throw HttpError(500, msg, "store_error");
  }
  throw HttpError(400, msg, "invalid_change");
}

// A builder's error with the status it should answer (the builder runs on the applier
// thread, so it cannot throw to us).
struct BuildError {
  unsigned status = 0;
  std::string code;
  std::string message;
};

// A bad ?wait= must be refused before the batch is submitted: submit_result reads it only
// after the batch is applied, and a 400 then would hide a change that did happen.
void check_wait(const Request& req) { int_query(req, "wait", 0, 0, kMaxWaitSeconds); }

// {"change": {...} | null, "no_op": bool}; ?wait=SECONDS waits for INSYNC first.
json submit_result(control::Plane& plane, const Request& req,
                   const Result<control::SubmitResult>& r,
                   const std::shared_ptr<BuildError>& build_error = nullptr) {
  if (!r) {
    if (build_error && build_error->status != 0) {
      throw HttpError(build_error->status, build_error->message, build_error->code);
    }
    throw_submit_error(r.error());
  }
  if (r->no_op) {
    return json{{"change", nullptr}, {"no_op", true}};
  }
  store::ChangeRow change = r->change;
  int64_t wait = int_query(req, "wait", 0, 0, kMaxWaitSeconds);
  bool insync = change.status == "INSYNC";
  if (wait > 0 && !insync) {
    insync = plane.wait_insync(change.id, std::chrono::seconds(wait));
    if (auto fresh = plane.store().change(change.id); fresh && fresh->has_value()) {
      change = **fresh;
    }
    // The plane wakes waiters when the revision is served, a moment before it marks the
    // batch INSYNC in the store: say what is true now rather than the store's stale PENDING.
    if (insync && change.status != "INSYNC") {
      change.status = "INSYNC";
    }
  }
  json j{{"change", change_json(change, false)}, {"no_op", false}};
  if (wait > 0) {
    j["insync"] = insync;
  }
  return j;
}

// True when every change is an UPSERT that leaves its object as it is (before == after in
// the summary): such a write is a no-op and records no batch.
bool changes_nothing(const json& summary) {
  if (!summary.is_array() || summary.empty()) {
    return false;
  }
  for (const auto& c : summary) {
    if (c.value("action", std::string()) != "UPSERT" || !c.contains("before") ||
        c["before"].is_null() || c["before"] != c.value("after", json())) {
      return false;
    }
  }
  return true;
}

// Submits a batch built against `before` (the snapshot the request was checked against);
// the plan is reported against the same snapshot. The snapshot is let go before the batch
// waits for its group: a catalog no request holds is one the applier can reuse.
json submit_batch(const Services& s, const Request& req, ChangeBatch batch,
                  std::shared_ptr<const Catalog> before) {
  check_wait(req);
  batch.author = req.principal.name;
  json plan = plan_json(batch, *before);
  before.reset();
  control::Plane& plane = plane_of(s);
  if (!changes_nothing(plan["changes"])) {
    json out = submit_result(plane, req, plane.submit(std::move(batch)));
    out["plan"] = std::move(plan);
    return out;
  }
  // A no-op against the snapshot: decide again at apply time, where another writer's change
  // since the snapshot is seen (then the batch goes in as sent).
  auto b = std::make_shared<const ChangeBatch>(std::move(batch));
  json out = submit_result(plane, req, plane.submit([b](const Catalog& cat) -> Result<ChangeBatch> {
    return changes_nothing(config::change_summary(*b, cat)) ? ChangeBatch{} : *b;
  }));
  out["plan"] = std::move(plan);
  return out;
}

// Submits through a builder run against the catalog at apply time. `make` returns the batch,
// or sets *err and returns nothing.
using Make = std::function<std::optional<ChangeBatch>(const Catalog&, BuildError*)>;

json submit_built(const Services& s, const Request& req, const std::string& comment, Make make) {
  check_wait(req);
  control::Plane& plane = plane_of(s);
  auto err = std::make_shared<BuildError>();
  auto plan = std::make_shared<json>();
  std::string author = req.principal.name;
  auto r = plane.submit([=](const Catalog& cat) -> Result<ChangeBatch> {
    *err = BuildError{};
    auto batch = make(cat, err.get());
    if (!batch) {
      return Error{err->message};
    }
    batch->author = author;
    batch->comment = comment;
    *plan = plan_json(*batch, cat);
    return std::move(*batch);
  });
  json out = submit_result(plane, req, r, err);
  out["plan"] = *plan;
  return out;
}

// Dry run: the plan and whether the plane would accept the batch.
json dry_run(const Services& s, const ChangeBatch& batch, const Catalog& before) {
  auto r = plane_of(s).validate(batch);
  if (!r) {
    throw HttpError(400, r.error(), "invalid_change");
  }
  return json{{"dry_run", true}, {"plan", plan_json(batch, before)}};
}

// ---- Record sets ------------------------------------------------------------------------

// A record set body in the config schema, with name/type from the path (or checked against
// it) and the name made absolute. `where` prefixes errors ("changes[2].body").
json record_body(json body, const std::string& abs_name, const std::string& type,
                 const std::string& zone, const std::string& where) {
  require_object(body, where);
  if (auto it = body.find("name"); it != body.end()) {
    if (!it->is_string()) {
      throw HttpError(400, where + ": field 'name' must be a string");
    }
    std::string n = owner_name(it->get<std::string>(), zone, where + ": field 'name'");
    if (n != abs_name) {
      throw HttpError(400, where + ": field 'name' is '" + it->get<std::string>() +
                               "' but the record set is " + abs_name);
    }
  }
  if (auto it = body.find("type"); it != body.end()) {
    if (!it->is_string()) {
      throw HttpError(400, where + ": field 'type' must be a string");
    }
    std::string t = type_text(it->get<std::string>(), where + ": field 'type'");
    if (t != type) {
      throw HttpError(400, where + ": field 'type' is '" + it->get<std::string>() +
                               "' but the record set is " + type);
    }
  }
  body["name"] = abs_name;
  body["type"] = type;
  return body;
}

// "www.example.test./A" -> (name, type).
std::pair<std::string, std::string> split_key(const std::string& key) {
  size_t slash = key.rfind('/');
  if (slash == std::string::npos) {
    return {key, ""};
  }
  return {key.substr(0, slash), key.substr(slash + 1)};
}

// ---- POST /v1/changes -------------------------------------------------------------------

Action parse_action(const json& c, const std::string& where) {
  std::string a = upper(*string_field(c, "action", true, 16));
  if (a == "CREATE") {
    return Action::kCreate;
  }
  if (a == "UPSERT") {
    return Action::kUpsert;
  }
  if (a == "DELETE") {
    return Action::kDelete;
  }
  throw HttpError(400, where + ": field 'action': '" + c["action"].get<std::string>() +
                           "' is not CREATE, UPSERT or DELETE");
}

Kind parse_kind(const json& c, const std::string& where) {
  std::string k = lower(string_field(c, "kind", false, 32).value_or("record_set"));
  if (k == "record_set") {
    return Kind::kRecordSet;
  }
  if (k == "health_check") {
    return Kind::kHealthCheck;
  }
  if (k == "zone") {
    return Kind::kZone;
  }
  if (k == "settings") {
    return Kind::kSettings;
  }
  throw HttpError(400,
                  where + ": field 'kind': '" + k + "' is not record_set, health_check, " +
                      "zone or settings" +
                      config::did_you_mean(k, {"record_set", "health_check", "zone", "settings"}));
}

Change parse_change(const json& c, const Catalog& cat, const std::string& where) {
  require_object(c, where);
  reject_unknown_fields(c, {"action", "kind", "zone", "key", "body"});
  Change ch;
  ch.where = where;
  ch.action = parse_action(c, where);
  ch.kind = parse_kind(c, where);
  json body = c.contains("body") ? c["body"] : json();
  std::optional<std::string> key = string_field(c, "key", false, 1024);
  std::optional<std::string> zone = string_field(c, "zone", false, 256);
  if (ch.action != Action::kDelete && body.is_null()) {
    throw HttpError(400,
                    where + ": field 'body' is required for " + config::action_name(ch.action));
  }
  if (!body.is_null()) {
    require_object(body, where + ".body");
  }
  switch (ch.kind) {
    case Kind::kRecordSet: {
      std::string zname;
      if (zone) {
        const CatalogZone* z = cat.zone_by_id(*zone);
        zname = z != nullptr ? z->row.name : zone_name(*zone, where + ": field 'zone'");
      }
      std::string name_text;
      std::string type_in;
      if (key) {
        auto [n, t] = split_key(*key);
        if (t.empty()) {
          throw HttpError(400, where + ": field 'key': '" + *key +
                                   "' is not NAME/TYPE (e.g. www.example.test./A)");
        }
        name_text = n;
        type_in = t;
      } else {
        if (body.is_null() || !body.contains("name") || !body.contains("type") ||
            !body["name"].is_string() || !body["type"].is_string()) {
          throw HttpError(400, where +
                                   ": give field 'key' (NAME/TYPE) or a body with 'name' "
                                   "and 'type'");
        }
        name_text = body["name"].get<std::string>();
        type_in = body["type"].get<std::string>();
      }
      bool absolute = !name_text.empty() && name_text.back() == '.';
      if (!absolute && zname.empty()) {
        throw HttpError(400, where + ": name '" + name_text +
                                 "' is relative; give field 'zone' or an absolute name");
      }
      std::string abs;
      if (absolute) {
        auto n = dns::Name::from_text(name_text);
        if (!n) {
          throw HttpError(
              400, where + ": name '" + name_text + "' is not a valid domain name: " + n.error());
        }
        abs = lower(n->to_text());
        if (!zname.empty()) {
          abs = owner_name(abs, zname, where + ": name");
        }
      } else {
        abs = owner_name(name_text, zname, where + ": name");
      }
      std::string type = type_text(type_in, where + ": type");
      ch.key = config::record_key(abs, type);
      ch.zone = zname;
      if (!body.is_null()) {
        std::string zone_for_body = zname;
        if (zone_for_body.empty()) {
          const CatalogZone* z = cat.zone_for(abs);
          zone_for_body = z != nullptr ? z->row.name : abs;
        }
        ch.body = record_body(body, abs, type, zone_for_body, where + ".body");
      }
      break;
    }
    case Kind::kHealthCheck: {
      std::string id;
      if (key) {
        id = *key;
      } else if (!body.is_null() && body.contains("id") && body["id"].is_string()) {
        id = body["id"].get<std::string>();
      } else {
        throw HttpError(400, where + ": give field 'key' (the health check id) or body.id");
      }
      if (id.empty()) {
        throw HttpError(400, where + ": the health check id is empty");
      }
      if (!body.is_null()) {
        if (body.contains("id") && body["id"] != id) {
          throw HttpError(400, where + ".body: field 'id' does not match key '" + id + "'");
        }
        body.erase("id");
        ch.body = body;
      }
      ch.key = id;
      break;
    }
    case Kind::kZone: {
      std::string text;
      if (key) {
        text = *key;
      } else if (!body.is_null() && body.contains("name") && body["name"].is_string()) {
        text = body["name"].get<std::string>();
      } else {
        throw HttpError(400, where + ": give field 'key' (the zone name) or body.name");
      }
      ch.key = zone_name(text, where + ": zone name");
      if (!body.is_null()) {
        reject_unknown_fields(body, {"id", "name", "caller_ref", "comment", "settings"});
        auto existing = cat.zones.find(ch.key);
        json row{
            {"id", existing != cat.zones.end() ? existing->second.row.id : store::make_id('Z')},
            {"name", ch.key},
            {"caller_ref", body.value("caller_ref", std::string())},
            {"comment", body.value("comment", std::string())},
            {"settings", body.value("settings", json::object())}};
        if (body.contains("id") && body["id"].is_string()) {
          row["id"] = body["id"];
        }
        ch.body = row;
      }
      break;
    }
    case Kind::kSettings:
      if (key && !key->empty()) {
        throw HttpError(400, where + ": settings changes have no key");
      }
      ch.body = body;
      break;
  }
  return ch;
}

ChangeBatch parse_batch(const json& j, const Catalog& cat) {
  require_object(j);
  reject_unknown_fields(j, {"comment", "changes"});
  ChangeBatch batch;
  batch.comment = string_field(j, "comment", false, 1024).value_or("");
  auto it = j.find("changes");
  if (it == j.end() || !it->is_array()) {
    throw HttpError(400, "field 'changes' is required: an array of {action, kind, key, body}");
  }
  if (it->empty()) {
    throw HttpError(400, "field 'changes' is empty");
  }
  if (it->size() > kMaxChanges) {
    throw HttpError(400, "field 'changes' has " + std::to_string(it->size()) +
                             " entries; at most " + std::to_string(kMaxChanges));
  }
  for (size_t i = 0; i < it->size(); ++i) {
    std::string where = "changes[" + std::to_string(i) + "]";
    try {
      batch.changes.push_back(parse_change((*it)[i], cat, where));
    } catch (const HttpError& e) {
      std::string msg = e.what();
      if (msg.rfind(where, 0) != 0) {
        msg = where + ": " + msg;
      }
      throw HttpError(e.status(), msg, e.code());
    }
  }
  return batch;
}

// ---- Change diff (text) -----------------------------------------------------------------

std::vector<std::string> lines_of(const json& body) {
  std::vector<std::string> out;
  if (body.is_null()) {
    return out;
  }
  std::string text = body.dump(2, ' ', false, json::error_handler_t::replace);
  size_t start = 0;
  while (start <= text.size()) {
    size_t nl = text.find('\n', start);
    out.push_back(text.substr(start, nl == std::string::npos ? std::string::npos : nl - start));
    if (nl == std::string::npos) {
      break;
    }
    start = nl + 1;
  }
  return out;
}

// A line diff by longest common subsequence (bodies are small).
void diff_lines(const std::vector<std::string>& a, const std::vector<std::string>& b,
                std::string* out) {
  size_t n = a.size();
  size_t m = b.size();
  std::vector<std::vector<uint32_t>> lcs(n + 1, std::vector<uint32_t>(m + 1, 0));
  for (size_t i = n; i-- > 0;) {
    for (size_t j = m; j-- > 0;) {
      lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : std::max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  size_t i = 0;
  size_t j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] == b[j]) {
      *out += " " + a[i] + "\n";
      ++i;
      ++j;
    } else if (i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1])) {
      *out += "-" + a[i] + "\n";
      ++i;
    } else {
      *out += "+" + b[j] + "\n";
      ++j;
    }
  }
}

std::string change_diff_text(const store::ChangeRow& c) {
  std::string out = "# change " + c.id + " by " + c.author + " (revision " +
                    std::to_string(c.revision) + ", " + c.status + ")";
  if (!c.comment.empty()) {
    out += ": " + c.comment;
  }
  out += "\n";
  if (!c.changes.is_array()) {
    return out;
  }
  for (const auto& ch : c.changes) {
    std::string label = ch.value("kind", std::string("?")) + " " + ch.value("key", std::string());
    json before = ch.contains("before") ? ch["before"] : json();
    json after = ch.contains("after") ? ch["after"] : json();
    out += "--- " + (before.is_null() ? std::string("/dev/null") : "a/" + label) + "\n";
    out += "+++ " + (after.is_null() ? std::string("/dev/null") : "b/" + label) + "\n";
    out += "@@ " + ch.value("action", std::string("?")) + " " + label + " @@\n";
    diff_lines(lines_of(before), lines_of(after), &out);
  }
  return out;
}

// ---- Steering ---------------------------------------------------------------------------

// One alerting command (daemon/alert_service.h); errors: 404 for an unknown alert, else 400.
json alerts_cmd(const Services& s, json cmd) {
  if (!s.alerts) {
    throw HttpError(503, "alerting is not available");
  }
  auto r = s.alerts(cmd);
  if (!r) {
    const std::string& m = r.error();
    throw HttpError(m.find("no open alert") != std::string::npos ? 404 : 400, m);
  }
  return *r;
}

json steer(const Services& s, json cmd) {
  if (!s.steering) {
    throw HttpError(503, "the steering service is not available");
  }
  auto r = s.steering(cmd);
  if (!r) {
    const std::string& m = r.error();
    bool missing =
        m.find("no such") != std::string::npos || m.find("no health check") != std::string::npos ||
        m.find("not found") != std::string::npos || m.find("no record set") != std::string::npos ||
        m.find("no steered") != std::string::npos;
    throw HttpError(missing ? 404 : 400, m);
  }
  return *r;
}

// The principal is the author; an author the client put in the body is kept as a note.
std::string with_author_note(const std::string& reason, const json& body,
                             const std::string& principal) {
  auto a = string_field(body, "author", false, 256);
  if (!a || a->empty() || *a == principal) {
    return reason;
  }
  return reason.empty() ? "(author note: " + *a + ")" : reason + " (author note: " + *a + ")";
}

// An optional body (DELETE /v1/overrides): {} when there is none.
json optional_body(const Request& req) {
  if (req.raw == nullptr || req.body().empty()) {
    return json::object();
  }
  json b = req.json_body();
  require_object(b);
  return b;
}

}  // namespace

void add_native_routes(Router& router, const Services& services) {
  auto sp = std::make_shared<const Services>(services);

  using V = http::verb;

  bool has_health = false;
  for (const auto& r : router.routes()) {
    has_health = has_health || (r.method == V::get && r.pattern == "/v1/health/checks");
  }
  if (!has_health) {
    HealthAccess ha;
    ha.report = [sp] {
      if (!sp->health_report) {
        throw HttpError(503, "the health engine is not available");
      }
      return sp->health_report();
    };
    ha.set_external = [sp](const std::string& id, bool healthy, const std::string& reason) {
      if (!sp->set_external) {
        throw HttpError(503, "the health engine is not available");
      }
      return sp->set_external(id, healthy, reason);
    };
    add_health_routes(router, std::move(ha));
  }
  add_dashboard_routes(router);  // the web page at /dashboard/ over this API

  // ---- Zones ----
  router.add(V::get, "/v1/zones", [sp, &s = *sp](const Request&) {
    auto cat = snapshot(s);
    json zones = json::array();
    for (const auto& [name, z] : cat->zones) {
      zones.push_back(zone_json(z));
    }
    return json_response(200, json{{"zones", zones}, {"revision", cat->revision}});
  });

  router.add(V::post, "/v1/zones", [sp, &s = *sp](const Request& req) {
    json body = req.json_body();
    require_object(body);
    reject_unknown_fields(body, {"name", "comment", "settings"});
    std::string name = zone_name(*string_field(body, "name", true, 256), "field 'name'");
    std::string comment = string_field(body, "comment", false, 1024).value_or("");
    json settings = body.value("settings", json::object());
    if (!settings.is_object()) {
      throw HttpError(400, "field 'settings' must be an object ({ttl, soa, ns})");
    }
    auto cat = snapshot(s);
    if (!settings.contains("file")) {
      // What the creator left out comes from the defaults Route 53's CreateHostedZone uses; a
      // partial soa keeps its given fields, and its mname defaults to the first given NS.
      json d = config::default_zone_settings(name, &*cat);
      if (auto ns = settings.find("ns");
          ns != settings.end() && ns->is_array() && !ns->empty() && ns->front().is_string()) {
        d["soa"]["mname"] = ns->front();
      }
      if (auto soa = settings.find("soa"); soa != settings.end() && soa->is_object()) {
        d["soa"].update(*soa);
        *soa = d["soa"];
      }
      for (const char* k : {"ttl", "soa", "ns"}) {
        if (!settings.contains(k)) {
          settings[k] = d[k];
        }
      }
    }
    if (cat->zones.count(name) != 0) {
      throw HttpError(409,
                      "zone '" + name + "' already exists (id " + cat->zones.at(name).row.id + ")",
                      "zone_exists");
    }
    std::string id = store::make_id('Z');
    ChangeBatch batch;
    batch.comment = "create zone " + name;
    Change ch;
    ch.action = Action::kCreate;
    ch.kind = Kind::kZone;
    ch.key = name;
    ch.where = "zone " + name;
    ch.body = json{{"id", id},
                   {"name", name},
                   {"caller_ref", ""},
                   {"comment", comment},
                   {"settings", settings}};
    batch.changes.push_back(ch);
    json out = submit_batch(s, req, std::move(batch), std::move(cat));
    json zone = ch.body;
    if (auto now = plane_of(s).catalog(); now && now->zones.count(name) != 0) {
      zone = zone_json(now->zones.at(name));
    }
    out["zone"] = zone;
    return json_response(201, out);
  });

  router.add(V::get, "/v1/zones/{zone}", [sp, &s = *sp](const Request& req) {
    auto cat = snapshot(s);
    return json_response(200, zone_json(find_zone(*cat, req.param("zone"))));
  });

  router.add(V::delete_, "/v1/zones/{zone}", [sp, &s = *sp](const Request& req) {
    auto cat = snapshot(s);
    const CatalogZone& z = find_zone(*cat, req.param("zone"));
    bool force = bool_query(req, "force");
    if (!force && !z.records.empty()) {
      throw HttpError(409,
                      "zone '" + z.row.name + "' still has " + std::to_string(z.records.size()) +
                          " record sets; delete them first or add ?force=true",
                      "zone_not_empty");
    }
    std::string name = z.row.name;
    return json_response(
        200, submit_built(
                 s, req, "delete zone " + name,
                 [name, force](const Catalog& c, BuildError* err) -> std::optional<ChangeBatch> {
                   auto it = c.zones.find(name);
                   if (it == c.zones.end()) {
                     *err = {404, "not_found", "zone '" + name + "': no such zone"};
                     return std::nullopt;
                   }
                   ChangeBatch b;
                   if (force) {
                     for (const auto& [key, body] : it->second.records) {
                       Change d;
                       d.action = Action::kDelete;
                       d.kind = Kind::kRecordSet;
                       d.key = key;
                       d.zone = name;
                       d.where = "record set " + key;
                       b.changes.push_back(std::move(d));
                     }
                   }
                   Change d;
                   d.action = Action::kDelete;
                   d.kind = Kind::kZone;
                   d.key = name;
                   d.where = "zone " + name;
                   b.changes.push_back(std::move(d));
                   return b;
                 }));
  });

  // ---- Record sets ----
  router.add(V::get, "/v1/zones/{zone}/rrsets", [sp, &s = *sp](const Request& req) {
    auto cat = snapshot(s);
    const CatalogZone& z = find_zone(*cat, req.param("zone"));
    std::string prefix = lower(req.query_value("name").value_or(""));
    std::string type;
    if (auto t = req.query_value("type"); t && !t->empty()) {
      type = type_text(*t, "query parameter 'type'");
    }
    size_t limit = static_cast<size_t>(int_query(req, "limit", 100, 1, 1000));
    std::string after = req.query_value("after").value_or("");
    json rrsets = json::array();
    std::string last;
    bool more = false;
    auto it = after.empty() ? z.records.begin() : z.records.upper_bound(after);
    for (; it != z.records.end(); ++it) {
      auto [name, t] = split_key(it->first);
      if (!prefix.empty() && name.rfind(prefix, 0) != 0) {
        continue;
      }
      if (!type.empty() && t != type) {
        continue;
      }
      if (rrsets.size() == limit) {
        more = true;
        break;
      }
      json body = it->second;
      body["key"] = it->first;
      rrsets.push_back(std::move(body));
      last = it->first;
    }
    json out{{"zone", z.row.name}, {"rrsets", rrsets}};
    if (more) {
      out["next"] = last;
    }
    return json_response(200, out);
  });

  // The record set a {name}/{type} path names, in the zone it names.
  struct Target {
    std::shared_ptr<const Catalog> cat;
    const CatalogZone* zone;
    std::string name;
    std::string type;
    std::string key;
  };
  auto target = [sp, &s = *sp](const Request& req) {
    Target t;
    t.cat = snapshot(s);
    t.zone = &find_zone(*t.cat, req.param("zone"));
    t.name = owner_name(req.param("name"), t.zone->row.name, "path name");
    t.type = type_text(req.param("type"), "path type");
    t.key = config::record_key(t.name, t.type);
    const CatalogZone* holder = t.cat->zone_for(t.name);
    if (holder != nullptr && holder->row.name != t.zone->row.name) {
      throw HttpError(400, "name '" + t.name + "' belongs to the delegated zone " +
                               holder->row.name + ", not " + t.zone->row.name);
    }
    return t;
  };

  router.add(V::get, "/v1/zones/{zone}/rrsets/{name}/{type}", [target](const Request& req) {
    Target t = target(req);
    auto it = t.zone->records.find(t.key);
    if (it == t.zone->records.end()) {
      throw HttpError(404, "record set " + t.key + ": not found in zone " + t.zone->row.name);
    }
    json body = it->second;
    body["key"] = it->first;
    return json_response(200, body);
  });

  router.add(
      V::put, "/v1/zones/{zone}/rrsets/{name}/{type}", [sp, &s = *sp, target](const Request& req) {
        Target t = target(req);
        json body = record_body(req.json_body(), t.name, t.type, t.zone->row.name, "request body");
        ChangeBatch batch;
        batch.comment = "upsert " + t.key;
        Change ch;
        ch.action = Action::kUpsert;
        ch.kind = Kind::kRecordSet;
        ch.key = t.key;
        ch.zone = t.zone->row.name;
        ch.body = body;
        ch.where = "record set " + t.key;
        batch.changes.push_back(std::move(ch));
        json out = submit_batch(s, req, std::move(batch), std::move(t.cat));
        out["rrset"] = body;
        return json_response(200, out);
      });

  router.add(V::delete_, "/v1/zones/{zone}/rrsets/{name}/{type}",
             [sp, &s = *sp, target](const Request& req) {
               Target t = target(req);
               if (t.zone->records.count(t.key) == 0) {
                 throw HttpError(404,
                                 "record set " + t.key + ": not found in zone " + t.zone->row.name);
               }
               ChangeBatch batch;
               batch.comment = "delete " + t.key;
               Change ch;
               ch.action = Action::kDelete;
               ch.kind = Kind::kRecordSet;
               ch.key = t.key;
               ch.zone = t.zone->row.name;
               ch.where = "record set " + t.key;
               batch.changes.push_back(std::move(ch));
               return json_response(200, submit_batch(s, req, std::move(batch), std::move(t.cat)));
             });

  // ---- Metrics ----
  // Public like /healthz: Prometheus scrapes without a token (docs/metrics.md).
  router.add(V::get, "/metrics", Access::kPublic, [sp, &s = *sp](const Request&) {
    if (!s.metrics) {
      throw HttpError(503, "metrics are not available");
    }
    Response r = text_response(200, s.metrics());
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    return r;
  });

  // ---- Change batches ----
  router.add(V::post, "/v1/changes", [sp, &s = *sp](const Request& req) {
    auto cat = snapshot(s);
    ChangeBatch batch = parse_batch(req.json_body(), *cat);
    batch.author = req.principal.name;
    if (bool_query(req, "dry_run")) {
      return json_response(200, dry_run(s, batch, *cat));
    }
    return json_response(200, submit_batch(s, req, std::move(batch), std::move(cat)));
  });

  router.add(V::get, "/v1/changes", [sp, &s = *sp](const Request& req) {
    size_t limit = static_cast<size_t>(int_query(req, "limit", 50, 1, 1000));
    int64_t before = int_query(req, "before", 0, 0, std::numeric_limits<int64_t>::max() / 2);
    auto r = plane_of(s).store().changes(limit, before);
    if (!r) {
      throw HttpError(500, "listing changes: " + r.error(), "store_error");
    }
    json list = json::array();
    for (const auto& c : *r) {
      list.push_back(change_json(c, false));
    }
    json out{{"changes", list}};
    if (r->size() == limit && !r->empty()) {
      out["next_before"] = r->back().revision;
    }
    return json_response(200, out);
  });

  auto get_change = [sp, &s = *sp](const std::string& id) {
    auto r = plane_of(s).store().change(id);
    if (!r) {
      throw HttpError(500, "change " + id + ": " + r.error(), "store_error");
    }
    if (!r->has_value()) {
      throw HttpError(404, "change '" + id + "': no such change");
    }
    return **r;
  };
  router.add(V::get, "/v1/changes/{id}", [get_change](const Request& req) {
    return json_response(200, change_json(get_change(req.param("id")), true));
  });
  router.add(V::get, "/v1/changes/{id}/diff", [get_change](const Request& req) {
    return text_response(200, change_diff_text(get_change(req.param("id"))));
  });

  // ---- Declarative catalog ----
  router.add(V::get, "/v1/catalog", [sp, &s = *sp](const Request&) {
    return json_response(200, config::to_json(*snapshot(s)));
  });

  router.add(V::post, "/v1/apply", [sp, &s = *sp](const Request& req) {
    auto desired = config::catalog_from_json(req.json_body());
    if (!desired) {
      throw HttpError(400, "request body: " + desired.error(), "invalid_catalog");
    }
    std::string comment = req.query_value("comment").value_or("apply");
    if (bool_query(req, "dry_run")) {
      auto cat = snapshot(s);
      ChangeBatch batch = config::diff(*cat, *desired);
      batch.author = req.principal.name;
      batch.comment = comment;
      if (batch.changes.empty()) {
        return json_response(200, json{{"dry_run", true}, {"plan", plan_json(batch, *cat)}});
      }
      return json_response(200, dry_run(s, batch, *cat));
    }
    auto want = std::make_shared<const Catalog>(std::move(*desired));
    return json_response(
        200, submit_built(s, req, comment,
                          [want](const Catalog& c, BuildError*) -> std::optional<ChangeBatch> {
                            return config::diff(c, *want);
                          }));
  });

  // ---- Zone files ----
  router.add(V::get, "/v1/zones/{zone}/export", [sp, &s = *sp](const Request& req) {
    auto cat = snapshot(s);
    const CatalogZone& z = find_zone(*cat, req.param("zone"));
    auto text = config::export_zone_text(*cat, z.row.name);
    if (!text) {
      throw HttpError(500, "export of zone " + z.row.name + ": " + text.error());
    }
    Response r = text_response(200, std::move(*text));
    r.content_type = "text/dns";
    return r;
  });

  router.add(V::post, "/v1/zones/{zone}/import", [sp, &s = *sp](const Request& req) {
    auto cat = snapshot(s);
    std::string origin;
    if (const CatalogZone* z = cat->zone_by_id(req.param("zone")); z != nullptr) {
      origin = z->row.name;
    } else {
      origin = zone_name(req.param("zone"), "zone");
    }
    if (req.body().empty()) {
      throw HttpError(400, "request body is empty; expected a master file (text/dns)");
    }
    auto imported = config::import_zone_text(origin, req.body());
    if (!imported) {
      throw HttpError(400, "zone file for " + origin + ": " + imported.error(), "invalid_zone");
    }
    bool replace = bool_query(req, "replace");
    auto in = std::make_shared<const CatalogZone>(std::move(*imported));
    json out = submit_built(
        s, req, "import zone " + origin,
        [in, origin, replace](const Catalog& c, BuildError*) -> std::optional<ChangeBatch> {
          ChangeBatch b;
          auto it = c.zones.find(origin);
          const CatalogZone* z = it == c.zones.end() ? nullptr : &it->second;
          if (z == nullptr) {
            Change zc;
            zc.action = Action::kCreate;
            zc.kind = Kind::kZone;
            zc.key = origin;
            zc.where = "zone " + origin;
            zc.body = json{{"id", store::make_id('Z')},
                           {"name", origin},
                           {"caller_ref", ""},
                           {"comment", "imported"},
                           {"settings", in->row.settings}};
            b.changes.push_back(std::move(zc));
          } else {
            json settings = z->row.settings.is_object() ? z->row.settings : json::object();
            if (in->row.settings.is_object()) {
              settings.update(in->row.settings);
            }
            if (settings != z->row.settings) {
              Change zc;
              zc.action = Action::kUpsert;
              zc.kind = Kind::kZone;
              zc.key = origin;
              zc.where = "zone " + origin;
              zc.body = json{{"id", z->row.id},
                             {"name", origin},
                             {"caller_ref", z->row.caller_ref},
                             {"comment", z->row.comment},
                             {"settings", settings}};
              b.changes.push_back(std::move(zc));
            }
          }
          for (const auto& [key, body] : in->records) {
            if (z != nullptr) {
              auto old = z->records.find(key);
              if (old != z->records.end() && old->second == body) {
                continue;
              }
            }
            Change rc;
            rc.action = Action::kUpsert;
            rc.kind = Kind::kRecordSet;
            rc.key = key;
            rc.zone = origin;
            rc.body = body;
            rc.where = "zone file: " + key;
            b.changes.push_back(std::move(rc));
          }
          if (replace && z != nullptr) {
            for (const auto& [key, body] : z->records) {
              if (in->records.count(key) == 0) {
                Change rc;
                rc.action = Action::kDelete;
                rc.kind = Kind::kRecordSet;
                rc.key = key;
                rc.zone = origin;
                rc.where = "replace: " + key;
                b.changes.push_back(std::move(rc));
              }
            }
          }
          return b;
        });
    out["zone"] = origin;
    out["rrsets_in_file"] = in->records.size();
    return json_response(200, out);
  });

  // ---- Health check configuration ----
  auto check_change = [sp, &s = *sp](const Request& req, Action action, const std::string& id,
                                     json body) {
    auto cat = snapshot(s);
    ChangeBatch batch;
    batch.comment = std::string(config::action_name(action)) + " health check " + id;
    Change ch;
    ch.action = action;
    ch.kind = Kind::kHealthCheck;
    ch.key = id;
    ch.body = std::move(body);
    ch.where = "health check " + id;
    batch.changes.push_back(std::move(ch));
    return submit_batch(s, req, std::move(batch), std::move(cat));
  };

  router.add(V::post, "/v1/health/checks", [sp, &s = *sp, check_change](const Request& req) {
    json body = req.json_body();
    require_object(body);
    std::string id = *string_field(body, "id", true, 256);
    if (id.empty()) {
      throw HttpError(400, "field 'id' is empty");
    }
    body.erase("id");
    if (snapshot(s)->checks.count(id) != 0) {
      throw HttpError(409,
                      "health check '" + id + "' already exists; PUT " + "/v1/health/checks/" + id +
                          " to change it",
                      "check_exists");
    }
    json out = check_change(req, Action::kCreate, id, body);
    body["id"] = id;
    out["check"] = body;
    return json_response(201, out);
  });

  router.add(V::put, "/v1/health/checks/{id}", [check_change](const Request& req) {
    const std::string& id = req.param("id");
    json body = req.json_body();
    require_object(body);
    if (auto it = body.find("id"); it != body.end()) {
      if (*it != id) {
        throw HttpError(400, "field 'id' is " + it->dump() + " but the path says '" + id + "'");
      }
      body.erase(it);
    }
    json out = check_change(req, Action::kUpsert, id, body);
    body["id"] = id;
    out["check"] = body;
    return json_response(200, out);
  });

  router.add(V::delete_, "/v1/health/checks/{id}",
             [sp, &s = *sp, check_change](const Request& req) {
               const std::string& id = req.param("id");
               if (snapshot(s)->checks.count(id) == 0) {
                 throw HttpError(404, "health check '" + id + "': no such check in the catalog");
               }
               return json_response(200, check_change(req, Action::kDelete, id, json()));
             });

  router.add(V::get, "/v1/health/checks/{id}/config", [sp, &s = *sp](const Request& req) {
    auto cat = snapshot(s);
    const std::string& id = req.param("id");
    auto it = cat->checks.find(id);
    if (it == cat->checks.end()) {
      throw HttpError(404, "health check '" + id + "': no such check in the catalog");
    }
    return json_response(200, json{{"id", id},
                                   {"caller_ref", it->second.caller_ref},
                                   {"version", it->second.version},
                                   {"config", it->second.body}});
  });

  // ---- Steering ----
  router.add(V::get, "/v1/status", [sp, &s = *sp](const Request&) {
    return json_response(200, steer(s, json{{"cmd", "status"}}));
  });
  router.add(V::get, "/v1/drills", [sp, &s = *sp](const Request&) {
    json st = steer(s, json{{"cmd", "status"}});
    return json_response(200, json{{"drills", st.value("drills", json::array())}});
  });
  router.add(V::get, "/v1/overrides", [sp, &s = *sp](const Request&) {
    return json_response(200, steer(s, json{{"cmd", "override-list"}}));
  });
  router.add(V::post, "/v1/overrides", [sp, &s = *sp](const Request& req) {
    json body = req.json_body();
    require_object(body);
    reject_unknown_fields(body,
                          {"scope", "target", "action", "expires", "reason", "drain", "author"});
    json cmd{{"cmd", "override-set"},
             {"scope", *string_field(body, "scope", true, 16)},
             {"target", *string_field(body, "target", true, 1024)},
             {"action", *string_field(body, "action", true, 16)},
             {"expires", *string_field(body, "expires", true, 64)},
             {"reason", with_author_note(string_field(body, "reason", false, 1024).value_or(""),
                                         body, req.principal.name)},
             {"drain", string_field(body, "drain", false, 64).value_or("")},
             {"author", req.principal.name}};
    return json_response(201, steer(s, cmd));
  });
  router.add(V::delete_, "/v1/overrides", [sp, &s = *sp](const Request& req) {
    json body = optional_body(req);
    reject_unknown_fields(body, {"scope", "target", "author"});
    auto field = [&](const char* name) {
      if (auto v = string_field(body, name, false, 1024)) {
        return *v;
      }
      if (auto q = req.query_value(name); q && !q->empty()) {
        return *q;
      }
      throw HttpError(400, std::string("field '") + name +
                               "' is required (in the JSON body or as ?" + name + "=)");
    };
    json cmd{{"cmd", "override-clear"},
             {"scope", field("scope")},
             {"target", field("target")},
             {"author", req.principal.name}};
    return json_response(200, steer(s, cmd));
  });
  router.add(V::post, "/v1/failback/approve", [sp, &s = *sp](const Request& req) {
    json body = req.json_body();
    require_object(body);
    reject_unknown_fields(body, {"set", "author"});
    json cmd{{"cmd", "failback-approve"},
             {"set", *string_field(body, "set", true, 1024)},
             {"author", req.principal.name}};
    json out = steer(s, cmd);
    if (auto note = string_field(body, "author", false, 256);
        note && !note->empty() && *note != req.principal.name) {
      out["author_note"] = *note;
    }
    return json_response(200, out);
  });
  // ---- Alerts and availability ----
  router.add(V::get, "/v1/alerts", [sp, &s = *sp](const Request& req) {
    auto all = req.query_value("all");
    bool want_all = all && (*all == "1" || *all == "true");
    return json_response(200, alerts_cmd(s, json{{"cmd", "list"}, {"all", want_all}}));
  });
  router.add(V::post, "/v1/alerts/{id}/ack", [sp, &s = *sp](const Request& req) {
    json body = req.json_body();
    require_object(body);
    reject_unknown_fields(body, {"reason", "author"});
    json cmd{{"cmd", "ack"},
             {"id", req.param("id")},
             {"reason", with_author_note(*string_field(body, "reason", true, 1024), body,
                                         req.principal.name)},
             {"by", req.principal.name}};
    return json_response(200, alerts_cmd(s, cmd));
  });
  router.add(V::get, "/v1/alerts/outbox", [sp, &s = *sp](const Request& req) {
    auto limit = int_query(req, "limit", 100, 1, 1000);
    json cmd{{"cmd", "outbox"}, {"limit", limit}, {"alert", req.query_value("alert").value_or("")}};
    return json_response(200, alerts_cmd(s, cmd));
  });
  router.add(V::get, "/v1/slo", [sp, &s = *sp](const Request&) {
    return json_response(200, alerts_cmd(s, json{{"cmd", "slo"}}));
  });
  // ---- Fleet ----
  router.add(V::get, "/v1/cluster", [sp, &s = *sp](const Request& req) {
    if (!s.cluster) {
      throw HttpError(503, "cluster status is not available");
    }
    auto etcd = req.query_value("etcd");
    return json_response(200, s.cluster(etcd && (*etcd == "1" || *etcd == "true")));
  });
  router.add(V::get, "/v1/events", [sp, &s = *sp](const Request& req) {
    auto last = static_cast<uint64_t>(int_query(req, "last", 20, 1, 10000));
    return json_response(200, steer(s, json{{"cmd", "events"}, {"last", last}}));
  });
  router.add(V::get, "/v1/explain", [sp, &s = *sp](const Request& req) {
    json cmd{{"cmd", "explain"},
             {"name", required_query(req, "name")},
             {"type", required_query(req, "type")},
             {"client", req.query_value("client").value_or("")},
             {"ecs", req.query_value("ecs").value_or("")}};
    return json_response(200, steer(s, cmd));
  });
  router.add(V::post, "/v1/simulate", [sp, &s = *sp](const Request& req) {
    json body = req.json_body();
    require_object(body);
    reject_unknown_fields(body, {"down", "client", "ecs"});
    auto down = body.find("down");
    if (down == body.end() || !down->is_array() || down->empty()) {
      throw HttpError(400, "field 'down' is required: a non-empty array of health check ids");
    }
    for (size_t i = 0; i < down->size(); ++i) {
      if (!(*down)[i].is_string()) {
        throw HttpError(400, "field 'down[" + std::to_string(i) + "]' must be a string");
      }
    }
    json cmd{{"cmd", "simulate"},
             {"down", *down},
             {"client", string_field(body, "client", false, 256).value_or("")},
             {"ecs", string_field(body, "ecs", false, 256).value_or("")}};
    return json_response(200, steer(s, cmd));
  });
  router.add(V::get, "/v1/answer", [sp, &s = *sp](const Request& req) {
    if (!s.answer) {
      throw HttpError(503, "answering is not available");
    }
    Question q;
    q.name = required_query(req, "name");
    q.type = type_text(required_query(req, "type"), "query parameter 'type'");
    q.client_ip = req.query_value("client").value_or("");
    q.ecs = req.query_value("ecs").value_or("");
    auto r = s.answer(q);
    if (!r) {
      throw HttpError(400, r.error());
    }
    return json_response(200, *r);
  });
}

}  // namespace steerdns::api
