// server.query_log: parsed into ServerSettings (paths relative to the config file), and bad
// values rejected with the file and line and no config.
#include <gtest/gtest.h>

#include <string>

#include "config/loader.h"
#include "config_test_util.h"

namespace steerdns::config {
namespace {

using testing::TempDir;

const char* const kZones = testing::kMinimalZones;

TEST(QueryLogConfig, OffByDefault) {
  TempDir d;
  auto c = load_config_file(d.write("t.yaml", kZones));
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_TRUE(c->server.query_log_path.empty());
  EXPECT_FALSE(c->server.query_log_dnstap);
  EXPECT_EQ(c->server.query_log_sample, 1u);
}

TEST(QueryLogConfig, ParsesFileAndSocket) {
  TempDir d;
  auto c = load_config_file(d.write(
      "t.yaml", "server:\n  query_log: { path: logs/q.json, sample: 10 }\n" + std::string(kZones)));
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(c->server.query_log_path, d.path() + "/logs/q.json");
  EXPECT_FALSE(c->server.query_log_dnstap);
  EXPECT_EQ(c->server.query_log_sample, 10u);
  c = load_config_file(d.write(
      "u.yaml",
      "server:\n  query_log:\n    format: dnstap\n    path: unix:dnstap.sock\n" + std::string(kZones)));
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(c->server.query_log_path, "unix:" + d.path() + "/dnstap.sock");
  EXPECT_TRUE(c->server.query_log_dnstap);
}

TEST(QueryLogConfig, BadValuesNameTheLine) {
  struct Bad {
    std::string yaml, marker, reason;
  };
  const Bad cases[] = {
      {"  query_log: { format: yaml, path: q.log }\n", "format: yaml",
       "query_log: format 'yaml' is not json or dnstap"},
      {"  query_log: { path: unix:/run/x.sock }\n", "query_log:",
       "a unix: socket takes format: dnstap"},
      {"  query_log: { sample: 10 }\n", "query_log:", "query_log: needs 'path'"},
      {"  query_log: { path: q.log, sample: 0 }\n", "sample: 0", "'sample' is 0, out of range"},
      {"  query_log: { path: q.log, every: 2 }\n", "every", "unknown key 'every' in query_log"},
      {"  query_log: { path: . }\n", "path: .", "is not a file name"},
  };
  for (const Bad& b : cases) {
    testing::expect_server_error(b.yaml, b.marker, b.reason);
  }
}

}  // namespace
}  // namespace steerdns::config
