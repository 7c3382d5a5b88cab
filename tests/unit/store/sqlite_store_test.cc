// The SQLite store on real files: rows round-trip, commits are atomic, revisions are checked,
// change batches / events / state behave as store.h says, and everything survives a reopen.
#include "store/sqlite_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <set>
#include <thread>

#include "store_test_util.h"

namespace steerdns::store {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;
using testing::change_row;
using testing::del;
using testing::put_check;
using testing::put_record;
using testing::put_settings;
using testing::put_zone;
using testing::zone_row;

// "C7": built by append, not "C" + std::to_string(7), which trips GCC 12's -Wrestrict at -O3.
std::string numbered(const char* prefix, int64_t n) {
  std::string s(prefix);
  s.append(std::to_string(n));
  return s;
}

std::unique_ptr<Store> open_ok(const std::string& spec) {
  auto s = open_store(spec);
  EXPECT_TRUE(s.ok()) << s.error();
  return s.ok() ? std::move(s).value() : nullptr;
}

// Runs SQL on the file with a separate raw connection (to corrupt or inspect it).
void raw_exec(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  EXPECT_EQ(rc, SQLITE_OK) << (err != nullptr ? err : "");
  sqlite3_free(err);
  sqlite3_close(db);
}

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.file("steerdns.db");
    store_ = open_ok("sqlite:" + path_);
    ASSERT_NE(store_, nullptr);
  }
  void reopen() {
    store_.reset();
    store_ = open_ok("sqlite:" + path_);
    ASSERT_NE(store_, nullptr);
  }

  TempDir dir_;
  std::string path_;
  std::unique_ptr<Store> store_;
};

TEST_F(SqliteStoreTest, EmptyStore) {
  EXPECT_EQ(store_->describe(), "sqlite:" + path_);
  EXPECT_EQ(store_->schema_version(), SqliteStore::latest_schema_version());
  auto rows = store_->load();
  ASSERT_TRUE(rows.ok()) << rows.error();
  EXPECT_EQ(rows->revision, 0);
  EXPECT_TRUE(rows->zones.empty());
  EXPECT_TRUE(rows->records.empty());
  EXPECT_TRUE(rows->checks.empty());
  EXPECT_EQ(rows->settings, nlohmann::json::object());
}

TEST_F(SqliteStoreTest, RoundTripEveryRowKind) {
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
    reopen();  // the second pass reads what the first wrote, from disk
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

TEST_F(SqliteStoreTest, UpdatesAndDeletes) {
  Commit c;
  c.ops.push_back(put_zone(zone_row("ZA", "a.test.")));
  c.ops.push_back(put_record("ZA", "w./A", {{"v", 1}}));
  c.ops.push_back(put_check("h", 1, {{"v", 1}}));
  ASSERT_TRUE(store_->commit(c).ok());

  Commit u;
  auto z = zone_row("ZA", "a.test.");
  z.comment = "renamed comment";
  u.ops.push_back(put_zone(z));  // an update must not cascade-delete the zone's records
  u.ops.push_back(put_record("ZA", "w./A", {{"v", 2}}));
  u.ops.push_back(put_check("h", 2, {{"v", 2}}));
  auto rev = store_->commit(u);
  ASSERT_TRUE(rev.ok()) << rev.error();
  EXPECT_EQ(*rev, 2);
  auto rows = store_->load();
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->zones.at(0).comment, "renamed comment");
  ASSERT_EQ(rows->records.size(), 1u);
  EXPECT_EQ(rows->records[0].body["v"], 2);
  EXPECT_EQ(rows->checks.at(0).version, 2);

  Commit d;
  d.ops.push_back(del("record", "w./A", "ZA"));
  d.ops.push_back(del("check", "h"));
  d.ops.push_back(del("settings", ""));
  ASSERT_TRUE(store_->commit(d).ok());
  rows = store_->load();
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->zones.size(), 1u);
  EXPECT_TRUE(rows->records.empty());
  EXPECT_TRUE(rows->checks.empty());
  EXPECT_EQ(rows->revision, 3);
}

TEST_F(SqliteStoreTest, ZoneDeleteCascadesRecords) {
  Commit c;
  c.ops.push_back(put_zone(zone_row("ZA", "a.test.")));
  c.ops.push_back(put_zone(zone_row("ZB", "b.test.")));
  c.ops.push_back(put_record("ZA", "w.a.test./A", {{"v", 1}}));
  c.ops.push_back(put_record("ZA", "x.a.test./A", {{"v", 1}}));
  c.ops.push_back(put_record("ZB", "w.b.test./A", {{"v", 1}}));
  ASSERT_TRUE(store_->commit(c).ok());
  Commit d;
  d.ops.push_back(del("zone", "ZA"));
  ASSERT_TRUE(store_->commit(d).ok());
  auto rows = store_->load();
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->zones.size(), 1u);
  EXPECT_EQ(rows->zones[0].id, "ZB");
  ASSERT_EQ(rows->records.size(), 1u);
  EXPECT_EQ(rows->records[0].zone_id, "ZB");
}

