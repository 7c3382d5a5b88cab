// Calculated checks: N of M children, 0 and > M, nesting, inversion, unknown children.
#include <gtest/gtest.h>

#include <set>

#include "engine_sim.h"

namespace steerdns::health {
namespace {

using testing::http_check;
using testing::Sim;

CheckSpec calc(const std::string& id, std::vector<std::string> children, int n) {
  CheckSpec s;
  s.id = id;
  s.kind = Kind::kCalculated;
  s.calculated.children = std::move(children);
  s.calculated.healthy_threshold = n;
  return s;
}

struct CalcSim : Sim {
  std::set<std::string> down_hosts;
  CalcSim() {
    prober.respond = [this](const CheckSpec& s) {
      ProbeResult r;
      r.ok = !down_hosts.count(s.http.host);
      r.reason = r.ok ? "ok" : "refused";
      return r;
    };
  }
};

TEST(EngineCalculated, NOfMWithZeroAndAboveM) {
  CalcSim sim;
  std::vector<CheckSpec> specs = {
      http_check("a", "10.0.0.1"),      http_check("b", "10.0.0.2"),
      http_check("c", "10.0.0.3"),      calc("two", {"a", "b", "c"}, 2),
      calc("zero", {"a", "b", "c"}, 0), calc("four", {"a", "b", "c"}, 4),
      calc("all", {"a", "b", "c"}, 3)};
  ASSERT_TRUE(sim.engine.configure(specs).ok());
  // Before any probe: 0 = always healthy, > M = never healthy, others undecided.
  EXPECT_EQ(sim.status("zero"), Status::kHealthy);
  EXPECT_EQ(sim.status("four"), Status::kUnhealthy);
  EXPECT_EQ(sim.status("two"), Status::kUnknown);
  EXPECT_EQ(sim.state("two").source, Source::kCalculated);
  sim.run_for(2'000);
  EXPECT_EQ(sim.status("two"), Status::kHealthy);
  EXPECT_EQ(sim.status("all"), Status::kHealthy);
  EXPECT_EQ(sim.status("four"), Status::kUnhealthy);

  sim.down_hosts = {"10.0.0.1"};
  sim.run_for(3'000);
  EXPECT_EQ(sim.status("a"), Status::kUnhealthy);
  EXPECT_EQ(sim.status("two"), Status::kHealthy);  // 2 of 3 still up
  EXPECT_EQ(sim.status("all"), Status::kUnhealthy);
  sim.down_hosts = {"10.0.0.1", "10.0.0.2"};
  sim.run_for(3'000);
  EXPECT_EQ(sim.status("two"), Status::kUnhealthy);
  auto t = sim.transitions_of("two");
  ASSERT_EQ(t.size(), 2u);  // unknown -> healthy (first round) -> unhealthy
  EXPECT_EQ(t[1].to, Status::kUnhealthy);
  EXPECT_EQ(t[1].source, Source::kCalculated);
  EXPECT_EQ(t[1].reason.rfind("1 of 3 children healthy, need 2; child 'b' is unhealthy", 0), 0u)
      << t[1].reason;
  EXPECT_EQ(sim.status("zero"), Status::kHealthy);
  sim.down_hosts = {"10.0.0.1", "10.0.0.2", "10.0.0.3"};
  sim.run_for(3'000);
  EXPECT_EQ(sim.status("zero"), Status::kHealthy);
  EXPECT_TRUE(sim.transitions_of("zero").empty());
  EXPECT_TRUE(sim.transitions_of("four").empty());
  sim.down_hosts.clear();
  sim.run_for(3'000);
  EXPECT_EQ(sim.status("two"), Status::kHealthy);
  EXPECT_EQ(sim.status("all"), Status::kHealthy);
}

TEST(EngineCalculated, NestingInversionAndDisabled) {
  CalcSim sim;
  CheckSpec inv = calc("not_all", {"a", "b"}, 2);
  inv.inverted = true;
  CheckSpec off = calc("off", {"a"}, 5);
  off.disabled = true;
  std::vector<CheckSpec> specs = {http_check("a", "10.0.0.1"),
                                  http_check("b", "10.0.0.2"),
                                  http_check("c", "10.0.0.3"),
                                  calc("ab", {"a", "b"}, 1),
                                  calc("top", {"ab", "c"}, 2),
                                  calc("root", {"top"}, 1),
                                  inv,
                                  off};
  ASSERT_TRUE(sim.engine.configure(specs).ok());
  EXPECT_EQ(sim.status("off"), Status::kHealthy);
  EXPECT_EQ(sim.state("off").source, Source::kDisabled);
  sim.run_for(2'000);
  EXPECT_EQ(sim.status("root"), Status::kHealthy);
  EXPECT_EQ(sim.status("not_all"), Status::kUnhealthy);
  // c down: top (needs ab and c) goes down, and so does root, two levels up, at once.
  sim.down_hosts = {"10.0.0.3"};
  sim.run_for(3'000);
  EXPECT_EQ(sim.status("top"), Status::kUnhealthy);
  EXPECT_EQ(sim.status("root"), Status::kUnhealthy);
  ASSERT_EQ(sim.transitions_of("root").size(), 2u);
  ASSERT_EQ(sim.transitions_of("c").size(), 2u);
  // The nested transitions carry the same simulated instant as the deciding probe.
  size_t ic = 0, iroot = 0;
  for (size_t i = 0; i < sim.transitions.size(); ++i) {
    if (sim.transitions[i].check == "c") {
      ic = i;
    }
    if (sim.transitions[i].check == "root") {
      iroot = i;
    }
  }
  EXPECT_LT(ic, iroot);
  EXPECT_EQ(sim.transition_now[ic], sim.transition_now[iroot]);
  // a down: ab still up through b; not_all (inverted 2 of 2) becomes healthy.
  sim.down_hosts = {"10.0.0.1"};
  sim.run_for(3'000);
  EXPECT_EQ(sim.status("ab"), Status::kHealthy);
  EXPECT_EQ(sim.status("top"), Status::kHealthy);
  EXPECT_EQ(sim.status("root"), Status::kHealthy);
  EXPECT_EQ(sim.status("not_all"), Status::kHealthy);
  EXPECT_EQ(sim.status("off"), Status::kHealthy);
}

TEST(EngineCalculated, ExternalChildAndUnknownChildren) {
  Sim sim;
  CheckSpec e;
  e.id = "lag";
  e.kind = Kind::kExternal;
  e.initial = Status::kUnknown;
  e.initial_wait_ms = 60'000;
  std::vector<CheckSpec> specs = {http_check("a"), e, calc("both", {"a", "lag"}, 2),
                                  calc("either", {"a", "lag"}, 1)};
  ASSERT_TRUE(sim.engine.configure(specs).ok());
  sim.run_for(2'000);
  EXPECT_EQ(sim.status("either"), Status::kHealthy);  // a alone is enough
  EXPECT_EQ(sim.status("both"), Status::kUnknown);    // waits for lag
  ASSERT_TRUE(sim.engine.set_external("lag", Status::kUnhealthy, "lag 45 s").ok());
  EXPECT_EQ(sim.status("both"), Status::kUnhealthy);
  ASSERT_TRUE(sim.engine.set_external("lag", Status::kHealthy, "lag 1 s").ok());
  EXPECT_EQ(sim.status("both"), Status::kHealthy);
}

}  // namespace
}  // namespace steerdns::health
