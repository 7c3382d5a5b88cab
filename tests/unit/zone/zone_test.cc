#include "zone/zone.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "dns/rdata.h"
#include "dns/rrtype.h"
#include "zone/loader.h"

namespace steerdns::zone {
namespace {

namespace rt = dns::rrtype;
using dns::Name;

Name N(const std::string& s) {
  auto r = Name::from_text(s);
  EXPECT_TRUE(r.ok()) << s;
  return r.ok() ? *r : Name();
}

const char* kHead[] = {
    "@ 3600 IN SOA ns1 hostmaster 1 7200 3600 1209600 300",
    "@ 3600 IN NS ns1",
    "ns1 3600 IN A 192.0.2.53",
};

// Builds example.com from records given one per line, as if they were lines 1.. of
// "test.zone" (the standard head of SOA, NS and glue comes first unless with_head is false).
struct Built {
  Result<std::shared_ptr<const Zone>> zone = Error{"not built"};
  std::vector<std::string> warnings;
  std::string parse_error;
};

Built build(const std::vector<std::string>& lines, bool with_head = true) {
  Built b;
  Name origin = N("example.com.");
  ZoneBuilder zb(origin);
  TextRecordParser p(origin);
  std::vector<std::string> all;
  if (with_head) all.assign(std::begin(kHead), std::end(kHead));
  all.insert(all.end(), lines.begin(), lines.end());
  for (size_t i = 0; i < all.size(); ++i) {
    auto st = p.parse(all[i], zb, "test.zone", static_cast<uint32_t>(i + 1));
    if (!st) {
      b.parse_error = st.error();
      return b;
    }
  }
  b.zone = zb.build(&b.warnings);
  return b;
}

std::string error_of(const Built& b) {
  if (!b.parse_error.empty()) return b.parse_error;
  return b.zone.ok() ? std::string("(built fine)") : b.zone.error();
}

bool has_warning(const Built& b, const std::string& needle) {
  for (const auto& w : b.warnings) {
    if (w.find(needle) != std::string::npos) return true;
  }
  return false;
}

TEST(ZoneBuilder, BuildsAValidZone) {
  Built b = build({"www 300 IN A 192.0.2.1", "www 300 IN AAAA 2001:db8::1"});
  ASSERT_TRUE(b.zone.ok()) << error_of(b);
  const Zone& z = **b.zone;
  EXPECT_EQ(z.origin(), N("example.com."));
  EXPECT_EQ(z.serial(), 1u);
  EXPECT_EQ(z.record_count(), 5u);
  EXPECT_EQ(z.negative_ttl(), 300u);  // min(SOA TTL 3600, MINIMUM 300)
  EXPECT_TRUE(b.warnings.empty());
  const Node* www = z.find(N("www.example.com."));
  ASSERT_NE(www, nullptr);
  EXPECT_EQ(www->nrrsets, 2);
  EXPECT_NE(z.rrset(*www, rt::A), nullptr);
  EXPECT_EQ(z.rrset(*www, rt::MX), nullptr);
  EXPECT_TRUE(z.apex().flags & nodeflag::kApex);
}

TEST(ZoneBuilder, NegativeTtlUsesSoaTtlWhenSmaller) {
  Built b = build({"@ 60 IN SOA ns1 hostmaster 7 7200 3600 1209600 86400", "@ 3600 IN NS ns1",
                   "ns1 IN A 192.0.2.53"},
                  false);
  ASSERT_TRUE(b.zone.ok()) << error_of(b);
  EXPECT_EQ((*b.zone)->negative_ttl(), 60u);
  EXPECT_EQ((*b.zone)->serial(), 7u);
}

TEST(ZoneBuilder, FindIsCaseInsensitiveAndKeepsCase) {
  Built b = build({"MiXeD 300 IN A 192.0.2.1"});
  ASSERT_TRUE(b.zone.ok()) << error_of(b);
  const Zone& z = **b.zone;
  const Node* n = z.find(N("mixed.EXAMPLE.com."));
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(z.find(N("MIXED.example.COM.")), n);
  EXPECT_EQ(z.name(*n).to_text(), "MiXeD.example.com.");
  EXPECT_EQ(z.find(N("mixe.example.com.")), nullptr);
  EXPECT_EQ(z.find(N("mixed.example.org.")), nullptr);
}

TEST(ZoneBuilder, MaterialisesEmptyNonTerminals) {
  Built b = build({"a.b.c 300 IN A 192.0.2.1"});
  ASSERT_TRUE(b.zone.ok()) << error_of(b);
  const Zone& z = **b.zone;
  const Node* c = z.find(N("c.example.com."));
  const Node* bc = z.find(N("b.c.example.com."));
  const Node* abc = z.find(N("a.b.c.example.com."));
  ASSERT_NE(c, nullptr);
  ASSERT_NE(bc, nullptr);
  ASSERT_NE(abc, nullptr);
  EXPECT_EQ(c->nrrsets, 0);
  EXPECT_EQ(bc->nrrsets, 0);
  EXPECT_EQ(abc->nrrsets, 1);
  EXPECT_EQ(abc->depth, 3);
  EXPECT_EQ(&z.node(abc->parent), bc);
  EXPECT_EQ(&z.node(bc->parent), c);
  EXPECT_EQ(z.node(c->parent).flags & nodeflag::kApex, nodeflag::kApex);
}

TEST(ZoneBuilder, NodesAreInCanonicalOrder) {
  Built b =
      build({"z 300 IN A 192.0.2.1", "\\200.z 300 IN A 192.0.2.1", "*.z 300 IN A 192.0.2.1",
             "\\001.z 300 IN A 192.0.2.1", "zABC.a 300 IN A 192.0.2.1", "Z.a 300 IN A 192.0.2.1",
             "yljkjljk.a 300 IN A 192.0.2.1", "b.a 300 IN TXT x", "a-b 300 IN TXT x"});
  ASSERT_TRUE(b.zone.ok()) << error_of(b);
  const Zone& z = **b.zone;
  std::vector<std::string> got;
  for (size_t i = 0; i < z.node_count(); ++i) {
    got.push_back(z.name(z.node(static_cast<uint32_t>(i))).to_text());
  }
  std::vector<std::string> want = {
      "example.com.",     "a.example.com.",       "b.a.example.com.", "yljkjljk.a.example.com.",
      "Z.a.example.com.", "zABC.a.example.com.",  "a-b.example.com.", "ns1.example.com.",
      "z.example.com.",   "\\001.z.example.com.", "*.z.example.com.", "\\200.z.example.com."};
  EXPECT_EQ(got, want);
  for (size_t i = 1; i < z.node_count(); ++i) {
    EXPECT_LT(z.name(z.node(static_cast<uint32_t>(i - 1))),
              z.name(z.node(static_cast<uint32_t>(i))));
  }
  EXPECT_TRUE(z.find(N("z.example.com."))->flags & nodeflag::kWildcardChild);
}

TEST(ZoneBuilder, DuplicateRecordsCollapseAndTtlMismatchWarns) {
  Built b = build({"www 300 IN A 192.0.2.1", "www 300 IN A 192.0.2.1", "www 600 IN A 192.0.2.2"});
  ASSERT_TRUE(b.zone.ok()) << error_of(b);
  const Zone& z = **b.zone;
  const RRset* a = z.rrset(*z.find(N("www.example.com.")), rt::A);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->count, 2);
  EXPECT_EQ(a->ttl, 300u);
  EXPECT_TRUE(has_warning(b, "test.zone:6: TTL 600 differs"))
      << ::testing::PrintToString(b.warnings);
}

TEST(ZoneBuilder, RdataRoundTripsThroughTheZone) {
  Built b = build({"mx 300 IN MX 10 mail", "txt 300 IN TXT \"a b\" c", "srv 300 IN SRV 1 2 3 t"});
  ASSERT_TRUE(b.zone.ok()) << error_of(b);
  const Zone& z = **b.zone;
  auto text = [&](const char* owner, uint16_t type) {
    std::string s;
    const RRset* rs = z.rrset(*z.find(N(owner)), type);
    z.for_each_rdata(
        *rs, [&](const uint8_t* rd, uint16_t len) { s = dns::rdata_to_text(type, rd, len); });
    return s;
  };
  EXPECT_EQ(text("mx.example.com.", rt::MX), "10 mail.example.com.");
  EXPECT_EQ(text("txt.example.com.", rt::TXT), "\"a b\" \"c\"");
  EXPECT_EQ(text("srv.example.com.", rt::SRV), "1 2 3 t.example.com.");
}

// --- semantic errors, each naming file:line ---

TEST(ZoneChecks, CnameBesideOtherData) {
  Built b = build({"www 300 IN CNAME target", "www 300 IN A 192.0.2.1"});
  ASSERT_FALSE(b.zone.ok());
  EXPECT_EQ(error_of(b).rfind("test.zone:4: CNAME at www.example.com. beside other data", 0), 0u)
      << error_of(b);
  EXPECT_NE(error_of(b).find("test.zone:5"), std::string::npos) << error_of(b);
}

TEST(ZoneChecks, TwoCnames) {
  Built b = build({"www 300 IN CNAME a", "www 300 IN CNAME b"});
  ASSERT_FALSE(b.zone.ok());
  EXPECT_EQ(error_of(b).rfind("test.zone:4: more than one CNAME at www.example.com.", 0), 0u)
      << error_of(b);
}

TEST(ZoneChecks, CnameAtApexIsBesideSoa) {
  Built b = build({"@ 300 IN CNAME elsewhere.example.net."});
  ASSERT_FALSE(b.zone.ok());
  EXPECT_NE(error_of(b).find("test.zone:4: CNAME at example.com. beside other data"),
            std::string::npos)
      << error_of(b);
}

TEST(ZoneChecks, OutOfZoneData) {
  Built b = build({"www.example.net. 300 IN A 192.0.2.1"});
  EXPECT_EQ(error_of(b), "test.zone:4: owner www.example.net. is outside the zone example.com.");
  Built b2 = build({"com. 300 IN A 192.0.2.1"});
  EXPECT_NE(error_of(b2).find("test.zone:4: owner com. is outside"), std::string::npos);
}

TEST(ZoneChecks, MissingSoa) {
  Built b = build({"@ 300 IN NS ns1", "ns1 300 IN A 192.0.2.1"}, false);
  ASSERT_FALSE(b.zone.ok());
  EXPECT_NE(error_of(b).find("example.com.: no SOA record at the apex"), std::string::npos)
      << error_of(b);
}

TEST(ZoneChecks, MissingApexNs) {
  Built b = build(
      {"@ 300 IN SOA ns1 h 1 2 3 4 5", "ns1 300 IN A 192.0.2.1", "sub 300 IN NS ns.elsewhere.net."},
      false);
  ASSERT_FALSE(b.zone.ok());
  EXPECT_NE(error_of(b).find("example.com.: no NS records at the apex"), std::string::npos)
      << error_of(b);
}

TEST(ZoneChecks, SoaNotAtApex) {
  Built b = build({"sub 300 IN SOA ns1 h 1 2 3 4 5"});
  ASSERT_FALSE(b.zone.ok());
  EXPECT_EQ(
      error_of(b).rfind("test.zone:4: SOA record at sub.example.com. is not at the zone apex", 0),
      0u)
      << error_of(b);
}

TEST(ZoneChecks, TwoSoas) {
  Built b = build({"@ 300 IN SOA ns2 h 2 2 3 4 5"});
  ASSERT_FALSE(b.zone.ok());
  EXPECT_NE(error_of(b).find("more than one SOA"), std::string::npos) << error_of(b);
}

TEST(ZoneChecks, DnameWithChildren) {
  Built b = build({"old 300 IN DNAME new.example.net.", "www.old 300 IN A 192.0.2.1"});
  ASSERT_FALSE(b.zone.ok());
  EXPECT_EQ(error_of(b).rfind("test.zone:4: DNAME at old.example.com. has names below it", 0), 0u)
      << error_of(b);
}

TEST(ZoneChecks, TwoDnames) {
  Built b = build({"old 300 IN DNAME a.example.net.", "old 300 IN DNAME b.example.net."});
  ASSERT_FALSE(b.zone.ok());
  EXPECT_NE(error_of(b).find("test.zone:4: more than one DNAME"), std::string::npos) << error_of(b);
}

TEST(ZoneChecks, MetaTypesAndOtherClassesAreRejected) {
  ZoneBuilder zb(N("example.com."));
  Name www = N("www.example.com.");
  std::vector<uint8_t> rd = {1, 2, 3, 4};
  auto st = zb.add(www.data(), www.size(), rt::A, dns::rrclass::CH, 300, rd.data(), rd.size(),
                   "f.zone", 9);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error(), "f.zone:9: class CH is not supported (only IN)");
  auto st2 = zb.add(www, rt::ANY, 300, rd, "f.zone", 10);
  ASSERT_FALSE(st2.ok());
  EXPECT_EQ(st2.error(), "f.zone:10: ANY is a meta type, not zone data");
  auto st3 = zb.add(www, rt::A, 300, std::vector<uint8_t>{1, 2, 3}, "f.zone", 11);
  ASSERT_FALSE(st3.ok());
  EXPECT_EQ(st3.error(), "f.zone:11: malformed A rdata");
  // An SVCB parameter value malformed for its key: the reason, and the zone is not built.
  Built b = build({"svc 300 IN SVCB 1 . alpn=h2 key6=000=abc"});
  ASSERT_FALSE(b.zone.ok());
  EXPECT_NE(error_of(b).find(
                "test.zone:4: malformed SVCB rdata: ipv6hint must be one or more IPv6 addresses"),
            std::string::npos)
      << error_of(b);
}

