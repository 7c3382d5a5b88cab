#pragma once
// The durable store: the catalog (hosted zones, record sets, health checks, global settings),
// change batches with their status, the event log and persisted runtime state (health,
// steering, overrides). Every write goes through this one interface, which the embedded
// SQLite backend implements (store/sqlite_store.h) and the fleet's etcd backend will too.
//
// The store does not interpret the JSON bodies: their schema is the config file's (see
// config/catalog.h). It keeps them whole, keyed, and versioned by a store-wide revision.
//
// Atomicity: commit() writes everything in one Commit or nothing, and returns only once it is
// durable (SQLite: WAL, synchronous=FULL). Concurrency: an implementation is safe to call from
// several threads (calls are serialised inside); readers never see half a commit.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/result.h"

namespace steerdns::store {

struct ZoneRow {
  std::string id;    // hosted zone id, "Z" + 20 upper-case alphanumerics (Route 53 shape)
  std::string name;  // absolute, lower case: "example.test."
  std::string caller_ref;  // Route 53 CallerReference (idempotent create); may be empty
  std::string comment;
  // Zone-level settings in the config schema: {"ttl", "soa": {...}, "ns": [...]}.
  nlohmann::json settings = nlohmann::json::object();
  int64_t created_ms = 0;  // Unix ms
};

// One record set: all members of one (name, type) in the zone. `key` is "name./TYPE"
// ("www.example.test./A"), the body the config schema's record with an absolute name.
struct RecordRow {
  std::string zone_id;
  std::string key;
  nlohmann::json body;
};

struct CheckRow {
  std::string id;          // config id ("primary-app") or a UUID made by the Route 53 API
  std::string caller_ref;  // Route 53 CallerReference; may be empty
  int64_t version = 1;     // Route 53 HealthCheckVersion: +1 on every update
  nlohmann::json body;     // config schema, without "id"
};

// A catalog read in one transaction.
struct CatalogRows {
  int64_t revision = 0;  // 0 = nothing was ever committed
  std::vector<ZoneRow> zones;
  std::vector<RecordRow> records;
  std::vector<CheckRow> checks;
  nlohmann::json settings = nlohmann::json::object();  // latency_map, geoip, actions, ...
};

// PENDING on commit; INSYNC once the daemon serves it (mark_insync). Route 53's names.
struct ChangeRow {
  std::string id;  // "C" + 20 upper-case alphanumerics
  int64_t revision = 0;  // the store revision this batch produced
  std::string status;    // "PENDING" | "INSYNC"
  std::string author;    // token / access key name, "config:FILE", "cli"
  std::string comment;
  int64_t submitted_ms = 0;
  int64_t insync_ms = 0;  // 0 while PENDING
  // What changed, for listing and diffs: [{"action", "kind", "key", "zone", "before",
  // "after"}] (before/after are bodies or null). Written by the caller, kept verbatim.
  nlohmann::json changes = nlohmann::json::array();
};

// One write in a commit. kind: "zone" (key = zone id, zone set), "record" (zone_id + key,
// record set), "check" (key = id, check set), "settings" (body = the whole settings object).
// delete = true removes the row (a zone's delete also removes its records).
struct Op {
  std::string kind;
  std::string key;
  std::string zone_id;  // records
  bool del = false;
  std::optional<ZoneRow> zone;
  std::optional<RecordRow> record;
  std::optional<CheckRow> check;
  nlohmann::json settings;
};

// The record set a "record" op names: the op's zone_id and key, each else its row's.
// `conflict`: the op and its row name different records (the backend reports it).
struct RecordTarget {
  std::string zone_id;
  std::string key;
  bool conflict = false;
};
RecordTarget record_target(const Op& op);

struct Commit {
  std::vector<Op> ops;
  // Recorded with the ops in the same transaction (status PENDING, revision filled in).
  // Empty id = no change record (state-only writes never come through here).
  ChangeRow change;
  // Expected current revision; -1 = don't check. A mismatch fails with "conflict: ..." and
  // writes nothing (a second writer, e.g. another fleet node, got there first).
  int64_t expect_revision = -1;
  // Events recorded in the same transaction ((time_ms, body)): the audit entry of a batch is
  // there exactly when the batch is, and costs no second fsync.
  std::vector<std::pair<int64_t, nlohmann::json>> events;
};

struct Event {
  int64_t seq = 0;  // assigned by the store, increasing
  int64_t time_ms = 0;
  nlohmann::json body;  // {"type", ...}: the orchestrator's and control plane's events
};

// Alerting (alert/): alerts and the durable notification outbox. The bodies are alert/'s; the
// store keeps them whole. Outbox rows are written before anything is sent and change status
// only through outbox_attempt(), so a notification survives a crash between write and send.
struct AlertRow {
  std::string id;
  nlohmann::json body;
};

struct OutboxRow {
  int64_t id = 0;  // assigned by the store, increasing
  std::string alert_id;
  std::string channel;
  std::string dedup_key;      // unique: enqueueing a key that exists is a no-op
  nlohmann::json payload;     // what the channel sends (alert/ renders it)
  std::string status = "pending";  // "pending" | "delivered" | "dead"
  int64_t attempts = 0;
  int64_t created_ms = 0;
  int64_t next_attempt_ms = 0;  // pending: not before this
  int64_t done_ms = 0;          // delivered / dead: when
  nlohmann::json history = nlohmann::json::array();  // [{time_ms, ok, detail}], newest last
};

struct OutboxStats {
  int64_t pending = 0;
  int64_t dead = 0;
  int64_t delivered = 0;
  int64_t oldest_pending_ms = 0;  // created_ms of the oldest pending row; 0 = none
};

// One alerting step, written in one transaction: alerts upserted, notifications enqueued and
// state documents (the event cursor) put together, so a restart neither repeats nor loses one.
struct AlertCommit {
  std::vector<AlertRow> alerts;
  std::vector<OutboxRow> enqueue;
  std::vector<std::pair<std::string, nlohmann::json>> state;
};

class Store {
 public:
  virtual ~Store() = default;

