// The control plane over a shared store (fleet mode, docs/fleet.md): two planes -- two nodes --
// on one real etcd. Seeding races, concurrent writers on both nodes (compare-and-swap conflicts
// retried on top of the other node's commit, nothing lost or applied twice), a CREATE that both
// try (one wins), and every node serving the other's commits through the store's watch.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <thread>
#include <vector>

#include "config/catalog.h"
#include "control/plane.h"
#include "control_test_util.h"
#include "store/store.h"
#include "testlib/etcd_cluster.h"
#include "testlib/eventually.h"
#include "testlib/temp_dir.h"

namespace steerdns::control {
namespace {

using test::one_record;
using test::seed_catalog;

struct Node {
  std::atomic<int64_t> published_revision{0};
  std::unique_ptr<Plane> plane;
  std::string cache;  // catalog cache file; empty: none

  Status start(const std::string& spec, const std::string& name, const config::Catalog* seed) {
    store::OpenOptions oo{name};
    oo.allow_offline = !cache.empty() && std::filesystem::exists(cache);
    auto store = store::open_store(spec, oo);
    if (!store) {
      return Error{store.error()};
    }
    Hooks h;
    h.publish = [this](const config::LoadedConfig& lc) -> Status {
      (void)lc;
      return OkStatus();
    };
    plane = std::make_unique<Plane>(std::move(*store), config::ServerSettings{}, std::move(h));
    plane->set_catalog_cache(cache);
    return plane->start(seed, "config:test");
  }
  ~Node() {
    if (plane) {
      plane->stop();
    }
  }
};

bool has(const config::Catalog& c, const std::string& key) {
  auto z = c.zones.find("example.test.");
  return z != c.zones.end() && z->second.records.count(key) != 0;
}

using ::steerdns::testing::eventually;

TEST(PlaneFleet, TwoNodesShareOneCatalog) {
  testing::EtcdCluster etcd(1);
  ASSERT_TRUE(etcd.healthy());
  auto seed = seed_catalog();
  // Both nodes start at once from the same seed: one seeds, the other serves what it wrote.
  Node a, b;
  Status sa = Error{"not run"};
  Status sb = Error{"not run"};
  std::thread ta([&] { sa = a.start(etcd.spec(), "a", &seed); });
  std::thread tb([&] { sb = b.start(etcd.spec(), "b", &seed); });
  ta.join();
  tb.join();
  ASSERT_TRUE(sa) << sa.error();
  ASSERT_TRUE(sb) << sb.error();
  EXPECT_EQ(a.plane->catalog()->revision, 1);
  EXPECT_EQ(b.plane->catalog()->revision, 1);
  auto seeded = a.plane->store().changes(10, 0);
  ASSERT_TRUE(seeded);
  EXPECT_EQ(seeded->size(), 1u);  // seeded once, not twice

  // A change through A is served by B (the store's watch).
  auto r = a.plane->submit(one_record("www", "192.0.2.1"));
  ASSERT_TRUE(r) << r.error();
  EXPECT_TRUE(eventually([&] { return has(*b.plane->catalog(), "www.example.test./A"); }));
  EXPECT_EQ(b.plane->served_revision(), r->change.revision);

  // Concurrent writers on both nodes: every batch lands once, in one order both nodes serve.
  constexpr int kPerNode = 15;
  std::atomic<int> failures{0};
  auto writer = [&](Node& n, const char* who) {
    for (int i = 0; i < kPerNode; ++i) {
      auto res = n.plane->submit(
          one_record(std::string(who) + "-" + std::to_string(i), "192.0.2.2"));
      if (!res) {
        ADD_FAILURE() << who << " " << i << ": " << res.error();
        ++failures;
      }
    }
  };
  std::thread wa([&] { writer(a, "a"); });
  std::thread wb([&] { writer(b, "b"); });
  wa.join();
  wb.join();
  EXPECT_EQ(failures.load(), 0);
  const int64_t want_rev = 2 + 2 * kPerNode;
  EXPECT_TRUE(eventually([&] {
    return a.plane->catalog()->revision == want_rev && b.plane->catalog()->revision == want_rev;
  })) << a.plane->catalog()->revision << " " << b.plane->catalog()->revision;
  for (int i = 0; i < kPerNode; ++i) {
    for (const char* who : {"a", "b"}) {
      std::string key = std::string(who) + "-" + std::to_string(i) + ".example.test./A";
      EXPECT_TRUE(has(*a.plane->catalog(), key)) << key;
      EXPECT_TRUE(has(*b.plane->catalog(), key)) << key;
    }
  }
  auto all = a.plane->store().changes(100, 0);
  ASSERT_TRUE(all);
  EXPECT_EQ(all->size(), static_cast<size_t>(want_rev));  // one change batch per revision

  // The same CREATE through both nodes at once: exactly one wins, the other is told why.
  Result<SubmitResult> ca = Error{""}, cb = Error{""};
  std::thread xa([&] { ca = a.plane->submit(one_record("race", "192.0.2.3")); });
  std::thread xb([&] { cb = b.plane->submit(one_record("race", "192.0.2.4")); });
  xa.join();
  xb.join();
  EXPECT_NE(ca.ok(), cb.ok()) << (ca ? "" : ca.error()) << " / " << (cb ? "" : cb.error());
  const auto& loser = ca.ok() ? cb : ca;
  if (!loser.ok()) {
    EXPECT_NE(loser.error().find("exists"), std::string::npos) << loser.error();
  }
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Static stability across a restart: a node started while etcd is out of reach serves the
// catalog it last served (its cache), refuses writes, and catches up once etcd answers.
TEST(PlaneFleet, StartsFromItsCatalogCacheWhileEtcdIsDown) {
  testing::EtcdCluster etcd(1);
  ASSERT_TRUE(etcd.healthy());
  steerdns::testing::TempDir dir;
  const std::string cache = dir.path() + "/catalog.json";
  auto seed = seed_catalog();
  int64_t rev = 0;
  {
    Node a;
    a.cache = cache;
    ASSERT_TRUE(a.start(etcd.spec(), "a", &seed));
    auto r = a.plane->submit(one_record("www", "192.0.2.1"));
    ASSERT_TRUE(r) << r.error();
    rev = r->change.revision;
    // Written after the publish, on the applier thread.
    EXPECT_TRUE(
        eventually([&] { return read_file(cache).find("192.0.2.1") != std::string::npos; }));
  }
  etcd.stop(0);

  // Without a cache the node does not start, and says why.
  Node none;
  Status st = none.start(etcd.spec(), "none", &seed);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().find("unavailable"), std::string::npos) << st.error();

  Node b;
  b.cache = cache;
  st = b.start(etcd.spec(), "b", &seed);
  ASSERT_TRUE(st) << st.error();
  EXPECT_TRUE(b.plane->serving_cache());
  EXPECT_EQ(b.plane->catalog()->revision, rev);
  EXPECT_TRUE(has(*b.plane->catalog(), "www.example.test./A"));
  auto lost = b.plane->submit(one_record("lost", "192.0.2.9"));
  ASSERT_FALSE(lost);
  EXPECT_NE(lost.error().find("unavailable"), std::string::npos) << lost.error();

  etcd.start(0);
  ASSERT_TRUE(eventually([&] { return !b.plane->serving_cache(); }, 30'000, 50));
  auto back = b.plane->submit(one_record("back", "192.0.2.10"));
  ASSERT_TRUE(back) << back.error();
  EXPECT_FALSE(has(*b.plane->catalog(), "lost.example.test./A"));
  EXPECT_TRUE(eventually([&] { return read_file(cache).find("192.0.2.10") != std::string::npos; }));
  b.plane->stop();

  // A cache that is not one: refused, naming the file; nothing served from it.
  etcd.stop(0);
  { std::ofstream(cache) << R"({"steerdns_catalog_cache": 1, "catalog": {"revision": "x"}})"; }
  Node c;
  c.cache = cache;
  st = c.start(etcd.spec(), "c", &seed);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().find(cache + ": not a catalog"), std::string::npos) << st.error();
}

}  // namespace
}  // namespace steerdns::control
