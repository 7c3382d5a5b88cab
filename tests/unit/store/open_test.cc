// Opening: the spec string, migrations from an older schema, and the files that must be
// refused untouched (newer schema, another application's SQLite file, garbage, bad paths).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <fstream>
#include <regex>
#include <set>

#include "store/sqlite_store.h"
#include "store_test_util.h"

namespace steerdns::store {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;
using testing::put_check;
using testing::put_zone;
using testing::zone_row;

int64_t raw_int(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  int64_t v = -1;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr) == SQLITE_OK &&
      sqlite3_step(s) == SQLITE_ROW) {
    v = sqlite3_column_int64(s, 0);
  }
  sqlite3_finalize(s);
  sqlite3_close(db);
  return v;
}

void raw_exec(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK)
      << (err != nullptr ? err : "");
  sqlite3_free(err);
  sqlite3_close(db);
}

TEST(MakeId, ShapeAndUniqueness) {
  const std::regex shape("[ZC][A-Z0-9]{20}");
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i) {
    std::string z = make_id('Z');
    EXPECT_TRUE(std::regex_match(z, shape)) << z;
    EXPECT_EQ(z[0], 'Z');
    ids.insert(z);
  }
  EXPECT_EQ(ids.size(), 1000u);
  std::string c = make_id('C');
  EXPECT_TRUE(std::regex_match(c, shape)) << c;
  EXPECT_EQ(c[0], 'C');
}

TEST(Unavailable, PrefixAndWrappedForms) {
  EXPECT_TRUE(is_unavailable("unavailable: http://127.0.0.1:1: connection refused"));
  EXPECT_FALSE(is_unavailable("commit: unavailable: http://127.0.0.1:1: connection refused"));
  EXPECT_TRUE(wraps_unavailable("commit: unavailable: http://127.0.0.1:1: connection refused"));
  EXPECT_TRUE(wraps_unavailable("unavailable: no endpoint answered"));
  // A change that merely mentions the word is a bad change, not a lost store.
  EXPECT_FALSE(wraps_unavailable("record 'unavailable: x' is not a name"));
  EXPECT_FALSE(wraps_unavailable("conflict: revision 7 is not the latest"));
}

TEST(CatalogRowsJson, RoundTripAndErrorsThatSayWhere) {
  CatalogRows rows;
  rows.revision = 42;
  rows.zones.push_back(ZoneRow{"ZABC", "example.test.", "ref-1", "a zone",
                               nlohmann::json{{"ttl", 300}}, 1700000000000});
  rows.records.push_back(
      RecordRow{"ZABC", "www.example.test./A", nlohmann::json{{"values", {"192.0.2.1"}}}});
  rows.checks.push_back(CheckRow{"primary", "", 3, nlohmann::json{{"type", "tcp"}}});
  rows.settings = nlohmann::json{{"geoip", {{"database", "x.mmdb"}}}};
  auto back = rows_from_json(nlohmann::json::parse(rows_to_json(rows).dump()));
  ASSERT_TRUE(back) << back.error();
  EXPECT_EQ(rows_to_json(*back), rows_to_json(rows));
  EXPECT_EQ(back->zones.at(0).created_ms, 1700000000000);
  EXPECT_EQ(back->checks.at(0).version, 3);

  auto bad = [](const char* text) {
    auto r = rows_from_json(nlohmann::json::parse(text));
    return r ? std::string("accepted") : r.error();
  };
  EXPECT_THAT(bad(R"([])"), ::testing::HasSubstr("no integer \"revision\""));
  EXPECT_THAT(bad(R"({"revision": 1, "zones": [], "records": []})"),
              ::testing::HasSubstr("\"checks\" is missing"));
  EXPECT_THAT(bad(R"({"revision": 1, "zones": [{"id": "Z"}], "records": [], "checks": []})"),
              ::testing::HasSubstr("zones[0]: \"name\" is missing"));
  EXPECT_THAT(bad(R"({"revision": 1, "zones": [], "records": [{"zone_id": "Z", "key": "k"}],
              "checks": []})"),
              ::testing::HasSubstr("records[0]: no \"body\""));
  EXPECT_THAT(bad(R"({"revision": 1, "zones": [{"id": "Z", "name": "n.", "comment": 5}],
                      "records": [], "checks": []})"),
              ::testing::HasSubstr("wrong type"));
}

TEST(OpenStore, SpecErrors) {
  auto r = open_store("etcd://x");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error(), HasSubstr("etcd://x"));
  EXPECT_THAT(r.error(), HasSubstr("sqlite:PATH"));
  r = open_store("sqlite:");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error(), HasSubstr("missing path"));
}

TEST(OpenStore, MissingDirectory) {
  TempDir dir;
  std::string path = dir.file("no/such/dir/steerdns.db");
  auto r = open_store("sqlite:" + path);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error(), HasSubstr(path));
  EXPECT_THAT(r.error(), HasSubstr("does not exist"));
  EXPECT_FALSE(std::filesystem::exists(dir.file("no")));
}

TEST(OpenStore, PathIsADirectory) {
  TempDir dir;
  auto r = open_store("sqlite:" + dir.path());
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error(), HasSubstr(dir.path()));
}

TEST(OpenStore, UnwritableDirectory) {
  if (::geteuid() == 0) {
    GTEST_SKIP() << "root ignores permissions";
  }
  TempDir dir;
  std::filesystem::create_directory(dir.file("ro"));
  std::filesystem::permissions(dir.file("ro"), std::filesystem::perms::owner_read |
                                                   std::filesystem::perms::owner_exec);
  auto r = open_store("sqlite:" + dir.file("ro/x.db"));
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error(), HasSubstr("not writable"));
}

