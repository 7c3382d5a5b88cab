// External checks: set by API or file, inverted, stale after stale_after.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "engine_sim.h"

namespace steerdns::health {
namespace {

using testing::Sim;

CheckSpec external(const std::string& id, Millis stale_after, Status stale_state) {
  CheckSpec s;
  s.id = id;
  s.kind = Kind::kExternal;
  s.initial = Status::kHealthy;
  s.external.stale_after_ms = stale_after;
  s.external.stale_state = stale_state;
  return s;
}

TEST(EngineExternal, SetAndGoStale) {
  Sim sim;
  ASSERT_TRUE(sim.engine.configure({external("repl", 30'000, Status::kUnhealthy)}).ok());
  EXPECT_EQ(sim.status("repl"), Status::kHealthy);
  EXPECT_EQ(sim.state("repl").source, Source::kInitial);
  sim.run_for(10'000);
  ASSERT_TRUE(sim.engine.set_external("repl", Status::kHealthy, "lag 2 s").ok());
  EXPECT_EQ(sim.state("repl").source, Source::kExternal);
  sim.run_for(29'999);
  EXPECT_EQ(sim.status("repl"), Status::kHealthy);
  sim.run_for(1);
  EXPECT_EQ(sim.status("repl"), Status::kUnhealthy);
  EXPECT_EQ(sim.state("repl").source, Source::kStale);
  EXPECT_EQ(sim.state("repl").last_failure_reason, "no update for 30000ms (stale_after 30000ms)");
  ASSERT_EQ(sim.transitions.size(), 1u);
  EXPECT_EQ(sim.transitions[0].source, Source::kStale);
  // Every update restarts the clock.
  ASSERT_TRUE(sim.engine.set_external("repl", Status::kHealthy, "lag 1 s").ok());
  EXPECT_EQ(sim.status("repl"), Status::kHealthy);
  for (int i = 0; i < 5; ++i) {
    sim.run_for(20'000);
    ASSERT_TRUE(sim.engine.set_external("repl", Status::kHealthy, "lag 1 s").ok());
  }
  EXPECT_EQ(sim.status("repl"), Status::kHealthy);
  EXPECT_EQ(sim.transitions.size(), 2u);
  ASSERT_TRUE(sim.engine.set_external("repl", Status::kUnhealthy, "lag 90 s").ok());
  EXPECT_EQ(sim.status("repl"), Status::kUnhealthy);
  EXPECT_EQ(sim.transitions.back().reason, "set externally: lag 90 s");
  EXPECT_EQ(sim.state("repl").last_failure_reason, "lag 90 s");
}

TEST(EngineExternal, NoStalenessWhenZeroAndStaleStateHealthy) {
  Sim sim;
  ASSERT_TRUE(sim.engine
                  .configure({external("forever", 0, Status::kUnhealthy),
                              external("lenient", 1'000, Status::kHealthy)})
                  .ok());
  ASSERT_TRUE(sim.engine.set_external("forever", Status::kUnhealthy, "down").ok());
  ASSERT_TRUE(sim.engine.set_external("lenient", Status::kUnhealthy, "down").ok());
  sim.run_for(3'600'000);
  EXPECT_EQ(sim.status("forever"), Status::kUnhealthy);
  EXPECT_EQ(sim.state("forever").source, Source::kExternal);
  EXPECT_EQ(sim.status("lenient"), Status::kHealthy);
  EXPECT_EQ(sim.state("lenient").source, Source::kStale);
}

TEST(EngineExternal, InvertedDisabledAndErrors) {
  Sim sim;
  CheckSpec inv = external("inv", 0, Status::kUnhealthy);
  inv.inverted = true;
  CheckSpec off = external("off", 0, Status::kUnhealthy);
  off.disabled = true;
  CheckSpec web;
  web.id = "web";
  web.http.host = "192.0.2.1";
  ASSERT_TRUE(sim.engine.configure({inv, off, web}).ok());
  ASSERT_TRUE(sim.engine.set_external("inv", Status::kHealthy, "").ok());
  EXPECT_EQ(sim.status("inv"), Status::kUnhealthy);
  ASSERT_TRUE(sim.engine.set_external("off", Status::kUnhealthy, "").ok());
  EXPECT_EQ(sim.status("off"), Status::kHealthy);
  auto st = sim.engine.set_external("nope", Status::kHealthy, "");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error(), "health check 'nope': no such check");
  st = sim.engine.set_external("web", Status::kHealthy, "");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error(), "health check 'web': is a http check; only external checks can be set");
}

TEST(EngineExternal, SetFromOtherThreads) {
  Sim sim;
  ASSERT_TRUE(sim.engine.configure({external("x", 0, Status::kUnhealthy)}).ok());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&sim, t] {
      for (int i = 0; i < 200; ++i) {
        (void)sim.engine.set_external("x", (i + t) % 2 ? Status::kHealthy : Status::kUnhealthy,
                                      "flip");
      }
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  ASSERT_TRUE(sim.engine.set_external("x", Status::kUnhealthy, "final").ok());
  EXPECT_EQ(sim.status("x"), Status::kUnhealthy);
  auto rep = sim.engine.report();
  EXPECT_EQ(rep.checks[0].probes_ok + rep.checks[0].probes_failed, 801u);
}

TEST(EngineExternal, FromFile) {
  auto dir = std::filesystem::temp_directory_path() / ("sd_ext_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto path = dir / "status";
  { std::ofstream(path) << "healthy replication ok\n"; }
  Sim sim;
  CheckSpec s = external("file", 10'000, Status::kUnhealthy);
  s.initial = Status::kUnknown;
  s.interval_ms = 1'000;
  s.external.file = path.string();
  ASSERT_TRUE(sim.engine.configure({s}).ok());
  sim.run_for(1);
  EXPECT_EQ(sim.status("file"), Status::kHealthy);
  EXPECT_EQ(sim.state("file").source, Source::kExternal);
  // A new content with a new modification time is an update, read at the next poll.
  { std::ofstream(path) << "unhealthy lag 120s\n"; }
  std::filesystem::last_write_time(
      path, std::filesystem::last_write_time(path) + std::chrono::seconds(5));
  sim.run_for(1'000);
  EXPECT_EQ(sim.status("file"), Status::kUnhealthy);
  EXPECT_EQ(sim.state("file").last_failure_reason,
            "file " + path.string() + ": unhealthy lag 120s");
  { std::ofstream(path) << "up\n"; }
  std::filesystem::last_write_time(
      path, std::filesystem::last_write_time(path) + std::chrono::seconds(10));
  sim.run_for(1'000);
  EXPECT_EQ(sim.status("file"), Status::kHealthy);
  // Nobody touches the file: it goes stale after stale_after.
  sim.run_for(10'000);
  EXPECT_EQ(sim.status("file"), Status::kUnhealthy);
  EXPECT_EQ(sim.state("file").source, Source::kStale);
  std::filesystem::remove_all(dir);
}

TEST(EngineExternal, UnknownResolvesToStaleStateAfterInitialWait) {
  Sim sim;
  CheckSpec s = external("push", 0, Status::kUnhealthy);
  s.initial = Status::kUnknown;
  s.initial_wait_ms = 5'000;
  ASSERT_TRUE(sim.engine.configure({s}).ok());
  sim.run_for(4'999);
  EXPECT_EQ(sim.status("push"), Status::kUnknown);
  sim.run_for(1);
  EXPECT_EQ(sim.status("push"), Status::kUnhealthy);
  EXPECT_EQ(sim.state("push").source, Source::kStale);
}

}  // namespace
}  // namespace steerdns::health
