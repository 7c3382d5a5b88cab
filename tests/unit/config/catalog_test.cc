// The catalog model: canonical bodies, compile through the config loader, apply's structural
// checks, diff, JSON round trips, config-file conversion and zone import/export.
#include "config/catalog.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>

#include "config_test_util.h"
#include "dns/rdata.h"
#include "dns/rrtype.h"
#include "policy/model.h"
#include "zone/zone.h"

namespace steerdns::config {
namespace {

using nlohmann::json;
using testing::TempDir;

constexpr const char* kBase = R"(
health_checks:
  - { id: web-a, type: external }
  - { id: web-b, type: external }
zones:
  - name: example.test
    ttl: 5m
    soa: { mname: ns1, rname: hostmaster.example.test., serial: 7 }
    ns: [ns1.example.test.]
    records:
      - { name: ns1, type: a, values: [192.0.2.53] }
      - { name: www, type: A, ttl: 1m, values: [192.0.2.1] }
      - { name: www, type: A, values: [192.0.2.2] }
      - { name: txt, type: TXT, values: ["hello world"] }
      - { name: mail, type: MX, values: ["10 mx.example.test."] }
      - { name: mx, type: AAAA, values: ["2001:db8::1"] }
      - name: app
        type: A
        ttl: 60
        policy: failover
        stabilize: 90s
        members:
          - { set_id: p, role: primary, values: [192.0.2.10], health_check: web-a }
          - { set_id: s, role: secondary, values: [192.0.2.20], health_check: web-b }
  - name: other.test.
    soa: { mname: ns1.example.test., rname: hostmaster.example.test. }
    ns: [ns1.example.test.]
)";

Catalog base_catalog(TempDir& dir) {
  auto c = from_config_file(dir.write("base.yaml", kBase), nullptr);
  EXPECT_TRUE(c) << c.error();
  return c ? *c : Catalog{};
}

json strip_serials(json j) {
  for (auto& z : j["zones"]) {
    if (z["settings"].contains("soa")) {
      z["settings"]["soa"].erase("serial");
    }
    z.erase("created_ms");
  }
  return j;
}

// ---- canonical bodies ----

TEST(CatalogCanonical, OneNormalForm) {
  json yaml_like = {{"name", "www"}, {"type", "a"}, {"ttl", "1m"}, {"values", {"192.0.2.1"}}};
  json api_like = {
      {"name", "WWW.Example.Test."}, {"type", "A"}, {"ttl", 60}, {"values", {"192.0.2.1"}}};
  auto a = canonical_record(yaml_like, "example.test");
  auto b = canonical_record(api_like, "example.test.");
  ASSERT_TRUE(a) << a.error();
  ASSERT_TRUE(b) << b.error();
  EXPECT_EQ(*a, *b);
  EXPECT_EQ((*a)["name"], "www.example.test.");
  EXPECT_EQ((*a)["ttl"], 60);
  auto again = canonical_record(*a, "example.test.");
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, *a);
}

TEST(CatalogCanonical, ValuesDurationsRolesAndIdempotence) {
  json steered = {{"name", "app"},
                  {"type", "cname"},
                  {"policy", "Failover"},
                  {"stabilize", "90s"},
                  {"failover_ttl", "30"},
                  {"flap", {{"transitions", "3"}, {"window", "600s"}}},
                  {"members",
                   {{{"set_id", "p"}, {"role", "PRIMARY"}, {"values", {"Target"}}},
                    {{"set_id", "s"}, {"tier", "2"}, {"values", {"backup.other.test."}}}}}};
  auto c = canonical_record(steered, "example.test.");
  ASSERT_TRUE(c) << c.error();
  EXPECT_EQ((*c)["type"], "CNAME");
  EXPECT_EQ((*c)["policy"], "failover");
  EXPECT_EQ((*c)["stabilize"], "1m30s");
  EXPECT_EQ((*c)["failover_ttl"], 30);
  EXPECT_EQ((*c)["flap"]["window"], "10m");
  EXPECT_EQ((*c)["flap"]["transitions"], 3);
  EXPECT_EQ((*c)["members"][0]["tier"], 1);
  EXPECT_FALSE((*c)["members"][0].contains("role"));
  // Names in rdata keep their case (it is data on the wire); they are made absolute.
  EXPECT_EQ((*c)["members"][0]["values"][0], "Target.example.test.");
  EXPECT_EQ((*c)["members"][1]["tier"], 2);
  auto again = canonical_record(*c, "example.test.");
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, *c);

  // TXT: literal in YAML, quoted in master-file form (Route 53's): the same set.
  auto t1 =
      canonical_record({{"name", "t"}, {"type", "TXT"}, {"values", {"a b"}}}, "example.test.");
  auto t2 = canonical_record(
      {{"name", "t.example.test."}, {"type", "txt"}, {"values", {"\"a b\""}}}, "example.test.");
  ASSERT_TRUE(t1 && t2);
  EXPECT_EQ(*t1, *t2);

  // A value that does not parse is kept for compile() to report.
  auto bad = canonical_record({{"name", "x"}, {"type", "A"}, {"values", {"1.2.3.999"}}}, "t.");
  ASSERT_TRUE(bad);
  EXPECT_EQ((*bad)["values"][0], "1.2.3.999");
  EXPECT_FALSE(canonical_record({{"type", "A"}}, "t."));
  auto badtype = canonical_record({{"name", "x"}, {"type", "BOGUS"}}, "t.");
  ASSERT_FALSE(badtype);
  EXPECT_NE(badtype.error().find("unknown record type 'BOGUS'"), std::string::npos);
}

// ---- compile ----

TEST(CatalogCompile, SameAsTheFile) {
  TempDir dir;
  std::string path = dir.write("base.yaml", kBase);
  auto file = load_config_file(path);
  ASSERT_TRUE(file) << file.error();
  auto cat = from_config_file(path, nullptr);
  ASSERT_TRUE(cat) << cat.error();
  EXPECT_EQ(cat->zones.size(), 2u);
  const auto& recs = cat->zones["example.test."].records;
  ASSERT_EQ(recs.count("www.example.test./A"), 1u);
  EXPECT_EQ(recs.at("www.example.test./A")["values"].size(), 2u);  // grouped
  auto compiled = compile(*cat, file->server);
  ASSERT_TRUE(compiled) << compiled.error();
  EXPECT_EQ(compiled->runtime->zones().size(), 2u);
  EXPECT_EQ(compiled->health_checks.size(), 2u);
  ASSERT_EQ(compiled->steering_spec->record_sets.size(), 1u);
  EXPECT_EQ(compiled->steering_spec->record_sets[0].stabilize_ms, 90000);
  // In-memory documents have no lines: `where`s name the entity.
  EXPECT_EQ(compiled->runtime->source, "catalog");
  EXPECT_EQ(compiled->steering_spec->record_sets[0].where,
            "zone example.test. record set app.example.test./A");
  EXPECT_EQ(compiled->steering_spec->record_sets[0].members[1].where,
            "zone example.test. record set app.example.test./A");
  EXPECT_EQ(compiled->health_checks[0].where, "catalog");
}

TEST(CatalogRows, ToRowsGivesTheSameCatalogBack) {
  TempDir dir;
  auto cat = from_config_file(dir.write("base.yaml", kBase), nullptr);
  ASSERT_TRUE(cat) << cat.error();
  cat->revision = 7;
  Catalog back = Catalog::from_rows(cat->to_rows());
  EXPECT_EQ(back.revision, 7);
  EXPECT_EQ(store::rows_to_json(back.to_rows()), store::rows_to_json(cat->to_rows()));
  ASSERT_EQ(back.zones.size(), cat->zones.size());
  for (const auto& [name, z] : cat->zones) {
    EXPECT_EQ(back.zones.at(name).records, z.records) << name;
    EXPECT_EQ(back.zones.at(name).row.id, z.row.id) << name;
  }
  EXPECT_EQ(back.checks.size(), cat->checks.size());
  EXPECT_EQ(back.settings, cat->settings);
}

