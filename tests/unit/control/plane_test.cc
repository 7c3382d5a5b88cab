// The control plane: seeding, durable commit then publish then INSYNC, all-or-nothing batches,
// group commit under concurrent writers (a bad batch rejected alone), publish failures, a
// restart after a crash that left batches PENDING, and server settings updates.
#include "control/plane.h"

#include <gtest/gtest.h>

#include <sched.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>
#include <vector>

#include "config/catalog.h"
#include "store/store.h"
#include "control_test_util.h"
#include "testlib/temp_dir.h"

namespace steerdns::control {
namespace {

using nlohmann::json;
using test::one_record;
using test::seed_catalog;


// A plane over a store file that outlives planes (restart tests), recording what it publishes.
struct Rig {
  std::string path;
  std::mutex mu;
  std::vector<std::shared_ptr<const config::RuntimeConfig>> published;
  std::atomic<bool> fail_publish{false};
  std::unique_ptr<Plane> plane;

  explicit Rig(std::string p = "") : path(std::move(p)) {}
  ~Rig() {
    if (plane) {
      plane->stop();
    }
  }

  Status start(const config::Catalog* seed, config::ServerSettings server = {}) {
    auto store = store::open_store(path.empty() ? "sqlite::memory:" : "sqlite:" + path);
    if (!store) {
      return Error{store.error()};
    }
    Hooks h;
    h.publish = [this](const config::LoadedConfig& lc) -> Status {
      if (fail_publish) {
        return Error{"publish refused by the test"};
      }
      std::lock_guard lk(mu);
      published.push_back(lc.runtime);
      return OkStatus();
    };
    plane = std::make_unique<Plane>(std::move(*store), std::move(server), std::move(h));
    return plane->start(seed, "config:test");
  }

  size_t publishes() {
    std::lock_guard lk(mu);
    return published.size();
  }
  std::shared_ptr<const config::RuntimeConfig> last() {
    std::lock_guard lk(mu);
    return published.empty() ? nullptr : published.back();
  }
};

bool has_record(const config::Catalog& c, const std::string& key) {
  auto z = c.zones.find("example.test.");
  return z != c.zones.end() && z->second.records.count(key) != 0;
}

TEST(Plane, SeedsAnEmptyStoreAndServesIt) {
  Rig r;
  auto seed = seed_catalog();
  ASSERT_TRUE(r.start(&seed));
  EXPECT_EQ(r.publishes(), 1u);
  EXPECT_EQ(r.plane->catalog()->revision, 1);
  EXPECT_EQ(r.plane->served_revision(), 1);
  auto changes = r.plane->store().changes(10, 0);
  ASSERT_TRUE(changes);
  ASSERT_EQ(changes->size(), 1u);
  EXPECT_EQ((*changes)[0].author, "config:test");
  EXPECT_EQ((*changes)[0].status, "INSYNC");
  // The audit event carries the batch's revision.
  auto ev = r.plane->store().last_events(10);
  ASSERT_TRUE(ev);
  ASSERT_EQ(ev->size(), 1u);
  EXPECT_EQ((*ev)[0].body["type"], "change_batch");
  EXPECT_EQ((*ev)[0].body["revision"], 1);
}

TEST(Plane, BatchIsDurableThenServedThenInsync) {
  Rig r;
  auto seed = seed_catalog();
  ASSERT_TRUE(r.start(&seed));
  auto res = r.plane->submit(one_record("www", "192.0.2.1"));
  ASSERT_TRUE(res) << res.error();
  EXPECT_FALSE(res->no_op);
  EXPECT_EQ(res->change.revision, 2);
  EXPECT_EQ(res->change.author, "test");
  EXPECT_TRUE(r.plane->wait_insync(res->change.id, std::chrono::seconds(10)));
  auto row = r.plane->store().change(res->change.id);
  ASSERT_TRUE(row && row->has_value());
  EXPECT_EQ((*row)->status, "INSYNC");
  EXPECT_GT((*row)->insync_ms, 0);
  EXPECT_EQ((*row)->comment, "add www");
  EXPECT_TRUE(has_record(*r.plane->catalog(), "www.example.test./A"));
  EXPECT_EQ(r.plane->served_revision(), 2);
  // The served config has the record (the publish hook saw it).
  ASSERT_NE(r.last(), nullptr);
  EXPECT_EQ(r.last()->zones().size(), 1u);
}

TEST(Plane, InvalidBatchChangesNothing) {
  Rig r;
  auto seed = seed_catalog();
  ASSERT_TRUE(r.start(&seed));
  size_t before_publishes = r.publishes();
  config::ChangeBatch b = one_record("ok", "192.0.2.1");
  config::ChangeBatch bad = one_record("bad", "192.0.2.999");
  b.changes.push_back(bad.changes[0]);
  b.changes[1].where = "change 2";
  auto res = r.plane->submit(b);
  ASSERT_FALSE(res);
  EXPECT_NE(res.error().find("change 2"), std::string::npos) << res.error();
  EXPECT_NE(res.error().find("192.0.2.999"), std::string::npos) << res.error();
  // All or nothing: the good change of the batch is not there either.
  EXPECT_FALSE(has_record(*r.plane->catalog(), "ok.example.test./A"));
  EXPECT_EQ(r.plane->catalog()->revision, 1);
  EXPECT_EQ(r.publishes(), before_publishes);
  auto changes = r.plane->store().changes(10, 0);
  ASSERT_TRUE(changes);
  EXPECT_EQ(changes->size(), 1u);
  // A structural error (CREATE of an existing set) too.
  ASSERT_TRUE(r.plane->submit(one_record("www", "192.0.2.1")));
  auto dup = r.plane->submit(one_record("www", "192.0.2.2"));
  ASSERT_FALSE(dup);
  EXPECT_NE(dup.error().find("already exists"), std::string::npos) << dup.error();
  // Validation alone (dry run) commits nothing.
  auto v = r.plane->validate(one_record("dry", "192.0.2.3"));
  ASSERT_TRUE(v) << v.error();
  EXPECT_TRUE(has_record(*v, "dry.example.test./A"));
  EXPECT_FALSE(has_record(*r.plane->catalog(), "dry.example.test./A"));
}

TEST(Plane, ConcurrentWritersShareCommitsAndABadBatchFailsAlone) {
  Rig r;
  auto seed = seed_catalog();
  ASSERT_TRUE(r.start(&seed));
  constexpr int kThreads = 8, kEach = 25;
  std::atomic<int> ok{0}, failed{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        bool bad = t == 3 && i % 5 == 0;  // some invalid batches among the good ones
        // (appends: GCC 12 warns falsely on a chain of + here)
        std::string label = "h";
        label.append(std::to_string(t)).append("-").append(std::to_string(i));
        auto res = r.plane->submit(one_record(label, bad ? "not-an-ip" : "192.0.2.7"));
        (res ? ok : failed)++;
        if (res.ok() == bad) {
          ADD_FAILURE() << "t" << t << " i" << i << ": "
                        << (res ? std::string("accepted a bad batch") : res.error());
        }
      }
    });
  }
  for (auto& t : ts) {
    t.join();
  }
  EXPECT_EQ(failed.load(), 5);
  EXPECT_EQ(ok.load(), kThreads * kEach - 5);
  auto cat = r.plane->catalog();
  EXPECT_EQ(cat->revision, 1 + ok.load());
  EXPECT_EQ(cat->zones.at("example.test.").records.size(), static_cast<size_t>(1 + ok.load()));
  auto st = r.plane->stats();
  EXPECT_EQ(st.batches, static_cast<uint64_t>(1 + ok.load()));  // + the seed
  EXPECT_EQ(st.rejected, 5u);
  // Group commit: fewer transactions than batches (8 writers at once always overlap some).
  EXPECT_LT(st.groups, st.batches);
  auto changes = r.plane->store().changes(1000, 0);
  ASSERT_TRUE(changes);
  EXPECT_EQ(changes->size(), static_cast<size_t>(1 + ok.load()));
}

