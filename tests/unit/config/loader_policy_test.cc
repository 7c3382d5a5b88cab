// Steered records in the YAML config: every routing policy parses into the steering model and
// a steered rrset in the zone; every bad input of issue 4 is refused with file:line, the
// record and the reason, and nothing is loaded.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "config/check.h"
#include "config/loader.h"
#include "config_test_util.h"
#include "dns/rrtype.h"
#include "policy/model.h"

namespace steerdns::config {
namespace {

using testing::line_of;
using testing::TempDir;
namespace rt = dns::rrtype;

constexpr const char* kHead = R"(health_checks:
  - { id: p, type: external }
  - { id: s, type: external }
  - { id: web, url: http://127.0.0.1:8080/, interval: 10s, timeout: 2s, failure_threshold: 3 }
  - { id: db, type: tcp, host: 127.0.0.1, port: 5432, interval: 30s, timeout: 5s, failure_threshold: 2 }
  - { id: site, type: calculated, children: [web, db], healthy_threshold: 2 }
zones:
  - name: example.test.
    soa: { mname: ns1.example.test., rname: hostmaster.example.test., minimum: 60 }
    ns: [ns1.example.test.]
    records:
      - { name: ns1, type: A, values: [127.0.0.1] }
      - { name: static, type: A, values: [192.0.2.99, 192.0.2.98] }
)";

Result<LoadedConfig> load(TempDir& d, const std::string& records, const std::string& tail = "",
                          std::string* path = nullptr) {
  std::string p = d.write("t.yaml", std::string(kHead) + records + tail);
  if (path != nullptr) {
    *path = p;
  }
  return load_config_file(p);
}

const policy::RecordSet* find_set(const LoadedConfig& c, const std::string& key) {
  for (const auto& rs : c.steering_spec->record_sets) {
    if (rs.key() == key) {
      return &rs;
    }
  }
  return nullptr;
}

// The steered rrset in the zone points at its record set.
void expect_steered_rrset(const LoadedConfig& c, const std::string& name, uint16_t type) {
  const zone::Zone* z = c.runtime->zones()[0].get();
  auto n = dns::Name::from_text(name);
  const zone::Node* node = z->find(*n);
  ASSERT_NE(node, nullptr) << name;
  const zone::RRset* rs = z->rrset(*node, type);
  ASSERT_NE(rs, nullptr) << name;
  ASSERT_NE(rs->steer, zone::kNone) << name;
  EXPECT_EQ(c.steering_spec->record_sets.at(rs->steer).name, *n);
  EXPECT_EQ(c.steering_spec->record_sets.at(rs->steer).type, type);
}

TEST(ConfigPolicy, FailoverParsesEveryKey) {
  TempDir d;
  auto c = load(d, R"(      - name: app
        type: A
        ttl: 60
        policy: failover
        failover_ttl: 30
        failback: gradual
        failback_ramp: 10m
        stabilize: 2m
        min_state: 45s
        failover_ttl_hold: 5m
        flap: { transitions: 5, window: 20m }
        on_all_down: static
        static_values: [192.0.2.250]
        members:
          - { set_id: pri, role: primary, values: [192.0.2.10], health_check: p }
          - { set_id: sec, role: secondary, values: [198.51.100.10, 198.51.100.11], health_check: s }
          - { set_id: third, tier: 3, values: [203.0.113.10] }
)");
  ASSERT_TRUE(c.ok()) << c.error();
  const auto* rs = find_set(*c, "app.example.test./A");
  ASSERT_NE(rs, nullptr);
  EXPECT_EQ(rs->policy, policy::Policy::kFailover);
  EXPECT_EQ(rs->ttl, 60u);
  EXPECT_EQ(rs->failover_ttl, 30u);
  EXPECT_EQ(rs->failback, policy::FailbackMode::kGradual);
  EXPECT_EQ(rs->ramp_ms, 600'000);
  EXPECT_EQ(rs->stabilize_ms, 120'000);
  EXPECT_EQ(rs->min_state_ms, 45'000);
  EXPECT_EQ(rs->failover_ttl_hold_ms, 300'000);
  EXPECT_EQ(rs->flap_transitions, 5);
  EXPECT_EQ(rs->flap_window_ms, 1'200'000);
  EXPECT_EQ(rs->on_all_down, policy::AllDown::kStatic);
  ASSERT_EQ(rs->static_values.size(), 1u);
  EXPECT_EQ(rs->static_values[0], (std::vector<uint8_t>{192, 0, 2, 250}));
  ASSERT_EQ(rs->members.size(), 3u);
  EXPECT_EQ(rs->members[0].tier, 1);
  EXPECT_EQ(rs->members[1].tier, 2);
  EXPECT_EQ(rs->members[2].tier, 3);
  EXPECT_EQ(rs->members[1].rdata.size(), 2u);
  EXPECT_EQ(rs->members[0].health_check, "p");
  EXPECT_EQ(rs->members[1].where, d.path() + "/t.yaml:29");  // 13 lines of kHead, then the record
  expect_steered_rrset(*c, "app.example.test.", rt::A);
  ASSERT_NE(c->steering, nullptr);
  EXPECT_EQ(c->runtime->steering, c->steering);
  // The fallback (no table) is the primary: the fail-open answer.
  const zone::Zone* z = c->runtime->zones()[0].get();
  const zone::RRset* rrs = z->rrset(*z->find(*dns::Name::from_text("app.example.test.")), rt::A);
  EXPECT_EQ(rrs->count, 1);
}

TEST(ConfigPolicy, WeightedLatencySubnetMultivalueSimple) {
  TempDir d;
  auto c = load(d, R"(      - name: w
        type: AAAA
        policy: weighted
        sticky: { v4_prefix: 20, v6_prefix: 48 }
        members:
          - { set_id: a, weight: 200, values: ["2001:db8::1"] }
          - { set_id: b, weight: 0, values: ["2001:db8::2"] }
      - name: lat
        type: A
        policy: latency
        members:
          - { set_id: tpe, region: ap-east-2, values: [192.0.2.10], health_check: p }
          - { set_id: nrt, region: ap-northeast-1, values: [198.51.100.10] }
      - name: net
        type: A
        policy: subnet
        members:
          - { set_id: office, subnets: [10.0.0.0/8, "2001:db8::/32"], values: [192.0.2.1] }
          - { set_id: rest, default: true, values: [192.0.2.2] }
      - name: mv
        type: A
        policy: multivalue
        max_values: 2
        members:
          - { set_id: a, values: [192.0.2.1] }
          - { set_id: b, values: [192.0.2.2] }
          - { set_id: c, values: [192.0.2.3] }
      - name: "@"
        type: A
        policy: simple
        members:
          - alias: { name: lat }
      - name: copy
        type: A
        members:
          - { alias: { name: static.example.test., evaluate_target_health: false } }
      - name: txt
        type: TXT
        members:
          - { values: ["two words"] }
)",
                R"(latency_map:
  - { cidr: 203.0.113.0/24, rtt_ms: { ap-east-2: 12, ap-northeast-1: 38 } }
  - { cidr: 0.0.0.0/0, rtt_ms: { ap-east-2: 60, ap-northeast-1: 60 } }
latency_measured_rtt: false
)");
  ASSERT_TRUE(c.ok()) << c.error();
  const auto& spec = *c->steering_spec;
  ASSERT_EQ(spec.record_sets.size(), 7u);
  EXPECT_FALSE(spec.latency_use_measured_rtt);
  const auto* w = find_set(*c, "w.example.test./AAAA");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->policy, policy::Policy::kWeighted);
  EXPECT_TRUE(w->sticky);
  EXPECT_EQ(w->sticky_v4_prefix, 20);
  EXPECT_EQ(w->sticky_v6_prefix, 48);
  EXPECT_EQ(w->members[0].weight, 200);
  EXPECT_EQ(w->members[1].weight, 0);
  EXPECT_EQ(w->members[0].rdata[0].size(), 16u);
  const auto* lat = find_set(*c, "lat.example.test./A");
  EXPECT_EQ(lat->members[1].region, "ap-northeast-1");
  ASSERT_EQ(spec.latency_map.size(), 2u);
  EXPECT_EQ(spec.latency_map[0].cidr.to_text(), "203.0.113.0/24");
  EXPECT_EQ(spec.latency_map[0].rtt_ms, (std::vector<std::pair<std::string, uint32_t>>{
                                            {"ap-east-2", 12}, {"ap-northeast-1", 38}}));
  const auto* net = find_set(*c, "net.example.test./A");
  EXPECT_EQ(net->members[0].subnets.size(), 2u);
  EXPECT_TRUE(net->members[1].subnet_default);
  EXPECT_EQ(find_set(*c, "mv.example.test./A")->max_values, 2);
  // Alias to a steered set: left for the table. Alias to a static rrset: its values copied.
  const auto* apex = find_set(*c, "example.test./A");
  ASSERT_TRUE(apex->members[0].alias.has_value());
  EXPECT_TRUE(apex->members[0].rdata.empty());
  EXPECT_TRUE(apex->members[0].alias->evaluate_target_health);
  const auto* copy = find_set(*c, "copy.example.test./A");
  EXPECT_EQ(copy->members[0].rdata.size(), 2u);
  EXPECT_FALSE(copy->members[0].alias->evaluate_target_health);
  // TXT values take the same path as plain records: one string with a space.
  const auto* txt = find_set(*c, "txt.example.test./TXT");
  EXPECT_EQ(txt->members[0].rdata[0].size(), 10u);
  for (const char* n :
       {"w.example.test.", "lat.example.test.", "example.test.", "copy.example.test."}) {
    expect_steered_rrset(*c, n, std::string(n) == "w.example.test." ? rt::AAAA : rt::A);
  }
  // A pure alias set has no fallback data of its own.
  const zone::Zone* z = c->runtime->zones()[0].get();
  EXPECT_EQ(z->rrset(z->apex(), rt::A)->count, 0);
}

TEST(ConfigPolicy, GeoWithDatabaseRelativeToTheConfig) {
  TempDir d;
  std::string cmd =
      "perl " STEERDNS_SOURCE_DIR "/tests/testlib/make_mmdb.pl " + d.path() + "/geo.mmdb";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << "needs libmaxmind-db-writer-perl";
  auto c = load(d, R"(      - name: geo
        type: A
        policy: geo
        members:
          - { set_id: tw, locations: [TW, "continent:AS"], values: [192.0.2.1] }
          - { set_id: rest, locations: ["*"], values: [192.0.2.2] }
)",
                "geoip: { database: geo.mmdb }\n");
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(c->steering_spec->geoip_db, d.path() + "/geo.mmdb");
  EXPECT_EQ(find_set(*c, "geo.example.test./A")->members[0].locations,
            (std::vector<std::string>{"TW", "continent:AS"}));
}

TEST(ConfigPolicy, SteeredCnameIsAloneAtItsName) {
  TempDir d;
  auto ok = load(d, R"(      - name: www
        type: CNAME
        policy: failover
        members:
          - { set_id: a, role: primary, values: [static.example.test.] }
          - { set_id: b, role: secondary, values: [ns1.example.test.] }
)");
  ASSERT_TRUE(ok.ok()) << ok.error();
  std::string path;
  std::string recs = R"(      - { name: www, type: TXT, values: [hello] }
      - name: www
        type: CNAME
        members:
          - { values: [static.example.test.] }
)";
  auto bad = load(d, recs, "", &path);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(
      bad.error().rfind(
          path + ":" + std::to_string(line_of(std::string(kHead) + recs, "- name: www")) + ": ", 0),
      0u)
      << bad.error();
  EXPECT_NE(bad.error().find("CNAME at www.example.test. beside other data"), std::string::npos)
      << bad.error();
}

struct Bad {
  const char* what;
  std::string records;
  std::string tail;
  std::string marker;  // the line the error must name
  std::string reason;
};

TEST(ConfigPolicy, EveryBadInputNamesFileLineRecordAndReason) {
  const Bad cases[] = {
      {"two PRIMARY members",
       R"(      - name: app
        type: A
        policy: failover
        members:
          - { set_id: one, role: primary, values: [192.0.2.1] }
          - { set_id: two, role: primary, values: [192.0.2.2] }
)",
       "", "set_id: two", "app.example.test./A two: two PRIMARY members"},
      {"weight out of range",
       R"(      - name: w
        type: A
        policy: weighted
        members:
          - { set_id: a, weight: 10, values: [192.0.2.1] }
          - { set_id: b, weight: 300, values: [192.0.2.2] }
)",
       "", "weight: 300", "w.example.test./A member b: weight 300 out of range 0..255"},
      {"alias loop",
       R"(      - name: a
        type: A
        members:
          - alias: { name: b }
      - name: b
        type: A
        members:
          - alias: { name: a }
)",
       "", "alias: { name: a }", "alias loop: "},
      {"failover without a secondary",
       R"(      - name: app
        type: A
        policy: failover
        members:
          - { set_id: one, role: primary, values: [192.0.2.1] }
)",
       "", "- name: app", "app.example.test./A: a failover record without a secondary"},
      {"unknown health check",
       R"(      - name: app
        type: A
        policy: failover
        members:
          - { set_id: one, role: primary, values: [192.0.2.1], health_check: nope }
          - { set_id: two, role: secondary, values: [192.0.2.2] }
)",
       "", "health_check: nope", "app.example.test./A one: health check 'nope' does not exist"},
      {"mixed policies in one name/type",
       R"(      - name: app
        type: A
        policy: weighted
        members:
          - { set_id: a, weight: 1, values: [192.0.2.1] }
      - { name: app, type: A, policy: latency, members: [{ set_id: b, region: x, values: [192.0.2.2] }] }
)",
       "", "policy: latency",
       "app.example.test./A: mixed policies in one name/type: latency here, weighted at "},
      {"geo without database",
       R"(      - name: g
        type: A
        policy: geo
        members:
          - { set_id: a, locations: [TW], values: [192.0.2.1] }
)",
       "", "- name: g", "g.example.test./A: geo routing needs geoip_db"},
      {"steered beside static records",
       R"(      - { name: static2, type: A, values: [192.0.2.1] }
      - name: static2
        type: A
        members:
          - { values: [192.0.2.2] }
)",
       "", "- name: static2", "steered A at static2.example.test. beside static A records"},
      {"alias target missing",
       R"(      - name: a
        type: A
        members:
          - alias: { name: nowhere }
)",
       "", "alias: { name: nowhere }", "alias target nowhere.example.test. A does not exist"},
      {"bad value",
       R"(      - name: a
        type: A
        policy: weighted
        members:
          - { set_id: a, weight: 1, values: [192.0.2.300] }
)",
       "", "192.0.2.300", "a.example.test./A member '192.0.2.300'"},
      {"key of another policy",
       R"(      - name: a
        type: A
        policy: latency
        members:
          - { set_id: a, weight: 1, region: r, values: [192.0.2.1] }
)",
       "", "weight: 1", "'weight' is for weighted records, not latency"},
      {"unknown on_all_down",
       R"(      - name: a
        type: A
        on_all_down: falloppen
        members:
          - { values: [192.0.2.1] }
)",
       "", "on_all_down: falloppen", "is not fail_open, static, nodata or servfail"},
      {"values and members", R"(      - name: a
        type: A
        values: [192.0.2.1]
        members:
          - { values: [192.0.2.1] }
)",
       "", "values: [192.0.2.1]", "give 'values' or 'members', not both"},
      {"latency_map bad cidr", "", "latency_map:\n  - { cidr: 10.0.0.0/33, rtt_ms: { a: 1 } }\n",
       "10.0.0.0/33", "latency_map: '10.0.0.0/33': IPv4 prefix length above 32"},
      {"latency_measured_rtt not a bool", "", "latency_measured_rtt: sometimes\n",
       "latency_measured_rtt",
       "'latency_measured_rtt' must be true or false (on/off, yes/no), not 'sometimes'"},
  };
  for (const auto& bc : cases) {
    SCOPED_TRACE(bc.what);
    TempDir d;
    std::string path;
    auto c = load(d, bc.records, bc.tail, &path);
    ASSERT_FALSE(c.ok()) << bc.what;
    int line = line_of(std::string(kHead) + bc.records + bc.tail, bc.marker);
    ASSERT_GT(line, 0) << bc.marker;
    std::string where = path + ":" + std::to_string(line) + ": ";
    EXPECT_EQ(c.error().rfind(where, 0), 0u) << c.error() << "\nexpected: " << where;
    EXPECT_NE(c.error().find(bc.reason), std::string::npos)
        << c.error() << "\nexpected: " << bc.reason;
  }
}