TEST(ZoneChecks, MissingGlueIsAWarning) {
  Built b = build({"sub 300 IN NS ns.sub", "sub 300 IN NS ns.elsewhere.net."});
  ASSERT_TRUE(b.zone.ok()) << error_of(b);
  EXPECT_TRUE(has_warning(b,
                          "test.zone:4: delegation sub.example.com. to ns.sub.example.com. "
                          "has no glue address"))
      << ::testing::PrintToString(b.warnings);
  EXPECT_FALSE(has_warning(b, "ns.elsewhere.net."));  // out-of-bailiwick needs no glue
}

TEST(ZoneChecks, OccludedDataIsAWarning) {
  Built b = build({"sub 300 IN NS ns.sub", "ns.sub 300 IN A 192.0.2.2",
                   "www.sub 300 IN A 192.0.2.3", "ns.sub 300 IN TXT glue-with-txt"});
  ASSERT_TRUE(b.zone.ok()) << error_of(b);
  EXPECT_TRUE(has_warning(b,
                          "test.zone:6: A at www.sub.example.com. is below the delegation "
                          "sub.example.com. and occluded"))
      << ::testing::PrintToString(b.warnings);
  EXPECT_TRUE(has_warning(b, "test.zone:7: TXT at ns.sub.example.com."));
  EXPECT_FALSE(has_warning(b, "A at ns.sub.example.com."));  // glue is not occluded
  EXPECT_FALSE(has_warning(b, "no glue"));
  const Zone& z = **b.zone;
  const Node* cut = z.find(N("sub.example.com."));
  const Node* below = z.find(N("www.sub.example.com."));
  ASSERT_NE(cut, nullptr);
  ASSERT_NE(below, nullptr);
  EXPECT_TRUE(cut->flags & nodeflag::kCut);
  EXPECT_EQ(below->cut, z.index_of(cut));
}

