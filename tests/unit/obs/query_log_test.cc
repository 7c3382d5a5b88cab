// The query log's ring (full -> dropped and counted), sampling, and the writer thread writing
// JSON lines to a real file (and reopening it after a rename, as logrotate does).
#include "obs/query_log.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "testlib/temp_dir.h"

namespace steerdns::obs {
namespace {

using ::steerdns::testing::TempDir;

// A minimal response: "a.test. IN A" with one answer a.test. 60 IN A 192.0.2.1.
std::vector<uint8_t> response_bytes() {
  return {0x12, 0x34, 0x84, 0x00, 0, 1, 0, 1, 0, 0, 0, 0,          // header: QR AA, 1 q, 1 an
          1,    'a',  4,    't',  'e', 's', 't', 0, 0, 1, 0, 1,     // a.test. A IN
          0xC0, 12,   0,    1,    0,   1,   0,   0, 0, 60, 0, 4,    // ptr, A, IN, ttl 60, len 4
          192,  0,    2,    1};
}

void fill(QueryRecord& r, uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  inet_pton(AF_INET, "192.0.2.7", &sa.sin_addr);
  r.set_client(reinterpret_cast<sockaddr*>(&sa));
  r.time_sec = 1764144000;  // 2025-11-26T08:00:00Z
  r.time_nsec = 123456789;
  r.transport = 0;
  r.rcode = 0;
  r.truncated = false;
  r.set_branch("weighted blue");
  const uint8_t zone[] = {4, 't', 'e', 's', 't', 0};
  r.set_zone(zone, sizeof zone);
  auto resp = response_bytes();
  std::vector<uint8_t> q(resp.begin(), resp.begin() + 24);
  q[2] = 0x01;  // RD, no QR
  q[7] = 0;     // no answers
  r.set_messages(q.data(), q.size(), resp.data(), resp.size());
}

template <class F>
bool poll_until(F&& f, std::chrono::milliseconds limit = std::chrono::milliseconds(5000)) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (f()) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return f();
}

std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string l; std::getline(in, l);) {
    out.push_back(l);
  }
  return out;
}

TEST(QueryLogRing, FullRingDropsAndCountsNeverBlocks) {
  QueryLogRing ring(4, 1);
  EXPECT_EQ(ring.slots(), 4u);
  for (int i = 0; i < 4; ++i) {
    QueryRecord* r = ring.claim();
    ASSERT_NE(r, nullptr) << i;
    r->port = static_cast<uint16_t>(i);
    ring.commit();
  }
  EXPECT_EQ(ring.claim(), nullptr);
  EXPECT_EQ(ring.claim(), nullptr);
  EXPECT_EQ(ring.dropped(), 2u);
  // The consumer frees slots in order; the producer then gets room again.
  std::vector<uint16_t> seen;
  EXPECT_EQ(ring.drain(2, [&](const QueryRecord& r) { seen.push_back(r.port); }), 2u);
  EXPECT_EQ(seen, (std::vector<uint16_t>{0, 1}));
  QueryRecord* r = ring.claim();
  ASSERT_NE(r, nullptr);
  r->port = 9;
  ring.commit();
  seen.clear();
  EXPECT_EQ(ring.drain(100, [&](const QueryRecord& x) { seen.push_back(x.port); }), 3u);
  EXPECT_EQ(seen, (std::vector<uint16_t>{2, 3, 9}));
  EXPECT_EQ(ring.dropped(), 2u);
}

TEST(QueryLogRing, SizeRoundsUpToPowerOfTwo) { EXPECT_EQ(QueryLogRing(100, 1).slots(), 128u); }

TEST(QueryLogRing, SamplesEveryNthQuery) {
  QueryLogRing every(4, 1);
  QueryLogRing third(4, 3);
  std::vector<int> picked;
  for (int i = 1; i <= 10; ++i) {
    EXPECT_TRUE(every.sample());
    if (third.sample()) {
      picked.push_back(i);
    }
  }
  EXPECT_EQ(picked, (std::vector<int>{3, 6, 9}));
}

TEST(QueryLogJson, FormatsTheRecord) {
  QueryRecord r;
  fill(r, 5353);
  EXPECT_EQ(query_record_to_json(r),
            "{\"time\":\"2025-11-26T08:00:00.123456Z\",\"client\":\"192.0.2.7\",\"port\":5353,"
            "\"transport\":\"udp\",\"qname\":\"a.test.\",\"qtype\":\"A\",\"qclass\":\"IN\","
            "\"rcode\":\"NOERROR\",\"tc\":false,\"answers\":[\"a.test. 60 IN A 192.0.2.1\"],"
            "\"zone\":\"test.\",\"branch\":\"weighted blue\",\"query_size\":24,"
            "\"response_size\":40}");
  // Quotes and control characters in a branch name are escaped.
  r.set_branch("a\"b\\c\n");
  EXPECT_NE(query_record_to_json(r).find("\"branch\":\"a\\\"b\\\\c\\u000a\""), std::string::npos);
  // No steering: zone data is "static"; no zone at all (REFUSED): null.
  r.set_branch(nullptr);
  EXPECT_NE(query_record_to_json(r).find("\"branch\":\"static\""), std::string::npos);
  r.zone_len = 0;
  r.rcode = 5;
  std::string j = query_record_to_json(r);
  EXPECT_NE(j.find("\"zone\":null,\"branch\":null"), std::string::npos) << j;
  EXPECT_NE(j.find("\"rcode\":\"REFUSED\""), std::string::npos) << j;
}

