#pragma once
// Real etcd members (Debian's /usr/bin/etcd) as child processes for store tests: 1 or 3
// members on free loopback ports (never 2379/2380), data under a temporary directory, fast
// elections (heartbeat 50 ms, election 500 ms) and --max-txn-ops 10000 as a fleet runs it.
// Members can be killed (SIGKILL), stopped (SIGTERM) and started again on the same data.
// Optionally they serve clients over TLS (EtcdClusterOptions).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "store/etcd/client.h"
#include "testlib/temp_dir.h"

namespace steerdns::testing {

// "http://127.0.0.1:PORT" (built by append: GCC 12's -Wrestrict trips on literal + string).
inline std::string loopback_url(int port) {
  std::string s = "http://127.0.0.1:";
  s.append(std::to_string(port));
  return s;
}

// A loopback TCP port nobody listens on right now (bound to port 0, then released).
inline int free_tcp_port(const std::set<int>& avoid = {}) {
  for (int tries = 0; tries < 100; ++tries) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof(a);
    int port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
      port = ntohs(a.sin_port);
    }
    ::close(fd);
    if (port != 0 && port != 2379 && port != 2380 && avoid.count(port) == 0) {
      return port;
    }
  }
  ADD_FAILURE() << "no free loopback port";
  return 0;
}

struct EtcdClusterOptions {
  int members = 1;
  std::vector<std::string> extra_args;  // appended to every member's command line
  // Client TLS: members serve https:// with cert/key; wait_healthy() trusts ca_file (and
  // presents client_cert/client_key when set, for --client-cert-auth in extra_args).
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  std::string client_cert;
  std::string client_key;
};

class EtcdCluster {
 public:
  static constexpr const char* kBinary = "/usr/bin/etcd";

  explicit EtcdCluster(int members = 1) : EtcdCluster(EtcdClusterOptions{members, {}}) {}
  explicit EtcdCluster(EtcdClusterOptions options)
      : n_(options.members), options_(std::move(options)) {
    std::set<int> used;
    for (int i = 0; i < n_; ++i) {
      Member m;
      m.name = "m";
      m.name.append(std::to_string(i));
      m.client_port = free_tcp_port(used);
      used.insert(m.client_port);
      m.peer_port = free_tcp_port(used);
      used.insert(m.peer_port);
      m.data_dir = dir_.file(m.name);
      members_.push_back(m);
    }
    for (int i = 0; i < n_; ++i) {
      start(i);
    }
    healthy_ = wait_healthy(std::chrono::seconds(20));
    EXPECT_TRUE(healthy_) << "etcd cluster of " << n_ << " did not become healthy; logs in "
                          << dir_.path();
  }
  ~EtcdCluster() {
    for (int i = 0; i < n_; ++i) {
      kill(i);
    }
  }
  EtcdCluster(const EtcdCluster&) = delete;
  EtcdCluster& operator=(const EtcdCluster&) = delete;

  bool healthy() const { return healthy_; }
  int size() const { return n_; }
  std::string endpoint(int i) const {
    std::string url = options_.cert_file.empty() ? "http" : "https";
    url.append("://127.0.0.1:").append(std::to_string(members_[i].client_port));
    return url;
  }
  std::vector<std::string> endpoints() const {
    std::vector<std::string> out;
    for (int i = 0; i < n_; ++i) {
      out.push_back(endpoint(i));
    }
    return out;
  }
  // "etcd:URL,URL,..." for open_store.
  std::string spec() const {
    std::string s = "etcd:";
    for (int i = 0; i < n_; ++i) {
      if (i > 0) {
        s += ",";
      }
      s += endpoint(i);
    }
    return s;
  }
  bool running(int i) const { return members_[i].pid > 0; }

  void start(int i) {
    Member& m = members_[i];
    if (m.pid > 0) {
      return;
    }
    std::string initial;
    for (int j = 0; j < n_; ++j) {
      if (j > 0) {
        initial += ",";
      }
      initial.append(members_[j].name).append("=").append(loopback_url(members_[j].peer_port));
    }
    const std::string client = endpoint(i);
    const std::string peer = loopback_url(m.peer_port);
    std::vector<std::string> args = {kBinary,
                                     "--name",
                                     m.name,
                                     "--data-dir",
                                     m.data_dir,
                                     "--listen-client-urls",
                                     client,
                                     "--advertise-client-urls",
                                     client,
                                     "--listen-peer-urls",
                                     peer,
                                     "--initial-advertise-peer-urls",
                                     peer,
                                     "--initial-cluster",
                                     initial,
                                     "--initial-cluster-state",
                                     "new",
                                     "--initial-cluster-token",
                                     "steerdns-test",
                                     "--max-txn-ops",
                                     "10000",
                                     "--heartbeat-interval",
                                     "50",
                                     "--election-timeout",
                                     "500",
                                     "--logger",
                                     "zap",
                                     "--log-level",
                                     "warn",
                                     "--log-outputs",
                                     "stderr"};
    if (!options_.cert_file.empty()) {
      args.insert(args.end(), {"--cert-file", options_.cert_file, "--key-file", options_.key_file});
    }
    args.insert(args.end(), options_.extra_args.begin(), options_.extra_args.end());
    const std::string log = dir_.file(std::string(m.name).append(".log"));
    pid_t pid = ::fork();
    if (pid == 0) {
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      ::setpgid(0, 0);
      std::vector<char*> argv;
      for (auto& a : args) {
        argv.push_back(a.data());
      }
      argv.push_back(nullptr);
      ::execv(kBinary, argv.data());
      ::_exit(127);
    }
    ASSERT_GT(pid, 0) << "fork";
    m.pid = pid;
  }
  // SIGKILL: a crash.
  void kill(int i) { end(i, SIGKILL); }
  // SIGTERM: a clean stop.
  void stop(int i) { end(i, SIGTERM); }

  // Every running member answers a linearizable read (so it has a leader) before `timeout`.
  bool wait_healthy(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (int i = 0; i < n_; ++i) {
      if (!running(i)) {
        continue;
      }
      store::etcd::Options o;
      o.endpoints = {endpoint(i)};
      o.timeout_ms = 1000;
      o.ca_file = options_.ca_file;
      o.cert_file = options_.client_cert;
      o.key_file = options_.client_key;
      store::etcd::Client c(o);
      for (;;) {
        store::etcd::RangeRequest r;
        r.key = "health";
        if (c.range(r).ok()) {
          break;
        }
        if (std::chrono::steady_clock::now() > deadline) {
          return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
    return true;
  }

  const std::string& dir() const { return dir_.path(); }

 private:
  struct Member {
    std::string name;
    int client_port = 0;
    int peer_port = 0;
    std::string data_dir;
    pid_t pid = 0;
  };

  void end(int i, int sig) {
    Member& m = members_[i];
    if (m.pid <= 0) {
      return;
    }
    ::kill(m.pid, sig);
    // A clean stop gets 10 s before it is killed; the data dir is reused on start().
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (;;) {
      int status = 0;
      pid_t r = ::waitpid(m.pid, &status, WNOHANG);
      if (r == m.pid || r < 0) {
        break;
      }
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(m.pid, SIGKILL);
        ::waitpid(m.pid, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    m.pid = 0;
  }

  int n_;
  EtcdClusterOptions options_;
  TempDir dir_;
  std::vector<Member> members_;
  bool healthy_ = false;
};

}  // namespace steerdns::testing