  // "sqlite:/var/lib/steerdns/steerdns.db", "sqlite::memory:" (tests),
  // "etcd:http://127.0.0.1:23791,... (node a)".
  virtual std::string describe() const = 0;

  // Fleet backends (etcd): other nodes commit to the same catalog. shared() says so; then
  // watch_catalog() calls `cb` with the stored catalog revision whenever it moves (by any
  // node, this one included), from the backend's own thread, until the store is destroyed. It
  // may skip revisions (only the newest matters) and calls once soon after it starts with
  // the current one; after a lost connection it calls again once it is back. Errors that are
  // the engine being out of reach start with "unavailable: " (the API answers 503), a lost
  // compare-and-swap with "conflict: ". Single-node backends: no calls, OkStatus.
  virtual bool shared() const { return false; }
  virtual Status watch_catalog(std::function<void(int64_t revision)> cb) {
    (void)cb;
    return OkStatus();
  }

  virtual Result<CatalogRows> load() = 0;
  // Returns the new revision. Atomic and durable on success; on error nothing was written.
  virtual Result<int64_t> commit(const Commit& c) = 0;
  // Group commit: several commits in one transaction (one fsync), revisions increasing in
  // order; all or none. Backends should override this default, which is not atomic as a group.
  virtual Result<std::vector<int64_t>> commit_group(const std::vector<Commit>& commits) {
    std::vector<int64_t> revs;
    for (const auto& c : commits) {
      auto r = commit(c);
      if (!r) {
        return Error{r.error()};
      }
      revs.push_back(*r);
    }
    return revs;
  }

  // Change batches.
  virtual Status mark_insync(const std::vector<std::string>& change_ids, int64_t time_ms) = 0;
  virtual Result<std::optional<ChangeRow>> change(const std::string& id) = 0;
  // Newest first; `before_revision` > 0 pages (only batches with a smaller revision).
  virtual Result<std::vector<ChangeRow>> changes(size_t limit, int64_t before_revision = 0) = 0;
  // Every batch still PENDING (after a crash: committed, not yet confirmed served).
  virtual Result<std::vector<ChangeRow>> pending_changes() = 0;

