// The Store contract (store.h), once, against every backend: SQLite on a file and etcd on the
// binary's shared etcd (a fresh key prefix per test). Only what every backend must do is here;
// what one backend does beyond it is in sqlite_store_test.cc / etcd_store_test.cc. Where the
// backends legitimately differ (event seq encoding, error wording) the test asserts the
// contract (increasing seqs, "conflict: " first, the store and the culprit named).
#include <gmock/gmock.h>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <thread>

#include "etcd_test_util.h"
#include "store/etcd/etcd_store.h"
#include "store/sqlite_store.h"
#include "store_test_util.h"

namespace steerdns::store {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using testing::change_row;
using testing::del;
using testing::numbered;
using testing::put_check;
using testing::put_record;
using testing::put_settings;
using testing::put_zone;
using testing::zone_row;

// Retention knobs a test may turn down; 0 = the backend's default.
struct Tuning {
  size_t retain_events = 0;
  int64_t retain_alerts_ms = 0;
};

// One backend under test: opens stores on the same data (a reopen sees what was committed)
// and knows the words its errors use.
class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::unique_ptr<Store> open(const Tuning& t) = 0;
  // Named by every error of the store (the file, the endpoint).
  virtual std::string where() const = 0;
  // The reason a record for zone `id` that does not exist is refused.
  virtual std::string missing_zone(const std::string& id) const = 0;
  // The start of a lost compare-and-swap's error.
  virtual std::string conflict(int64_t at, int64_t expected) const = 0;
};

class SqliteBackend : public Backend {
 public:
  std::unique_ptr<Store> open(const Tuning& t) override {
    if (t.retain_events == 0 && t.retain_alerts_ms == 0) {
      return checked(open_store("sqlite:" + path_));  // the spec path, as the daemon opens it
    }
    SqliteOptions o;
    o.retain_events = t.retain_events != 0 ? t.retain_events : o.retain_events;
    o.retain_alerts_ms = t.retain_alerts_ms != 0 ? t.retain_alerts_ms : o.retain_alerts_ms;
    return checked(SqliteStore::open(path_, o));
  }
  std::string where() const override { return path_; }
  std::string missing_zone(const std::string&) const override { return "FOREIGN KEY"; }
  std::string conflict(int64_t at, int64_t expected) const override {
    return fmt::format("conflict: store is at revision {}, expected {}", at, expected);
  }

 private:
  template <class R>
  static std::unique_ptr<Store> checked(R r) {
    EXPECT_TRUE(r.ok()) << r.error();
    return r.ok() ? std::unique_ptr<Store>(std::move(r).value()) : nullptr;
  }
  testing::TempDir dir_;
  std::string path_ = dir_.file("steerdns.db");
};

class EtcdBackend : public Backend {
 public:
  std::unique_ptr<Store> open(const Tuning& t) override {
    auto& cluster = testing::shared_etcd();
    EXPECT_TRUE(cluster.healthy());
    if (t.retain_events == 0 && t.retain_alerts_ms == 0) {
      std::string spec = cluster.spec();
      spec.append("?prefix=").append(prefix_);
      auto s = open_store(spec, OpenOptions{"a"});
      EXPECT_TRUE(s.ok()) << s.error();
      return s.ok() ? std::move(s).value() : nullptr;
    }
    etcd::Options o;
    o.endpoints = cluster.endpoints();
    o.prefix = prefix_;
    EtcdStoreOptions so;
    if (t.retain_events != 0) {
      so.retain_events = t.retain_events;
      so.prune_every = 1;  // prune on every append, as SQLite does
    }
    if (t.retain_alerts_ms != 0) {
      so.retain_alerts_ms = t.retain_alerts_ms;
      so.prune_alerts_every = 1;
    }
    auto s = EtcdStore::open(o, "a", so);
    EXPECT_TRUE(s.ok()) << s.error();
    return s.ok() ? std::unique_ptr<Store>(std::move(s).value()) : nullptr;
  }
  std::string where() const override { return testing::shared_etcd().endpoint(0); }
  std::string missing_zone(const std::string& id) const override {
    return fmt::format("zone '{}' does not exist", id);
  }
  std::string conflict(int64_t at, int64_t expected) const override {
    return fmt::format("conflict: catalog revision is {}, expected {}", at, expected);
  }