TEST(CatalogCompile, ErrorsNameTheEntity) {
  TempDir dir;
  Catalog c = base_catalog(dir);
  c.zones["example.test."].records["bad.example.test./A"] = {
      {"name", "bad.example.test."}, {"type", "A"}, {"values", {"1.2.3.999"}}};
  auto r = compile(c, ServerSettings{});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("zone example.test. record set bad.example.test./A"), std::string::npos)
      << r.error();
  EXPECT_EQ(r.error().find("catalog:"), std::string::npos) << r.error();

  // Touched by a batch: the change's where.
  ChangeBatch b;
  Change ch;
  ch.key = "bad.example.test./A";
  ch.body = c.zones["example.test."].records["bad.example.test./A"];
  b.changes.push_back(ch);
  auto r2 = compile(c, ServerSettings{}, &b);
  ASSERT_FALSE(r2);
  EXPECT_NE(r2.error().find("change 1 (UPSERT bad.example.test./A)"), std::string::npos)
      << r2.error();

  // Member-level errors (unknown health check) name the record set too.
  Catalog c2 = base_catalog(dir);
  auto& app = c2.zones["example.test."].records["app.example.test./A"];
  app["members"][0]["health_check"] = "nope";
  auto r3 = compile(c2, ServerSettings{});
  ASSERT_FALSE(r3);
  EXPECT_NE(r3.error().find("record set app.example.test./A"), std::string::npos) << r3.error();

  // Unknown record key: the loader's own did-you-mean, with the entity.
  Catalog c3 = base_catalog(dir);
  c3.zones["example.test."].records["www.example.test./A"]["tll"] = 5;
  auto r4 = compile(c3, ServerSettings{});
  ASSERT_FALSE(r4);
  EXPECT_NE(r4.error().find("zone example.test. record set www.example.test./A: unknown key 'tll'"),
            std::string::npos)
      << r4.error();

  // Zone-wide checks after every record is read (CNAME and other data) still name the set.
  Catalog cn = base_catalog(dir);
  cn.zones["example.test."].records["www.example.test./CNAME"] = {
      {"name", "www.example.test."}, {"type", "CNAME"}, {"values", {"app.example.test."}}};
  auto rc = compile(cn, ServerSettings{});
  ASSERT_FALSE(rc);
  EXPECT_NE(rc.error().find("record set www.example.test./"), std::string::npos) << rc.error();
  EXPECT_EQ(rc.error().find("catalog:"), std::string::npos) << rc.error();

  // Zone-level error names the zone; health checks name the check (and the change).
  Catalog c4 = base_catalog(dir);
  c4.zones["other.test."].row.settings.erase("ns");
  auto r5 = compile(c4, ServerSettings{});
  ASSERT_FALSE(r5);
  EXPECT_NE(r5.error().find("zone other.test."), std::string::npos) << r5.error();

  Catalog c5 = base_catalog(dir);
  c5.checks["web-a"].body["interval"] = "soon";
  ChangeBatch b5;
  Change hc;
  hc.kind = Kind::kHealthCheck;
  hc.key = "web-a";
  hc.where = "change 4";
  b5.changes.push_back(hc);
  auto r6 = compile(c5, ServerSettings{}, &b5);
  ASSERT_FALSE(r6);
  EXPECT_NE(r6.error().find("change 4"), std::string::npos) << r6.error();
  EXPECT_NE(r6.error().find("web-a"), std::string::npos) << r6.error();
}

TEST(CatalogCompile, TenThousandRecordsTiming) {
  TempDir dir;
  Catalog c = base_catalog(dir);
  auto& recs = c.zones["example.test."].records;
  for (int i = 0; i < 10000; ++i) {
    std::string name = std::to_string(i);
    name.insert(0, 1, 'h');
    name.append(".example.test.");
    recs[record_key(name, "A")] = {
        {"name", name},
        {"type", "A"},
        {"ttl", 300},
        {"values", {"10." + std::to_string(i / 256 % 256) + "." + std::to_string(i % 256) + ".1"}}};
  }
  auto t0 = std::chrono::steady_clock::now();
  std::clock_t cpu0 = std::clock();
  auto r = compile(c, ServerSettings{});
  double cpu_ms = 1000.0 * static_cast<double>(std::clock() - cpu0) / CLOCKS_PER_SEC;
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  ASSERT_TRUE(r) << r.error();
  std::printf("[ timing ] compile of %zu record sets: %lld ms wall, %.0f ms CPU\n",
              c.record_count(), static_cast<long long>(ms), cpu_ms);
  EXPECT_GT(r->runtime->zones()[0]->record_count() + r->runtime->zones()[1]->record_count(),
            10000u);
  EXPECT_LT(ms, 5000);  // generous for a loaded CI machine; typically far below 1 s
}

// ---- apply ----

Change rec_change(Action a, const std::string& key, json body, const std::string& where = "") {
  Change c;
  c.action = a;
  c.kind = Kind::kRecordSet;
  c.key = key;
  c.body = std::move(body);
  c.where = where;
  return c;
}

TEST(CatalogApply, CreateUpsertDeleteAndSerial) {
  TempDir dir;
  Catalog c = base_catalog(dir);
  ChangeBatch b;
  b.changes.push_back(rec_change(Action::kCreate, "new.example.test./A",
                                 {{"name", "new"}, {"type", "a"}, {"values", {"192.0.2.9"}}}));
  b.changes.push_back(rec_change(
      Action::kUpsert, "www.example.test./A",
      {{"name", "www.example.test."}, {"type", "A"}, {"ttl", "30s"}, {"values", {"192.0.2.3"}}}));
  b.changes.push_back(rec_change(Action::kDelete, "mx.example.test./AAAA", nullptr));
  auto r = apply(c, b);
  ASSERT_TRUE(r) << r.error();
  const auto& recs = r->zones["example.test."].records;
  ASSERT_EQ(recs.count("new.example.test./A"), 1u);
  EXPECT_EQ(recs.at("new.example.test./A")["name"], "new.example.test.");
  EXPECT_EQ(recs.at("www.example.test./A")["ttl"], 30);
  EXPECT_EQ(recs.count("mx.example.test./AAAA"), 0u);
  EXPECT_EQ(r->zones["example.test."].row.settings["soa"]["serial"], 8);
  EXPECT_FALSE(r->zones["other.test."].row.settings["soa"].contains("serial"));  // untouched
  EXPECT_EQ(c.zones["example.test."].records.count("new.example.test./A"), 0u);  // base intact
  ASSERT_TRUE(compile(*r, ServerSettings{}));

  // RFC 1982 wrap.
  Catalog w = c;
  w.zones["example.test."].row.settings["soa"]["serial"] = 4294967295u;
  auto rw = apply(w, b);
  ASSERT_TRUE(rw) << rw.error();
  EXPECT_EQ(rw->zones["example.test."].row.settings["soa"]["serial"], 0);
}

