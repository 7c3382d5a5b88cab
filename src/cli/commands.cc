#include "cli/commands.h"

#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <memory>
#include <thread>
#include <vector>

#include "cli/api_client.h"
#include "config/catalog.h"
#include "config/loader.h"
#include "core/file.h"

namespace steerdns::cli {
namespace {

using nlohmann::json;

struct Args {
  ApiOptions api;
  bool json_out = false;
  // changes
  std::string change_id;
  size_t limit = 20;
  std::string wait_timeout = "60s";
  // zones / records / zone
  std::string zone, name, type, comment, file, out;
  std::string filter_name, filter_type;
  int64_t ttl = -1;
  std::vector<std::string> values;
  std::vector<std::string> ns;
  std::string rname;
  bool replace = false;
  bool force = false;
  // apply
  bool dry_run = false, yes = false, no_wait = false;
};

void print_json(const json& j) {
  std::printf("%s\n", j.dump(2, ' ', false, json::error_handler_t::replace).c_str());
}

int fail(const std::string& what, const std::string& why) {
  std::fprintf(stderr, "steerdns %s: %s\n", what.c_str(), why.c_str());
  return 1;
}

std::string str(const json& j, const char* k) {
  if (!j.is_object()) {
    return "";
  }
  auto it = j.find(k);
  if (it == j.end() || it->is_null()) {
    return "";
  }
  return it->is_string() ? it->get<std::string>() : it->dump();
}

// The list in a reply: {"<key>": [...]} or a bare array.
json list_of(const json& reply, std::initializer_list<const char*> keys) {
  if (reply.is_array()) {
    return reply;
  }
  if (reply.is_object()) {
    for (const char* k : keys) {
      if (auto it = reply.find(k); it != reply.end() && it->is_array()) {
        return *it;
      }
    }
  }
  return json::array();
}

// The object in a reply: {"<key>": {...}} or the reply itself.
json object_of(const json& reply, const char* key) {
  if (reply.is_object()) {
    if (auto it = reply.find(key); it != reply.end() && it->is_object()) {
      return *it;
    }
  }
  return reply;
}

std::string iso_time(int64_t wall_ms) {
  if (wall_ms <= 0) {
    return "-";
  }
  time_t secs = static_cast<time_t>(wall_ms / 1000);
  tm t{};
  gmtime_r(&secs, &t);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &t);
  return buf;
}

int64_t int_of(const json& j, const char* k) {
  if (!j.is_object()) {
    return 0;
  }
  auto it = j.find(k);
  return it != j.end() && it->is_number() ? it->get<int64_t>() : 0;
}

Result<ApiClient> client_for(const Args& a) {
  auto s = resolve_settings(a.api);
  if (!s) {
    return Error{s.error()};
  }
  return ApiClient(std::move(*s));
}

std::string seg(const std::string& s) { return url_escape(s); }

std::string change_line(const json& c) {
  std::string line = str(c, "action") + " " + str(c, "kind") + " " + str(c, "key");
  if (!str(c, "zone").empty() && str(c, "kind") != "zone") {
    line += " (zone " + str(c, "zone") + ")";
  }
  return line;
}

// "change C123 PENDING" after a write, plus the details the reply carries.
void print_write(const std::string& what, const json& reply) {
  std::string id = change_id_of(reply);
  json ch = object_of(reply, "change");
  if (id.empty()) {
    std::printf("%s\n", what.c_str());
    return;
  }
  std::printf("%s: change %s %s\n", what.c_str(), id.c_str(), str(ch, "status").c_str());
}

// --- changes ---------------------------------------------------------------------------------

int run_changes_list(const Args& a) {
  auto c = client_for(a);
  if (!c) {
    return fail("changes list", c.error());
  }
  auto r = c->call("GET", "/v1/changes?limit=" + std::to_string(a.limit));
  if (!r) {
    return fail("changes list", r.error());
  }
  if (a.json_out) {
    print_json(*r);
    return 0;
  }
  std::fputs(changes_table(list_of(*r, {"changes", "items"})).c_str(), stdout);
  return 0;
}

void print_change(const json& ch) {
  std::printf("id:        %s\n", str(ch, "id").c_str());
  std::printf("status:    %s\n", str(ch, "status").c_str());
  std::printf("revision:  %s\n", str(ch, "revision").c_str());
  std::printf("author:    %s\n", str(ch, "author").c_str());
  std::printf("comment:   %s\n", str(ch, "comment").c_str());
  std::printf("submitted: %s\n", iso_time(int_of(ch, "submitted_ms")).c_str());
  std::printf("insync:    %s\n", iso_time(int_of(ch, "insync_ms")).c_str());
  json changes = list_of(ch, {"changes"});
  std::printf("changes:   %zu\n", changes.size());
  for (const auto& c : changes) {
    std::printf("  %s\n", change_line(c).c_str());
  }
}

int run_changes_get(const Args& a) {
  auto c = client_for(a);
  if (!c) {
    return fail("changes get", c.error());
  }
  auto r = c->call("GET", "/v1/changes/" + seg(a.change_id));
  if (!r) {
    return fail("changes get", r.error());
  }
  if (a.json_out) {
    print_json(*r);
  } else {
    print_change(object_of(*r, "change"));
  }
  return 0;
}

std::string one_line(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

int run_changes_diff(const Args& a) {
  auto c = client_for(a);
  if (!c) {
    return fail("changes diff", c.error());
  }
  auto reply = c->send("GET", "/v1/changes/" + seg(a.change_id) + "/diff");
  if (!reply) {
    return fail("changes diff", reply.error());
  }
  if (reply->status < 200 || reply->status > 299) {
    return fail("changes diff", c->reply_error(*reply));
  }
  json j = json::parse(reply->body, nullptr, false);
  if (j.is_discarded()) {
    // A text diff: print it as the server made it.
    if (a.json_out) {
      print_json(json{{"diff", reply->body}});
    } else {
      std::fputs(reply->body.c_str(), stdout);
    }
    return 0;
  }
  if (a.json_out) {
    print_json(j);
    return 0;
  }
  for (const char* k : {"diff", "plan", "text"}) {
    if (j.is_object() && j.contains(k) && j[k].is_string()) {
      std::string t = j[k].get<std::string>();
      std::fputs(t.c_str(), stdout);
      if (!t.empty() && t.back() != '\n') {
        std::fputc('\n', stdout);
      }
      return 0;
    }
  }
  // Structured: every change with its body before and after.
  for (const auto& ch : list_of(object_of(j, "change"), {"changes"})) {
    std::printf("%s\n", change_line(ch).c_str());
    if (ch.contains("before") && !ch["before"].is_null()) {
      std::printf("  - %s\n", one_line(ch["before"]).c_str());
    }
    if (ch.contains("after") && !ch["after"].is_null()) {
      std::printf("  + %s\n", one_line(ch["after"]).c_str());
    }
  }
  return 0;
}

// Polls the change until INSYNC; 0 when it is, 1 on an error or at the deadline.
int wait_insync(const ApiClient& c, const std::string& id, const std::string& timeout,
                bool json_out, bool quiet = false) {
  auto ms = config::parse_duration_ms(timeout);
  if (!ms || *ms < 0) {
    return fail("changes wait",
                "--timeout '" + timeout + "': " + (ms ? "must not be negative" : ms.error()));
  }
  auto start = std::chrono::steady_clock::now();
  auto deadline = start + std::chrono::milliseconds(*ms);
  auto interval = std::chrono::milliseconds(100);
  while (true) {
    auto r = c.call("GET", "/v1/changes/" + seg(id));
    if (!r) {
      return fail("changes wait", r.error());
    }
    json ch = object_of(*r, "change");
    std::string status = str(ch, "status");
    auto now = std::chrono::steady_clock::now();
    if (status == "INSYNC") {
      if (quiet) {
        return 0;
      }
      if (json_out) {
        print_json(*r);
      } else {
        double secs = std::chrono::duration<double>(now - start).count();
        std::printf("change %s is INSYNC (waited %.1fs)\n", id.c_str(), secs);
      }
      return 0;
    }
    if (now >= deadline) {
      return fail("changes wait",
                  "change " + id + " is still " + status + " after " + timeout + " (--timeout)");
    }
    std::this_thread::sleep_for(
        std::min<std::chrono::steady_clock::duration>(interval, deadline - now));
    interval = std::min(interval * 2, std::chrono::milliseconds(1000));
  }
}

int run_changes_wait(const Args& a) {
  auto c = client_for(a);
  if (!c) {
    return fail("changes wait", c.error());
  }
  return wait_insync(*c, a.change_id, a.wait_timeout, a.json_out);
}

// --- zones -------------------------------------------------------------------------------------

int run_zones_list(const Args& a) {
  auto c = client_for(a);
  if (!c) {
    return fail("zones list", c.error());
  }
  auto r = c->call("GET", "/v1/zones");
  if (!r) {
    return fail("zones list", r.error());
  }
  if (a.json_out) {
    print_json(*r);
    return 0;
  }
  json zones = list_of(*r, {"zones", "hosted_zones", "items"});
  if (zones.empty()) {
    std::printf("no zones\n");
    return 0;
  }
  std::printf("%-32s %-24s %7s %s\n", "NAME", "ID", "RECORDS", "COMMENT");
  for (const auto& z : zones) {
    std::string count = str(z, "rrset_count");
    if (count.empty()) {
      count = str(z, "records");
      if (z.contains("records") && z["records"].is_array()) {
        count = std::to_string(z["records"].size());
      }
    }
    std::printf("%-32s %-24s %7s %s\n", str(z, "name").c_str(), str(z, "id").c_str(), count.c_str(),
                str(z, "comment").c_str());
  }
  return 0;
}

int run_zones_create(const Args& a) {
  auto c = client_for(a);
  if (!c) {
    return fail("zones create", c.error());
  }
  json body{{"name", a.zone}};
  if (!a.comment.empty()) {
    body["comment"] = a.comment;
  }
  // Only what was given: the server fills in the rest (SOA mname = the first name server,
  // Route 53's timers; see default_zone_settings).
  json settings = json::object();
  if (!a.ns.empty()) {
    settings["ns"] = a.ns;
  }
  if (!a.rname.empty()) {
    settings["soa"] = json{{"rname", a.rname}};
  }
  if (!settings.empty()) {
    body["settings"] = std::move(settings);
  }
  auto r = c->call("POST", "/v1/zones", &body);
  if (!r) {
    return fail("zones create", r.error());
  }
  if (a.json_out) {
    print_json(*r);
  } else {
    json z = object_of(*r, "zone");
    print_write(
        "zone " + a.zone + " created" + (str(z, "id").empty() ? "" : " (id " + str(z, "id") + ")"),
        *r);
  }
  return 0;
}

int run_zones_delete(const Args& a) {
  auto c = client_for(a);
  if (!c) {
    return fail("zones delete", c.error());
  }
  auto r = c->call("DELETE", "/v1/zones/" + seg(a.zone) + (a.force ? "?force=true" : ""));
  if (!r) {
    return fail("zones delete", r.error());
  }
  if (a.json_out) {
    print_json(*r);
  } else {
    print_write("zone " + a.zone + " deleted", *r);
  }
  return 0;
}

// --- records -----------------------------------------------------------------------------------

std::string record_summary(const json& rr) {
  if (rr.contains("values") && rr["values"].is_array()) {
    std::string v;
    for (const auto& x : rr["values"]) {
      v += (v.empty() ? "" : " ") + (x.is_string() ? x.get<std::string>() : x.dump());
    }
    return v;
  }
  if (rr.contains("policy")) {
    size_t n = rr.contains("members") && rr["members"].is_array() ? rr["members"].size() : 0;
    return str(rr, "policy") + " policy, " + std::to_string(n) + " member(s)";
  }
  if (rr.contains("alias")) {
    return "alias " + one_line(rr["alias"]);
  }
  return "";
}

int run_records_list(const Args& a) {
  auto c = client_for(a);
  if (!c) {
    return fail("records list", c.error());
  }
  std::string q;
  if (!a.filter_name.empty()) {
    q += "?name=" + url_escape(a.filter_name);
  }
  if (!a.filter_type.empty()) {
    q += (q.empty() ? "?" : "&") + std::string("type=") + url_escape(a.filter_type);
  }
  auto r = c->call("GET", "/v1/zones/" + seg(a.zone) + "/rrsets" + q);
  if (!r) {
    return fail("records list", r.error());
  }
  if (a.json_out) {
    print_json(*r);
    return 0;
  }
  json rrs = list_of(*r, {"rrsets", "records", "record_sets", "items"});
  if (rrs.empty()) {
    std::printf("no record sets\n");
    return 0;
  }
  std::printf("%-40s %-6s %6s %s\n", "NAME", "TYPE", "TTL", "VALUES");
  for (const auto& rr : rrs) {
    std::printf("%-40s %-6s %6s %s\n", str(rr, "name").c_str(), str(rr, "type").c_str(),
                str(rr, "ttl").c_str(), record_summary(rr).c_str());
  }
  return 0;
}

std::string rrset_target(const Args& a) {
  return "/v1/zones/" + seg(a.zone) + "/rrsets/" + seg(a.name) + "/" + seg(a.type);
}

int run_records_get(const Args& a) {
  auto c = client_for(a);
  if (!c) {
    return fail("records get", c.error());
  }
  auto r = c->call("GET", rrset_target(a));
  if (!r) {
    return fail("records get", r.error());
  }
  json rr = object_of(*r, "rrset");
  if (a.json_out) {
    print_json(*r);
  } else if (rr.contains("values")) {
    std::printf("%s %s ttl %s: %s\n", str(rr, "name").c_str(), str(rr, "type").c_str(),
                str(rr, "ttl").c_str(), record_summary(rr).c_str());
  } else {
    // Steered sets have members, health checks and policy settings: show the whole body.
    print_json(rr);
  }
  return 0;
}

int run_records_set(const Args& a) {
  const std::string what = "records set";
  json body;
  if (!a.file.empty()) {
    if (a.ttl >= 0 || !a.values.empty()) {
      std::fprintf(stderr, "steerdns %s: give -f FILE or --ttl/--value, not both\n", what.c_str());
      return 2;
    }
    auto text = read_file(a.file);
    if (!text) {
      return fail(what, text.error());
    }
    auto j = yaml_text_to_json(*text, a.file);
    if (!j) {
      return fail(what, j.error());
    }
    if (!j->is_object()) {
      return fail(what, a.file + ": want a record set mapping {ttl, values} or {policy, members}");
    }
    body = std::move(*j);
  } else {
    if (a.values.empty()) {
      std::fprintf(stderr, "steerdns %s: give -f FILE, or --value V (repeatable) and --ttl N\n",
                   what.c_str());
      return 2;
    }
    body = json::object();
    if (a.ttl >= 0) {
      body["ttl"] = a.ttl;
    }
    body["values"] = a.values;
  }
  if (!body.contains("name")) {
    body["name"] = a.name;
  }
  if (!body.contains("type")) {
    body["type"] = a.type;
  }
  auto c = client_for(a);
  if (!c) {
    return fail(what, c.error());
  }
  auto r = c->call("PUT", rrset_target(a), &body);
  if (!r) {
    return fail(what, r.error());
  }
  if (a.json_out) {
    print_json(*r);
  } else {
    print_write("record set " + a.name + " " + a.type + " in " + a.zone + " set", *r);
  }
  return 0;
}

int run_records_delete(const Args& a) {
  auto c = client_for(a);
  if (!c) {
    return fail("records delete", c.error());
  }
  auto r = c->call("DELETE", rrset_target(a));
  if (!r) {
    return fail("records delete", r.error());
  }
  if (a.json_out) {
    print_json(*r);
  } else {
    print_write("record set " + a.name + " " + a.type + " in " + a.zone + " deleted", *r);
  }
  return 0;
}

// --- zone import / export ------------------------------------------------------------------------

int run_zone_import(const Args& a) {
  auto text = read_file(a.file);
  if (!text) {
    return fail("zone import", text.error());
  }
  auto c = client_for(a);
  if (!c) {
    return fail("zone import", c.error());
  }
  std::string target = "/v1/zones/" + seg(a.zone) + "/import" + (a.replace ? "?replace=true" : "");
  auto r = c->send("POST", target, *text, "text/dns");
  if (!r) {
    return fail("zone import", r.error());
  }
  if (r->status < 200 || r->status > 299) {
    return fail("zone import", c->reply_error(*r));
  }
  json j = json::parse(r->body, nullptr, false);
  if (j.is_discarded()) {
    j = json(nullptr);
  }
  if (a.json_out) {
    print_json(j);
  } else {
    print_write("zone " + a.zone + " imported from " + a.file, j);
  }
  return 0;
}

int run_zone_export(const Args& a) {
  auto c = client_for(a);
  if (!c) {
    return fail("zone export", c.error());
  }
  auto r = c->call_text("GET", "/v1/zones/" + seg(a.zone) + "/export");
  if (!r) {
    return fail("zone export", r.error());
  }
  if (a.out.empty() || a.out == "-") {
    std::fputs(r->c_str(), stdout);
    return 0;
  }
  std::ofstream f(a.out, std::ios::binary | std::ios::trunc);
  f << *r;
  f.close();
  if (!f) {
    return fail("zone export", a.out + ": cannot be written");
  }
  std::fprintf(stderr, "zone %s exported to %s\n", a.zone.c_str(), a.out.c_str());
  return 0;
}

// --- apply -------------------------------------------------------------------------------------

// The plan in an /v1/apply reply ({"plan": {"text", "changes"}}): its text, or one line per
// change.
std::string plan_of(const json& reply) {
  json plan = object_of(reply, "plan");
  for (const char* k : {"text", "plan"}) {
    if (plan.is_object() && plan.contains(k) && plan[k].is_string()) {
      std::string t = plan[k].get<std::string>();
      if (!t.empty() && t.back() != '\n') {
        t += '\n';
      }
      return t;
    }
  }
  json changes = list_of(plan, {"changes"});
  if (changes.empty()) {
    return "No changes.\n";
  }
  std::string out;
  for (const auto& ch : changes) {
    std::string act = str(ch, "action");
    const char* sign = act == "CREATE" ? "+" : act == "DELETE" ? "-" : "~";
    out += std::string(sign) + " " + str(ch, "kind") + " " + str(ch, "key") + "\n";
  }
  return out;
}

bool plan_is_empty(const json& reply) {
  json plan = object_of(reply, "plan");
  if (plan.is_object()) {
    if (auto it = plan.find("no_op"); it != plan.end() && it->is_boolean()) {
      return it->get<bool>();
    }
    for (const char* k : {"changes", "change_count"}) {
      if (auto it = plan.find(k); it != plan.end()) {
        if (it->is_array()) {
          return it->empty();
        }
        if (it->is_number()) {
          return it->get<int64_t>() == 0;
        }
      }
    }
  }
  return plan_of(reply) == "No changes.\n";
}

int run_apply(const Args& a) {
  const std::string what = "apply";
  config::ServerSettings server;
  auto cat = config::from_config_file(a.file, &server);
  if (!cat) {
    // The file's own error (file:line: why); nothing was sent.
    std::fprintf(stderr, "steerdns apply: %s\n", cat.error().c_str());
    return 1;
  }
  json body = config::to_json(*cat);
  auto c = client_for(a);
  if (!c) {
    return fail(what, c.error());
  }
  std::string comment = a.comment.empty() ? "" : "&comment=" + url_escape(a.comment);
  auto plan = c->call("POST", "/v1/apply?dry_run=true" + comment, &body);
  if (!plan) {
    return fail(what, plan.error());
  }
  bool empty = plan_is_empty(*plan);
  if (a.dry_run || empty) {
    if (a.json_out) {
      print_json(*plan);
    } else {
      std::fputs(plan_of(*plan).c_str(), stdout);
      if (a.dry_run && !empty) {
        std::printf("(dry run: nothing was changed)\n");
      }
    }
    return 0;
  }
  if (!a.json_out) {
    std::fputs(plan_of(*plan).c_str(), stdout);
  }
  if (!a.yes) {
    if (isatty(STDIN_FILENO) == 0) {
      return fail(what,
                  "stdin is not a terminal: give --yes to apply without asking "
                  "(nothing was changed)");
    }
    std::fprintf(stderr, "Apply these changes? [y/N] ");
    std::string answer;
    std::getline(std::cin, answer);
    if (answer != "y" && answer != "yes") {
      std::fprintf(stderr, "not applied\n");
      return 1;
    }
  }
  auto r = c->call("POST", "/v1/apply" + (comment.empty() ? "" : "?" + comment.substr(1)), &body);
  if (!r) {
    return fail(what, r.error());
  }
  std::string id = change_id_of(*r);
  if (a.json_out) {
    print_json(*r);
  } else if (id.empty()) {
    std::printf("applied (no change batch: nothing differed)\n");
  } else {
    std::printf("applied as change %s (%s)\n", id.c_str(),
                str(object_of(*r, "change"), "status").c_str());
  }
  if (a.no_wait || id.empty()) {
    return 0;
  }
  // In JSON mode the wait prints nothing on success: one JSON document on stdout.
  return wait_insync(*c, id, a.wait_timeout, false, a.json_out);
}

json yaml_to_json(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: {
      json o = json::object();
      for (const auto& kv : n) {
        o[kv.first.as<std::string>()] = yaml_to_json(kv.second);
      }
      return o;
    }
    case YAML::NodeType::Sequence: {
      json arr = json::array();
      for (const auto& x : n) {
        arr.push_back(yaml_to_json(x));
      }
      return arr;
    }
    case YAML::NodeType::Scalar: {
      const std::string& s = n.Scalar();
      if (n.Tag() == "!") {
        return s;  // quoted: always a string
      }
      if (s == "true" || s == "false") {
        return s == "true";
      }
      if (s == "null" || s == "~") {
        return nullptr;
      }
      if (!s.empty() && s.find_first_not_of("-0123456789") == std::string::npos &&
          s.find('-', 1) == std::string::npos && s != "-") {
        try {
          size_t used = 0;
          int64_t v = std::stoll(s, &used);
          if (used == s.size()) {
            return v;
          }
        } catch (const std::exception&) {
          // Too long for an integer: keep the text.
        }
      }
      return s;
    }
    default:
      return nullptr;
  }
}

}  // namespace

