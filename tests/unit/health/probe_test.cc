// Probe kinds against real servers on loopback: HTTP/HTTPS (Python, certificates made with
// openssl at test time), TCP, DNS (UDP and TCP) and exec of real commands.
// GCC 12 at -O3 reports a false -Wrestrict inside std::string when CheckSpec's default member
// strings are inlined (GCC bug 105329).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wrestrict"
#endif
#include "health/probe.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <chrono>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "probe_servers.h"

namespace steerdns::health {
namespace {

using std::chrono::steady_clock;

struct Run {
  ProbeResult r;
  double wall_ms = 0;
};

// Runs one probe on a fresh io_context and prober until it reports (or a hard deadline).
Run run_probe(const CheckSpec& spec) {
  boost::asio::io_context io;
  auto prober = make_prober(io);
  std::optional<ProbeResult> got;
  auto t0 = steady_clock::now();
  prober->start(spec, [&](ProbeResult r) { got = std::move(r); });
  EXPECT_EQ(prober->in_flight(), 1u);
  EXPECT_FALSE(got.has_value()) << "done must not be called from inside start()";
  auto deadline = t0 + std::chrono::milliseconds(spec.timeout_ms + 5000);
  while (!got && steady_clock::now() < deadline) {
    if (io.stopped()) {
      io.restart();
    }
    io.run_one_for(std::chrono::milliseconds(50));
  }
  Run run;
  run.wall_ms = std::chrono::duration<double, std::milli>(steady_clock::now() - t0).count();
  EXPECT_TRUE(got.has_value()) << "probe never reported";
  EXPECT_EQ(prober->in_flight(), 0u);
  if (got) {
    run.r = std::move(*got);
  }
  return run;
}

class ProbeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    servers_ = new testing::HealthServers();
    std::string err = servers_->start();
    ASSERT_EQ(err, "");
  }
  static void TearDownTestSuite() {
    delete servers_;
    servers_ = nullptr;
  }

  static CheckSpec http(const std::string& path, Millis timeout_ms = 2000) {
    CheckSpec s;
    s.id = "t";
    s.kind = Kind::kHttp;
    s.http.host = "127.0.0.1";
    s.http.port = servers_->http();
    s.http.path = path;
    s.timeout_ms = timeout_ms;
    return s;
  }
  static CheckSpec https(const std::string& which, bool with_ca = true) {
    CheckSpec s;
    s.id = "t";
    s.kind = Kind::kHttps;
    s.http.host = "127.0.0.1";
    s.http.port = servers_->https(which);
    s.http.path = "/ok";
    s.http.search = "healthy";
    if (with_ca) {
      s.http.ca_file = servers_->ca();
    }
    s.timeout_ms = 3000;
    return s;
  }

  static testing::HealthServers* servers_;
};
testing::HealthServers* ProbeTest::servers_ = nullptr;

// --- HTTP ---------------------------------------------------------------------------------

TEST_F(ProbeTest, HttpOkWithSearchAndTimings) {
  auto s = http("/ok");
  s.http.search = "healthy";
  auto run = run_probe(s);
  EXPECT_TRUE(run.r.ok) << run.r.reason;
  EXPECT_EQ(run.r.reason, "status 200");
  EXPECT_EQ(run.r.http_status, 200);
  EXPECT_GE(run.r.timings.connect_ms, 0);
  EXPECT_GT(run.r.timings.first_byte_ms, 0);
  EXPECT_GE(run.r.timings.total_ms, run.r.timings.first_byte_ms);
  EXPECT_LT(run.r.timings.tls_ms, 0) << "plain HTTP has no TLS time";
  EXPECT_EQ(run.r.cert_days_left, -1);
}

TEST_F(ProbeTest, HttpHostHeaderIpOverrideHeadersUserAgentMethod) {
  auto s = http("/ok");
  s.http.host = "app.test";  // not resolvable: the connection must go to `ip`
  s.http.ip = "127.0.0.1";
  s.http.headers = {{"X-Probe", "abc"}};
  s.http.user_agent = "ua-test/1";
  s.http.method = "POST";
  s.http.search =
      "host=app.test:" + std::to_string(servers_->http()) + " ua=ua-test/1 x-probe=abc method=POST";
  auto run = run_probe(s);
  EXPECT_TRUE(run.r.ok) << run.r.reason;
}