TEST(CatalogApply, InPlaceFailureLeavesTheCatalogExactlyAsItWas) {
  TempDir dir;
  const Catalog c = base_catalog(dir);
  const json before = to_json(c);
  // Every kind of mutation, then a failing change last.
  ChangeBatch b;
  b.changes.push_back(rec_change(Action::kCreate, "new.example.test./A",
                                 {{"name", "new"}, {"type", "A"}, {"values", {"192.0.2.9"}}}));
  b.changes.push_back(rec_change(Action::kUpsert, "www.example.test./A",
                                 {{"name", "www"}, {"type", "A"}, {"values", {"192.0.2.3"}}}));
  b.changes.push_back(rec_change(Action::kDelete, "mx.example.test./AAAA", nullptr));
  Change zdel;
  zdel.action = Action::kDelete;
  zdel.kind = Kind::kZone;
  zdel.key = "other.test.";
  b.changes.push_back(zdel);
  Change zadd;
  zadd.action = Action::kCreate;
  zadd.kind = Kind::kZone;
  zadd.key = "third.test.";
  zadd.body = json{{"settings", default_zone_settings("third.test.")}};
  b.changes.push_back(zadd);
  Change chk;
  chk.action = Action::kUpsert;
  chk.kind = Kind::kHealthCheck;
  chk.key = "web-a";
  chk.body = json{{"type", "external"}, {"initial", "unhealthy"}};
  b.changes.push_back(chk);
  Change set;
  set.action = Action::kUpsert;
  set.kind = Kind::kSettings;
  set.body = json{{"latency_measured_rtt", true}};
  b.changes.push_back(set);
  b.changes.push_back(rec_change(Action::kDelete, "nothere.example.test./A", nullptr));
  Catalog work = c;
  auto st = apply_in_place(work, b);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().find("nothere.example.test."), std::string::npos) << st.error();
  EXPECT_EQ(to_json(work), before);
  // Without the failing change it applies, and equals apply()'s copy.
  b.changes.pop_back();
  ASSERT_TRUE(apply_in_place(work, b));
  auto copy = apply(c, b);
  ASSERT_TRUE(copy) << copy.error();
  json a = to_json(work), e = to_json(*copy);
  // Created zones get fresh ids and times: compare the rest.
  for (json* j : {&a, &e}) {
    for (auto& z : (*j)["zones"]) {
      if (z["name"] == "third.test.") {
        z.erase("id");
        z.erase("created_ms");
      }
    }
  }
  EXPECT_EQ(a, e);
  EXPECT_EQ(work.zones.count("other.test."), 0u);
  EXPECT_EQ(work.zones.count("third.test."), 1u);
}

TEST(CatalogApply, StructuralErrors) {
  TempDir dir;
  Catalog c = base_catalog(dir);
  auto err = [&](Change ch) {
    ChangeBatch b;
    b.changes.push_back(rec_change(Action::kUpsert, "ok.example.test./A",
                                   {{"name", "ok"}, {"type", "A"}, {"values", {"192.0.2.1"}}}));
    b.changes.push_back(std::move(ch));
    auto r = apply(c, b);
    EXPECT_FALSE(r);
    return r ? std::string() : r.error();
  };
  EXPECT_EQ(err(rec_change(Action::kCreate, "www.example.test./A",
                           {{"name", "www"}, {"type", "A"}, {"values", {"192.0.2.1"}}})),
            "change 2: Tried to create resource record set www.example.test. type A, but it "
            "already exists");
  EXPECT_EQ(err(rec_change(Action::kDelete, "nope.example.test./A", nullptr, "change 7")),
            "change 7: Tried to delete resource record set nope.example.test. type A, but it was "
            "not found");
  EXPECT_NE(err(rec_change(Action::kDelete, "www.example.test./A",
                           {{"name", "www"}, {"type", "A"}, {"values", {"192.0.2.1"}}}))
                .find("but the values provided do not match the current values"),
            std::string::npos);
  EXPECT_NE(err(rec_change(Action::kUpsert, "www.elsewhere./A",
                           {{"name", "www.elsewhere."}, {"type", "A"}, {"values", {"1.2.3.4"}}}))
                .find("is not in any hosted zone"),
            std::string::npos);
  EXPECT_NE(err(rec_change(Action::kUpsert, "www.example.test./A",
                           {{"name", "web"}, {"type", "A"}, {"values", {"1.2.3.4"}}}))
                .find("does not match the body's name and type (web.example.test./A)"),
            std::string::npos);
  Change zd;
  zd.action = Action::kDelete;
  zd.kind = Kind::kZone;
  zd.key = "example.test.";
  EXPECT_NE(err(zd).find("HostedZoneNotEmpty"), std::string::npos);
  zd.key = "missing.test.";
  EXPECT_NE(err(zd).find("Tried to delete hosted zone missing.test., but it was not found"),
            std::string::npos);
  Change zc;
  zc.action = Action::kCreate;
  zc.kind = Kind::kZone;
  zc.key = "other.test.";
  EXPECT_NE(err(zc).find("Tried to create hosted zone other.test., but it already exists"),
            std::string::npos);
  Change hd;
  hd.action = Action::kDelete;
  hd.kind = Kind::kHealthCheck;
  hd.key = "web-a";
  hd.where = "change 9";
  std::string in_use = err(hd);
  EXPECT_NE(in_use.find("change 9: HealthCheckInUse: health check web-a is still used by record "
                        "set app.example.test./A (member p)"),
            std::string::npos)
      << in_use;
  hd.key = "nope";
  EXPECT_NE(err(hd).find("Tried to delete health check nope, but it was not found"),
            std::string::npos);
  Change hc;
  hc.action = Action::kCreate;
  hc.kind = Kind::kHealthCheck;
  hc.key = "web-b";
  hc.body = {{"type", "external"}};
  EXPECT_NE(err(hc).find("Tried to create health check web-b, but it already exists"),
            std::string::npos);
  Change st;
  st.kind = Kind::kSettings;
  st.body = {{"latency_mapp", json::array()}};
  EXPECT_NE(err(st).find("did you mean 'latency_map'"), std::string::npos);

  // Deleting the check together with the record set that uses it is fine.
  ChangeBatch ok;
  ok.changes.push_back(rec_change(Action::kDelete, "app.example.test./A", nullptr));
  hd.key = "web-a";
  ok.changes.push_back(hd);
  auto r = apply(c, ok);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->checks.count("web-a"), 0u);

  // Zone create then delete of an empty zone; health check update bumps its version.
  ChangeBatch zb;
  Change z1;
  z1.action = Action::kCreate;
  z1.kind = Kind::kZone;
  z1.key = "new.test";
  z1.body = {{"settings",
              {{"soa", {{"mname", "ns1.example.test."}, {"rname", "h.example.test."}}},
               {"ns", {"ns1.example.test."}}}}};
  zb.changes.push_back(z1);
  zb.changes.push_back(rec_change(Action::kCreate, "a.new.test./A",
                                  {{"name", "a"}, {"type", "A"}, {"values", {"192.0.2.7"}}}));
  Change hu;
  hu.kind = Kind::kHealthCheck;
  hu.key = "web-b";
  hu.body = {{"type", "external"}, {"stale_after", "120s"}};
  zb.changes.push_back(hu);
  auto rz = apply(c, zb);
  ASSERT_TRUE(rz) << rz.error();
  ASSERT_EQ(rz->zones.count("new.test."), 1u);
  EXPECT_EQ(rz->zones["new.test."].row.id.size(), 21u);
  EXPECT_EQ(rz->checks["web-b"].version, 2);
  EXPECT_EQ(rz->checks["web-b"].body["stale_after"], "2m");
  ASSERT_TRUE(compile(*rz, ServerSettings{}));
}

