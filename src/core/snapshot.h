#pragma once
// Snapshot<T>: an immutable value published by one writer and read by many threads.
//
// Readers (the query path) keep a Reader per thread and call get() per batch of packets: the
// common case is one relaxed atomic load of the generation counter, no lock, no refcount
// traffic. Only when the generation moved does the reader take a new shared_ptr (the rare path).
// Old snapshots are freed by the writer, never by a reader: publish() keeps the ones it
// replaced and frees those no reader holds any more (a big zone takes milliseconds to free,
// which must not land on a query thread). A reader that stays on an old snapshot keeps it
// alive until a later publish() finds it released.
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace steerdns {

template <class T>
class Snapshot {
 public:
  explicit Snapshot(std::shared_ptr<const T> initial = nullptr) : ptr_(std::move(initial)) {}

  // Writer side: may be called from any thread.
  void publish(std::shared_ptr<const T> next) {
    std::lock_guard lk(retire_mu_);
    std::shared_ptr<const T> old = ptr_.exchange(std::move(next), std::memory_order_acq_rel);
    gen_.fetch_add(1, std::memory_order_release);
    // Nobody can take a new reference to a replaced snapshot, so use_count() == 1 (ours) is
    // final: free it here, on the writer's thread.
    std::erase_if(retired_, [](const std::shared_ptr<const T>& p) { return p.use_count() == 1; });
    if (old) {
      retired_.push_back(std::move(old));
    }
  }
  std::shared_ptr<const T> load() const { return ptr_.load(std::memory_order_acquire); }
  uint64_t generation() const { return gen_.load(std::memory_order_acquire); }

  // Per-thread cached view. Not thread-safe itself: one Reader per thread.
  class Reader {
   public:
    explicit Reader(const Snapshot& s) : src_(&s) { refresh(); }
    const T* get() {
      if (src_->gen_.load(std::memory_order_acquire) != gen_) {
        refresh();
      }
      return cur_.get();
    }
    const std::shared_ptr<const T>& shared() {
      get();
      return cur_;
    }

   private:
    void refresh() {
      gen_ = src_->gen_.load(std::memory_order_acquire);
      cur_ = src_->ptr_.load(std::memory_order_acquire);
    }
    const Snapshot* src_;
    uint64_t gen_ = 0;
    std::shared_ptr<const T> cur_;
  };

 private:
  std::atomic<std::shared_ptr<const T>> ptr_;
  std::atomic<uint64_t> gen_{1};
  std::mutex retire_mu_;  // writers only
  std::vector<std::shared_ptr<const T>> retired_;
};

}  // namespace steerdns
