#pragma once
// Starts tests/testlib/health_servers.py (HTTP, HTTPS with test certificates, TCP, DNS on
// loopback) and reads the ports it chose. The process ends when this object is destroyed.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

extern char** environ;

namespace steerdns::health::testing {

class HealthServers {
 public:
  // Returns an empty string on success, else why it failed.
  std::string start() {
    char tmpl[] = "/tmp/sd-health-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) {
      return "mkdtemp failed";
    }
    dir_ = tmpl;
    int in[2];
    int out[2];
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) {
      return "pipe failed";
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    std::string script = std::string(STEERDNS_SOURCE_DIR) + "/tests/testlib/health_servers.py";
    std::string py = "/usr/bin/python3";
    char* argv[] = {py.data(), script.data(), dir_.data(), nullptr};
    int rc = posix_spawn(&pid_, py.c_str(), &fa, nullptr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    close(out[1]);
    stdin_ = in[1];
    if (rc != 0) {
      close(out[0]);
      pid_ = -1;
      return "spawn python3 failed";
    }
    // Certificates are generated first: allow a generous deadline on a loaded machine.
    std::string line;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (line.find('\n') == std::string::npos) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                      deadline - std::chrono::steady_clock::now())
                      .count();
      if (left <= 0) {
        close(out[0]);
        return "health_servers.py did not report its ports in 60 s";
      }
      pollfd p{out[0], POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left)) <= 0) {
        continue;
      }
      char buf[4096];
      ssize_t n = read(out[0], buf, sizeof buf);
      if (n <= 0) {
        close(out[0]);
        return "health_servers.py exited early";
      }
      line.append(buf, static_cast<size_t>(n));
    }
    close(out[0]);
    ports_ = nlohmann::json::parse(line.substr(0, line.find('\n')));
    return {};
  }

  ~HealthServers() {
    if (stdin_ >= 0) {
      close(stdin_);
    }
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
    if (!dir_.empty()) {
      std::string cmd = "rm -rf '" + dir_ + "'";
      [[maybe_unused]] int rc = std::system(cmd.c_str());
    }
  }

  uint16_t http() const { return ports_["http"].get<uint16_t>(); }
  uint16_t https(const std::string& which) const { return ports_["https"][which].get<uint16_t>(); }
  uint16_t tcp() const { return ports_["tcp"].get<uint16_t>(); }
  uint16_t dns() const { return ports_["dns"].get<uint16_t>(); }
  uint16_t refused() const { return ports_["refused"].get<uint16_t>(); }
  std::string ca() const { return ports_["ca"].get<std::string>(); }

 private:
  std::string dir_;
  pid_t pid_ = -1;
  int stdin_ = -1;
  nlohmann::json ports_;
};

}  // namespace steerdns::health::testing