TEST(CatalogApply, ApexSoaAndNsGoToZoneSettings) {
  TempDir dir;
  Catalog c = base_catalog(dir);
  ChangeBatch b;
  b.changes.push_back(rec_change(
      Action::kUpsert, "example.test./NS",
      {{"name", "@"}, {"type", "NS"}, {"values", {"ns1.example.test.", "NS2.Example.Test."}}}));
  b.changes.push_back(rec_change(Action::kUpsert, "example.test./SOA",
                                 {{"name", "example.test."},
                                  {"type", "SOA"},
                                  {"ttl", 900},
                                  {"values", {"ns1 hostmaster 100 7200 900 1209600 60"}}}));
  b.changes.push_back(rec_change(Action::kCreate, "ns2.example.test./A",
                                 {{"name", "ns2"}, {"type", "A"}, {"values", {"192.0.2.54"}}}));
  auto r = apply(c, b);
  ASSERT_TRUE(r) << r.error();
  const json& s = r->zones["example.test."].row.settings;
  EXPECT_EQ(s["ns"], json::array({"ns1.example.test.", "ns2.example.test."}));
  EXPECT_EQ(s["soa"]["minimum"], 60);
  EXPECT_EQ(s["soa"]["ttl"], 900);
  EXPECT_EQ(s["soa"]["mname"], "ns1.example.test.");
  EXPECT_EQ(s["soa"]["serial"], 100);  // the declared serial is newer than 7
  EXPECT_EQ(r->zones["example.test."].records.count("example.test./NS"), 0u);
  ASSERT_TRUE(compile(*r, ServerSettings{})) << compile(*r, ServerSettings{}).error();

  ChangeBatch d;
  d.changes.push_back(rec_change(Action::kDelete, "example.test./NS", nullptr));
  auto e = apply(c, d);
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().find("cannot be deleted"), std::string::npos) << e.error();

  ChangeBatch z;
  Change zs;
  zs.kind = Kind::kZone;
  zs.key = "other.test.";
  zs.body = {{"settings", {{"tll", 5}}}};
  z.changes.push_back(zs);
  auto e2 = apply(c, z);
  ASSERT_FALSE(e2);
  EXPECT_NE(e2.error().find("change 1: zone other.test.: settings: unknown key 'tll' (did you "
                            "mean 'ttl'?)"),
            std::string::npos)
      << e2.error();
}

// ---- diff, JSON, plans ----

TEST(CatalogDiff, DiffOfSelfIsEmptyAndDiffAppliesToTarget) {
  TempDir dir;
  Catalog a = base_catalog(dir);
  EXPECT_TRUE(diff(a, a).changes.empty());
  EXPECT_EQ(plan_text(diff(a, a), a), "No changes.\n");

  Catalog b = a;
  b.zones["example.test."].records.erase("mx.example.test./AAAA");
  b.zones["example.test."].records["www.example.test./A"]["ttl"] = 30;
  b.zones["example.test."].records["app.example.test./A"]["members"][1]["values"] = {"192.0.2.21"};
  b.zones["example.test."].records["n.example.test./TXT"] = {
      {"name", "n.example.test."}, {"type", "TXT"}, {"values", {"\"x\""}}};
  b.zones.erase("other.test.");
  CatalogZone nz;
  nz.row.name = "third.test.";
  nz.row.settings = {{"soa", {{"mname", "ns1.example.test."}, {"rname", "h.example.test."}}},
                     {"ns", {"ns1.example.test."}}};
  nz.records["www.third.test./A"] = {
      {"name", "www.third.test."}, {"type", "A"}, {"values", {"192.0.2.5"}}};
  b.zones["third.test."] = nz;
  b.checks["web-c"] = store::CheckRow{"web-c", "", 1, {{"type", "external"}}};
  b.settings = {{"latency_measured_rtt", true}};

  ChangeBatch d = diff(a, b);
  auto r = apply(a, d);
  ASSERT_TRUE(r) << r.error();
  json got = strip_serials(to_json(*r));
  json want = strip_serials(to_json(b));
  for (auto& z : got["zones"]) {
    z.erase("id");
  }
  for (auto& z : want["zones"]) {
    z.erase("id");
  }
  EXPECT_EQ(got, want) << got.dump(1) << "\n---\n" << want.dump(1);
  EXPECT_EQ(r->zones["example.test."].row.settings["soa"]["serial"], 8);
  EXPECT_EQ(r->zones["example.test."].row.id, a.zones["example.test."].row.id);
  EXPECT_TRUE(diff(*r, b).changes.size() <= 1u);  // at most the new zone's id
  ASSERT_TRUE(compile(*r, ServerSettings{})) << compile(*r, ServerSettings{}).error();

  std::string plan = plan_text(d, a);
  EXPECT_NE(plan.find("- record_set mx.example.test./AAAA  (delete)"), std::string::npos) << plan;
  EXPECT_NE(plan.find("~ record_set www.example.test./A  ttl 60 -> 30"), std::string::npos) << plan;
  EXPECT_NE(plan.find("member s values [\"192.0.2.20\"] -> [\"192.0.2.21\"]"), std::string::npos)
      << plan;
  EXPECT_NE(plan.find("+ zone third.test.  (create)"), std::string::npos) << plan;
  EXPECT_NE(plan.find("- zone other.test.  (delete)"), std::string::npos) << plan;

  json summary = change_summary(d, a);
  ASSERT_EQ(summary.size(), d.changes.size());
  bool saw = false;
  for (const auto& s : summary) {
    if (s["key"] == "www.example.test./A") {
      saw = true;
      EXPECT_EQ(s["before"]["ttl"], 60);
      EXPECT_EQ(s["after"]["ttl"], 30);
      EXPECT_EQ(s["zone"], "example.test.");
    }
  }
  EXPECT_TRUE(saw);

  auto ops = commit_ops(a, *r);
  std::set<std::string> kinds;
  for (const auto& op : ops) {
    kinds.insert(op.kind + (op.del ? "-" : "+"));
  }
  EXPECT_EQ(kinds,
            (std::set<std::string>{"zone-", "zone+", "record+", "record-", "check+", "settings+"}));
  EXPECT_TRUE(commit_ops(a, a).empty());
}

TEST(CatalogJson, RoundTripAndShapeErrors) {
  TempDir dir;
  Catalog a = base_catalog(dir);
  a.revision = 12;
  a.checks["web-a"].caller_ref = "ref-1";
  a.checks["web-a"].version = 3;
  json j = to_json(a);
  auto b = catalog_from_json(j);
  ASSERT_TRUE(b) << b.error();
  EXPECT_EQ(to_json(*b), j);
  EXPECT_TRUE(diff(a, *b).changes.empty());
  EXPECT_EQ(b->revision, 12);
  EXPECT_EQ(b->checks["web-a"].version, 3);

  json bad = j;
  bad["zones"][0]["recrds"] = json::array();
  auto e1 = catalog_from_json(bad);
  ASSERT_FALSE(e1);
  EXPECT_NE(e1.error().find("zones[0]: unknown key 'recrds' (did you mean 'records'?)"),
            std::string::npos)
      << e1.error();
  bad = j;
  bad["zones"][0]["records"][1] = {{"name", "x"}};
  auto e2 = catalog_from_json(bad);
  ASSERT_FALSE(e2);
  EXPECT_NE(e2.error().find("zones[0].records[1]: 'type'"), std::string::npos) << e2.error();
  bad = j;
  bad["zone"] = 1;
  auto e3 = catalog_from_json(bad);
  ASSERT_FALSE(e3);
  EXPECT_NE(e3.error().find("did you mean 'zones'"), std::string::npos) << e3.error();
  bad = j;
  bad["zones"][1]["records"] = {{{"name", "www.example.test."}, {"type", "A"}}};
  auto e4 = catalog_from_json(bad);
  ASSERT_FALSE(e4);
  EXPECT_NE(e4.error().find("zones[1].records[0]: record set www.example.test. type A is not in "
                            "zone other.test."),
            std::string::npos)
      << e4.error();
}

// ---- config files: the catalog compiles to what the file loads ----

// The rdata of an rrset as a multiset (order is not part of an rrset), hex so gtest prints it.
std::multiset<std::string> rdatas(const zone::Zone& z, const zone::RRset& rs) {
  std::multiset<std::string> out;
  z.for_each_rdata(rs, [&](const uint8_t* rd, uint16_t len) {
    std::string hex;
    for (uint16_t i = 0; i < len; ++i) {
      hex += "0123456789abcdef"[rd[i] >> 4];
      hex += "0123456789abcdef"[rd[i] & 15];
    }
    out.insert(std::move(hex));
  });
  return out;
}

