// Action runner against a real loopback HTTP server and real commands: payload, method and
// headers, order, retries with backoff, timeouts (slow server, hung command), environment,
// output cap, set filters, stop() abandoning work, and the `actions:` YAML schema.
#include "dr/actions.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "config/dr_yaml.h"
#include "config/loader.h"
#include "testlib/http_stub.h"
#include "testlib/temp_dir.h"

namespace steerdns::dr {
namespace {

using Ms = std::chrono::milliseconds;

Millis now_ms() {
  return std::chrono::duration_cast<Ms>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Scripted replies (the last repeats), every request recorded.
using HttpServer = steerdns::testing::HttpStub;
using steerdns::testing::TempDir;

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

Event failover_event() {
  Event e;
  e.wall_ms = 1'764'090'000'123;
  e.type = "failover";
  e.target = "app.example.test./A";
  e.cause = "check primary-app unhealthy: HTTP 503";
  e.actor = "steerdns";
  e.from_tier = 1;
  e.to_tier = 2;
  return e;
}

ActionSpec webhook(const std::string& url) {
  ActionSpec a;
  a.kind = ActionKind::kWebhook;
  a.url = url;
  a.timeout_ms = 2000;
  a.backoff_ms = 50;
  return a;
}

ActionSpec exec(std::vector<std::string> argv) {
  ActionSpec a;
  a.kind = ActionKind::kExec;
  a.argv = std::move(argv);
  a.timeout_ms = 5000;
  a.backoff_ms = 50;
  return a;
}

// Collects audit events (from the actions thread).
struct Audit {
  mutable std::mutex mu;
  std::vector<Event> events;
  void attach(ActionRunner& r) {
    r.on_audit([this](const Event& e) {
      std::lock_guard lk(mu);
      events.push_back(e);
    });
  }
  std::vector<std::string> types() const {
    std::lock_guard lk(mu);
    std::vector<std::string> out;
    for (const auto& e : events) {
      out.push_back(e.type);
    }
    return out;
  }
  std::vector<Event> all() const {
    std::lock_guard lk(mu);
    return events;
  }
};

std::shared_ptr<ActionsSpec> spec_with(const std::string& type, std::vector<ActionSpec> list) {
  auto s = std::make_shared<ActionsSpec>();
  s->on[type] = std::move(list);
  return s;
}

TEST(Payload, CarriesEveryEventField) {
  auto j = nlohmann::json::parse(payload_json(failover_event()));
  EXPECT_EQ(j["event"], "failover");
  EXPECT_EQ(j["set"], "app.example.test./A");
  EXPECT_EQ(j["target"], "app.example.test./A");
  EXPECT_EQ(j["cause"], "check primary-app unhealthy: HTTP 503");
  EXPECT_EQ(j["actor"], "steerdns");
  EXPECT_EQ(j["from_tier"], 1);
  EXPECT_EQ(j["to_tier"], 2);
  EXPECT_EQ(j["wall_ms"], 1'764'090'000'123);
  EXPECT_EQ(j["time"], "2025-11-25T17:00:00.123Z");
}

TEST(Payload, EventSetOfMemberAndCheckTargets) {
  Event e;
  e.target = "app.example.test./A#primary";
  EXPECT_EQ(event_set(e), "app.example.test./A");
  e.target = "primary-app";  // a check override is about no set
  EXPECT_EQ(event_set(e), "");
}

TEST(SetsFilter, NamesAndKeys) {
  EXPECT_TRUE(sets_match({}, "app.example.test./A"));
  EXPECT_TRUE(sets_match({}, ""));
  EXPECT_TRUE(sets_match({"app.example.test"}, "app.example.test./A"));
  EXPECT_TRUE(sets_match({"App.Example.Test."}, "app.example.test./AAAA"));
  EXPECT_TRUE(sets_match({"app.example.test./a"}, "app.example.test./A"));
  EXPECT_FALSE(sets_match({"app.example.test./AAAA"}, "app.example.test./A"));
  EXPECT_FALSE(sets_match({"other.example.test"}, "app.example.test./A"));
  EXPECT_FALSE(sets_match({"app.example.test"}, ""));
}

TEST(Webhook, PostsTheEventAsJsonWithHeaders) {
  HttpServer srv;
  ActionSpec a = webhook(srv.url("/scale?replicas=6"));
  a.headers = {{"Authorization", "Bearer t0ken"}, {"X-Team", "dr"}};
  auto r = run_webhook(a, failover_event(), 1, {});
  EXPECT_TRUE(r.ok) << r.detail;
  EXPECT_NE(r.detail.find("HTTP 200"), std::string::npos) << r.detail;
  auto reqs = srv.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[0].path, "/scale?replicas=6");
  EXPECT_EQ(reqs[0].header("Content-Type"), "application/json");
  EXPECT_EQ(reqs[0].header("Authorization"), "Bearer t0ken");
  EXPECT_EQ(reqs[0].header("X-Team"), "dr");
  EXPECT_EQ(reqs[0].header("X-Steerdns-Event"), "failover");
  auto body = nlohmann::json::parse(reqs[0].body);
  EXPECT_EQ(body["event"], "failover");
  EXPECT_EQ(body["to_tier"], 2);
}

TEST(Webhook, MethodPutAndGet) {
  HttpServer srv;
  ActionSpec a = webhook(srv.url());
  a.method = "PUT";
  EXPECT_TRUE(run_webhook(a, failover_event(), 1, {}).ok);
  a.method = "GET";
  EXPECT_TRUE(run_webhook(a, failover_event(), 1, {}).ok);
  auto reqs = srv.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].method, "PUT");
  EXPECT_FALSE(reqs[0].body.empty());
  EXPECT_EQ(reqs[1].method, "GET");
  EXPECT_TRUE(reqs[1].body.empty());
}

