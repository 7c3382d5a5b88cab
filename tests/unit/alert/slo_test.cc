#include "alert/slo.h"

#include <gtest/gtest.h>

namespace steerdns::alert {
namespace {

constexpr int64_t kMin = 60'000;

TEST(Slo, ShareOfObservedTimeWithAHealthyAnswer) {
  SloTracker t;
  SloSpec spec;
  spec.defaults.objective = 99.0;
  spec.defaults.alert_below = 95.0;
  int64_t now = 1'000'000'000;
  // 50 minutes healthy, 10 minutes down, observed every 10 s.
  for (int64_t s = 0; s <= 60 * 60; s += 10) {
    bool healthy = s < 50 * 60;
    t.observe({{"app.example.test.", healthy}}, now + s * 1000);
  }
  auto r = t.report(spec, now + 3600 * 1000);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_FALSE(r[0].healthy_now);
  const auto& h1 = r[0].windows[0];
  EXPECT_EQ(h1.label, "1h");
  EXPECT_EQ(h1.observed_ms, 3600 * 1000);
  // The 10 s between the last healthy and the first unhealthy sample count as down.
  EXPECT_EQ(h1.unhealthy_ms, 10 * kMin + 10'000);
  EXPECT_NEAR(h1.availability, 1.0 - 610.0 / 3600.0, 1e-9);
  // 1 % budget, 16.9 % used: overspent about 16 times.
  EXPECT_NEAR(h1.budget_left, 1.0 - (610.0 / 3600.0) / 0.01, 1e-6);
  EXPECT_TRUE(r[0].below_alert());
}

TEST(Slo, TimeTheDaemonWasDownCountsNeitherWay) {
  SloTracker t;
  int64_t now = 5'000'000'000;
  for (int64_t ms = 0; ms <= 10 * kMin; ms += 5'000) {
    t.observe({{"a.", true}}, now + ms);
  }
  // 20 minutes without observations (down), then unhealthy for 10 minutes.
  for (int64_t ms = 30 * kMin; ms <= 40 * kMin; ms += 5'000) {
    t.observe({{"a.", false}}, now + ms);
  }
  auto r = t.report(SloSpec{}, now + 40 * kMin);
  EXPECT_EQ(r[0].windows[0].observed_ms, 20 * kMin);
  EXPECT_NEAR(r[0].windows[0].availability, 0.5, 1e-9);
}

TEST(Slo, SavedStateRoundTripsAndBadStateIsRefused) {
  SloTracker t;
  t.observe({{"a.", true}, {"b.", false}}, 1'000);
  t.observe({{"a.", false}, {"b.", false}}, 6'000);
  SloTracker u;
  ASSERT_TRUE(u.from_json(t.to_json()).ok());
  EXPECT_EQ(u.to_json(), t.to_json());
  u.observe({{"a.", false}, {"b.", false}}, 8'000);  // names must be observed to be reported
  auto r = u.report(SloSpec{}, 8'000);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_NEAR(r[0].windows[0].availability, 0, 1e-9);  // changed at once: counted as the new state
  EXPECT_FALSE(u.from_json(nlohmann::json{{"version", 1}, {"names", {{"a.", {{1, 0, 1}}}}}}).ok());
  EXPECT_FALSE(u.from_json(nlohmann::json::array()).ok());
}

TEST(Slo, NamesNoLongerSteeredAreNotReported) {
  SloTracker t;
  t.observe({{"a.", true}, {"b.", true}}, 1'000);
  t.observe({{"a.", true}}, 2'000);
  auto r = t.report(SloSpec{}, 2'000);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].name, "a.");
}

}  // namespace
}  // namespace steerdns::alert
