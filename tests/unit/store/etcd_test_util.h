#pragma once
// What the etcd tests share: one single-member etcd per test binary (started on first use,
// stopped after the last test), a key prefix per test so tests never see each other's keys,
// and polling with a deadline.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "store/store.h"
#include "store_test_util.h"
#include "testlib/etcd_cluster.h"
#include "testlib/eventually.h"

namespace steerdns::store::testing {

using Clock = std::chrono::steady_clock;

inline int64_t elapsed_ms(Clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
}

using ::steerdns::testing::eventually;

// Owns the shared cluster; gtest tears the environment down after the last test, so etcd
// stops before the binary exits (not in a static destructor, after gtest has reported).
class SharedEtcd : public ::testing::Environment {
 public:
  static SharedEtcd* get() {
    static SharedEtcd* env =
        static_cast<SharedEtcd*>(::testing::AddGlobalTestEnvironment(new SharedEtcd));
    return env;
  }
  ::steerdns::testing::EtcdCluster& cluster() {
    if (!cluster_) {  // lazily: a run filtered to SQLite tests starts no etcd
      cluster_ = std::make_unique<::steerdns::testing::EtcdCluster>(1);
    }
    return *cluster_;
  }
  void TearDown() override { cluster_.reset(); }

 private:
  std::unique_ptr<::steerdns::testing::EtcdCluster> cluster_;
};
// Registered before RUN_ALL_TESTS (static initialisation), as gtest wants environments.
inline SharedEtcd* const kSharedEtcdRegistered = SharedEtcd::get();

// The binary's etcd; tests only ever call it from the main thread.
inline ::steerdns::testing::EtcdCluster& shared_etcd() { return SharedEtcd::get()->cluster(); }

// A TCP socket listening on 127.0.0.1 at a port the kernel picks (stand-ins for an etcd
// member: a black hole, a lossy proxy). Returns the fd; *port is the port.
inline int listen_loopback(int backlog, int* port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  EXPECT_EQ(::listen(fd, backlog), 0);
  EXPECT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
  *port = ntohs(a.sin_port);
  return fd;
}

// "t3-P0123.../": a key prefix no other test of this binary (or an earlier run) uses.
inline std::string fresh_prefix() {
  static int counter = 0;
  std::string p = numbered("t", counter++);
  p.append("-").append(make_id('P')).append("/");
  return p;
}

}  // namespace steerdns::store::testing