// Groups reuse the catalog before the last group (copy_touched) when no reader holds it: the
// catalog stays equal to the store's, and a catalog a reader holds never changes under it.
TEST(Plane, ReusedCatalogsMatchTheStoreAndReadersSeeNoChange) {
  testing::TempDir dir;
  Rig r(dir.file("plane.db"));
  auto seed = seed_catalog();
  ASSERT_TRUE(r.start(&seed));
  std::shared_ptr<const config::Catalog> held = r.plane->catalog();
  const nlohmann::json held_json = config::to_json(*held);
  constexpr int kThreads = 4, kEach = 30;
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        // Creates, re-upserts (a value change) and deletes of the same names.
        // (appends: GCC 12 warns falsely on a chain of + here)
        std::string label = "r";
        label.append(std::to_string(t)).append("-");
        config::ChangeBatch b;
        if (i % 7 == 6) {
          config::Change ch;
          ch.action = config::Action::kDelete;
          ch.key = label.append(std::to_string(i % 3)).append(".example.test./A");
          b.changes.push_back(ch);
        } else {
          std::string value = "192.0.2.";
          value.append(std::to_string(1 + i));
          b = one_record(label.append(std::to_string(i % 7)), value, config::Action::kUpsert);
        }
        (void)r.plane->submit(b);  // a delete of a name already gone fails: fine
        if (i == kEach / 2 && t == 0) {
          held = r.plane->catalog();  // a second reader, mid-stream
        }
      }
    });
  }
  for (auto& t : ts) {
    t.join();
  }
  EXPECT_NE(config::to_json(*held), held_json);  // (it is the mid-stream one now)
  auto rows = r.plane->store().load();
  ASSERT_TRUE(rows) << rows.error();
  config::Catalog stored = config::Catalog::from_rows(*rows);
  auto served = r.plane->catalog();
  EXPECT_EQ(config::to_json(*served), config::to_json(stored));
  EXPECT_EQ(served->revision, stored.revision);
  EXPECT_GT(r.plane->stats().groups, 3u);
}