 private:
  std::string prefix_ = testing::fresh_prefix();
};

std::unique_ptr<Backend> make_backend(const std::string& name) {
  if (name == "etcd") {
    return std::make_unique<EtcdBackend>();
  }
  return std::make_unique<SqliteBackend>();
}

class StoreContract : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    backend_ = make_backend(GetParam());
    store_ = backend_->open({});
    ASSERT_NE(store_, nullptr);
  }
  // Closes and opens again: what a restarted daemon sees.
  void reopen() {
    store_.reset();
    store_ = backend_->open({});
    ASSERT_NE(store_, nullptr);
  }
  // A second store on the same data with retention turned down (the first stays open).
  std::unique_ptr<Store> open_tuned(const Tuning& t) {
    auto s = backend_->open(t);
    EXPECT_NE(s, nullptr);
    return s;
  }

  std::unique_ptr<Backend> backend_;
  std::unique_ptr<Store> store_;
};

TEST_P(StoreContract, EmptyStore) {
  EXPECT_FALSE(store_->describe().empty());
  auto rows = store_->load();
  ASSERT_TRUE(rows.ok()) << rows.error();
  EXPECT_EQ(rows->revision, 0);
  EXPECT_TRUE(rows->zones.empty());
  EXPECT_TRUE(rows->records.empty());
  EXPECT_TRUE(rows->checks.empty());
  EXPECT_EQ(rows->settings, nlohmann::json::object());
}

TEST_P(StoreContract, RoundTripEveryRowKind) {
  Commit c;
  // Inserted out of order: load() must sort zones by name, records by zone/key, checks by id.
  c.ops.push_back(put_zone(zone_row("ZB", "b.test.")));
  c.ops.push_back(put_zone(zone_row("ZA", "a.test.")));
  c.ops.push_back(put_record("ZB", "www.b.test./A", {{"ttl", 60}, {"values", {"192.0.2.1"}}}));
  c.ops.push_back(put_record("ZA", "x.a.test./TXT", {{"values", {"h\u00e9llo \"q\""}}}));
  c.ops.push_back(put_record("ZA", "a.test./MX", {{"values", {"10 mx.a.test."}}}));
  c.ops.push_back(put_check("primary", 3, {{"type", "http"}, {"port", 8080}}));
  c.ops.push_back(put_check("backup", 1, {{"type", "tcp"}}));
  c.ops.push_back(put_settings({{"latency_map", {{"eu", "10.0.0.0/8"}}}}));
  c.change = change_row("C1", "first");
  auto rev = store_->commit(c);
  ASSERT_TRUE(rev.ok()) << rev.error();
  EXPECT_EQ(*rev, 1);

  for (int pass = 0; pass < 2; ++pass) {
    auto rows = store_->load();
    ASSERT_TRUE(rows.ok()) << rows.error();
    EXPECT_EQ(rows->revision, 1);
    ASSERT_EQ(rows->zones.size(), 2u);
    EXPECT_EQ(rows->zones[0].id, "ZA");
    EXPECT_EQ(rows->zones[0].name, "a.test.");
    EXPECT_EQ(rows->zones[0].caller_ref, "ref-ZA");
    EXPECT_EQ(rows->zones[0].comment, "zone a.test.");
    EXPECT_EQ(rows->zones[0].settings, zone_row("ZA", "a.test.").settings);
    EXPECT_EQ(rows->zones[0].created_ms, 1700000000000);
    EXPECT_EQ(rows->zones[1].name, "b.test.");
    ASSERT_EQ(rows->records.size(), 3u);
    EXPECT_EQ(rows->records[0].zone_id, "ZA");
    EXPECT_EQ(rows->records[0].key, "a.test./MX");
    EXPECT_EQ(rows->records[1].key, "x.a.test./TXT");
    EXPECT_EQ(rows->records[1].body["values"][0], "h\u00e9llo \"q\"");
    EXPECT_EQ(rows->records[2].zone_id, "ZB");
    EXPECT_EQ(rows->records[2].body["ttl"], 60);
    ASSERT_EQ(rows->checks.size(), 2u);
    EXPECT_EQ(rows->checks[0].id, "backup");
    EXPECT_EQ(rows->checks[1].id, "primary");
    EXPECT_EQ(rows->checks[1].version, 3);
    EXPECT_EQ(rows->checks[1].caller_ref, "cref-primary");
    EXPECT_EQ(rows->checks[1].body["port"], 8080);
    EXPECT_EQ(rows->settings["latency_map"]["eu"], "10.0.0.0/8");
    reopen();  // the second pass reads what the first wrote, through a new store
  }
  auto ch = store_->change("C1");
  ASSERT_TRUE(ch.ok()) << ch.error();
  ASSERT_TRUE(ch->has_value());
  EXPECT_EQ((*ch)->revision, 1);
  EXPECT_EQ((*ch)->status, "PENDING");
  EXPECT_EQ((*ch)->author, "test");
  EXPECT_EQ((*ch)->comment, "first");
  EXPECT_EQ((*ch)->submitted_ms, 1700000000123);
  EXPECT_EQ((*ch)->insync_ms, 0);
  EXPECT_EQ((*ch)->changes, change_row("C1", "first").changes);
  auto missing = store_->change("CNOPE");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
}