// Every rrset of every zone, wire-equal (steered sets: the same steering key).
void expect_same_config(const LoadedConfig& want, const LoadedConfig& got, const std::string& ctx) {
  const auto& wz = want.runtime->zones();
  const auto& gz = got.runtime->zones();
  ASSERT_EQ(wz.size(), gz.size()) << ctx;
  for (const auto& z : wz) {
    const zone::Zone* other = nullptr;
    for (const auto& o : gz) {
      if (o->origin() == z->origin()) {
        other = o.get();
      }
    }
    ASSERT_NE(other, nullptr) << ctx << ": zone " << z->origin().to_text();
    EXPECT_EQ(z->node_count(), other->node_count()) << ctx << ": " << z->origin().to_text();
    EXPECT_EQ(z->record_count(), other->record_count()) << ctx << ": " << z->origin().to_text();
    for (size_t i = 0; i < z->node_count(); ++i) {
      const zone::Node& n = z->node(static_cast<uint32_t>(i));
      const zone::Node* on = other->find(z->name(n));
      ASSERT_NE(on, nullptr) << ctx << ": " << z->name(n).to_text();
      ASSERT_EQ(n.nrrsets, on->nrrsets) << ctx << ": " << z->name(n).to_text();
      for (const auto& rs : z->rrsets(n)) {
        const zone::RRset* ors = other->rrset(*on, rs.type);
        std::string what = ctx + ": " + z->name(n).to_text() + " " + dns::type_to_text(rs.type);
        ASSERT_NE(ors, nullptr) << what;
        EXPECT_EQ(rs.ttl, ors->ttl) << what;
        EXPECT_EQ(rdatas(*z, rs), rdatas(*other, *ors)) << what;
        ASSERT_EQ(rs.steer == zone::kNone, ors->steer == zone::kNone) << what;
        if (rs.steer != zone::kNone) {
          EXPECT_EQ(want.steering_spec->record_sets[rs.steer].key(),
                    got.steering_spec->record_sets[ors->steer].key())
              << what;
        }
      }
    }
  }
  // Steering: same sets, policies and members.
  std::map<std::string, const policy::RecordSet*> ws, gs;
  for (const auto& rs : want.steering_spec->record_sets) {
    ws[rs.key()] = &rs;
  }
  for (const auto& rs : got.steering_spec->record_sets) {
    gs[rs.key()] = &rs;
  }
  ASSERT_EQ(ws.size(), gs.size()) << ctx;
  for (const auto& [key, w] : ws) {
    ASSERT_EQ(gs.count(key), 1u) << ctx << ": " << key;
    const policy::RecordSet* g = gs[key];
    EXPECT_EQ(w->policy, g->policy) << ctx << ": " << key;
    EXPECT_EQ(w->ttl, g->ttl) << ctx << ": " << key;
    EXPECT_EQ(w->on_all_down, g->on_all_down) << ctx << ": " << key;
    EXPECT_EQ(w->stabilize_ms, g->stabilize_ms) << ctx << ": " << key;
    EXPECT_EQ(w->failback, g->failback) << ctx << ": " << key;
    EXPECT_EQ(w->static_values, g->static_values) << ctx << ": " << key;
    ASSERT_EQ(w->members.size(), g->members.size()) << ctx << ": " << key;
    for (size_t i = 0; i < w->members.size(); ++i) {
      const auto& wm = w->members[i];
      const auto& gm = g->members[i];
      EXPECT_EQ(wm.set_id, gm.set_id) << ctx << ": " << key;
      EXPECT_EQ(wm.tier, gm.tier) << ctx << ": " << key << " " << wm.set_id;
      EXPECT_EQ(wm.weight, gm.weight) << ctx << ": " << key << " " << wm.set_id;
      EXPECT_EQ(wm.region, gm.region) << ctx << ": " << key << " " << wm.set_id;
      EXPECT_EQ(wm.health_check, gm.health_check) << ctx << ": " << key << " " << wm.set_id;
      EXPECT_EQ(wm.rdata, gm.rdata) << ctx << ": " << key << " " << wm.set_id;
      EXPECT_EQ(wm.locations, gm.locations) << ctx << ": " << key << " " << wm.set_id;
    }
  }
  EXPECT_EQ(want.health_checks.size(), got.health_checks.size()) << ctx;
  EXPECT_EQ(want.steering_spec->latency_map.size(), got.steering_spec->latency_map.size()) << ctx;
  EXPECT_EQ(want.steering_spec->geoip_db, got.steering_spec->geoip_db) << ctx;
}

