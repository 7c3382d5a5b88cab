// Persisted state: atomic round trip, restart from a young state, ignore an old or foreign one.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "engine_sim.h"
#include "health/state_file.h"

namespace steerdns::health {
namespace {

using testing::http_check;
using testing::Sim;

struct TempDir {
  TempDir() {
    path = std::filesystem::temp_directory_path() /
           ("sd_health_state_" + std::to_string(::getpid()) + "_" + std::to_string(++n));
    std::filesystem::create_directories(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
  std::filesystem::path path;
  static inline int n = 0;
};

TEST(StateFile, RoundTripAtomicAndErrors) {
  TempDir dir;
  StateFile f(dir.file("health.json"));
  auto empty = f.load();
  ASSERT_TRUE(empty.ok()) << empty.error();
  EXPECT_TRUE(empty->empty()) << "a missing file is an empty state";

  std::map<std::string, PersistedCheck> m;
  PersistedCheck p;
  p.identity = "[\"http\",\"k\"]";
  p.status = Status::kUnhealthy;
  p.consecutive_fail = 4;
  p.last_failure_reason = "status 503 not in 200-399 \xff";  // invalid UTF-8 survives
  p.since_wall_ms = 1'700'000'000'123;
  p.updated_wall_ms = 1'700'000'009'000;
  p.cert_days_left = 12;
  p.transitions = 7;
  m["web"] = p;
  m["db"].status = Status::kHealthy;
  m["db"].consecutive_ok = 9;
  ASSERT_TRUE(f.save(m, 1'700'000'010'000).ok());
  EXPECT_FALSE(std::filesystem::exists(dir.file("health.json.tmp")));
  auto back = f.load();
  ASSERT_TRUE(back.ok()) << back.error();
  ASSERT_EQ(back->size(), 2u);
  const PersistedCheck& w = back->at("web");
  EXPECT_EQ(w.identity, p.identity);
  EXPECT_EQ(w.status, Status::kUnhealthy);
  EXPECT_EQ(w.consecutive_fail, 4);
  EXPECT_EQ(w.last_failure_reason.rfind("status 503 not in 200-399 ", 0), 0u);
  EXPECT_EQ(w.since_wall_ms, p.since_wall_ms);
  EXPECT_EQ(w.updated_wall_ms, p.updated_wall_ms);
  EXPECT_EQ(w.cert_days_left, 12);
  EXPECT_EQ(w.transitions, 7u);
  EXPECT_EQ(back->at("db").consecutive_ok, 9);

  { std::ofstream(dir.file("bad.json")) << "{ not json"; }
  auto bad = StateFile(dir.file("bad.json")).load();
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error(), dir.file("bad.json") + ": health state is not valid JSON");
  { std::ofstream(dir.file("v2.json")) << R"({"version": 2, "checks": {}})"; }
  EXPECT_FALSE(StateFile(dir.file("v2.json")).load().ok());
  auto unwritable = StateFile(dir.file("no/such/dir/x.json")).save(m, 0);
  ASSERT_FALSE(unwritable.ok());
  EXPECT_NE(unwritable.error().find("cannot write health state"), std::string::npos);
}

// Runs an engine that sees `a` fail and `b` pass, and writes the state file.
Millis run_first_life(const std::string& path) {
  EngineOptions o;
  o.state_file = path;
  Sim sim(o);
  sim.prober.respond = [](const CheckSpec& s) {
    ProbeResult r;
    r.ok = s.http.host != "10.0.0.1";
    r.reason = r.ok ? "ok" : "status 503";
    return r;
  };
  EXPECT_TRUE(
      sim.engine.configure({http_check("a", "10.0.0.1"), http_check("b", "10.0.0.2")}).ok());
  sim.run_for(5'000);
  EXPECT_EQ(sim.status("a"), Status::kUnhealthy);
  // Saved at most once a second while state changes (every probe changes counters).
  EXPECT_TRUE(std::filesystem::exists(path));
  sim.engine.stop();  // final write
  return sim.clock.wall_ms();
}

TEST(EnginePersist, RestartFromYoungState) {
  TempDir dir;
  std::string path = dir.file("health.json");
  Millis died = run_first_life(path);
  auto saved = StateFile(path).load();
  ASSERT_TRUE(saved.ok());
  EXPECT_EQ(saved->at("a").status, Status::kUnhealthy);
  EXPECT_EQ(saved->at("a").last_failure_reason, "status 503");

  EngineOptions o;
  o.state_file = path;
  Sim sim(o);
  sim.clock.advance(died - sim.clock.wall_ms() + 60'000);  // restarted a minute later
  CheckSpec a = http_check("a", "10.0.0.1");
  a.initial = Status::kHealthy;  // must not win over a young persisted state
  ASSERT_TRUE(
      sim.engine.configure({a, http_check("b", "10.0.0.2"), http_check("new", "10.0.0.3")}).ok());
  EXPECT_EQ(sim.status("a"), Status::kUnhealthy);
  EXPECT_EQ(sim.state("a").source, Source::kPersisted);
  EXPECT_EQ(sim.state("a").last_failure_reason, "status 503");
  EXPECT_EQ(sim.state("a").since_wall_ms, saved->at("a").since_wall_ms);
  EXPECT_EQ(sim.status("b"), Status::kHealthy);
  EXPECT_EQ(sim.state("b").source, Source::kPersisted);
  EXPECT_EQ(sim.status("new"), Status::kUnknown);
  EXPECT_EQ(sim.state("new").source, Source::kInitial);
  // Now the backend is fine: two successes bring a back, and the source becomes "probe".
  sim.run_for(1'000);
  EXPECT_EQ(sim.state("b").source, Source::kProbe);
  sim.run_for(2'000);
  EXPECT_EQ(sim.status("a"), Status::kHealthy);
  EXPECT_EQ(sim.state("a").source, Source::kProbe);
  ASSERT_EQ(sim.transitions_of("a").size(), 1u);
  EXPECT_EQ(sim.transitions_of("a")[0].from, Status::kUnhealthy);
}

TEST(EnginePersist, OldOrForeignStateIsIgnored) {
  TempDir dir;
  std::string path = dir.file("health.json");
  Millis died = run_first_life(path);

  EngineOptions o;
  o.state_file = path;
  Sim sim(o);
  sim.prober.latency_ms = 100;
  sim.clock.advance(died - sim.clock.wall_ms() + 11 * 60'000);  // older than 10 min
  CheckSpec a = http_check("a", "10.0.0.1");
  a.initial = Status::kHealthy;
  CheckSpec b = http_check("b", "10.0.0.99");  // same id, another target
  ASSERT_TRUE(sim.engine.configure({a, b}).ok());
  EXPECT_EQ(sim.status("a"), Status::kHealthy);
  EXPECT_EQ(sim.state("a").source, Source::kInitial);
  EXPECT_EQ(sim.status("b"), Status::kUnknown);
  EXPECT_EQ(sim.state("b").source, Source::kInitial);

  // A longer max age accepts the same file.
  Sim again(o);
  again.clock.advance(died - again.clock.wall_ms() + 11 * 60'000);
  a.max_state_age_ms = 3'600'000;
  ASSERT_TRUE(again.engine.configure({a}).ok());
  EXPECT_EQ(again.status("a"), Status::kUnhealthy);
  EXPECT_EQ(again.state("a").source, Source::kPersisted);
}

TEST(EnginePersist, WritesAtMostOncePerSaveInterval) {
  TempDir dir;
  std::string path = dir.file("health.json");
  EngineOptions o;
  o.state_file = path;
  Sim sim(o);
  std::vector<CheckSpec> specs;
  for (int i = 0; i < 20; ++i) {
    CheckSpec s = http_check(testing::cat("c", i), testing::cat("10.0.1.", i + 1));
    s.interval_ms = 100;
    s.timeout_ms = 50;
    s.recheck_ms = 50;
    specs.push_back(s);
  }
  ASSERT_TRUE(sim.engine.configure(specs).ok());
  // 20 checks probed 10 times a second change the state 200 times a second; the file is
  // replaced (a new inode each time) at most once per second.
  int writes = 0;
  ino_t last = 0;
  for (int step = 0; step < 100; ++step) {
    sim.run_for(100);
    struct stat sb;
    if (::stat(path.c_str(), &sb) == 0 && sb.st_ino != last) {
      ++writes;
      last = sb.st_ino;
    }
  }
  EXPECT_GE(writes, 5);
  EXPECT_LE(writes, 11);
}

TEST(EnginePersist, CorruptFileStartsFromInitialAndIsReplaced) {
  TempDir dir;
  std::string path = dir.file("health.json");
  { std::ofstream(path) << "garbage"; }
  EngineOptions o;
  o.state_file = path;
  Sim sim(o);
  EXPECT_NE(sim.engine.report().state_warning.find("not valid JSON"), std::string::npos);
  ASSERT_TRUE(sim.engine.configure({http_check("a")}).ok());
  sim.run_for(3'000);
  auto back = StateFile(path).load();
  ASSERT_TRUE(back.ok()) << back.error();
  EXPECT_EQ(back->at("a").status, Status::kHealthy);
}

}  // namespace
}  // namespace steerdns::health
