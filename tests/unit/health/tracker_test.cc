// Threshold logic: transitions after exactly the configured number of results, never earlier.
#include "health/tracker.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace steerdns::health {
namespace {

struct Case {
  const char* name;
  Status initial;
  int fall;
  int rise;
  bool inverted;
  const char* pattern;  // S = probe passed, F = probe failed
  // Expected transitions as "index:status-letter" (H healthy, U unhealthy), in order.
  std::vector<std::pair<int, char>> expect;
};

char letter(Status s) { return s == Status::kHealthy ? 'H' : s == Status::kUnhealthy ? 'U' : '?'; }

TEST(Tracker, PatternTable) {
  const std::vector<Case> cases = {
      {"three failures go down on the third", Status::kHealthy, 3, 2, false, "FFF", {{2, 'U'}}},
      {"two failures are not enough", Status::kHealthy, 3, 2, false, "FFSFFSFFS", {}},
      {"streak broken then completed", Status::kHealthy, 3, 2, false, "FFSFFF", {{5, 'U'}}},
      {"down then up after two successes",
       Status::kHealthy,
       3,
       2,
       false,
       "FFFSS",
       {{2, 'U'}, {4, 'H'}}},
      {"one success while down is not enough",
       Status::kHealthy,
       3,
       2,
       false,
       "FFFSFSFSS",
       {{2, 'U'}, {8, 'H'}}},
      {"flapping every probe never transitions (from up)",
       Status::kHealthy,
       3,
       2,
       false,
       "FSFSFSFSFSFSFSFSFSFSFSFSFSFSFSFS",
       {}},
      {"flapping every probe never transitions (from down)",
       Status::kUnhealthy,
       3,
       2,
       false,
       "SFSFSFSFSFSFSFSFSFSF",
       {}},
      {"flapping FFS never transitions", Status::kHealthy, 3, 2, false, "FFSFFSFFSFFSFFSFFS", {}},
      {"threshold 1 / 1 follows every result",
       Status::kHealthy,
       1,
       1,
       false,
       "FSF",
       {{0, 'U'}, {1, 'H'}, {2, 'U'}}},
      {"threshold 5", Status::kHealthy, 5, 2, false, "FFFFSFFFFF", {{9, 'U'}}},
      {"rise 4", Status::kUnhealthy, 3, 4, false, "SSSFSSSS", {{7, 'H'}}},
      {"unknown resolves on the first failure",
       Status::kUnknown,
       3,
       2,
       false,
       "FSS",
       {{0, 'U'}, {2, 'H'}}},
      {"unknown resolves on the first success",
       Status::kUnknown,
       3,
       2,
       false,
       "SFFF",
       {{0, 'H'}, {3, 'U'}}},
      {"inverted: passing probes count as failures",
       Status::kHealthy,
       3,
       2,
       true,
       "SSS",
       {{2, 'U'}}},
      {"inverted: failing probes bring it up", Status::kUnhealthy, 3, 2, true, "FSFF", {{3, 'H'}}},
      {"all passing stays up", Status::kHealthy, 3, 2, false, "SSSSSSSSSS", {}},
  };
  for (const auto& c : cases) {
    TrackerParams p;
    p.failure_threshold = c.fall;
    p.success_threshold = c.rise;
    p.inverted = c.inverted;
    Tracker t(p, c.initial);
    std::vector<std::pair<int, char>> got;
    std::string pat = c.pattern;
    for (size_t i = 0; i < pat.size(); ++i) {
      auto st = t.observe(pat[i] == 'S');
      if (st.changed) {
        got.emplace_back(static_cast<int>(i), letter(st.to));
      }
    }
    EXPECT_EQ(got, c.expect) << c.name << " (" << c.pattern << ")";
  }
}

TEST(Tracker, FastConfirmationDelay) {
  TrackerParams p;
  p.interval_ms = 1000;
  p.recheck_ms = 200;
  Tracker t(p, Status::kHealthy);
  EXPECT_EQ(t.next_delay_ms(), 1000);
  EXPECT_EQ(t.observe(false).next_delay_ms, 200);  // disagrees: confirm fast
  EXPECT_EQ(t.observe(false).next_delay_ms, 200);
  auto st = t.observe(false);  // third failure: down, agrees again
  EXPECT_TRUE(st.changed);
  EXPECT_EQ(st.next_delay_ms, 1000);
  EXPECT_EQ(t.observe(true).next_delay_ms, 200);    // recovery streak starts
  EXPECT_EQ(t.observe(false).next_delay_ms, 1000);  // streak broken: back to the interval
  // A recheck longer than the interval never slows probing down.
  p.recheck_ms = 5000;
  Tracker slow(p, Status::kHealthy);
  EXPECT_EQ(slow.observe(false).next_delay_ms, 1000);
}

TEST(Tracker, TenPercentRandomFailuresNeverTransition) {
  // 600 probes (10 minutes at 1 s) with ~10 % failures. Independent 10 % failures make three
  // in a row about once per 1,000 probes, so the sequence is a fixed pseudo-random one whose
  // failure runs are 1 or 2 long; the test checks that property and that the tracker, with
  // default thresholds, never transitions on it.
  std::mt19937 rng(7);
  std::string seq;
  for (int i = 0; i < 600; ++i) {
    seq += (rng() % 10 == 0) ? 'F' : 'S';
  }
  size_t fails = std::count(seq.begin(), seq.end(), 'F');
  EXPECT_GE(fails, 40u);
  EXPECT_LE(fails, 80u);
  ASSERT_NE(seq.find("FF"), std::string::npos) << "the sequence should contain double failures";
  ASSERT_EQ(seq.find("FFF"), std::string::npos) << "pick a seed without triple failures";
  Tracker t(TrackerParams{}, Status::kHealthy);
  int transitions = 0;
  for (char c : seq) {
    transitions += t.observe(c == 'S').changed;
  }
  EXPECT_EQ(transitions, 0);
  EXPECT_EQ(t.status(), Status::kHealthy);
}

TEST(Tracker, RestoreKeepsOneStreak) {
  Tracker t(TrackerParams{}, Status::kUnknown);
  t.restore(Status::kHealthy, 0, 2);
  EXPECT_EQ(t.status(), Status::kHealthy);
  EXPECT_TRUE(t.confirming());
  EXPECT_TRUE(t.observe(false).changed);  // the persisted streak counts
}

TEST(Aggregate, Rules) {
  struct Row {
    Aggregation rule;
    int healthy;
    int reporting;
    Status want;
  };
  const Row rows[] = {
      // One checker: every rule is that checker's verdict.
      {Aggregation::kRoute53, 1, 1, Status::kHealthy},
      {Aggregation::kRoute53, 0, 1, Status::kUnhealthy},
      {Aggregation::kMajority, 1, 1, Status::kHealthy},
      {Aggregation::kMajority, 0, 1, Status::kUnhealthy},
      {Aggregation::kAll, 1, 1, Status::kHealthy},
      {Aggregation::kAll, 0, 1, Status::kUnhealthy},
      // Three checkers.
      {Aggregation::kRoute53, 1, 3, Status::kHealthy},  // 33 % > 18 %
      {Aggregation::kRoute53, 0, 3, Status::kUnhealthy},
      {Aggregation::kMajority, 2, 3, Status::kHealthy},
      {Aggregation::kMajority, 1, 3, Status::kUnhealthy},
      {Aggregation::kAll, 3, 3, Status::kHealthy},
      {Aggregation::kAll, 2, 3, Status::kUnhealthy},
      // Five checkers.
      {Aggregation::kRoute53, 1, 5, Status::kHealthy},  // 20 % > 18 %
      {Aggregation::kRoute53, 0, 5, Status::kUnhealthy},
      {Aggregation::kMajority, 3, 5, Status::kHealthy},
      {Aggregation::kMajority, 2, 5, Status::kUnhealthy},
      {Aggregation::kAll, 5, 5, Status::kHealthy},
      {Aggregation::kAll, 4, 5, Status::kUnhealthy},
      // Six: one of six is 16.7 %, not more than 18 %.
      {Aggregation::kRoute53, 1, 6, Status::kUnhealthy},
      {Aggregation::kRoute53, 2, 6, Status::kHealthy},
      // Majority needs more than half: a tie is not a majority.
      {Aggregation::kMajority, 2, 4, Status::kUnhealthy},
      // Nobody reporting: no verdict.
      {Aggregation::kRoute53, 0, 0, Status::kUnknown},
  };
  for (const auto& r : rows) {
    EXPECT_EQ(aggregate(r.rule, r.healthy, r.reporting), r.want)
        << aggregation_name(r.rule) << " " << r.healthy << "/" << r.reporting;
  }
}

}  // namespace
}  // namespace steerdns::health
