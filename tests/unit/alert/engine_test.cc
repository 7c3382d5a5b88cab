#include "alert/engine.h"

#include <gtest/gtest.h>

#include "alert/dispatcher.h"
#include "store/sqlite_store.h"
#include "testlib/eventually.h"
#include "testlib/temp_dir.h"

namespace steerdns::alert {
namespace {

using nlohmann::json;

AlertsSpec flagship_like() {
  AlertsSpec s;
  s.routes.push_back({{"check_unhealthy"}, Severity::kWarning, {}, ""});
  s.routes.push_back({{"failover", "all_down"}, Severity::kCritical, {}, ""});
  s.routes.push_back({{"action_failed"}, Severity::kEmergency, {}, ""});
  s.routes.push_back({{"failback_rolled_back"}, Severity::kInfo, {}, ""});
  s.routes.push_back({{"failback"}, Severity::kInfo, {}, ""});
  s.severities[0].channels = {"slack-info"};
  s.severities[1].channels = {"slack"};
  s.severities[1].repeat_ms = 60'000;
  s.severities[2].channels = {"pd"};
  s.severities[2].repeat_ms = 30'000;
  s.severities[2].escalate_after_ms = 120'000;
  s.severities[3].channels = {"pd-high", "mail"};
  for (std::string_view c : {"slack-info", "slack", "pd", "pd-high", "mail"}) {
    ChannelSpec ch;
    ch.name.assign(c);
    ch.url.assign("http://127.0.0.1:9/");
    ch.kind = c.substr(0, 2) == "pd" ? ChannelKind::kPagerDuty : ChannelKind::kWebhook;
    ch.routing_key = "k";
    s.channels[ch.name] = ch;
  }
  return s;
}

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto st = store::SqliteStore::open(dir_.path() + "/s.db");
    ASSERT_TRUE(st.ok()) << st.error();
    store_ = std::move(*st);
    engine_ = std::make_unique<Engine>(*store_);
    ASSERT_TRUE(engine_->load().ok());
    engine_->configure(flagship_like());
  }
  std::vector<store::OutboxRow> outbox() {
    auto r = store_->outbox(1000, "");
    EXPECT_TRUE(r.ok());
    std::reverse(r->begin(), r->end());  // oldest first
    return *r;
  }
  json live() { return (*engine_->list(false))["alerts"]; }

  testing::TempDir dir_;
  std::unique_ptr<store::SqliteStore> store_;
  std::unique_ptr<Engine> engine_;
};

const Condition kFailover{"failover", "app.example.test./A", "answering tier 2", json::object()};
const Condition kCheckDown{"check_unhealthy", "primary-app", "HTTP 503", json::object()};

