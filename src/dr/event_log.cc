#include "dr/event_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "core/file.h"

namespace steerdns::dr {

namespace {

using nlohmann::json;

std::string errno_text() { return std::strerror(errno); }

}  // namespace

std::string event_to_json_line(const Event& e) {
  json j = {{"wall_ms", e.wall_ms}, {"type", e.type},   {"target", e.target},
            {"cause", e.cause},     {"actor", e.actor}, {"from_tier", e.from_tier},
            {"to_tier", e.to_tier}};
  return j.dump();
}

Result<Event> event_from_json_line(std::string_view line) {
  json j = json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return Error{"not a JSON object"};
  }
  Event e;
  if (!j.contains("wall_ms") || !j["wall_ms"].is_number_integer() || !j.contains("type") ||
      !j["type"].is_string()) {
    return Error{"missing wall_ms or type"};
  }
  e.wall_ms = j["wall_ms"].get<Millis>();
  e.type = j["type"].get<std::string>();
  auto str = [&](const char* k) {
    return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : std::string();
  };
  auto num = [&](const char* k) {
    return j.contains(k) && j[k].is_number_integer() ? j[k].get<int>() : 0;
  };
  e.target = str("target");
  e.cause = str("cause");
  e.actor = str("actor");
  e.from_tier = num("from_tier");
  e.to_tier = num("to_tier");
  return e;
}

Result<EventLogRead> read_event_log(const std::string& path, size_t last_n) {
  EventLogRead out;
  auto text = read_file_if_exists(path);
  if (!text) {
    return Error{"event log " + text.error()};
  }
  if (!text->has_value()) {
    return out;
  }
  const std::string& data = **text;
  size_t pos = 0;
  size_t line_no = 0;
  std::string first_bad;
  while (pos < data.size()) {
    size_t nl = data.find('\n', pos);
    bool last_unterminated = nl == std::string::npos;
    size_t end = last_unterminated ? data.size() : nl;
    std::string_view line(data.data() + pos, end - pos);
    ++line_no;
    pos = last_unterminated ? data.size() : nl + 1;
    if (line.empty()) {
      continue;
    }
    auto e = event_from_json_line(line);
    if (e.ok() && !last_unterminated) {
      out.events.push_back(std::move(*e));
      continue;
    }
    if (last_unterminated) {
      // An unfinished write: even if it happens to parse, it was never acknowledged.
      out.torn_tail = true;
    } else {
      ++out.corrupt_lines;
      if (first_bad.empty()) {
        first_bad = "line " + std::to_string(line_no) + ": " + (e.ok() ? "?" : e.error());
      }
    }
  }
  if (last_n != 0 && out.events.size() > last_n) {
    out.events.erase(out.events.begin(), out.events.end() - static_cast<std::ptrdiff_t>(last_n));
  }
  if (out.torn_tail) {
    out.warning = "event log " + path + ": skipped a torn last line (line " +
                  std::to_string(line_no) + ", an interrupted write)";
  }
  if (out.corrupt_lines != 0) {
    if (!out.warning.empty()) {
      out.warning += "; ";
    }
    out.warning += "event log " + path + ": skipped " + std::to_string(out.corrupt_lines) +
                   " corrupt line(s), first at " + first_bad;
  }
  return out;
}

EventLog::EventLog(int fd, std::string path, size_t repaired)
    : fd_(fd), path_(std::move(path)), repaired_bytes_(repaired) {}

EventLog::~EventLog() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

Result<std::unique_ptr<EventLog>> EventLog::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) {
    return Error{"event log " + path + ": cannot open for appending: " + errno_text()};
  }
  struct stat sb {};
  if (::fstat(fd, &sb) != 0) {
    std::string err = errno_text();
    ::close(fd);
    return Error{"event log " + path + ": fstat: " + err};
  }
  size_t repaired = 0;
  off_t size = sb.st_size;
  if (size > 0) {
    // Find the end of the last complete line; cut anything after it (a torn write).
    const off_t chunk = 4096;
    off_t keep = 0;
    off_t scan_end = size;
    std::string buf;
    bool found = false;
    while (scan_end > 0 && !found) {
      off_t start = scan_end > chunk ? scan_end - chunk : 0;
      buf.resize(static_cast<size_t>(scan_end - start));
      ssize_t n = ::pread(fd, buf.data(), buf.size(), start);
      if (n != static_cast<ssize_t>(buf.size())) {
        std::string err = errno_text();
        ::close(fd);
        return Error{"event log " + path + ": read: " + err};
      }
      size_t nl = buf.rfind('\n');
      if (nl != std::string::npos) {
        keep = start + static_cast<off_t>(nl) + 1;
        found = true;
      }
      scan_end = start;
    }
    if (keep < size) {
      if (::ftruncate(fd, keep) != 0 || ::fsync(fd) != 0) {
        std::string err = errno_text();
        ::close(fd);
        return Error{"event log " + path + ": cannot cut the torn last line: " + err};
      }
      repaired = static_cast<size_t>(size - keep);
    }
  }
  return std::unique_ptr<EventLog>(new EventLog(fd, path, repaired));
}

std::unique_ptr<EventLog> EventLog::over(std::shared_ptr<StateStore> store) {
  std::unique_ptr<EventLog> log(new EventLog(-1, store->describe() + " [events]", 0));
  log->store_ = std::move(store);
  return log;
}

Result<EventLogRead> EventLog::read_last(size_t n) const {
  if (!store_) {
    return read_event_log(path_, n);
  }
  auto rows = store_->last_events(n);
  if (!rows) {
    return Error{"event log " + path_ + ": " + rows.error()};
  }
  EventLogRead out;
  for (const auto& text : *rows) {
    auto e = event_from_json_line(text);
    if (e) {
      out.events.push_back(std::move(*e));
    } else {
      ++out.corrupt_lines;
    }
  }
  if (out.corrupt_lines > 0) {
    out.warning = std::to_string(out.corrupt_lines) + " stored events did not parse (skipped)";
  }
  return out;
}

Status EventLog::append(const std::vector<Event>& batch) {
  if (batch.empty()) {
    return OkStatus();
  }
  if (store_) {
    std::vector<std::string> rows;
    rows.reserve(batch.size());
    for (const auto& e : batch) {
      rows.push_back(event_to_json_line(e));
    }
    if (auto st = store_->append_events(rows); !st) {
      return Error{"event log " + path_ + ": " + st.error()};
    }
    return OkStatus();
  }
  std::string data;
  for (const auto& e : batch) {
    data += event_to_json_line(e);
    data += '\n';
  }
  std::lock_guard lock(mu_);
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd_, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return Error{"event log " + path_ + ": write: " + errno_text()};
    }
    off += static_cast<size_t>(n);
  }
  if (::fdatasync(fd_) != 0) {
    return Error{"event log " + path_ + ": fsync: " + errno_text()};
  }
  return OkStatus();
}

}  // namespace steerdns::dr
