#pragma once
// Where runtime state is persisted: the health engine's check states, the steering
// orchestrator's state and the event log. The daemon hands in the durable store
// (store/store.h, adapted in daemon/store_state.h); code below it sees only this interface, so
// health/ and dr/ do not depend on store/. Without one they fall back to files.
//
// Implementations are safe to call from any thread; every call is durable when it returns.
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"

namespace steerdns {

class StateStore {
 public:
  virtual ~StateStore() = default;
  // "sqlite:/var/lib/steerdns/steerdns.db": for logs and status reports.
  virtual std::string describe() const = 0;
  // A JSON document under `key` (last write wins).
  virtual Status put(const std::string& key, const std::string& json_text) = 0;
  virtual Result<std::optional<std::string>> get(const std::string& key) = 0;
  // Events as JSON objects (one per event), appended in one go.
  virtual Status append_events(const std::vector<std::string>& json_objects) = 0;
  // The newest `n` events (0 = all), oldest first.
  virtual Result<std::vector<std::string>> last_events(size_t n) = 0;
};

}  // namespace steerdns
