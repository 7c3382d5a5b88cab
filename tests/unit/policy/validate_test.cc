// validate(): every rejection names where (member's or set's source), the set key, the member
// and why; valid specs pass.
#include <gtest/gtest.h>

#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "policy/model.h"
#include "policy_test_util.h"

namespace steerdns::policy::test {
namespace {

const std::vector<std::string> kChecks = {"c1", "c2", "c3"};

SteeringSpec Base() {
  SteeringSpec spec;
  spec.record_sets.push_back(Set("app.example.", Policy::kFailover,
                                 {M("p", "192.0.2.1", "c1"), M("s", "192.0.2.2", "c2")}));
  spec.record_sets.back().members[0].tier = 1;
  spec.record_sets.back().members[1].tier = 2;
  spec.record_sets.push_back(
      Set("w.example.", Policy::kWeighted, {M("a", "192.0.2.11"), M("b", "192.0.2.12")}));
  spec.record_sets.back().members[0].weight = 10;
  spec.record_sets.back().members[1].weight = 0;
  return spec;
}

RecordSet& App(SteeringSpec& s) { return s.record_sets[0]; }
RecordSet& W(SteeringSpec& s) { return s.record_sets[1]; }

struct Case {
  const char* name;
  std::function<void(SteeringSpec&)> mutate;
  const char* error;  // expected full prefix + reason substring
};

TEST(Validate, BaseIsValid) {
  SteeringSpec spec = Base();
  Status st = validate(spec, kChecks);
  EXPECT_TRUE(st.ok()) << st.error();
}

TEST(Validate, RecordSetKey) {
  RecordSet rs = Set("App.Example.", Policy::kSimple, {M("x", "192.0.2.1")});
  EXPECT_EQ(rs.key(), "app.example./A");
  EXPECT_STREQ(policy_name(Policy::kMultivalue), "multivalue");
  EXPECT_STREQ(all_down_name(AllDown::kServfail), "servfail");
  EXPECT_STREQ(failback_name(FailbackMode::kGradual), "gradual");
}

TEST(Validate, RejectsWithWhereKeyAndReason) {
  const std::vector<Case> cases = {
      {"duplicate set", [](SteeringSpec& s) { s.record_sets.push_back(s.record_sets[0]); },
       "test.yaml:app.example.: app.example./A: duplicate record set"},
      {"mixed policies",
       [](SteeringSpec& s) {
         s.record_sets.push_back(Set("app.example.", Policy::kSimple, {M("x", "192.0.2.9")}));
         s.record_sets.back().where = "other.yaml:7";
       },
       "other.yaml:7: app.example./A: mixed policies in one name/type: simple here, failover"},
      {"simple two members",
       [](SteeringSpec& s) {
         s.record_sets.push_back(
             Set("s.example.", Policy::kSimple, {M("x", "192.0.2.9"), M("y", "192.0.2.8")}));
       },
       "test.yaml:s.example.: s.example./A: simple routing takes exactly one member, not 2"},
      {"no members", [](SteeringSpec& s) { W(s).members.clear(); }, "w.example./A: no members"},
      {"two primaries", [](SteeringSpec& s) { App(s).members[1].tier = 1; },
       "test.yaml:s: app.example./A s: two PRIMARY members (the other is p)"},
      {"no secondary", [](SteeringSpec& s) { App(s).members.pop_back(); },
       "test.yaml:app.example.: app.example./A: a failover record without a secondary"},
      {"tier missing", [](SteeringSpec& s) { App(s).members[0].tier = 0; },
       "test.yaml:p: app.example./A p: failover member needs a tier"},
      {"tier gap", [](SteeringSpec& s) { App(s).members[1].tier = 3; },
       "app.example./A s: failover tiers must be 1, 2, ... without gaps; tier 2 is missing"},
      {"weight above 255", [](SteeringSpec& s) { W(s).members[0].weight = 256; },
       "test.yaml:a: w.example./A a: weight 256 out of range 0..255"},
      {"weight missing", [](SteeringSpec& s) { W(s).members[1].weight = -1; },
       "test.yaml:b: w.example./A b: weighted member without a weight"},
      {"duplicate set id", [](SteeringSpec& s) { W(s).members[1].set_id = "a"; },
       "w.example./A a: duplicate set_id"},
      {"no values", [](SteeringSpec& s) { W(s).members[1].rdata.clear(); },
       "test.yaml:b: w.example./A b: member without values or alias"},
      {"unknown check", [](SteeringSpec& s) { App(s).members[1].health_check = "nope"; },
       "test.yaml:s: app.example./A s: health check 'nope' does not exist"},
      {"failover_ttl above ttl", [](SteeringSpec& s) { App(s).failover_ttl = 120; },
       "app.example./A: failover_ttl 120 is above ttl 60"},
      {"static without values", [](SteeringSpec& s) { App(s).on_all_down = AllDown::kStatic; },
       "app.example./A: on_all_down: static needs static_values"},
      {"gradual without ramp",
       [](SteeringSpec& s) {
         App(s).failback = FailbackMode::kGradual;
         App(s).ramp_ms = 0;
       },
       "app.example./A: failback: gradual needs a ramp above 0"},
      {"negative stabilize", [](SteeringSpec& s) { App(s).stabilize_ms = -1; },
       "app.example./A: negative duration"},
      {"flap transitions", [](SteeringSpec& s) { App(s).flap_transitions = 1; },
       "app.example./A: flap_transitions must be at least 2"},
      {"latency without region",
       [](SteeringSpec& s) {
         s.record_sets.push_back(
             Set("l.example.", Policy::kLatency, {M("x", "192.0.2.9"), M("y", "192.0.2.8")}));
         s.record_sets.back().members[0].region = "eu";
       },
       "test.yaml:y: l.example./A y: latency member without a region"},
      {"latency duplicate region",
       [](SteeringSpec& s) {
         s.record_sets.push_back(
             Set("l.example.", Policy::kLatency, {M("x", "192.0.2.9"), M("y", "192.0.2.8")}));
         s.record_sets.back().members[0].region = "eu";
         s.record_sets.back().members[1].region = "eu";
       },
       "l.example./A y: region 'eu' used twice (also x)"},
      {"geo bad location",
       [](SteeringSpec& s) {
         s.geoip_db = STEERDNS_SOURCE_DIR "/README.md";
         s.record_sets.push_back(Set("g.example.", Policy::kGeo, {M("x", "192.0.2.9")}));
         s.record_sets.back().members[0].locations = {"continent:XX"};
       },
       "test.yaml:x: g.example./A x: location 'continent:XX' is not a country"},
      {"geo lower-case country",
       [](SteeringSpec& s) {
         s.geoip_db = STEERDNS_SOURCE_DIR "/README.md";
         s.record_sets.push_back(Set("g.example.", Policy::kGeo, {M("x", "192.0.2.9")}));
         s.record_sets.back().members[0].locations = {"tw"};
       },
       "g.example./A x: location 'tw' is not a country"},
      {"geo location twice",
       [](SteeringSpec& s) {
         s.geoip_db = STEERDNS_SOURCE_DIR "/README.md";
         s.record_sets.push_back(
             Set("g.example.", Policy::kGeo, {M("x", "192.0.2.9"), M("y", "192.0.2.8")}));
         s.record_sets.back().members[0].locations = {"TW", "*"};
         s.record_sets.back().members[1].locations = {"continent:AS", "TW"};
       },
       "g.example./A y: location 'TW' used twice (also x)"},
      {"geo without locations",
       [](SteeringSpec& s) {
         s.geoip_db = STEERDNS_SOURCE_DIR "/README.md";
         s.record_sets.push_back(Set("g.example.", Policy::kGeo, {M("x", "192.0.2.9")}));
       },
       "g.example./A x: geo member without locations"},
      {"geo without database",
       [](SteeringSpec& s) {
         s.record_sets.push_back(Set("g.example.", Policy::kGeo, {M("x", "192.0.2.9")}));
         s.record_sets.back().members[0].locations = {"*"};
       },
       "g.example./A: geo routing needs geoip_db"},
      {"geo database missing",
       [](SteeringSpec& s) {
         s.geoip_db = "/nonexistent/geo.mmdb";
         s.record_sets.push_back(Set("g.example.", Policy::kGeo, {M("x", "192.0.2.9")}));
         s.record_sets.back().members[0].locations = {"*"};
       },
       "geoip_db '/nonexistent/geo.mmdb': cannot open the file"},
      {"subnet two defaults",
       [](SteeringSpec& s) {
         s.record_sets.push_back(
             Set("n.example.", Policy::kSubnet, {M("x", "192.0.2.9"), M("y", "192.0.2.8")}));
         s.record_sets.back().members[0].subnet_default = true;
         s.record_sets.back().members[1].subnet_default = true;
       },
       "test.yaml:y: n.example./A y: more than one default member"},
      {"subnet member without subnets",
       [](SteeringSpec& s) {
         s.record_sets.push_back(Set("n.example.", Policy::kSubnet, {M("x", "192.0.2.9")}));
       },
       "n.example./A x: subnet member without subnets"},
      {"subnet twice",
       [](SteeringSpec& s) {
         s.record_sets.push_back(
             Set("n.example.", Policy::kSubnet, {M("x", "192.0.2.9"), M("y", "192.0.2.8")}));
         s.record_sets.back().members[0].subnets = {C("10.0.0.0/8")};
         s.record_sets.back().members[1].subnets = {C("10.1.2.3/8")};
       },
       "n.example./A y: subnet 10.0.0.0/8 used twice (also x)"},
      {"multivalue two values",
       [](SteeringSpec& s) {
         s.record_sets.push_back(Set("m.example.", Policy::kMultivalue, {M("x", "192.0.2.9")}));
         s.record_sets.back().members[0].rdata.push_back(A("192.0.2.10"));
       },
       "m.example./A x: multivalue member must have exactly one value"},
      {"multivalue max_values",
       [](SteeringSpec& s) {
         s.record_sets.push_back(Set("m.example.", Policy::kMultivalue, {M("x", "192.0.2.9")}));
         s.record_sets.back().max_values = 9;
       },
       "m.example./A: max_values 9 out of range 1..8"},
      {"alias target missing",
       [](SteeringSpec& s) { W(s).members[1] = Alias("b", "nowhere.example."); },
       "test.yaml:b: w.example./A b: alias target nowhere.example./A does not exist"},
      {"alias type differs",
       [](SteeringSpec& s) {
         W(s).members[1] = Alias("b", "app.example.");
         W(s).members[1].alias->type = dns::rrtype::AAAA;
         W(s).members[1].weight = 1;
       },
       "w.example./A b: alias target type AAAA differs from A"},
      {"alias to itself",
       [](SteeringSpec& s) {
         W(s).members[1] = Alias("b", "w.example.");
         W(s).members[1].weight = 1;
       },
       "w.example./A b: alias loop: the member points to its own record set"},
      {"alias loop across sets",
       [](SteeringSpec& s) {
         W(s).members[1] = Alias("b", "app.example.");
         W(s).members[1].weight = 1;
         App(s).members[1] = Alias("s", "w.example.");
         App(s).members[1].tier = 2;
       },
       "alias loop: app.example./A -> w.example./A -> app.example./A"},
  };
  for (const Case& c : cases) {
    SteeringSpec spec = Base();
    c.mutate(spec);
    Status st = validate(spec, kChecks);
    ASSERT_FALSE(st.ok()) << c.name;
    EXPECT_NE(st.error().find(c.error), std::string::npos)
        << c.name << "\n  got:      " << st.error() << "\n  expected: " << c.error;
    // compile() rejects the same specs (except unknown checks, which count healthy there).
    if (std::string(c.name) != "unknown check") {
      CompileInputs in;
      in.spec = &spec;
      EXPECT_FALSE(compile(in).ok()) << c.name;
    }
  }
}

TEST(Validate, AliasResolvedToStaticNeedsNoSteeredTarget) {
  SteeringSpec spec = Base();
  W(spec).members[1] = Alias("b", "static.example.");
  W(spec).members[1].weight = 1;
  W(spec).members[1].rdata.push_back(A("192.0.2.77"));  // the loader resolved the alias
  Status st = validate(spec, kChecks);
  EXPECT_TRUE(st.ok()) << st.error();
}

TEST(Validate, ValidLocations) {
  SteeringSpec spec = Base();
  spec.geoip_db = STEERDNS_SOURCE_DIR "/README.md";  // opens; compile() would reject it
  spec.record_sets.push_back(
      Set("g.example.", Policy::kGeo, {M("x", "192.0.2.9"), M("y", "192.0.2.8")}));
  spec.record_sets.back().members[0].locations = {"TW", "US-CA", "continent:EU"};
  spec.record_sets.back().members[1].locations = {"*"};
  Status st = validate(spec, kChecks);
  EXPECT_TRUE(st.ok()) << st.error();
  CompileInputs in;
  in.spec = &spec;
  auto r = compile(in);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("geoip_db"), std::string::npos) << r.error();
}

}  // namespace
}  // namespace steerdns::policy::test
