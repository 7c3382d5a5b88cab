// The outbox's delivery against real loopback HTTP receivers: a channel whose receiver takes
// the connection and never answers delays only itself; an alert's rows on a channel keep their
// order across a retry while another alert's row goes ahead; stop() aborts a hanging send.
#include "alert/dispatcher.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "store/sqlite_store.h"
#include "testlib/eventually.h"
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

// An HTTP receiver on 127.0.0.1. kHang: takes every connection and never answers (until
// destroyed). kAnswer: answers each request with the next status of `statuses` (the last one
// repeats) and records the bodies in arrival order.
class Receiver {
 public:
  enum Mode { kHang, kAnswer };
  explicit Receiver(Mode mode, std::vector<int> statuses = {200})
      : mode_(mode), statuses_(std::move(statuses)) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    socklen_t len = sizeof sa;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &len);
    port_ = ntohs(sa.sin_port);
    listen(fd_, 16);
    thread_ = std::thread([this] { serve(); });
  }
  ~Receiver() {
    stop_ = true;
    thread_.join();
    for (int c : held_) {
      close(c);
    }
    close(fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/hook"; }
  int connections() const { return connections_.load(); }
  std::vector<json> bodies() const {
    std::lock_guard lk(mu_);
    return bodies_;
  }

 private:
  void serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 20) <= 0) {
        continue;
      }
      int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) {
        continue;
      }
      connections_++;
      if (mode_ == kHang) {
        held_.push_back(c);
        continue;
      }
      handle(c);
      close(c);
    }
  }
  // One request per connection (the dispatcher opens one per send).
  void handle(int c) {
    std::string in;
    size_t head = std::string::npos;
    size_t length = 0;
    int64_t deadline = steady_ms() + 5'000;
    while (steady_ms() < deadline) {
      pollfd p{c, POLLIN, 0};
      if (poll(&p, 1, 20) <= 0) {
        continue;
      }
      char buf[4096];
      ssize_t n = read(c, buf, sizeof buf);
      if (n <= 0) {
        return;
      }
      in.append(buf, static_cast<size_t>(n));
      if (head == std::string::npos && (head = in.find("\r\n\r\n")) != std::string::npos) {
        std::string lower = in.substr(0, head);
        for (auto& ch : lower) {
          ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        }
        auto cl = lower.find("content-length:");
        length = cl == std::string::npos ? 0 : std::strtoul(lower.c_str() + cl + 15, nullptr, 10);
      }
      if (head != std::string::npos && in.size() >= head + 4 + length) {
        break;
      }
    }
    if (head == std::string::npos) {
      return;
    }
    int status;
    {
      std::lock_guard lk(mu_);
      bodies_.push_back(json::parse(in.substr(head + 4, length), nullptr, false));
      status = statuses_[std::min(answered_++, statuses_.size() - 1)];
    }
    std::string out = "HTTP/1.1 " + std::to_string(status) +
                      " X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    (void)write(c, out.data(), out.size());
  }

  Mode mode_;
  std::vector<int> statuses_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::vector<int> held_;  // serve thread only
  mutable std::mutex mu_;
  size_t answered_ = 0;
  std::vector<json> bodies_;
  std::thread thread_;
};

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
  Receiver hang(Receiver::kHang);
  Receiver pd(Receiver::kAnswer);
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
  EXPECT_EQ(pd.bodies().size(), 1u);
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
  Receiver pd(Receiver::kAnswer, {500, 200});
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
  for (const auto& b : pd.bodies()) {
    seen.push_back(b["alert"]["id"].get<std::string>() + " " + b["kind"].get<std::string>());
  }
  EXPECT_EQ(seen,
            (std::vector<std::string>{"A1 trigger", "B2 trigger", "A1 trigger", "A1 resolve"}));
  EXPECT_EQ(rows("pd")[0].attempts, 2);
  EXPECT_EQ(rows("pd")[1].attempts, 1);  // never sent before its trigger was delivered
}

TEST_F(DispatcherTest, StopAbortsAHangingSend) {
  Receiver hang(Receiver::kHang);
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
  Receiver hang(Receiver::kHang);
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