// --- master files through libzscanner ---

class ZoneFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/steerdns-zone-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }
  // Loads text as example.com and returns the error (or "" when it loads).
  std::string load_error(const std::string& text, std::string* path_out = nullptr) {
    std::string path = write("example.com.zone", text);
    if (path_out) *path_out = path;
    auto z = load_zone_file(N("example.com."), path);
    return z.ok() ? std::string() : z.error();
  }
  std::string dir_;
};

const char kGoodHead[] =
    "$TTL 300\n"
    "@ IN SOA ns1 hostmaster ( 1 7200 3600\n"
    "          1209600 300 )\n"
    "@ IN NS ns1\n"
    "ns1 IN A 192.0.2.53\n";

TEST_F(ZoneFiles, LoadsAGoodFile) {
  std::string path = write("example.com.zone", std::string(kGoodHead) +
                                                   "www IN A 192.0.2.1\n"
                                                   "$ORIGIN sub.example.com.\n"
                                                   "x IN TXT \"in sub\"\n");
  auto z = load_zone_file(N("example.com."), path);
  ASSERT_TRUE(z.ok()) << z.error();
  EXPECT_NE((*z)->find(N("x.sub.example.com.")), nullptr);
  EXPECT_EQ((*z)->record_count(), 5u);
}

TEST_F(ZoneFiles, IncludeWorksAndNamesTheIncludedFile) {
  std::string inc = write("inc.zone", "a IN A 192.0.2.1\nb IN A 192.0.2.300\n");
  std::string path;
  std::string err = load_error(std::string(kGoodHead) + "$INCLUDE " + inc + "\n", &path);
  EXPECT_EQ(err.rfind(inc + ":2: ", 0), 0u) << err;
}

