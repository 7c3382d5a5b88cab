// explain() and simulate(): the decision path and what-if answers, from the same table code.
#include "policy/explain.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "policy_test_util.h"

namespace steerdns::policy::test {
namespace {

Compiled Flagship() {
  Compiled c;
  RecordSet rs = Set("app.example.", Policy::kFailover,
                     {M("primary", "192.0.2.1", "p"), M("secondary", "192.0.2.2", "s")});
  rs.members[0].tier = 1;
  rs.members[1].tier = 2;
  rs.on_all_down = AllDown::kNodata;
  c.spec.record_sets.push_back(rs);
  c.spec.record_sets.push_back(Set("www.example.", Policy::kSimple, {M("x", "192.0.2.80")}));
  return c;
}

TEST(Explain, FailedOverToSecondary) {
  Compiled c = Flagship();
  c.health = Health({{"p", kDown}, {"s", kUp}});
  c.steer["app.example./A"] = SteerState{0, 0, 0, 30};
  auto r = explain(c.inputs(), "app.example./A", Cl("198.51.100.7"));
  ASSERT_TRUE(r.ok()) << r.error();
  const nlohmann::json& j = *r;
  EXPECT_EQ(j["policy"], "failover");
  EXPECT_EQ(j["answer"]["values"], nlohmann::json::array({"192.0.2.2"}));
  EXPECT_EQ(j["answer"]["outcome"], "answer");
  EXPECT_EQ(j["tier_chosen"], 2);
  EXPECT_EQ(j["all_down_fired"], false);
  EXPECT_EQ(j["ttl"]["value"], 30);
  EXPECT_NE(j["ttl"]["why"].get<std::string>().find("orchestration"), std::string::npos);
  EXPECT_EQ(j["members"][0]["healthy"], false);
  EXPECT_EQ(j["members"][0]["check"]["source"], "probe");
  EXPECT_EQ(j["members"][0]["check"]["status"], "unhealthy");
  EXPECT_EQ(j["members"][0]["tier"], 1);
  EXPECT_EQ(j["members"][1]["chosen"], true);
  EXPECT_EQ(j["members"][0]["chosen"], false);
  EXPECT_EQ(j["scope"], 0);
}

TEST(Explain, AllDownAndOverrideSource) {
  Compiled c = Flagship();
  c.health = Health({{"p", kDown}, {"s", kUp}});
  c.overrides.checks["s"] = ForceState::kDown;
  auto r = explain(c.inputs(), "app.example./A", Client{});
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ((*r)["all_down_fired"], true);
  EXPECT_EQ((*r)["answer"]["outcome"], "nodata");
  EXPECT_EQ((*r)["members"][1]["check"]["source"], "override");
  EXPECT_EQ((*r)["members"][1]["check"]["forced"], "down");
  EXPECT_NE((*r)["members"][1]["why"].get<std::string>().find("forced down"), std::string::npos);
}

TEST(Explain, UnknownSetIsAnError) {
  Compiled c = Flagship();
  auto r = explain(c.inputs(), "nope.example./A", Client{});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("nope.example./A"), std::string::npos);
}

TEST(Explain, NestedShowsAliasPathAndWeights) {
  Compiled c = Flagship();
  Member a = Alias("to-app", "app.example.");
  a.weight = 3;
  Member b = M("direct", "192.0.2.5");
  b.weight = 0;
  c.spec.record_sets.push_back(Set("w.example.", Policy::kWeighted, {a, b}));
  auto r = explain(c.inputs(), "w.example./A", Cl("10.0.0.1"));
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ((*r)["answer"]["values"], nlohmann::json::array({"192.0.2.1"}));
  EXPECT_EQ((*r)["members"][0]["weight"], 3);
  EXPECT_EQ((*r)["members"][0]["alias"]["target"], "app.example./A");
  EXPECT_EQ((*r)["ttl"]["why"], "the alias target's TTL");
  std::string steps = (*r)["steps"].dump();
  EXPECT_NE(steps.find("alias to app.example./A"), std::string::npos) << steps;
}

TEST(Simulate, ForcedDownCheckChangesOnlyItsSets) {
  Compiled c = Flagship();
  c.health = Health({{"p", kUp}, {"s", kUp}});
  auto r = simulate(c.inputs(), {"p"}, Cl("10.0.0.1"));
  ASSERT_TRUE(r.ok()) << r.error();
  const nlohmann::json& sets = (*r)["sets"];
  ASSERT_EQ(sets.size(), 2u);
  EXPECT_EQ(sets[0]["set"], "app.example./A");
  EXPECT_EQ(sets[0]["before"]["values"], nlohmann::json::array({"192.0.2.1"}));
  EXPECT_EQ(sets[0]["after"]["values"], nlohmann::json::array({"192.0.2.2"}));
  EXPECT_EQ(sets[0]["changed"], true);
  EXPECT_EQ(sets[1]["changed"], false);
  // Both down: the all-down rule (nodata) shows in the after column; inputs untouched.
  r = simulate(c.inputs(), {"p", "s"}, Client{}, {"app.example./A"});
  ASSERT_TRUE(r.ok()) << r.error();
  ASSERT_EQ((*r)["sets"].size(), 1u);
  EXPECT_EQ((*r)["sets"][0]["after"]["outcome"], "nodata");
  EXPECT_TRUE(c.overrides.checks.empty());
}

TEST(Explain, ParseClient) {
  EXPECT_FALSE(parse_client("not-an-ip", false).ok());
  auto c = parse_client("192.0.2.0/24", true);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->source_prefix, 24);
  EXPECT_TRUE(c->from_ecs);
  c = parse_client("2001:db8::1", false);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->family, AF_INET6);
  EXPECT_EQ(c->source_prefix, 128);
}

}  // namespace
}  // namespace steerdns::policy::test