TEST_F(SqliteStoreTest, FailingOpLeavesNothingWritten) {
  Commit c;
  c.ops.push_back(put_zone(zone_row("ZA", "a.test.")));
  ASSERT_TRUE(store_->commit(c).ok());

  Commit bad;
  bad.ops.push_back(put_zone(zone_row("ZB", "b.test.")));
  bad.ops.push_back(put_record("ZA", "w.a.test./A", {{"v", 1}}));
  bad.ops.push_back(put_record("ZMISSING", "w.gone.test./A", {{"v", 1}}));  // FK violation
  bad.ops.push_back(put_check("h", 1, {}));
  bad.change = change_row("CBAD");
  auto r = store_->commit(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error(), HasSubstr("op 2"));
  EXPECT_THAT(r.error(), HasSubstr("ZMISSING"));
  EXPECT_THAT(r.error(), HasSubstr("FOREIGN KEY"));
  EXPECT_THAT(r.error(), HasSubstr(path_));

  // A duplicate zone name (UNIQUE) and an unknown kind fail the same way.
  Commit dup;
  dup.ops.push_back(put_check("h", 1, {}));
  dup.ops.push_back(put_zone(zone_row("ZC", "a.test.")));
  r = store_->commit(dup);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error(), HasSubstr("UNIQUE"));
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
  // The store still works after failed commits (no transaction left open).
  auto ok = store_->commit(c);
  ASSERT_TRUE(ok.ok()) << ok.error();
  EXPECT_EQ(*ok, 2);
}

TEST_F(SqliteStoreTest, ExpectRevisionConflict) {
  Commit c;
  c.expect_revision = 0;
  c.ops.push_back(put_zone(zone_row("ZA", "a.test.")));
  ASSERT_TRUE(store_->commit(c).ok());
  Commit stale;
  stale.expect_revision = 0;
  stale.ops.push_back(put_check("h", 1, {}));
  stale.change = change_row("C2");
  auto r = store_->commit(stale);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error(), ::testing::StartsWith("conflict: store is at revision 1, expected 0"));
  auto rows = store_->load();
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->revision, 1);
  EXPECT_TRUE(rows->checks.empty());
  stale.expect_revision = 1;
  auto ok = store_->commit(stale);
  ASSERT_TRUE(ok.ok()) << ok.error();
  EXPECT_EQ(*ok, 2);
}