TEST_F(ZoneFiles, SemanticErrorsNameTheFileAndLine) {
  std::string path;
  std::string err = load_error(std::string(kGoodHead) + "www IN CNAME x\nwww IN TXT y\n", &path);
  EXPECT_EQ(err.rfind(path + ":6: CNAME at www.example.com. beside other data", 0), 0u) << err;
}

struct BrokenCase {
  const char* what;
  std::string body;  // appended after kGoodHead (5 lines), so the bad line is line 6
  int line;
  const char* needle;  // part of libzscanner's message
};

TEST_F(ZoneFiles, BrokenFilesSayFileLineAndWhy) {
  const BrokenCase cases[] = {
      {"bad IPv4", "www IN A 192.0.2.300\n", 6, "IPv4"},
      {"label over 63", std::string(64, 'a') + " IN A 192.0.2.1\n", 6, "label"},
      {"TTL overflow", "$TTL 4294967296\n", 6, "bigger than 32 bits"},
      {"missing include", "$INCLUDE /nonexistent/steerdns-missing.zone\n", 6, "file open error"},
      {"unknown type", "www IN BOGUSTYPE 1\n", 6, ""},
  };
  for (const BrokenCase& c : cases) {
    SCOPED_TRACE(c.what);
    std::string path;
    std::string err = load_error(std::string(kGoodHead) + c.body, &path);
    std::string prefix = path + ":" + std::to_string(c.line) + ": ";
    EXPECT_EQ(err.rfind(prefix, 0), 0u) << err;
    EXPECT_GT(err.size(), prefix.size()) << "no reason given";
    if (*c.needle) {
      EXPECT_NE(err.find(c.needle), std::string::npos) << err;
    }
  }
}

