#include "server/address.h"

#include <gtest/gtest.h>
#include <netinet/in.h>

namespace steerdns::server {
namespace {

TEST(ListenAddr, ParsesIPv4AndIPv6) {
  auto a = parse_listen_addr("127.0.0.1:5300");
  ASSERT_TRUE(a.ok()) << a.error();
  EXPECT_EQ(a->family(), AF_INET);
  EXPECT_EQ(sockaddr_to_text(a->sa()), "127.0.0.1:5300");
  EXPECT_FALSE(a->is_wildcard());
  auto b = parse_listen_addr("[::1]:53");
  ASSERT_TRUE(b.ok()) << b.error();
  EXPECT_EQ(b->family(), AF_INET6);
  EXPECT_EQ(sockaddr_to_text(b->sa()), "[::1]:53");
  EXPECT_TRUE(parse_listen_addr("0.0.0.0:53")->is_wildcard());
  EXPECT_TRUE(parse_listen_addr("[::]:53")->is_wildcard());
}

TEST(ListenAddr, RejectsMalformed) {
  for (const char* bad : {"127.0.0.1", "::1:53", "[::1]53", "[::1]:", "host:53", "1.2.3.4:65536",
                          "1.2.3.4:-1", "1.2.3.4:5x", "", "[1.2.3.4]:53"}) {
    auto r = parse_listen_addr(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_NE(r.error().find(bad), std::string::npos) << r.error();
    }
  }
}

}  // namespace
}  // namespace steerdns::server