TEST(OpenStore, ReopenKeepsEverything) {
  TempDir dir;
  std::string spec = "sqlite:" + dir.file("s.db");
  {
    auto s = open_store(spec);
    ASSERT_TRUE(s.ok()) << s.error();
    Commit c;
    c.ops.push_back(put_zone(zone_row("ZA", "a.test.")));
    c.change.id = "C1";
    ASSERT_TRUE((*s)->commit(c).ok());
    ASSERT_TRUE((*s)->append_event(5, {{"type", "x"}}).ok());
    ASSERT_TRUE((*s)->put_state("k", 42).ok());
  }
  auto s = open_store(spec);
  ASSERT_TRUE(s.ok()) << s.error();
  auto rows = (*s)->load();
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->revision, 1);
  EXPECT_EQ(rows->zones.size(), 1u);
  EXPECT_EQ((*s)->events(0, 10)->size(), 1u);
  EXPECT_EQ(**(*s)->get_state("k"), 42);
  auto ch = (*s)->change("C1");
  ASSERT_TRUE(ch.ok() && ch->has_value());
  // The next commit continues the revision sequence.
  Commit c;
  c.ops.push_back(put_check("h", 1, {}));
  EXPECT_EQ(*(*s)->commit(c), 2);
}

TEST(Migrations, OlderSchemaIsMigratedKeepingData) {
  ASSERT_GE(SqliteStore::latest_schema_version(), 2);
  TempDir dir;
  std::string path = dir.file("old.db");
  {
    SqliteOptions v1;
    v1.max_schema_version = 1;
    auto s = SqliteStore::open(path, v1);
    ASSERT_TRUE(s.ok()) << s.error();
    EXPECT_EQ((*s)->schema_version(), 1);
    Commit c;
    c.ops.push_back(put_zone(zone_row("ZA", "a.test.")));
    c.change.id = "C1";
    ASSERT_TRUE((*s)->commit(c).ok());
  }
  EXPECT_EQ(raw_int(path, "SELECT value FROM meta WHERE key = 'schema_version'"), 1);
  EXPECT_EQ(raw_int(path, "SELECT count(*) FROM sqlite_master WHERE name = 'changes_by_status'"),
            0);
  auto s = SqliteStore::open(path);
  ASSERT_TRUE(s.ok()) << s.error();
  EXPECT_EQ((*s)->schema_version(), SqliteStore::latest_schema_version());
  auto rows = (*s)->load();
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->revision, 1);
  EXPECT_EQ(rows->zones.size(), 1u);
  auto pending = (*s)->pending_changes();
  ASSERT_TRUE(pending.ok());
  EXPECT_EQ(pending->size(), 1u);
  s = Error{"closed"};
  EXPECT_EQ(raw_int(path, "SELECT value FROM meta WHERE key = 'schema_version'"),
            SqliteStore::latest_schema_version());
  EXPECT_EQ(raw_int(path, "SELECT count(*) FROM sqlite_master WHERE name = 'changes_by_status'"),
            1);
}

TEST(Migrations, NewerSchemaIsRefused) {
  TempDir dir;
  std::string path = dir.file("new.db");
  ASSERT_TRUE(open_store("sqlite:" + path).ok());
  raw_exec(path, "UPDATE meta SET value = 999 WHERE key = 'schema_version'");
  auto r = open_store("sqlite:" + path);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error(), HasSubstr(path));
  EXPECT_THAT(r.error(), HasSubstr("schema version 999 is newer"));
  EXPECT_EQ(raw_int(path, "SELECT value FROM meta WHERE key = 'schema_version'"), 999);
}

TEST(Migrations, OtherSqliteFileIsRefusedUntouched) {
  TempDir dir;
  std::string path = dir.file("other.db");
  raw_exec(path, "CREATE TABLE foo (x); INSERT INTO foo VALUES (1);");
  auto r = open_store("sqlite:" + path);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error(), HasSubstr(path));
  EXPECT_THAT(r.error(), HasSubstr("not a steerdns database"));
  EXPECT_EQ(raw_int(path, "SELECT count(*) FROM sqlite_master"), 1);
  EXPECT_EQ(raw_int(path, "PRAGMA application_id"), 0);
  // Another application's id, even on an empty file, is not ours either.
  std::string tagged = dir.file("tagged.db");
  raw_exec(tagged, "PRAGMA application_id = 1234");
  r = open_store("sqlite:" + tagged);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error(), HasSubstr("not a steerdns database"));
}

TEST(Migrations, GarbageFileIsRefused) {
  TempDir dir;
  std::string path = dir.file("garbage.db");
  {
    std::ofstream f(path, std::ios::binary);
    for (int i = 0; i < 200; ++i) {
      f << "this is not a database, just text " << i << "\n";
    }
  }
  auto size = std::filesystem::file_size(path);
  auto r = open_store("sqlite:" + path);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error(), HasSubstr(path));
  EXPECT_THAT(r.error(), HasSubstr("not a SQLite database"));
  EXPECT_EQ(std::filesystem::file_size(path), size);
}

TEST(Migrations, EmptyFileIsInitialised) {
  TempDir dir;
  std::string path = dir.file("empty.db");
  std::ofstream(path).close();
  auto r = open_store("sqlite:" + path);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ((*r)->schema_version(), SqliteStore::latest_schema_version());
}

}  // namespace
}  // namespace steerdns::store