TEST_P(StoreContract, UpdatesDeletesAndZoneCascade) {
  Commit c;
  c.ops.push_back(put_zone(zone_row("ZA", "a.test.")));
  c.ops.push_back(put_zone(zone_row("ZB", "b.test.")));
  c.ops.push_back(put_record("ZA", "w.a.test./A", {{"v", 1}}));
  c.ops.push_back(put_record("ZA", "x.a.test./A", {{"v", 1}}));
  c.ops.push_back(put_record("ZA", "y.a.test./A", {{"v", 1}}));
  c.ops.push_back(put_record("ZB", "w.b.test./A", {{"v", 1}}));
  c.ops.push_back(put_check("h", 1, {{"v", 1}}));
  c.ops.push_back(put_settings({{"geoip", "x"}}));
  ASSERT_TRUE(store_->commit(c).ok());

  Commit u;
  auto z = zone_row("ZA", "a.test.");
  z.comment = "renamed comment";
  u.ops.push_back(put_zone(z));  // an update must not cascade-delete the zone's records
  u.ops.push_back(put_record("ZA", "w.a.test./A", {{"v", 2}}));
  u.ops.push_back(put_check("h", 2, {{"v", 2}}));
  auto rev = store_->commit(u);
  ASSERT_TRUE(rev.ok()) << rev.error();
  EXPECT_EQ(*rev, 2);
  auto rows = store_->load();
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->zones.at(0).comment, "renamed comment");
  ASSERT_EQ(rows->records.size(), 4u);
  EXPECT_EQ(rows->records[0].body["v"], 2);
  EXPECT_EQ(rows->checks.at(0).version, 2);

  Commit d;
  d.ops.push_back(del("record", "y.a.test./A", "ZA"));
  d.ops.push_back(del("check", "h"));
  d.ops.push_back(del("settings", ""));
  ASSERT_TRUE(store_->commit(d).ok());
  rows = store_->load();
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->zones.size(), 2u);
  ASSERT_EQ(rows->records.size(), 3u);
  EXPECT_EQ(rows->records[1].key, "x.a.test./A");
  EXPECT_TRUE(rows->checks.empty());
  EXPECT_EQ(rows->settings, nlohmann::json::object());
  EXPECT_EQ(rows->revision, 3);

  Commit dz;
  dz.ops.push_back(del("zone", "ZA"));  // and its records with it, the other zone's kept
  ASSERT_TRUE(store_->commit(dz).ok());
  rows = store_->load();
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->zones.size(), 1u);
  EXPECT_EQ(rows->zones[0].id, "ZB");
  ASSERT_EQ(rows->records.size(), 1u);
  EXPECT_EQ(rows->records[0].zone_id, "ZB");
  EXPECT_EQ(rows->revision, 4);
}