TEST_F(ProbeTest, HttpStatusOutsideExpectedRanges) {
  auto run = run_probe(http("/status/503"));
  EXPECT_FALSE(run.r.ok);
  EXPECT_EQ(run.r.reason, "status 503 not in 200-399");
  EXPECT_EQ(run.r.http_status, 503);

  auto s = http("/status/503");
  s.http.expect_status = {{200, 200}, {204, 204}};
  EXPECT_EQ(run_probe(s).r.reason, "status 503 not in 200,204");
  s.http.expect_status = {{500, 503}};
  EXPECT_TRUE(run_probe(s).r.ok);
  s.http.path = "/status/404";
  EXPECT_EQ(run_probe(s).r.reason, "status 404 not in 500-503");
}

TEST_F(ProbeTest, HttpHangIsCutAtTheTimeout) {
  auto run = run_probe(http("/hang", 500));
  EXPECT_FALSE(run.r.ok);
  EXPECT_EQ(run.r.reason, "timeout after 500 ms");
  EXPECT_GE(run.wall_ms, 450);
  EXPECT_LT(run.wall_ms, 2000);
}

TEST_F(ProbeTest, HttpConnectionClosedWithoutResponse) {
  auto run = run_probe(http("/close"));
  EXPECT_FALSE(run.r.ok);
  EXPECT_EQ(run.r.reason, "connection closed without a response");
}

TEST_F(ProbeTest, HttpConnectionRefused) {
  auto s = http("/ok");
  s.http.port = servers_->refused();
  auto run = run_probe(s);
  EXPECT_FALSE(run.r.ok);
  EXPECT_EQ(run.r.reason, "connection refused");
}

TEST_F(ProbeTest, HttpWrongBodyAndRegex) {
  auto s = http("/wrong");
  s.http.search = "healthy";
  EXPECT_EQ(run_probe(s).r.reason, "search string not found");
  s = http("/ok");
  s.http.regex = "host=[0-9.]+:[0-9]+ ua=steerdns";
  EXPECT_TRUE(run_probe(s).r.ok);
  s.http.regex = "^unhealthy";
  EXPECT_EQ(run_probe(s).r.reason, "regex did not match");
}

TEST_F(ProbeTest, HttpSearchOnlyInFirst5120Bytes) {
  auto s = http("/marker-at/5000");  // "healthy" spans bytes 5000..5006: inside the limit
  s.http.search = "healthy";
  EXPECT_TRUE(run_probe(s).r.ok);
  s.http.path = "/marker-at/5113";  // the body's first 5,120 bytes end with "healthy"
  EXPECT_TRUE(run_probe(s).r.ok);
  s.http.path = "/marker-at/5114";  // its last byte is number 5,121
  EXPECT_EQ(run_probe(s).r.reason, "search string not found");
}

TEST_F(ProbeTest, HttpEndlessBodyIsCutAtTheByteLimit) {
  // A fast endless body fails by the byte limit (default 1 MiB), long before the timeout,
  // whether or not there is anything to match.
  auto s = http("/endless", 5000);
  s.http.search = "healthy";  // appears only after 10,000 bytes
  auto run = run_probe(s);
  EXPECT_FALSE(run.r.ok);
  EXPECT_EQ(run.r.reason, "body exceeds 1048576 bytes");
  EXPECT_LT(run.wall_ms, 2500) << "must stop at the byte limit, not wait for the timeout";
  s.http.search.clear();
  s.http.max_body = 65536;
  run = run_probe(s);
  EXPECT_FALSE(run.r.ok);
  EXPECT_EQ(run.r.reason, "body exceeds 65536 bytes");
  EXPECT_LT(run.wall_ms, 2500);
}

TEST_F(ProbeTest, HttpSlowTrickleBodyFailsByTimeoutWithTheBytesReceived) {
  auto s = http("/trickle", 1000);
  auto run = run_probe(s);
  EXPECT_FALSE(run.r.ok);
  std::smatch m;
  ASSERT_TRUE(std::regex_match(
      run.r.reason, m,
      std::regex(R"(timeout after 1000 ms \(status 200, ([0-9]+) body bytes received\))")))
      << run.r.reason;
  int bytes = std::stoi(m[1].str());
  EXPECT_GT(bytes, 0);
  EXPECT_LE(bytes, 1100);  // 100 bytes per 100 ms for 1 s
  EXPECT_GE(run.wall_ms, 900);
  EXPECT_LT(run.wall_ms, 3000);
}

