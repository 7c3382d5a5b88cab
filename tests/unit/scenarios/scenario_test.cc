// Table-driven steering scenarios (tests/scenarios/*.yaml): a config, a health timeline on
// simulated time, operator actions, and the answers and states expected at each step. The
// whole control path runs as in the daemon (config loader -> policy::compile -> dr::Orchestrator
// -> compile -> answer_query), minus probes and sockets: health comes from the timeline.
//
// File format (see tests/scenarios/README.md):
//   description: text
//   config: { ...a steerdns config: health_checks, zones, latency_map, ... }
//           ("@MMDB@" in it is replaced by a test GeoIP database built for the run)
//   timeline:
//     - at: 10s                      # simulated time since start; timers due before it fire first
//       health: { check-id: healthy|unhealthy|unknown, ... }
//       override: { scope: check|member|set, target: ID, action: up|down|drain, reason: R,
//                   author: A, expires: 5m, drain: 1m }
//       clear_override: { scope: ..., target: ID }
//       approve: SETKEY
//       expect:
//         - { query: "name. A", client: "203.0.113.7/24" | source: "198.51.100.1",
//             answer: [values...], ttl: 30, rcode: NOERROR, scope: 24 }
//         - { query: "name. A", distribution: { value: share, ... }, queries: 2000 }
//         - { set: SETKEY, phase: failed_over, tier: 2, frozen: false, awaiting_approval: true }
//         - { events: [failover, ...] }   # emitted since the previous step
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config/loader.h"
#include "core/clock.h"
#include "dns/rrtype.h"
#include "dr/orchestrator.h"
#include "health/view.h"
#include "policy/table.h"
#include "server/query.h"
#include "testlib/dns_wire.h"

namespace steerdns {
namespace {

namespace fs = std::filesystem;
using testutil::build_query;
using testutil::parse_response;
using testutil::Q;
using testutil::Resp;

Millis dur(const YAML::Node& n) {
  auto v = config::parse_duration_ms(n.as<std::string>());
  EXPECT_TRUE(v.ok()) << n.as<std::string>();
  return v.ok() ? *v : 0;
}

health::Status status_of(const std::string& s) {
  if (s == "healthy") {
    return health::Status::kHealthy;
  }
  if (s == "unhealthy") {
    return health::Status::kUnhealthy;
  }
  EXPECT_EQ(s, "unknown");
  return health::Status::kUnknown;
}

dr::OverrideScope scope_of(const std::string& s) {
  if (s == "member") {
    return dr::OverrideScope::kMember;
  }
  if (s == "set") {
    return dr::OverrideScope::kRecordSet;
  }
  EXPECT_EQ(s, "check");
  return dr::OverrideScope::kCheck;
}

// An ECS option for "addr/prefix".
std::vector<uint8_t> ecs_option(const std::string& subnet) {
  auto slash = subnet.find('/');
  std::string a = subnet.substr(0, slash);
  int prefix = std::stoi(subnet.substr(slash + 1));
  uint8_t buf[16] = {};
  uint16_t family = 1;
  if (inet_pton(AF_INET, a.c_str(), buf) != 1) {
    EXPECT_EQ(inet_pton(AF_INET6, a.c_str(), buf), 1) << subnet;
    family = 2;
  }
  size_t alen = (static_cast<size_t>(prefix) + 7) / 8;
  std::vector<uint8_t> o = {0, 8, static_cast<uint8_t>((4 + alen) >> 8),
                            static_cast<uint8_t>(4 + alen), 0, static_cast<uint8_t>(family),
                            static_cast<uint8_t>(prefix), 0};
  o.insert(o.end(), buf, buf + alen);
  return o;
}

class Scenario {
 public:
  explicit Scenario(const fs::path& file) : file_(file) {}

