// The outbox's delivery against real loopback HTTP receivers: a channel whose receiver takes
// the connection and never answers delays only itself; an alert's rows on a channel keep their
// order across a retry while another alert's row goes ahead; stop() aborts a hanging send.
#include "alert/dispatcher.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "store/sqlite_store.h"
#include "testlib/eventually.h"
#include "testlib/http_stub.h"
#include "testlib/temp_dir.h"

namespace steerdns::alert {
namespace {

using nlohmann::json;
using steerdns::testing::eventually;

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

using steerdns::testing::HttpStub;

// The JSON bodies a receiver was sent, in arrival order.
std::vector<json> bodies(const HttpStub& r) {
  std::vector<json> out;
  for (const auto& q : r.requests()) {
    out.push_back(json::parse(q.body, nullptr, false));
  }
  return out;
}

class DispatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto st = store::SqliteStore::open(dir_.path() + "/s.db");
    ASSERT_TRUE(st.ok()) << st.error();
    store_ = std::move(*st);
    spec_.retry_min_ms = 200;
    spec_.retry_max_ms = 200;
  }
  void channel(const std::string& name, const std::string& url, Millis timeout_ms = 3'000) {
    ChannelSpec ch;
    ch.name = name;
    ch.kind = ChannelKind::kWebhook;
    ch.url = url;
    ch.timeout_ms = timeout_ms;
    spec_.channels[name] = ch;
  }
  // Rows are written in call order (their ids increase).
  void enqueue(const std::string& alert, const std::string& kind, const std::string& channel) {
    store::OutboxRow o;
    o.alert_id = alert;
    o.channel = channel;
    o.dedup_key = alert + "/" + kind + "/" + std::to_string(++seq_) + "/" + channel;
    int64_t now = RealClock::instance().wall_ms();
    o.payload = {
        {"kind", kind},
        {"dedup_key", o.dedup_key},
        {"time_ms", now},
        {"alert",
         {{"id", alert}, {"event", "failover"}, {"target", "app./A"}, {"severity", "critical"}}}};
    o.created_ms = now;
    o.next_attempt_ms = now;
    store::AlertCommit c;
    c.enqueue.push_back(o);
    ASSERT_TRUE(store_->commit_alerts(c).ok());
  }
  std::vector<store::OutboxRow> rows(const std::string& channel) {
    auto r = store_->outbox(1000, "");
    EXPECT_TRUE(r.ok());
    std::vector<store::OutboxRow> out;
    for (auto it = r->rbegin(); it != r->rend(); ++it) {  // oldest first
      if (it->channel == channel) {
        out.push_back(*it);
      }
    }
    return out;
  }

  steerdns::testing::TempDir dir_;
  std::unique_ptr<store::SqliteStore> store_;
  AlertsSpec spec_;
  int seq_ = 0;
};