TEST_P(StoreContract, FailingOpLeavesNothingWritten) {
  Commit c;
  c.ops.push_back(put_zone(zone_row("ZA", "a.test.")));
  ASSERT_TRUE(store_->commit(c).ok());

  Commit bad;
  bad.ops.push_back(put_zone(zone_row("ZB", "b.test.")));
  bad.ops.push_back(put_record("ZA", "w.a.test./A", {{"v", 1}}));
  bad.ops.push_back(put_record("ZMISSING", "w.gone.test./A", {{"v", 1}}));
  bad.ops.push_back(put_check("h", 1, {}));
  bad.change = change_row("CBAD");
  auto r = store_->commit(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error(), HasSubstr("op 2"));
  EXPECT_THAT(r.error(), HasSubstr("ZMISSING"));
  EXPECT_THAT(r.error(), HasSubstr(backend_->missing_zone("ZMISSING")));
  EXPECT_THAT(r.error(), HasSubstr(backend_->where()));

  Commit unknown;
  unknown.ops.push_back(put_check("h", 1, {}));
  unknown.ops.push_back(del("bogus", "k"));
  r = store_->commit(unknown);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error(), HasSubstr("unknown kind 'bogus'"));
  Commit not_object;
  not_object.ops.push_back(put_settings(nlohmann::json::array()));
  r = store_->commit(not_object);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error(), HasSubstr("settings must be a JSON object"));

  reopen();
  auto rows = store_->load();
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->revision, 1);
  ASSERT_EQ(rows->zones.size(), 1u);
  EXPECT_EQ(rows->zones[0].id, "ZA");
  EXPECT_TRUE(rows->records.empty());
  EXPECT_TRUE(rows->checks.empty());
  auto ch = store_->change("CBAD");
  ASSERT_TRUE(ch.ok());
  EXPECT_FALSE(ch->has_value());
  // The store still works after failed commits (nothing left half open).
  auto ok = store_->commit(c);
  ASSERT_TRUE(ok.ok()) << ok.error();
  EXPECT_EQ(*ok, 2);
}

TEST_P(StoreContract, ExpectRevisionConflictWritesNothing) {
  Commit c;
  c.expect_revision = 0;
  c.ops.push_back(put_zone(zone_row("ZA", "a.test.")));
  ASSERT_TRUE(store_->commit(c).ok());
  Commit stale;
  stale.expect_revision = 0;
  stale.ops.push_back(put_check("h", 1, {}));
  stale.change = change_row("C2");
  stale.events.emplace_back(1, nlohmann::json{{"type", "x"}});
  auto r = store_->commit(stale);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error(), StartsWith(backend_->conflict(1, 0)));
  auto rows = store_->load();
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->revision, 1);
  EXPECT_TRUE(rows->checks.empty());
  EXPECT_FALSE(store_->change("C2")->has_value());
  EXPECT_TRUE(store_->last_events(0)->empty());
  stale.expect_revision = 1;
  auto ok = store_->commit(stale);
  ASSERT_TRUE(ok.ok()) << ok.error();
  EXPECT_EQ(*ok, 2);
  EXPECT_EQ(store_->last_events(0)->size(), 1u);
}

