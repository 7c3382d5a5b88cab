#include "store/sqlite_store.h"

#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <system_error>
#include <utility>

namespace steerdns::store {
namespace {

// The schema, one migration per step, numbered from 1. Never edit a step that shipped: append.
constexpr const char* kMigrations[] = {
    // 1: the catalog, change batches, events, runtime state.
    R"sql(
CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT INTO meta (key, value) VALUES ('schema_version', 0), ('revision', 0);
CREATE TABLE zones (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  caller_ref TEXT NOT NULL DEFAULT '',
  comment TEXT NOT NULL DEFAULT '',
  settings TEXT NOT NULL,
  created_ms INTEGER NOT NULL
);
CREATE TABLE records (
  zone_id TEXT NOT NULL REFERENCES zones (id) ON DELETE CASCADE,
  key TEXT NOT NULL,
  body TEXT NOT NULL,
  PRIMARY KEY (zone_id, key)
) WITHOUT ROWID;
CREATE TABLE checks (
  id TEXT PRIMARY KEY,
  caller_ref TEXT NOT NULL DEFAULT '',
  version INTEGER NOT NULL,
  body TEXT NOT NULL
);
CREATE TABLE settings (id INTEGER PRIMARY KEY CHECK (id = 1), body TEXT NOT NULL);
CREATE TABLE changes (
  id TEXT PRIMARY KEY,
  revision INTEGER NOT NULL UNIQUE,
  status TEXT NOT NULL,
  author TEXT NOT NULL,
  comment TEXT NOT NULL,
  submitted_ms INTEGER NOT NULL,
  insync_ms INTEGER NOT NULL DEFAULT 0,
  changes TEXT NOT NULL
);
CREATE TABLE events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  time_ms INTEGER NOT NULL,
  body TEXT NOT NULL
);
CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
)sql",
    // 2: pending_changes() after a restart looks batches up by status.
    R"sql(
CREATE INDEX changes_by_status ON changes (status, revision);
)sql",
    // 3: alerts and the durable notification outbox (alert/).
    R"sql(
CREATE TABLE alerts (
  id TEXT PRIMARY KEY,
  updated_ms INTEGER NOT NULL,
  resolved INTEGER NOT NULL,
  body TEXT NOT NULL
);
CREATE TABLE outbox (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  alert_id TEXT NOT NULL,
  channel TEXT NOT NULL,
  dedup_key TEXT NOT NULL UNIQUE,
  payload TEXT NOT NULL,
  status TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  created_ms INTEGER NOT NULL,
  next_attempt_ms INTEGER NOT NULL,
  done_ms INTEGER NOT NULL DEFAULT 0,
  history TEXT NOT NULL
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_ms);
CREATE INDEX outbox_by_alert ON outbox (alert_id, id);
)sql",
};
constexpr int kLatestSchema = static_cast<int>(std::size(kMigrations));

// JSON cells are text. Invalid UTF-8 in a caller's string is replaced rather than thrown on.
std::string dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string in_quotes(const std::string& s) { return "'" + s + "'"; }

int64_t clamp_limit(size_t limit) {
  return static_cast<int64_t>(
      std::min<size_t>(limit, static_cast<size_t>(std::numeric_limits<int64_t>::max())));
}

}  // namespace

// A cached statement in use: bound, stepped, and reset (bindings cleared) when it goes out of
// scope, so the next user starts clean.
class SqliteStore::Stmt {
 public:
  explicit Stmt(sqlite3_stmt* s) : s_(s) {}
  ~Stmt() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& bind(int i, const std::string& v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& bind(int i, int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  int step() { return sqlite3_step(s_); }
  int64_t i64(int col) const { return sqlite3_column_int64(s_, col); }
  std::string text(int col) const {
    const auto* p = sqlite3_column_text(s_, col);
    if (p == nullptr) {
      return {};
    }
    return std::string(reinterpret_cast<const char*>(p),
                       static_cast<size_t>(sqlite3_column_bytes(s_, col)));
  }
  bool is_null(int col) const { return sqlite3_column_type(s_, col) == SQLITE_NULL; }

 private:
  sqlite3_stmt* s_;
};

// A transaction that rolls back unless commit() succeeded. Writers use BEGIN IMMEDIATE so
// they take the write lock up front (and wait for it) instead of failing at the first write.
class SqliteStore::Txn {
 public:
  explicit Txn(SqliteStore* store) : store_(store) {}
  ~Txn() {
    if (open_ && !sqlite3_get_autocommit(store_->db_)) {
      sqlite3_exec(store_->db_, "ROLLBACK", nullptr, nullptr, nullptr);
    }
  }
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;

  Status begin(bool write, const std::string& what) {
    auto s = store_->prepare(write ? "BEGIN IMMEDIATE" : "BEGIN");
    if (!s.ok()) {
      return Error{s.error()};
    }
    Stmt st(*s);
    if (st.step() != SQLITE_DONE) {
      return store_->sql_error(what + ": begin transaction");
    }
    open_ = true;
    return OkStatus();
  }
  Status commit(const std::string& what) {
    auto s = store_->prepare("COMMIT");
    if (!s.ok()) {
      return Error{s.error()};
    }
    Stmt st(*s);
    if (st.step() != SQLITE_DONE) {
      return store_->sql_error(what + ": commit");
    }
    open_ = false;
    return OkStatus();
  }

 private:
  SqliteStore* store_;
  bool open_ = false;
};

namespace {

// Parses a JSON cell; a corrupt one is an error naming where it is, never an exception.
Result<nlohmann::json> parse_cell(const std::string& text, const std::string& where) {
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    return Error{"corrupt JSON in " + where};
  }
  return j;
}

}  // namespace

SqliteStore::SqliteStore(std::string path, sqlite3* db, SqliteOptions options)
    : path_(std::move(path)), db_(db), options_(options) {}

SqliteStore::~SqliteStore() {
  for (auto& [sql, stmt] : stmts_) {
    sqlite3_finalize(stmt);
  }
  sqlite3_close(db_);
}

int SqliteStore::latest_schema_version() { return kLatestSchema; }

std::string SqliteStore::describe() const { return "sqlite:" + path_; }

Error SqliteStore::error(const std::string& what) const {
  return Error{"store " + describe() + ": " + what};
}

Error SqliteStore::sql_error(const std::string& what) const {
  std::string msg = what + ": " + sqlite3_errmsg(db_);
  if ((sqlite3_extended_errcode(db_) & 0xff) == SQLITE_BUSY) {
    msg += " (another process holds the write lock; waited 5 s)";
  }
  return error(msg);
}

Result<sqlite3_stmt*> SqliteStore::prepare(const char* sql) {
  auto it = stmts_.find(sql);
  if (it != stmts_.end()) {
    return it->second;
  }
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr) != SQLITE_OK) {
    return sql_error(std::string("prepare \"") + sql + "\"");
  }
  stmts_.emplace(sql, stmt);
  return stmt;
}

