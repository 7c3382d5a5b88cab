// The engine with the real prober (libcurl) against a real HTTP server on loopback, on real
// time: transitions happen, reasons come from the probe, and a deciding result is published
// to the HealthView within milliseconds of the probe completing.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio.hpp>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <thread>

#include "health/engine.h"
#include "health/probe.h"
#include "testlib/eventually.h"

namespace steerdns::health {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// HTTP/1.1 server on 127.0.0.1:<random> answering every request with `code`; stop_listening()
// closes the listener so probes get "connection refused".
class TinyHttp {
 public:
  TinyHttp() : acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    port_ = acceptor_.local_endpoint().port();
    accept();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~TinyHttp() {
    io_.stop();
    thread_.join();
  }
  uint16_t port() const { return port_; }
  std::atomic<int> code{200};
  void stop_listening() {
    std::promise<void> done;
    asio::post(io_, [&] {
      acceptor_.close();
      done.set_value();
    });
    done.get_future().wait();
  }

 private:
  struct Conn {
    explicit Conn(tcp::socket s) : sock(std::move(s)) {}
    tcp::socket sock;
    asio::streambuf buf;
    std::string reply;
  };
  void accept() {
    acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket s) {
      if (ec) {
        return;
      }
      auto c = std::make_shared<Conn>(std::move(s));
      asio::async_read_until(
          c->sock, c->buf, "\r\n\r\n", [this, c](boost::system::error_code e, size_t) {
            if (e) {
              return;
            }
            int k = code.load();
            c->reply = "HTTP/1.1 " + std::to_string(k) + " X\r\nContent-Length: 2\r\n" +
                       "Connection: close\r\n\r\nok";
            asio::async_write(c->sock, asio::buffer(c->reply),
                              [c](boost::system::error_code, size_t) { c->sock.close(); });
          });
      accept();
    });
  }
  asio::io_context io_;
  tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::thread thread_;
};

// Records when each probe completes, just before the engine sees the result.
class TimingProber final : public Prober {
 public:
  explicit TimingProber(std::unique_ptr<Prober> inner) : inner_(std::move(inner)) {}
  void start(const CheckSpec& spec, std::function<void(ProbeResult)> done) override {
    inner_->start(spec, [this, done = std::move(done)](ProbeResult r) {
      last_done_ns.store(now_ns());
      done(std::move(r));
    });
  }
  size_t in_flight() const override { return inner_->in_flight(); }
  std::atomic<int64_t> last_done_ns{0};

 private:
  std::unique_ptr<Prober> inner_;
};

// 1 ms polls: the test measures how soon a transition is visible.
template <class Pred>
bool wait_for(Pred pred, int64_t ms) {
  return ::steerdns::testing::eventually(pred, ms, 1);
}

TEST(EngineReal, LoopbackHttpTransitionsAndPublishLatency) {
  TinyHttp server;
  asio::io_context io;
  auto work = asio::make_work_guard(io);
  TimingProber prober(make_prober(io));
  Engine engine(io, RealClock::instance(), prober);

  std::mutex mu;
  std::vector<Transition> transitions;
  std::vector<int64_t> publish_delay_ns;  // probe completion -> transition callback
  engine.on_transition([&](const Transition& t) {
    int64_t d = now_ns() - prober.last_done_ns.load();
    std::lock_guard lk(mu);
    transitions.push_back(t);
    publish_delay_ns.push_back(d);
  });

  CheckSpec s;
  s.id = "web";
  s.kind = Kind::kHttp;
  s.http.host = "127.0.0.1";
  s.http.port = server.port();
  s.http.path = "/healthz";
  s.interval_ms = 300;
  s.timeout_ms = 250;
  s.recheck_ms = 50;
  ASSERT_TRUE(engine.configure({s}).ok());
  engine.start();
  std::thread loop([&] { io.run(); });

  auto status = [&] {
    auto v = engine.view().load();
    return v->at(v->index_of("web")).status;
  };
  ASSERT_TRUE(wait_for([&] { return status() == Status::kHealthy; }, 5'000));

  // 503: down after 3 failing probes (first at the next slot, then two rechecks).
  int64_t t503 = now_ns();
  server.code = 503;
  // Watch the view itself from this thread: the time it shows the change after the probe.
  int64_t seen_ns = 0;
  ASSERT_TRUE(wait_for(
      [&] {
        if (status() != Status::kUnhealthy) return false;
        seen_ns = now_ns();
        return true;
      },
      5'000));
  double detect_ms = static_cast<double>(seen_ns - t503) / 1e6;
  double view_lag_ms = static_cast<double>(seen_ns - prober.last_done_ns.load()) / 1e6;
  {
    std::lock_guard lk(mu);
    ASSERT_EQ(transitions.size(), 2u);
    EXPECT_EQ(transitions[1].to, Status::kUnhealthy);
    EXPECT_EQ(transitions[1].reason.rfind("3 consecutive failures: status 503", 0), 0u)
        << transitions[1].reason;
  }
  EXPECT_LT(detect_ms, 300 + 2 * 50 + 400) << "interval + 2 rechecks + probe time";
  EXPECT_LT(view_lag_ms, 50.0) << "polling thread saw the change late";

  // Back to 200, then kill the listener: refused connections take it down again.
  server.code = 200;
  ASSERT_TRUE(wait_for([&] { return status() == Status::kHealthy; }, 5'000));
  server.stop_listening();
  ASSERT_TRUE(wait_for([&] { return status() == Status::kUnhealthy; }, 5'000));
  auto rep = engine.report();
  EXPECT_EQ(rep.checks[0].state.last_failure_reason, "connection refused");
  EXPECT_GE(rep.checks[0].recent.back().timings.total_ms, 0.0);
  EXPECT_EQ(rep.checks[0].transitions, 4u);

  engine.stop();
  work.reset();
  io.stop();
  loop.join();

  std::lock_guard lk(mu);
  ASSERT_EQ(publish_delay_ns.size(), 4u);
  for (size_t i = 0; i < publish_delay_ns.size(); ++i) {
    // The view is published inside the probe's completion, before the callbacks run.
    EXPECT_LT(static_cast<double>(publish_delay_ns[i]) / 1e6, 10.0) << "transition " << i;
  }
  std::printf("detect %.1f ms, view seen %.3f ms after probe, publish->callback %.3f ms\n",
              detect_ms, view_lag_ms, static_cast<double>(publish_delay_ns[1]) / 1e6);
}

}  // namespace
}  // namespace steerdns::health