TEST_P(StoreContract, ChangesListingPagingAndInsync) {
  for (int i = 1; i <= 7; ++i) {
    Commit c;
    c.ops.push_back(put_check("h", i, {{"i", i}}));
    c.change = change_row(numbered("C", i), numbered("batch ", i));
    auto r = store_->commit(c);
    ASSERT_TRUE(r.ok()) << r.error();
    EXPECT_EQ(*r, i);
  }
  {
    Commit no_change;  // a commit without a change record still bumps the revision
    no_change.ops.push_back(put_check("h", 8, {}));
    ASSERT_EQ(*store_->commit(no_change), 8);
  }
  auto page1 = store_->changes(3);
  ASSERT_TRUE(page1.ok()) << page1.error();
  ASSERT_EQ(page1->size(), 3u);
  EXPECT_EQ((*page1)[0].id, "C7");
  EXPECT_EQ((*page1)[1].id, "C6");
  EXPECT_EQ((*page1)[2].revision, 5);
  auto page2 = store_->changes(3, page1->back().revision);
  ASSERT_TRUE(page2.ok());
  ASSERT_EQ(page2->size(), 3u);
  EXPECT_EQ((*page2)[0].revision, 4);
  EXPECT_EQ((*page2)[2].revision, 2);
  auto page3 = store_->changes(3, page2->back().revision);
  ASSERT_TRUE(page3.ok());
  ASSERT_EQ(page3->size(), 1u);
  EXPECT_EQ((*page3)[0].id, "C1");

  auto pending = store_->pending_changes();
  ASSERT_TRUE(pending.ok());
  EXPECT_EQ(pending->size(), 7u);
  ASSERT_TRUE(store_->mark_insync({"C1", "C2", "C5"}, 1700000009999).ok());
  ASSERT_TRUE(store_->mark_insync({"C1"}, 1800000000000).ok());  // already INSYNC: kept
  auto bad = store_->mark_insync({"C3", "CNOPE"}, 1);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.error(), HasSubstr("CNOPE"));
  reopen();
  pending = store_->pending_changes();
  ASSERT_TRUE(pending.ok());
  std::vector<std::string> ids;
  for (const auto& ch : *pending) {
    ids.push_back(ch.id);
  }
  // C3 stays PENDING: the failed call changed nothing. Oldest first.
  EXPECT_EQ(ids, (std::vector<std::string>{"C3", "C4", "C6", "C7"}));
  auto c1 = store_->change("C1");
  ASSERT_TRUE(c1.ok() && c1->has_value());
  EXPECT_EQ((*c1)->status, "INSYNC");
  EXPECT_EQ((*c1)->insync_ms, 1700000009999);
  auto none = store_->changes(0);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST_P(StoreContract, DuplicateChangeIdFailsWholeCommit) {
  Commit c;
  c.change = change_row("CSAME");
  ASSERT_TRUE(store_->commit(c).ok());
  c.ops.push_back(put_check("h", 1, {}));
  auto r = store_->commit(c);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error(), HasSubstr("CSAME"));
  auto rows = store_->load();
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->revision, 1);
  EXPECT_TRUE(rows->checks.empty());
}

TEST_P(StoreContract, CommitGroupIsAllOrNothing) {
  Commit a;
  a.ops.push_back(put_zone(zone_row("ZA", "a.test.")));
  a.ops.push_back(put_check("h", 1, {{"from", "a"}}));
  a.change = change_row("CA");
  Commit b;
  b.ops.push_back(put_record("ZA", "w.a.test./A", {{"v", 1}}));
  b.ops.push_back(put_check("h", 2, {{"from", "b"}}));  // the same key twice in one group
  b.change = change_row("CB");
  b.expect_revision = 1;  // checked against the group's running revision
  auto revs = store_->commit_group({a, b});
  ASSERT_TRUE(revs.ok()) << revs.error();
  EXPECT_EQ(*revs, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ((*store_->change("CA"))->revision, 1);
  EXPECT_EQ((*store_->change("CB"))->revision, 2);
  EXPECT_EQ(store_->load()->checks.at(0).body["from"], "b");

  Commit c;
  c.ops.push_back(put_check("h2", 1, {}));
  c.change = change_row("CC");
  Commit bad;
  bad.ops.push_back(put_record("ZMISSING", "x./A", {}));
  bad.change = change_row("CBAD");
  auto r = store_->commit_group({c, bad});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error(), HasSubstr("commit 1 of a group of 2"));
  EXPECT_THAT(r.error(), HasSubstr(backend_->missing_zone("ZMISSING")));
  auto rows = store_->load();
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->revision, 2);
  EXPECT_EQ(rows->checks.size(), 1u);
  EXPECT_FALSE(store_->change("CC")->has_value());

  Commit stale;
  stale.expect_revision = 1;
  r = store_->commit_group({c, stale});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error(), StartsWith(backend_->conflict(3, 1)));
  EXPECT_EQ(store_->load()->revision, 2);
  auto empty = store_->commit_group({});
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