TEST_F(EngineTest, OpensOnceWhileTheConditionHoldsAndResolvesWhenItEnds) {
  ASSERT_TRUE(engine_->step({kFailover, kCheckDown}, {}, 1'000, 0).ok());
  ASSERT_TRUE(engine_->step({kFailover, kCheckDown}, {}, 2'000, 0).ok());
  auto rows = outbox();
  ASSERT_EQ(rows.size(), 2u);  // one trigger each, not one per step
  EXPECT_EQ(rows[0].channel, "pd");
  EXPECT_EQ(rows[0].payload["kind"], "trigger");
  EXPECT_EQ(rows[1].channel, "slack");
  ASSERT_EQ(live().size(), 2u);
  std::string id = rows[0].alert_id;

  ASSERT_TRUE(engine_->step({kCheckDown}, {}, 3'000, 0).ok());
  rows = outbox();
  ASSERT_EQ(rows.size(), 4u);
  // The failover's end: a resolve to the channel that was paged, and the routed `failback`
  // notice to its own severity's channel.
  EXPECT_EQ(rows[2].alert_id, id);
  EXPECT_EQ(rows[2].payload["kind"], "resolve");
  EXPECT_EQ(rows[2].channel, "pd");
  EXPECT_EQ(rows[3].payload["kind"], "notice");
  EXPECT_EQ(rows[3].channel, "slack-info");
  EXPECT_EQ(rows[3].payload["alert"]["event"], "failback");
  EXPECT_EQ(rows[3].payload["alert"]["severity"], "info");
  ASSERT_EQ(live().size(), 1u);
  EXPECT_EQ(live()[0]["event"], "check_unhealthy");
}

TEST_F(EngineTest, UnroutedConditionsMakeNoAlert) {
  ASSERT_TRUE(engine_->step({{"flap_frozen", "x./A", "", json::object()}}, {}, 1'000, 0).ok());
  EXPECT_TRUE(live().empty());
  EXPECT_TRUE(outbox().empty());
}

TEST_F(EngineTest, RepeatsThenEscalatesUntilAcknowledged) {
  ASSERT_TRUE(engine_->step({kFailover}, {}, 0, 0).ok());
  ASSERT_TRUE(engine_->step({kFailover}, {}, 29'000, 0).ok());
  EXPECT_EQ(outbox().size(), 1u);
  ASSERT_TRUE(engine_->step({kFailover}, {}, 30'000, 0).ok());
  ASSERT_EQ(outbox().size(), 2u);
  EXPECT_EQ(outbox()[1].payload["kind"], "repeat");
  // Unacknowledged past escalate_after: emergency, whose channels are paged.
  ASSERT_TRUE(engine_->step({kFailover}, {}, 120'000, 0).ok());
  auto rows = outbox();
  std::vector<std::string> esc;
  for (const auto& r : rows) {
    if (r.payload["kind"] == "escalate") {
      esc.push_back(r.channel);
    }
  }
  EXPECT_EQ(esc, (std::vector<std::string>{"pd-high", "mail"}));
  EXPECT_EQ(live()[0]["severity"], "emergency");

  auto a = engine_->ack(live()[0]["id"], "oncall", "on it", 121'000);
  ASSERT_TRUE(a.ok()) << a.error();
  EXPECT_EQ((*a)["state"], "acknowledged");
  size_t before = outbox().size();
  // PagerDuty channels that were paged are told of the acknowledgement.
  std::vector<std::string> acked;
  for (const auto& r : outbox()) {
    if (r.payload["kind"] == "ack") {
      acked.push_back(r.channel);
    }
  }
  EXPECT_EQ(acked, (std::vector<std::string>{"pd", "pd-high"}));
  ASSERT_TRUE(engine_->step({kFailover}, {}, 900'000, 0).ok());
  EXPECT_EQ(outbox().size(), before);  // no repeats once acknowledged
  EXPECT_FALSE(engine_->ack("nosuch", "x", "y", 1).ok());
  // Resolving an acknowledged alert still tells the channels.
  ASSERT_TRUE(engine_->step({}, {}, 901'000, 0).ok());
  EXPECT_EQ(outbox().back().payload["kind"], "notice");
  EXPECT_TRUE(live().empty());
}

TEST_F(EngineTest, AStoreRestartKeepsOpenAlertsAndSendsNothingTwice) {
  ASSERT_TRUE(engine_->step({kFailover}, {}, 1'000, 7).ok());
  engine_.reset();
  Engine again(*store_);
  ASSERT_TRUE(again.load().ok());
  again.configure(flagship_like());
  EXPECT_EQ(again.cursor(), 7);
  ASSERT_TRUE(again.step({kFailover}, {}, 2'000, 7).ok());
  EXPECT_EQ(outbox().size(), 1u);
  // A condition that ended while the daemon was down resolves at the first step.
  ASSERT_TRUE(again.step({}, {}, 3'000, 7).ok());
  EXPECT_EQ(outbox()[1].payload["kind"], "resolve");
}

TEST_F(EngineTest, NoticesAtCriticalStayOpenLowerOnesResolveAtOnce) {
  Notice failed{"action_failed", "app.example.test./A", "webhook scale: HTTP 500", 5, {}};
  Notice rolled{"failback_rolled_back", "app.example.test./A", "", 5, {}};
  ASSERT_TRUE(engine_->step({}, {failed, rolled}, 1'000, 42).ok());
  ASSERT_EQ(live().size(), 1u);
  EXPECT_EQ(live()[0]["event"], "action_failed");
  EXPECT_EQ(engine_->cursor(), 42);
  auto all = (*engine_->list(true))["alerts"];
  EXPECT_EQ(all.size(), 2u);
  // One-shot alerts do not resolve by themselves; an ack closes their repeats.
  ASSERT_TRUE(engine_->step({}, {}, 2'000, 42).ok());
  EXPECT_EQ(live().size(), 1u);
}

TEST_F(EngineTest, RouteTargetsFilterByCheckOrName) {
  auto spec = flagship_like();
  spec.routes.insert(spec.routes.begin(),
                     RouteSpec{{"failover"}, Severity::kEmergency, {"app.example.test"}, ""});
  engine_->configure(spec);
  ASSERT_TRUE(engine_->step({kFailover, {"failover", "other.example.test./A", "", {}}}, {}, 1, 0).ok());
  std::map<std::string, std::string> sev;
  for (const auto& a : live()) {
    sev[a["target"]] = a["severity"];
  }
  EXPECT_EQ(sev["app.example.test./A"], "emergency");
  EXPECT_EQ(sev["other.example.test./A"], "critical");
}

TEST_F(EngineTest, DispatcherRetriesWithBackoffAndKeepsHistory) {
  ASSERT_TRUE(engine_->step({kCheckDown}, {}, 1'000, 0).ok());
  FakeClock clock(0, 1'000);  // wall time 1'000 + now
  Dispatcher d(*store_, clock);
  auto idle = [&] { return steerdns::testing::eventually([&] { return d.idle(); }); };
  auto spec = flagship_like();
  spec.channels["slack"].kind = ChannelKind::kSlack;
  spec.channels["slack"].timeout_ms = 500;
  spec.retry_min_ms = 1'000;
  spec.max_attempts = 3;
  d.configure(spec);
  // Port 9 (discard) on loopback refuses: a failure to retry.
  ASSERT_EQ(*d.run_once(1'000), 1u);
  ASSERT_TRUE(idle());
  auto r = outbox()[0];
  EXPECT_EQ(r.status, "pending");
  EXPECT_EQ(r.attempts, 1);
  EXPECT_EQ(r.next_attempt_ms, 2'000);
  ASSERT_EQ(r.history.size(), 1u);
  EXPECT_FALSE(r.history[0]["ok"].get<bool>());
  EXPECT_EQ(*d.run_once(1'500), 0u);  // not due yet
  clock.set(1'000);
  ASSERT_EQ(*d.run_once(2'000), 1u);
  ASSERT_TRUE(idle());
  EXPECT_EQ(outbox()[0].next_attempt_ms, 2'000 + 2'000);  // doubled
  clock.set(3'000);
  ASSERT_EQ(*d.run_once(4'000), 1u);
  ASSERT_TRUE(idle());
  EXPECT_EQ(outbox()[0].status, "dead");  // max_attempts
  EXPECT_EQ(store_->outbox_stats()->dead, 1);
  EXPECT_EQ(d.stats()["slack"].dead, 1);
}

TEST_F(EngineTest, ARowForARemovedChannelIsDeadNotLost) {
  ASSERT_TRUE(engine_->step({kCheckDown}, {}, 1'000, 0).ok());
  Dispatcher d(*store_, RealClock::instance());
  d.configure(AlertsSpec{});
  ASSERT_EQ(*d.run_once(1'000), 1u);
  auto r = outbox()[0];
  EXPECT_EQ(r.status, "dead");
  EXPECT_NE(r.history[0]["detail"].get<std::string>().find("no longer configured"),
            std::string::npos);
}

TEST(Render, ChannelShapes) {
  json payload{{"kind", "trigger"},
               {"dedup_key", "A1/trigger/0/x"},
               {"time_ms", 1'700'000'000'000},
               {"alert",
                {{"id", "A1"}, {"event", "failover"}, {"target", "app./A"}, {"severity", "emergency"},
                 {"summary", "tier 2"}, {"state", "open"}}}};
  ChannelSpec pd;
  pd.kind = ChannelKind::kPagerDuty;
  pd.url = "http://127.0.0.1/v2/enqueue";
  pd.routing_key = "RK";
  auto r = render(pd, payload);
  ASSERT_TRUE(r.ok());
  json b = json::parse(r->body);
  EXPECT_EQ(b["routing_key"], "RK");
  EXPECT_EQ(b["event_action"], "trigger");
  EXPECT_EQ(b["dedup_key"], "A1");
  EXPECT_EQ(b["payload"]["severity"], "critical");
  EXPECT_EQ(b["payload"]["component"], "app./A");
  payload["kind"] = "resolve";
  b = json::parse(render(pd, payload)->body);
  EXPECT_EQ(b["event_action"], "resolve");
  EXPECT_FALSE(b.contains("payload"));
  pd.routing_key.clear();
  pd.routing_key_env = "STEERDNS_TEST_UNSET_PD_KEY";
  EXPECT_FALSE(render(pd, payload).ok());

  ChannelSpec slack;
  slack.kind = ChannelKind::kSlack;
  slack.url = "http://127.0.0.1/hook";
  payload["kind"] = "trigger";
  b = json::parse(render(slack, payload)->body);
  EXPECT_EQ(b["text"], "[EMERGENCY] failover app./A: tier 2");

  ChannelSpec mail;
  mail.kind = ChannelKind::kSmtp;
  mail.url = "smtp://127.0.0.1:2525";
  mail.to = {"oncall@example.test"};
  auto m = render(mail, payload);
  ASSERT_TRUE(m.ok());
  EXPECT_NE(m->body.find("Subject: [EMERGENCY] failover app./A: tier 2\r\n"), std::string::npos);
  EXPECT_NE(m->body.find("Message-ID: <A1/trigger/0/x@steerdns>"), std::string::npos);
  EXPECT_EQ(m->rcpt, std::vector<std::string>{"oncall@example.test"});

  ChannelSpec hook;
  hook.url = "http://127.0.0.1/x";
  hook.headers = {{"X-Team", "sre"}};
  auto w = render(hook, payload);
  EXPECT_EQ(json::parse(w->body)["dedup_key"], "A1/trigger/0/x");
  EXPECT_NE(std::find(w->headers.begin(), w->headers.end(), "X-Team: sre"), w->headers.end());
}

}  // namespace
}  // namespace steerdns::alert
