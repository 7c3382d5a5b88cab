#pragma once
// Time sources. Control-plane code takes a Clock& so tests can run on simulated time
// (FakeClock) with exact, repeatable transitions.
#include <atomic>
#include <chrono>
#include <cstdint>

namespace steerdns {

using Millis = int64_t;  // milliseconds; monotonic for steady time, Unix epoch for wall time

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic milliseconds (scheduling, thresholds, timeouts).
  virtual Millis now_ms() const = 0;
  // Wall-clock Unix milliseconds (persisted state, events, reports).
  virtual Millis wall_ms() const = 0;
};

class RealClock final : public Clock {
 public:
  Millis now_ms() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  Millis wall_ms() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  static RealClock& instance() {
    static RealClock c;
    return c;
  }
};

// Simulated time: advances only when told to. Thread-safe reads.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(Millis start = 1'000'000, Millis wall_start = 1'700'000'000'000)
      : now_(start), wall_offset_(wall_start - start) {}
  Millis now_ms() const override { return now_.load(std::memory_order_acquire); }
  Millis wall_ms() const override { return now_ms() + wall_offset_; }
  void advance(Millis d) { now_.fetch_add(d, std::memory_order_acq_rel); }
  void set(Millis t) { now_.store(t, std::memory_order_release); }

 private:
  std::atomic<Millis> now_;
  Millis wall_offset_;
};

}  // namespace steerdns
