// with_forced(): check overrides propagate through calculated checks by the engine's rule.
#include "health/forced.h"

#include <gtest/gtest.h>

#include <set>

#include "engine_sim.h"

namespace steerdns::health {
namespace {

using testing::http_check;
using testing::Sim;

CheckSpec calc(const std::string& id, std::vector<std::string> children, int n,
               bool inverted = false) {
  CheckSpec s;
  s.id = id;
  s.kind = Kind::kCalculated;
  s.calculated.children = std::move(children);
  s.calculated.healthy_threshold = n;
  s.inverted = inverted;
  return s;
}

// A view as the engine would publish it: leaves as given, calculated checks by the rule.
HealthView view_of(const std::vector<CheckSpec>& specs, const std::map<std::string, Status>& leaf) {
  HealthView v;
  for (const auto& s : specs) {
    CheckState st;
    if (s.kind == Kind::kCalculated) {
      int healthy = 0;
      int unknown = 0;
      for (const auto& c : s.calculated.children) {
        Status cs = v.at(v.index_of(c)).status;  // children come first in these specs
        healthy += cs == Status::kHealthy ? 1 : 0;
        unknown += cs == Status::kUnknown ? 1 : 0;
      }
      st.status = calculated_rule(s, healthy, unknown);
      st.source = Source::kCalculated;
    } else {
      st.status = leaf.at(s.id);
      st.source = Source::kProbe;
    }
    st.since_wall_ms = 1000;
    v.add(s.id, st);
  }
  v.set_version(7);
  return v;
}

const CheckState& at(const HealthView& v, const std::string& id) { return v.at(v.index_of(id)); }

Forced down(std::string why = "forced down by alice: maintenance") {
  return Forced{Status::kUnhealthy, std::move(why), 5000};
}
Forced up() { return Forced{Status::kHealthy, "forced up by bob", 6000}; }

// The flagship: primary-region needs both primary-app and primary-db.
std::vector<CheckSpec> flagship() {
  std::vector<CheckSpec> specs;
  for (const char* id : {"primary-app", "primary-db", "secondary-app"}) {
    specs.push_back(http_check(id));
  }
  specs.push_back(calc("primary-region", {"primary-app", "primary-db"}, 2));
  return specs;
}

TEST(Forced, ParentDropsBelowThreshold) {
  auto specs = flagship();
  HealthView v = view_of(specs, {{"primary-app", Status::kHealthy},
                                 {"primary-db", Status::kHealthy},
                                 {"secondary-app", Status::kHealthy}});
  ASSERT_TRUE(v.healthy(v.index_of("primary-region")));
  HealthView f = with_forced(v, specs, {{"primary-app", down()}});

  EXPECT_EQ(at(f, "primary-app").status, Status::kUnhealthy);
  EXPECT_EQ(at(f, "primary-app").source, Source::kOverride);
  EXPECT_EQ(at(f, "primary-app").last_failure_reason, "forced down by alice: maintenance");
  EXPECT_EQ(at(f, "primary-app").since_wall_ms, 5000);
  EXPECT_EQ(at(f, "primary-region").status, Status::kUnhealthy);
  EXPECT_EQ(at(f, "primary-region").source, Source::kOverride);
  EXPECT_EQ(at(f, "primary-region").last_failure_reason,
            "1 of 2 children healthy, need 2; child 'primary-app' is unhealthy (override)");
  EXPECT_EQ(at(f, "primary-region").since_wall_ms, 5000);
  // Untouched: siblings, and the input view (indices and version stay, for the compiled table).
  EXPECT_EQ(at(f, "primary-db").source, Source::kProbe);
  EXPECT_EQ(at(f, "secondary-app").status, Status::kHealthy);
  EXPECT_EQ(f.index_of("primary-region"), v.index_of("primary-region"));
  EXPECT_EQ(f.version(), 7u);
  EXPECT_EQ(at(v, "primary-app").status, Status::kHealthy);
  EXPECT_EQ(at(v, "primary-region").status, Status::kHealthy);
}

TEST(Forced, ParentStaysWhileEnoughChildrenAreHealthy) {
  std::vector<CheckSpec> specs = {http_check("a"), http_check("b"), http_check("c"),
                                  calc("two", {"a", "b", "c"}, 2)};
  HealthView v =
      view_of(specs, {{"a", Status::kHealthy}, {"b", Status::kHealthy}, {"c", Status::kHealthy}});
  HealthView f = with_forced(v, specs, {{"a", down()}});
  EXPECT_EQ(at(f, "two").status, Status::kHealthy);
  EXPECT_EQ(at(f, "two").source, Source::kCalculated);  // not changed by the override
  f = with_forced(v, specs, {{"a", down()}, {"b", down()}});
  EXPECT_EQ(at(f, "two").status, Status::kUnhealthy);
}

TEST(Forced, NestedCalculatedGoDownTogether) {
  std::vector<CheckSpec> specs = {http_check("a"),
                                  http_check("b"),
                                  http_check("c"),
                                  calc("ab", {"a", "b"}, 2),
                                  calc("top", {"ab", "c"}, 2),
                                  calc("root", {"top"}, 1),
                                  calc("other", {"c"}, 1)};
  HealthView v =
      view_of(specs, {{"a", Status::kHealthy}, {"b", Status::kHealthy}, {"c", Status::kHealthy}});
  HealthView f = with_forced(v, specs, {{"b", down()}});
  EXPECT_EQ(at(f, "ab").status, Status::kUnhealthy);
  EXPECT_EQ(at(f, "top").status, Status::kUnhealthy);
  EXPECT_EQ(at(f, "root").status, Status::kUnhealthy);
  EXPECT_EQ(at(f, "root").source, Source::kOverride);
  EXPECT_EQ(at(f, "root").last_failure_reason,
            "0 of 1 children healthy, need 1; child 'top' is unhealthy (override)");
  EXPECT_EQ(at(f, "other").status, Status::kHealthy);
  EXPECT_EQ(at(f, "other").source, Source::kCalculated);
}

TEST(Forced, InvertedParentAndInvertedChild) {
  // not_a is healthy while a is down (a maintenance flag, say); top needs not_a and b.
  std::vector<CheckSpec> specs = {http_check("a"), http_check("b"),
                                  calc("not_a", {"a"}, 1, /*inverted=*/true),
                                  calc("top", {"not_a", "b"}, 2)};
  HealthView v = view_of(specs, {{"a", Status::kHealthy}, {"b", Status::kHealthy}});
  ASSERT_EQ(at(v, "not_a").status, Status::kUnhealthy);
  ASSERT_EQ(at(v, "top").status, Status::kUnhealthy);
  HealthView f = with_forced(v, specs, {{"a", down()}});
  EXPECT_EQ(at(f, "not_a").status, Status::kHealthy);
  EXPECT_EQ(at(f, "not_a").source, Source::kOverride);
  EXPECT_EQ(at(f, "top").status, Status::kHealthy);
  // Forcing the inverted check itself sets its final status: no second inversion.
  f = with_forced(v, specs, {{"not_a", up()}});
  EXPECT_EQ(at(f, "not_a").status, Status::kHealthy);
  EXPECT_EQ(at(f, "top").status, Status::kHealthy);
  EXPECT_EQ(at(f, "a").status, Status::kHealthy);  // children of a forced check are untouched
}

TEST(Forced, ForcedUpBringsParentUp) {
  auto specs = flagship();
  HealthView v = view_of(specs, {{"primary-app", Status::kUnhealthy},
                                 {"primary-db", Status::kHealthy},
                                 {"secondary-app", Status::kHealthy}});
  ASSERT_EQ(at(v, "primary-region").status, Status::kUnhealthy);
  HealthView f = with_forced(v, specs, {{"primary-app", up()}});
  EXPECT_EQ(at(f, "primary-app").status, Status::kHealthy);
  EXPECT_EQ(at(f, "primary-region").status, Status::kHealthy);
  EXPECT_EQ(at(f, "primary-region").source, Source::kOverride);
  EXPECT_EQ(at(f, "primary-region").since_wall_ms, 6000);
  // Forcing the calculated check itself wins over its children.
  f = with_forced(v, specs, {{"primary-region", up()}});
  EXPECT_EQ(at(f, "primary-region").status, Status::kHealthy);
  EXPECT_EQ(at(f, "primary-app").status, Status::kUnhealthy);
}

TEST(Forced, UnknownChildrenAndDisabledParents) {
  CheckSpec off = calc("off", {"a"}, 1);
  off.disabled = true;
  std::vector<CheckSpec> specs = {http_check("a"), http_check("b"), calc("ab", {"a", "b"}, 2), off};
  HealthView v = view_of(specs, {{"a", Status::kUnknown}, {"b", Status::kUnknown}});
  ASSERT_EQ(at(v, "ab").status, Status::kUnknown);
  // b up: a still unknown could make 2, so ab stays undecided (unchanged, source kept).
  HealthView f = with_forced(v, specs, {{"b", up()}});
  EXPECT_EQ(at(f, "ab").status, Status::kUnknown);
  EXPECT_EQ(at(f, "ab").source, Source::kCalculated);
  f = with_forced(v, specs, {{"b", down()}});
  EXPECT_EQ(at(f, "ab").status, Status::kUnhealthy);
  f = with_forced(v, specs, {{"a", down()}});
  EXPECT_EQ(at(f, "off").status, Status::kHealthy);  // disabled: reported healthy regardless
}

TEST(Forced, NoOverridesAndUnknownIdsChangeNothing) {
  auto specs = flagship();
  HealthView v = view_of(specs, {{"primary-app", Status::kHealthy},
                                 {"primary-db", Status::kUnhealthy},
                                 {"secondary-app", Status::kHealthy}});
  for (const auto& forced : {std::map<std::string, Forced>{},
                             std::map<std::string, Forced>{{"no-such-check", down()}}}) {
    HealthView f = with_forced(v, specs, forced);
    ASSERT_EQ(f.size(), v.size());
    for (size_t i = 0; i < v.size(); ++i) {
      int k = static_cast<int>(i);
      EXPECT_EQ(f.at(k).status, v.at(k).status) << v.id(k);
      EXPECT_EQ(f.at(k).source, v.at(k).source) << v.id(k);
    }
  }
}

// The same situation through the engine (a child really failing) and through an override on
// the healthy view must give every calculated check the same status: one rule, not two.
TEST(Forced, AgreesWithTheEngine) {
  CheckSpec inv = calc("not_ab", {"a", "b"}, 2, /*inverted=*/true);
  std::vector<CheckSpec> specs = {http_check("a", "10.0.0.1"),
                                  http_check("b", "10.0.0.2"),
                                  http_check("c", "10.0.0.3"),
                                  calc("ab", {"a", "b"}, 2),
                                  calc("top", {"ab", "c"}, 1),
                                  calc("abc2", {"a", "b", "c"}, 2),
                                  inv};
  for (const std::set<std::string>& failing :
       {std::set<std::string>{"a"}, std::set<std::string>{"a", "c"},
        std::set<std::string>{"a", "b", "c"}}) {
    Sim sim;
    std::set<std::string> down_hosts;
    sim.prober.respond = [&down_hosts](const CheckSpec& s) {
      ProbeResult r;
      r.ok = down_hosts.count(s.http.host) == 0;
      r.reason = r.ok ? "ok" : "refused";
      return r;
    };
    ASSERT_TRUE(sim.engine.configure(specs).ok());
    sim.run_for(3'000);
    auto healthy_view = sim.engine.view().load();
    std::map<std::string, Forced> forced;
    for (const auto& id : failing) {
      forced[id] = down();
      down_hosts.insert(id == "a" ? "10.0.0.1" : id == "b" ? "10.0.0.2" : "10.0.0.3");
    }
    HealthView f = with_forced(*healthy_view, specs, forced);
    sim.run_for(10'000);
    for (const auto& s : specs) {
      EXPECT_EQ(at(f, s.id).status, sim.status(s.id)) << s.id << " with " << failing.size();
    }
  }
}

}  // namespace
}  // namespace steerdns::health