// libzscanner 3.2 reads \999 as \231 (999 mod 256); the loader catches it itself.
TEST_F(ZoneFiles, EscapeAbove255Fails) {
  std::string path;
  std::string err = load_error(std::string(kGoodHead) + "a\\999b IN A 192.0.2.1\n", &path);
  EXPECT_EQ(err, path + ":6: escape \\999 is above 255");
  err = load_error(std::string(kGoodHead) + "t IN TXT \"ok\\255\" \"bad\\256\"\n", &path);
  EXPECT_EQ(err.rfind(path + ":6: escape \\256 is above 255", 0), 0u) << err;
  // Not escapes: an escaped backslash followed by digits, and comments.
  EXPECT_EQ(load_error(std::string(kGoodHead) + "t IN TXT \"a\\\\999\" ; \\999\n"), "");
  Built b = build({"x\\300 300 IN A 192.0.2.1"});
  EXPECT_EQ(error_of(b), "test.zone:4: escape \\300 is above 255");
}

TEST_F(ZoneFiles, UnbalancedParenthesesFail) {
  std::string path;
  std::string err = load_error(
      "$TTL 300\n@ IN SOA ns1 hostmaster ( 1 7200 3600 1209600 300\n@ IN NS ns1\nns1 IN A "
      "192.0.2.1\n",
      &path);
  // The open parenthesis swallows the rest of the file: reported where the file ends.
  EXPECT_EQ(err, path + ":5: unclosed last multiline block");
  std::string err2 = load_error(std::string(kGoodHead) + "www IN A 192.0.2.1 )\n", &path);
  EXPECT_EQ(err2.rfind(path + ":6: ", 0), 0u) << err2;
}