Status SqliteStore::exec(const char* sql, const std::string& what) {
  if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) != SQLITE_OK) {
    return sql_error(what);
  }
  return OkStatus();
}

Result<std::unique_ptr<SqliteStore>> SqliteStore::open(const std::string& path,
                                                        SqliteOptions options) {
  const bool memory = path == ":memory:";
  const std::string where = "store sqlite:" + path + ": ";
  if (path.empty()) {
    return Error{"store sqlite:: empty path"};
  }
  if (!memory) {
    // SQLite's own message ("unable to open database file") does not say why; WAL also needs
    // to create PATH-wal and PATH-shm next to the file, so the directory must be writable.
    namespace fs = std::filesystem;
    fs::path dir = fs::path(path).parent_path();
    if (dir.empty()) {
      dir = ".";
    }
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
      return Error{where + "directory " + dir.string() + " does not exist"};
    }
    if (::access(dir.c_str(), W_OK | X_OK) != 0) {
      return Error{where + "directory " + dir.string() + " is not writable"};
    }
    if (fs::exists(path, ec) && ::access(path.c_str(), R_OK | W_OK) != 0) {
      return Error{where + "file is not readable and writable"};
    }
    if (fs::is_directory(path, ec)) {
      return Error{where + "is a directory"};
    }
  }
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return Error{where + "cannot open: " + msg};
  }
  if (!memory && sqlite3_db_readonly(db, "main") == 1) {
    sqlite3_close(db);
    return Error{where + "opened read-only: the file must be writable"};
  }
  std::unique_ptr<SqliteStore> store(new SqliteStore(path, db, options));
  if (auto st = store->init(); !st.ok()) {
    return Error{st.error()};
  }
  return store;
}

Status SqliteStore::init() {
  std::lock_guard lock(mu_);
  sqlite3_busy_timeout(db_, 5000);
  sqlite3_extended_result_codes(db_, 1);
  if (auto st = exec("PRAGMA foreign_keys = ON", "enable foreign keys"); !st.ok()) {
    return st;
  }

  // Identity: ours, or empty (new). Anything else is left untouched.
  auto identity_failure = [this] {
    return (sqlite3_extended_errcode(db_) & 0xff) == SQLITE_NOTADB ? "not a SQLite database"
                                                                    : "read database header";
  };
  int64_t app_id = 0;
  int64_t objects = 0;
  {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(db_, "SELECT (SELECT application_id FROM pragma_application_id), "
                                "(SELECT count(*) FROM sqlite_master)",
                           -1, &raw, nullptr) != SQLITE_OK) {
      auto e = sql_error(identity_failure());
      sqlite3_finalize(raw);
      return e;
    }
    int rc = sqlite3_step(raw);
    if (rc == SQLITE_ROW) {
      app_id = sqlite3_column_int64(raw, 0);
      objects = sqlite3_column_int64(raw, 1);
    }
    auto e = sql_error(identity_failure());
    sqlite3_finalize(raw);
    if (rc != SQLITE_ROW) {
      return e;
    }
  }
  if (app_id != kApplicationId && !(app_id == 0 && objects == 0)) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "0x%08llx", static_cast<unsigned long long>(app_id));
    return error("not a steerdns database (application_id " + std::string(buf) + ", " +
                 std::to_string(objects) + " schema objects)");
  }

  if (path_ != ":memory:") {
    sqlite3_stmt* raw = nullptr;
    std::string mode;
    if (sqlite3_prepare_v2(db_, "PRAGMA journal_mode = WAL", -1, &raw, nullptr) == SQLITE_OK &&
        sqlite3_step(raw) == SQLITE_ROW) {
      mode = reinterpret_cast<const char*>(sqlite3_column_text(raw, 0));
    }
    auto e = sql_error("set journal_mode=WAL");
    sqlite3_finalize(raw);
    if (mode != "wal") {
      return mode.empty() ? e : error("journal_mode is " + mode + ", WAL unavailable");
    }
  }
  if (auto st = exec("PRAGMA synchronous = FULL", "set synchronous=FULL"); !st.ok()) {
    return st;
  }
  int target = options_.max_schema_version > 0
                   ? std::min(options_.max_schema_version, kLatestSchema)
                   : kLatestSchema;
  return migrate(target);
}