  void run() {
    YAML::Node doc = YAML::LoadFile(file_.string());
    load_config(doc["config"]);
    if (::testing::Test::HasFatalFailure()) {
      return;
    }
    orch_.on_event([this](const dr::Event& e) { events_.push_back(e.type); });
    orch_.configure(spec_);
    for (const auto& id : check_ids_) {
      health_[id] = health::Status::kUnknown;
    }
    recompute();
    Millis start = clock_.now_ms();
    size_t stepno = 0;
    for (const auto& step : doc["timeline"]) {
      ++stepno;
      Millis at = start + (step["at"] ? dur(step["at"]) : 0);
      SCOPED_TRACE(file_.filename().string() + " step " + std::to_string(stepno) + " (at " +
                   (step["at"] ? step["at"].as<std::string>() : "0s") + ")");
      advance_to(at);
      if (auto h = step["health"]) {
        for (const auto& kv : h) {
          auto id = kv.first.as<std::string>();
          ASSERT_TRUE(health_.count(id)) << "unknown check " << id;
          health_[id] = status_of(kv.second.as<std::string>());
        }
      }
      if (auto o = step["override"]) {
        dr::Override ov;
        ov.scope = scope_of(o["scope"].as<std::string>("check"));
        ov.target = o["target"].as<std::string>();
        auto a = o["action"].as<std::string>();
        ov.action = a == "up"     ? dr::OverrideAction::kForceUp
                    : a == "down" ? dr::OverrideAction::kForceDown
                                  : dr::OverrideAction::kDrain;
        ov.reason = o["reason"].as<std::string>("scenario");
        ov.author = o["author"].as<std::string>("tester");
        ov.created_wall_ms = clock_.wall_ms();
        ov.expires_wall_ms = clock_.wall_ms() + (o["expires"] ? dur(o["expires"]) : 600'000);
        ov.drain_ms = o["drain"] ? dur(o["drain"]) : 0;
        auto st = orch_.set_override(ov);
        ASSERT_TRUE(st.ok()) << st.error();
      }
      if (auto o = step["clear_override"]) {
        auto st = orch_.clear_override(scope_of(o["scope"].as<std::string>("check")),
                                       o["target"].as<std::string>(), "tester");
        ASSERT_TRUE(st.ok()) << st.error();
      }
      if (auto a = step["approve"]) {
        auto st = orch_.approve_failback(a.as<std::string>(), "tester");
        ASSERT_TRUE(st.ok()) << st.error();
      }
      recompute();
      for (const auto& e : step["expect"]) {
        check(e);
      }
      events_.clear();
    }
  }

 private:
  void load_config(const YAML::Node& cfg) {
    ASSERT_TRUE(cfg.IsMap()) << file_ << ": 'config' must be a mapping";
    fs::path dir = fs::temp_directory_path() / ("steerdns-scenario-" + std::to_string(getpid()));
    fs::create_directories(dir);
    fs::path path = dir / (file_.stem().string() + ".yaml");
    {
      YAML::Emitter out;
      out << cfg;
      std::string text = out.c_str();
      // "@MMDB@" stands for a small GeoIP database built for the run (tests/testlib/make_mmdb.pl).
      if (auto at = text.find("@MMDB@"); at != std::string::npos) {
        std::string db = (dir / "geo.mmdb").string();
        std::string cmd = "perl " STEERDNS_SOURCE_DIR "/tests/testlib/make_mmdb.pl " + db;
        ASSERT_EQ(std::system(cmd.c_str()), 0) << "make_mmdb.pl failed (libmaxmind-db-writer-perl)";
        text.replace(at, 6, db);
      }
      std::ofstream f(path);
      f << text << "\n";
    }
    // Relative paths in the scenario (geoip databases) are relative to tests/scenarios.
    auto loaded = config::load_config_file(path.string());
    ASSERT_TRUE(loaded.ok()) << loaded.error();
    runtime_ = loaded->runtime;
    spec_ = runtime_->steering_spec;
    ASSERT_TRUE(spec_ != nullptr) << "config has no steered record sets";
    for (const auto& c : loaded->health_checks) {
      check_ids_.push_back(c.id);
    }
  }

  // Fires every timer due up to `t`, in time order, as the daemon's timer would.
  void advance_to(Millis t) {
    for (int guard = 0; guard < 100000; ++guard) {
      Millis due = orch_.next_due_ms();
      if (due < 0 || due > t) {
        break;
      }
      clock_.set(std::max(due, clock_.now_ms()));
      recompute();
      if (orch_.next_due_ms() == due) {  // nothing moved: avoid spinning on the same instant
        clock_.advance(1);
      }
    }
    clock_.set(std::max(t, clock_.now_ms()));
  }

  void recompute() {
    health::HealthView view;
    for (const auto& id : check_ids_) {
      health::CheckState s;
      s.status = health_[id];
      s.source = health::Source::kProbe;
      view.add(id, s);
    }
    policy::Overrides ov = orch_.overrides();
    auto health_only = policy::compile({spec_.get(), &view, nullptr, &ov});
    ASSERT_TRUE(health_only.ok()) << health_only.error();
    orch_.update(**health_only);
    auto st = orch_.state();
    ov = orch_.overrides();
    auto table = policy::compile({spec_.get(), &view, &st, &ov});
    ASSERT_TRUE(table.ok()) << table.error();
    auto next = std::make_shared<config::RuntimeConfig>(*runtime_);
    next->steering = *table;
    serving_ = next;
  }

  Resp ask(const YAML::Node& e) {
    auto qs = e["query"].as<std::string>();
    auto sp = qs.find(' ');
    Q q;
    q.name = qs.substr(0, sp);
    auto t = dns::type_from_text(qs.substr(sp + 1));
    EXPECT_TRUE(t.has_value()) << qs;
    q.type = t ? *t : dns::rrtype::A;
    if (auto c = e["client"]) {
      q.edns = true;
      q.opt.options = ecs_option(c.as<std::string>());
    }
    sockaddr_storage ss{};
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    sin->sin_family = AF_INET;
    inet_pton(AF_INET, e["source"].as<std::string>("192.0.2.1").c_str(), &sin->sin_addr);
    server::ClientInfo ci;
    ci.addr = reinterpret_cast<const sockaddr*>(&ss);
    auto wire = build_query(q);
    uint8_t out[4096];
    size_t n = server::answer_query(*serving_, wire.data(), wire.size(), out, sizeof out, ci);
    return parse_response(out, n);
  }

  void check(const YAML::Node& e) {
    if (e["events"]) {
      for (const auto& want : e["events"]) {
        auto w = want.as<std::string>();
        EXPECT_NE(std::find(events_.begin(), events_.end(), w), events_.end())
            << "expected event " << w << "; got " << join(events_);
      }
      return;
    }
    if (e["set"]) {
      auto key = e["set"].as<std::string>();
      bool found = false;
      for (const auto& s : orch_.status()) {
        if (s.key != key) {
          continue;
        }
        found = true;
        if (e["phase"]) {
          EXPECT_EQ(dr::phase_name(s.phase), e["phase"].as<std::string>()) << key;
        }
        if (e["tier"]) {
          EXPECT_EQ(s.active_tier, e["tier"].as<int>()) << key;
        }
        if (e["frozen"]) {
          EXPECT_EQ(s.frozen, e["frozen"].as<bool>()) << key;
        }
        if (e["awaiting_approval"]) {
          EXPECT_EQ(s.awaiting_approval, e["awaiting_approval"].as<bool>()) << key;
        }
      }
      EXPECT_TRUE(found) << "no steered set " << key;
      return;
    }
    if (e["distribution"]) {
      int n = e["queries"].as<int>(2000);
      std::map<std::string, int> seen;
      for (int i = 0; i < n; ++i) {
        Resp r = ask(e);
        for (const auto& rr : r.an) {
          ++seen[rr.rdata];
        }
      }
      double tol = e["tolerance"].as<double>(0.05);
      for (const auto& kv : e["distribution"]) {
        double want = kv.second.as<double>();
        double got = static_cast<double>(seen[kv.first.as<std::string>()]) / n;
        EXPECT_NEAR(got, want, tol) << kv.first.as<std::string>();
      }
      return;
    }
    Resp r = ask(e);
    ASSERT_TRUE(r.ok) << e["query"].as<std::string>() << ": unparsable response";
    if (e["rcode"]) {
      auto want = e["rcode"].as<std::string>();
      EXPECT_EQ(r.rcode, want == "NOERROR"    ? 0
                         : want == "SERVFAIL" ? 2
                         : want == "NXDOMAIN" ? 3
                                              : 99)
          << e["query"].as<std::string>();
    }
    if (e["answer"]) {
      std::vector<std::string> want;
      for (const auto& v : e["answer"]) {
        want.push_back(v.as<std::string>());
      }
      std::vector<std::string> got;
      for (const auto& rr : r.an) {
        got.push_back(rr.rdata);
      }
      std::sort(want.begin(), want.end());
      std::sort(got.begin(), got.end());
      EXPECT_EQ(got, want) << e["query"].as<std::string>();
    }
    if (e["ttl"]) {
      ASSERT_FALSE(r.an.empty()) << e["query"].as<std::string>();
      EXPECT_EQ(r.an.back().ttl, e["ttl"].as<uint32_t>()) << e["query"].as<std::string>();
    }
    if (e["scope"]) {
      // OPT rdata: code(2) len(2) family(2) source(1) scope(1) ...
      ASSERT_GE(r.opt_rdata.size(), 8u) << "no ECS option in the reply";
      EXPECT_EQ(r.opt_rdata[7], e["scope"].as<int>()) << e["query"].as<std::string>();
    }
  }

  static std::string join(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) {
      s += (s.empty() ? "" : ", ") + x;
    }
    return s.empty() ? "(none)" : s;
  }

  fs::path file_;
  FakeClock clock_;
  dr::Orchestrator orch_{clock_};
  std::shared_ptr<const config::RuntimeConfig> runtime_;
  std::shared_ptr<const config::RuntimeConfig> serving_;
  std::shared_ptr<const policy::SteeringSpec> spec_;
  std::vector<std::string> check_ids_;
  std::map<std::string, health::Status> health_;
  std::vector<std::string> events_;
};

std::vector<fs::path> scenario_files() {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(fs::path(STEERDNS_SOURCE_DIR) / "tests/scenarios")) {
    if (e.path().extension() == ".yaml") {
      files.push_back(e.path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

class ScenarioTest : public ::testing::TestWithParam<fs::path> {};

TEST_P(ScenarioTest, Runs) { Scenario(GetParam()).run(); }

INSTANTIATE_TEST_SUITE_P(Files, ScenarioTest, ::testing::ValuesIn(scenario_files()),
                         [](const ::testing::TestParamInfo<fs::path>& i) {
                           std::string n = i.param.stem().string();
                           std::replace_if(
                               n.begin(), n.end(), [](char c) { return !std::isalnum(c); }, '_');
                           return n;
                         });

}  // namespace
}  // namespace steerdns
