// NOTIFY out (server/notify.h) against loopback UDP sockets playing the secondary.
#include "server/notify.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "dns/message.h"
#include "dns/rrtype.h"
#include "testlib/eventually.h"

namespace steerdns::server {
namespace {

// A UDP socket on 127.0.0.1 with an ephemeral port.
struct Secondary {
  int fd = -1;
  uint16_t port = 0;
  Secondary() {
    fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    socklen_t len = sizeof(a);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~Secondary() { ::close(fd); }
  std::string target() const { return "127.0.0.1:" + std::to_string(port); }
  // The next datagram within `ms`, with its sender; empty if none came.
  std::vector<uint8_t> recv(int ms, sockaddr_in* from) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, ms) != 1) {
      return {};
    }
    std::vector<uint8_t> buf(512);
    socklen_t len = sizeof(*from);
    ssize_t n = ::recvfrom(fd, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(from), &len);
    buf.resize(n > 0 ? static_cast<size_t>(n) : 0);
    return buf;
  }
};

double counter(const Notifier& n, const std::string& result) {
  obs::Families f;
  n.collect(f);
  for (const auto& fam : f) {
    for (const auto& m : fam.metric) {
      if (m.label.size() == 1 && m.label[0].value == result) {
        return m.counter.value;
      }
    }
  }
  return -1;
}

using ::steerdns::testing::eventually;

TEST(Notifier, RetriesUntilAcknowledged) {
  Secondary sec;
  Notifier n(NotifyOptions{5, 50});
  ASSERT_TRUE(n.set_targets({sec.target()}).ok());
  n.start();
  n.notify(*dns::Name::from_text("example.test."), 42);
  sockaddr_in from{};
  // The first NOTIFY goes unanswered; the retry has the same id and is acknowledged.
  auto first = sec.recv(2000, &from);
  ASSERT_GE(first.size(), dns::kHeaderLen);
  uint16_t flags = static_cast<uint16_t>(first[2] << 8 | first[3]);
  EXPECT_EQ((flags >> 11) & 0xF, dns::opcode::NOTIFY);
  EXPECT_TRUE(flags & dns::flag::AA);
  EXPECT_FALSE(flags & dns::flag::QR);
  EXPECT_EQ(first, Notifier::message(*dns::Name::from_text("example.test."),
                                     static_cast<uint16_t>(first[0] << 8 | first[1])));
  auto second = sec.recv(2000, &from);
  ASSERT_EQ(second, first);
  // A response with another id does not count; the right one does.
  std::vector<uint8_t> resp = second;
  resp[2] |= 0x80;  // QR
  std::vector<uint8_t> wrong = resp;
  wrong[1] ^= 1;
  ::sendto(sec.fd, wrong.data(), wrong.size(), 0, reinterpret_cast<sockaddr*>(&from), sizeof(from));
  ::sendto(sec.fd, resp.data(), resp.size(), 0, reinterpret_cast<sockaddr*>(&from), sizeof(from));
  EXPECT_TRUE(eventually([&] { return counter(n, "ok") == 1; }, 5000, 5));
  EXPECT_GE(counter(n, "retry"), 1);
  EXPECT_EQ(counter(n, "failed"), 0);
  n.stop();
}

TEST(Notifier, GivesUpAfterTheLastTry) {
  Secondary sec;
  Notifier n(NotifyOptions{3, 20});
  ASSERT_TRUE(n.set_targets({sec.target()}).ok());
  n.start();
  n.notify(*dns::Name::from_text("example.test."), 1);
  EXPECT_TRUE(eventually([&] { return counter(n, "failed") == 1; }, 5000, 5));
  EXPECT_EQ(counter(n, "retry"), 2);
  EXPECT_EQ(counter(n, "ok"), 0);
  sockaddr_in from{};
  int got = 0;
  while (!sec.recv(0, &from).empty()) {
    ++got;
  }
  EXPECT_EQ(got, 3);
}

// A reload changes the targets of a running notifier: a removed target's NOTIFY in flight
// stops being retried, the next notify() goes to the new ones only, none means none.
TEST(Notifier, TargetsChangeWhileRunning) {
  Secondary a, b;
  Notifier n(NotifyOptions{10, 50});
  n.start();  // no targets yet: nothing to send, but running
  EXPECT_TRUE(n.empty());
  n.notify(*dns::Name::from_text("example.test."), 1);
  sockaddr_in from{};
  EXPECT_TRUE(a.recv(200, &from).empty());

  ASSERT_TRUE(n.set_targets({a.target()}).ok());
  n.notify(*dns::Name::from_text("example.test."), 2);
  ASSERT_FALSE(a.recv(2000, &from).empty());  // unanswered: retried every 50, 100, 200 ms...
  auto bad = n.set_targets({b.target(), "nowhere"});
  ASSERT_FALSE(bad.ok());  // changes nothing: a keeps its retries
  ASSERT_FALSE(a.recv(2000, &from).empty());

  ASSERT_TRUE(n.set_targets({b.target()}).ok());
  n.notify(*dns::Name::from_text("example.test."), 3);
  ASSERT_FALSE(b.recv(2000, &from).empty());
  while (!a.recv(0, &from).empty()) {
  }
  // Were a still a target, its retry (due within 400 ms) or serial 3 would arrive here.
  EXPECT_TRUE(a.recv(800, &from).empty());

  ASSERT_TRUE(n.set_targets({}).ok());
  EXPECT_TRUE(n.empty());
  n.notify(*dns::Name::from_text("example.test."), 4);
  while (!b.recv(0, &from).empty()) {
  }
  EXPECT_TRUE(b.recv(800, &from).empty());
  n.stop();
}

TEST(Notifier, BadTargetIsAnError) {
  Notifier n;
  auto st = n.set_targets({"127.0.0.1:53", "secondary"});
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().find("'secondary'"), std::string::npos) << st.error();
}

}  // namespace
}  // namespace steerdns::server