Status SqliteStore::migrate(int target) {
  for (;;) {
    Txn txn(this);
    if (auto st = txn.begin(true, "migrate"); !st.ok()) {
      return st;
    }
    // Read inside the write transaction: another process may have migrated meanwhile.
    int current = 0;
    {
      auto has_meta = prepare(
          "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'");
      if (!has_meta.ok()) {
        return Error{has_meta.error()};
      }
      Stmt st(*has_meta);
      if (st.step() != SQLITE_ROW) {
        return sql_error("migrate: read schema");
      }
      if (st.i64(0) > 0) {
        sqlite3_stmt* raw = nullptr;
        // Not cached: the table may not exist when the cache would first be filled.
        if (sqlite3_prepare_v2(db_, "SELECT value FROM meta WHERE key = 'schema_version'", -1,
                               &raw, nullptr) != SQLITE_OK) {
          auto e = sql_error("migrate: read schema_version");
          sqlite3_finalize(raw);
          return e;
        }
        int rc = sqlite3_step(raw);
        if (rc == SQLITE_ROW) {
          current = sqlite3_column_int(raw, 0);
        }
        auto e = sql_error("migrate: read schema_version");
        sqlite3_finalize(raw);
        if (rc != SQLITE_ROW) {
          return rc == SQLITE_DONE ? error("migrate: meta has no schema_version") : e;
        }
      }
    }
    if (current > kLatestSchema) {
      return error("database schema version " + std::to_string(current) +
                   " is newer than this steerdns knows (" + std::to_string(kLatestSchema) +
                   "): use a newer steerdns");
    }
    if (current >= target) {
      schema_version_ = current;
      return txn.commit("migrate");
    }
    const int next = current + 1;
    const std::string what = "migration " + std::to_string(next);
    if (auto st = exec(kMigrations[current], what); !st.ok()) {
      return st;
    }
    if (current == 0) {
      const std::string pragma =
          "PRAGMA application_id = " + std::to_string(kApplicationId);
      if (auto st = exec(pragma.c_str(), what + ": set application_id"); !st.ok()) {
        return st;
      }
    }
    const std::string stamp =
        "UPDATE meta SET value = " + std::to_string(next) + " WHERE key = 'schema_version'";
    if (auto st = exec(stamp.c_str(), what + ": record schema_version"); !st.ok()) {
      return st;
    }
    if (auto st = txn.commit(what); !st.ok()) {
      return st;
    }
  }
}

Result<CatalogRows> SqliteStore::load() {
  std::lock_guard lock(mu_);
  Txn txn(this);
  if (auto st = txn.begin(false, "load"); !st.ok()) {
    return Error{st.error()};
  }
  CatalogRows rows;
  {
    auto p = prepare("SELECT value FROM meta WHERE key = 'revision'");
    if (!p.ok()) {
      return Error{p.error()};
    }
    Stmt st(*p);
    if (st.step() != SQLITE_ROW) {
      return sql_error("load: read revision");
    }
    rows.revision = st.i64(0);
  }
  {
    auto p = prepare(
        "SELECT id, name, caller_ref, comment, settings, created_ms FROM zones ORDER BY name");
    if (!p.ok()) {
      return Error{p.error()};
    }
    Stmt st(*p);
    int rc;
    while ((rc = st.step()) == SQLITE_ROW) {
      ZoneRow z;
      z.id = st.text(0);
      z.name = st.text(1);
      z.caller_ref = st.text(2);
      z.comment = st.text(3);
      auto j = parse_cell(st.text(4), "zones.settings of zone " + in_quotes(z.id));
      if (!j.ok()) {
        return error("load: " + j.error());
      }
      z.settings = std::move(*j);
      z.created_ms = st.i64(5);
      rows.zones.push_back(std::move(z));
    }
    if (rc != SQLITE_DONE) {
      return sql_error("load: read zones");
    }
  }
  {
    auto p = prepare("SELECT zone_id, key, body FROM records ORDER BY zone_id, key");
    if (!p.ok()) {
      return Error{p.error()};
    }
    Stmt st(*p);
    int rc;
    while ((rc = st.step()) == SQLITE_ROW) {
      RecordRow r;
      r.zone_id = st.text(0);
      r.key = st.text(1);
      auto j = parse_cell(st.text(2),
                          "records.body of record " + in_quotes(r.key) + " in zone " +
                              in_quotes(r.zone_id));
      if (!j.ok()) {
        return error("load: " + j.error());
      }
      r.body = std::move(*j);
      rows.records.push_back(std::move(r));
    }
    if (rc != SQLITE_DONE) {
      return sql_error("load: read records");
    }
  }
  {
    auto p = prepare("SELECT id, caller_ref, version, body FROM checks ORDER BY id");
    if (!p.ok()) {
      return Error{p.error()};
    }
    Stmt st(*p);
    int rc;
    while ((rc = st.step()) == SQLITE_ROW) {
      CheckRow c;
      c.id = st.text(0);
      c.caller_ref = st.text(1);
      c.version = st.i64(2);
      auto j = parse_cell(st.text(3), "checks.body of check " + in_quotes(c.id));
      if (!j.ok()) {
        return error("load: " + j.error());
      }
      c.body = std::move(*j);
      rows.checks.push_back(std::move(c));
    }
    if (rc != SQLITE_DONE) {
      return sql_error("load: read checks");
    }
  }
  {
    auto p = prepare("SELECT body FROM settings WHERE id = 1");
    if (!p.ok()) {
      return Error{p.error()};
    }
    Stmt st(*p);
    int rc = st.step();
    if (rc == SQLITE_ROW) {
      auto j = parse_cell(st.text(0), "settings.body");
      if (!j.ok()) {
        return error("load: " + j.error());
      }
      rows.settings = std::move(*j);
    } else if (rc != SQLITE_DONE) {
      return sql_error("load: read settings");
    }
  }
  if (auto st = txn.commit("load"); !st.ok()) {
    return Error{st.error()};
  }
  return rows;
}