// Seqs are only said to increase (etcd's are create_revision * 1024 + index, SQLite's 1, 2, 3):
// every position below is found through after_seq, never by arithmetic on seq.
TEST_P(StoreContract, EventsOrderAfterSeqAndPruning) {
  auto s = open_tuned({.retain_events = 5});
  ASSERT_NE(s, nullptr);
  int64_t last = 0;
  for (int i = 1; i <= 12; ++i) {
    auto seq = s->append_event(1000 + i, {{"type", "t"}, {"i", i}});
    ASSERT_TRUE(seq.ok()) << seq.error();
    EXPECT_GT(*seq, last);
    last = *seq;
  }
  auto all = s->events(0, 100);
  ASSERT_TRUE(all.ok()) << all.error();
  ASSERT_EQ(all->size(), 5u);  // pruned to the newest 5
  EXPECT_EQ((*all)[0].body["i"], 8);
  EXPECT_EQ((*all)[4].body["i"], 12);
  EXPECT_EQ((*all)[4].seq, last);
  EXPECT_EQ((*all)[4].time_ms, 1012);
  auto after = s->events((*all)[1].seq, 2);
  ASSERT_TRUE(after.ok());
  ASSERT_EQ(after->size(), 2u);
  EXPECT_EQ((*after)[0].body["i"], 10);
  EXPECT_EQ((*after)[1].body["i"], 11);
  auto none = s->events(last, 10);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());

  // A batch is written at once (etcd: one revision); seq still orders it, paging splits it.
  std::vector<std::pair<int64_t, nlohmann::json>> batch;
  for (int i = 13; i <= 16; ++i) {
    batch.emplace_back(2000 + i, nlohmann::json{{"i", i}});
  }
  ASSERT_TRUE(s->append_events(batch).ok());
  ASSERT_TRUE(s->append_events({}).ok());
  auto tail = s->events(last, 2);
  ASSERT_TRUE(tail.ok());
  ASSERT_EQ(tail->size(), 2u);
  EXPECT_EQ((*tail)[0].body["i"], 13);
  EXPECT_EQ((*tail)[1].body["i"], 14);
  auto rest = s->events(tail->back().seq, 10);
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->size(), 2u);
  EXPECT_EQ((*rest)[0].body["i"], 15);
  EXPECT_EQ((*rest)[1].body["i"], 16);
  auto last2 = s->last_events(2);
  ASSERT_TRUE(last2.ok());
  ASSERT_EQ(last2->size(), 2u);
  EXPECT_EQ((*last2)[0].body["i"], 15);  // oldest first
  EXPECT_EQ((*last2)[1].time_ms, 2016);
  EXPECT_LT((*last2)[0].seq, (*last2)[1].seq);
  auto kept = s->last_events(0);
  ASSERT_TRUE(kept.ok());
  ASSERT_EQ(kept->size(), 5u);  // pruned to retain once, after the batch
  EXPECT_EQ(kept->front().body["i"], 12);
  EXPECT_EQ(kept->back().body["i"], 16);
}

// One batch larger than what is kept: the pruning cut falls inside it, and only its newest
// events may survive.
// (etcd: a batch shares one create revision; the order inside it is the seq's index.)
TEST_P(StoreContract, PruningInsideABatchKeepsItsNewest) {
  auto s = open_tuned({.retain_events = 4});
  ASSERT_NE(s, nullptr);
  std::vector<std::pair<int64_t, nlohmann::json>> batch;
  for (int i = 1; i <= 6; ++i) {
    batch.emplace_back(i, nlohmann::json{{"i", i}});
  }
  ASSERT_TRUE(s->append_events(batch).ok());
  ASSERT_TRUE(s->append_events({}).ok());
  auto all = s->last_events(0);
  ASSERT_TRUE(all.ok()) << all.error();
  ASSERT_EQ(all->size(), 4u);  // pruned to retain once, after the batch
  EXPECT_EQ((*all)[0].body["i"], 3);
  EXPECT_EQ((*all)[3].body["i"], 6);
  EXPECT_EQ((*all)[3].time_ms, 6);
  EXPECT_LT((*all)[2].seq, (*all)[3].seq);  // last_events(n) itself: EventsOrderAfterSeq...
}