// A dead email relay must not hold back the page: before, one thread sent the rows one after
// another, and the page waited for the relay's 3 s timeout.
TEST_F(DispatcherTest, AHangingChannelDelaysOnlyItself) {
  HttpStub hang({HttpStub::Reply{.hang = true}});
  HttpStub pd;
  channel("mail", hang.url(), 3'000);
  channel("pd", pd.url(), 3'000);
  enqueue("A1", "trigger", "mail");  // the older row
  enqueue("A1", "trigger", "pd");
  Dispatcher d(*store_, RealClock::instance());
  d.configure(spec_);
  int64_t t0 = steady_ms();
  ASSERT_EQ(*d.run_once(RealClock::instance().wall_ms()), 2u);
  // Well inside mail's timeout: pd's row is delivered and recorded.
  ASSERT_TRUE(eventually([&] { return !rows("pd").empty() && rows("pd")[0].status == "delivered"; },
                         1'500));
  EXPECT_LT(steady_ms() - t0, 1'500);
  EXPECT_EQ(bodies(pd).size(), 1u);
  EXPECT_EQ(hang.connections(), 1);  // mail's send was in flight all along
  EXPECT_EQ(rows("mail")[0].attempts, 0);
  EXPECT_FALSE(d.idle());
  // Its timeout ends mail's attempt: a failure to retry.
  ASSERT_TRUE(eventually([&] { return d.idle(); }, 6'000));
  EXPECT_EQ(rows("mail")[0].attempts, 1);
  EXPECT_EQ(rows("mail")[0].status, "pending");
  EXPECT_GE(steady_ms() - t0, 2'900);
  EXPECT_EQ(d.stats()["pd"].delivered, 1);
  EXPECT_EQ(d.stats()["mail"].failed, 1);
}

// PagerDuty must see an alert's trigger before its resolve, also when the trigger needs a
// retry; another alert's page does not wait for that retry.
TEST_F(DispatcherTest, AnAlertsRowsKeepTheirOrderAcrossARetry) {
  HttpStub pd({{.status = 500}, {.status = 200}});
  channel("pd", pd.url());
  enqueue("A1", "trigger", "pd");
  enqueue("A1", "resolve", "pd");
  enqueue("B2", "trigger", "pd");
  Dispatcher d(*store_, RealClock::instance());
  d.configure(spec_);
  auto all_delivered = [&] {
    for (const auto& r : rows("pd")) {
      if (r.status != "delivered") {
        return false;
      }
    }
    return true;
  };
  ASSERT_TRUE(eventually(
      [&] {
        EXPECT_TRUE(d.run_once(RealClock::instance().wall_ms()).ok());
        return d.idle() && all_delivered();
      },
      5'000, 20));
  std::vector<std::string> seen;
  for (const auto& b : bodies(pd)) {
    seen.push_back(b["alert"]["id"].get<std::string>() + " " + b["kind"].get<std::string>());
  }
  EXPECT_EQ(seen,
            (std::vector<std::string>{"A1 trigger", "B2 trigger", "A1 trigger", "A1 resolve"}));
  EXPECT_EQ(rows("pd")[0].attempts, 2);
  EXPECT_EQ(rows("pd")[1].attempts, 1);  // never sent before its trigger was delivered
}

TEST_F(DispatcherTest, StopAbortsAHangingSend) {
  HttpStub hang({HttpStub::Reply{.hang = true}});
  channel("mail", hang.url(), 10'000);
  enqueue("A1", "trigger", "mail");
  Dispatcher d(*store_, RealClock::instance());
  d.configure(spec_);
  ASSERT_EQ(*d.run_once(RealClock::instance().wall_ms()), 1u);
  ASSERT_TRUE(eventually([&] { return hang.connections() == 1; }, 2'000));
  int64_t t0 = steady_ms();
  d.stop();
  EXPECT_LT(steady_ms() - t0, 500);
  // Not an attempt: the row is as a crash would leave it, sent again later.
  auto r = rows("mail")[0];
  EXPECT_EQ(r.status, "pending");
  EXPECT_EQ(r.attempts, 0);
}

// A channel removed by a reload: its hanging send ends at once, its rows become dead.
TEST_F(DispatcherTest, ARemovedChannelsSendEndsAndItsRowsAreDead) {
  HttpStub hang({HttpStub::Reply{.hang = true}});
  channel("mail", hang.url(), 10'000);
  enqueue("A1", "trigger", "mail");
  Dispatcher d(*store_, RealClock::instance());
  d.configure(spec_);
  ASSERT_EQ(*d.run_once(RealClock::instance().wall_ms()), 1u);
  ASSERT_TRUE(eventually([&] { return hang.connections() == 1; }, 2'000));
  spec_.channels.clear();
  d.configure(spec_);
  ASSERT_TRUE(eventually(
      [&] {
        EXPECT_TRUE(d.run_once(RealClock::instance().wall_ms()).ok());
        return rows("mail")[0].status == "dead";
      },
      2'000, 20));
  EXPECT_EQ(rows("mail")[0].attempts, 1);
}

}  // namespace
}  // namespace steerdns::alert