Status SqliteStore::apply_op(const Op& op, size_t index) {
  const std::string at = "commit op " + std::to_string(index) + " (" +
                         (op.del ? "delete " : "set ") + op.kind + " ";
  // Runs a cached write statement; `describe` names the row for the error.
  auto run = [&](const char* sql, auto&& bind, const std::string& row) -> Status {
    auto p = prepare(sql);
    if (!p.ok()) {
      return Error{p.error()};
    }
    Stmt st(*p);
    bind(st);
    if (st.step() != SQLITE_DONE) {
      return sql_error(at + row + ")");
    }
    return OkStatus();
  };

  if (op.kind == "zone") {
    if (op.del) {
      return run("DELETE FROM zones WHERE id = ?1", [&](Stmt& s) { s.bind(1, op.key); },
                 in_quotes(op.key));
    }
    if (!op.zone) {
      return error(at + in_quotes(op.key) + "): no zone row");
    }
    const ZoneRow& z = *op.zone;
    const std::string& id = op.key.empty() ? z.id : op.key;
    if (id.empty() || (!z.id.empty() && z.id != id)) {
      return error(at + in_quotes(id) + "): key and zone id " + in_quotes(z.id) + " differ or are empty");
    }
    return run(
        "INSERT INTO zones (id, name, caller_ref, comment, settings, created_ms) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (id) DO UPDATE SET name = excluded.name, "
        "caller_ref = excluded.caller_ref, comment = excluded.comment, "
        "settings = excluded.settings, created_ms = excluded.created_ms",
        [&](Stmt& s) {
          s.bind(1, id).bind(2, z.name).bind(3, z.caller_ref).bind(4, z.comment);
          s.bind(5, dump(z.settings)).bind(6, z.created_ms);
        },
        in_quotes(id) + " " + z.name);
  }
  if (op.kind == "record") {
    const RecordTarget target = record_target(op);
    const std::string& zone_id = target.zone_id;
    const std::string& key = target.key;
    if (target.conflict) {
      return error(at + in_quotes(key) + " in zone " + in_quotes(zone_id) +
                   "): op and record row name different records");
    }
    const std::string row = in_quotes(key) + " in zone " + in_quotes(zone_id);
    if (zone_id.empty() || key.empty()) {
      return error(at + row + "): zone id and key are required");
    }
    if (op.del) {
      return run("DELETE FROM records WHERE zone_id = ?1 AND key = ?2",
                 [&](Stmt& s) { s.bind(1, zone_id).bind(2, key); }, row);
    }
    if (!op.record) {
      return error(at + row + "): no record row");
    }
    return run(
        "INSERT INTO records (zone_id, key, body) VALUES (?1, ?2, ?3) "
        "ON CONFLICT (zone_id, key) DO UPDATE SET body = excluded.body",
        [&](Stmt& s) { s.bind(1, zone_id).bind(2, key).bind(3, dump(op.record->body)); }, row);
  }
  if (op.kind == "check") {
    if (op.del) {
      return run("DELETE FROM checks WHERE id = ?1", [&](Stmt& s) { s.bind(1, op.key); },
                 in_quotes(op.key));
    }
    if (!op.check) {
      return error(at + in_quotes(op.key) + "): no check row");
    }
    const CheckRow& c = *op.check;
    const std::string& id = op.key.empty() ? c.id : op.key;
    if (id.empty() || (!c.id.empty() && c.id != id)) {
      return error(at + in_quotes(id) + "): key and check id " + in_quotes(c.id) +
                   " differ or are empty");
    }
    return run(
        "INSERT INTO checks (id, caller_ref, version, body) VALUES (?1, ?2, ?3, ?4) "
        "ON CONFLICT (id) DO UPDATE SET caller_ref = excluded.caller_ref, "
        "version = excluded.version, body = excluded.body",
        [&](Stmt& s) {
          s.bind(1, id).bind(2, c.caller_ref).bind(3, c.version).bind(4, dump(c.body));
        },
        in_quotes(id));
  }
  if (op.kind == "settings") {
    if (op.del) {
      return run("DELETE FROM settings", [](Stmt&) {}, "");
    }
    if (!op.settings.is_object() && !op.settings.is_null()) {
      return error(at + "): settings must be a JSON object");
    }
    const nlohmann::json body = op.settings.is_null() ? nlohmann::json::object() : op.settings;
    return run(
        "INSERT INTO settings (id, body) VALUES (1, ?1) "
        "ON CONFLICT (id) DO UPDATE SET body = excluded.body",
        [&](Stmt& s) { s.bind(1, dump(body)); }, "");
  }
  return error("commit op " + std::to_string(index) + ": unknown kind " + in_quotes(op.kind) +
               " (zone, record, check, settings)");
}

Result<int64_t> SqliteStore::read_revision(const std::string& what) {
  auto p = prepare("SELECT value FROM meta WHERE key = 'revision'");
  if (!p.ok()) {
    return Error{p.error()};
  }
  Stmt st(*p);
  if (st.step() != SQLITE_ROW) {
    return sql_error(what + ": read revision");
  }
  return st.i64(0);
}

