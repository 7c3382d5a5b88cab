#pragma once
// Persisted health state, so a restart answers as before it instead of "all up" or "all down".
// One JSON file, rewritten atomically (temp file + fsync + rename + directory fsync); a crash
// leaves either the old or the new file, never a torn one. The durable store of a later issue
// keeps it under a key instead (same two calls). Callable from any thread; calls on one StateFile
// are serialised by the caller (the engine).
#include <map>
#include <memory>
#include <string>

#include "core/clock.h"
#include "core/result.h"
#include "core/state_store.h"
#include "health/spec.h"

namespace steerdns::health {

struct PersistedCheck {
  std::string identity;  // what was checked; state of a changed check is not reused
  Status status = Status::kUnknown;
  int consecutive_ok = 0;
  int consecutive_fail = 0;
  std::string last_failure_reason;
  Millis since_wall_ms = 0;    // last transition
  Millis updated_wall_ms = 0;  // last observation (the state's age is measured from this)
  int cert_days_left = -1;
  uint64_t transitions = 0;
};

class StateFile {
 public:
  explicit StateFile(std::string path) : path_(std::move(path)) {}
  // In a state store (the daemon's durable store) under `key`, instead of a file.
  StateFile(std::shared_ptr<StateStore> store, std::string key)
      : path_(store->describe() + " [" + key + "]"), store_(std::move(store)), key_(std::move(key)) {}
  // A missing file is an empty map; a corrupt one is an error naming the file.
  Result<std::map<std::string, PersistedCheck>> load() const;
  steerdns::Status save(const std::map<std::string, PersistedCheck>& checks,
                        Millis now_wall_ms) const;
  const std::string& path() const { return path_; }

 private:
  Result<std::map<std::string, PersistedCheck>> parse(const std::string& text) const;
  std::string path_;  // the file, or a description of the store
  std::shared_ptr<StateStore> store_;
  std::string key_;
};

}  // namespace steerdns::health