std::vector<std::string> config_files(TempDir& tmp) {
  std::vector<std::string> out;
  const std::filesystem::path src(STEERDNS_SOURCE_DIR);
  for (const char* d : {"examples", "tests/data/config"}) {
    for (const auto& e : std::filesystem::directory_iterator(src / d)) {
      if (e.path().extension() == ".yaml") {
        out.push_back(e.path().string());
      }
    }
  }
  // Scenarios keep their config under `config:`; written beside the scenario's own files.
  for (const auto& e : std::filesystem::directory_iterator(src / "tests/scenarios")) {
    if (e.path().extension() != ".yaml") {
      continue;
    }
    YAML::Node doc = YAML::LoadFile(e.path().string());
    if (!doc["config"]) {
      continue;
    }
    YAML::Emitter em;
    em << doc["config"];
    out.push_back(tmp.write(e.path().filename().string(), em.c_str()));
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(CatalogFromConfigFile, RoundTripsEveryExampleAndScenario) {
  TempDir tmp;
  int checked = 0;
  for (const auto& path : config_files(tmp)) {
    auto want = load_config_file(path);
    if (!want) {
      std::printf("[ skipped ] %s: %s\n", path.c_str(), want.error().c_str());
      continue;
    }
    ServerSettings server;
    auto cat = from_config_file(path, &server);
    ASSERT_TRUE(cat) << path << ": " << cat.error();
    auto got = compile(*cat, server);
    ASSERT_TRUE(got) << path << ": " << got.error();
    expect_same_config(*want, *got, path);
    EXPECT_EQ(got->server.listen, want->server.listen);

    auto back = catalog_from_json(to_json(*cat));
    ASSERT_TRUE(back) << path << ": " << back.error();
    EXPECT_EQ(to_json(*back), to_json(*cat)) << path;
    EXPECT_TRUE(diff(*cat, *cat).changes.empty()) << path;
    // Canonical forms are fixed points.
    for (const auto& [zn, z] : cat->zones) {
      for (const auto& [key, body] : z.records) {
        auto again = canonical_record(body, zn);
        ASSERT_TRUE(again) << key;
        EXPECT_EQ(*again, body) << path << ": " << key;
      }
    }
    // From an empty catalog, the diff rebuilds it.
    auto rebuilt = apply(Catalog{}, diff(Catalog{}, *cat));
    ASSERT_TRUE(rebuilt) << path << ": " << rebuilt.error();
    auto got2 = compile(*rebuilt, server);
    ASSERT_TRUE(got2) << path << ": " << got2.error();
    expect_same_config(*want, *got2, path + " (rebuilt)");
    ++checked;
  }
  EXPECT_GE(checked, 5);
}

TEST(CatalogFromConfigFile, FileErrorsAreTheFilesAndZoneFilesAreFileBacked) {
  TempDir dir;
  auto bad =
      from_config_file(dir.write("bad.yaml", "zones:\n  - name: x.test.\n    tll: 5\n"), nullptr);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().find("bad.yaml:3: unknown key 'tll'"), std::string::npos) << bad.error();

  const std::string zone_text =
      "$TTL 600\n@ SOA ns1 host 5 3600 900 1209600 300\n@ NS ns1\nns1 A 192.0.2.1\n"
      "www 300 A 192.0.2.2\nwww A 192.0.2.3\n";
  dir.write("z.zone", zone_text);
  auto c = from_config_file(dir.write("z.yaml", "zones:\n  - name: z.test.\n    file: z.zone\n"),
                            nullptr);
  ASSERT_TRUE(c) << c.error();
  const auto& z = c->zones["z.test."];
  // The catalog names the file and its digest; the records stay in the file.
  EXPECT_EQ(z.row.settings["file"], dir.path() + "/z.zone");
  EXPECT_EQ(z.row.settings["file_sha256"].get<std::string>().size(), 64u);
  EXPECT_TRUE(z.records.empty());
  ASSERT_NE(zone_file(z.row), nullptr);

  // compile() serves the file as it is: its own serial.
  auto cfg = compile(*c, ServerSettings{});
  ASSERT_TRUE(cfg) << cfg.error();
  ASSERT_EQ(cfg->runtime->zones().size(), 1u);
  EXPECT_EQ(cfg->runtime->zones()[0]->node_count() >= 3, true);

  // A record change to a file-backed zone is refused and names the file.
  ChangeBatch b;
  Change ch;
  ch.action = Action::kCreate;
  ch.body = json{{"name", "new.z.test."}, {"type", "A"}, {"values", {"192.0.2.9"}}};
  b.changes.push_back(ch);
  auto applied = apply(*c, b);
  ASSERT_FALSE(applied);
  EXPECT_NE(applied.error().find("served from the master file " + dir.path() + "/z.zone"),
            std::string::npos)
      << applied.error();

  // An edit of the file changes the digest: diff() sees a zone change (a reload republishes).
  dir.write("z.zone", zone_text + "new A 192.0.2.4\n");
  auto c2 = from_config_file(dir.path() + "/z.yaml", nullptr);
  ASSERT_TRUE(c2) << c2.error();
  auto d = diff(*c, *c2);
  ASSERT_EQ(d.changes.size(), 1u);
  EXPECT_EQ(d.changes[0].kind, Kind::kZone);
  EXPECT_TRUE(diff(*c2, *c2).changes.empty());

  // A file that cannot be read: the error names it, and no zone comes back.
  auto missing = file_zone("gone.test", dir.path() + "/gone.zone");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().find("zone gone.test.: cannot read " + dir.path() + "/gone.zone"),
            std::string::npos)
      << missing.error();

  // A zone cannot be both file-backed and inline.
  Change both;
  both.action = Action::kCreate;
  both.kind = Kind::kZone;
  both.key = "y.test.";
  both.body = json{{"settings", {{"file", "/tmp/y.zone"}, {"ns", {"ns1.y.test."}}}}};
  ChangeBatch bb;
  bb.changes.push_back(both);
  auto r = apply(*c, bb);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("give either 'file' or 'ns'"), std::string::npos) << r.error();

  // Health checks in the mapping form; relative paths made absolute.
  auto m =
      from_config_file(dir.write("m.yaml",
                                 "health_checks:\n"
                                 "  ext: { type: external, file: state.txt, stale_after: 60s }\n"
                                 "zones: []\n"),
                       nullptr);
  ASSERT_TRUE(m) << m.error();
  ASSERT_EQ(m->checks.count("ext"), 1u);
  EXPECT_EQ(m->checks["ext"].body["file"], dir.path() + "/state.txt");
  EXPECT_EQ(m->checks["ext"].body["stale_after"], "1m");
  EXPECT_FALSE(m->checks["ext"].body.contains("id"));
  auto mc = compile(*m, ServerSettings{});
  ASSERT_TRUE(mc) << mc.error();
  ASSERT_EQ(mc->health_checks.size(), 1u);
  EXPECT_EQ(mc->health_checks[0].id, "ext");
}

// ---- zone import / export ----

TEST(CatalogZoneText, ImportExportRoundTrip) {
  const std::filesystem::path zones = std::filesystem::path(STEERDNS_TESTDATA) / "zones";
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(zones)) {
    std::string origin = e.path().stem().string() + ".";
    auto z = import_zone_file(origin, e.path().string());
    if (!z) {
      ADD_FAILURE() << z.error();
      continue;
    }
    Catalog c;
    c.zones[z->row.name] = *z;
    auto text = export_zone_text(c, origin);
    ASSERT_TRUE(text) << text.error();
    auto first = text->find("\n", text->find("$ORIGIN")) + 1;  // the first record: the SOA
    EXPECT_EQ(text->substr(first, origin.size() + 1), origin + " ") << *text;
    EXPECT_NE(text->find(" IN SOA "), std::string::npos);
    EXPECT_LT(text->find(" IN SOA "), text->find("\n", first)) << *text;
    auto back = import_zone_text(origin, *text);
    ASSERT_TRUE(back) << back.error() << "\n" << *text;
    EXPECT_EQ(back->records, z->records) << e.path();
    EXPECT_EQ(back->row.settings, z->row.settings) << e.path();
    ++n;
  }
  EXPECT_GE(n, 1);

  auto bad = import_zone_text("x.test.", "$TTL 60\n@ SOA ns1 h 1 2 3 4 5\n@ NS ns1\nfoo A 1.2.3\n");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().find("zone x.test. text:4:"), std::string::npos) << bad.error();
}

TEST(CatalogZoneText, ExportShowsSteeredSets) {
  TempDir dir;
  Catalog c = base_catalog(dir);
  auto text = export_zone_text(c, "example.test.");
  ASSERT_TRUE(text) << text.error();
  EXPECT_NE(text->find("; steered app.example.test./A: policy failover, members p, s"),
            std::string::npos)
      << *text;
  EXPECT_NE(text->find("app.example.test. 60 IN A 192.0.2.10"), std::string::npos) << *text;
  // Not in the fail-open set (only in the steered set's comment).
  EXPECT_EQ(text->find("IN A 192.0.2.20"), std::string::npos) << *text;
  EXPECT_NE(text->find("txt.example.test. 300 IN TXT \"hello world\""), std::string::npos) << *text;
  EXPECT_FALSE(export_zone_text(c, "nope.test."));
}

TEST(CatalogZoneText, ImportOfAnExportKeepsSteeredSets) {
  TempDir dir;
  Catalog c = base_catalog(dir);
  const auto& want = c.zones.at("example.test.").records;
  auto text = export_zone_text(c, "example.test.");
  ASSERT_TRUE(text) << text.error();
  // The structured comment is one line, ASCII JSON, and comes before the fail-open answer.
  auto tag = text->find("\n;steerdns:steered {");
  ASSERT_NE(tag, std::string::npos) << *text;
  auto line_end = text->find('\n', tag + 1);
  EXPECT_EQ(json::parse(text->substr(tag + 18, line_end - tag - 18)),
            want.at("app.example.test./A"));
  EXPECT_EQ(text->find("app.example.test. 60 IN A 192.0.2.10"), line_end + 1) << *text;

  auto back = import_zone_text("example.test.", *text);
  ASSERT_TRUE(back) << back.error() << "\n" << *text;
  EXPECT_EQ(back->records.at("app.example.test./A"), want.at("app.example.test./A"));
  EXPECT_EQ(back->records.size(), want.size());
  // Export -> import -> export is a fixed point.
  Catalog again = c;
  again.zones["example.test."].records = back->records;
  auto text2 = export_zone_text(again, "example.test.");
  ASSERT_TRUE(text2) << text2.error();
  EXPECT_EQ(*text2, *text);

  // A steered set whose fail-open answer is missing from the file is still restored, and a
  // steered comment written by hand (relative name, loose types) is made canonical.
  auto hand = import_zone_text(
      "example.test.",
      "$TTL 300\n@ SOA ns1 hostmaster 1 2 3 4 5\n@ NS ns1\nns1 A 192.0.2.53\n"
      "  ;steerdns:steered {\"name\":\"api\",\"type\":\"a\",\"ttl\":\"30\",\"policy\":\"failover\","
      "\"members\":[{\"set_id\":\"x\",\"role\":\"primary\",\"values\":[\"192.0.2.7\"]}]}\r\n");
  ASSERT_TRUE(hand) << hand.error();
  ASSERT_EQ(hand->records.count("api.example.test./A"), 1u);
  EXPECT_EQ(hand->records["api.example.test./A"]["ttl"], 30);
  EXPECT_EQ(hand->records["api.example.test./A"]["members"][0]["tier"], 1);
}

