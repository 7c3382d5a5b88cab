// The server's handler pool (a slow handler does not hold up other connections) and HTTPS
// (a certificate made by `openssl req -x509`, a real TLS client: curl), plus config tokens.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>

#include "api/server.h"
#include "test_client.h"

namespace steerdns::api {
namespace {

using testing::Client;
namespace fs = std::filesystem;

// A gate the slow handler waits on.
class Gate {
 public:
  void open() {
    std::lock_guard lk(mu_);
    open_ = true;
    cv_.notify_all();
  }
  bool wait(std::chrono::seconds limit) {
    std::unique_lock lk(mu_);
    entered_ = true;
    cv_.notify_all();
    return cv_.wait_for(lk, limit, [&] { return open_; });
  }
  bool wait_entered(std::chrono::seconds limit) {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, limit, [&] { return entered_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
  bool entered_ = false;
};

TEST(ServerPool, SlowHandlerDoesNotDelayOtherConnections) {
  Gate gate;
  Router r;
  r.add(http::verb::get, "/slow", [&gate](const Request&) {
    bool opened = gate.wait(std::chrono::seconds(10));
    return text_response(200, opened ? "slow done\n" : "gate never opened\n");
  });
  r.add(http::verb::get, "/fast", [](const Request&) { return text_response(200, "fast\n"); });
  ServerOptions o;
  o.listen = "127.0.0.1:0";
  o.handler_threads = 2;
  Server srv(o, Auth(), std::move(r));
  ASSERT_TRUE(srv.start());

  Client slow(srv.port());
  slow.send("GET /slow HTTP/1.1\r\nHost: t\r\n\r\n");
  ASSERT_TRUE(gate.wait_entered(std::chrono::seconds(5)));

  // While /slow sits in its handler, another connection is answered at once.
  auto t0 = std::chrono::steady_clock::now();
  Client fast(srv.port(), std::chrono::seconds(3));
  auto f = fast.request(http::verb::get, "/fast");
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(f.status, 200u);
  EXPECT_EQ(f.body, "fast\n");
  EXPECT_LT(took, std::chrono::seconds(2));

  gate.open();
  auto s = slow.read();
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->body, "slow done\n");
  srv.stop();
}

TEST(ServerPool, StopWhileAHandlerRunsReturns) {
  Gate gate;
  Router r;
  r.add(http::verb::get, "/slow", [&gate](const Request&) {
    gate.wait(std::chrono::seconds(2));
    return text_response(200, "late\n");
  });
  ServerOptions o;
  o.listen = "127.0.0.1:0";
  Server srv(o, Auth(), std::move(r));
  ASSERT_TRUE(srv.start());
  Client c(srv.port());
  c.send("GET /slow HTTP/1.1\r\nHost: t\r\n\r\n");
  ASSERT_TRUE(gate.wait_entered(std::chrono::seconds(5)));
  std::thread opener([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    gate.open();
  });
  srv.stop();  // waits for the running handler, drops its answer
  opener.join();
  EXPECT_TRUE(c.closed_within(std::chrono::seconds(2)));
}

TEST(ServerPool, ZeroHandlerThreadsIsAnError) {
  ServerOptions o;
  o.listen = "127.0.0.1:0";
  o.handler_threads = 0;
  Server srv(o, Auth(), Router());
  auto st = srv.start();
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().find("handler_threads"), std::string::npos);
}

// ---- TLS ----

struct TlsFiles {
  fs::path dir;
  fs::path cert;
  fs::path key;
};

int run(const std::string& cmd, std::string* out = nullptr) {
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) {
    return -1;
  }
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) {
    if (out != nullptr) {
      out->append(buf, n);
    }
  }
  int rc = pclose(p);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

TlsFiles make_cert(const std::string& tag) {
  TlsFiles f;
  f.dir = fs::temp_directory_path() / ("steerdns-tls-" + tag + "-" + std::to_string(::getpid()));
  fs::create_directories(f.dir);
  f.cert = f.dir / "cert.pem";
  f.key = f.dir / "key.pem";
  std::string cmd =
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost "
      "-addext subjectAltName=IP:127.0.0.1 -keyout '" +
      f.key.string() + "' -out '" + f.cert.string() + "' 2>/dev/null";
  EXPECT_EQ(run(cmd), 0) << cmd;
  return f;
}

class ServerTls : public ::testing::Test {
 protected:
  void SetUp() override { files_ = make_cert("ok"); }
  void TearDown() override { fs::remove_all(files_.dir); }
  TlsFiles files_;
};

TEST_F(ServerTls, HttpsWithCurl) {
  Router r;
  r.add(http::verb::post, "/echo", [](const Request& req) {
    return json_response(200, nlohmann::json{{"who", req.principal.name}, {"body", req.body()}});
  });
  Auth auth;
  ASSERT_TRUE(auth.add_token("ops", "s3cret", true));
  ServerOptions o;
  o.listen = "127.0.0.1:0";
  o.tls_cert_file = files_.cert.string();
  o.tls_key_file = files_.key.string();
  Server srv(o, std::move(auth), std::move(r));
  auto st = srv.start();
  ASSERT_TRUE(st) << st.error();
  EXPECT_TRUE(srv.tls());
  std::string base = "https://127.0.0.1:" + std::to_string(srv.port());

  std::string out;
  // Verified against the test's own certificate, not -k.
  ASSERT_EQ(
      run("curl -sS --max-time 10 --cacert '" + files_.cert.string() + "' " + base + "/healthz",
          &out),
      0)
      << out;
  EXPECT_EQ(out, "ok\n");

  out.clear();
  ASSERT_EQ(run("curl -sS --max-time 10 --cacert '" + files_.cert.string() +
                    "' -H 'Authorization: Bearer s3cret' -H 'Content-Type: application/json' "
                    "-d '{\"x\":1}' " +
                    base + "/echo",
                &out),
            0);
  auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["who"], "ops");
  EXPECT_EQ(j["body"], "{\"x\":1}");