TEST(Plane, HeldCatalogIsNeverChangedByLaterGroups) {
  Rig r;
  auto seed = seed_catalog();
  ASSERT_TRUE(r.start(&seed));
  std::vector<std::pair<std::shared_ptr<const config::Catalog>, nlohmann::json>> held;
  for (int i = 0; i < 20; ++i) {
    std::string label = "k", value = "192.0.2.";
    label.append(std::to_string(i % 4));
    value.append(std::to_string(i + 1));
    auto res = r.plane->submit(one_record(label, value, config::Action::kUpsert));
    ASSERT_TRUE(res) << res.error();
    if (i % 3 == 0) {
      auto c = r.plane->catalog();
      held.emplace_back(c, config::to_json(*c));
    }
  }
  for (const auto& [c, j] : held) {
    EXPECT_EQ(config::to_json(*c), j);
  }
}

// The applier runs at idle priority (core/thread_priority.h): it never delays a query thread.
TEST(Plane, ApplierThreadRunsAtIdlePriority) {
  Rig r;
  auto seed = seed_catalog();
  ASSERT_TRUE(r.start(&seed));
  // The thread names itself and lowers its priority once it runs: poll for that.
  auto idle_appliers = [] {
    int n = 0;
    for (const auto& e : std::filesystem::directory_iterator("/proc/self/task")) {
      std::ifstream comm(e.path() / "comm");
      std::string name;
      std::getline(comm, name);
      n += name == "sd-plane" &&
           sched_getscheduler(std::stoi(e.path().filename().string())) == SCHED_IDLE;
    }
    return n;
  };
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (idle_appliers() != 1 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(idle_appliers(), 1);
  EXPECT_GE(r.plane->stats().last_group_cpu_ms, 0.0);
}

TEST(Plane, PublishFailureLeavesPendingAndTheNextPublishCatchesUp) {
  Rig r;
  auto seed = seed_catalog();
  ASSERT_TRUE(r.start(&seed));
  r.fail_publish = true;
  auto a = r.plane->submit(one_record("a", "192.0.2.1"));
  ASSERT_TRUE(a) << a.error();  // durable even though not served
  EXPECT_FALSE(r.plane->wait_insync(a->change.id, std::chrono::milliseconds(200)));
  EXPECT_EQ(r.plane->served_revision(), 1);
  r.fail_publish = false;
  auto b = r.plane->submit(one_record("b", "192.0.2.2"));
  ASSERT_TRUE(b) << b.error();
  EXPECT_TRUE(r.plane->wait_insync(b->change.id, std::chrono::seconds(10)));
  EXPECT_TRUE(r.plane->wait_insync(a->change.id, std::chrono::seconds(10)));
}

TEST(Plane, RestartServesTheStoreAndMarksCrashLeftBatchesInsync) {
  steerdns::testing::TempDir dir;
  const std::string path = dir.file("steerdns.db");
  std::string pending_id;
  {
    Rig r(path);
    auto seed = seed_catalog();
    ASSERT_TRUE(r.start(&seed));
    ASSERT_TRUE(r.plane->submit(one_record("kept", "192.0.2.1")));
    r.fail_publish = true;  // as if the daemon died between commit and publish
    auto p = r.plane->submit(one_record("late", "192.0.2.2"));
    ASSERT_TRUE(p);
    pending_id = p->change.id;
  }
  {
    Rig r(path);
    // A different seed is not applied over a store that has a catalog.
    config::Catalog other;
    ASSERT_TRUE(r.start(&other));
    auto cat = r.plane->catalog();
    EXPECT_EQ(cat->revision, 3);
    EXPECT_TRUE(has_record(*cat, "kept.example.test./A"));
    EXPECT_TRUE(has_record(*cat, "late.example.test./A"));
    auto row = r.plane->store().change(pending_id);
    ASSERT_TRUE(row && row->has_value());
    EXPECT_EQ((*row)->status, "INSYNC");
  }
}

TEST(Plane, ServerSettingsUpdateRepublishesWithoutABatch) {
  Rig r;
  auto seed = seed_catalog();
  config::ServerSettings s;
  s.chaos.version = "one";
  ASSERT_TRUE(r.start(&seed, s));
  EXPECT_EQ(r.last()->chaos.version, "one");
  s.chaos.version = "two";
  s.max_udp_payload = 1400;
  ASSERT_TRUE(r.plane->update_server(s));
  EXPECT_EQ(r.last()->chaos.version, "two");
  EXPECT_EQ(r.last()->max_udp_payload, 1400);
  EXPECT_EQ(r.plane->server_settings().chaos.version, "two");
  auto changes = r.plane->store().changes(10, 0);
  ASSERT_TRUE(changes);
  EXPECT_EQ(changes->size(), 1u);  // no batch recorded for it
  // Later batches compile with the new settings.
  ASSERT_TRUE(r.plane->submit(one_record("x", "192.0.2.9")));
  EXPECT_EQ(r.last()->chaos.version, "two");
  // A publish that fails keeps the old settings.
  r.fail_publish = true;
  s.chaos.version = "three";
  EXPECT_FALSE(r.plane->update_server(s));
  EXPECT_EQ(r.plane->server_settings().chaos.version, "two");
}

}  // namespace
}  // namespace steerdns::control
