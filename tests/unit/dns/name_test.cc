#include "dns/name.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace steerdns::dns {
namespace {

Name N(const std::string& s) {
  auto r = Name::from_text(s);
  EXPECT_TRUE(r.ok()) << s << ": " << r.error();
  return r.ok() ? *r : Name();
}

TEST(Name, ParsesAndPrintsWithEscapes) {
  auto n = Name::from_text("a\\.b.Example.COM.");
  ASSERT_TRUE(n.ok()) << n.error();
  EXPECT_EQ(n->label_count(), 3);
  EXPECT_EQ(n->to_text(), "a\\.b.Example.COM.");
  EXPECT_EQ(*n, *Name::from_text("A\\.B.example.com."));  // case-insensitive compare
}

TEST(Name, DecimalEscapes) {
  Name n = N("\\065\\000x\\255.example.");
  ASSERT_EQ(n.size(), 1u + 4 + 1 + 7 + 1);
  EXPECT_EQ(n.data()[0], 4);
  EXPECT_EQ(n.data()[1], 'A');
  EXPECT_EQ(n.data()[2], 0);
  EXPECT_EQ(n.data()[3], 'x');
  EXPECT_EQ(n.data()[4], 255);
  EXPECT_EQ(n.to_text(), "A\\000x\\255.example.");
  // Printing and re-parsing gives the same octets.
  EXPECT_EQ(N(n.to_text()), n);
  EXPECT_EQ(N("sp\\ ace\\;\\(.x.").to_text(), "sp\\032ace\\;\\(.x.");
}

TEST(Name, RejectsBadEscapes) {
  EXPECT_FALSE(Name::from_text("a\\999.example.").ok());
  EXPECT_FALSE(Name::from_text("a\\25.example.").ok());
  EXPECT_FALSE(Name::from_text("a\\").ok());
  EXPECT_FALSE(Name::from_text("a..b.").ok());
  EXPECT_FALSE(Name::from_text("").ok());
}

TEST(Name, RelativeNamesAndOrigin) {
  Name origin = N("example.com.");
  auto www = Name::from_text("www", &origin);
  ASSERT_TRUE(www.ok());
  EXPECT_EQ(www->to_text(), "www.example.com.");
  auto at = Name::from_text("@", &origin);
  ASSERT_TRUE(at.ok());
  EXPECT_EQ(*at, origin);
  EXPECT_FALSE(Name::from_text("www").ok());  // relative without origin
  EXPECT_TRUE(N(".").is_root());
  EXPECT_EQ(N(".").to_text(), ".");
}

TEST(Name, RejectsLongLabelsAndNames) {
  EXPECT_FALSE(Name::from_text(std::string(64, 'a') + ".").ok());
  std::string long_name;
  for (int i = 0; i < 5; ++i) long_name += std::string(60, 'b') + ".";
  auto r = Name::from_text(long_name);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("255"), std::string::npos);
}

TEST(Name, LimitsAreExact) {
  EXPECT_TRUE(Name::from_text(std::string(63, 'a') + ".").ok());
  // 3 x 63-octet labels + one 61-octet label = 4*64 - 2 + 1 (root) = 255 octets.
  std::string max = std::string(63, 'a') + "." + std::string(63, 'b') + "." + std::string(63, 'c') +
                    "." + std::string(61, 'd') + ".";
  auto r = Name::from_text(max);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->size(), 255u);
  std::string over = std::string(63, 'a') + "." + std::string(63, 'b') + "." +
                     std::string(63, 'c') + "." + std::string(62, 'd') + ".";
  EXPECT_FALSE(Name::from_text(over).ok());
  // Relative name that only overflows once the origin is appended.
  Name origin = N(std::string(63, 'o') + ".");
  EXPECT_FALSE(
      Name::from_text(
          std::string(63, 'a') + "." + std::string(63, 'b') + "." + std::string(63, 'c'), &origin)
          .ok());
}

TEST(Name, FromUncompressedValidates) {
  const uint8_t ok[] = {3, 'w', 'w', 'w', 0};
  EXPECT_TRUE(Name::from_uncompressed(ok, sizeof ok).ok());
  const uint8_t no_root[] = {3, 'w', 'w', 'w'};
  EXPECT_FALSE(Name::from_uncompressed(no_root, sizeof no_root).ok());
  const uint8_t trailing[] = {3, 'w', 'w', 'w', 0, 0};
  EXPECT_FALSE(Name::from_uncompressed(trailing, sizeof trailing).ok());
  const uint8_t pointer[] = {0xC0, 0};
  EXPECT_FALSE(Name::from_uncompressed(pointer, sizeof pointer).ok());
  std::vector<uint8_t> long_label(66, 'x');
  long_label[0] = 64;
  long_label[65] = 0;
  EXPECT_FALSE(Name::from_uncompressed(long_label.data(), long_label.size()).ok());
}

TEST(Name, SubdomainsOnLabelBoundaries) {
  EXPECT_TRUE(N("www.Example.com.").is_subdomain_of(N("example.COM.")));
  EXPECT_TRUE(N("example.com.").is_subdomain_of(N("example.com.")));
  EXPECT_TRUE(N("example.com.").is_subdomain_of(N(".")));
  EXPECT_FALSE(N("xexample.com.").is_subdomain_of(N("example.com.")));
  EXPECT_FALSE(N("com.").is_subdomain_of(N("example.com.")));
  // A label containing an escaped dot is not a boundary.
  EXPECT_FALSE(N("a\\.example.com.").is_subdomain_of(N("example.com.")));
  EXPECT_EQ(N("a\\.example.com.").label_count(), 2);
  // Octets inside a label that look like the suffix are not a boundary either.
  EXPECT_FALSE(N("\\001a.com.").is_subdomain_of(N("a.com.")));
}