TEST_F(ZoneFiles, MissingFile) {
  auto z = load_zone_file(N("example.com."), dir_ + "/nope.zone");
  ASSERT_FALSE(z.ok());
  EXPECT_EQ(z.error().rfind(dir_ + "/nope.zone: cannot read zone file", 0), 0u) << z.error();
}

TEST_F(ZoneFiles, ReportsSeveralErrors) {
  std::string path;
  std::string err = load_error(
      std::string(kGoodHead) + "a IN A 1.2.3.400\nb IN A 192.0.2.1\nc IN AAAA zz::1\n", &path);
  EXPECT_NE(err.find(path + ":6: "), std::string::npos) << err;
  EXPECT_NE(err.find(path + ":8: "), std::string::npos) << err;
}

TEST_F(ZoneFiles, TestZonesInTheRepositoryLoad) {
  // Every zone under tests/data/zones is served by the integration tests; it must load with
  // no errors. The file name is the origin plus ".zone".
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(STEERDNS_TESTDATA "/zones")) {
    std::string file = e.path().filename().string();
    if (!file.ends_with(".zone")) continue;
    std::string origin = file.substr(0, file.size() - 5) + ".";
    std::vector<std::string> warnings;
    auto z = load_zone_file(N(origin), e.path().string(), &warnings);
    EXPECT_TRUE(z.ok()) << file << ": " << z.error();
    ++n;
  }
  EXPECT_GE(n, 3);
}

}  // namespace
}  // namespace steerdns::zone

namespace steerdns::zone {
namespace {

// Steered rrsets: owner, type, TTL and a steering id, with fail-open data or none.
struct Steered {
  Result<std::shared_ptr<const Zone>> zone = Error{"not built"};
};

Steered build_steered(const std::vector<std::string>& lines,
                      const std::function<Status(ZoneBuilder&)>& add) {
  Steered s;
  Name origin = Name::from_text("example.com.").value();
  ZoneBuilder zb(origin);
  TextRecordParser p(origin);
  std::vector<std::string> all = {"@ 3600 IN SOA ns1 hostmaster 1 7200 3600 1209600 300",
                                  "@ 3600 IN NS ns1", "ns1 3600 IN A 192.0.2.53"};
  all.insert(all.end(), lines.begin(), lines.end());
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_TRUE(p.parse(all[i], zb, "test.zone", static_cast<uint32_t>(i + 1)).ok());
  }
  Status st = add(zb);
  if (!st) {
    s.zone = Error{st.error()};
    return s;
  }
  s.zone = zb.build();
  return s;
}

// One parser serves many lines (the config loader's values): a line that leaves the scanner
// mid-record (an unclosed parenthesis) is an error, and the next line parses as if alone.
TEST(TextRecordParser, ReusedAcrossLinesAndAfterErrors) {
  Name origin = Name::from_text("example.com.").value();
  ZoneBuilder zb(origin);
  TextRecordParser p(origin, 300);
  EXPECT_TRUE(p.parse("a 60 IN A 192.0.2.1", zb, "t", 1).ok());
  auto open = p.parse("t 60 IN TXT ( \"x\"", zb, "t", 2);
  ASSERT_FALSE(open);
  EXPECT_NE(open.error().find("t:2: "), std::string::npos) << open.error();
  auto bad = p.parse("b 60 IN A 999.0.0.1", zb, "t", 3);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().find("t:3: "), std::string::npos) << bad.error();
  EXPECT_TRUE(p.parse("c IN AAAA 2001:db8::1", zb, "t", 4).ok());  // default TTL, not 60
  EXPECT_TRUE(p.parse("d 30 IN MX 10 mx", zb, "t", 5).ok());
  EXPECT_EQ(zb.record_count(), 3u);
  auto recs = zb.records_from(0);
  ASSERT_EQ(recs.size(), 3u);
  EXPECT_EQ(recs[0].type, rt::A);
  EXPECT_EQ(recs[0].ttl, 60u);
  EXPECT_EQ(recs[1].type, rt::AAAA);
  EXPECT_EQ(recs[1].ttl, 300u);
  EXPECT_EQ(recs[2].type, rt::MX);
  EXPECT_EQ(Name::from_uncompressed(recs[2].owner.data(), recs[2].owner.size())->to_text(),
            "d.example.com.");
}

