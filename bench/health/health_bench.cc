// health_bench: sustained HTTP checks per second against many loopback endpoints.
//
// The process forks a responder (this binary with --serve): one epoll thread with A x P
// listeners on 127.0.0.1..127.0.0.A that answer every request with a tiny 200 and close. The
// parent runs the real prober (make_prober, libcurl multi on one io_context thread) with E
// endpoints, each probed every `interval`, schedules spread evenly over the interval, and
// reports completed checks/s, prober CPU per check, lateness of each probe's start against its
// schedule (p50/p99/max), probe durations and failures.
//
//   health_bench [--endpoints 10000] [--interval-ms 1000] [--seconds 20] [--warmup 3]
//                [--addrs 10] [--ports 100] [--timeout-ms 2000] [--max-in-flight 1000]
//                [--raw 1]  (plain Asio GET instead of the real prober: the TCP floor)
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "health/probe.h"

namespace {

using Clock = std::chrono::steady_clock;
using steerdns::health::CheckSpec;
using steerdns::health::Kind;
using steerdns::health::ProbeResult;

struct Options {
  int endpoints = 10000;
  int interval_ms = 1000;
  int seconds = 20;
  int warmup = 3;
  int addrs = 10;
  int ports = 100;
  int timeout_ms = 2000;
  int max_in_flight = 1000;  // the engine's global cap, so overload shows as lateness
  int raw = 0;               // 1: the plain-Asio floor instead of the real prober
};

void raise_fd_limit() {
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
}

// --- responder --------------------------------------------------------------------------

[[noreturn]] void serve(const Options& o, int report_fd) {
  raise_fd_limit();
  int ep = epoll_create1(EPOLL_CLOEXEC);
  std::vector<int> listeners;
  std::string report;
  for (int a = 1; a <= o.addrs; ++a) {
    for (int p = 0; p < o.ports; ++p) {
      int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      sockaddr_in sa{};
      sa.sin_family = AF_INET;
      sa.sin_addr.s_addr = htonl(0x7f000000u | static_cast<uint32_t>(a));
      sa.sin_port = 0;
      if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || listen(fd, 4096) != 0) {
        perror("responder bind/listen");
        _exit(1);
      }
      socklen_t len = sizeof sa;
      getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
      report += "127.0.0." + std::to_string(a) + " " + std::to_string(ntohs(sa.sin_port)) + "\n";
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = (uint64_t{1} << 32) | static_cast<uint32_t>(fd);
      epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
      listeners.push_back(fd);
    }
  }
  report += "end\n";
  if (write(report_fd, report.data(), report.size()) != static_cast<ssize_t>(report.size())) {
    _exit(1);
  }
  close(report_fd);
  static const char kResponse[] =
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 8\r\n"
      "Connection: close\r\n\r\nhealthy\n";
  epoll_event evs[256];
  char buf[4096];
  for (;;) {
    int n = epoll_wait(ep, evs, 256, -1);
    for (int i = 0; i < n; ++i) {
      int fd = static_cast<int>(evs[i].data.u64 & 0xffffffffu);
      if ((evs[i].data.u64 >> 32) == 1) {
        for (;;) {
          int c = accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (c < 0) {
            break;
          }
          epoll_event ev{};
          ev.events = EPOLLIN | EPOLLRDHUP;
          ev.data.u64 = static_cast<uint32_t>(c);
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
        }
        continue;
      }
      ssize_t r = read(fd, buf, sizeof buf);
      if (r > 0) {
        // curl sends the whole request in one write; answering the first read is enough here.
        [[maybe_unused]] ssize_t w = write(fd, kResponse, sizeof kResponse - 1);
      }
      close(fd);  // also removes it from the epoll set
    }
  }
}

// --- floor: the least any HTTP prober must do ------------------------------------------

// Connect, send a GET, read to EOF, look for the search string, close: plain Asio, no curl.
// Run with --raw 1 to see how much of the CPU per check is the TCP exchange itself.
class RawProber final : public steerdns::health::Prober {
 public:
  explicit RawProber(boost::asio::io_context& io) : io_(io) {}

