// Geo routing against a small .mmdb the test builds (tests/testlib/make_mmdb.pl, needs the
// Debian package libmaxmind-db-writer-perl).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "policy_test_util.h"

namespace steerdns::policy::test {
namespace {

class Geo : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::filesystem::temp_directory_path() / ("steerdns-geo-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
    db_ = (dir_ / "test.mmdb").string();
    std::string cmd = "perl " STEERDNS_SOURCE_DIR "/tests/testlib/make_mmdb.pl " + db_;
    rc_ = std::system(cmd.c_str());
  }
  static void TearDownTestSuite() { std::filesystem::remove_all(dir_); }

  void SetUp() override {
    ASSERT_EQ(rc_, 0) << "make_mmdb.pl failed: is libmaxmind-db-writer-perl installed "
                         "(make deps-test)?";
  }

  Compiled Spec(bool with_default) {
    Compiled c;
    c.spec.geoip_db = db_;
    std::vector<Member> ms = {M("tw", "192.0.2.1", "tw"), M("asia", "192.0.2.2", "asia"),
                              M("eu", "192.0.2.3"), M("us-ca", "192.0.2.4")};
    ms[0].locations = {"TW"};
    ms[1].locations = {"continent:AS"};
    ms[2].locations = {"continent:EU", "GB"};
    ms[3].locations = {"US-CA"};
    if (with_default) {
      ms.push_back(M("def", "192.0.2.9", "def"));
      ms.back().locations = {"*"};
    }
    c.spec.record_sets.push_back(Set("geo.example.", Policy::kGeo, ms));
    return c;
  }

  static inline std::filesystem::path dir_;
  static inline std::string db_;
  static inline int rc_ = -1;
};

TEST_F(Geo, CountrySubdivisionContinentDefault) {
  Compiled c = Spec(true);
  c.build();
  struct Case {
    std::string client;
    std::string expect;
    uint8_t scope;
  };
  for (const Case& k : std::vector<Case>{
           {"203.0.113.5", "192.0.2.1", 24},       // TW: country
           {"2001:db8::1", "192.0.2.2", 33},       // JP: continent AS (the AU /48 splits the /32)
           {"198.51.100.1", "192.0.2.3", 24},      // DE: continent EU
           {"192.0.2.1", "192.0.2.4", 25},         // US-CA: subdivision
           {"192.0.2.200", "192.0.2.9", 25},       // BR: default
           {"2001:db8:ffff::1", "192.0.2.9", 48},  // AU (inside the JP /32): default
       }) {
    Selection s = c.sel("geo.example./A", Cl(k.client));
    EXPECT_EQ(One(s), k.expect) << k.client;
    EXPECT_EQ(s.scope, k.scope) << k.client;
  }
  // Not in the database, or unknown client: the default.
  EXPECT_EQ(c.one("geo.example./A", Cl("10.0.0.1")), "192.0.2.9");
  EXPECT_EQ(c.one("geo.example./A", Client{}), "192.0.2.9");
  // ECS: scope never above the source prefix.
  EXPECT_EQ(c.sel("geo.example./A", Cl("203.0.113.0/22", true)).scope, 22);
}

TEST_F(Geo, UnhealthyFallsBackToWiderLocation) {
  Compiled c = Spec(true);
  c.health = Health({{"tw", kDown}});
  c.build();
  EXPECT_EQ(c.one("geo.example./A", Cl("203.0.113.5")), "192.0.2.2");  // continent AS
  c.health = Health({{"tw", kDown}, {"asia", kDown}});
  c.build();
  EXPECT_EQ(c.one("geo.example./A", Cl("203.0.113.5")), "192.0.2.9");  // default
  c.health = Health({{"tw", kDown}, {"asia", kDown}, {"def", kDown}});
  c.build();
  EXPECT_EQ(c.one("geo.example./A", Cl("203.0.113.5")), "192.0.2.1");  // fail open: most specific
  c.spec.record_sets[0].on_all_down = AllDown::kServfail;
  c.build();
  EXPECT_EQ(c.one("geo.example./A", Cl("203.0.113.5")), "SERVFAIL");
}

TEST_F(Geo, NoMatchAndNoDefaultIsNodata) {
  Compiled c = Spec(false);
  c.build();
  Selection s = c.sel("geo.example./A", Cl("192.0.2.200"));
  EXPECT_EQ(One(s), "NODATA");
  EXPECT_EQ(s.scope, 25);
  EXPECT_EQ(c.one("geo.example./A", Cl("203.0.113.5")), "192.0.2.1");
}

TEST_F(Geo, BadDatabaseFailsCompile) {
  Compiled c = Spec(true);
  c.spec.geoip_db = STEERDNS_SOURCE_DIR "/README.md";
  auto r = compile(c.inputs());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("geoip_db '"), std::string::npos) << r.error();
}

}  // namespace
}  // namespace steerdns::policy::test