TEST(ConfigPolicy, CheckReportsWorstCaseFailoverTime) {
  TempDir d;
  std::string path;
  auto c = load(d, R"(      - name: app
        type: A
        ttl: 60
        policy: failover
        members:
          - { set_id: pri, role: primary, values: [192.0.2.10], health_check: site }
          - { set_id: sec, role: secondary, values: [198.51.100.10], health_check: web }
      - name: nd
        type: A
        ttl: 20
        policy: failover
        on_all_down: nodata
        members:
          - { set_id: pri, role: primary, values: [192.0.2.10], health_check: web }
          - { set_id: sec, role: secondary, values: [198.51.100.10] }
      - name: plain
        type: A
        members:
          - { values: [192.0.2.1] }
)",
                "", &path);
  ASSERT_TRUE(c.ok()) << c.error();
  auto t = failover_times(*c);
  ASSERT_EQ(t.size(), 3u);
  // site = calculated over web (10s x 3 + 2s = 32s) and db (30s x 2 + 5s = 65s): the worst.
  EXPECT_EQ(t[0].detect_ms, 65'000);
  EXPECT_EQ(t[0].worst_ms(), 125'000);
  EXPECT_NE(t[0].detect_why.find("site <- db"), std::string::npos) << t[0].detect_why;
  // nodata all-down: + the zone's negative TTL (min(SOA TTL 3600, minimum 60)).
  EXPECT_EQ(t[1].detect_ms, 32'000);
  EXPECT_EQ(t[1].negative_ttl, 60u);
  EXPECT_EQ(t[1].worst_ms(), 32'000 + 20'000 + 60'000);
  EXPECT_FALSE(t[2].has_checks);
  std::string report = check_report(path, *c);
  EXPECT_NE(report.find("app.example.test./A (failover): 125s = detection 65s"), std::string::npos)
      << report;
  EXPECT_NE(report.find("+ negative TTL 60s"), std::string::npos) << report;
  // A bad config: the load error, and no report.
  std::string bad =
      d.write("bad.yaml",
              std::string(kHead) + "      - { name: x, type: A, policy: failover, members: [] }\n");
  auto r = check_config_file(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("'members' is empty"), std::string::npos) << r.error();
}

}  // namespace
}  // namespace steerdns::config