Status SqliteStore::apply_commit(const Commit& c, int64_t revision) {
  if (c.expect_revision >= 0 && c.expect_revision != revision) {
    // Starts with "conflict:" so callers can tell it from a failure (store.h).
    return Error{"conflict: store is at revision " + std::to_string(revision) + ", expected " +
                 std::to_string(c.expect_revision) + " (" + describe() + ")"};
  }
  const int64_t next = revision + 1;
  for (size_t i = 0; i < c.ops.size(); ++i) {
    if (auto st = apply_op(c.ops[i], i); !st.ok()) {
      return st;
    }
  }
  if (!c.change.id.empty()) {
    auto p = prepare(
        "INSERT INTO changes (id, revision, status, author, comment, submitted_ms, insync_ms, "
        "changes) VALUES (?1, ?2, 'PENDING', ?3, ?4, ?5, 0, ?6)");
    if (!p.ok()) {
      return Error{p.error()};
    }
    Stmt st(*p);
    const ChangeRow& ch = c.change;
    st.bind(1, ch.id).bind(2, next).bind(3, ch.author).bind(4, ch.comment);
    st.bind(5, ch.submitted_ms).bind(6, dump(ch.changes));
    if (st.step() != SQLITE_DONE) {
      return sql_error("commit: record change batch " + in_quotes(ch.id));
    }
  }
  int64_t seq = 0;
  for (const auto& [time_ms, body] : c.events) {
    auto r = insert_event(time_ms, body);
    if (!r.ok()) {
      return Error{r.error()};
    }
    seq = *r;
  }
  if (seq > 0) {
    if (auto pr = prune_events(seq); !pr.ok()) {
      return pr;
    }
  }
  auto p = prepare("UPDATE meta SET value = ?1 WHERE key = 'revision'");
  if (!p.ok()) {
    return Error{p.error()};
  }
  Stmt st(*p);
  st.bind(1, next);
  if (st.step() != SQLITE_DONE) {
    return sql_error("commit: bump revision");
  }
  return OkStatus();
}

Result<int64_t> SqliteStore::commit(const Commit& c) {
  std::lock_guard lock(mu_);
  Txn txn(this);
  if (auto st = txn.begin(true, "commit"); !st.ok()) {
    return Error{st.error()};
  }
  auto revision = read_revision("commit");
  if (!revision.ok()) {
    return revision;
  }
  if (auto st = apply_commit(c, *revision); !st.ok()) {
    return Error{st.error()};
  }
  if (auto st = txn.commit("commit"); !st.ok()) {
    return Error{st.error()};
  }
  return *revision + 1;
}

Result<std::vector<int64_t>> SqliteStore::commit_group(const std::vector<Commit>& commits) {
  std::lock_guard lock(mu_);
  Txn txn(this);
  if (auto st = txn.begin(true, "commit group"); !st.ok()) {
    return Error{st.error()};
  }
  auto revision = read_revision("commit group");
  if (!revision.ok()) {
    return Error{revision.error()};
  }
  std::vector<int64_t> revisions;
  revisions.reserve(commits.size());
  for (size_t i = 0; i < commits.size(); ++i) {
    const int64_t current = *revision + static_cast<int64_t>(i);
    if (auto st = apply_commit(commits[i], current); !st.ok()) {
      return Error{st.error() + " (commit " + std::to_string(i) + " of a group of " +
                   std::to_string(commits.size()) + ")"};
    }
    revisions.push_back(current + 1);
  }
  if (auto st = txn.commit("commit group"); !st.ok()) {
    return Error{st.error()};
  }
  return revisions;
}

Status SqliteStore::mark_insync(const std::vector<std::string>& change_ids, int64_t time_ms) {
  std::lock_guard lock(mu_);
  Txn txn(this);
  if (auto st = txn.begin(true, "mark_insync"); !st.ok()) {
    return st;
  }
  for (const auto& id : change_ids) {
    auto p = prepare(
        "UPDATE changes SET status = 'INSYNC', insync_ms = ?2 "
        "WHERE id = ?1 AND status = 'PENDING'");
    if (!p.ok()) {
      return Error{p.error()};
    }
    {
      Stmt st(*p);
      st.bind(1, id).bind(2, static_cast<int64_t>(time_ms));
      if (st.step() != SQLITE_DONE) {
        return sql_error("mark_insync " + in_quotes(id));
      }
    }
    if (sqlite3_changes(db_) > 0) {
      continue;
    }
    // Nothing updated: already INSYNC (fine, keeps its first time) or unknown (an error).
    auto q = prepare("SELECT 1 FROM changes WHERE id = ?1");
    if (!q.ok()) {
      return Error{q.error()};
    }
    Stmt st(*q);
    st.bind(1, id);
    int rc = st.step();
    if (rc == SQLITE_DONE) {
      return error("mark_insync: no change batch " + in_quotes(id));
    }
    if (rc != SQLITE_ROW) {
      return sql_error("mark_insync " + in_quotes(id));
    }
  }
  return txn.commit("mark_insync");
}

Result<std::vector<ChangeRow>> SqliteStore::read_changes(sqlite3_stmt* s) {
  std::vector<ChangeRow> out;
  Stmt st(s);  // already bound by the caller; reset here
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) {
    ChangeRow ch;
    ch.id = st.text(0);
    ch.revision = st.i64(1);
    ch.status = st.text(2);
    ch.author = st.text(3);
    ch.comment = st.text(4);
    ch.submitted_ms = st.i64(5);
    ch.insync_ms = st.i64(6);
    auto j = parse_cell(st.text(7), "changes.changes of change batch " + in_quotes(ch.id));
    if (!j.ok()) {
      return error("read changes: " + j.error());
    }
    ch.changes = std::move(*j);
    out.push_back(std::move(ch));
  }
  if (rc != SQLITE_DONE) {
    return sql_error("read changes");
  }
  return out;
}

#define SD_CHANGE_COLUMNS "id, revision, status, author, comment, submitted_ms, insync_ms, changes"