TEST(Webhook, Non2xxFailsWithStatusAndBody) {
  HttpServer srv({HttpServer::Reply{.status = 503, .body = "reply 503"}});
  auto r = run_webhook(webhook(srv.url()), failover_event(), 1, {});
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.detail.find("HTTP 503"), std::string::npos) << r.detail;
  EXPECT_NE(r.detail.find("reply 503"), std::string::npos) << r.detail;
}

TEST(Webhook, SlowServerTimesOut) {
  HttpServer srv({HttpServer::Reply{.status = 200, .delay_ms = 3000}});
  ActionSpec a = webhook(srv.url());
  a.timeout_ms = 200;
  Millis t0 = now_ms();
  auto r = run_webhook(a, failover_event(), 1, {});
  Millis took = now_ms() - t0;
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.detail.find("timed out"), std::string::npos) << r.detail;
  EXPECT_LT(took, 1500);
}

TEST(Webhook, ConnectionRefusedFails) {
  uint16_t port = 0;
  {
    HttpServer srv;  // a port that was just free
    port = static_cast<uint16_t>(std::stoi(srv.url().substr(17)));
  }
  auto r = run_webhook(webhook("http://127.0.0.1:" + std::to_string(port) + "/"), failover_event(),
                       1, {});
  EXPECT_FALSE(r.ok);
  EXPECT_FALSE(r.detail.empty());
}

TEST(Exec, EnvironmentHasTheEventFields) {
  TempDir dir;
  std::string out = dir.file("env");
  auto r = run_exec(exec({"/bin/sh", "-c",
                          "printf '%s|%s|%s|%s|%s|%s|%s|%s' \"$STEERDNS_EVENT\" \"$STEERDNS_SET\" "
                          "\"$STEERDNS_FROM_TIER\" \"$STEERDNS_TO_TIER\" \"$STEERDNS_CAUSE\" "
                          "\"$STEERDNS_ACTOR\" \"$STEERDNS_ATTEMPT\" \"$STEERDNS_TIME\" > " +
                              out}),
                    failover_event(), 2, {});
  EXPECT_TRUE(r.ok) << r.detail;
  EXPECT_EQ(read_file(out),
            "failover|app.example.test./A|1|2|check primary-app unhealthy: HTTP 503|steerdns|2|"
            "2025-11-25T17:00:00.123Z");
}

