#pragma once
// Whole-file reads, and durable whole-file replacement for the small files kept beside the store
// (health and steering state files, a fleet node's catalog cache).
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <thread>

#include "core/result.h"

namespace steerdns {

// The whole content of `path`, or std::nullopt if it does not exist. Any other failure is an
// error that names the file and the cause ("PATH: Permission denied").
inline Result<std::optional<std::string>> read_file_if_exists(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) {
      return std::optional<std::string>();
    }
    return Error{path + ": " + std::system_category().message(errno)};
  }
  std::string text;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      Error e{path + ": " + std::system_category().message(errno)};
      ::close(fd);
      return e;
    }
    if (n == 0) {
      break;
    }
    text.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return std::optional<std::string>(std::move(text));
}

// The whole content of `path`; a missing file is an error too ("PATH: No such file or
// directory").
inline Result<std::string> read_file(const std::string& path) {
  auto r = read_file_if_exists(path);
  if (!r) {
    return Error{r.error()};
  }
  if (!r->has_value()) {
    return Error{path + ": " + std::system_category().message(ENOENT)};
  }
  return std::move(**r);
}

// Replaces `path` with `text` so that a crash leaves the old file or the new one, never half of
// one: written to PATH.tmp, flushed, renamed over, and the directory flushed (the rename is
// durable only then). The error names the file and the step that failed; PATH.tmp is removed.
inline Status write_file_atomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  auto fail = [&](const std::string& file, const char* step) {
    Error e{file + ": " + step + ": " + std::system_category().message(errno)};
    ::unlink(tmp.c_str());
    return e;
  };
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return Error{tmp + ": create: " + std::system_category().message(errno)};
  }
  size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      int err = n < 0 ? errno : EIO;
      ::close(fd);
      errno = err;
      return fail(tmp, "write");
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    int err = errno;
    ::close(fd);
    errno = err;
    return fail(tmp, "flush");
  }
  if (::close(fd) != 0) {
    return fail(tmp, "close");
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return fail(path, "rename");
  }
  std::string dir = std::filesystem::path(path).parent_path().string();
  int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return OkStatus();
}

// Keeps a file equal to the latest document handed to it, written (write_file_atomically) on
// its own thread: the caller never waits for a disk flush, which under a busy disk (etcd
// fsyncing beside us) can take hundreds of milliseconds. Documents handed in faster than they
// are written coalesce: the file skips to the newest, and writes are at least `min_interval`
// apart (a burst of changes costs one flush per interval, not one each). For copies that only a
// restart reads.
class BackgroundFileWriter {
 public:
  // `on_result` (may be empty) hears every write's outcome, on the writer thread.
  BackgroundFileWriter(std::string path, std::function<void(const Status&)> on_result,
                       std::chrono::milliseconds min_interval = std::chrono::milliseconds(0))
      : path_(std::move(path)),
        on_result_(std::move(on_result)),
        min_interval_(min_interval),
        thread_([this] { loop(); }) {}
  // Writes what is pending, then stops.
  ~BackgroundFileWriter() {
    {
      std::lock_guard lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  BackgroundFileWriter(const BackgroundFileWriter&) = delete;
  BackgroundFileWriter& operator=(const BackgroundFileWriter&) = delete;

  // `render` makes the document; it runs on the writer thread (may be skipped if a newer one
  // comes first).
  void write(std::function<std::string()> render) {
    {
      std::lock_guard lk(mu_);
      next_ = std::move(render);
      ++handed_;
    }
    cv_.notify_all();
  }
  // Blocks until everything handed in so far is on disk (or failed).
  void flush() {
    std::unique_lock lk(mu_);
    const uint64_t want = handed_;
    done_cv_.wait(lk, [&] { return written_ >= want; });
  }
  const std::string& path() const { return path_; }

 private:
  void loop() {
    std::unique_lock lk(mu_);
    for (;;) {
      cv_.wait(lk, [&] { return stop_ || next_; });
      if (!next_) {
        return;  // stopping, nothing pending
      }
      auto render = std::move(next_);
      next_ = nullptr;
      const uint64_t upto = handed_;
      lk.unlock();
      Status st = write_file_atomically(path_, render());
      if (on_result_) {
        on_result_(st);
      }
      lk.lock();
      written_ = upto;
      done_cv_.notify_all();
      if (min_interval_.count() > 0) {
        // Destruction cuts the pause short: what is pending is written before the thread ends.
        cv_.wait_for(lk, min_interval_, [&] { return stop_; });
      }
    }
  }

  const std::string path_;
  const std::function<void(const Status&)> on_result_;
  const std::chrono::milliseconds min_interval_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable done_cv_;
  std::function<std::string()> next_;
  uint64_t handed_ = 0;
  uint64_t written_ = 0;
  bool stop_ = false;
  std::thread thread_;  // last: starts once the rest is set up
};

}  // namespace steerdns
