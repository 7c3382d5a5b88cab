#include "daemon/control.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

namespace steerdns::daemon {

Result<std::string> control_request(const std::string& path, const std::string& command,
                                    int timeout_ms) {
  sockaddr_un sun{};
  if (path.size() >= sizeof sun.sun_path) {
    return Error{"control socket " + path + ": path too long"};
  }
  sun.sun_family = AF_UNIX;
  std::memcpy(sun.sun_path, path.c_str(), path.size() + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return Error{std::string("socket: ") +
                 std::error_code(errno, std::system_category()).message()};
  }
  auto fail = [&](const char* what) -> Result<std::string> {
    Error e{"control socket " + path + ": " + what + ": " +
            std::error_code(errno, std::system_category()).message()};
    close(fd);
    return e;
  };
  if (connect(fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun) != 0) {
    return fail("connect (is the daemon running with --control?)");
  }
  std::string req = command + "\n";
  if (send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
    return fail("send");
  }
  std::string reply;
  char buf[4096];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    int r = poll(&p, 1, timeout_ms);
    if (r == 0) {
      errno = ETIMEDOUT;
      return fail("no reply");
    }
    if (r < 0) {
      if (errno == EINTR) {
        continue;
      }
      return fail("poll");
    }
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return fail("recv");
    }
    if (n == 0) {
      break;
    }
    reply.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  while (!reply.empty() && reply.back() == '\n') {
    reply.pop_back();
  }
  if (reply.rfind(kControlOk, 0) == 0) {
    return reply.substr(std::strlen(kControlOk));
  }
  if (reply.rfind(kControlError, 0) == 0) {
    return Error{reply.substr(std::strlen(kControlError))};
  }
  return Error{"control socket " + path + ": unexpected reply '" + reply + "'"};
}

}  // namespace steerdns::daemon