TEST(QueryLogOptions, RejectsBadCombinations) {
  QueryLogOptions o;
  EXPECT_FALSE(check_query_log_options(o).ok());  // no path
  o.path = "unix:/tmp/x.sock";
  EXPECT_FALSE(check_query_log_options(o).ok());  // a socket with JSON
  o.format = QueryLogFormat::kDnstap;
  EXPECT_TRUE(check_query_log_options(o).ok());
  o.sample = 0;
  EXPECT_FALSE(check_query_log_options(o).ok());
  EXPECT_FALSE(parse_query_log_format("yaml").ok());
  EXPECT_EQ(*parse_query_log_format("dnstap"), QueryLogFormat::kDnstap);
  o = QueryLogOptions{};
  o.path = "/nonexistent-dir/q.json";
  auto log = QueryLog::open(o);
  ASSERT_FALSE(log.ok());
  EXPECT_NE(log.error().find("/nonexistent-dir/q.json"), std::string::npos) << log.error();
}

TEST(QueryLogWriter, WritesJsonLinesCountsAndReopens) {
  TempDir dir;
  QueryLogOptions o;
  o.path = dir.file("queries.json");
  o.ring_slots = 8;
  auto opened = QueryLog::open(o);
  ASSERT_TRUE(opened.ok()) << opened.error();
  std::unique_ptr<QueryLog> log = std::move(*opened);
  QueryLogRing* ring = log->add_ring();
  // Before the writer runs: 8 fit, the rest are dropped and counted.
  for (int i = 0; i < 10; ++i) {
    if (QueryRecord* r = ring->claim()) {
      fill(*r, static_cast<uint16_t>(1000 + i));
      ring->commit();
    }
  }
  log->start();
  ASSERT_TRUE(poll_until([&] { return log->stats().records == 8; }));
  auto lines = lines_of(o.path);
  ASSERT_EQ(lines.size(), 8u);
  EXPECT_NE(lines[0].find("\"port\":1000"), std::string::npos) << lines[0];
  EXPECT_NE(lines[7].find("\"port\":1007"), std::string::npos) << lines[7];
  QueryLog::Stats s = log->stats();
  EXPECT_EQ(s.dropped_full, 2u);
  EXPECT_EQ(s.dropped_output, 0u);
  EXPECT_GT(s.bytes, 8u * 100);

  // logrotate: rename, then reload asks for a reopen; new records go to a new file.
  std::filesystem::rename(o.path, o.path + ".1");
  log->reopen();
  ASSERT_TRUE(poll_until([&] { return std::filesystem::exists(o.path); }));
  QueryRecord* r = ring->claim();
  ASSERT_NE(r, nullptr);
  fill(*r, 2000);
  ring->commit();
  log->stop();
  EXPECT_EQ(lines_of(o.path + ".1").size(), 8u);
  auto fresh = lines_of(o.path);
  ASSERT_EQ(fresh.size(), 1u);
  EXPECT_NE(fresh[0].find("\"port\":2000"), std::string::npos);

  Families fams;
  log->collect(fams);
  std::map<std::string, double> values;
  for (const auto& f : fams) {
    for (const auto& m : f.metric) {
      std::string key = f.name;
      for (const auto& l : m.label) {
        key += "{" + l.name + "=" + l.value + "}";
      }
      values[key] = m.counter.value;
    }
  }
  EXPECT_EQ(values["steerdns_querylog_records_total{format=json}"], 9);
  EXPECT_EQ(values["steerdns_querylog_dropped_total{reason=ring_full}"], 2);
  EXPECT_EQ(values["steerdns_querylog_dropped_total{reason=output}"], 0);
  EXPECT_GT(values["steerdns_querylog_bytes_total{format=json}"], 900);
}

TEST(QueryLogWriter, NoCollectorOnTheSocketDropsAsOutput) {
  TempDir dir;
  QueryLogOptions o;
  o.format = QueryLogFormat::kDnstap;
  o.path = "unix:" + dir.file("absent.sock");
  auto opened = QueryLog::open(o);  // a socket may come later: opening does not fail
  ASSERT_TRUE(opened.ok()) << opened.error();
  std::unique_ptr<QueryLog> log = std::move(*opened);
  QueryLogRing* ring = log->add_ring();
  log->start();
  for (int i = 0; i < 3; ++i) {
    QueryRecord* r = ring->claim();
    ASSERT_NE(r, nullptr);
    fill(*r, 1);
    ring->commit();
  }
  ASSERT_TRUE(poll_until([&] { return log->stats().dropped_output == 3; }));
  EXPECT_EQ(log->stats().records, 0u);
}

}  // namespace
}  // namespace steerdns::obs