TEST(Name, ParentPrependReplace) {
  Name n = N("a.b.example.com.");
  EXPECT_EQ(n.parent().to_text(), "b.example.com.");
  EXPECT_EQ(n.parent(2).to_text(), "example.com.");
  EXPECT_TRUE(n.parent(10).is_root());
  auto w = N("example.com.").prepend("*");
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->to_text(), "*.example.com.");
  EXPECT_FALSE(N("example.com.").prepend(std::string(64, 'x')).ok());
  auto r = n.replace_suffix(N("example.com."), N("example.net."));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->to_text(), "a.b.example.net.");
  EXPECT_FALSE(n.replace_suffix(N("example.org."), N("x.")).ok());
  std::string big =
      std::string(63, 'a') + "." + std::string(63, 'b') + "." + std::string(63, 'c') + ".";
  auto too_long =
      N(std::string(63, 'x') + ".example.com.").replace_suffix(N("example.com."), N(big));
  EXPECT_FALSE(too_long.ok());
}

TEST(Name, CaseInsensitiveCompareAndHash) {
  Name a = N("WwW.ExAmPlE.cOm.");
  Name b = N("www.example.com.");
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.hash(), b.hash());
  EXPECT_EQ(a <=> b, std::strong_ordering::equal);
  EXPECT_EQ(a.to_text(), "WwW.ExAmPlE.cOm.");  // case preserved
  EXPECT_EQ(a.lowered().to_text(), "www.example.com.");
  EXPECT_NE(N("www.example.com."), N("www.example.net."));
  EXPECT_NE(N("a.example."), N("a.example.a."));
}

TEST(Name, CanonicalOrderRfc4034) {
  // The example list of RFC 4034 section 6.1, in order.
  std::vector<std::string> want = {"example.",         "a.example.",      "yljkjljk.a.example.",
                                   "Z.a.example.",     "zABC.a.EXAMPLE.", "z.example.",
                                   "\\001.z.example.", "*.z.example.",    "\\200.z.example."};
  std::vector<Name> names;
  for (auto it = want.rbegin(); it != want.rend(); ++it) names.push_back(N(*it));
  std::sort(names.begin(), names.end());
  ASSERT_EQ(names.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(names[i].to_text(), want[i]) << i;
  EXPECT_LT(N("."), N("com."));
  EXPECT_LT(N("a.com."), N("b.com."));
  EXPECT_LT(N("z.com."), N("a.net."));
}

TEST(Name, DecompressionRejectsForwardPointersAndLoops) {
  const uint8_t loop[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xC0, 12};
  WireReader r(loop, sizeof loop, 12);
  Name::from_wire(r);
  EXPECT_FALSE(r.ok());
  // Two pointers pointing at each other.
  const uint8_t mutual[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xC0, 14, 0xC0, 12};
  WireReader r2(mutual, sizeof mutual, 14);
  Name::from_wire(r2);
  EXPECT_FALSE(r2.ok());
}

TEST(Name, DecompressionFollowsBackwardPointers) {
  // "example.com" at 0, then "www" + pointer to 0 at 13.
  const uint8_t msg[] = {7,   'e', 'x', 'a', 'm', 'p', 'l', 'e',  3, 'c',
                         'o', 'm', 0,   3,   'w', 'w', 'w', 0xC0, 0, 0xAA};
  WireReader r(msg, sizeof msg, 13);
  Name n = Name::from_wire(r);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(n.to_text(), "www.example.com.");
  EXPECT_EQ(r.pos(), 19u);  // just past the pointer
  // Truncated pointer.
  WireReader r2(msg, 18, 13);
  Name::from_wire(r2);
  EXPECT_FALSE(r2.ok());
  // Extended label type 0x40.
  const uint8_t ext[] = {0x41, 'a', 0};
  WireReader r3(ext, sizeof ext);
  Name::from_wire(r3);
  EXPECT_FALSE(r3.ok());
}

TEST(Name, DecompressionEnforces255Octets) {
  // A chain of backward pointers, each adding a 63-octet label: the 5th label overflows.
  std::vector<uint8_t> msg;
  size_t prev = 0;
  msg.push_back(0);  // root at 0
  for (int i = 0; i < 5; ++i) {
    size_t at = msg.size();
    msg.push_back(63);
    msg.insert(msg.end(), 63, static_cast<uint8_t>('a' + i));
    msg.push_back(static_cast<uint8_t>(0xC0 | (prev >> 8)));
    msg.push_back(static_cast<uint8_t>(prev & 0xFF));
    prev = at;
  }
  WireReader r(msg.data(), msg.size(), prev);
  Name::from_wire(r);
  EXPECT_FALSE(r.ok());
  // Four labels (4*64 + 1 = 257 > 255) also overflow; three (193) are fine.
  size_t third = 1 + 2 * 66;
  WireReader r3(msg.data(), msg.size(), third);
  Name n3 = Name::from_wire(r3);
  ASSERT_TRUE(r3.ok());
  EXPECT_EQ(n3.label_count(), 3);
  EXPECT_EQ(n3.size(), 193u);
}

TEST(Name, WireNameLength) {
  const uint8_t a[] = {1, 'a', 0, 9};
  EXPECT_EQ(wire_name_length(a, sizeof a), 3u);
  EXPECT_EQ(wire_name_length(a, 2), 0u);
  const uint8_t p[] = {1, 'a', 0xC0, 0};
  EXPECT_EQ(wire_name_length(p, sizeof p), 0u);
}

}  // namespace
}  // namespace steerdns::dns
