#pragma once
// The fleet backend of the Store: every node of a fleet keeps the catalog in one etcd cluster
// (store.h explains the interface; client.h the connection).
//
// Key layout, under Options::prefix ("steerdns/"), values JSON text unless said otherwise:
//   layout                      {"version": 1}; a newer version is refused
//   cat/rev                     the catalog revision, decimal text; +1 per commit
//   cat/zone/{id}               ZoneRow
//   cat/rec/{zone_id}/{key}     record body
//   cat/check/{id}              {"caller_ref", "version", "body"}
//   cat/settings                global settings
//   change/{id}                 ChangeRow;  changerev/{%020d revision} -> id (listing order)
//   pending/{%020d revision}    -> id while the batch is PENDING (pending_changes)
//   commit-token                random token of the last commit (retry check without change id)
//   event/{node}/{random}       {"time_ms", "body", "i"}; seq = create_revision * 1024 + i
//   state/{key}                 fleet-wide state ("alerts-cursor", "slo")
//   node/{node}/state/{key}     every other state key, per node
//   alert/{id}                  alert body (listed by create revision, then id)
//   outbox/{%020d id}           OutboxRow
//   outbox-seq                  last outbox id;  outbox-dedup/{dedup_key} -> id
//
// load() is one range over cat/ (pages pinned to one etcd revision), so it sees whole commits.
// A commit is one etcd transaction guarded by a compare on cat/rev; when its answer is lost
// (leader died) the store looks for the change batch (or commit token) it wrote before trying
// again, so a commit is never applied twice. etcd refuses transactions with more operations
// than --max-txn-ops (default 128); steerdns fleets run etcd with a higher limit (10000).
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/result.h"
#include "store/etcd/client.h"
#include "store/store.h"

namespace steerdns::store {

struct EtcdStoreOptions {
  // Events kept (fleet-wide): every events() read sorts the whole event range on the server,
  // so this is smaller than SQLite's default.
  size_t retain_events = 10000;
  // Pruning runs once every this many appends by this node.
  size_t prune_every = 500;
  // Delivered / dead outbox rows and resolved alerts kept this long.
  int64_t retain_alerts_ms = 30LL * 86400 * 1000;
  // Alert / outbox pruning runs once every this many commit_alerts.
  size_t prune_alerts_every = 50;
  // open() succeeds though no endpoint answers (store.h OpenOptions::allow_offline).
  bool allow_offline = false;
};

class EtcdStore final : public Store {
 public:
  // The key layout version this binary writes and reads.
  static constexpr int kLayoutVersion = 1;

  // Connects (a linearizable read of the layout key within the deadline) and creates the
  // layout key on a fresh cluster.
  static Result<std::unique_ptr<EtcdStore>> open(const etcd::Options& options, std::string node_id,
                                                 EtcdStoreOptions store_options = {});
  ~EtcdStore() override;
  EtcdStore(const EtcdStore&) = delete;
  EtcdStore& operator=(const EtcdStore&) = delete;

  std::string describe() const override;
  bool shared() const override { return true; }
  Status watch_catalog(std::function<void(int64_t revision)> cb) override;

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
  int schema_version() const override { return kLayoutVersion; }

  const std::string& node_id() const { return node_id_; }
  etcd::Client& client() { return client_; }

 private:
  EtcdStore(const etcd::Options& options, std::string node_id, EtcdStoreOptions store_options);

  Status init();
  // OK once init() has succeeded; after an offline open, tries it again (at most once a
  // second, else the last error) so that nothing is read or written before the key layout
  // has been checked.
  Status ready();
  std::string k(const std::string& suffix) const { return client_.options().prefix + suffix; }
  Error error(const std::string& what, const std::string& cause) const;
  Error error(const std::string& what) const;
  // The catalog revision (cat/rev) and its key's version (0: never written).
  Result<std::pair<int64_t, int64_t>> read_revision(const std::string& what);
  Result<std::vector<int64_t>> commit_many(const std::vector<Commit>& commits,
                                           const std::string& what);
  Result<std::vector<etcd::KeyValue>> range_all(const std::string& prefix, const std::string& what,
                                                int64_t* revision = nullptr);
  Status write_events(const std::vector<std::pair<int64_t, nlohmann::json>>& batch);
  void maybe_prune_events(size_t appended);
  Status prune_events();
  Result<std::vector<Event>> parse_events(std::vector<etcd::KeyValue> kvs, const char* what);
  void maybe_prune_alerts(int64_t newest);
  std::string state_key(const std::string& key) const;

  etcd::Client client_;
  const std::string node_id_;
  const EtcdStoreOptions sopts_;
  std::mutex commit_mu_;  // one commit of this node at a time (others may race: CAS)
  std::atomic<size_t> appended_{0};
  std::atomic<size_t> alert_commits_{0};
  std::atomic<bool> ready_{false};
  std::mutex ready_mu_;
  int64_t ready_tried_ms_ = 0;  // steady clock
  std::string ready_error_;
  std::mutex watch_mu_;
  std::unique_ptr<etcd::Watch> watch_;
};

}  // namespace steerdns::store
