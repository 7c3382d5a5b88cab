// PrefixMap: longest-prefix match per family, nested and overlapping prefixes, first insert
// wins for the same prefix.
#include "policy/prefix_map.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "policy_test_util.h"

namespace steerdns::policy::test {
namespace {

TEST(PrefixMap, LongestMatch) {
  PrefixMap<int> m;
  m.insert(C("0.0.0.0/0"), 0);
  m.insert(C("10.0.0.0/8"), 1);
  m.insert(C("10.1.0.0/16"), 2);
  m.insert(C("10.1.2.128/25"), 3);
  m.insert(C("10.0.0.0/8"), 99);  // duplicate: ignored
  m.insert(C("2001:db8::/32"), 4);
  m.insert(C("2001:db8:1::/48"), 5);
  m.build();
  struct Case {
    std::string addr;
    int expect;  // -1 = no match
    uint8_t prefix;
  };
  for (const Case& k : std::vector<Case>{{"10.1.2.200", 3, 25},
                                         {"10.1.2.1", 2, 16},
                                         {"10.2.0.1", 1, 8},
                                         {"192.0.2.1", 0, 0},
                                         {"2001:db8:1::5", 5, 48},
                                         {"2001:db8:2::5", 4, 32},
                                         {"2001:db9::1", -1, 0}}) {
    Client c = Cl(k.addr);
    uint8_t plen = 0;
    const int* v = m.find(c.family, c.addr, &plen);
    if (k.expect < 0) {
      EXPECT_EQ(v, nullptr) << k.addr;
      continue;
    }
    ASSERT_NE(v, nullptr) << k.addr;
    EXPECT_EQ(*v, k.expect) << k.addr;
    EXPECT_EQ(plen, k.prefix) << k.addr;
  }
  EXPECT_EQ(m.longest(AF_INET), 25);
  EXPECT_EQ(m.longest(AF_INET6), 48);
  EXPECT_EQ(m.find(0, Cl("10.0.0.1").addr, nullptr), nullptr);
  EXPECT_FALSE(m.empty());
  EXPECT_TRUE(PrefixMap<int>().empty());
}

}  // namespace
}  // namespace steerdns::policy::test
