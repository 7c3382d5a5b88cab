#include "dns/name.h"

#include <gtest/gtest.h>

namespace steerdns::dns {
namespace {

TEST(Name, ParsesAndPrintsWithEscapes) {
  auto n = Name::from_text("a\\.b.Example.COM.");
  ASSERT_TRUE(n.ok()) << n.error();
  EXPECT_EQ(n->label_count(), 3);
  EXPECT_EQ(n->to_text(), "a\\.b.Example.COM.");
  EXPECT_EQ(*n, *Name::from_text("A\\.B.example.com."));  // case-insensitive compare
}

TEST(Name, RejectsLongLabelsAndNames) {
  EXPECT_FALSE(Name::from_text(std::string(64, 'a') + ".").ok());
  std::string long_name;
  for (int i = 0; i < 5; ++i) long_name += std::string(60, 'b') + ".";
  auto r = Name::from_text(long_name);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("255"), std::string::npos);
}

TEST(Name, DecompressionRejectsForwardPointersAndLoops) {
  const uint8_t loop[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xC0, 12};
  WireReader r(loop, sizeof loop, 12);
  Name::from_wire(r);
  EXPECT_FALSE(r.ok());
}

}  // namespace
}  // namespace steerdns::dns