TEST_F(ProbeTest, HttpBodyLimitIsExactAndConfigurable) {
  // 2 MiB passes with max_body 4 MiB, announced (Content-Length) or streamed to the close.
  auto s = http("/big/2097152", 5000);
  s.http.search = "healthy";
  s.http.max_body = 4u << 20;
  auto run = run_probe(s);
  EXPECT_TRUE(run.r.ok) << run.r.reason;
  s.http.path = "/big-stream/2097152";
  run = run_probe(s);
  EXPECT_TRUE(run.r.ok) << run.r.reason;
  // With the default 1 MiB both fail: an announced length before reading, a stream on the
  // first byte past the limit.
  s.http.max_body = kDefaultMaxBody;
  run = run_probe(s);
  EXPECT_EQ(run.r.reason, "body exceeds 1048576 bytes");
  s.http.path = "/big/2097152";
  run = run_probe(s);
  EXPECT_EQ(run.r.reason, "body exceeds 1048576 bytes (Content-Length)");
  // Exactly at the limit passes; one byte more fails.
  s.http.max_body = 65536;
  s.http.path = "/big-stream/65536";
  EXPECT_TRUE(run_probe(s).r.ok);
  s.http.path = "/big-stream/65537";
  EXPECT_EQ(run_probe(s).r.reason, "body exceeds 65536 bytes");
}

TEST_F(ProbeTest, HttpSlowlorisIsCutAtTheTimeout) {
  auto run = run_probe(http("/slowloris", 1500));
  EXPECT_FALSE(run.r.ok);
  EXPECT_EQ(run.r.reason, "timeout after 1500 ms");
  EXPECT_LT(run.wall_ms, 3000);
}

TEST_F(ProbeTest, HttpGarbageAndEndlessHeaders) {
  auto run = run_probe(http("/garbage"));
  EXPECT_FALSE(run.r.ok);
  EXPECT_EQ(run.r.reason.rfind("response too large/garbage: ", 0), 0u) << run.r.reason;
  run = run_probe(http("/endless-headers", 3000));
  EXPECT_FALSE(run.r.ok);
  EXPECT_EQ(run.r.reason.rfind("response too large/garbage: ", 0), 0u) << run.r.reason;
  EXPECT_LT(run.wall_ms, 2500) << "must stop at curl's header limit, not the timeout";
}

// --- HTTPS --------------------------------------------------------------------------------

TEST_F(ProbeTest, HttpsValidCertificateAndExpiryDays) {
  auto run = run_probe(https("valid"));
  EXPECT_TRUE(run.r.ok) << run.r.reason;
  EXPECT_GE(run.r.timings.tls_ms, 0);
  EXPECT_GE(run.r.cert_days_left, 363);  // signed with -days 365 a moment ago
  EXPECT_LE(run.r.cert_days_left, 365);
}

TEST_F(ProbeTest, HttpsSniNameWhileConnectingToIp) {
  auto s = https("valid");
  s.http.host = "app.test";
  s.http.ip = "127.0.0.1";
  s.http.search = "host=app.test:";
  auto run = run_probe(s);
  EXPECT_TRUE(run.r.ok) << run.r.reason;
}

TEST_F(ProbeTest, HttpsCertificateFailuresHaveTheirReason) {
  EXPECT_EQ(run_probe(https("expired")).r.reason, "certificate expired");
  EXPECT_EQ(run_probe(https("notyet")).r.reason, "certificate not yet valid");
  EXPECT_EQ(run_probe(https("selfsigned")).r.reason, "self-signed certificate");
  auto s = https("wrongname");
  s.http.host_header = "app.test";
  s.http.ip = "127.0.0.1";
  EXPECT_EQ(run_probe(s).r.reason, "certificate name mismatch");
  s = https("wrongname");  // by IP: the certificate has no IP address entry either
  EXPECT_EQ(run_probe(s).r.reason, "certificate name mismatch");
  // A valid chain to a CA we were not told to trust.
  auto run = run_probe(https("valid", /*with_ca=*/false));
  EXPECT_FALSE(run.r.ok);
  EXPECT_EQ(run.r.reason.rfind("certificate not trusted: ", 0), 0u) << run.r.reason;
}

