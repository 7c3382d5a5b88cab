#include "dr/event_log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

namespace steerdns::dr {
namespace {

class EventLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("sd_event_log_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "events.jsonl").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static Event Ev(int i) {
    Event e;
    e.wall_ms = 1'700'000'000'000 + i;
    e.type = i % 2 == 0 ? "failover" : "failback";
    e.target = "app.example./A";
    e.cause = "cause \"" + std::to_string(i) + "\"\nwith a newline";
    e.actor = "steerdns";
    e.from_tier = 1;
    e.to_tier = 2;
    return e;
  }
  void append_raw(const std::string& s) {
    std::ofstream out(path_, std::ios::app | std::ios::binary);
    out << s;
  }

  std::filesystem::path dir_;
  std::string path_;
};

TEST_F(EventLogTest, AppendsAndReadsBackTheLastN) {
  auto log = EventLog::open(path_);
  ASSERT_TRUE(log.ok()) << log.error();
  ASSERT_TRUE((*log)->append({Ev(0), Ev(1), Ev(2)}).ok());
  ASSERT_TRUE((*log)->append(Ev(3)).ok());
  auto all = (*log)->read_last(0);
  ASSERT_TRUE(all.ok()) << all.error();
  ASSERT_EQ(all->events.size(), 4u);
  EXPECT_EQ(all->events[3].cause, Ev(3).cause);  // escapes survive; one line per event
  EXPECT_EQ(all->events[2].type, "failover");
  EXPECT_EQ(all->events[2].to_tier, 2);
  EXPECT_TRUE(all->warning.empty());
  auto last2 = read_event_log(path_, 2);
  ASSERT_TRUE(last2.ok());
  ASSERT_EQ(last2->events.size(), 2u);
  EXPECT_EQ(last2->events[0].wall_ms, Ev(2).wall_ms);
  EXPECT_EQ(last2->events[1].wall_ms, Ev(3).wall_ms);
}

TEST_F(EventLogTest, MissingFileIsEmpty) {
  auto r = read_event_log(path_, 10);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_TRUE(r->events.empty());
  EXPECT_FALSE(r->torn_tail);
}

TEST_F(EventLogTest, TornTailIsSkippedReportedAndCutOnReopen) {
  {
    auto log = EventLog::open(path_);
    ASSERT_TRUE(log.ok());
    ASSERT_TRUE((*log)->append({Ev(0), Ev(1)}).ok());
  }
  std::string torn = event_to_json_line(Ev(2)).substr(0, 25);
  append_raw(torn);
  auto r = read_event_log(path_, 0);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->events.size(), 2u);
  EXPECT_TRUE(r->torn_tail);
  EXPECT_EQ(r->corrupt_lines, 0u);
  EXPECT_NE(r->warning.find("torn last line"), std::string::npos) << r->warning;

  auto log = EventLog::open(path_);
  ASSERT_TRUE(log.ok());
  EXPECT_EQ((*log)->repaired_bytes(), torn.size());
  ASSERT_TRUE((*log)->append(Ev(3)).ok());
  auto r2 = (*log)->read_last(0);
  ASSERT_TRUE(r2.ok());
  EXPECT_FALSE(r2->torn_tail);
  ASSERT_EQ(r2->events.size(), 3u);
  EXPECT_EQ(r2->events[2].wall_ms, Ev(3).wall_ms);
}

TEST_F(EventLogTest, CompleteButUnterminatedLastLineCountsAsTorn) {
  append_raw(event_to_json_line(Ev(0)) + "\n" + event_to_json_line(Ev(1)));
  auto r = read_event_log(path_, 0);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->events.size(), 1u);
  EXPECT_TRUE(r->torn_tail);
}

TEST_F(EventLogTest, CorruptMiddleLinesAreSkippedAndCounted) {
  append_raw(event_to_json_line(Ev(0)) + "\n{garbage\n" + R"({"type": "x"})" + "\n" +
             event_to_json_line(Ev(1)) + "\n");
  auto r = read_event_log(path_, 0);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->events.size(), 2u);
  EXPECT_EQ(r->corrupt_lines, 2u);
  EXPECT_FALSE(r->torn_tail);
  EXPECT_NE(r->warning.find("first at line 2"), std::string::npos) << r->warning;
}

TEST_F(EventLogTest, OpenFailsWithAClearError) {
  auto log = EventLog::open((dir_ / "no" / "such" / "dir" / "e.jsonl").string());
  ASSERT_FALSE(log.ok());
  EXPECT_NE(log.error().find("cannot open"), std::string::npos) << log.error();
}

}  // namespace
}  // namespace steerdns::dr
