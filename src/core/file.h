#pragma once
// Durable whole-file replacement for the small files kept beside the store (health and steering
// state files, a fleet node's catalog cache).
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <string>
#include <system_error>

#include "core/result.h"

namespace steerdns {

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

}  // namespace steerdns