TEST_F(SqliteStoreTest, ChangesListingPagingAndInsync) {
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

TEST_F(SqliteStoreTest, DuplicateChangeIdFailsWholeCommit) {
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

TEST_F(SqliteStoreTest, CommitGroupIsAllOrNothing) {
  Commit a;
  a.ops.push_back(put_zone(zone_row("ZA", "a.test.")));
  a.change = change_row("CA");
  Commit b;
  b.ops.push_back(put_record("ZA", "w.a.test./A", {{"v", 1}}));
  b.change = change_row("CB");
  b.expect_revision = 1;  // checked against the group's running revision
  auto revs = store_->commit_group({a, b});
  ASSERT_TRUE(revs.ok()) << revs.error();
  EXPECT_EQ(*revs, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ((*store_->change("CB"))->revision, 2);

  Commit c;
  c.ops.push_back(put_check("h", 1, {}));
  c.change = change_row("CC");
  Commit bad;
  bad.ops.push_back(put_record("ZMISSING", "x./A", {}));
  bad.change = change_row("CBAD");
  auto r = store_->commit_group({c, bad});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error(), HasSubstr("commit 1 of a group of 2"));
  EXPECT_THAT(r.error(), HasSubstr("FOREIGN KEY"));
  auto rows = store_->load();
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->revision, 2);
  EXPECT_TRUE(rows->checks.empty());
  EXPECT_FALSE(store_->change("CC")->has_value());

  Commit stale;
  stale.expect_revision = 1;
  r = store_->commit_group({c, stale});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error(), ::testing::StartsWith("conflict: store is at revision 3, expected 1"));
  EXPECT_EQ(store_->load()->revision, 2);
  auto empty = store_->commit_group({});
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(SqliteStoreEvents, AppendEventsBatchAndLastEvents) {
  TempDir dir;
  SqliteOptions opts;
  opts.retain_events = 4;
  auto s = SqliteStore::open(dir.file("e.db"), opts);
  ASSERT_TRUE(s.ok()) << s.error();
  auto& store = **s;
  std::vector<std::pair<int64_t, nlohmann::json>> batch;
  for (int i = 1; i <= 6; ++i) {
    batch.emplace_back(i, nlohmann::json{{"i", i}});
  }
  ASSERT_TRUE(store.append_events(batch).ok());
  ASSERT_TRUE(store.append_events({}).ok());
  auto all = store.last_events(0);
  ASSERT_TRUE(all.ok()) << all.error();
  ASSERT_EQ(all->size(), 4u);  // pruned to retain once, after the batch
  EXPECT_EQ((*all)[0].body["i"], 3);
  EXPECT_EQ((*all)[3].body["i"], 6);
  auto last2 = store.last_events(2);
  ASSERT_TRUE(last2.ok());
  ASSERT_EQ(last2->size(), 2u);
  EXPECT_EQ((*last2)[0].body["i"], 5);  // oldest first
  EXPECT_EQ((*last2)[1].time_ms, 6);
  EXPECT_LT((*last2)[0].seq, (*last2)[1].seq);
}

TEST(SqliteStoreEvents, AppendPruneAfterSeq) {
  TempDir dir;
  SqliteOptions opts;
  opts.retain_events = 5;
  auto s = SqliteStore::open(dir.file("e.db"), opts);
  ASSERT_TRUE(s.ok()) << s.error();
  auto& store = **s;
  int64_t last = 0;
  for (int i = 1; i <= 12; ++i) {
    auto seq = store.append_event(1000 + i, {{"type", "t"}, {"i", i}});
    ASSERT_TRUE(seq.ok()) << seq.error();
    EXPECT_GT(*seq, last);
    last = *seq;
  }
  auto all = store.events(0, 100);
  ASSERT_TRUE(all.ok()) << all.error();
  ASSERT_EQ(all->size(), 5u);  // pruned to the newest 5
  EXPECT_EQ((*all)[0].body["i"], 8);
  EXPECT_EQ((*all)[4].body["i"], 12);
  EXPECT_EQ((*all)[4].seq, last);
  EXPECT_EQ((*all)[4].time_ms, 1012);
  auto after = store.events((*all)[1].seq, 2);
  ASSERT_TRUE(after.ok());
  ASSERT_EQ(after->size(), 2u);
  EXPECT_EQ((*after)[0].body["i"], 10);
  EXPECT_EQ((*after)[1].body["i"], 11);
  auto none = store.events(last, 10);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST_F(SqliteStoreTest, StatePutGetOverwrite) {
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

TEST_F(SqliteStoreTest, CorruptJsonIsAnErrorNamingTheCell) {
  Commit c;
  c.ops.push_back(put_zone(zone_row("ZA", "a.test.")));
  c.ops.push_back(put_record("ZA", "w.a.test./A", {{"v", 1}}));
  c.change = change_row("C1");
  ASSERT_TRUE(store_->commit(c).ok());
  ASSERT_TRUE(store_->put_state("health", {}).ok());
  store_.reset();
  raw_exec(path_,
           "UPDATE records SET body = '{broken' WHERE key = 'w.a.test./A';"
           "UPDATE state SET value = 'nope' WHERE key = 'health';"
           "UPDATE changes SET changes = '[1,' WHERE id = 'C1';");
  reopen();
  auto rows = store_->load();
  ASSERT_FALSE(rows.ok());
  EXPECT_THAT(rows.error(), HasSubstr("records.body"));
  EXPECT_THAT(rows.error(), HasSubstr("w.a.test./A"));
  auto st = store_->get_state("health");
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.error(), HasSubstr("state.value"));
  auto ch = store_->change("C1");
  ASSERT_FALSE(ch.ok());
  EXPECT_THAT(ch.error(), HasSubstr("changes.changes"));
}

TEST_F(SqliteStoreTest, PragmasAreSet) {
  store_.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(s), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(s, 0)), "wal");
  sqlite3_finalize(s);
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA application_id", -1, &s, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(s), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(s, 0), SqliteStore::kApplicationId);
  sqlite3_finalize(s);
  sqlite3_close(db);
}

TEST_F(SqliteStoreTest, ConcurrentCommitsAllLand) {
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

TEST(SqliteStoreMemory, WorksWithoutAFile) {
  auto s = open_store("sqlite::memory:");
  ASSERT_TRUE(s.ok()) << s.error();
  EXPECT_EQ((*s)->describe(), "sqlite::memory:");
  Commit c;
  c.ops.push_back(put_zone(zone_row("ZA", "a.test.")));
  c.ops.push_back(put_record("ZA", "w./A", {}));
  ASSERT_TRUE((*s)->commit(c).ok());
  Commit d;
  d.ops.push_back(put_record("ZX", "w./A", {}));
  EXPECT_FALSE((*s)->commit(d).ok());  // foreign keys are on here too
  auto rows = (*s)->load();
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->records.size(), 1u);
}

}  // namespace
}  // namespace steerdns::store