TEST_P(StoreContract, StatePutGetOverwrite) {
  auto missing = store_->get_state("health");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
  ASSERT_TRUE(store_->put_state("health", {{"a", "up"}}).ok());
  ASSERT_TRUE(store_->put_state("steering", nlohmann::json::array({1, 2})).ok());
  ASSERT_TRUE(store_->put_state("health", {{"a", "down"}}).ok());
  reopen();
  auto h = store_->get_state("health");
  ASSERT_TRUE(h.ok() && h->has_value());
  EXPECT_EQ(**h, (nlohmann::json{{"a", "down"}}));
  auto st = store_->get_state("steering");
  ASSERT_TRUE(st.ok() && st->has_value());
  EXPECT_EQ(**st, nlohmann::json::array({1, 2}));
}

OutboxRow outbox_row(const std::string& alert, const std::string& dedup, int64_t t) {
  OutboxRow o;
  o.alert_id = alert;
  o.channel = "webhook";
  o.dedup_key = dedup;
  o.payload = {{"text", dedup}};
  o.created_ms = t;
  o.next_attempt_ms = t;
  return o;
}

TEST_P(StoreContract, AlertsAndOutbox) {
  auto s = open_tuned({.retain_alerts_ms = 1000});
  ASSERT_NE(s, nullptr);
  // Alerts are listed oldest first by the step that created them (the order within one step
  // is the backend's), so A2 gets a step of its own.
  AlertCommit first;
  first.alerts.push_back({"A2", {{"state", "firing"}, {"updated_ms", 90}}});
  ASSERT_TRUE(s->commit_alerts(first).ok());
  AlertCommit c;
  c.alerts.push_back({"A1", {{"state", "firing"}, {"updated_ms", 100}}});
  c.alerts.push_back({"A2", {{"state", "firing"}, {"updated_ms", 100}}});
  c.enqueue.push_back(outbox_row("A2", "A2/firing", 100));
  c.enqueue.push_back(outbox_row("A1", "A1/firing", 101));
  c.enqueue.push_back(outbox_row("A1", "A1/firing", 101));  // the same key twice: once
  c.state.emplace_back("alerts-cursor", 7);
  ASSERT_TRUE(s->commit_alerts(c).ok());
  ASSERT_TRUE(s->commit_alerts(c).ok());  // replayed after a crash: nothing queued twice
  auto alerts = s->alerts();
  ASSERT_TRUE(alerts.ok()) << alerts.error();
  ASSERT_EQ(alerts->size(), 2u);
  EXPECT_EQ((*alerts)[0].id, "A2");  // oldest first
  EXPECT_EQ(**s->get_state("alerts-cursor"), 7);
  auto due = s->outbox_due(100, 10);
  ASSERT_TRUE(due.ok()) << due.error();
  ASSERT_EQ(due->size(), 1u);
  EXPECT_EQ((*due)[0].dedup_key, "A2/firing");
  due = s->outbox_due(200, 10);
  ASSERT_TRUE(due.ok());
  ASSERT_EQ(due->size(), 2u);
  const int64_t id1 = (*due)[0].id;
  const int64_t id2 = (*due)[1].id;
  EXPECT_LT(id1, id2);
  EXPECT_EQ((*due)[1].payload["text"], "A1/firing");

  ASSERT_TRUE(s->outbox_attempt(id1, "pending", 500, {{"ok", false}, {"detail", "503"}}, 150).ok());
  ASSERT_TRUE(s->outbox_attempt(id2, "delivered", 0, {{"ok", true}}, 160).ok());
  auto bad = s->outbox_attempt(id1, "lost", 0, {}, 1);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.error(), HasSubstr("status 'lost'"));
  auto none = s->outbox_attempt(999, "dead", 0, {}, 1);
  ASSERT_FALSE(none.ok());
  EXPECT_THAT(none.error(), HasSubstr("no outbox row 999"));
  EXPECT_TRUE(s->outbox_due(200, 10)->empty());
  auto rows = s->outbox(10, "");
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].id, id2);  // newest first
  EXPECT_EQ((*rows)[0].status, "delivered");
  EXPECT_EQ((*rows)[0].done_ms, 160);
  EXPECT_EQ((*rows)[1].attempts, 1);
  EXPECT_EQ((*rows)[1].next_attempt_ms, 500);
  ASSERT_EQ((*rows)[1].history.size(), 1u);
  EXPECT_EQ((*rows)[1].history[0]["detail"], "503");
  auto for_a2 = s->outbox(10, "A2");
  ASSERT_TRUE(for_a2.ok());
  ASSERT_EQ(for_a2->size(), 1u);
  EXPECT_EQ((*for_a2)[0].id, id1);
  auto stats = s->outbox_stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->pending, 1);
  EXPECT_EQ(stats->delivered, 1);
  EXPECT_EQ(stats->dead, 0);
  EXPECT_EQ(stats->oldest_pending_ms, 100);

  // Much later: the resolved alert and the delivered row are pruned, dedup key included.
  AlertCommit later;
  later.alerts.push_back({"A1", {{"state", "resolved"}, {"updated_ms", 200}}});
  ASSERT_TRUE(s->commit_alerts(later).ok());
  AlertCommit much_later;
  much_later.alerts.push_back({"A3", {{"state", "firing"}, {"updated_ms", 5000}}});
  ASSERT_TRUE(s->commit_alerts(much_later).ok());
  alerts = s->alerts();
  ASSERT_TRUE(alerts.ok());
  std::vector<std::string> ids;
  for (const auto& a : *alerts) {
    ids.push_back(a.id);
  }
  EXPECT_EQ(ids, (std::vector<std::string>{"A2", "A3"}));
  rows = s->outbox(10, "");
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].id, id1);
  AlertCommit again;
  again.enqueue.push_back(outbox_row("A1", "A1/firing", 6000));
  ASSERT_TRUE(s->commit_alerts(again).ok());
  EXPECT_EQ(s->outbox_stats()->pending, 2);
}