Result<std::optional<ChangeRow>> SqliteStore::change(const std::string& id) {
  std::lock_guard lock(mu_);
  auto p = prepare("SELECT " SD_CHANGE_COLUMNS " FROM changes WHERE id = ?1");
  if (!p.ok()) {
    return Error{p.error()};
  }
  sqlite3_bind_text(*p, 1, id.data(), static_cast<int>(id.size()), SQLITE_TRANSIENT);
  auto rows = read_changes(*p);
  if (!rows.ok()) {
    return Error{rows.error()};
  }
  if (rows->empty()) {
    return std::optional<ChangeRow>();
  }
  return std::optional<ChangeRow>(std::move(rows->front()));
}

Result<std::vector<ChangeRow>> SqliteStore::changes(size_t limit, int64_t before_revision) {
  std::lock_guard lock(mu_);
  auto p = prepare("SELECT " SD_CHANGE_COLUMNS
                   " FROM changes WHERE revision < ?1 ORDER BY revision DESC LIMIT ?2");
  if (!p.ok()) {
    return Error{p.error()};
  }
  sqlite3_bind_int64(*p, 1,
                     before_revision > 0 ? before_revision : std::numeric_limits<int64_t>::max());
  sqlite3_bind_int64(*p, 2, clamp_limit(limit));
  return read_changes(*p);
}

Result<std::vector<ChangeRow>> SqliteStore::pending_changes() {
  std::lock_guard lock(mu_);
  auto p = prepare("SELECT " SD_CHANGE_COLUMNS
                   " FROM changes WHERE status = 'PENDING' ORDER BY revision");
  if (!p.ok()) {
    return Error{p.error()};
  }
  return read_changes(*p);
}

#undef SD_CHANGE_COLUMNS

Result<int64_t> SqliteStore::insert_event(int64_t time_ms, const nlohmann::json& body) {
  auto p = prepare("INSERT INTO events (time_ms, body) VALUES (?1, ?2)");
  if (!p.ok()) {
    return Error{p.error()};
  }
  Stmt st(*p);
  st.bind(1, time_ms).bind(2, dump(body));
  if (st.step() != SQLITE_DONE) {
    return sql_error("append_event");
  }
  return static_cast<int64_t>(sqlite3_last_insert_rowid(db_));
}

Status SqliteStore::prune_events(int64_t newest_seq) {
  // seq is never reused (AUTOINCREMENT), so everything at or below newest - retain is older
  // than the newest `retain`: a range delete on the primary key.
  const int64_t retain = static_cast<int64_t>(std::max<size_t>(options_.retain_events, 1));
  auto p = prepare("DELETE FROM events WHERE seq <= ?1");
  if (!p.ok()) {
    return Error{p.error()};
  }
  Stmt st(*p);
  st.bind(1, newest_seq - retain);
  if (st.step() != SQLITE_DONE) {
    return sql_error("append_event: prune");
  }
  return OkStatus();
}

Result<int64_t> SqliteStore::append_event(int64_t time_ms, const nlohmann::json& body) {
  std::lock_guard lock(mu_);
  Txn txn(this);
  if (auto st = txn.begin(true, "append_event"); !st.ok()) {
    return Error{st.error()};
  }
  auto seq = insert_event(time_ms, body);
  if (!seq.ok()) {
    return seq;
  }
  if (auto st = prune_events(*seq); !st.ok()) {
    return Error{st.error()};
  }
  if (auto st = txn.commit("append_event"); !st.ok()) {
    return Error{st.error()};
  }
  return seq;
}

Status SqliteStore::append_events(const std::vector<std::pair<int64_t, nlohmann::json>>& batch) {
  if (batch.empty()) {
    return OkStatus();
  }
  std::lock_guard lock(mu_);
  Txn txn(this);
  if (auto st = txn.begin(true, "append_events"); !st.ok()) {
    return st;
  }
  int64_t seq = 0;
  for (const auto& [time_ms, body] : batch) {
    auto r = insert_event(time_ms, body);
    if (!r.ok()) {
      return Error{r.error()};
    }
    seq = *r;
  }
  if (auto st = prune_events(seq); !st.ok()) {
    return st;
  }
  return txn.commit("append_events");
}

Result<std::vector<Event>> SqliteStore::last_events(size_t n) {
  std::lock_guard lock(mu_);
  auto p = prepare("SELECT seq, time_ms, body FROM events ORDER BY seq DESC LIMIT ?1");
  if (!p.ok()) {
    return Error{p.error()};
  }
  sqlite3_bind_int64(*p, 1, n == 0 ? std::numeric_limits<int64_t>::max() : clamp_limit(n));
  auto out = read_events(*p, "last_events");
  if (out.ok()) {
    std::reverse(out->begin(), out->end());
  }
  return out;
}

Result<std::vector<Event>> SqliteStore::read_events(sqlite3_stmt* s, const char* what) {
  Stmt st(s);  // already bound by the caller; reset here
  std::vector<Event> out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) {
    Event e;
    e.seq = st.i64(0);
    e.time_ms = st.i64(1);
    auto j = parse_cell(st.text(2), "events.body of event " + std::to_string(e.seq));
    if (!j.ok()) {
      return error(std::string(what) + ": " + j.error());
    }
    e.body = std::move(*j);
    out.push_back(std::move(e));
  }
  if (rc != SQLITE_DONE) {
    return sql_error(what);
  }
  return out;
}

Result<std::vector<Event>> SqliteStore::events(int64_t after_seq, size_t limit) {
  std::lock_guard lock(mu_);
  auto p = prepare("SELECT seq, time_ms, body FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2");
  if (!p.ok()) {
    return Error{p.error()};
  }
  sqlite3_bind_int64(*p, 1, after_seq);
  sqlite3_bind_int64(*p, 2, clamp_limit(limit));
  return read_events(*p, "events");
}

