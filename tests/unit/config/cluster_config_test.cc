// server.cluster (fleet mode, docs/fleet.md): defaults, every key parsed, and bad values
// rejected with the file and line and no config.
#include <gtest/gtest.h>

#include <string>

#include "config/loader.h"
#include "config_test_util.h"

namespace steerdns::config {
namespace {

using testing::TempDir;

const char* const kFleetZones = testing::kMinimalZones;

TEST(ClusterConfig, DefaultsWithoutTheSection) {
  TempDir d;
  auto c = load_config_file(d.write("t.yaml", kFleetZones));
  ASSERT_TRUE(c.ok()) << c.error();
  const auto& cl = c->server.cluster;
  EXPECT_TRUE(cl.node_id.empty());
  EXPECT_EQ(cl.lease_ttl_ms, 10'000);
  EXPECT_EQ(cl.heartbeat_ms, 1'000);
  EXPECT_EQ(cl.stale_after_ms, 3'000);
  EXPECT_EQ(cl.peer_grace_ms, 60'000);
  EXPECT_EQ(cl.divergence_after_ms, 30'000);
  EXPECT_TRUE(cl.sites.empty());
  EXPECT_FALSE(cl.catalog_cache.has_value());  // the daemon picks steerdns-catalog-NODE.json
}

TEST(ClusterConfig, CatalogCacheIsRelativeToTheConfigOrOff) {
  TempDir d;
  auto c = load_config_file(
      d.write("t.yaml",
              std::string("server:\n  cluster: { catalog_cache: cache/c.json }\n") + kFleetZones));
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(c->server.cluster.catalog_cache, d.path() + "/cache/c.json");
  c = load_config_file(d.write(
      "t.yaml", std::string("server:\n  cluster: { catalog_cache: \"\" }\n") + kFleetZones));
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(c->server.cluster.catalog_cache, "");
}

TEST(ClusterConfig, ParsesEveryKey) {
  TempDir d;
  auto c = load_config_file(d.write("t.yaml", std::string(R"(server:
  cluster:
    node_id: node-a
    site: taipei
    lease_ttl: 6s
    heartbeat: 500ms
    stale_after: 2s
    peer_grace: 2m
    divergence_after: 45s
    sites:
      taipei: [primary-app, secondary-app]
      tokyo: [secondary-app]
)") + kFleetZones));
  ASSERT_TRUE(c.ok()) << c.error();
  const auto& cl = c->server.cluster;
  EXPECT_EQ(cl.node_id, "node-a");
  EXPECT_EQ(cl.site, "taipei");
  EXPECT_EQ(cl.lease_ttl_ms, 6'000);
  EXPECT_EQ(cl.heartbeat_ms, 500);
  EXPECT_EQ(cl.stale_after_ms, 2'000);
  EXPECT_EQ(cl.peer_grace_ms, 120'000);
  EXPECT_EQ(cl.divergence_after_ms, 45'000);
  ASSERT_EQ(cl.sites.size(), 2u);
  EXPECT_EQ(cl.sites[0].first, "taipei");
  EXPECT_EQ(cl.sites[0].second, (std::vector<std::string>{"primary-app", "secondary-app"}));
  EXPECT_EQ(cl.sites[1].first, "tokyo");
}

TEST(ClusterConfig, BadValuesNameTheLine) {
  struct Bad {
    std::string yaml, marker, reason;
  };
  const Bad cases[] = {
      {"  cluster: { node_id: \"a b\" }\n", "node_id", "may hold letters, digits"},
      {"  cluster: { lease_ttl: 1s }\n", "lease_ttl", "must be at least 2s"},
      {"  cluster: { lease_ttl: 4s, heartbeat: 3s }\n", "cluster:", "at most half of lease_ttl"},
      {"  cluster: { heartbeat: soon }\n", "heartbeat", "heartbeat"},
      {"  cluster: { sites: [a, b] }\n", "sites", "must map a site name"},
      {"  cluster: { quorum: 2 }\n", "quorum", "unknown key 'quorum' in cluster"},
      {"  cluster: { catalog_cache: /tmp }\n", "catalog_cache", "is a directory, not a file"},
  };
  for (const Bad& b : cases) {
    testing::expect_server_error(b.yaml, b.marker, b.reason);
  }
}

}  // namespace
}  // namespace steerdns::config