TEST(ZoneSteered, SteeredRrsetsCarryTheirIdAndFallback) {
  Name app = Name::from_text("app.example.com.").value();
  Name apex = Name::from_text("example.com.").value();
  auto s = build_steered({"app 60 IN TXT hello"}, [&](ZoneBuilder& zb) -> Status {
    auto st = zb.add_steered(app, rt::A, 60, 7, {{192, 0, 2, 10}, {192, 0, 2, 11}}, "c.yaml", 9);
    if (!st) {
      return st;
    }
    return zb.add_steered(apex, rt::A, 30, 8, {}, "c.yaml", 12);  // pure alias: no data
  });
  ASSERT_TRUE(s.zone.ok()) << s.zone.error();
  const Zone& z = **s.zone;
  const RRset* a = z.rrset(*z.find(app), rt::A);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->steer, 7u);
  EXPECT_EQ(a->count, 2);
  EXPECT_EQ(a->ttl, 60u);
  EXPECT_EQ(z.rrset(*z.find(app), rt::TXT)->steer, kNone);
  const RRset* ap = z.rrset(z.apex(), rt::A);
  ASSERT_NE(ap, nullptr);
  EXPECT_EQ(ap->steer, 8u);
  EXPECT_EQ(ap->count, 0);
  EXPECT_EQ(z.record_count(), 6u);  // SOA, NS, glue, TXT and two fallback A records
}

TEST(ZoneSteered, SemanticChecksTreatThemAsRrsetsOfTheirType) {
  Name www = Name::from_text("www.example.com.").value();
  // A steered CNAME (even without data) beside other data.
  auto s = build_steered({"www 60 IN A 192.0.2.1"}, [&](ZoneBuilder& zb) {
    return zb.add_steered(www, rt::CNAME, 60, 0, {}, "c.yaml", 5);
  });
  ASSERT_FALSE(s.zone.ok());
  EXPECT_NE(s.zone.error().find("c.yaml:5: CNAME at www.example.com. beside other data"),
            std::string::npos)
      << s.zone.error();
  // Steered and static records of one owner and type.
  s = build_steered({"www 60 IN A 192.0.2.1"}, [&](ZoneBuilder& zb) {
    return zb.add_steered(www, rt::A, 60, 0, {{192, 0, 2, 2}}, "c.yaml", 6);
  });
  ASSERT_FALSE(s.zone.ok());
  EXPECT_NE(s.zone.error().find(
                "c.yaml:6: steered A at www.example.com. beside static A records (test.zone:4)"),
            std::string::npos)
      << s.zone.error();
  // Out of zone, like add().
  s = build_steered({}, [&](ZoneBuilder& zb) {
    return zb.add_steered(Name::from_text("www.example.org.").value(), rt::A, 60, 0, {}, "c.yaml",
                          7);
  });
  ASSERT_FALSE(s.zone.ok());
  EXPECT_NE(s.zone.error().find("c.yaml:7: owner www.example.org. is outside the zone"),
            std::string::npos)
      << s.zone.error();
}

}  // namespace
}  // namespace steerdns::zone