  out.clear();
  ASSERT_EQ(run("curl -s -o /dev/null -w '%{http_code}' --max-time 10 --cacert '" +
                    files_.cert.string() + "' -X POST " + base + "/echo",
                &out),
            0);
  EXPECT_EQ(out, "401");

  // HTTPS only: plain HTTP on the same port gets no HTTP answer.
  out.clear();
  int rc = run("curl -s --max-time 5 -o /dev/null -w '%{http_code}' http://127.0.0.1:" +
                   std::to_string(srv.port()) + "/healthz",
               &out);
  EXPECT_TRUE(rc != 0 || out == "000") << rc << " " << out;
  srv.stop();
}

TEST_F(ServerTls, BadFilesNameTheFile) {
  ServerOptions o;
  o.listen = "127.0.0.1:0";
  o.tls_cert_file = (files_.dir / "missing.pem").string();
  o.tls_key_file = files_.key.string();
  {
    Server srv(o, Auth(), Router());
    auto st = srv.start();
    ASSERT_FALSE(st);
    EXPECT_NE(st.error().find("missing.pem"), std::string::npos) << st.error();
  }
  // Not PEM.
  fs::path junk = files_.dir / "junk.pem";
  std::ofstream(junk) << "not a certificate\n";
  o.tls_cert_file = junk.string();
  {
    Server srv(o, Auth(), Router());
    auto st = srv.start();
    ASSERT_FALSE(st);
    EXPECT_NE(st.error().find("junk.pem"), std::string::npos) << st.error();
  }
  // A key that is not the certificate's.
  TlsFiles other = make_cert("other");
  o.tls_cert_file = files_.cert.string();
  o.tls_key_file = other.key.string();
  {
    Server srv(o, Auth(), Router());
    auto st = srv.start();
    ASSERT_FALSE(st);
    EXPECT_NE(st.error().find("does not match"), std::string::npos) << st.error();
  }
  fs::remove_all(other.dir);
  // Only one of the two.
  o.tls_key_file.clear();
  Server srv(o, Auth(), Router());
  auto st = srv.start();
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().find("both"), std::string::npos) << st.error();
}

// ---- Tokens from the config file ----

TEST(AuthTokens, AddTokensFromSpecs) {
  ::setenv("STEERDNS_TEST_TOKEN_X", "from-env", 1);
  Auth a;
  ASSERT_TRUE(a.add_tokens(
      {{"ci", "inline-secret", "", true}, {"dash", "", "STEERDNS_TEST_TOKEN_X", false}}));
  EXPECT_EQ(a.authenticate("Bearer inline-secret", true).name, "ci");
  auto p = a.authenticate("Bearer from-env", true);
  EXPECT_EQ(p.name, "dash");
  EXPECT_FALSE(p.can_write);

  // All or nothing: the second spec is bad, the first is not added either.
  Auth b;
  auto st =
      b.add_tokens({{"good", "g00d", "", true}, {"bad", "", "STEERDNS_TEST_UNSET_VAR", true}});
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().find("STEERDNS_TEST_UNSET_VAR"), std::string::npos) << st.error();
  EXPECT_FALSE(b.has_credentials());

  auto both = b.add_tokens({{"x", "a", "STEERDNS_TEST_TOKEN_X", true}});
  ASSERT_FALSE(both);
  EXPECT_NE(both.error().find("'x'"), std::string::npos);
  auto dup = a.add_tokens({{"ci", "other", "", true}});
  ASSERT_FALSE(dup);
  EXPECT_NE(dup.error().find("twice"), std::string::npos) << dup.error();
  ::unsetenv("STEERDNS_TEST_TOKEN_X");
}

}  // namespace
}  // namespace steerdns::api