  void start(const CheckSpec& spec, std::function<void(ProbeResult)> done) override {
    struct Op {
      explicit Op(boost::asio::io_context& io) : sock(io), timer(io) {}
      boost::asio::ip::tcp::socket sock;
      boost::asio::steady_timer timer;
      std::string request;
      std::string reply;
      std::array<char, 4096> buf{};
      std::function<void(ProbeResult)> done;
      std::string search;
      bool finished = false;
    };
    auto op = std::make_shared<Op>(io_);
    op->done = std::move(done);
    op->search = spec.http.search;
    op->request = "GET " + spec.http.path + " HTTP/1.1\r\nHost: " + spec.http.host +
                  "\r\nUser-Agent: raw\r\nConnection: close\r\n\r\n";
    ++in_flight_;
    auto finish = [this](const std::shared_ptr<Op>& o, bool ok, const char* why) {
      if (o->finished) {
        return;
      }
      o->finished = true;
      boost::system::error_code ec;
      o->timer.cancel(ec);
      o->sock.close(ec);
      --in_flight_;
      ProbeResult r;
      r.ok = ok;
      r.reason = why;
      o->done(std::move(r));
    };
    op->timer.expires_after(std::chrono::milliseconds(spec.timeout_ms));
    op->timer.async_wait([op, finish](const boost::system::error_code& ec) {
      if (!ec) {
        finish(op, false, "timeout");
      }
    });
    boost::asio::ip::tcp::endpoint ep(boost::asio::ip::make_address(spec.http.host),
                                      spec.http.port);
    op->sock.async_connect(ep, [op, finish](const boost::system::error_code& ec) {
      if (ec) {
        finish(op, false, "connect failed");
        return;
      }
      boost::asio::async_write(
          op->sock, boost::asio::buffer(op->request),
          [op, finish](const boost::system::error_code& wec, size_t) {
            if (wec) {
              finish(op, false, "send failed");
              return;
            }
            auto read = std::make_shared<std::function<void()>>();
            *read = [op, finish, read] {
              op->sock.async_read_some(
                  boost::asio::buffer(op->buf),
                  [op, finish, read](const boost::system::error_code& rec, size_t n) {
                    op->reply.append(op->buf.data(), n);
                    if (rec || op->reply.size() > 5120) {
                      bool ok = op->reply.rfind("HTTP/1.1 200", 0) == 0 &&
                                op->reply.find(op->search) != std::string::npos;
                      *read = nullptr;  // break the self-reference
                      finish(op, ok, ok ? "ok" : "bad reply");
                      return;
                    }
                    (*read)();
                  });
            };
            (*read)();
          });
    });
  }

  size_t in_flight() const override { return in_flight_; }

 private:
  boost::asio::io_context& io_;
  size_t in_flight_ = 0;
};

// --- load generator ---------------------------------------------------------------------

double pct(std::vector<double>& v, double p) {
  if (v.empty()) {
    return 0;
  }
  size_t k = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
  return v[k];
}

double user_seconds(int who) {
  rusage ru{};
  getrusage(who, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec) + static_cast<double>(ru.ru_utime.tv_usec) / 1e6;
}

// Seconds this thread spent runnable but waiting for a CPU (the machine is shared).
double runqueue_wait_seconds() {
  FILE* f = std::fopen("/proc/thread-self/schedstat", "r");
  if (f == nullptr) {
    return 0;
  }
  unsigned long long run_ns = 0;
  unsigned long long wait_ns = 0;
  if (std::fscanf(f, "%llu %llu", &run_ns, &wait_ns) != 2) {
    wait_ns = 0;
  }
  std::fclose(f);
  return static_cast<double>(wait_ns) / 1e9;
}

