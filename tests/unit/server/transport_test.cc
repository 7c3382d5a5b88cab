// The UDP and TCP transports in-process on loopback, with short timeouts: answers, counters,
// reload visibility, RFC 7766 framing, timeouts, the client limit and the transfer ACL.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "config/runtime.h"
#include "core/snapshot.h"
#include "dns/message.h"
#include "dns/name.h"
#include "dns/rrtype.h"
#include "server/address.h"
#include "server/tcp.h"
#include "server/udp.h"
#include "zone/loader.h"

namespace steerdns::server {
namespace {

namespace rt = dns::rrtype;
using Clock = std::chrono::steady_clock;

std::shared_ptr<const config::RuntimeConfig> make_config(bool with_zone, bool allow_xfr) {
  auto rc = std::make_shared<config::RuntimeConfig>();
  if (with_zone) {
    auto z = zone::load_zone_file(*dns::Name::from_text("example.test."),
                                  std::string(STEERDNS_TESTDATA) + "/transport/example.test.zone");
    EXPECT_TRUE(z.ok()) << z.error();
    rc->set_zones({*z});
  }
  if (allow_xfr) {
    rc->xfr_allow.push_back(*config::Cidr::parse("127.0.0.0/8"));
  }
  return rc;
}

std::vector<uint8_t> make_query(const std::string& name, uint16_t type, uint16_t id) {
  auto n = dns::Name::from_text(name);
  std::vector<uint8_t> q(12 + n->size());
  q[0] = static_cast<uint8_t>(id >> 8);
  q[1] = static_cast<uint8_t>(id);
  q[5] = 1;  // QDCOUNT
  std::copy(n->data(), n->data() + n->size(), q.begin() + 12);
  q.push_back(static_cast<uint8_t>(type >> 8));
  q.push_back(static_cast<uint8_t>(type));
  q.push_back(0);
  q.push_back(1);
  return q;
}

std::vector<uint8_t> framed(const std::vector<uint8_t>& m) {
  std::vector<uint8_t> f(2 + m.size());
  f[0] = static_cast<uint8_t>(m.size() >> 8);
  f[1] = static_cast<uint8_t>(m.size());
  std::copy(m.begin(), m.end(), f.begin() + 2);
  return f;
}

// A port free for UDP and TCP on 127.0.0.1 right now.
uint16_t free_port() {
  for (int attempt = 0; attempt < 50; ++attempt) {
    int t = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(t, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    getsockname(t, reinterpret_cast<sockaddr*>(&a), &len);
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    bool ok = bind(u, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    close(t);
    close(u);
    if (ok) {
      return ntohs(a.sin_port);
    }
  }
  return 0;
}

sockaddr_in loopback(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

int tcp_connect(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in a = loopback(port);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  return fd;
}

// Reads exactly n bytes within the timeout; false on EOF, error or timeout.
bool read_exact(int fd, uint8_t* p, size_t n, int timeout_ms = 2000) {
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  size_t got = 0;
  while (got < n) {
    int left = static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
    pollfd pf{fd, POLLIN, 0};
    if (left <= 0 || poll(&pf, 1, left) <= 0) {
      return false;
    }
    ssize_t r = recv(fd, p + got, n - got, 0);
    if (r <= 0) {
      return false;
    }
    got += static_cast<size_t>(r);
  }
  return true;
}

// One framed response; empty on EOF or timeout.
std::vector<uint8_t> read_msg(int fd) {
  uint8_t len[2];
  if (!read_exact(fd, len, 2)) {
    return {};
  }
  std::vector<uint8_t> m(static_cast<size_t>(len[0] << 8 | len[1]));
  if (!read_exact(fd, m.data(), m.size())) {
    return {};
  }
  return m;
}

// Milliseconds until the peer closes, or -1 if it does not within the limit.
int ms_until_closed(int fd, int limit_ms) {
  auto t0 = Clock::now();
  for (;;) {
    int left =
        limit_ms -
        static_cast<int>(
            std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count());
    pollfd pf{fd, POLLIN, 0};
    if (left <= 0 || poll(&pf, 1, left) <= 0) {
      return -1;
    }
    uint8_t buf[4096];
    ssize_t r = recv(fd, buf, sizeof buf, 0);
    if (r <= 0) {
      return static_cast<int>(
          std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count());
    }
  }
}

uint16_t rcode_of(const std::vector<uint8_t>& m) { return m.size() >= 4 ? m[3] & 0x0F : 0xFFFF; }
uint16_t id_of(const std::vector<uint8_t>& m) { return dns::get16(m.data()); }
uint16_t ancount(const std::vector<uint8_t>& m) { return dns::get16(m.data() + 6); }

class UdpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    port_ = free_port();
    ASSERT_NE(port_, 0);
    auto addr = parse_listen_addr("127.0.0.1:" + std::to_string(port_));
    ASSERT_TRUE(addr.ok());
    server_ = std::make_unique<UdpServer>(snapshot_, 2);
    ASSERT_TRUE(server_->listen(*addr).ok());
    server_->start();
    fd_ = socket(AF_INET, SOCK_DGRAM, 0);
    timeval tv{2, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  void TearDown() override {
    server_->stop();
    close(fd_);
  }
  std::vector<uint8_t> ask(const std::vector<uint8_t>& q) {
    sockaddr_in a = loopback(port_);
    sendto(fd_, q.data(), q.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
    std::vector<uint8_t> buf(4096);
    ssize_t n = recv(fd_, buf.data(), buf.size(), 0);
    buf.resize(n > 0 ? static_cast<size_t>(n) : 0);
    return buf;
  }

  Snapshot<config::RuntimeConfig> snapshot_{make_config(true, false)};
  std::unique_ptr<UdpServer> server_;
  uint16_t port_ = 0;
  int fd_ = -1;
};

TEST_F(UdpTest, AnswersAndCounts) {
  for (uint16_t i = 0; i < 100; ++i) {
    auto r = ask(make_query("www.example.test.", rt::A, i));
    ASSERT_FALSE(r.empty()) << i;
    EXPECT_EQ(id_of(r), i);
    EXPECT_EQ(rcode_of(r), dns::rcode::NOERROR);
    EXPECT_EQ(ancount(r), 2);
  }
  // Too short to be a query: dropped, counted.
  sockaddr_in a = loopback(port_);
  sendto(fd_, "x", 1, 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
  auto r = ask(make_query("example.org.", rt::A, 500));
  EXPECT_EQ(rcode_of(r), dns::rcode::REFUSED);
  // A worker counts a batch after sendmmsg returns, so the last counts may lag our recv.
  auto deadline = Clock::now() + std::chrono::seconds(2);
  CounterTotals t = server_->totals();
  while (t.responses < 101u && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    t = server_->totals();
  }
  EXPECT_EQ(t.queries, 102u);
  EXPECT_EQ(t.responses, 101u);
  EXPECT_EQ(t.drops, 1u);
}

TEST_F(UdpTest, TruncatesWithoutEdns) {
  auto r = ask(make_query("big.example.test.", rt::TXT, 7));
  ASSERT_FALSE(r.empty());
  EXPECT_TRUE(dns::get16(r.data() + 2) & dns::flag::TC);
  EXPECT_LE(r.size(), 512u);
  auto deadline = Clock::now() + std::chrono::seconds(2);
  while (server_->totals().truncated == 0 && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(server_->totals().truncated, 1u);
}

TEST_F(UdpTest, PublishedConfigIsServedNext) {
  EXPECT_EQ(rcode_of(ask(make_query("www.example.test.", rt::A, 1))), dns::rcode::NOERROR);
  snapshot_.publish(make_config(false, false));
  // Both workers pick up the new snapshot at their next batch.
  for (uint16_t i = 0; i < 20; ++i) {
    EXPECT_EQ(rcode_of(ask(make_query("www.example.test.", rt::A, i))), dns::rcode::REFUSED);
  }
}

class TcpTest : public ::testing::Test {
 protected:
  void start(bool allow_xfr, TcpOptions opts) {
    snapshot_.publish(make_config(true, allow_xfr));
    port_ = free_port();
    ASSERT_NE(port_, 0);
    server_ = std::make_unique<TcpServer>(snapshot_, opts);
    ASSERT_TRUE(server_->listen(*parse_listen_addr("127.0.0.1:" + std::to_string(port_))).ok());
    server_->start();
  }
  void TearDown() override {
    if (server_) {
      server_->stop();
    }
  }

  Snapshot<config::RuntimeConfig> snapshot_;
  std::unique_ptr<TcpServer> server_;
  uint16_t port_ = 0;
};

TEST_F(TcpTest, PipelinedQueriesAllAnswered) {
  start(false, {});
  int fd = tcp_connect(port_);
  std::vector<uint8_t> blob;
  for (uint16_t i = 0; i < 200; ++i) {
    auto f = framed(make_query(i % 2 ? "www.example.test." : "nope.example.test.", rt::A, i));
    blob.insert(blob.end(), f.begin(), f.end());
  }
  ASSERT_EQ(send(fd, blob.data(), blob.size(), 0), static_cast<ssize_t>(blob.size()));
  for (uint16_t i = 0; i < 200; ++i) {
    auto r = read_msg(fd);
    ASSERT_FALSE(r.empty()) << i;
    EXPECT_EQ(id_of(r), i);  // this transport answers in order
    EXPECT_EQ(rcode_of(r), i % 2 ? dns::rcode::NOERROR : dns::rcode::NXDOMAIN);
  }
  close(fd);
  EXPECT_EQ(server_->totals().queries, 200u);
}

TEST_F(TcpTest, ByteByByte) {
  start(false, {});
  int fd = tcp_connect(port_);
  auto f = framed(make_query("mail.example.test.", rt::A, 77));
  for (uint8_t b : f) {
    ASSERT_EQ(send(fd, &b, 1, 0), 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  auto r = read_msg(fd);
  ASSERT_FALSE(r.empty());
  EXPECT_EQ(id_of(r), 77);
  EXPECT_EQ(ancount(r), 1);
  close(fd);
}

TEST_F(TcpTest, ZeroLengthCloses) {
  start(false, {});
  int fd = tcp_connect(port_);
  auto f = framed(make_query("www.example.test.", rt::A, 1));
  f.push_back(0);
  f.push_back(0);
  send(fd, f.data(), f.size(), 0);
  EXPECT_FALSE(read_msg(fd).empty());
  EXPECT_GE(ms_until_closed(fd, 1000), 0);
  close(fd);
}

TEST_F(TcpTest, SlowMessageClosedByIoTimeout) {
  start(false, {.max_clients = 10, .idle_timeout_ms = 5000, .io_timeout_ms = 150});
  int fd = tcp_connect(port_);
  uint8_t partial[3] = {0, 40, 0x12};
  send(fd, partial, sizeof partial, 0);
  int ms = ms_until_closed(fd, 2000);
  EXPECT_GE(ms, 100);
  EXPECT_LE(ms, 1000);
  close(fd);
  EXPECT_EQ(server_->totals().timeouts, 1u);
}

TEST_F(TcpTest, IdleConnectionClosed) {
  start(false, {.max_clients = 10, .idle_timeout_ms = 200, .io_timeout_ms = 5000});
  int fd = tcp_connect(port_);
  auto f = framed(make_query("www.example.test.", rt::A, 1));
  send(fd, f.data(), f.size(), 0);
  EXPECT_FALSE(read_msg(fd).empty());
  int ms = ms_until_closed(fd, 2000);
  EXPECT_GE(ms, 150);
  EXPECT_LE(ms, 1000);
  close(fd);
}

TEST_F(TcpTest, ClientLimit) {
  start(false, {.max_clients = 2, .idle_timeout_ms = 5000, .io_timeout_ms = 500});
  int a = tcp_connect(port_), b = tcp_connect(port_);
  auto f = framed(make_query("www.example.test.", rt::A, 1));
  for (int fd : {a, b}) {
    send(fd, f.data(), f.size(), 0);
    EXPECT_FALSE(read_msg(fd).empty());
  }
  int c = tcp_connect(port_);
  EXPECT_GE(ms_until_closed(c, 1000), 0);
  close(c);
  EXPECT_EQ(server_->totals().rejected_connections, 1u);
  close(a);
  close(b);
}

TEST_F(TcpTest, TransferFollowsAcl) {
  start(false, {});
  int fd = tcp_connect(port_);
  auto f = framed(make_query("example.test.", rt::AXFR, 5));
  send(fd, f.data(), f.size(), 0);
  auto r = read_msg(fd);
  ASSERT_FALSE(r.empty());
  EXPECT_EQ(rcode_of(r), dns::rcode::REFUSED);
  close(fd);
  server_->stop();
  server_.reset();

  start(true, {});
  fd = tcp_connect(port_);
  send(fd, f.data(), f.size(), 0);
  r = read_msg(fd);
  ASSERT_FALSE(r.empty());
  EXPECT_EQ(rcode_of(r), dns::rcode::NOERROR);
  EXPECT_TRUE(dns::get16(r.data() + 2) & dns::flag::AA);
  EXPECT_EQ(ancount(r), 23);  // 22 records and the closing SOA
  close(fd);
  EXPECT_EQ(server_->totals().transfers, 1u);
}

}  // namespace
}  // namespace steerdns::server
