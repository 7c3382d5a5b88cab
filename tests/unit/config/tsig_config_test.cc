// server.tsig_keys and the keyed forms of xfr_allow and notify (docs/zone-transfer.md).
// Error cases with file:line are in loader_errors_test.cc.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

#include "config/catalog.h"
#include "config/loader.h"
#include "config_test_util.h"

namespace steerdns::config {
namespace {

using testing::expect_server_error;
using testing::kMinimalZones;
using testing::TempDir;

// "steerdns tsig test key 32 bytes!"
constexpr const char* kSecret = "c3RlZXJkbnMgdHNpZyB0ZXN0IGtleSAzMiBieXRlcyE=";

TEST(TsigConfig, KeysAndKeyedEntries) {
  TempDir d;
  // secret_file relative to the config file, with a trailing newline as `openssl rand` writes.
  std::filesystem::create_directories(d.file("keys"));
  d.write("keys/notify.b64", std::string(kSecret) + "\n");
  ::setenv("STEERDNS_TEST_TSIG_SECRET", "YWJjZA==", 1);
  std::string yaml = std::string(R"(server:
  xfr_allow:
    - 192.0.2.0/24
    - { from: 127.0.0.0/8, key: Xfr-Key }
  notify:
    - "192.0.2.53:53"
    - { to: "127.0.0.1:5353", key: notify-key. }
  tsig_keys:
    - { name: xfr-key, secret: ")") +
                     kSecret + R"(" }
    - { name: notify-key, algorithm: hmac-sha512, secret_file: keys/notify.b64 }
    - { name: env-key, algorithm: HMAC-SHA1, secret_env: STEERDNS_TEST_TSIG_SECRET }
)" + kMinimalZones;
  auto c = load_config_file(d.write("t.yaml", yaml));
  ::unsetenv("STEERDNS_TEST_TSIG_SECRET");
  ASSERT_TRUE(c.ok()) << c.error();
  const auto& keys = *c->runtime->tsig_keys;
  ASSERT_EQ(keys.keys().size(), 3u);
  const dns::TsigKey* x = keys.find(*dns::Name::from_text("xfr-key."));
  ASSERT_NE(x, nullptr);
  EXPECT_EQ(x->algorithm, dns::TsigAlgorithm::kHmacSha256);  // the default
  EXPECT_EQ(std::string(x->secret.begin(), x->secret.end()), "steerdns tsig test key 32 bytes!");
  const dns::TsigKey* n = keys.find(*dns::Name::from_text("notify-key."));
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(n->algorithm, dns::TsigAlgorithm::kHmacSha512);
  EXPECT_EQ(n->secret, x->secret);
  const dns::TsigKey* e = keys.find(*dns::Name::from_text("env-key."));
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->algorithm, dns::TsigAlgorithm::kHmacSha1);
  EXPECT_EQ(std::string(e->secret.begin(), e->secret.end()), "abcd");

  ASSERT_EQ(c->runtime->xfr_allow.size(), 2u);
  EXPECT_EQ(c->runtime->xfr_allow[0].to_text(), "192.0.2.0/24");
  EXPECT_FALSE(c->runtime->xfr_allow[0].key);
  EXPECT_EQ(c->runtime->xfr_allow[1].to_text(), "127.0.0.0/8 key xfr-key.");
  ASSERT_EQ(c->server.notify.size(), 2u);
  EXPECT_EQ(c->server.notify[0].to, "192.0.2.53:53");
  EXPECT_FALSE(c->server.notify[0].key);
  EXPECT_EQ(c->server.notify[1].to, "127.0.0.1:5353");
  ASSERT_TRUE(c->server.notify[1].key);
  EXPECT_EQ(c->server.notify[1].key->to_text(), "notify-key.");
  // The settings carry the same keys (what a reload compares and applies).
  EXPECT_TRUE(*c->server.tsig_keys == keys);
}

TEST(TsigConfig, NoKeysIsAnEmptyRing) {
  TempDir d;
  auto c = load_config_file(
      d.write("t.yaml", std::string("server:\n  xfr_allow: [127.0.0.1]\n") + kMinimalZones));
  ASSERT_TRUE(c.ok()) << c.error();
  ASSERT_NE(c->runtime->tsig_keys, nullptr);
  EXPECT_TRUE(c->runtime->tsig_keys->empty());
}

TEST(TsigConfig, CompiledCatalogCarriesTheKeys) {
  // The catalog path (API, reload) compiles server settings from the file into every config.
  TempDir d;
  std::string yaml = std::string("server:\n  tsig_keys: [{ name: k1, secret: \"") + kSecret +
                     "\" }]\n  xfr_allow: [{ from: 127.0.0.1, key: k1 }]\n" + kMinimalZones;
  ServerSettings settings;
  auto cat = from_config_file(d.write("t.yaml", yaml), &settings);
  ASSERT_TRUE(cat.ok()) << cat.error();
  auto lc = compile(*cat, settings);
  ASSERT_TRUE(lc.ok()) << lc.error();
  ASSERT_NE(lc->runtime->tsig_keys->find(*dns::Name::from_text("k1.")), nullptr);
  ASSERT_EQ(lc->runtime->xfr_allow.size(), 1u);
  EXPECT_EQ(lc->runtime->xfr_allow[0].to_text(), "127.0.0.1/32 key k1.");
}

TEST(TsigConfig, SecretNeverInErrors) {
  // A secret that is almost base64: the error says why, not what.
  expect_server_error("  tsig_keys:\n    - { name: k1, secret: \"c2VjcmV0!c2Vjcm0\" }\n",
                      "name: k1", "not base64: character 9");
  TempDir d;
  auto c = load_config_file(d.write(
      "t.yaml",
      std::string("server:\n  tsig_keys:\n    - { name: k1, secret: \"c2VjcmV0!c2Vjcm0\" }\n") +
          kMinimalZones));
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().find("c2VjcmV0"), std::string::npos) << c.error();
}

}  // namespace
}  // namespace steerdns::config
