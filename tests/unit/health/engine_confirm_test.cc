// Fast confirmation with probe pairs (confirm_probes 2): while a change is pending every
// recheck sends two probes at once and the pair is one observation, so a random blip must hit
// both probes of every recheck while a dead backend is confirmed as fast as with single probes.
#include <gtest/gtest.h>

#include <deque>

#include "engine_sim.h"

namespace steerdns::health {
namespace {

using testing::http_check;
using testing::Sim;

// Answers probes from a script in start order (pairs start together: first, then second), and
// with `rest` once the script is used up.
struct Script {
  std::deque<bool> next;
  bool rest = true;
  int served = 0;
  ProbeResult operator()() {
    bool ok = rest;
    if (!next.empty()) {
      ok = next.front();
      next.pop_front();
    }
    ++served;
    ProbeResult r;
    r.ok = ok;
    r.reason = ok ? "status 200" : "status 503 not in 200-399";
    return r;
  }
};

struct Fixture {
  explicit Fixture(int confirm_probes, bool inverted = false) {
    sim.prober.respond = [this](const CheckSpec&) { return script(); };
    CheckSpec s = http_check("web");
    s.initial = inverted ? Status::kUnhealthy : Status::kHealthy;
    s.confirm_probes = confirm_probes;
    s.inverted = inverted;
    EXPECT_TRUE(sim.engine.configure({s}).ok());
    sim.run_for(3'000);  // steady state: one single probe per interval
  }
  // Runs to just before the next scheduled interval probe and returns its time.
  Millis to_next_slot() {
    Millis slot = sim.engine.next_due_ms();
    sim.run_until(slot - 1);
    return slot;
  }
  const CheckReport& report() {
    rep = sim.engine.report();
    return rep.checks.at(0);
  }
  Script script;
  Sim sim;
  EngineReport rep;
};

TEST(EngineConfirm, OneFailingProbeOfAPairDoesNotAdvanceTheStreak) {
  Fixture f(2);
  ASSERT_TRUE(f.sim.transitions.empty());
  for (int round = 0; round < 2; ++round) {
    // Interval probe fails (single), then each recheck pair has one failure, in either order.
    Millis slot = f.to_next_slot();
    int before = f.script.served;
    f.script.next = {false, round == 0, round != 0};
    f.sim.run_until(slot);
    EXPECT_EQ(f.script.served - before, 1) << "the first disagreeing probe is single";
    EXPECT_EQ(f.report().state.consecutive_fail, 1);
    f.sim.run_until(slot + 200);
    EXPECT_EQ(f.script.served - before, 3) << "the recheck is a pair";
    EXPECT_EQ(f.report().state.consecutive_fail, 0) << "the passing probe of the pair counts";
    EXPECT_EQ(f.report().state.consecutive_ok, 1);
    f.sim.run_for(5'000);
    EXPECT_EQ(f.script.served - before, 3 + 5) << "back to single probes at the interval";
  }
  EXPECT_TRUE(f.sim.transitions.empty());
  EXPECT_EQ(f.sim.status("web"), Status::kHealthy);
  const CheckReport& r = f.report();
  EXPECT_EQ(r.probes_failed, 4u) << "both probes of a pair count";
  EXPECT_EQ(r.probes_ok + r.probes_failed, static_cast<uint64_t>(f.script.served));
  EXPECT_EQ(f.rep.probes_started, static_cast<uint64_t>(f.script.served));
}

TEST(EngineConfirm, RandomFailuresThatBreakSingleProbesAreAbsorbed) {
  // The same outcome sequence brings a confirm_probes 1 check down (3 failures in a row) but
  // not a confirm_probes 2 check: the 2nd and 3rd failures form one failing pair (streak 2)
  // and the next pair has a success, which resets the streak.
  std::deque<bool> seq = {false, false, false, true, false};
  Fixture single(1);
  Fixture paired(2);
  for (Fixture* f : {&single, &paired}) {
    Millis slot = f->to_next_slot();
    f->script.next = seq;
    f->sim.run_until(slot + 5'000);
  }
  ASSERT_EQ(single.sim.transitions.size(), 2u) << "down after 3, up again after 2 successes";
  EXPECT_EQ(single.sim.transitions[0].reason, "3 consecutive failures: status 503 not in 200-399");
  EXPECT_TRUE(paired.sim.transitions.empty());
  EXPECT_EQ(paired.sim.status("web"), Status::kHealthy);
}

TEST(EngineConfirm, HardFailureTransitionsAfterExactlyThresholdObservations) {
  Fixture f(2);
  f.script.rest = true;
  Millis slot = f.to_next_slot();
  int before = f.script.served;
  f.script.rest = false;  // killed: every probe fails from now on
  f.sim.run_until(slot);
  EXPECT_EQ(f.report().state.consecutive_fail, 1);
  f.sim.run_until(slot + 200);
  EXPECT_EQ(f.report().state.consecutive_fail, 2) << "a failing pair is one observation";
  f.sim.run_until(slot + 399);
  EXPECT_EQ(f.sim.status("web"), Status::kHealthy) << "never earlier than the third observation";
  EXPECT_EQ(f.script.served - before, 3);
  f.sim.run_until(slot + 400);
  EXPECT_EQ(f.sim.status("web"), Status::kUnhealthy);
  EXPECT_EQ(f.script.served - before, 5);  // 1 + 2 + 2
  ASSERT_EQ(f.sim.transitions.size(), 1u);
  EXPECT_EQ(f.sim.transition_now[0], slot + 400) << "as fast as single probes";
  EXPECT_EQ(f.sim.transitions[0].reason, "3 consecutive failures: status 503 not in 200-399");
  const CheckReport& r = f.report();
  EXPECT_EQ(r.state.consecutive_fail, 3);
  EXPECT_EQ(r.probes_failed, 5u);
  ASSERT_GE(r.recent.size(), 3u);
  const Observation& last = r.recent.back();
  EXPECT_EQ(last.probes, 2);
  EXPECT_FALSE(last.split);
  EXPECT_FALSE(last.ok);
  EXPECT_EQ(r.recent[r.recent.size() - 3].probes, 1);

  // Down: probes are single at the interval again; recovery needs both probes of the pair.
  f.sim.run_for(3'000);
  EXPECT_EQ(f.sim.transitions.size(), 1u);
  slot = f.to_next_slot();
  before = f.script.served;
  f.script.next = {true, true, false};  // first success, then a pair with a failure: not up
  f.script.rest = true;
  f.sim.run_until(slot + 200);
  EXPECT_EQ(f.script.served - before, 3);
  EXPECT_EQ(f.sim.status("web"), Status::kUnhealthy);
  EXPECT_EQ(f.report().state.consecutive_ok, 0) << "the pair picked the failure (agrees)";
  const CheckReport& r2 = f.report();
  EXPECT_TRUE(r2.recent.back().split);
  EXPECT_FALSE(r2.recent.back().ok);
  f.sim.run_for(3'000);
  EXPECT_EQ(f.sim.status("web"), Status::kHealthy);
  ASSERT_EQ(f.sim.transitions.size(), 2u);
  EXPECT_EQ(f.sim.transitions[1].reason, "2 consecutive successes: status 200");
}

TEST(EngineConfirm, ConfirmProbesOneKeepsSingleRechecks) {
  Fixture f(1);
  Millis slot = f.to_next_slot();
  int before = f.script.served;
  f.script.next = {false, false, true};
  f.sim.run_until(slot + 200);
  EXPECT_EQ(f.script.served - before, 2) << "single recheck";
  EXPECT_EQ(f.report().state.consecutive_fail, 2) << "one failing recheck advances the streak";
  f.sim.run_until(slot + 400);
  EXPECT_EQ(f.report().state.consecutive_fail, 0);
  EXPECT_TRUE(f.sim.transitions.empty());

  slot = f.to_next_slot();
  before = f.script.served;
  f.script.rest = false;
  f.sim.run_until(slot + 399);
  EXPECT_EQ(f.sim.status("web"), Status::kHealthy);
  f.sim.run_until(slot + 400);
  EXPECT_EQ(f.sim.status("web"), Status::kUnhealthy);
  EXPECT_EQ(f.script.served - before, 3);
  EXPECT_EQ(f.report().recent.back().probes, 1);
}

TEST(EngineConfirm, InvertedCheckChoosesByCountedStatus) {
  // Inverted and healthy means the probes fail; a pair with one passing probe keeps it healthy.
  Fixture f(2, /*inverted=*/true);
  f.script.rest = false;
  f.sim.run_for(3'000);
  ASSERT_EQ(f.sim.status("web"), Status::kHealthy);
  size_t transitions = f.sim.transitions.size();
  Millis slot = f.to_next_slot();
  f.script.next = {true, true, false, true, false};
  f.sim.run_until(slot + 3'000);
  EXPECT_EQ(f.sim.transitions.size(), transitions);
  EXPECT_EQ(f.sim.status("web"), Status::kHealthy);
}

TEST(EngineConfirm, PairsShareTheConcurrencyCap) {
  EngineOptions o;
  o.max_concurrent_probes = 2;
  Sim sim(o);
  sim.prober.latency_ms = 50;
  bool down = false;
  sim.prober.respond = [&](const CheckSpec&) {
    ProbeResult r;
    r.ok = !down;
    r.reason = down ? "connection refused" : "status 200";
    return r;
  };
  std::vector<CheckSpec> specs;
  for (int i = 0; i < 3; ++i) {
    CheckSpec s = http_check(testing::cat("c", i), testing::cat("192.0.2.", i + 1));
    s.initial = Status::kHealthy;
    specs.push_back(s);
  }
  ASSERT_TRUE(sim.engine.configure(specs).ok());
  sim.run_for(3'000);
  down = true;
  sim.run_for(5'000);
  EXPECT_LE(sim.prober.max_in_flight, 2u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(sim.status(testing::cat("c", i)), Status::kUnhealthy);
  }
}

}  // namespace
}  // namespace steerdns::health