Status SqliteStore::put_state(const std::string& key, const nlohmann::json& value) {
  std::lock_guard lock(mu_);
  return write_state(key, value, "put_state");
}

Status SqliteStore::write_state(const std::string& key, const nlohmann::json& value,
                                const std::string& what) {
  auto p = prepare(
      "INSERT INTO state (key, value) VALUES (?1, ?2) "
      "ON CONFLICT (key) DO UPDATE SET value = excluded.value");
  if (!p.ok()) {
    return Error{p.error()};
  }
  Stmt st(*p);
  st.bind(1, key).bind(2, dump(value));
  if (st.step() != SQLITE_DONE) {
    return sql_error(what + " " + in_quotes(key));
  }
  return OkStatus();
}

Result<std::optional<nlohmann::json>> SqliteStore::get_state(const std::string& key) {
  std::lock_guard lock(mu_);
  auto p = prepare("SELECT value FROM state WHERE key = ?1");
  if (!p.ok()) {
    return Error{p.error()};
  }
  Stmt st(*p);
  st.bind(1, key);
  int rc = st.step();
  if (rc == SQLITE_DONE) {
    return std::optional<nlohmann::json>();
  }
  if (rc != SQLITE_ROW) {
    return sql_error("get_state " + in_quotes(key));
  }
  auto j = parse_cell(st.text(0), "state.value of key " + in_quotes(key));
  if (!j.ok()) {
    return error("get_state: " + j.error());
  }
  return std::optional<nlohmann::json>(std::move(*j));
}

// ---- alerts and the outbox ----

Status SqliteStore::commit_alerts(const AlertCommit& c) {
  std::lock_guard lock(mu_);
  Txn txn(this);
  if (auto st = txn.begin(true, "commit_alerts"); !st.ok()) {
    return st;
  }
  int64_t newest = 0;
  for (const auto& a : c.alerts) {
    auto p = prepare(
        "INSERT INTO alerts (id, updated_ms, resolved, body) VALUES (?1, ?2, ?3, ?4) "
        "ON CONFLICT (id) DO UPDATE SET updated_ms = excluded.updated_ms, "
        "resolved = excluded.resolved, body = excluded.body");
    if (!p.ok()) {
      return Error{p.error()};
    }
    int64_t updated = a.body.value("updated_ms", int64_t{0});
    newest = std::max(newest, updated);
    Stmt st(*p);
    st.bind(1, a.id)
        .bind(2, updated)
        .bind(3, int64_t{a.body.value("state", std::string()) == "resolved"})
        .bind(4, dump(a.body));
    if (st.step() != SQLITE_DONE) {
      return sql_error("commit_alerts: alert " + in_quotes(a.id));
    }
  }
  for (const auto& o : c.enqueue) {
    // A dedup key already queued (a step replayed after a crash) is not queued twice.
    auto p = prepare(
        "INSERT INTO outbox (alert_id, channel, dedup_key, payload, status, attempts, "
        "created_ms, next_attempt_ms, done_ms, history) "
        "VALUES (?1, ?2, ?3, ?4, 'pending', 0, ?5, ?6, 0, '[]') "
        "ON CONFLICT (dedup_key) DO NOTHING");
    if (!p.ok()) {
      return Error{p.error()};
    }
    newest = std::max(newest, o.created_ms);
    Stmt st(*p);
    st.bind(1, o.alert_id)
        .bind(2, o.channel)
        .bind(3, o.dedup_key)
        .bind(4, dump(o.payload))
        .bind(5, o.created_ms)
        .bind(6, o.next_attempt_ms);
    if (st.step() != SQLITE_DONE) {
      return sql_error("commit_alerts: outbox " + in_quotes(o.dedup_key));
    }
  }
  for (const auto& [key, value] : c.state) {
    if (auto st = write_state(key, value, "commit_alerts: state"); !st) {
      return st;
    }
  }
  if (newest > 0) {
    // Old history goes in the same transaction: the tables stay bounded without a janitor.
    int64_t cutoff = newest - options_.retain_alerts_ms;
    for (const char* sql : {"DELETE FROM alerts WHERE resolved = 1 AND updated_ms < ?1",
                            "DELETE FROM outbox WHERE status != 'pending' AND done_ms < ?1"}) {
      auto p = prepare(sql);
      if (!p.ok()) {
        return Error{p.error()};
      }
      Stmt st(*p);
      st.bind(1, cutoff);
      if (st.step() != SQLITE_DONE) {
        return sql_error("commit_alerts: prune");
      }
    }
  }
  return txn.commit("commit_alerts");
}

Result<std::vector<AlertRow>> SqliteStore::alerts() {
  std::lock_guard lock(mu_);
  auto p = prepare("SELECT id, body FROM alerts ORDER BY rowid");
  if (!p.ok()) {
    return Error{p.error()};
  }
  Stmt st(*p);
  std::vector<AlertRow> out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) {
    AlertRow a;
    a.id = st.text(0);
    auto j = parse_cell(st.text(1), "alerts.body of alert " + in_quotes(a.id));
    if (!j.ok()) {
      return error("alerts: " + j.error());
    }
    a.body = std::move(*j);
    out.push_back(std::move(a));
  }
  if (rc != SQLITE_DONE) {
    return sql_error("alerts");
  }
  return out;
}