// store.h: safe from several threads, readers never see half a commit.
TEST_P(StoreContract, ConcurrentCommitsAllLand) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 25;
  std::vector<std::vector<int64_t>> seen(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        Commit c;
        std::string id = numbered("h", t) + numbered("-", i);
        c.ops.push_back(put_check(id, 1, {{"t", t}}));
        c.change = change_row(make_id('C'));
        auto r = store_->commit(c);
        if (r.ok()) {
          seen[t].push_back(*r);
        }
        // Readers run meanwhile and never see a half commit (one check per revision).
        auto rows = store_->load();
        if (rows.ok()) {
          EXPECT_EQ(static_cast<int64_t>(rows->checks.size()), rows->revision);
        }
      }
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  std::set<int64_t> all;
  for (const auto& v : seen) {
    ASSERT_EQ(v.size(), static_cast<size_t>(kPerThread));
    EXPECT_TRUE(std::is_sorted(v.begin(), v.end()));
    all.insert(v.begin(), v.end());
  }
  ASSERT_EQ(all.size(), static_cast<size_t>(kThreads * kPerThread));
  EXPECT_EQ(*all.begin(), 1);
  EXPECT_EQ(*all.rbegin(), kThreads * kPerThread);
  auto rows = store_->load();
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->checks.size(), static_cast<size_t>(kThreads * kPerThread));
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreContract, ::testing::Values("sqlite", "etcd"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

}  // namespace
}  // namespace steerdns::store
