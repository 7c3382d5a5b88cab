// Table::select() for every policy, nesting, all-down modes, overrides, steering state.
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "policy_test_util.h"

namespace steerdns::policy::test {
namespace {

Compiled FailoverPair(const std::map<std::string, health::Status>& h, AllDown mode) {
  Compiled c;
  RecordSet rs = Set("app.example.", Policy::kFailover,
                     {M("primary", "192.0.2.1", "p"), M("secondary", "192.0.2.2", "s")});
  rs.members[0].tier = 1;
  rs.members[1].tier = 2;
  rs.on_all_down = mode;
  rs.static_values = {A("192.0.2.99")};
  c.spec.record_sets.push_back(rs);
  c.health = Health(h);
  return c;
}

TEST(Select, Simple) {
  Compiled c;
  c.spec.record_sets.push_back(Set("s.example.", Policy::kSimple, {M("x", "192.0.2.7")}, 300));
  c.build();
  Selection s = c.sel("s.example./A", Cl("203.0.113.9"));
  EXPECT_EQ(Values(s), std::vector<std::string>{"192.0.2.7"});
  EXPECT_EQ(s.ttl, 300u);
  EXPECT_EQ(s.scope, 0);
  EXPECT_EQ(c.table->size(), 1u);
  EXPECT_EQ(c.table->id_of("nope./A"), kNoSteer);
  EXPECT_TRUE(c.table->has_healthy_answer(0));
}

TEST(Select, FailoverTable) {
  struct Case {
    const char* name;
    std::map<std::string, health::Status> health;
    AllDown mode;
    std::string expect;
    int first_tier;
  };
  const std::vector<Case> cases = {
      {"both up", {{"p", kUp}, {"s", kUp}}, AllDown::kFailOpen, "192.0.2.1", 1},
      {"primary down", {{"p", kDown}, {"s", kUp}}, AllDown::kFailOpen, "192.0.2.2", 2},
      {"secondary down", {{"p", kUp}, {"s", kDown}}, AllDown::kFailOpen, "192.0.2.1", 1},
      {"unknown counts healthy",
       {{"p", health::Status::kUnknown}, {"s", kUp}},
       AllDown::kFailOpen,
       "192.0.2.1",
       1},
      {"check not in view counts healthy", {{"s", kUp}}, AllDown::kFailOpen, "192.0.2.1", 1},
      {"both down fail_open -> primary",
       {{"p", kDown}, {"s", kDown}},
       AllDown::kFailOpen,
       "192.0.2.1",
       0},
      {"both down static", {{"p", kDown}, {"s", kDown}}, AllDown::kStatic, "192.0.2.99", 0},
      {"both down nodata", {{"p", kDown}, {"s", kDown}}, AllDown::kNodata, "NODATA", 0},
      {"both down servfail", {{"p", kDown}, {"s", kDown}}, AllDown::kServfail, "SERVFAIL", 0},
      {"static unused while up", {{"p", kDown}, {"s", kUp}}, AllDown::kStatic, "192.0.2.2", 2},
  };
  for (const Case& k : cases) {
    Compiled c = FailoverPair(k.health, k.mode);
    c.build();
    EXPECT_EQ(c.one("app.example./A", Cl("198.51.100.1")), k.expect) << k.name;
    EXPECT_EQ(c.table->first_healthy_tier(0), k.first_tier) << k.name;
    EXPECT_EQ(c.table->has_healthy_answer(0), k.first_tier != 0) << k.name;
    EXPECT_EQ(c.sel("app.example./A").scope, 0) << k.name;
  }
}

TEST(Select, FailoverThreeTiersAndSteerState) {
  Compiled c;
  RecordSet rs =
      Set("app.example.", Policy::kFailover,
          {M("t3", "192.0.2.3", "c3"), M("t1", "192.0.2.1", "c1"), M("t2", "192.0.2.2", "c2")});
  rs.members[0].tier = 3;
  rs.members[1].tier = 1;
  rs.members[2].tier = 2;
  c.spec.record_sets.push_back(rs);
  c.health = Health({{"c1", kDown}, {"c2", kDown}, {"c3", kUp}});
  c.build();
  EXPECT_EQ(c.one("app.example./A"), "192.0.2.3");
  EXPECT_EQ(c.table->first_healthy_tier(0), 3);
  EXPECT_FALSE(c.table->member_health(0, 1).healthy);
  EXPECT_NE(c.table->member_health(0, 1).why.find("check c1: unhealthy"), std::string::npos)
      << c.table->member_health(0, 1).why;

  // dr/ holds tier 2 and a lower TTL even though health alone would pick another tier.
  c.health = Health({{"c1", kUp}, {"c2", kUp}, {"c3", kUp}});
  c.steer["app.example./A"] = SteerState{2, 0, 0, 30};
  c.build();
  Selection s = c.sel("app.example./A");
  EXPECT_EQ(One(s), "192.0.2.2");
  EXPECT_EQ(s.ttl, 30u);
  EXPECT_EQ(c.table->first_healthy_tier(0), 1);
}

TEST(Select, FailoverGradualRampShare) {
  Compiled c = FailoverPair({{"p", kUp}, {"s", kUp}}, AllDown::kFailOpen);
  c.steer["app.example./A"] = SteerState{2, 1, 0.25, 0};
  c.build();
  int primary = 0;
  const int n = 4000;
  for (int i = 0; i < n; ++i) {
    std::string v = c.one("app.example./A", {}, Entropy(static_cast<uint64_t>(i)));
    primary += v == "192.0.2.1";
    ASSERT_TRUE(v == "192.0.2.1" || v == "192.0.2.2") << v;
  }
  EXPECT_NEAR(primary / static_cast<double>(n), 0.25, 0.03);
}

Compiled Weighted(std::vector<int> weights, const std::map<std::string, health::Status>& h,
                  AllDown mode = AllDown::kFailOpen) {
  Compiled c;
  std::vector<Member> ms;
  for (size_t i = 0; i < weights.size(); ++i) {
    std::string id = "m" + std::to_string(i);
    ms.push_back(M(id, "192.0.2." + std::to_string(10 + i), id));
    ms.back().weight = weights[i];
  }
  RecordSet rs = Set("w.example.", Policy::kWeighted, ms);
  rs.on_all_down = mode;
  rs.static_values = {A("192.0.2.99")};
  c.spec.record_sets.push_back(rs);
  c.health = Health(h);
  return c;
}

// Share of answers per value over a fixed entropy sequence.
std::map<std::string, double> Shares(const Compiled& c, int n = 20000) {
  std::map<std::string, double> out;
  for (int i = 0; i < n; ++i) {
    out[c.one("w.example./A", {}, Entropy(static_cast<uint64_t>(i)))] += 1.0 / n;
  }
  return out;
}

TEST(Select, WeightedTable) {
  struct Case {
    const char* name;
    std::vector<int> weights;
    std::map<std::string, health::Status> health;
    AllDown mode;
    std::map<std::string, double> expect;  // value -> share
  };
  const std::vector<Case> cases = {
      {"1:3", {1, 3}, {}, AllDown::kFailOpen, {{"192.0.2.10", 0.25}, {"192.0.2.11", 0.75}}},
      {"renormalised over healthy",
       {1, 1, 2},
       {{"m2", kDown}},
       AllDown::kFailOpen,
       {{"192.0.2.10", 0.5}, {"192.0.2.11", 0.5}}},
      {"standby unused while others up",
       {5, 5, 0},
       {},
       AllDown::kFailOpen,
       {{"192.0.2.10", 0.5}, {"192.0.2.11", 0.5}}},
      {"standby when non-zero down",
       {5, 5, 0},
       {{"m0", kDown}, {"m1", kDown}},
       AllDown::kFailOpen,
       {{"192.0.2.12", 1.0}}},
      {"all zero equal split",
       {0, 0, 0, 0},
       {},
       AllDown::kFailOpen,
       {{"192.0.2.10", 0.25}, {"192.0.2.11", 0.25}, {"192.0.2.12", 0.25}, {"192.0.2.13", 0.25}}},
      {"all down fail_open keeps weights",
       {1, 3},
       {{"m0", kDown}, {"m1", kDown}},
       AllDown::kFailOpen,
       {{"192.0.2.10", 0.25}, {"192.0.2.11", 0.75}}},
      {"all down static",
       {1, 3},
       {{"m0", kDown}, {"m1", kDown}},
       AllDown::kStatic,
       {{"192.0.2.99", 1.0}}},
      {"all down nodata",
       {1, 3},
       {{"m0", kDown}, {"m1", kDown}},
       AllDown::kNodata,
       {{"NODATA", 1.0}}},
      {"all down servfail",
       {1, 3},
       {{"m0", kDown}, {"m1", kDown}},
       AllDown::kServfail,
       {{"SERVFAIL", 1.0}}},
  };
  for (const Case& k : cases) {
    Compiled c = Weighted(k.weights, k.health, k.mode);
    c.build();
    auto got = Shares(c);
    EXPECT_EQ(got.size(), k.expect.size()) << k.name;
    for (const auto& [v, share] : k.expect) {
      EXPECT_NEAR(got[v], share, 0.02) << k.name << " " << v;
    }
  }
}

TEST(Select, WeightedDrainOverride) {
  Compiled c = Weighted({1, 1}, {});
  c.overrides.drain["w.example./A#m0"] = 0.25;  // weight 1 -> 0.25: 0.25 / 1.25 = 20 %
  c.build();
  EXPECT_NEAR(Shares(c)["192.0.2.10"], 0.2, 0.02);
  c.overrides.drain["w.example./A#m0"] = 0;  // drained away entirely
  c.build();
  EXPECT_NEAR(Shares(c)["192.0.2.11"], 1.0, 1e-9);
  EXPECT_FALSE(c.table->member_health(0, 0).healthy);
}

TEST(Select, WeightedStickyKeepsClientSubnet) {
  Compiled c = Weighted({1, 1, 1, 1}, {});
  c.spec.record_sets[0].sticky = true;
  c.build();
  std::map<std::string, std::string> first;  // /24 -> member
  std::map<std::string, int> spread;
  for (int net = 0; net < 64; ++net) {
    std::string prefix = "10.0." + std::to_string(net) + ".";
    std::string v0;
    for (int i = 0; i < 1000; ++i) {
      Client cl = Cl(prefix + std::to_string(i % 256));
      Selection s = c.sel("w.example./A", cl, Entropy(static_cast<uint64_t>(i)));
      ASSERT_EQ(s.scope, 24);
      std::string v = One(s);
      if (i == 0) {
        v0 = v;
      }
      ASSERT_EQ(v, v0) << prefix;
    }
    first[prefix] = v0;
    ++spread[v0];
  }
  // Subnets spread over all members (64 subnets, 4 equal members).
  EXPECT_EQ(spread.size(), 4u);
  for (const auto& [v, n] : spread) {
    EXPECT_GE(n, 6) << v;
  }
  // ECS /20: the scope never exceeds what the client told us.
  EXPECT_EQ(c.sel("w.example./A", Cl("10.0.16.0/20", true)).scope, 20);

  // m0 goes down: only its clients move; everybody else keeps their member.
  c.health = Health({{"m0", kDown}});
  c.build();
  for (const auto& [prefix, v] : first) {
    std::string now = c.one("w.example./A", Cl(prefix + "1"));
    if (v == "192.0.2.10") {
      EXPECT_NE(now, v) << prefix;
    } else {
      EXPECT_EQ(now, v) << prefix;
    }
  }
}

TEST(Select, WeightedStickySpreadFollowsWeights) {
  Compiled c = Weighted({1, 3}, {});
  c.spec.record_sets[0].sticky = true;
  c.build();
  int heavy = 0;
  const int n = 4000;
  for (int i = 0; i < n; ++i) {
    std::string ip = "10." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ".1";
    heavy += c.one("w.example./A", Cl(ip)) == "192.0.2.11";
  }
  EXPECT_NEAR(heavy / static_cast<double>(n), 0.75, 0.03);
  // IPv6 clients are grouped by /56.
  EXPECT_EQ(c.sel("w.example./A", Cl("2001:db8:0:100::1")).scope, 56);
  EXPECT_EQ(c.one("w.example./A", Cl("2001:db8:0:100::1")),
            c.one("w.example./A", Cl("2001:db8:0:1ff:ffff::1")));
}

TEST(Select, Latency) {
  Compiled c;
  RecordSet rs =
      Set("l.example.", Policy::kLatency,
          {M("eu", "192.0.2.1", "eu"), M("us", "192.0.2.2", "us"), M("ap", "192.0.2.3", "ap")});
  rs.members[0].region = "eu";
  rs.members[1].region = "us";
  rs.members[2].region = "ap";
  c.spec.record_sets.push_back(rs);
  c.spec.latency_map.push_back({C("10.0.0.0/8"), {{"eu", 80}, {"us", 20}, {"ap", 150}}, "m:1"});
  c.spec.latency_map.push_back({C("10.1.0.0/16"), {{"eu", 10}, {"us", 90}}, "m:2"});
  c.spec.latency_map.push_back({C("2001:db8::/32"), {{"ap", 5}, {"eu", 50}}, "m:3"});
  c.health = Health({{"eu", kUp}, {"us", kUp}, {"ap", kUp}}, {{"ap", 1.0}, {"us", 200.0}});
  c.spec.latency_use_measured_rtt = false;
  c.build();
  Selection s = c.sel("l.example./A", Cl("10.1.2.3"));
  EXPECT_EQ(One(s), "192.0.2.1");
  EXPECT_EQ(s.scope, 16);
  s = c.sel("l.example./A", Cl("10.9.2.3"));
  EXPECT_EQ(One(s), "192.0.2.2");
  EXPECT_EQ(s.scope, 8);
  // ECS /12 inside 10.0.0.0/8 but not 10.1/16: scope capped at 8 (the matched entry).
  s = c.sel("l.example./A", Cl("10.16.0.0/12", true));
  EXPECT_EQ(One(s), "192.0.2.2");
  EXPECT_EQ(s.scope, 8);
  EXPECT_EQ(c.one("l.example./A", Cl("2001:db8::1")), "192.0.2.3");
  // In 10.1/16 "ap" has no map RTT; with measured RTTs on, its check's 1 ms sorts it first.
  c.spec.latency_use_measured_rtt = true;
  c.build();
  EXPECT_EQ(c.one("l.example./A", Cl("10.1.2.3")), "192.0.2.3");
  c.spec.latency_use_measured_rtt = false;
  c.build();
  EXPECT_EQ(c.one("l.example./A", Cl("10.1.2.3")), "192.0.2.1");
  // Nearest down: the next nearest.
  c.health = Health({{"eu", kDown}, {"us", kUp}, {"ap", kUp}});
  c.build();
  EXPECT_EQ(c.one("l.example./A", Cl("10.1.2.3")), "192.0.2.2");
  // A client outside the map: member order (measured RTTs off), no entry -> scope of the
  // longest v4 entry.
  s = c.sel("l.example./A", Cl("172.16.0.1"));
  EXPECT_EQ(One(s), "192.0.2.2");
  EXPECT_EQ(s.scope, 16);
  // Measured RTTs order clients outside the map.
  c.spec.latency_use_measured_rtt = true;
  c.health = Health({{"eu", kUp}, {"us", kUp}, {"ap", kUp}}, {{"ap", 1.0}, {"us", 200.0}});
  c.build();
  EXPECT_EQ(c.one("l.example./A", Cl("172.16.0.1")), "192.0.2.3");
  // All down, fail_open: the nearest.
  c.health = Health({{"eu", kDown}, {"us", kDown}, {"ap", kDown}});
  c.build();
  EXPECT_EQ(c.one("l.example./A", Cl("10.1.2.3")), "192.0.2.1");
}

TEST(Select, Subnet) {
  Compiled c;
  RecordSet rs = Set("n.example.", Policy::kSubnet,
                     {M("office", "192.0.2.1", "o"), M("lab", "192.0.2.2"), M("v6", "192.0.2.3")});
  rs.members[0].subnets = {C("10.0.0.0/8")};
  rs.members[1].subnets = {C("10.20.0.0/16"), C("172.16.0.0/12")};
  rs.members[2].subnets = {C("2001:db8::/32")};
  c.spec.record_sets.push_back(rs);
  c.build();
  struct Case {
    std::string client;
    std::string expect;
    uint8_t scope;
  };
  for (const Case& k : std::vector<Case>{{"10.1.1.1", "192.0.2.1", 8},
                                         {"10.20.1.1", "192.0.2.2", 16},
                                         {"172.16.5.5", "192.0.2.2", 12},
                                         {"2001:db8:1::1", "192.0.2.3", 32},
                                         {"192.168.1.1", "NODATA", 16}}) {
    Selection s = c.sel("n.example./A", Cl(k.client));
    EXPECT_EQ(One(s), k.expect) << k.client;
    EXPECT_EQ(s.scope, k.scope) << k.client;
  }
  // With a default member; an unhealthy match falls back to it.
  c.spec.record_sets[0].members.push_back(M("def", "192.0.2.9"));
  c.spec.record_sets[0].members.back().subnet_default = true;
  c.health = Health({{"o", kDown}});
  c.build();
  EXPECT_EQ(c.one("n.example./A", Cl("192.168.1.1")), "192.0.2.9");
  EXPECT_EQ(c.one("n.example./A", Cl("10.1.1.1")), "192.0.2.9");
  EXPECT_EQ(c.one("n.example./A", Cl("10.20.1.1")), "192.0.2.2");
}

TEST(Select, Multivalue) {
  Compiled c;
  std::vector<Member> ms;
  for (int i = 0; i < 10; ++i) {
    ms.push_back(
        M("m" + std::to_string(i), "192.0.2." + std::to_string(i + 1), "c" + std::to_string(i)));
  }
  c.spec.record_sets.push_back(Set("mv.example.", Policy::kMultivalue, ms));
  c.health = Health({{"c0", kDown}, {"c3", kDown}});
  c.build();
  Selection s = c.sel("mv.example./A", Cl("10.0.0.1"));
  EXPECT_EQ(Values(s),
            (std::vector<std::string>{"192.0.2.2", "192.0.2.3", "192.0.2.5", "192.0.2.6",
                                      "192.0.2.7", "192.0.2.8", "192.0.2.9", "192.0.2.10"}));
  EXPECT_EQ(s.scope, 0);
  c.spec.record_sets[0].max_values = 2;
  c.build();
  EXPECT_EQ(Values(c.sel("mv.example./A")), (std::vector<std::string>{"192.0.2.2", "192.0.2.3"}));
  std::map<std::string, health::Status> all_down;
  for (int i = 0; i < 10; ++i) {
    all_down["c" + std::to_string(i)] = kDown;
  }
  c.health = Health(all_down);
  c.build();
  EXPECT_EQ(Values(c.sel("mv.example./A")), (std::vector<std::string>{"192.0.2.1", "192.0.2.2"}));
  c.spec.record_sets[0].on_all_down = AllDown::kNodata;
  c.build();
  EXPECT_EQ(c.one("mv.example./A"), "NODATA");
}

// Latency over two failover pairs via alias (the flagship's multi-region shape).
Compiled Nested() {
  Compiled c;
  for (const std::string r : {"eu", "us"}) {
    std::string base = r == "eu" ? "192.0.2." : "198.51.100.";
    RecordSet rs = Set(r + ".app.example.", Policy::kFailover,
                       {M(r + "-p", base + "1", r + "-p"), M(r + "-s", base + "2", r + "-s")},
                       r == "eu" ? 20 : 40);
    rs.members[0].tier = 1;
    rs.members[1].tier = 2;
    c.spec.record_sets.push_back(rs);
  }
  RecordSet top = Set("app.example.", Policy::kLatency,
                      {Alias("eu", "eu.app.example."), Alias("us", "us.app.example.")}, 60);
  top.members[0].region = "eu";
  top.members[1].region = "us";
  c.spec.record_sets.push_back(top);
  c.spec.latency_map.push_back({C("10.0.0.0/8"), {{"eu", 10}, {"us", 90}}, "m:1"});
  c.spec.latency_map.push_back({C("11.0.0.0/8"), {{"eu", 90}, {"us", 10}}, "m:2"});
  return c;
}

TEST(Select, NestedLatencyOverFailoverPairs) {
  struct Case {
    const char* name;
    std::map<std::string, health::Status> health;
    std::string eu_client, us_client;
    uint32_t eu_ttl;
  };
  const std::vector<Case> cases = {
      {"all up", {}, "192.0.2.1", "198.51.100.1", 20},
      {"eu primary down", {{"eu-p", kDown}}, "192.0.2.2", "198.51.100.1", 20},
      {"eu pair down -> us",
       {{"eu-p", kDown}, {"eu-s", kDown}},
       "198.51.100.1",
       "198.51.100.1",
       40},
      {"everything down -> fail open, nearest primary",
       {{"eu-p", kDown}, {"eu-s", kDown}, {"us-p", kDown}, {"us-s", kDown}},
       "192.0.2.1",
       "198.51.100.1",
       20},
  };
  for (const Case& k : cases) {
    Compiled c = Nested();
    c.health = Health(k.health);
    c.build();
    Selection eu = c.sel("app.example./A", Cl("10.1.1.1"));
    EXPECT_EQ(One(eu), k.eu_client) << k.name;
    EXPECT_EQ(eu.ttl, k.eu_ttl) << k.name << ": alias answers use the target's TTL";
    EXPECT_EQ(eu.scope, 8) << k.name;
    EXPECT_EQ(c.one("app.example./A", Cl("11.1.1.1")), k.us_client) << k.name;
  }
  // Without evaluate_target_health the alias stays on its (dead) pair.
  Compiled c = Nested();
  c.spec.record_sets[2].members[0].alias->evaluate_target_health = false;
  c.health = Health({{"eu-p", kDown}, {"eu-s", kDown}});
  c.build();
  EXPECT_EQ(c.one("app.example./A", Cl("10.1.1.1")), "192.0.2.1");
  EXPECT_TRUE(c.table->has_healthy_answer(2));
  EXPECT_FALSE(c.table->has_healthy_answer(0));
}

TEST(Select, AliasToStaticRrsetIsALeaf) {
  Compiled c;
  Member m = Alias("b", "static.example.");
  m.rdata.push_back(A("192.0.2.50"));
  m.weight = 1;
  c.spec.record_sets.push_back(Set("w.example.", Policy::kWeighted, {m}));
  c.build();
  EXPECT_EQ(c.one("w.example./A"), "192.0.2.50");
}

TEST(Select, Overrides) {
  struct Case {
    const char* name;
    std::function<void(Overrides&)> set;
    std::map<std::string, health::Status> health;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {"check forced down",
       [](Overrides& o) { o.checks["p"] = ForceState::kDown; },
       {{"p", kUp}, {"s", kUp}},
       "192.0.2.2"},
      {"check forced up",
       [](Overrides& o) { o.checks["p"] = ForceState::kUp; },
       {{"p", kDown}, {"s", kUp}},
       "192.0.2.1"},
      {"member forced down",
       [](Overrides& o) { o.members["app.example./A#primary"] = ForceState::kDown; },
       {{"p", kUp}, {"s", kUp}},
       "192.0.2.2"},
      {"member forced up beats check",
       [](Overrides& o) { o.members["app.example./A#primary"] = ForceState::kUp; },
       {{"p", kDown}, {"s", kUp}},
       "192.0.2.1"},
      {"set forced down: all-down rule (static)",
       [](Overrides& o) { o.sets["app.example./A"] = ForceState::kDown; },
       {{"p", kUp}, {"s", kUp}},
       "192.0.2.99"},
      {"set forced up",
       [](Overrides& o) { o.sets["app.example./A"] = ForceState::kUp; },
       {{"p", kDown}, {"s", kDown}},
       "192.0.2.1"},
      {"other set's override ignored",
       [](Overrides& o) { o.sets["other.example./A"] = ForceState::kDown; },
       {{"p", kUp}, {"s", kUp}},
       "192.0.2.1"},
  };
  for (const Case& k : cases) {
    Compiled c = FailoverPair(k.health, AllDown::kStatic);
    k.set(c.overrides);
    c.build();
    EXPECT_EQ(c.one("app.example./A"), k.expect) << k.name;
  }
}

TEST(Select, ClientFromSockaddr) {
  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  const uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 203, 0, 113, 7};
  std::memcpy(&in6.sin6_addr, mapped, 16);
  Client c = Client::from_sockaddr(reinterpret_cast<const sockaddr*>(&in6));
  EXPECT_EQ(c.family, AF_INET);
  EXPECT_EQ(c.source_prefix, 32);
  EXPECT_EQ(c.addr[0], 203);
  EXPECT_EQ(c.addr[3], 7);
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_addr.s_addr = htonl(0x0A000001);
  c = Client::from_sockaddr(reinterpret_cast<const sockaddr*>(&in));
  EXPECT_EQ(c.family, AF_INET);
  EXPECT_EQ(c.addr[0], 10);
  EXPECT_FALSE(c.from_ecs);
}

}  // namespace
}  // namespace steerdns::policy::test
