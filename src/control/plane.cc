#include "control/plane.h"

#include <spdlog/spdlog.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <optional>
#include <random>
#include <system_error>

#include "core/file.h"
#include "core/thread_priority.h"

namespace steerdns::control {
namespace {

using Clock = std::chrono::steady_clock;

// A burst of changes rewrites the catalog cache at most this often: it is read only by a
// start without etcd, and each write is a flush on a disk that etcd may share.
constexpr int64_t kCacheIntervalMs = 1000;

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

double thread_cpu_ms() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

// The applier's CPU pacing (see run()): its long-run share of a core under a sustained write
// stream, the CPU it may spend at once before pacing starts, and the longest a group waits.
constexpr double kCpuShare = 0.03;
constexpr double kCpuBurstMs = 200;
constexpr double kMaxPaceWaitMs = 250;

// The event a committed batch leaves in the log, shaped like the orchestrator's events
// (dr/orchestrator.h Event) so one timeline holds both.
nlohmann::json change_event(const store::ChangeRow& c, size_t n) {
  std::string cause = std::to_string(n) + (n == 1 ? " change" : " changes");
  if (!c.comment.empty()) {
    cause += ": " + c.comment;
  }
  return {{"wall_ms", c.submitted_ms}, {"type", "change_batch"}, {"target", c.id},
          {"cause", cause},            {"actor", c.author},      {"revision", c.revision}};
}

// The store write of one accepted batch: its change record (PENDING) and audit event, with the
// revision the store will give it (commit() checks expect_revision, so it is that one).
store::Commit batch_commit(const config::ChangeBatch& batch, nlohmann::json summary,
                           std::vector<store::Op> ops, int64_t expect_revision) {
  store::Commit c;
  c.ops = std::move(ops);
  c.change.id = store::make_id('C');
  c.change.status = "PENDING";
  c.change.author = batch.author;
  c.change.comment = batch.comment;
  c.change.submitted_ms = wall_ms();
  c.change.changes = std::move(summary);
  c.change.revision = expect_revision + 1;
  c.expect_revision = expect_revision;
  c.events.emplace_back(c.change.submitted_ms, change_event(c.change, batch.changes.size()));
  return c;
}

// A group bigger than this waits for the next round: it bounds the latency of the first
// submitter and the size of one transaction.
constexpr size_t kMaxGroup = 256;

// Fleet: how often a group lost to another node's commit is applied again before its batches
// are answered with the conflict (each retry reloads the catalog after a jittered pause).
constexpr int kMaxConflictRetries = 12;

}  // namespace

struct Plane::Pending {
  BatchBuilder build;
  // update_server(): no batch; these settings from now on, and a publish of the catalog.
  std::shared_ptr<const config::ServerSettings> server;
  bool done = false;
  Result<SubmitResult> result = Error{"not processed"};
};

Plane::Plane(std::unique_ptr<store::Store> store, config::ServerSettings server, Hooks hooks)
    : store_(std::move(store)),
      hooks_(std::move(hooks)),
      server_(std::make_shared<const config::ServerSettings>(std::move(server))) {}

config::ServerSettings Plane::server_settings() const {
  std::lock_guard lk(mu_);
  return *server_;
}

Plane::~Plane() {
  stop();
  // The store first: its watch thread (fleet) calls refresh() on members declared after it.
  store_.reset();
}

Status Plane::start(const config::Catalog* seed, const std::string& seed_author) {
  auto rows = store_->load();
  bool from_cache = false;
  if (!rows) {
    // Only "out of reach" is waited out on the cache; a catalog etcd holds but we cannot read
    // is an error to see, as without a cache.
    if (!store_->shared() || cache_path_.empty() || !store::is_unavailable(rows.error())) {
      return Error{store_->describe() + ": " + rows.error()};
    }
    auto cached = load_cache();
    if (!cached) {
      return Error{rows.error() + "; and no catalog to serve meanwhile: " + cached.error()};
    }
    spdlog::warn(
        "{}; serving revision {} from the catalog cache {} until the store answers (writes "
        "fail until then)",
        rows.error(), cached->revision, cache_path_);
    rows = std::move(cached);
    from_cache = true;
  }
  auto cat = std::make_shared<config::Catalog>(config::Catalog::from_rows(*rows));
  bool empty = cat->zones.empty() && cat->checks.empty() && cat->revision == 0;
  Result<config::LoadedConfig> seeded = Error{"not seeded"};  // compiled once, served as is
  if (from_cache) {
    // Neither seeded nor compared with the config file: the store decides once it answers.
  } else if (empty && seed != nullptr) {
    config::ChangeBatch batch = config::diff(*cat, *seed);
    batch.author = seed_author;
    batch.comment = "seeded from the config file";
    if (!batch.changes.empty()) {
      auto next = config::apply(*cat, batch);
      if (!next) {
        return Error{"seeding the store: " + next.error()};
      }
      seeded = config::compile(*next, *server_, &batch, &cache_);
      if (!seeded) {
        return Error{"seeding the store: " + seeded.error()};
      }
      store::Commit c = batch_commit(batch, config::change_summary(batch, *cat),
                                     config::commit_ops(*cat, *next), cat->revision);
      auto rev = store_->commit(c);
      if (!rev && rev.error().rfind("conflict", 0) == 0) {
        // Fleet: another node seeded the shared catalog first; serve what it wrote.
        spdlog::info("store {}: another node seeded the catalog first; serving it",
                     store_->describe());
        return start(nullptr, seed_author);
      }
      if (!rev) {
        return Error{store_->describe() + ": seeding: " + rev.error()};
      }
      next->revision = *rev;
      cat = std::make_shared<config::Catalog>(std::move(*next));
      {
        std::lock_guard lk(mu_);
        stats_.batches++;  // the seed is this process's first committed batch
        stats_.groups++;
      }
      spdlog::info("store {}: seeded from the config ({} changes, change {})", store_->describe(),
                   batch.changes.size(), c.change.id);
    }
  } else if (!empty && seed != nullptr) {
    config::ChangeBatch d = config::diff(*cat, *seed);
    if (!d.changes.empty()) {
      spdlog::warn(
          "store {} (revision {}) differs from the config file in {} changes; the store is "
          "what is served (`steerdns apply -f FILE` applies the file)",
          store_->describe(), cat->revision, d.changes.size());
    }
  }
  auto t0 = Clock::now();
  auto loaded = seeded ? std::move(seeded) : config::compile(*cat, *server_, nullptr, &cache_);
  if (!loaded) {
    return Error{store_->describe() + " (revision " + std::to_string(cat->revision) +
                 "): the stored catalog does not compile: " + loaded.error()};
  }
  double compile_ms = ms_since(t0);
  auto served = std::make_shared<const config::LoadedConfig>(std::move(*loaded));
  if (hooks_.publish) {
    if (auto st = hooks_.publish(*served); !st) {
      return st;
    }
  }
  // Batches a crash left PENDING are in the catalog just published (commits are atomic).
  auto pending = from_cache ? Result<std::vector<store::ChangeRow>>(std::vector<store::ChangeRow>{})
                            : store_->pending_changes();
  if (pending && !pending->empty()) {
    std::vector<std::string> ids;
    for (const auto& c : *pending) {
      ids.push_back(c.id);
    }
    (void)store_->mark_insync(ids, wall_ms());
  }
  {
    std::lock_guard lk(mu_);
    catalog_ = cat;
    served_ = served;
    served_revision_ = cat->revision;
    stats_.last_compile_ms = compile_ms;
    stats_.publishes++;
    stopping_ = false;
    serving_cache_ = from_cache;
  }
  if (!cache_path_.empty() && store_->shared()) {
    cache_writer_ = std::make_unique<BackgroundFileWriter>(
        cache_path_,
        [this](const Status& st) {
          if (!st) {
            if (cache_error_ != st.error()) {
              spdlog::error(
                  "control plane: catalog cache not saved ({}); a restart while the store is out "
                  "of reach would serve an older catalog, or none",
                  st.error());
            }
            cache_error_ = st.error();
          } else {
            cache_error_.clear();
          }
        },
        std::chrono::milliseconds(kCacheIntervalMs));
  }
  if (!from_cache) {
    save_cache(cat);
  } else {
    cached_revision_ = cat->revision;
  }
  thread_ = std::thread([this] {
    make_background_thread("sd-plane");
    run();
  });
  if (store_->shared()) {
    // Fleet: other nodes' commits reach us through the store's watch.
    if (auto st = store_->watch_catalog([this](int64_t rev) { refresh(rev); }); !st) {
      return Error{store_->describe() + ": watching the catalog: " + st.error()};
    }
  }
  return OkStatus();
}

void Plane::stop() {
  {
    std::lock_guard lk(mu_);
    if (!thread_.joinable()) {
      return;
    }
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
  cache_writer_.reset();  // writes the last catalog handed to it
  // Submitters still queued get an answer rather than hanging.
  std::lock_guard lk(mu_);
  for (auto& p : queue_) {
    p->result = Error{"the daemon is shutting down; the batch was not applied"};
    p->done = true;
  }
  queue_.clear();
  insync_cv_.notify_all();
}

Result<SubmitResult> Plane::submit(config::ChangeBatch batch) {
  auto shared = std::make_shared<config::ChangeBatch>(std::move(batch));
  return submit([shared](const config::Catalog&) -> Result<config::ChangeBatch> {
    return *shared;
  });
}

Result<SubmitResult> Plane::submit(BatchBuilder build) {
  auto p = std::make_shared<Pending>();
  p->build = std::move(build);
  std::unique_lock lk(mu_);
  if (!thread_.joinable() || stopping_) {
    return Error{"the control plane is not running"};
  }
  queue_.push_back(p);
  cv_.notify_all();
  insync_cv_.wait(lk, [&] { return p->done; });
  return std::move(p->result);
}

Status Plane::update_server(const config::ServerSettings& server) {
  auto p = std::make_shared<Pending>();
  p->server = std::make_shared<const config::ServerSettings>(server);
  p->build = [](const config::Catalog&) -> Result<config::ChangeBatch> {
    return config::ChangeBatch{};
  };
  std::unique_lock lk(mu_);
  if (!thread_.joinable() || stopping_) {
    return Error{"the control plane is not running"};
  }
  queue_.push_back(p);
  cv_.notify_all();
  insync_cv_.wait(lk, [&] { return p->done; });
  return p->result ? OkStatus() : Status{Error{p->result.error()}};
}

Result<config::Catalog> Plane::validate(const config::ChangeBatch& batch) const {
  auto base = catalog();
  if (!base) {
    return Error{"the control plane is not running"};
  }
  auto next = config::apply(*base, batch);
  if (!next) {
    return next;
  }
  auto loaded = config::compile(*next, server_settings(), &batch);
  if (!loaded) {
    return Error{loaded.error()};
  }
  if (hooks_.check) {
    if (auto st = hooks_.check(*loaded); !st) {
      return Error{st.error()};
    }
  }
  return next;
}

bool Plane::wait_insync(const std::string& id, std::chrono::milliseconds timeout) {
  auto row = store_->change(id);
  if (!row || !row->has_value()) {
    return false;
  }
  int64_t rev = (*row)->revision;
  if ((*row)->status == "INSYNC") {
    return true;
  }
  std::unique_lock lk(mu_);
  return insync_cv_.wait_for(lk, timeout, [&] { return served_revision_ >= rev || stopping_; }) &&
         served_revision_ >= rev;
}

std::shared_ptr<const config::Catalog> Plane::catalog() const {
  std::lock_guard lk(mu_);
  return catalog_;
}

std::shared_ptr<const config::LoadedConfig> Plane::served() const {
  std::lock_guard lk(mu_);
  return served_;
}

int64_t Plane::served_revision() const {
  std::lock_guard lk(mu_);
  return served_revision_;
}

Plane::Stats Plane::stats() const {
  std::lock_guard lk(mu_);
  return stats_;
}

void Plane::run() {
  // CPU pacing (a token bucket of applier CPU time): occasional batches and bursts go at once;
  // a sustained stream is held to kCpuShare of a core by letting batches queue up a little
  // longer, so that one group (one compile, one fsync, one publish) takes more of them. That
  // keeps the query threads' core theirs however fast the API is written to.
  double tokens_ms = kCpuBurstMs;
  Clock::time_point refilled = Clock::now();
  auto refill = [&] {
    auto now = Clock::now();
    tokens_ms = std::min(kCpuBurstMs, tokens_ms + kCpuShare * ms_between(refilled, now));
    refilled = now;
  };
  std::minstd_rand jitter(std::random_device{}());
  // The store holds a newer catalog, or answers again after a start from the cache (its
  // revision, even an equal one, is what tells the cache is current).
  auto behind = [this] {
    return refresh_wanted_ > catalog_->revision || (serving_cache_ && refresh_wanted_ > 0);
  };
  std::unique_lock lk(mu_);
  for (;;) {
    cv_.wait(lk, [&] { return stopping_ || !queue_.empty() || behind(); });
    if (stopping_) {
      return;
    }
    if (behind()) {
      lk.unlock();
      const bool answered = reload_from_store();
      lk.lock();
      if (queue_.empty()) {
        if (!answered && behind()) {
          // Not loaded (the store is out of reach): try again shortly, not in a busy loop.
          // (Still behind after a load only means a newer commit came meanwhile: go at once.)
          cv_.wait_for(lk, std::chrono::milliseconds(500), [&] { return stopping_; });
        }
        continue;
      }
    }
    refill();
    if (tokens_ms < 0) {
      auto wait = std::chrono::duration<double, std::milli>(
          std::min(-tokens_ms / kCpuShare, kMaxPaceWaitMs));
      cv_.wait_for(lk, wait, [&] { return stopping_; });
      if (stopping_) {
        return;
      }
      refill();
      tokens_ms = std::max(tokens_ms, 0.0);  // the wait is capped: the rest of the debt is forgiven
    }
    std::vector<std::shared_ptr<Pending>> group;
    while (!queue_.empty() && group.size() < kMaxGroup) {
      group.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    lk.unlock();
    const double cpu0 = thread_cpu_ms();
    auto t0 = Clock::now();
    // Fleet: a conflict means another node committed first; catch up and apply again. Under
    // contention (nodes writing in tight loops) a jittered, growing pause keeps the nodes from
    // losing to each other in lockstep.
    for (int attempt = 0; !process(group, attempt < kMaxConflictRetries); ++attempt) {
      std::uniform_int_distribution<int> pause(0, std::min(200, 4 << std::min(attempt, 6)));
      std::this_thread::sleep_for(std::chrono::milliseconds(pause(jitter)));
      reload_from_store();
    }
    const double used = thread_cpu_ms() - cpu0;
    tokens_ms -= used;
    lk.lock();
    stats_.last_group_ms = ms_since(t0);
    stats_.last_group_cpu_ms = used;
  }
}

void Plane::refresh(int64_t revision) {
  {
    std::lock_guard lk(mu_);
    if (revision <= refresh_wanted_) {
      return;
    }
    refresh_wanted_ = revision;
  }
  cv_.notify_all();
}

bool Plane::reload_from_store() {
  std::shared_ptr<const config::Catalog> base = catalog();
  auto rows = store_->load();
  if (!rows) {
    spdlog::warn("control plane: loading the catalog from {}: {}", store_->describe(),
                 rows.error());
    return false;
  }
  if (rows->revision <= base->revision) {
    std::lock_guard lk(mu_);
    if (serving_cache_) {
      serving_cache_ = false;
      if (rows->revision == base->revision) {
        spdlog::info("control plane: {} answers; the cached revision {} is its current one",
                     store_->describe(), base->revision);
      } else {
        spdlog::warn(
            "control plane: {} is at revision {}, behind the cached {} (restored from "
            "a backup?); the cached catalog serves until the store's moves past it",
            store_->describe(), rows->revision, base->revision);
      }
    }
    return true;
  }
  auto cat = std::make_shared<config::Catalog>(config::Catalog::from_rows(*rows));
  auto t0 = Clock::now();
  config::ServerSettings server = server_settings();
  auto loaded = config::compile(*cat, server, nullptr, &cache_);
  if (!loaded) {
    spdlog::error("control plane: stored revision {} does not compile; revision {} keeps "
                  "serving: {}",
                  cat->revision, base->revision, loaded.error());
    std::lock_guard lk(mu_);
    refresh_wanted_ = std::min(refresh_wanted_, base->revision);  // until the next change
    return true;
  }
  double compile_ms = ms_since(t0);
  auto served = std::make_shared<const config::LoadedConfig>(std::move(*loaded));
  auto t1 = Clock::now();
  Status st = hooks_.publish ? hooks_.publish(*served) : OkStatus();
  if (!st) {
    spdlog::error("control plane: stored revision {} could not be served: {}", cat->revision,
                  st.error());
    std::lock_guard lk(mu_);
    refresh_wanted_ = std::min(refresh_wanted_, base->revision);
    return true;
  }
  {
    std::lock_guard lk(mu_);
    catalog_ = cat;
    spare_.reset();  // the spare's lag is relative to the old catalog
    served_ = served;
    served_revision_ = std::max(served_revision_, cat->revision);
    stats_.publishes++;
    stats_.last_compile_ms = compile_ms;
    stats_.last_publish_ms = ms_since(t1);
    serving_cache_ = false;
  }
  insync_cv_.notify_all();
  save_cache(cat);
  spdlog::info("control plane: serving revision {} from {}", cat->revision, store_->describe());
  return true;
}

bool Plane::process(std::vector<std::shared_ptr<Pending>>& group, bool may_retry) {
  std::shared_ptr<const config::Catalog> base = catalog();
  // New server settings in the group apply to the whole group (the last one wins); until the
  // group is served they are only a candidate, so a failure keeps the old ones.
  std::shared_ptr<const config::ServerSettings> server_ptr;
  bool server_update = false;
  {
    std::lock_guard lk(mu_);
    server_ptr = server_;
  }
  for (const auto& p : group) {
    if (p->server) {
      server_ptr = p->server;
      server_update = true;
    }
  }
  const config::ServerSettings& server = *server_ptr;
  auto t0 = Clock::now();
  std::vector<Result<SubmitResult>> results(group.size(), Error{"not processed"});
  uint64_t rejected = 0;

  std::shared_ptr<const config::LoadedConfig> compiled;
  auto compile_checked = [&](const config::Catalog& c,
                             const config::ChangeBatch* b) -> Result<config::LoadedConfig> {
    auto loaded = config::compile(c, server, b, &cache_);
    if (!loaded) {
      return loaded;
    }
    if (hooks_.check) {
      if (auto st = hooks_.check(*loaded); !st) {
        return Error{st.error()};
      }
    }
    return loaded;
  };

  // What gets committed: each accepted batch with its change list, and the store writes.
  struct Ready {
    size_t index;
    config::ChangeBatch batch;
    nlohmann::json summary;
    std::vector<store::Op> ops;
  };
  std::vector<Ready> ready;
  std::shared_ptr<config::Catalog> final_cat;
  // Runs group[i]'s builder; a failure or an empty batch is its answer already (nullopt).
  // A builder that throws must not take the applier thread down with it.
  auto build = [&](size_t i, const config::Catalog& cat) -> std::optional<config::ChangeBatch> {
    Result<config::ChangeBatch> batch = Error{""};
    try {
      batch = group[i]->build(cat);
    } catch (const std::exception& e) {
      batch = Error{std::string("building the batch failed: ") + e.what()};
    }
    if (!batch) {
      results[i] = Error{batch.error()};
      return std::nullopt;
    }
    if (batch->changes.empty()) {
      SubmitResult r;
      r.no_op = true;
      results[i] = r;
      return std::nullopt;
    }
    return std::move(*batch);
  };

  // Fast path: the batches applied one after another to ONE copy of the catalog (in place,
  // each all or nothing), compiled once, the store writes diffed once. The cost of a group is
  // then one catalog copy, one compile and one transaction however many batches it holds.
  // The copy is the spare (the catalog before the last group, see plane.h) brought up to date
  // when only the applier holds it: the cost of a group is then that of its changes.
  std::shared_ptr<config::Catalog> work;
  if (spare_ && spare_.use_count() == 1) {
    std::atomic_thread_fence(std::memory_order_acquire);  // the last reader's release
    work = std::move(spare_);
    config::copy_touched(*work, *base, spare_lag_);
  } else {
    work = std::make_shared<config::Catalog>(*base);
  }
  spare_.reset();
  config::Touched touched;  // by the batches accepted, base -> final_cat
  for (size_t i = 0; i < group.size(); ++i) {
    auto batch = build(i, *work);
    if (!batch) {
      continue;
    }
    nlohmann::json summary = config::change_summary(*batch, *work);
    if (auto st = config::apply_in_place(*work, *batch, &touched); !st) {
      results[i] = Error{st.error()};
      continue;
    }
    ready.push_back(Ready{i, std::move(*batch), std::move(summary), {}});
  }
  if (ready.empty() && server_update) {
    // No batch to commit: the served catalog again, compiled with the new settings.
    auto loaded = compile_checked(*base, nullptr);
    if (!loaded) {
      for (size_t i = 0; i < group.size(); ++i) {
        if (group[i]->server) {
          results[i] = Error{loaded.error()};
        }
      }
      server_update = false;
    } else {
      compiled = std::make_shared<const config::LoadedConfig>(std::move(*loaded));
    }
  }
  if (!ready.empty()) {
    const config::ChangeBatch* only = ready.size() == 1 ? &ready[0].batch : nullptr;
    auto loaded = compile_checked(*work, only);
    if (loaded) {
      compiled = std::make_shared<const config::LoadedConfig>(std::move(*loaded));
      ready[0].ops = config::commit_ops(*base, *work, touched);  // all writes in one txn
      final_cat = work;
    } else if (ready.size() == 1) {
      results[ready[0].index] = Error{loaded.error()};
      ready.clear();
    } else {
      // Someone in the group is invalid: validate one at a time, each on top of the batches
      // accepted before it (builders run again: their input changed).
      std::vector<size_t> candidates;
      for (const auto& r : ready) {
        candidates.push_back(r.index);
      }
      ready.clear();
      touched = config::Touched{};
      std::shared_ptr<const config::Catalog> cur = base;
      for (size_t i : candidates) {
        auto batch = build(i, *cur);
        if (!batch) {
          continue;
        }
        config::Touched changed;
        auto next = config::apply(*cur, *batch, &changed);
        if (!next) {
          results[i] = Error{next.error()};
          continue;
        }
        auto one = compile_checked(*next, &*batch);
        if (!one) {
          results[i] = Error{one.error()};
          continue;
        }
        auto after = std::make_shared<config::Catalog>(std::move(*next));
        nlohmann::json summary = config::change_summary(*batch, *cur);
        ready.push_back(Ready{i, std::move(*batch), std::move(summary),
                              config::commit_ops(*cur, *after, changed)});
        config::add_touched(touched, changed);
        cur = after;
        final_cat = after;
        compiled = std::make_shared<const config::LoadedConfig>(std::move(*one));
      }
    }
  }
  double compile_ms = ms_since(t0);

  // One transaction for every accepted batch.
  auto t1 = Clock::now();
  std::vector<store::ChangeRow> rows;
  if (!ready.empty()) {
    std::vector<store::Commit> commits;
    int64_t expect = base->revision;
    for (auto& a : ready) {
      commits.push_back(batch_commit(a.batch, std::move(a.summary), std::move(a.ops), expect++));
    }
    auto revs = store_->commit_group(commits);
    if (!revs && may_retry && revs.error().rfind("conflict", 0) == 0) {
      return false;
    }
    if (!revs) {
      for (const auto& a : ready) {
        results[a.index] = Error{"the store could not commit the batch (nothing applied): " +
                                 revs.error()};
      }
      ready.clear();
      compiled.reset();
      final_cat.reset();
    } else {
      for (size_t k = 0; k < ready.size(); ++k) {
        store::ChangeRow row = commits[k].change;
        row.revision = (*revs)[k];
        SubmitResult r;
        r.change = row;
        results[ready[k].index] = r;
        rows.push_back(std::move(row));
      }
    }
  }
  double commit_ms = ms_since(t1);
  for (const auto& r : results) {
    rejected += r.ok() ? 0 : 1;
  }
  if (rows.empty()) {
    final_cat.reset();
  } else {
    final_cat->revision = rows.back().revision;
  }
  {
    std::lock_guard lk(mu_);
    if (final_cat) {
      catalog_ = final_cat;
      // Made by make_shared<Catalog> (start() or this function): mutable once unshared.
      spare_ = std::const_pointer_cast<config::Catalog>(base);
      spare_lag_ = std::move(touched);
      for (const auto& r : rows) {
        unserved_.emplace_back(r.revision, r.id);
      }
    }
    stats_.batches += rows.size();
    stats_.rejected += rejected;
    stats_.groups += rows.empty() ? 0 : 1;
    stats_.last_compile_ms = compile_ms;
    stats_.last_commit_ms = rows.empty() ? stats_.last_commit_ms : commit_ms;
    for (size_t i = 0; i < group.size(); ++i) {
      if (group[i]->server && results[i].ok() && server_update) {
        continue;  // answered once served (below)
      }
      group[i]->result = std::move(results[i]);
      group[i]->done = true;
    }
  }
  insync_cv_.notify_all();

  // Settings updates learn whether they are served.
  auto finish_server_updates = [&](const Status& st) {
    if (!server_update) {
      return;
    }
    std::lock_guard lk(mu_);
    if (st) {
      server_ = server_ptr;
    }
    for (auto& p : group) {
      if (p->server && !p->done) {
        p->result = st ? Result<SubmitResult>(SubmitResult{}) : Error{st.error()};
        p->done = true;
      }
    }
  };
  if (!compiled || (!final_cat && !server_update)) {
    finish_server_updates(Error{"nothing was compiled"});
    insync_cv_.notify_all();
    return true;
  }
  // Publish: the daemon swaps the config in; then the batches are INSYNC.
  auto t2 = Clock::now();
  Status st = hooks_.publish ? hooks_.publish(*compiled) : OkStatus();
  double publish_ms = ms_since(t2);
  finish_server_updates(st);
  if (!st) {
    if (final_cat) {
      spdlog::error("control plane: revision {} is committed but could not be served: {}",
                    final_cat->revision, st.error());
    } else {
      spdlog::error("control plane: new server settings could not be served: {}", st.error());
    }
    insync_cv_.notify_all();
    return true;
  }
  std::vector<std::string> ids;
  const int64_t now_served = final_cat ? final_cat->revision : base->revision;
  {
    std::lock_guard lk(mu_);
    served_ = compiled;
    stats_.publishes++;
    stats_.last_publish_ms = publish_ms;
    auto it = unserved_.begin();
    while (it != unserved_.end()) {
      if (it->first <= now_served) {
        ids.push_back(it->second);
        it = unserved_.erase(it);
      } else {
        ++it;
      }
    }
  }
  if (!ids.empty()) {
    if (auto m = store_->mark_insync(ids, wall_ms()); !m) {
      spdlog::error("control plane: marking {} changes INSYNC: {}", ids.size(), m.error());
    }
  }
  {
    // Only now: a waiter woken by this sees the store's row INSYNC too.
    std::lock_guard lk(mu_);
    served_revision_ = std::max(served_revision_, now_served);
  }
  insync_cv_.notify_all();
  if (final_cat) {
    save_cache(final_cat);
  }
  return true;
}

bool Plane::serving_cache() const {
  std::lock_guard lk(mu_);
  return serving_cache_;
}

void Plane::save_cache(std::shared_ptr<const config::Catalog> c) {
  if (!cache_writer_ || c->revision == cached_revision_) {
    return;
  }
  cached_revision_ = c->revision;
  cache_writer_->write([c, where = store_->describe()] {
    nlohmann::json doc{{"steerdns_catalog_cache", 1},
                       {"store", where},
                       {"saved_ms", wall_ms()},
                       {"catalog", store::rows_to_json(c->to_rows())}};
    return doc.dump() + "\n";
  });
}

Result<store::CatalogRows> Plane::load_cache() const {
  auto text = read_file(cache_path_);
  if (!text) {
    return Error{text.error()};
  }
  auto doc = nlohmann::json::parse(*text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("catalog") ||
      doc["steerdns_catalog_cache"] != 1) {
    return Error{cache_path_ + ": not a steerdns catalog cache (version 1)"};
  }
  auto rows = store::rows_from_json(doc["catalog"]);
  if (!rows) {
    return Error{cache_path_ + ": " + rows.error()};
  }
  return rows;
}

}  // namespace steerdns::control
