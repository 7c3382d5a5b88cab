// Control plane metrics: a real plane over an in-memory store; committed and rejected batches,
// group commits and the served revision.
#include "control/metrics.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <memory>
#include <string>

#include "config/catalog.h"
#include "control_test_util.h"
#include "testlib/metrics_samples.h"
#include "obs/metrics.h"
#include "store/store.h"

namespace steerdns::control {
namespace {

using steerdns::testing::find_sample;
using steerdns::testing::sample_value;

using nlohmann::json;



TEST(ControlMetrics, CommittedRejectedGroupsAndRevision) {
  config::Catalog seed = test::seed_catalog();
  auto store = store::open_store("sqlite::memory:");
  ASSERT_TRUE(store) << store.error();
  Hooks hooks;
  hooks.publish = [](const config::LoadedConfig&) { return OkStatus(); };
  Plane plane(std::move(*store), config::ServerSettings{}, hooks);
  ASSERT_TRUE(plane.start(&seed, "config:test"));

  obs::Families before;
  collect_control_metrics(plane, before);
  const double committed0 =
      sample_value(before, "steerdns_change_batches_total", {{"result", "committed"}});
  const double groups0 = sample_value(before, "steerdns_change_groups_total", {});
  EXPECT_EQ(sample_value(before, "steerdns_change_batches_total", {{"result", "rejected"}}), 0);
  EXPECT_EQ(sample_value(before, "steerdns_catalog_revision", {}), 1);

  // Two good batches one after the other (two groups), then a bad one.
  for (const char* label : {"www", "api"}) {
    auto good = plane.submit(test::one_record(label, "192.0.2.1"));
    ASSERT_TRUE(good) << good.error();
    ASSERT_TRUE(plane.wait_insync(good->change.id, std::chrono::seconds(10)));
  }
  auto bad = plane.submit(test::one_record("bad", "not-an-ip"));
  ASSERT_FALSE(bad);

  obs::Families f;
  collect_control_metrics(plane, f);
  EXPECT_EQ(sample_value(f, "steerdns_change_batches_total", {{"result", "committed"}}), committed0 + 2);
  EXPECT_EQ(sample_value(f, "steerdns_change_batches_total", {{"result", "rejected"}}), 1);
  EXPECT_EQ(sample_value(f, "steerdns_change_groups_total", {}), groups0 + 2);
  EXPECT_EQ(sample_value(f, "steerdns_catalog_revision", {}), 3);
  plane.stop();
}

TEST(ControlMetrics, ScrapeText) {
  Plane::Stats st;
  st.batches = 7;
  st.rejected = 2;
  st.groups = 3;
  obs::Registry reg;
  auto h = reg.add([&](obs::Families& out) { collect_control_metrics(st, 42, out); });
  std::string text = reg.scrape();
  EXPECT_NE(text.find("steerdns_change_batches_total{result=\"committed\"} 7"), std::string::npos)
      << text;
  EXPECT_NE(text.find("steerdns_change_batches_total{result=\"rejected\"} 2"), std::string::npos);
  EXPECT_NE(text.find("steerdns_change_groups_total 3"), std::string::npos);
  EXPECT_NE(text.find("# TYPE steerdns_catalog_revision gauge"), std::string::npos);
  EXPECT_NE(text.find("steerdns_catalog_revision 42"), std::string::npos);
}

}  // namespace
}  // namespace steerdns::control