Result<json> yaml_text_to_json(const std::string& text, const std::string& source) {
  try {
    return yaml_to_json(YAML::Load(text));
  } catch (const YAML::Exception& e) {
    return Error{source + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg};
  }
}

std::string change_id_of(const json& reply) {
  if (!reply.is_object()) {
    return "";
  }
  if (auto it = reply.find("change"); it != reply.end() && it->is_object()) {
    return str(*it, "id");
  }
  if (std::string id = str(reply, "change_id"); !id.empty()) {
    return id;
  }
  if (std::string id = str(reply, "id"); !id.empty() && reply.contains("status")) {
    return id;
  }
  return "";
}

std::string changes_table(const json& changes) {
  if (changes.empty()) {
    return "no changes\n";
  }
  std::string out;
  char line[512];
  std::snprintf(line, sizeof line, "%-22s %-8s %-20s %-16s %7s %s\n", "ID", "STATUS", "SUBMITTED",
                "AUTHOR", "CHANGES", "COMMENT");
  out += line;
  for (const auto& c : changes) {
    std::string count = str(c, "change_count");
    if (count.empty()) {
      // The list leaves the changes out; `changes get ID` has them.
      count = c.contains("changes") ? std::to_string(list_of(c, {"changes"}).size()) : "-";
    }
    std::snprintf(line, sizeof line, "%-22s %-8s %-20s %-16s %7s %s\n", str(c, "id").c_str(),
                  str(c, "status").c_str(), iso_time(int_of(c, "submitted_ms")).c_str(),
                  str(c, "author").c_str(), count.c_str(), str(c, "comment").c_str());
    out += line;
  }
  return out;
}