TEST(CatalogZoneText, MalformedSteeredCommentsFailWithLineAndReason) {
  const std::string head = "$TTL 300\n@ SOA ns1 hostmaster 1 2 3 4 5\n@ NS ns1\n";  // lines 1-3
  const std::string member = R"({"set_id":"x","values":["192.0.2.7"]})";
  struct Case {
    std::string line;
    std::string reason;
  };
  const Case cases[] = {
      {";steerdns:steered {\"name\": \"api\",", "the JSON does not parse"},
      {";steerdns:steered", "the JSON does not parse"},
      {";steerdns:steered [1, 2]", "expected a JSON object, not array"},
      {";steerdns:steered {\"name\":\"api\",\"type\":\"A\",\"values\":[\"192.0.2.1\"]}",
       "no 'members'"},
      {";steerdns:steered {\"type\":\"A\",\"members\":[" + member + "]}", "needs a name"},
      {";steerdns:steered {\"name\":\"api\",\"type\":\"BOGUS\",\"members\":[" + member + "]}",
       "unknown record type 'BOGUS'"},
      {";steerdns:steered {\"name\":\"api.elsewhere.test.\",\"type\":\"A\",\"members\":[" + member +
           "]}",
       "api.elsewhere.test./A is not in zone x.test."},
      {";steerdns:stered {}", "unknown steerdns comment ';steerdns:stered'"},
  };
  for (const auto& k : cases) {
    auto r = import_zone_text("x.test.", head + "www A 192.0.2.1\n" + k.line + "\n");
    ASSERT_FALSE(r) << k.line;
    EXPECT_NE(r.error().find("zone x.test. text:5: "), std::string::npos) << r.error();
    EXPECT_NE(r.error().find(k.reason), std::string::npos) << r.error();
  }
  const std::string ok =
      ";steerdns:steered {\"name\":\"api\",\"type\":\"A\",\"members\":[" + member + "]}\n";
  auto twice = import_zone_text("x.test.", head + ok + ok);
  ASSERT_FALSE(twice);
  EXPECT_NE(
      twice.error().find("zone x.test. text:5: steered record set api.x.test./A is given twice"),
      std::string::npos)
      << twice.error();
  // Ordinary comments (and "; steered ..." notes for humans) are not steerdns comments.
  auto plain = import_zone_text("x.test.", head + "; steerdns:whatever\n; steered api\n" + ok);
  ASSERT_TRUE(plain) << plain.error();
  EXPECT_EQ(plain->records.count("api.x.test./A"), 1u);
  // The same checks for a file, named by its path.
  TempDir dir;
  auto bad = import_zone_file("x.test.", dir.write("x.zone", head + ";steerdns:steered 7\n"));
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().find(dir.path() + "/x.zone:4: "), std::string::npos) << bad.error();
}


// ---- incremental compile: the cache and Touched give the results of the whole-catalog path ----

// A random batch over example.test.: plain sets of several types at a small pool of names (so
// CNAME conflicts and re-upserts happen), deletes, a record without TTL (zone default), the
// zone's default TTL, the steered set's TTL, now and then an invalid value.
ChangeBatch random_batch(std::mt19937& rng, const Catalog& cat) {
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  const char* labels[] = {"a", "b", "c", "d", "e", "www", "mail", "x.y", "deep.x.y", "app2"};
  ChangeBatch b;
  b.author = "fuzz";
  int n = 1 + pick(3);
  for (int i = 0; i < n; ++i) {
    Change ch;
    std::string name = std::string(labels[pick(10)]) + ".example.test.";
    int what = pick(12);
    if (what <= 5) {
      static const std::pair<const char*, const char*> kinds[] = {
          {"A", "192.0.2.%d"},   {"AAAA", "2001:db8::%d"},     {"TXT", "v=%d"},
          {"MX", "%d mx.test."}, {"CNAME", "t%d.example.test."}, {"A", "999.0.0.%d"}};
      auto [type, fmt] = kinds[what == 5 && pick(4) != 0 ? pick(5) : what];
      char value[64];
      std::snprintf(value, sizeof value, fmt, 1 + pick(9));
      json body = {{"name", name}, {"type", type}, {"values", {value}}};
      if (pick(3) != 0) {
        body["ttl"] = 30 + pick(3) * 30;
      }
      ch.action = Action::kUpsert;
      ch.body = body;
    } else if (what <= 8) {
      const auto& recs = cat.zones.at("example.test.").records;
      if (recs.empty()) {
        continue;
      }
      auto it = recs.begin();
      std::advance(it, pick(static_cast<int>(recs.size())));
      if (it->first == "ns1.example.test./A") {
        continue;  // the NS target's address stays, so most batches compile
      }
      ch.action = Action::kDelete;
      ch.key = it->first;
    } else if (what == 9) {
      json settings = cat.zones.at("example.test.").row.settings;
      settings["ttl"] = pick(2) == 0 ? 300 : 600;
      ch.action = Action::kUpsert;
      ch.kind = Kind::kZone;
      ch.key = "example.test.";
      ch.body = {{"name", "example.test."}, {"settings", settings}};
    } else {
      const auto& recs = cat.zones.at("example.test.").records;
      auto it = recs.find("app.example.test./A");
      if (it == recs.end()) {
        continue;
      }
      json body = it->second;
      body["ttl"] = 20 + pick(4) * 10;
      ch.action = Action::kUpsert;
      ch.body = body;
    }
    b.changes.push_back(std::move(ch));
  }
  return b;
}

TEST(CatalogCompileCache, SameResultAsAWholeCompileOverARandomBatchStream) {
  TempDir dir;
  Catalog cat = base_catalog(dir);
  ServerSettings server;
  CompileCache cache;
  ASSERT_TRUE(compile(cat, server, nullptr, &cache));
  std::mt19937 rng(20261126);
  int compiled = 0, rejected = 0;
  for (int round = 0; round < 300; ++round) {
    ChangeBatch b = random_batch(rng, cat);
    if (b.changes.empty()) {
      continue;
    }
    auto next = apply(cat, b);
    if (!next) {
      continue;
    }
    auto whole = compile(*next, server, &b);
    auto cached = compile(*next, server, &b, &cache);
    const std::string ctx = "round " + std::to_string(round);
    ASSERT_EQ(whole.ok(), cached.ok())
        << ctx << ": " << (whole ? cached.error() : whole.error());
    if (!whole) {
      // The error names an entity (the change, or the cached set it conflicts with), never the
      // loader's internal "file:N" marker.
      EXPECT_EQ(cached.error().find('\x1f'), std::string::npos) << cached.error();
      EXPECT_TRUE(cached.error().find("change ") != std::string::npos ||
                  cached.error().find("record set ") != std::string::npos)
          << cached.error();
      ++rejected;
      continue;  // the plane keeps the previous catalog; so does the stream
    }
    expect_same_config(*whole, *cached, ctx);
    EXPECT_EQ(std::multiset<std::string>(whole->warnings.begin(), whole->warnings.end()),
              std::multiset<std::string>(cached->warnings.begin(), cached->warnings.end()))
        << ctx;
    cat = std::move(*next);
    ++compiled;
  }
  EXPECT_GT(compiled, 100);
  EXPECT_GT(rejected, 5);
  EXPECT_GT(cache.hits(), cache.misses());
  // The cache holds exactly the catalog's plain record sets (steered ones are not cached).
  size_t plain = 0;
  for (const auto& [name, z] : cat.zones) {
    for (const auto& [key, body] : z.records) {
      plain += body.contains("members") ? 0 : 1;
    }
  }
  EXPECT_EQ(cache.size(), plain);
}

