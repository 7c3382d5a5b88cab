#pragma once
// The control plane: the one path every change takes --
//   validate (config::apply + config::compile) -> commit to the store (durable) -> publish
//   (the daemon swaps the new config in) -> INSYNC.
// Front ends (native JSON API, Route 53 API, `steerdns apply`, the config file at startup and
// on reload) only build ChangeBatches; none of them writes the store or the daemon directly.
//
// Concurrency and group commit: submit() may be called from many threads at once. One applier
// thread takes every queued batch, applies them in arrival order to the current catalog (each
// batch is structurally checked against the catalog its predecessors left), compiles the
// result once and commits all of them in one store transaction. A batch that makes the group
// fail to compile is found by compiling the prefixes again, rejected alone, and the others go
// on. So N concurrent small batches cost about one compile and one fsync, and a bad batch never
// takes a good one down with it.
//
// Publishing is asynchronous: submit() returns once the batch is durable (status PENDING);
// the applier then hands the compiled config to Hooks::publish and marks every batch up to
// that revision INSYNC. Route 53 clients poll get-change for that; wait_insync() blocks.
//
// Startup: start() loads the store; if the catalog is empty and a seed is given (the config
// file), the seed goes in as the first batch (author "config:FILE"). Batches left PENDING by a
// crash are marked INSYNC once the restored catalog is served (they are in it: commit is
// atomic). A fleet node whose store is out of reach at start serves its catalog cache instead.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "config/catalog.h"
#include "config/loader.h"
#include "core/file.h"
#include "core/result.h"
#include "store/store.h"

namespace steerdns::control {

struct Hooks {
  // Serves a compiled config (health engine, steering, snapshot swap) and returns once queries
  // see it. Called on the applier thread only. An error (the daemon could not take it, e.g. a
  // health check that cannot be set up) leaves the batch committed but PENDING and is logged;
  // the next publish retries with the newer catalog.
  std::function<Status(const config::LoadedConfig&)> publish;
  // Before committing: extra checks the daemon wants on a candidate (e.g. that steering state
  // can be carried over). May be empty.
  std::function<Status(const config::LoadedConfig&)> check;
};

// A batch builder runs on the applier thread against the catalog its predecessors left: the
// Route 53 layer translates "add member X to www/A" into a whole record set this way, without
// racing other writers.
using BatchBuilder = std::function<Result<config::ChangeBatch>(const config::Catalog&)>;

struct SubmitResult {
  store::ChangeRow change;  // id, status PENDING (or INSYNC if already served), revision, ...
  bool no_op = false;       // the batch changed nothing (nothing committed; change.id empty)
};

class Plane {
 public:
  Plane(std::unique_ptr<store::Store> store, config::ServerSettings server, Hooks hooks);
  ~Plane();  // stop()
  Plane(const Plane&) = delete;
  Plane& operator=(const Plane&) = delete;

  // Loads (or seeds) the catalog, compiles it, publishes it (synchronously: the daemon serves
  // it when start() returns), then starts the applier thread. `seed`: applied only when the
  // store's catalog is empty. Errors: the store cannot be read, the stored catalog no longer
  // compiles (names the entity), the seed is invalid.
  Status start(const config::Catalog* seed, const std::string& seed_author);
  void stop();

  // Validates, commits durably and returns PENDING (publishing continues in the background).
  // Errors: the builder's error, apply/compile errors ("change 2: ..."), store errors; nothing
  // is written then. Blocks the caller until its group is committed (milliseconds).
  Result<SubmitResult> submit(BatchBuilder build);
  Result<SubmitResult> submit(config::ChangeBatch batch);

  // Validation only (dry run): the plan a batch would make, without committing.
  Result<config::Catalog> validate(const config::ChangeBatch& batch) const;

  // Blocks until change `id` is INSYNC or `timeout` passes; true if INSYNC.
  bool wait_insync(const std::string& id, std::chrono::milliseconds timeout);

  // The committed catalog (immutable snapshot; cheap to take from any thread).
  std::shared_ptr<const config::Catalog> catalog() const;
  // The compiled config last published (for explain/test-dns-answer); null before start().
  std::shared_ptr<const config::LoadedConfig> served() const;
  int64_t served_revision() const;

