#pragma once
// Waiting for a state a test expects, with a deadline (never a bare sleep that hopes).
#include <chrono>
#include <cstdint>
#include <thread>

namespace steerdns::testing {

// Polls pred() every `interval_ms` until it holds or `limit_ms` passed; the last call decides.
template <class Pred>
bool eventually(Pred pred, int64_t limit_ms = 10'000, int64_t interval_ms = 10) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(limit_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms));
  }
  return pred();
}

}  // namespace steerdns::testing