std::function<int()> add_api_commands(CLI::App& app) {
  auto a = std::make_shared<Args>();
  auto common = [a](CLI::App* c) {
    add_api_options(c, a->api);
    c->add_flag("--json", a->json_out, "Print the API's JSON reply");
  };

  // changes
  CLI::App* changes =
      app.add_subcommand("changes", "Change batches: list, get, diff, wait until served (INSYNC)");
  changes->require_subcommand(1);
  CLI::App* ch_list = changes->add_subcommand("list", "The latest change batches, newest first");
  ch_list->add_option("--limit", a->limit, "How many (default 20)")->check(CLI::Range(1, 10000));
  common(ch_list);
  CLI::App* ch_get =
      changes->add_subcommand("get", "One change batch: status, author, comment, what changed");
  ch_get->add_option("id", a->change_id, "The change id, e.g. C0123...")->required();
  common(ch_get);
  CLI::App* ch_diff = changes->add_subcommand(
      "diff", "What a change batch changed: every record set / check before and after");
  ch_diff->add_option("id", a->change_id, "The change id")->required();
  common(ch_diff);
  CLI::App* ch_wait = changes->add_subcommand(
      "wait", "Wait until a change batch is served (INSYNC); exits 1 at the timeout");
  ch_wait->add_option("id", a->change_id, "The change id")->required();
  ch_wait->add_option("--timeout", a->wait_timeout, "Give up after this long (default 60s)");
  common(ch_wait);

  // zones
  CLI::App* zones = app.add_subcommand("zones", "Hosted zones: list, create, delete");
  zones->require_subcommand(1);
  CLI::App* z_list = zones->add_subcommand("list", "Every hosted zone with its id and size");
  common(z_list);
  CLI::App* z_create = zones->add_subcommand(
      "create", "Create an empty hosted zone (SOA and NS made up by the server)");
  z_create->add_option("name", a->zone, "The zone's name, e.g. example.test")->required();
  z_create->add_option("--comment", a->comment, "A comment kept with the zone");
  auto* ns_opt = z_create->add_option(
      "--ns", a->ns,
      "A name server of the zone (repeatable; the first is the SOA's MNAME; default: the "
      "server's choice)");
  z_create->add_option("--rname", a->rname, "The SOA's mailbox, e.g. hostmaster.example.test.")
      ->needs(ns_opt);
  common(z_create);
  CLI::App* z_delete = zones->add_subcommand(
      "delete", "Delete a hosted zone (it must have no record sets, or --force)");
  z_delete->add_option("name", a->zone, "The zone's name")->required();
  z_delete->add_flag("--force", a->force, "Delete its record sets too, in the same change batch");
  common(z_delete);

  // records
  CLI::App* records =
      app.add_subcommand("records", "Record sets of a zone: list, get, set, delete");
  records->require_subcommand(1);
  CLI::App* r_list = records->add_subcommand("list", "The record sets of ZONE");
  r_list->add_option("zone", a->zone, "The zone")->required();
  r_list->add_option("--name", a->filter_name, "Only this owner name");
  r_list->add_option("--type", a->filter_type, "Only this record type");
  common(r_list);
  CLI::App* r_get = records->add_subcommand("get", "One record set (a steered one in full)");
  CLI::App* r_set = records->add_subcommand(
      "set", "Create or replace a record set: -f body.yaml|json, or --ttl N --value V...");
  CLI::App* r_delete = records->add_subcommand("delete", "Delete a record set");
  for (CLI::App* rc : {r_get, r_set, r_delete}) {
    rc->add_option("zone", a->zone, "The zone, e.g. example.test")->required();
    rc->add_option("name", a->name, "The owner name, e.g. www.example.test")->required();
    rc->add_option("type", a->type, "The record type, e.g. A")->required();
    common(rc);
  }
  r_set->add_option("-f,--file", a->file,
                    "The record set body in the config schema (YAML or JSON): {ttl, values} or "
                    "{policy, members, ...}");
  r_set->add_option("--ttl", a->ttl, "TTL in seconds")->check(CLI::Range(0, 2147483647));
  r_set->add_option("--value", a->values, "A value in presentation format (repeatable)");

  // apply
  CLI::App* apply = app.add_subcommand(
      "apply",
      "Make the server match a config file: print the plan, then apply it as one change batch "
      "and wait until it is served");
  apply->add_option("-f,--file", a->file, "The YAML config file")->required();
  apply->add_flag("--dry-run", a->dry_run, "Print the plan and stop; nothing is changed");
  apply->add_flag("--yes", a->yes, "Apply without asking");
  apply->add_flag("--no-wait", a->no_wait, "Do not wait until the change is INSYNC");
  apply->add_option("--comment", a->comment, "Kept with the change batch (default 'apply')");
  apply->add_option("--timeout", a->wait_timeout, "How long to wait for INSYNC (default 60s)");
  common(apply);

  // zone import / export
  CLI::App* zone = app.add_subcommand("zone", "RFC 1035 master files: import, export");
  zone->require_subcommand(1);
  CLI::App* z_import = zone->add_subcommand(
      "import", "Load a master file into ZONE as one change batch (record sets are upserted)");
  z_import->add_option("zone", a->zone, "The zone")->required();
  z_import->add_option("file", a->file, "The master file")->required();
  z_import->add_flag("--replace", a->replace,
                     "Delete the zone's record sets that are not in the file");
  common(z_import);
  CLI::App* z_export = zone->add_subcommand("export", "Print ZONE as a master file");
  z_export->add_option("zone", a->zone, "The zone")->required();
  z_export->add_option("-o,--output", a->out, "Write to this file instead of stdout");
  common(z_export);

  return [=]() -> int {
    if (ch_list->parsed()) {
      return run_changes_list(*a);
    }
    if (ch_get->parsed()) {
      return run_changes_get(*a);
    }
    if (ch_diff->parsed()) {
      return run_changes_diff(*a);
    }
    if (ch_wait->parsed()) {
      return run_changes_wait(*a);
    }
    if (z_list->parsed()) {
      return run_zones_list(*a);
    }
    if (z_create->parsed()) {
      return run_zones_create(*a);
    }
    if (z_delete->parsed()) {
      return run_zones_delete(*a);
    }
    if (r_list->parsed()) {
      return run_records_list(*a);
    }
    if (r_get->parsed()) {
      return run_records_get(*a);
    }
    if (r_set->parsed()) {
      return run_records_set(*a);
    }
    if (r_delete->parsed()) {
      return run_records_delete(*a);
    }
    if (apply->parsed()) {
      return run_apply(*a);
    }
    if (z_import->parsed()) {
      return run_zone_import(*a);
    }
    if (z_export->parsed()) {
      return run_zone_export(*a);
    }
    return -1;
  };
}

}  // namespace steerdns::cli