double cpu_seconds(int who) {
  rusage ru{};
  getrusage(who, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

int run(const Options& o) {
  raise_fd_limit();
  int pipefd[2];
  if (pipe(pipefd) != 0) {
    return 1;
  }
  pid_t child = fork();
  if (child == 0) {
    close(pipefd[0]);
    serve(o, pipefd[1]);
  }
  close(pipefd[1]);
  std::vector<std::pair<std::string, uint16_t>> listeners;
  {
    std::string all;
    char buf[65536];
    while (all.find("end\n") == std::string::npos) {
      ssize_t n = read(pipefd[0], buf, sizeof buf);
      if (n <= 0) {
        std::fprintf(stderr, "responder failed\n");
        return 1;
      }
      all.append(buf, static_cast<size_t>(n));
    }
    close(pipefd[0]);
    size_t pos = 0;
    while (true) {
      size_t eol = all.find('\n', pos);
      std::string line = all.substr(pos, eol - pos);
      pos = eol + 1;
      if (line == "end") {
        break;
      }
      size_t sp = line.find(' ');
      listeners.emplace_back(line.substr(0, sp),
                             static_cast<uint16_t>(std::stoi(line.substr(sp + 1))));
    }
  }

  std::vector<CheckSpec> specs(static_cast<size_t>(o.endpoints));
  for (int i = 0; i < o.endpoints; ++i) {
    auto& s = specs[static_cast<size_t>(i)];
    const auto& l = listeners[static_cast<size_t>(i) % listeners.size()];
    s.id = "e" + std::to_string(i);
    s.kind = Kind::kHttp;
    s.http.host = l.first;
    s.http.port = l.second;
    s.http.path = "/e/" + std::to_string(i);
    s.http.search = "healthy";
    s.timeout_ms = o.timeout_ms;
  }

  boost::asio::io_context io;
  std::unique_ptr<steerdns::health::Prober> prober;
  if (o.raw) {
    prober = std::make_unique<RawProber>(io);
  } else {
    prober = steerdns::health::make_prober(io);
  }
  boost::asio::steady_timer timer(io);

  // Probe i is due at start + i * interval / E + k * interval.
  const auto start = Clock::now() + std::chrono::milliseconds(200);
  const auto measure_from = start + std::chrono::seconds(o.warmup);
  const auto end = measure_from + std::chrono::seconds(o.seconds);
  const double step_us = 1000.0 * o.interval_ms / o.endpoints;
  int64_t next = 0;  // index into the infinite schedule
  auto due = [&](int64_t k) {
    return start +
           std::chrono::microseconds(static_cast<int64_t>(static_cast<double>(k) * step_us));
  };

  std::vector<double> lateness;
  std::vector<double> durations;
  std::vector<double> connects;  // as the prober reports them (curl's timings)
  std::vector<double> first_bytes;
  lateness.reserve(static_cast<size_t>(o.endpoints) * static_cast<size_t>(o.seconds + 1));
  durations.reserve(lateness.capacity());
  int64_t done_measured = 0;
  int64_t ok_measured = 0;
  int64_t started_measured = 0;
  size_t max_in_flight = 0;
  std::map<std::string, int64_t> reasons;
  double cpu0 = 0;
  double wait0 = 0;
  double user0 = 0;
  bool measuring = false;
  Clock::time_point t_measure0;

  std::function<void()> tick = [&] {
    auto now = Clock::now();
    if (!measuring && now >= measure_from) {
      measuring = true;
      cpu0 = cpu_seconds(RUSAGE_SELF);
      wait0 = runqueue_wait_seconds();
      user0 = user_seconds(RUSAGE_SELF);
      t_measure0 = now;
    }
    while (due(next) <= now && due(next) < end &&
           prober->in_flight() < static_cast<size_t>(o.max_in_flight)) {
      auto d = due(next);
      const CheckSpec& s = specs[static_cast<size_t>(next % o.endpoints)];
      bool in_window = d >= measure_from;
      if (in_window) {
        lateness.push_back(std::chrono::duration<double, std::milli>(now - d).count());
        ++started_measured;
      }
      auto t0 = Clock::now();
      prober->start(s, [&, t0, in_window](ProbeResult r) {
        if (!in_window) {
          return;
        }
        ++done_measured;
        if (r.timings.connect_ms >= 0) {
          connects.push_back(r.timings.connect_ms);
        }
        if (r.timings.first_byte_ms >= 0) {
          first_bytes.push_back(r.timings.first_byte_ms);
        }
        durations.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        if (r.ok) {
          ++ok_measured;
        } else {
          std::string key = r.reason;  // group "port 1234" and the like
          for (char& c : key) {
            c = (c >= '0' && c <= '9') ? 'N' : c;
          }
          ++reasons[key];
        }
      });
      max_in_flight = std::max(max_in_flight, prober->in_flight());
      ++next;
    }
    if (due(next) >= end) {
      return;  // schedule over; the io_context ends when the last probe reports
    }
    // One wake-up per millisecond at most: a timer re-armed per probe costs a syscall each.
    timer.expires_at(std::max(due(next), now + std::chrono::milliseconds(1)));
    timer.async_wait([&](const boost::system::error_code& ec) {
      if (!ec) {
        tick();
      }
    });
  };
  tick();
  io.run();
  auto t_end = Clock::now();
  double cpu = cpu_seconds(RUSAGE_SELF) - cpu0;
  double waited = runqueue_wait_seconds() - wait0;
  double user = user_seconds(RUSAGE_SELF) - user0;
  double wall = std::chrono::duration<double>(t_end - t_measure0).count();

  kill(child, SIGTERM);
  waitpid(child, nullptr, 0);
  double responder_cpu = cpu_seconds(RUSAGE_CHILDREN);

  std::printf("prober: %s\n",
              o.raw ? "RAW plain-Asio floor (not the real prober)" : "make_prober (libcurl multi)");
  std::printf(
      "endpoints %d, interval %d ms, measured %d s (after %d s warm-up), %zu listeners, "
      "cap %d in flight\n",
      o.endpoints, o.interval_ms, o.seconds, o.warmup, listeners.size(), o.max_in_flight);
  std::printf("checks completed  %lld (%.0f/s), ok %lld, failed %lld\n",
              static_cast<long long>(done_measured), static_cast<double>(done_measured) / wall,
              static_cast<long long>(ok_measured),
              static_cast<long long>(done_measured - ok_measured));
  std::printf("prober CPU        %.2f s over %.2f s wall = %.1f%% of one core, %.1f us/check\n",
              cpu, wall, 100.0 * cpu / wall,
              1e6 * cpu / static_cast<double>(std::max<int64_t>(done_measured, 1)));
  std::printf(
      "  of which user    %.2f s (%.1f us/check); the rest is kernel, which on loopback\n"
      "                  includes the responder side of every TCP handshake\n",
      user, 1e6 * user / static_cast<double>(std::max<int64_t>(done_measured, 1)));
  std::printf("prober runqueue   %.2f s runnable but waiting for a CPU (%.1f%% of wall)\n", waited,
              100.0 * waited / wall);
  std::printf("responder CPU     %.2f s (whole run, incl. warm-up)\n", responder_cpu);
  std::printf("start lateness    p50 %.2f ms, p99 %.2f ms, max %.2f ms (%lld starts)\n",
              pct(lateness, 0.5), pct(lateness, 0.99), pct(lateness, 1.0),
              static_cast<long long>(started_measured));
  std::printf("probe duration    p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", pct(durations, 0.5),
              pct(durations, 0.99), pct(durations, 1.0));
  if (!connects.empty()) {
    std::printf(
        "prober timings    connect p50 %.2f / p99 %.2f ms, first byte p50 %.2f / p99 %.2f ms\n",
        pct(connects, 0.5), pct(connects, 0.99), pct(first_bytes, 0.5), pct(first_bytes, 0.99));
  }
  std::printf("max in flight     %zu\n", max_in_flight);
  for (const auto& [reason, n] : reasons) {
    std::printf("failure           %lld x %s\n", static_cast<long long>(n), reason.c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    int v = std::atoi(argv[i + 1]);
    if (k == "--endpoints") {
      o.endpoints = v;
    } else if (k == "--interval-ms") {
      o.interval_ms = v;
    } else if (k == "--seconds") {
      o.seconds = v;
    } else if (k == "--warmup") {
      o.warmup = v;
    } else if (k == "--addrs") {
      o.addrs = v;
    } else if (k == "--ports") {
      o.ports = v;
    } else if (k == "--raw") {
      o.raw = v;
    } else if (k == "--max-in-flight") {
      o.max_in_flight = v;
    } else if (k == "--timeout-ms") {
      o.timeout_ms = v;
    } else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  if (o.endpoints <= 0 || o.interval_ms <= 0 || o.addrs <= 0 || o.addrs > 254 || o.ports <= 0) {
    std::fprintf(stderr, "bad options\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  return run(o);
}