TEST(Exec, PayloadInEnvironmentIsJson) {
  TempDir dir;
  std::string out = dir.file("payload");
  auto r = run_exec(exec({"/bin/sh", "-c", "printf '%s' \"$STEERDNS_PAYLOAD\" > " + out}),
                    failover_event(), 1, {});
  ASSERT_TRUE(r.ok) << r.detail;
  auto j = nlohmann::json::parse(read_file(out));
  EXPECT_EQ(j["event"], "failover");
}

TEST(Exec, NoShellArgumentsAreLiteral) {
  TempDir dir;
  std::string out = dir.file("args");
  // With a shell, '$HOME; x' would expand and split; without one it is one argument.
  auto r = run_exec(exec({"/bin/sh", "-c", "printf '%s' \"$1\" > " + out, "sh", "$HOME; x"}),
                    failover_event(), 1, {});
  ASSERT_TRUE(r.ok) << r.detail;
  EXPECT_EQ(read_file(out), "$HOME; x");
}

TEST(Exec, ExitStatusAndOutputInDetail) {
  auto r = run_exec(exec({"/bin/sh", "-c", "echo replica not ready >&2; exit 3"}), failover_event(),
                    1, {});
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.detail.find("exit 3"), std::string::npos) << r.detail;
  EXPECT_NE(r.detail.find("replica not ready"), std::string::npos) << r.detail;
}

TEST(Exec, OutputIsCapped) {
  ActionSpec a = exec({"/bin/sh", "-c", "head -c 200000 /dev/zero | tr '\\0' x; echo; exit 1"});
  a.max_output = 10;
  auto r = run_exec(a, failover_event(), 1, {});
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.detail.find(": xxxxxxxxxx"), std::string::npos) << r.detail;
  EXPECT_EQ(r.detail.find("xxxxxxxxxxx"), std::string::npos) << r.detail;
}

TEST(Exec, HungCommandIsKilledAtTheTimeout) {
  ActionSpec a = exec({"sleep", "30"});
  a.timeout_ms = 200;
  Millis t0 = now_ms();
  auto r = run_exec(a, failover_event(), 1, {});
  Millis took = now_ms() - t0;
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.detail.find("timed out"), std::string::npos) << r.detail;
  EXPECT_LT(took, 1500);
}

TEST(Exec, TimeoutKillsTheWholeProcessGroup) {
  TempDir dir;
  std::string marker = dir.file("late");
  // The grandchild would write the marker after 1 s if it survived the kill.
  ActionSpec a = exec({"/bin/sh", "-c", "(sleep 1; touch " + marker + ") & sleep 30"});
  a.timeout_ms = 200;
  auto r = run_exec(a, failover_event(), 1, {});
  EXPECT_FALSE(r.ok);
  std::this_thread::sleep_for(Ms(1500));
  EXPECT_FALSE(std::filesystem::exists(marker));
}

TEST(Exec, MissingProgramFails) {
  auto r = run_exec(exec({"/nonexistent/promote-replica"}), failover_event(), 1, {});
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.detail.find("promote-replica"), std::string::npos) << r.detail;
}

