// Engine scheduling on simulated time: fast confirmation, jitter, concurrency cap, dedup,
// disabled / inverted / unknown checks, events and the report.
#include <gtest/gtest.h>

#include <set>

#include "engine_sim.h"

namespace steerdns::health {
namespace {

using testing::cat;
using testing::http_check;
using testing::Sim;

ProbeResult result(bool ok, const std::string& reason) {
  ProbeResult r;
  r.ok = ok;
  r.reason = reason;
  return r;
}

TEST(EngineSchedule, FastConfirmationTiming) {
  // Interval 1 s, threshold 3, recheck 200 ms: a failure 500 ms before the next probe is
  // confirmed at +500 (first failing probe) + 2 x 200 (rechecks) = +900 ms, not +2.5 s.
  Sim sim;
  bool down = false;
  sim.prober.respond = [&](const CheckSpec&) {
    return down ? result(false, "connection refused") : result(true, "status 200");
  };
  CheckSpec s = http_check("web");
  s.initial = Status::kHealthy;
  ASSERT_TRUE(sim.engine.configure({s}).ok());
  sim.run_for(5'000);
  EXPECT_TRUE(sim.transitions.empty());
  EXPECT_EQ(sim.state("web").source, Source::kProbe);
  size_t steady = sim.prober.started.size();
  EXPECT_GE(steady, 5u);
  EXPECT_LE(steady, 6u);  // one probe per interval while nothing changes

  Millis slot = sim.engine.next_due_ms();
  Millis fail_at = slot - 500;
  sim.run_until(fail_at);
  down = true;
  size_t before = sim.prober.started.size();
  sim.run_until(fail_at + 899);
  EXPECT_EQ(sim.status("web"), Status::kHealthy) << "never earlier than the third failure";
  // confirm_probes 2 (default): the first failing probe is single, each recheck a pair.
  EXPECT_EQ(sim.prober.started.size() - before, 3u);
  sim.run_until(fail_at + 900);
  EXPECT_EQ(sim.status("web"), Status::kUnhealthy);
  ASSERT_EQ(sim.transitions.size(), 1u);
  EXPECT_EQ(sim.transition_now[0], fail_at + 900);
  EXPECT_EQ(sim.prober.started.size() - before, 5u);
  const Transition& t = sim.transitions[0];
  EXPECT_EQ(t.check, "web");
  EXPECT_EQ(t.from, Status::kHealthy);
  EXPECT_EQ(t.to, Status::kUnhealthy);
  EXPECT_EQ(t.source, Source::kProbe);
  EXPECT_EQ(t.reason, "3 consecutive failures: connection refused");
  EXPECT_EQ(t.wall_ms, sim.clock.wall_ms());
  EXPECT_EQ(sim.state("web").last_failure_reason, "connection refused");
  EXPECT_EQ(sim.state("web").since_wall_ms, sim.clock.wall_ms());

  // Down, it probes at its interval again; recovery is confirmed by 2 successes, the second
  // one a recheck 200 ms after the first.
  sim.run_for(2'000);
  EXPECT_EQ(sim.transitions.size(), 1u);
  down = false;
  Millis next = sim.engine.next_due_ms();
  sim.run_until(next);
  EXPECT_EQ(sim.status("web"), Status::kUnhealthy);
  sim.run_until(next + 199);
  EXPECT_EQ(sim.status("web"), Status::kUnhealthy);
  sim.run_until(next + 200);
  EXPECT_EQ(sim.status("web"), Status::kHealthy);
  ASSERT_EQ(sim.transitions.size(), 2u);
  EXPECT_EQ(sim.transitions[1].reason, "2 consecutive successes: status 200");
}

// Mean time from a hard failure to "unhealthy" over failure instants spread over a second.
double mean_detection_ms(Millis recheck_ms, Millis* worst) {
  double sum = 0;
  *worst = 0;
  const int kRuns = 50;
  for (int k = 0; k < kRuns; ++k) {
    Sim sim;
    bool down = false;
    sim.prober.respond = [&](const CheckSpec&) { return result(!down, down ? "refused" : "ok"); };
    CheckSpec s = http_check("web");
    s.initial = Status::kHealthy;
    s.recheck_ms = recheck_ms;
    EXPECT_TRUE(sim.engine.configure({s}).ok());
    Millis fail_at = sim.clock.now_ms() + 3'000 + k * 20 + 7;
    sim.run_until(fail_at);
    down = true;
    sim.run_for(10'000);
    EXPECT_EQ(sim.transitions.size(), 1u);
    if (sim.transitions.empty()) {
      return -1;
    }
    Millis d = sim.transition_now[0] - fail_at;
    sum += static_cast<double>(d);
    *worst = std::max(*worst, d);
  }
  return sum / kRuns;
}

TEST(EngineSchedule, HardFailureConfirmedInAboutHalfIntervalPlusRechecks) {
  Millis worst = 0;
  double fast = mean_detection_ms(200, &worst);
  EXPECT_GT(fast, 850);  // ~ interval/2 + (3 - 1) x 200
  EXPECT_LT(fast, 950);
  EXPECT_LE(worst, 1'000 + 400);
  // Without fast confirmation the same threshold costs two more full intervals.
  double slow = mean_detection_ms(1'000, &worst);
  EXPECT_GT(slow, 2'350);
  EXPECT_LT(slow, 2'650);
}

TEST(EngineSchedule, JitterSpreadsChecksDeterministically) {
  auto first_probes = [] {
    Sim sim;
    std::vector<CheckSpec> specs;
    for (int i = 0; i < 200; ++i) {
      specs.push_back(http_check(cat("c", i), cat("10.0.0.", i % 200 + 1)));
    }
    EXPECT_TRUE(sim.engine.configure(specs).ok());
    Millis t0 = sim.clock.now_ms();
    sim.run_for(10'000);
    std::map<std::string, Millis> first;
    std::vector<int> buckets(10, 0);  // probes per 100 ms of the interval, steady state
    for (const auto& st : sim.prober.started) {
      first.emplace(st.id, st.at - t0);
      if (st.at - t0 >= 2'000) {
        ++buckets[static_cast<size_t>(((st.at - t0) % 1000) / 100)];
      }
    }
    for (int b : buckets) {
      EXPECT_GT(b, 8 * 200 / 10 / 3) << "a 100 ms slice got too few probes";
      EXPECT_LT(b, 8 * 200 / 10 * 3) << "a 100 ms slice got too many probes";
    }
    return first;
  };
  auto a = first_probes();
  auto b = first_probes();
  ASSERT_EQ(a.size(), 200u);
  EXPECT_EQ(a, b) << "the spread must be the same on every run";
  std::set<Millis> distinct;
  for (const auto& [id, t] : a) {
    EXPECT_GE(t, 0);
    EXPECT_LT(t, 1'000) << "every check is probed within a second of starting";
    distinct.insert(t);
  }
  EXPECT_GT(distinct.size(), 150u);
}

TEST(EngineSchedule, GlobalConcurrencyCap) {
  EngineOptions o;
  o.max_concurrent_probes = 3;
  Sim sim(o);
  sim.prober.latency_ms = 300;
  std::vector<CheckSpec> specs;
  for (int i = 0; i < 20; ++i) {
    specs.push_back(http_check(cat("c", i), cat("10.1.1.", i + 1)));
  }
  ASSERT_TRUE(sim.engine.configure(specs).ok());
  sim.run_for(500);
  EXPECT_EQ(sim.engine.report().probes_in_flight, 3u);
  EXPECT_GT(sim.engine.report().probes_waiting, 0u);
  sim.run_for(10'000);
  EXPECT_EQ(sim.prober.max_in_flight, 3u);
  for (int i = 0; i < 20; ++i) {
    EXPECT_GE(sim.prober.count_started(cat("c", i)), 3u) << i;
    EXPECT_EQ(sim.status(cat("c", i)), Status::kHealthy);
  }
}

TEST(EngineSchedule, IdenticalChecksShareOneProbe) {
  Sim sim;
  sim.prober.respond = [](const CheckSpec&) { return result(true, "status 200"); };
  CheckSpec a = http_check("a");
  CheckSpec b = http_check("b");  // same target, different thresholds and inverted
  b.inverted = true;
  b.failure_threshold = 2;
  CheckSpec other = http_check("other", "192.0.2.99");
  ASSERT_TRUE(sim.engine.configure({a, b, other}).ok());
  sim.run_for(10'000);
  size_t shared = 0;
  for (const auto& s : sim.prober.started) {
    shared += s.id == "a" || s.id == "b";
  }
  size_t own = sim.prober.count_started("other");
  EXPECT_EQ(shared, own) << "a and b must cost one probe per round, like 'other'";
  EXPECT_EQ(sim.prober.count_started("b"), 0u);
  EXPECT_EQ(sim.status("a"), Status::kHealthy);
  EXPECT_EQ(sim.status("b"), Status::kUnhealthy);  // inverted
  auto rep = sim.engine.report();
  EXPECT_EQ(rep.checks[0].probes_ok, shared);
  EXPECT_EQ(rep.checks[1].probes_failed, shared);
  EXPECT_EQ(rep.checks[1].state.last_failure_reason, "inverted: probe passed: status 200");
  EXPECT_EQ(rep.probes_started, shared + own);
  EXPECT_EQ(rep.observations, 2 * shared + own);
}

TEST(EngineSchedule, DisabledIsHealthyAndNeverProbed) {
  Sim sim;
  sim.prober.respond = [](const CheckSpec&) { return result(false, "refused"); };
  CheckSpec s = http_check("off");
  s.disabled = true;
  s.initial = Status::kUnhealthy;
  ASSERT_TRUE(sim.engine.configure({s}).ok());
  sim.run_for(10'000);
  EXPECT_EQ(sim.prober.started.size(), 0u);
  EXPECT_EQ(sim.status("off"), Status::kHealthy);
  EXPECT_EQ(sim.state("off").source, Source::kDisabled);
  EXPECT_TRUE(sim.transitions.empty());
  EXPECT_FALSE(sim.engine.add_observation("peer", "off", result(false, "x"), 0).ok());
}

TEST(EngineSchedule, UnknownResolvesOnFirstRoundOrAfterInitialWait) {
  Sim sim;
  sim.prober.respond = [](const CheckSpec& s) {
    return result(s.http.host == "192.0.2.1", s.http.host == "192.0.2.1" ? "ok" : "refused");
  };
  CheckSpec up = http_check("up");
  CheckSpec down = http_check("down", "192.0.2.2");
  ASSERT_TRUE(sim.engine.configure({up, down}).ok());
  EXPECT_EQ(sim.status("up"), Status::kUnknown);
  EXPECT_EQ(sim.state("up").source, Source::kInitial);
  sim.run_for(1'000);
  EXPECT_EQ(sim.status("up"), Status::kHealthy);
  EXPECT_EQ(sim.status("down"), Status::kUnhealthy);  // first round decides, no threshold
  ASSERT_EQ(sim.transitions_of("down").size(), 1u);
  EXPECT_EQ(sim.transitions_of("down")[0].reason, "first result: refused");

  // A probe that never answers: initial_wait bounds the unknown period.
  Sim hung;
  hung.prober.latency_ms = 60'000;
  CheckSpec h = http_check("hung");
  h.initial_wait_ms = 2'000;
  ASSERT_TRUE(hung.engine.configure({h}).ok());
  hung.run_for(1'999);
  EXPECT_EQ(hung.status("hung"), Status::kUnknown);
  hung.run_for(1);
  EXPECT_EQ(hung.status("hung"), Status::kUnhealthy);
  EXPECT_EQ(hung.state("hung").source, Source::kInitial);
  EXPECT_EQ(hung.state("hung").last_failure_reason, "no result within initial_wait (2000ms)");
}

TEST(EngineSchedule, MassTransitionsAreCoalescedIntoFewViews) {
  // 300 checks fail at once: their transitions spread over one interval (jitter) plus the
  // rechecks. With publish_gap 2 ms each view carries every change of its 2 ms, is published
  // at most 2 ms after the deciding probe, and callbacks see a view that already shows them.
  EngineOptions o;
  o.publish_gap_ms = 2;
  Sim sim(o, /*coalesce=*/true);
  bool down = false;
  sim.prober.respond = [&](const CheckSpec&) { return result(!down, down ? "refused" : "ok"); };
  std::vector<CheckSpec> specs;
  for (int i = 0; i < 300; ++i) {
    CheckSpec s = http_check(cat("c", i), cat("h", i) + ".test");
    s.initial = Status::kHealthy;
    specs.push_back(s);
  }
  ASSERT_TRUE(sim.engine.configure(specs).ok());
  sim.run_for(3'000);
  uint64_t v0 = sim.engine.view().load()->version();
  std::vector<std::pair<Millis, Millis>> lag;  // (decided, published) per transition
  size_t stale_in_callback = 0;
  sim.engine.on_transition([&](const Transition& t) {
    auto v = sim.engine.view().load();
    if (v->at(v->index_of(t.check)).status != t.to) {
      ++stale_in_callback;
    }
  });
  down = true;
  sim.run_for(3'000);
  ASSERT_EQ(sim.transitions.size(), 300u);
  EXPECT_EQ(stale_in_callback, 0u);
  for (size_t i = 0; i < 300; ++i) {
    EXPECT_EQ(sim.status(sim.transitions[i].check), Status::kUnhealthy);
  }
  uint64_t views = sim.engine.view().load()->version() - v0;
  EXPECT_LT(views, 300u) << "transitions in the same 2 ms share a view";
  EXPECT_GE(views, 1'000u / 2 / 4) << "but changes are not held back longer than the gap";
  // Callbacks fire when the view showing the change is published: at most 2 ms late.
  for (size_t i = 0; i < sim.transitions.size(); ++i) {
    Millis decided = sim.transitions[i].wall_ms - (sim.clock.wall_ms() - sim.clock.now_ms());
    EXPECT_LE(sim.transition_now[i] - decided, 2) << sim.transitions[i].check;
  }
}

TEST(EngineSchedule, ReportHasObservationsCheckersAndCertDays) {
  EngineOptions o;
  o.history = 10;
  o.checker_id = "node-a";
  Sim sim(o);
  int n = 0;
  sim.prober.latency_ms = 12;
  sim.prober.respond = [&](const CheckSpec&) {
    ++n;
    ProbeResult r = result(n % 4 != 0, n % 4 != 0 ? "status 200" : "status 503");
    r.http_status = n % 4 != 0 ? 200 : 503;
    r.cert_days_left = 42;
    return r;
  };
  CheckSpec s = http_check("tls");
  s.kind = Kind::kHttps;
  ASSERT_TRUE(sim.engine.configure({s}).ok());
  sim.run_for(30'000);
  auto rep = sim.engine.report();
  EXPECT_EQ(rep.checker_id, "node-a");
  ASSERT_EQ(rep.checks.size(), 1u);
  const CheckReport& c = rep.checks[0];
  EXPECT_EQ(c.id, "tls");
  EXPECT_EQ(c.kind, Kind::kHttps);
  EXPECT_EQ(c.state.status, Status::kHealthy);
  EXPECT_EQ(c.state.cert_days_left, 42);
  EXPECT_EQ(c.state.last_failure_reason, "status 503");
  EXPECT_DOUBLE_EQ(c.state.last_rtt_ms, 12.0);
  EXPECT_EQ(c.recent.size(), 10u);
  EXPECT_EQ(c.recent.back().checker, "node-a");
  EXPECT_DOUBLE_EQ(c.recent.back().timings.total_ms, 12.0);
  EXPECT_GT(c.probes_ok, 0u);
  EXPECT_GT(c.probes_failed, 0u);
  EXPECT_EQ(c.probes_ok + c.probes_failed, static_cast<uint64_t>(n));
  EXPECT_GE(c.next_probe_in_ms, 0);
  EXPECT_LE(c.next_probe_in_ms, 1'500);
  ASSERT_EQ(c.checkers.size(), 1u);
  EXPECT_EQ(c.checkers[0].checker, "node-a");
  EXPECT_EQ(c.checkers[0].status, Status::kHealthy);
  // Failures seen, but never three in a row: the only transition is the first round.
  EXPECT_EQ(c.transitions, 1u);
}

}  // namespace
}  // namespace steerdns::health