  // Event log: append-only, kept up to `retain` newest (older ones are pruned on append).
  virtual Result<int64_t> append_event(int64_t time_ms, const nlohmann::json& body) = 0;
  // Oldest first, seq > after_seq, at most limit.
  virtual Result<std::vector<Event>> events(int64_t after_seq, size_t limit) = 0;
  // Several events in one transaction (one fsync). Backends should override this default.
  virtual Status append_events(const std::vector<std::pair<int64_t, nlohmann::json>>& batch) {
    for (const auto& [t, body] : batch) {
      if (auto r = append_event(t, body); !r) {
        return Error{r.error()};
      }
    }
    return OkStatus();
  }
  // The newest `n` events (0 = all), oldest first. Backends should override this default.
  virtual Result<std::vector<Event>> last_events(size_t n) {
    std::vector<Event> all;
    int64_t after = 0;
    for (;;) {
      auto page = events(after, 10000);
      if (!page) {
        return Error{page.error()};
      }
      if (page->empty()) {
        break;
      }
      after = page->back().seq;
      for (auto& e : *page) {
        all.push_back(std::move(e));
      }
    }
    if (n > 0 && all.size() > n) {
      all.erase(all.begin(), all.end() - static_cast<std::ptrdiff_t>(n));
    }
    return all;
  }

  // Runtime state documents ("health", "steering", "config-file-hash", ...): last write wins,
  // each put durable on return.
  virtual Status put_state(const std::string& key, const nlohmann::json& value) = 0;
  virtual Result<std::optional<nlohmann::json>> get_state(const std::string& key) = 0;

  // Alerts and the outbox (see AlertRow / OutboxRow).
  virtual Status commit_alerts(const AlertCommit& c) = 0;
  // Every alert kept (resolved ones are pruned after `retain_resolved_ms`), oldest first.
  virtual Result<std::vector<AlertRow>> alerts() = 0;
  // Pending rows due at `now_ms`, oldest first.
  virtual Result<std::vector<OutboxRow>> outbox_due(int64_t now_ms, size_t limit) = 0;
  // Records one delivery attempt of row `id`: status becomes `status` ("pending" with the next
  // attempt time, "delivered" or "dead"), `attempt` is appended to its history.
  virtual Status outbox_attempt(int64_t id, const std::string& status, int64_t next_attempt_ms,
                                const nlohmann::json& attempt, int64_t time_ms) = 0;
  // Newest first; `alert_id` non-empty: only that alert's rows.
  virtual Result<std::vector<OutboxRow>> outbox(size_t limit, const std::string& alert_id) = 0;
  virtual Result<OutboxStats> outbox_stats() = 0;

  // Schema version of the open database (migrations are numbered from 1).
  virtual int schema_version() const = 0;
};

struct OpenOptions {
  // Fleet backends: this node's name; its per-node keys (runtime state) live under it.
  // Required by etcd, ignored by SQLite.
  std::string node_id;
  // Fleet backends: open even when no endpoint answers (the node has a cached catalog to serve,
  // docs/fleet.md); every call then fails as unavailable until one does, and the key layout is
  // checked then. Errors other than unreachability (TLS, auth, newer layout) still fail open.
  bool allow_offline = false;
};

// Opens "sqlite:PATH" (created if missing, migrated to the current schema),
// "sqlite::memory:", or "etcd:URL[,URL...][?options]" (store/etcd/etcd_store.h). Errors name
// the path or endpoint and the reason (not writable, not a steerdns database, newer schema or
// key layout than this binary knows, locked by another process, unreachable, ...).
Result<std::unique_ptr<Store>> open_store(const std::string& spec, const OpenOptions& opts = {});

// An error that is the backend being out of reach (shared()'s "unavailable: " prefix): worth
// waiting out or serving a local copy through; any other error is not.
inline bool is_unavailable(const std::string& error) {
  return error.rfind("unavailable: ", 0) == 0;
}
// The same, for an error that callers may have prefixed with context ("commit: unavailable: ..."),
// as the API sees them: it answers 503 for these.
inline bool wraps_unavailable(const std::string& error) {
  return is_unavailable(error) || error.find(": unavailable: ") != std::string::npos;
}

// A catalog as one JSON document and back (a fleet node's catalog cache, control/plane.h).
// rows_from_json checks the shape and says where it is wrong.
nlohmann::json rows_to_json(const CatalogRows& rows);
Result<CatalogRows> rows_from_json(const nlohmann::json& j);

// Ids in Route 53's shape: prefix + 20 characters from [A-Z0-9], random (OpenSSL RAND_bytes).
std::string make_id(char prefix);

}  // namespace steerdns::store
