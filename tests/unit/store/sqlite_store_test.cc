// What the SQLite store does beyond the Store contract (store_contract_test.cc runs that on
// every backend): its describe() and schema, its UNIQUE constraint, corrupt cells named,
// the pragmas it sets, and ":memory:".
#include "store/sqlite_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include "store_test_util.h"

namespace steerdns::store {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;
using testing::change_row;
using testing::put_check;
using testing::put_record;
using testing::put_zone;
using testing::zone_row;

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

TEST_F(SqliteStoreTest, DescribeAndSchemaVersion) {
  EXPECT_EQ(store_->describe(), "sqlite:" + path_);
  EXPECT_EQ(store_->schema_version(), SqliteStore::latest_schema_version());
  EXPECT_FALSE(store_->shared());
}

// SQLite's own constraint (zones.name UNIQUE): a second zone of the same name fails the commit.
TEST_F(SqliteStoreTest, DuplicateZoneNameFailsWholeCommit) {
  Commit c;
  c.ops.push_back(put_zone(zone_row("ZA", "a.test.")));
  ASSERT_TRUE(store_->commit(c).ok());
  Commit dup;
  dup.ops.push_back(put_check("h", 1, {}));
  dup.ops.push_back(put_zone(zone_row("ZC", "a.test.")));
  auto r = store_->commit(dup);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error(), HasSubstr("UNIQUE"));
  EXPECT_THAT(r.error(), HasSubstr(path_));
  reopen();  // nothing of it reached the file: not the check, not the second zone
  auto after = store_->load();
  ASSERT_TRUE(after.ok()) << after.error();
  EXPECT_EQ(after->revision, 1);
  EXPECT_EQ(after->checks.size() + after->zones.size(), 1u);
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