TEST_F(ProbeTest, HttpsVerificationCanBeSkipped) {
  auto s = https("expired");
  s.http.verify_tls = false;
  auto run = run_probe(s);
  EXPECT_TRUE(run.r.ok) << run.r.reason;
  EXPECT_LT(run.r.cert_days_left, -1000) << "expired in February 2020";
  s = https("selfsigned", /*with_ca=*/false);
  s.http.verify_tls = false;
  EXPECT_TRUE(run_probe(s).r.ok);
}

TEST_F(ProbeTest, ManyHttpProbesShareOneThread) {
  boost::asio::io_context io;
  auto prober = make_prober(io);
  constexpr int kN = 60;
  int ok = 0;
  int done = 0;
  for (int i = 0; i < kN; ++i) {
    CheckSpec s = i % 2 == 0 ? http("/ok") : https("valid");
    prober->start(s, [&](ProbeResult r) {
      ++done;
      ok += r.ok ? 1 : 0;
    });
  }
  EXPECT_EQ(prober->in_flight(), static_cast<size_t>(kN));
  auto deadline = steady_clock::now() + std::chrono::seconds(30);
  while (done < kN && steady_clock::now() < deadline) {
    io.run_one_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(done, kN);
  EXPECT_EQ(ok, kN);
  EXPECT_EQ(prober->in_flight(), 0u);
}

// The flapping backend the engine tests can use: one result per request, in pattern order.
TEST_F(ProbeTest, FlappingServerFollowsItsPattern) {
  std::vector<std::string> reasons;
  for (int i = 0; i < 6; ++i) {
    reasons.push_back(run_probe(http("/flap/uudc", 1000)).r.reason);
  }
  EXPECT_EQ(reasons, (std::vector<std::string>{
                         "status 200", "status 200", "status 503 not in 200-399",
                         "connection closed without a response", "status 200", "status 200"}));
}

// Handles are reused between probes: nothing of one probe's options may leak into the next.
TEST_F(ProbeTest, SequentialProbesOnOneProberDoNotShareOptions) {
  boost::asio::io_context io;
  auto prober = make_prober(io);
  auto once = [&](const CheckSpec& s) {
    std::optional<ProbeResult> got;
    prober->start(s, [&](ProbeResult r) { got = std::move(r); });
    auto deadline = steady_clock::now() + std::chrono::seconds(10);
    while (!got && steady_clock::now() < deadline) {
      io.run_one_for(std::chrono::milliseconds(50));
    }
    EXPECT_TRUE(got.has_value());
    return got.value_or(ProbeResult{});
  };
  auto post = http("/ok");
  post.http.method = "POST";
  post.http.headers = {{"X-Probe", "first"}};
  post.http.search = "x-probe=first method=POST";
  EXPECT_TRUE(once(post).ok);
  auto get = http("/ok");
  get.http.search = "x-probe=None method=GET";
  auto r = once(get);
  EXPECT_TRUE(r.ok) << r.reason;
  auto insecure = https("expired", /*with_ca=*/false);
  insecure.http.verify_tls = false;
  EXPECT_TRUE(once(insecure).ok);
  r = once(https("expired"));  // verification is back on
  EXPECT_EQ(r.reason, "certificate expired");
  r = once(http("/status/503"));
  EXPECT_EQ(r.reason, "status 503 not in 200-399");
  EXPECT_EQ(r.cert_days_left, -1);
}

TEST_F(ProbeTest, DestroyingTheProberDropsPendingProbes) {
  boost::asio::io_context io;
  auto prober = make_prober(io);
  int called = 0;
  prober->start(http("/hang", 300), [&](ProbeResult) { ++called; });
  auto tls_hang = https("valid");
  tls_hang.http.path = "/hang";
  tls_hang.timeout_ms = 300;
  prober->start(tls_hang, [&](ProbeResult) { ++called; });
  CheckSpec sleeper;
  sleeper.kind = Kind::kExec;
  sleeper.exec.argv = {"/bin/sleep", "30"};
  sleeper.timeout_ms = 300;
  prober->start(sleeper, [&](ProbeResult) { ++called; });
  io.run_for(std::chrono::milliseconds(20));  // connections and the child are under way
  prober.reset();
  io.restart();
  io.run_for(std::chrono::milliseconds(600));  // past every timeout
  EXPECT_EQ(called, 0);
}

// --- TCP ----------------------------------------------------------------------------------

CheckSpec tcp_spec(uint16_t port, Millis timeout_ms = 2000) {
  CheckSpec s;
  s.id = "t";
  s.kind = Kind::kTcp;
  s.tcp.host = "127.0.0.1";
  s.tcp.port = port;
  s.timeout_ms = timeout_ms;
  return s;
}

TEST_F(ProbeTest, TcpConnectSendExpect) {
  auto s = tcp_spec(servers_->tcp());
  auto run = run_probe(s);
  EXPECT_TRUE(run.r.ok) << run.r.reason;
  EXPECT_EQ(run.r.reason, "connected");
  EXPECT_GE(run.r.timings.connect_ms, 0);

  s.tcp.send = "PING\r\n";
  s.tcp.expect = "^\\+PONG";
  run = run_probe(s);
  EXPECT_TRUE(run.r.ok) << run.r.reason;
  EXPECT_EQ(run.r.reason, "reply matched");

  s.tcp.send = "HELLO\r\n";
  run = run_probe(s);
  EXPECT_FALSE(run.r.ok);
  EXPECT_EQ(run.r.reason, "reply did not match expect (connection closed): \"-ERR unknown\"");
}

TEST_F(ProbeTest, TcpRefusedAndTimeout) {
  auto run = run_probe(tcp_spec(servers_->refused()));
  EXPECT_EQ(run.r.reason, "connection refused");
  // Connected, but the peer never answers.
  auto s = tcp_spec(servers_->http(), 400);
  s.tcp.send = "GET /hang HTTP/1.1\r\nHost: x\r\n\r\n";
  s.tcp.expect = "HTTP/1";
  run = run_probe(s);
  EXPECT_EQ(run.r.reason, "timeout after 400 ms");
  EXPECT_LT(run.wall_ms, 2000);
}

// --- DNS ----------------------------------------------------------------------------------

CheckSpec dns_spec(const std::string& server, const std::string& qname) {
  CheckSpec s;
  s.id = "t";
  s.kind = Kind::kDns;
  s.dns.server = server;
  s.dns.qname = qname;
  s.timeout_ms = 2000;
  return s;
}

TEST_F(ProbeTest, DnsRcodeAndAnswer) {
  std::string server = "127.0.0.1:" + std::to_string(servers_->dns());
  auto s = dns_spec(server, "app.test");
  auto run = run_probe(s);
  EXPECT_TRUE(run.r.ok) << run.r.reason;
  EXPECT_EQ(run.r.reason, "rcode NOERROR, 2 answers");

  s.dns.expect_answer = "192.0.2.2";
  EXPECT_TRUE(run_probe(s).r.ok);
  s.dns.expect_answer = "192.0.2.9";
  EXPECT_EQ(run_probe(s).r.reason, "answer 192.0.2.9 not found (got: 192.0.2.1, 192.0.2.2)");

  s = dns_spec(server, "nope.test.");
  EXPECT_EQ(run_probe(s).r.reason, "rcode NXDOMAIN, expected NOERROR");
  s.dns.expect_rcode = "nxdomain";
  EXPECT_TRUE(run_probe(s).r.ok);
}

TEST_F(ProbeTest, DnsOverTcpAndTruncationFallback) {
  std::string server = "127.0.0.1:" + std::to_string(servers_->dns());
  auto s = dns_spec(server, "app.test");
  s.dns.tcp = true;
  s.dns.expect_answer = "192.0.2.1";
  auto run = run_probe(s);
  EXPECT_TRUE(run.r.ok) << run.r.reason;
  EXPECT_GE(run.r.timings.connect_ms, 0);
  // 100 A records do not fit in 512 bytes: the UDP answer is truncated, TCP completes it.
  s = dns_spec(server, "big.app.test");
  s.dns.expect_answer = "198.51.100.100";
  run = run_probe(s);
  EXPECT_TRUE(run.r.ok) << run.r.reason;
  EXPECT_GE(run.r.timings.connect_ms, 0) << "must have fallen back to TCP";
}

TEST_F(ProbeTest, DnsSilentServerTimesOutAndBadSpecFails) {
  boost::asio::io_context sink_io;
  boost::asio::ip::udp::socket sink(
      sink_io, boost::asio::ip::udp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
  auto s = dns_spec("127.0.0.1:" + std::to_string(sink.local_endpoint().port()), "app.test");
  s.timeout_ms = 300;
  auto run = run_probe(s);
  EXPECT_EQ(run.r.reason, "timeout after 300 ms");
  // Nothing bound there: the ICMP port-unreachable comes back as a refused receive.
  s = dns_spec("127.0.0.1:" + std::to_string(servers_->refused()), "app.test");
  EXPECT_EQ(run_probe(s).r.reason, "connection refused");
  s = dns_spec("not-an-ip:53", "app.test");
  EXPECT_EQ(run_probe(s).r.reason, "bad server address \"not-an-ip:53\"");
  s = dns_spec("127.0.0.1", "app.test");
  s.dns.qtype = "NOPE";
  EXPECT_EQ(run_probe(s).r.reason, "bad qtype \"NOPE\"");
}

// --- exec ---------------------------------------------------------------------------------

CheckSpec exec_spec(std::vector<std::string> argv, Millis timeout_ms = 3000) {
  CheckSpec s;
  s.id = "t";
  s.kind = Kind::kExec;
  s.exec.argv = std::move(argv);
  s.timeout_ms = timeout_ms;
  return s;
}

TEST_F(ProbeTest, ExecExitStatusAndFirstLine) {
  auto run = run_probe(exec_spec({"/bin/true"}));
  EXPECT_TRUE(run.r.ok);
  EXPECT_EQ(run.r.reason, "exit 0");
  run = run_probe(exec_spec({"/bin/false"}));
  EXPECT_FALSE(run.r.ok);
  EXPECT_EQ(run.r.reason, "exit 1");
  run = run_probe(exec_spec({"echo", "replica lag 3s"}));  // found on PATH, no shell
  EXPECT_TRUE(run.r.ok);
  EXPECT_EQ(run.r.reason, "replica lag 3s");
  run = run_probe(exec_spec({"/bin/sh", "-c", "echo first line >&2; echo second; exit 3"}));
  EXPECT_FALSE(run.r.ok);
  EXPECT_EQ(run.r.reason, "exit 3: first line");
  run = run_probe(exec_spec({"/bin/sh", "-c", "kill -TERM $$"}));
  EXPECT_EQ(run.r.reason, "killed by signal 15");
  run = run_probe(exec_spec({"/nonexistent/check"}));
  EXPECT_FALSE(run.r.ok);
  EXPECT_EQ(run.r.reason, "exec /nonexistent/check: No such file or directory");
}

TEST_F(ProbeTest, ExecTimeoutKillsTheProcessGroup) {
  // The background sleep keeps the output pipe open: the probe must not wait for it.
  auto run = run_probe(exec_spec({"/bin/sh", "-c", "sleep 30 & sleep 30"}, 300));
  EXPECT_FALSE(run.r.ok);
  EXPECT_EQ(run.r.reason, "timeout after 300 ms");
  EXPECT_LT(run.wall_ms, 2000);
}

TEST_F(ProbeTest, ExecOutputIsCapped) {
  auto s = exec_spec({"/bin/sh", "-c", "head -c 5000000 /dev/zero | tr '\\0' a; echo; exit 0"});
  s.exec.max_output = 100;
  auto run = run_probe(s);
  EXPECT_TRUE(run.r.ok) << run.r.reason << " (a writer blocked or killed by SIGPIPE?)";
  EXPECT_EQ(run.r.reason, std::string(100, 'a'));
}

TEST_F(ProbeTest, UnprobedKindsFailWithoutCrashing) {
  CheckSpec s;
  s.kind = Kind::kCalculated;
  EXPECT_EQ(run_probe(s).r.reason, "this check kind is not probed");
}

}  // namespace
}  // namespace steerdns::health