TEST(CatalogCompileCache, ConflictWithACachedSetNamesBoth) {
  TempDir dir;
  Catalog cat = base_catalog(dir);
  CompileCache cache;
  ASSERT_TRUE(compile(cat, ServerSettings{}, nullptr, &cache));
  ChangeBatch b;
  b.changes.push_back(rec_change(Action::kCreate, "", {{"name", "www.example.test."},
                                                     {"type", "CNAME"},
                                                     {"values", {"mx.example.test."}}}));
  auto next = apply(cat, b);
  ASSERT_TRUE(next) << next.error();
  auto whole = compile(*next, ServerSettings{}, &b);
  auto cached = compile(*next, ServerSettings{}, &b, &cache);
  ASSERT_FALSE(whole);
  ASSERT_FALSE(cached);
  EXPECT_NE(whole.error().find("CNAME"), std::string::npos) << whole.error();
  EXPECT_NE(cached.error().find("CNAME"), std::string::npos) << cached.error();
  // www/A is a cache hit here: its where is made when the error needs it.
  EXPECT_TRUE(cached.error().find("change 1") != std::string::npos ||
              cached.error().find("record set www.example.test./A") != std::string::npos)
      << cached.error();
  // A failed compile leaves the cache usable.
  auto again = compile(cat, ServerSettings{}, nullptr, &cache);
  ASSERT_TRUE(again) << again.error();
}

json op_json(const store::Op& op) {
  json j = {{"kind", op.kind}, {"key", op.key}, {"zone_id", op.zone_id}, {"del", op.del},
            {"settings", op.settings}};
  if (op.zone) {
    j["zone"] = {{"id", op.zone->id}, {"name", op.zone->name}, {"settings", op.zone->settings},
                 {"comment", op.zone->comment}};
  }
  if (op.record) {
    j["record"] = {{"zone", op.record->zone_id}, {"key", op.record->key},
                   {"body", op.record->body}};
  }
  if (op.check) {
    j["check"] = {{"id", op.check->id}, {"body", op.check->body}, {"v", op.check->version}};
  }
  return j;
}

std::multiset<std::string> ops_text(const std::vector<store::Op>& ops) {
  std::multiset<std::string> out;
  for (const auto& op : ops) {
    out.insert(op_json(op).dump());
  }
  return out;
}

TEST(CatalogTouched, CommitOpsAndCopyTouchedMatchTheWholeCatalogVersions) {
  TempDir dir;
  Catalog cat = base_catalog(dir);
  std::mt19937 rng(7);
  int checked = 0;
  for (int round = 0; round < 200; ++round) {
    ChangeBatch b = random_batch(rng, cat);
    // Zones, checks and settings too: whole zones come and go, checks change.
    switch (rng() % 8) {
      case 0: {
        Change z;
        z.action = cat.zones.count("extra.test.") ? Action::kDelete : Action::kCreate;
        z.kind = Kind::kZone;
        z.key = "extra.test.";
        if (z.action == Action::kCreate) {
          z.body = {{"name", "extra.test."}, {"settings", default_zone_settings("extra.test.")}};
          b.changes.push_back(z);
          b.changes.push_back(rec_change(Action::kCreate, "", {{"name", "w.extra.test."},
                                                             {"type", "A"},
                                                             {"values", {"192.0.2.9"}}}));
        } else {
          b.changes.clear();
          for (const auto& [key, body] : cat.zones.at("extra.test.").records) {
            if (key != "extra.test./SOA" && key != "extra.test./NS") {
              b.changes.push_back(rec_change(Action::kDelete, key, nullptr));
            }
          }
          b.changes.push_back(z);
        }
        break;
      }
      case 1: {
        Change c;
        c.kind = Kind::kHealthCheck;
        c.key = "web-c";
        c.action = Action::kUpsert;
        c.body = {{"type", "external"}, {"failure_threshold", 1 + static_cast<int>(rng() % 3)}};
        b.changes.push_back(c);
        break;
      }
      case 2: {
        Change st;
        st.kind = Kind::kSettings;
        st.action = Action::kUpsert;
        st.body = {{"latency_map", json::array()}};
        if (rng() % 2) {
          st.body["latency_measured_rtt"] = true;
        }
        b.changes.push_back(st);
        break;
      }
      default:
        break;
    }
    if (b.changes.empty()) {
      continue;
    }
    Touched t;
    auto next = apply(cat, b, &t);
    if (!next) {
      EXPECT_TRUE(t.empty()) << "a failed batch reports nothing touched";
      continue;
    }
    const std::string ctx = "round " + std::to_string(round);
    EXPECT_EQ(ops_text(commit_ops(cat, *next, t)), ops_text(commit_ops(cat, *next))) << ctx;
    Catalog stale = cat;
    copy_touched(stale, *next, t);
    EXPECT_EQ(to_json(stale), to_json(*next)) << ctx;
    EXPECT_EQ(stale.revision, next->revision) << ctx;
    cat = std::move(*next);
    ++checked;
  }
  EXPECT_GT(checked, 100);
}

}  // namespace
}  // namespace steerdns::config

namespace steerdns::config {
namespace {

// alerts: and slo: travel in the catalog's settings (file, JSON API and apply alike) and
// compile into the loaded config; a bad route in settings is refused by name.
TEST(CatalogAlerts, AlertsAndSloRideInSettings) {
  TempDir dir;
  std::string path = dir.write("a.yaml", R"(zones:
  - name: example.test.
    soa: { mname: ns1.example.test., rname: h.example.test. }
    ns: [ns1.example.test.]
    records:
      - { name: ns1, type: A, values: [127.0.0.1] }
      - name: app
        type: A
        policy: failover
        members:
          - { set_id: p, role: primary, values: [192.0.2.1], health_check: p }
          - { set_id: s, role: secondary, values: [192.0.2.2], health_check: s }
health_checks:
  - { id: p, type: external }
  - { id: s, type: external }
alerts:
  routes: [{ events: [failover], severity: emergency }]
  severities: { emergency: { channels: [hook], repeat: 5m } }
  channels: { hook: { type: webhook, url: "http://127.0.0.1:9/x" } }
slo:
  app.example.test: { objective: 99.95, alert_below: 99 }
)");
  ServerSettings server;
  auto cat = from_config_file(path, &server);
  ASSERT_TRUE(cat) << cat.error();
  ASSERT_TRUE(cat->settings.contains("alerts"));
  auto lc = compile(*cat, server);
  ASSERT_TRUE(lc) << lc.error();
  ASSERT_EQ(lc->alerts.routes.size(), 1u);
  EXPECT_EQ(lc->alerts.severities[3].repeat_ms, 300'000);
  EXPECT_EQ(lc->slo.for_name("app.example.test.").objective, 99.95);

  Catalog bad = *cat;
  bad.settings["alerts"]["routes"][0]["events"] = json::array({"failovr"});
  auto e = compile(bad, server);
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().find("unknown event 'failovr' (did you mean 'failover'?)"), std::string::npos)
      << e.error();
  Catalog bad_name = *cat;
  bad_name.settings["slo"] = {{"ap.example.test", {{"objective", "99"}}}};
  auto e2 = compile(bad_name, server);
  ASSERT_FALSE(e2);
  EXPECT_NE(e2.error().find("no steered record set has this name (did you mean "
                            "'app.example.test.'?)"),
            std::string::npos)
      << e2.error();
}

}  // namespace
}  // namespace steerdns::config
