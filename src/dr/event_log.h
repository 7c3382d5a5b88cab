#pragma once
// Append-only event log: one JSON object per line, appended in batches, each batch written with
// one write() and fsync'd before append() returns -- or, made with over(), the same events kept
// in the daemon's durable store (core/state_store.h), where they sit beside the change batches.
//
// A crash can leave a torn last line (a write that did not finish). The reader skips it and
// says so; open() for appending truncates it first so the next batch starts on a fresh line.
// Lines that do not parse elsewhere in the file are skipped and counted, never fatal: an old
// log must stay readable.
//
// Thread safety: append() and read_last() may be called from any thread.
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "core/state_store.h"
#include "dr/orchestrator.h"

namespace steerdns::dr {

std::string event_to_json_line(const Event& e);  // no trailing newline
Result<Event> event_from_json_line(std::string_view line);

struct EventLogRead {
  std::vector<Event> events;  // oldest first; at most the last N
  bool torn_tail = false;     // the last line was incomplete and was skipped
  size_t corrupt_lines = 0;   // other lines that did not parse (skipped)
  std::string warning;        // human-readable summary of the above; empty if clean
};

// Reads the last `last_n` events of the log at `path` (0 = all). A missing file is empty.
Result<EventLogRead> read_event_log(const std::string& path, size_t last_n);

class EventLog {
 public:
  // Opens (creating) the log for appending. A torn last line is cut off (see repaired_bytes()).
  static Result<std::unique_ptr<EventLog>> open(const std::string& path);
  // The log kept in a state store instead of a file.
  static std::unique_ptr<EventLog> over(std::shared_ptr<StateStore> store);
  ~EventLog();
  EventLog(const EventLog&) = delete;
  EventLog& operator=(const EventLog&) = delete;

  Status append(const std::vector<Event>& batch);
  Status append(const Event& e) { return append(std::vector<Event>{e}); }
  Result<EventLogRead> read_last(size_t n) const;

  const std::string& path() const { return path_; }
  size_t repaired_bytes() const { return repaired_bytes_; }  // torn tail cut off by open()

 private:
  EventLog(int fd, std::string path, size_t repaired);
  int fd_;
  std::shared_ptr<StateStore> store_;  // set: events go here, fd_ is -1
  std::string path_;
  size_t repaired_bytes_;
  std::mutex mu_;
};

}  // namespace steerdns::dr