TEST(Runner, RunsActionsInOrder) {
  TempDir dir;
  std::string log = dir.file("order");
  HttpServer srv;
  FakeClock clock;
  ActionRunner runner(clock);
  Audit audit;
  audit.attach(runner);
  std::vector<ActionSpec> list;
  list.push_back(exec({"/bin/sh", "-c", "sleep 0.2; echo scale >> " + log}));
  list.push_back(webhook(srv.url("/warm")));
  // Runs after the webhook: it sees the request the server recorded... via the file order.
  list.push_back(exec({"/bin/sh", "-c", "echo promote >> " + log}));
  runner.configure(spec_with("failover", std::move(list)));
  runner.start();
  Millis t0 = now_ms();
  EXPECT_TRUE(runner.submit(failover_event()));
  EXPECT_LT(now_ms() - t0, 100);  // submit never waits for an action
  ASSERT_TRUE(runner.wait_idle(10'000));
  EXPECT_EQ(read_file(log), "scale\npromote\n");
  auto reqs = srv.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(audit.types(),
            (std::vector<std::string>{"action_succeeded", "action_succeeded", "action_succeeded"}));
  auto events = audit.all();
  EXPECT_NE(events[0].cause.find("action 1/3 exec"), std::string::npos) << events[0].cause;
  EXPECT_NE(events[1].cause.find("action 2/3 webhook POST"), std::string::npos);
  EXPECT_EQ(events[2].target, "app.example.test./A");
  EXPECT_EQ(events[2].wall_ms, clock.wall_ms());
}

TEST(Runner, EventsRunOneAfterAnother) {
  TempDir dir;
  std::string log = dir.file("events");
  FakeClock clock;
  ActionRunner runner(clock);
  auto spec = std::make_shared<ActionsSpec>();
  spec->on["failover"].push_back(exec({"/bin/sh", "-c",
                                       "sleep 0.2; echo \"$STEERDNS_EVENT start\" >> " + log +
                                           "; sleep 0.1; echo \"$STEERDNS_EVENT end\" >> " + log}));
  spec->on["failback"].push_back(exec({"/bin/sh", "-c", "echo \"$STEERDNS_EVENT\" >> " + log}));
  runner.configure(spec);
  runner.start();
  Event fb = failover_event();
  fb.type = "failback";
  EXPECT_TRUE(runner.submit(failover_event()));
  EXPECT_TRUE(runner.submit(fb));
  ASSERT_TRUE(runner.wait_idle(10'000));
  EXPECT_EQ(read_file(log), "failover start\nfailover end\nfailback\n");
}

TEST(Runner, RetriesWithBackoffThenSucceeds) {
  HttpServer srv({{.status = 500}, {.status = 502}, {.status = 200}});
  FakeClock clock;
  ActionRunner runner(clock);
  Audit audit;
  audit.attach(runner);
  ActionSpec a = webhook(srv.url());
  a.retries = 3;
  a.backoff_ms = 100;
  runner.configure(spec_with("failover", {a}));
  runner.start();
  ASSERT_TRUE(runner.submit(failover_event()));
  ASSERT_TRUE(runner.wait_idle(10'000));
  EXPECT_EQ(audit.types(), (std::vector<std::string>{"action_attempt_failed",
                                                     "action_attempt_failed", "action_succeeded"}));
  auto reqs = srv.requests();
  ASSERT_EQ(reqs.size(), 3u);
  // Backoff doubles: >= 100 ms before attempt 2, >= 200 ms before attempt 3.
  EXPECT_GE(reqs[1].at_ms - reqs[0].at_ms, 90);
  EXPECT_GE(reqs[2].at_ms - reqs[1].at_ms, 190);
  EXPECT_EQ(reqs[2].header("X-Steerdns-Attempt"), "3");
  auto events = audit.all();
  EXPECT_NE(events[0].cause.find("attempt 1/4: HTTP 500"), std::string::npos) << events[0].cause;
  EXPECT_NE(events[0].cause.find("retrying in 100 ms"), std::string::npos) << events[0].cause;
  EXPECT_NE(events[1].cause.find("retrying in 200 ms"), std::string::npos) << events[1].cause;
  EXPECT_NE(events[2].cause.find("attempt 3/4: HTTP 200"), std::string::npos) << events[2].cause;
}

TEST(Runner, GivesUpAfterRetriesAndContinuesWithTheNextAction) {
  TempDir dir;
  std::string log = dir.file("after");
  FakeClock clock;
  ActionRunner runner(clock);
  Audit audit;
  audit.attach(runner);
  ActionSpec bad = exec({"/bin/sh", "-c", "echo try >> " + log + "; exit 1"});
  bad.retries = 2;
  ActionSpec notify = exec({"/bin/sh", "-c", "echo notify >> " + log});
  runner.configure(spec_with("failover", {bad, notify}));
  runner.start();
  ASSERT_TRUE(runner.submit(failover_event()));
  ASSERT_TRUE(runner.wait_idle(10'000));
  EXPECT_EQ(read_file(log), "try\ntry\ntry\nnotify\n");
  EXPECT_EQ(audit.types(),
            (std::vector<std::string>{"action_attempt_failed", "action_attempt_failed",
                                      "action_failed", "action_succeeded"}));
}

TEST(Runner, StopOnFailureSkipsTheRest) {
  TempDir dir;
  std::string log = dir.file("skipped");
  FakeClock clock;
  ActionRunner runner(clock);
  Audit audit;
  audit.attach(runner);
  ActionSpec bad = exec({"/bin/false"});
  bad.stop_on_failure = true;
  ActionSpec promote = exec({"/bin/sh", "-c", "echo promote >> " + log});
  runner.configure(spec_with("failover", {bad, promote}));
  runner.start();
  ASSERT_TRUE(runner.submit(failover_event()));
  ASSERT_TRUE(runner.wait_idle(10'000));
  EXPECT_FALSE(std::filesystem::exists(log));
  EXPECT_EQ(audit.types(), (std::vector<std::string>{"action_failed", "action_skipped"}));
}

TEST(Runner, OnlyMatchingEventTypesAndSets) {
  HttpServer srv;
  FakeClock clock;
  ActionRunner runner(clock);
  auto spec = std::make_shared<ActionsSpec>();
  ActionSpec mine = webhook(srv.url("/mine"));
  mine.sets = {"app.example.test"};
  ActionSpec other = webhook(srv.url("/other"));
  other.sets = {"other.example.test./A"};
  spec->on["failover"] = {mine, other};
  runner.configure(spec);
  runner.start();
  Event fb = failover_event();
  fb.type = "failback";
  EXPECT_FALSE(runner.submit(fb));  // no on_failback actions
  EXPECT_TRUE(runner.submit(failover_event()));
  ASSERT_TRUE(runner.wait_idle(10'000));
  auto reqs = srv.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].path, "/mine");
}

TEST(Runner, QueuedEventsKeepTheListTheyWereQueuedWith) {
  HttpServer srv({HttpServer::Reply{.status = 200, .delay_ms = 300}});
  FakeClock clock;
  ActionRunner runner(clock);
  runner.configure(spec_with("failover", {webhook(srv.url("/old"))}));
  runner.start();
  ASSERT_TRUE(runner.submit(failover_event()));
  ASSERT_TRUE(runner.submit(failover_event()));
  runner.configure(spec_with("failover", {webhook(srv.url("/new"))}));  // a reload
  ASSERT_TRUE(runner.submit(failover_event()));
  ASSERT_TRUE(runner.wait_idle(10'000));
  auto reqs = srv.requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[0].path, "/old");
  EXPECT_EQ(reqs[1].path, "/old");
  EXPECT_EQ(reqs[2].path, "/new");
}

TEST(Runner, FullQueueDropsAndAudits) {
  FakeClock clock;
  ActionRunnerOptions opts;
  opts.max_queue = 1;
  ActionRunner runner(clock, opts);
  Audit audit;
  audit.attach(runner);
  ActionSpec slow = exec({"sleep", "0.3"});
  runner.configure(spec_with("failover", {slow}));
  // Not started: the first event waits in the queue, the second finds it full.
  EXPECT_TRUE(runner.submit(failover_event()));
  EXPECT_FALSE(runner.submit(failover_event()));
  auto events = audit.all();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, "action_dropped");
  EXPECT_NE(events[0].cause.find("already waiting"), std::string::npos) << events[0].cause;
  runner.start();
  ASSERT_TRUE(runner.wait_idle(10'000));
  EXPECT_EQ(audit.types(), (std::vector<std::string>{"action_dropped", "action_succeeded"}));
}

TEST(Runner, StopAbandonsAHungCommandAndDropsTheQueue) {
  FakeClock clock;
  ActionRunner runner(clock);
  Audit audit;
  audit.attach(runner);
  ActionSpec hung = exec({"sleep", "30"});
  hung.timeout_ms = 60'000;
  runner.configure(spec_with("failover", {hung}));
  runner.start();
  ASSERT_TRUE(runner.submit(failover_event()));
  ASSERT_TRUE(runner.submit(failover_event()));
  std::this_thread::sleep_for(Ms(200));  // let the first one start (stop must work anyway)
  Millis t0 = now_ms();
  runner.stop();
  EXPECT_LT(now_ms() - t0, 2000);
  EXPECT_EQ(audit.types(), (std::vector<std::string>{"action_failed", "action_dropped"}));
  EXPECT_FALSE(runner.submit(failover_event()));
}

TEST(Runner, StopDuringBackoffDoesNotWaitItOut) {
  FakeClock clock;
  ActionRunner runner(clock);
  Audit audit;
  audit.attach(runner);
  ActionSpec bad = exec({"/bin/false"});
  bad.retries = 5;
  bad.backoff_ms = 30'000;
  runner.configure(spec_with("failover", {bad}));
  runner.start();
  ASSERT_TRUE(runner.submit(failover_event()));
  for (int i = 0; i < 100 && audit.types().empty(); ++i) {
    std::this_thread::sleep_for(Ms(20));
  }
  Millis t0 = now_ms();
  runner.stop();
  EXPECT_LT(now_ms() - t0, 2000);
  EXPECT_EQ(audit.types(), (std::vector<std::string>{"action_attempt_failed", "action_failed"}));
}

// ---- YAML ----

Result<ActionsSpec> parse(const std::string& text) {
  return config::parse_actions(YAML::Load(text), "steerdns.yaml");
}

TEST(ActionsYaml, FlagshipRunbook) {
  auto s = parse(R"(
on_failover:
  - { webhook: "http://127.0.0.1:9000/scale?deployment=app&replicas=6", timeout: 30s, retries: 3 }
  - { webhook: "http://127.0.0.1:9443/admin/cache/warmup", timeout: 180s, method: put,
      headers: { Authorization: "Bearer x" } }
  - { exec: ["/usr/local/bin/promote-replica", "--cluster", "dr"], timeout: 2m, on_failure: stop,
      sets: [genai-demo.example.test] }
  - { webhook: "http://127.0.0.1:9100/hooks/notify", backoff: 500ms, max_output: 100 }
on_failback:
  - { webhook: "http://127.0.0.1:9000/scale?deployment=app-dr&replicas=2" }
on_all_down: []
)");
  ASSERT_TRUE(s) << s.error();
  ASSERT_EQ(s->on.at("failover").size(), 4u);
  const auto& f = s->on.at("failover");
  EXPECT_EQ(f[0].kind, ActionKind::kWebhook);
  EXPECT_EQ(f[0].timeout_ms, 30'000);
  EXPECT_EQ(f[0].retries, 3);
  EXPECT_EQ(f[0].method, "POST");
  EXPECT_EQ(f[1].method, "PUT");
  ASSERT_EQ(f[1].headers.size(), 1u);
  EXPECT_EQ(f[1].headers[0].second, "Bearer x");
  EXPECT_EQ(f[2].kind, ActionKind::kExec);
  EXPECT_EQ(f[2].argv.size(), 3u);
  EXPECT_EQ(f[2].timeout_ms, 120'000);
  EXPECT_TRUE(f[2].stop_on_failure);
  EXPECT_EQ(f[2].sets, std::vector<std::string>{"genai-demo.example.test"});
  EXPECT_EQ(f[3].backoff_ms, 500);
  EXPECT_EQ(f[3].max_output, 100u);
  EXPECT_EQ(f[0].where, "steerdns.yaml:3");
  EXPECT_EQ(s->on.at("failback").size(), 1u);
  EXPECT_TRUE(s->on.at("all_down").empty());
}

TEST(ActionsYaml, ErrorsSayWhereAndWhy) {
  struct Case {
    const char* yaml;
    const char* error;
  };
  const Case cases[] = {
      {"on_failovr: []",
       "steerdns.yaml:1: actions: unknown key 'on_failovr' (did you mean "
       "'on_failover'?)"},
      {"[]", "actions: must be a mapping"},
      {"on_failover: { webhook: x }", "actions: on_failover: must be a list of actions"},
      {"on_failover:\n  - {}",
       "steerdns.yaml:2: actions: on_failover[1]: needs 'webhook: URL' "
       "or 'exec"},
      {"on_failover:\n  - { webhook: 'http://a/', exec: [x] }", "not both"},
      {"on_failover:\n  - { webhook: 'ftp://a/' }", "on_failover[1]: webhook: scheme 'ftp'"},
      {"on_failover:\n  - { webhook: 'a.example/' }", "is not a URL"},
      {"on_failover:\n  - { exec: [] }", "on_failover[1]: exec: needs a program"},
      {"on_failover:\n  - { exec: /bin/promote }", "exec: must be a list"},
      {"on_failover:\n  - { exec: [x], method: POST }", "only webhooks have a method"},
      {"on_failover:\n  - { webhook: 'http://a/', method: FETCH }", "'FETCH' is not one of"},
      {"on_failover:\n  - { webhook: 'http://a/', timeout: 0s }", "timeout: 0s is out of range"},
      {"on_failover:\n  - { webhook: 'http://a/', timeout: 30 }", "timeout:"},
      {"on_failover:\n  - { webhook: 'http://a/', retries: -1 }", "retries: -1 is out of range"},
      {"on_failover:\n  - { webhook: 'http://a/', retrys: 1 }",
       "unknown key 'retrys' (did you mean 'retries'?)"},
      {"on_failover:\n  - { webhook: 'http://a/', on_failure: halt }",
       "'halt' is not continue or "
       "stop"},
      {"on_failover:\n  - { webhook: 'http://a/', headers: { 'a:b': c } }", "header names"},
      {"on_failover:\n  - { webhook: 'http://a/', sets: app.example.test }",
       "sets: must be a list"},
      {"on_failover: []\non_failover: []", "given twice"},
  };
  for (const auto& c : cases) {
    auto s = parse(c.yaml);
    ASSERT_FALSE(s) << c.yaml;
    EXPECT_NE(s.error().find(c.error), std::string::npos) << c.yaml << "\n  -> " << s.error();
  }
}

TEST(ActionsYaml, NullSectionIsNoActions) {
  auto s = parse("~");
  ASSERT_TRUE(s) << s.error();
  EXPECT_TRUE(s->empty());
}

TEST(ActionsYaml, LoaderAcceptsTheSection) {
  TempDir dir;
  std::string path = dir.file("steerdns.yaml");
  std::ofstream(path) << "actions:\n  on_failover:\n    - { exec: [/bin/true] }\n";
  auto loaded = config::load_config_file(path);
  ASSERT_TRUE(loaded) << loaded.error();
  ASSERT_EQ(loaded->actions.on.at("failover").size(), 1u);
  EXPECT_EQ(loaded->actions.on.at("failover")[0].argv[0], "/bin/true");

  std::ofstream(path) << "actions:\n  on_failover:\n    - { exec: [] }\n";
  auto bad = config::load_config_file(path);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().find(path + ":3: actions: on_failover[1]: exec"), std::string::npos)
      << bad.error();
}

}  // namespace
}  // namespace steerdns::dr