Result<std::vector<OutboxRow>> SqliteStore::read_outbox(sqlite3_stmt* s, const char* what) {
  Stmt st(s);  // bound by the caller; reset here
  std::vector<OutboxRow> out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) {
    OutboxRow o;
    o.id = st.i64(0);
    o.alert_id = st.text(1);
    o.channel = st.text(2);
    o.dedup_key = st.text(3);
    auto payload = parse_cell(st.text(4), "outbox.payload of row " + std::to_string(o.id));
    if (!payload.ok()) {
      return error(std::string(what) + ": " + payload.error());
    }
    o.payload = std::move(*payload);
    o.status = st.text(5);
    o.attempts = st.i64(6);
    o.created_ms = st.i64(7);
    o.next_attempt_ms = st.i64(8);
    o.done_ms = st.i64(9);
    auto history = parse_cell(st.text(10), "outbox.history of row " + std::to_string(o.id));
    if (!history.ok()) {
      return error(std::string(what) + ": " + history.error());
    }
    o.history = std::move(*history);
    out.push_back(std::move(o));
  }
  if (rc != SQLITE_DONE) {
    return sql_error(what);
  }
  return out;
}

#define STEERDNS_OUTBOX_COLUMNS                                                         \
  "id, alert_id, channel, dedup_key, payload, status, attempts, created_ms, next_attempt_ms, " \
  "done_ms, history"

Result<std::vector<OutboxRow>> SqliteStore::outbox_due(int64_t now_ms, size_t limit) {
  std::lock_guard lock(mu_);
  auto p = prepare("SELECT " STEERDNS_OUTBOX_COLUMNS
                   " FROM outbox WHERE status = 'pending' AND next_attempt_ms <= ?1 "
                   "ORDER BY id LIMIT ?2");
  if (!p.ok()) {
    return Error{p.error()};
  }
  sqlite3_bind_int64(*p, 1, now_ms);
  sqlite3_bind_int64(*p, 2, clamp_limit(limit));
  return read_outbox(*p, "outbox_due");
}

Result<std::vector<OutboxRow>> SqliteStore::outbox(size_t limit, const std::string& alert_id) {
  std::lock_guard lock(mu_);
  auto p = alert_id.empty()
               ? prepare("SELECT " STEERDNS_OUTBOX_COLUMNS " FROM outbox ORDER BY id DESC LIMIT ?1")
               : prepare("SELECT " STEERDNS_OUTBOX_COLUMNS
                         " FROM outbox WHERE alert_id = ?2 ORDER BY id DESC LIMIT ?1");
  if (!p.ok()) {
    return Error{p.error()};
  }
  sqlite3_bind_int64(*p, 1, clamp_limit(limit));
  if (!alert_id.empty()) {
    sqlite3_bind_text(*p, 2, alert_id.data(), static_cast<int>(alert_id.size()), SQLITE_TRANSIENT);
  }
  return read_outbox(*p, "outbox");
}

#undef STEERDNS_OUTBOX_COLUMNS

Status SqliteStore::outbox_attempt(int64_t id, const std::string& status,
                                   int64_t next_attempt_ms, const nlohmann::json& attempt,
                                   int64_t time_ms) {
  if (status != "pending" && status != "delivered" && status != "dead") {
    return error("outbox_attempt: status " + in_quotes(status) +
                 " (expected pending, delivered or dead)");
  }
  std::lock_guard lock(mu_);
  Txn txn(this);
  if (auto st = txn.begin(true, "outbox_attempt"); !st.ok()) {
    return st;
  }
  auto p = prepare("SELECT history FROM outbox WHERE id = ?1");
  if (!p.ok()) {
    return Error{p.error()};
  }
  nlohmann::json history;
  {
    Stmt st(*p);
    st.bind(1, id);
    int rc = st.step();
    if (rc == SQLITE_DONE) {
      return error("outbox_attempt: no outbox row " + std::to_string(id));
    }
    if (rc != SQLITE_ROW) {
      return sql_error("outbox_attempt: read row " + std::to_string(id));
    }
    auto j = parse_cell(st.text(0), "outbox.history of row " + std::to_string(id));
    if (!j.ok() || !j->is_array()) {
      history = nlohmann::json::array();  // a damaged history must not block delivery
    } else {
      history = std::move(*j);
    }
  }
  history.push_back(attempt);
  constexpr size_t kMaxHistory = 50;  // a row retried for days keeps its last attempts
  if (history.size() > kMaxHistory) {
    history.erase(history.begin(), history.end() - kMaxHistory);
  }
  auto u = prepare(
      "UPDATE outbox SET status = ?2, attempts = attempts + 1, next_attempt_ms = ?3, "
      "done_ms = ?4, history = ?5 WHERE id = ?1");
  if (!u.ok()) {
    return Error{u.error()};
  }
  {
    Stmt st(*u);
    st.bind(1, id)
        .bind(2, status)
        .bind(3, next_attempt_ms)
        .bind(4, status == "pending" ? int64_t{0} : time_ms)
        .bind(5, dump(history));
    if (st.step() != SQLITE_DONE) {
      return sql_error("outbox_attempt: update row " + std::to_string(id));
    }
  }
  return txn.commit("outbox_attempt");
}

Result<OutboxStats> SqliteStore::outbox_stats() {
  std::lock_guard lock(mu_);
  auto p = prepare(
      "SELECT status, COUNT(*), MIN(created_ms) FROM outbox GROUP BY status");
  if (!p.ok()) {
    return Error{p.error()};
  }
  Stmt st(*p);
  OutboxStats out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) {
    std::string status = st.text(0);
    if (status == "pending") {
      out.pending = st.i64(1);
      out.oldest_pending_ms = st.i64(2);
    } else if (status == "delivered") {
      out.delivered = st.i64(1);
    } else if (status == "dead") {
      out.dead = st.i64(1);
    }
  }
  if (rc != SQLITE_DONE) {
    return sql_error("outbox_stats");
  }
  return out;
}

}  // namespace steerdns::store
