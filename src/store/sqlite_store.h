#pragma once
// The embedded SQLite backend of the Store (the default: no setup, one file).
//
// One connection, guarded by one mutex: every call from any thread is serialised, and every
// statement is prepared once and cached. The database runs in WAL mode with synchronous=FULL,
// so a commit() is durable when it returns; each commit is one BEGIN IMMEDIATE transaction,
// which also makes a second process wait (busy_timeout, 5 s) rather than interleave.
//
// The schema is a numbered list of migrations applied on open, each in its own transaction;
// a database stamped by a newer binary, or a file that is not a steerdns database (checked
// by PRAGMA application_id), is refused rather than touched.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/result.h"
#include "store/store.h"

struct sqlite3;
struct sqlite3_stmt;

namespace steerdns::store {

struct SqliteOptions {
  // Events kept: older ones are pruned on append.
  size_t retain_events = 100000;
  // Delivered / dead outbox rows and resolved alerts kept this long (pruned on write).
  int64_t retain_alerts_ms = 30LL * 86400 * 1000;
  // Test hook: migrate only up to this schema version (0 = the latest this binary knows).
  int max_schema_version = 0;
};

class SqliteStore final : public Store {
 public:
  // PRAGMA application_id of every steerdns database ("STDR").
  static constexpr int32_t kApplicationId = 0x53544452;

  // `path` is a file path (created if missing) or ":memory:".
  static Result<std::unique_ptr<SqliteStore>> open(const std::string& path,
                                                   SqliteOptions options = {});
  // The schema version this binary migrates to.
  static int latest_schema_version();

  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  std::string describe() const override;
  Result<CatalogRows> load() override;
  Result<int64_t> commit(const Commit& c) override;
  Result<std::vector<int64_t>> commit_group(const std::vector<Commit>& commits) override;
  Status mark_insync(const std::vector<std::string>& change_ids, int64_t time_ms) override;
  Result<std::optional<ChangeRow>> change(const std::string& id) override;
  Result<std::vector<ChangeRow>> changes(size_t limit, int64_t before_revision = 0) override;
  Result<std::vector<ChangeRow>> pending_changes() override;
  Result<int64_t> append_event(int64_t time_ms, const nlohmann::json& body) override;
  Result<std::vector<Event>> events(int64_t after_seq, size_t limit) override;
  Status append_events(const std::vector<std::pair<int64_t, nlohmann::json>>& batch) override;
  Result<std::vector<Event>> last_events(size_t n) override;
  Status put_state(const std::string& key, const nlohmann::json& value) override;
  Result<std::optional<nlohmann::json>> get_state(const std::string& key) override;
  Status commit_alerts(const AlertCommit& c) override;
  Result<std::vector<AlertRow>> alerts() override;
  Result<std::vector<OutboxRow>> outbox_due(int64_t now_ms, size_t limit) override;
  Status outbox_attempt(int64_t id, const std::string& status, int64_t next_attempt_ms,
                        const nlohmann::json& attempt, int64_t time_ms) override;
  Result<std::vector<OutboxRow>> outbox(size_t limit, const std::string& alert_id) override;
  Result<OutboxStats> outbox_stats() override;
  int schema_version() const override { return schema_version_; }

 private:
  class Stmt;
  class Txn;

  SqliteStore(std::string path, sqlite3* db, SqliteOptions options);

  Status init();  // pragmas, identity check, migrations; called once by open()
  Status migrate(int target);
  // A cached prepared statement for `sql` (a string literal: the cache keys on its text).
  Result<sqlite3_stmt*> prepare(const char* sql);
  Status exec(const char* sql, const std::string& what);  // unprepared, for DDL / pragmas
  Error sql_error(const std::string& what) const;          // "store sqlite:P: WHAT: errmsg"
  Error error(const std::string& what) const;              // "store sqlite:P: WHAT"
  Status apply_op(const Op& op, size_t index);
  // The writes of one commit on top of `revision`, inside the caller's transaction.
  Status apply_commit(const Commit& c, int64_t revision);
  Result<int64_t> read_revision(const std::string& what);
  // Upserts one state document; the caller holds mu_ (and may be inside a transaction).
  Status write_state(const std::string& key, const nlohmann::json& value, const std::string& what);
  Result<int64_t> insert_event(int64_t time_ms, const nlohmann::json& body);
  Status prune_events(int64_t newest_seq);
  Result<std::vector<Event>> read_events(sqlite3_stmt* s, const char* what);
  Result<std::vector<ChangeRow>> read_changes(sqlite3_stmt* s);
  Result<std::vector<OutboxRow>> read_outbox(sqlite3_stmt* s, const char* what);

  const std::string path_;
  sqlite3* db_;
  const SqliteOptions options_;
  int schema_version_ = 0;
  std::mutex mu_;  // guards db_ and stmts_: the connection is used by one thread at a time
  std::unordered_map<std::string, sqlite3_stmt*> stmts_;
};

}  // namespace steerdns::store