  // Reload of the server section: the query-path settings in it (chaos, max_udp_payload,
  // xfr_allow) go into every config compiled from now on, and the current catalog is compiled
  // and published again with them. Runs on the applier thread in order with the batches;
  // returns once it is served (or the error of compiling/publishing it; nothing changes then).
  Status update_server(const config::ServerSettings& server);

  // Fleet: the store's catalog moved to `revision` (another node committed; the store's
  // watch_catalog calls this). Returns at once; the applier loads the stored catalog, compiles
  // and publishes it, in order with the batches. A catalog that does not compile is logged and
  // the running one keeps serving (every node validated it before committing, so this means a
  // newer binary wrote it).
  void refresh(int64_t revision);

  // Fleet (a shared store): every catalog served is kept in `path` as well (written after it is
  // served, off the query path), so that a node restarted while the store is out of reach still
  // has something to serve: start() falls back to it and the store's watch brings the node up
  // to date once it answers (docs/fleet.md, static stability). Before start(); empty: none.
  void set_catalog_cache(std::string path) { cache_path_ = std::move(path); }
  // Started from the cache and no catalog has been loaded from the store since.
  bool serving_cache() const;

  store::Store& store() { return *store_; }
  config::ServerSettings server_settings() const;

  struct Stats {
    uint64_t batches = 0;        // committed
    uint64_t rejected = 0;       // failed validation
    uint64_t groups = 0;         // store transactions
    uint64_t publishes = 0;
    double last_compile_ms = 0;
    double last_commit_ms = 0;
    double last_publish_ms = 0;
    double last_group_ms = 0;      // the whole group: apply, compile, commit, publish
    double last_group_cpu_ms = 0;  // the applier's CPU time for it
  };
  Stats stats() const;

 private:
  struct Pending;
  void run();
  // Returns false when the store refused the group as a conflict (another node committed
  // first) and `may_retry`: nothing was answered, the caller reloads and tries again.
  bool process(std::vector<std::shared_ptr<Pending>>& group, bool may_retry);
  // Loads, compiles and publishes the stored catalog if it is newer than ours (applier only).
  // False when the store did not answer.
  bool reload_from_store();
  void publish_latest();
  // The catalog cache (set_catalog_cache): handed to its writer thread after a publish (the
  // applier never waits for the disk); read once, by start().
  void save_cache(std::shared_ptr<const config::Catalog> c);
  Result<store::CatalogRows> load_cache() const;

  std::unique_ptr<store::Store> store_;
  Hooks hooks_;

  mutable std::mutex mu_;  // everything below
  std::shared_ptr<const config::ServerSettings> server_;
  std::condition_variable cv_;       // applier: work queued / stop
  std::condition_variable insync_cv_;  // waiters: served revision moved
  std::deque<std::shared_ptr<Pending>> queue_;
  std::shared_ptr<const config::Catalog> catalog_;
  // Applier thread only. The catalog before the last group and what that group changed: when
  // no reader holds it any more, the next group reuses it (copy_touched) instead of copying
  // the whole catalog. The compile cache keeps unchanged record sets compiled.
  std::shared_ptr<config::Catalog> spare_;
  config::Touched spare_lag_;
  config::CompileCache cache_;
  std::shared_ptr<const config::LoadedConfig> served_;
  int64_t served_revision_ = 0;
  std::vector<std::pair<int64_t, std::string>> unserved_;  // (revision, change id) PENDING
  Stats stats_;
  bool stopping_ = false;
  int64_t refresh_wanted_ = 0;  // fleet: a stored revision newer than ours was seen
  bool serving_cache_ = false;
  std::string cache_path_;        // set before start()
  int64_t cached_revision_ = -1;  // applier only: the revision last handed to the writer
  std::string cache_error_;       // the writer's thread only: the last save error (logged once)
  // With a cache, from start() to stop(); after what its thread touches (cache_error_).
  std::unique_ptr<BackgroundFileWriter> cache_writer_;
  std::thread thread_;
};

}  // namespace steerdns::control
