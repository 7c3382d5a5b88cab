// The API server over real loopback TCP: routing, auth, limits, timeouts and bad input.
#include "api/server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

#include "test_client.h"

namespace steerdns::api {
namespace {

using nlohmann::json;
using testing::Client;
using testing::Reply;
using namespace std::chrono_literals;

Router test_router() {
  Router r;
  r.add(http::verb::get, "/v1/things/{id}", [](const Request& req) {
    return json_response(200, json{{"id", req.param("id")},
                                   {"who", req.principal.name},
                                   {"q", req.query_value("q").value_or("")}});
  });
  r.add(http::verb::put, "/v1/things/{id}", [](const Request& req) {
    json body = req.json_body();
    require_object(body);
    return json_response(200, json{{"id", req.param("id")}, {"body", body},
                                   {"who", req.principal.name}});
  });
  r.add(http::verb::get, "/v1/throw", [](const Request&) -> Response {
    throw std::runtime_error("boom");
  });
  r.add(http::verb::get, "/v1/conflict", [](const Request&) -> Response {
    throw HttpError(409, "already there", "exists");
  });
  return r;
}

class ServerTest : public ::testing::Test {
 protected:
  void start(Auth auth = Auth(), ServerOptions o = ServerOptions()) {
    o.listen = "127.0.0.1:0";
    server_ = std::make_unique<Server>(o, std::move(auth), test_router());
    auto st = server_->start();
    ASSERT_TRUE(st) << st.error();
    port_ = server_->port();
    ASSERT_NE(port_, 0);
  }
  static Auth tokens() {
    Auth a;
    EXPECT_TRUE(a.add_token("ops", "rw-secret", true));
    EXPECT_TRUE(a.add_token("viewer", "ro-secret", false));
    return a;
  }
  Reply get(const std::string& target) {
    Client c(port_);
    return c.request(http::verb::get, target);
  }

  std::unique_ptr<Server> server_;
  uint16_t port_ = 0;
};

TEST_F(ServerTest, HealthzAndKeepAlive) {
  start();
  Client c(port_);
  for (int i = 0; i < 3; ++i) {  // one connection, several requests
    Reply r = c.request(http::verb::get, "/healthz");
    EXPECT_EQ(r.status, 200u);
    EXPECT_EQ(r.body, "ok\n");
    EXPECT_TRUE(r.msg.keep_alive());
  }
  Reply r = c.request(http::verb::get, "/v1/things/a%20b?q=x+y&z");
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.json()["id"], "a b");
  EXPECT_EQ(r.json()["q"], "x y");
  EXPECT_EQ(r.json()["who"], "loopback");
  EXPECT_EQ(r.header("Content-Type"), "application/json");
  EXPECT_EQ(server_->stats().connections, 1u);
}

TEST_F(ServerTest, PipelinedRequestsAnsweredInOrder) {
  start();
  Client c(port_);
  c.send("GET /v1/things/1 HTTP/1.1\r\nHost: x\r\n\r\n"
         "GET /v1/things/2 HTTP/1.1\r\nHost: x\r\n\r\n");
  auto a = c.read();
  auto b = c.read();
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->json()["id"], "1");
  EXPECT_EQ(b->json()["id"], "2");
}

TEST_F(ServerTest, HeadHasLengthButNoBody) {
  start();
  Client c(port_);
  Reply r = c.request(http::verb::head, "/healthz");
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.header("Content-Length"), "3");
  EXPECT_EQ(r.body, "");
  // The connection is still in step: the next answer parses.
  EXPECT_EQ(c.request(http::verb::get, "/healthz").body, "ok\n");
}

TEST_F(ServerTest, NotFoundAndMethodNotAllowed) {
  start();
  Client c(port_);
  Reply r = c.request(http::verb::get, "/v1/nothing");
  EXPECT_EQ(r.status, 404u);
  EXPECT_EQ(r.error_code(), "not_found");
  EXPECT_EQ(r.error_message(), "no such endpoint: /v1/nothing");
  r = c.request(http::verb::delete_, "/v1/things/a");
  EXPECT_EQ(r.status, 405u);
  EXPECT_EQ(r.error_code(), "method_not_allowed");
  EXPECT_EQ(r.header("Allow"), "GET, PUT, HEAD");
  r = c.request(http::verb::get, "/v1/things/%zz");
  EXPECT_EQ(r.status, 400u);
  // Still serving on the same connection.
  EXPECT_EQ(c.request(http::verb::get, "/healthz").status, 200u);
}

TEST_F(ServerTest, HandlerErrors) {
  start();
  Reply r = get("/v1/throw");
  EXPECT_EQ(r.status, 500u);
  EXPECT_EQ(r.error_code(), "internal");
  EXPECT_EQ(r.error_message(), "internal error: boom");
  r = get("/v1/conflict");
  EXPECT_EQ(r.status, 409u);
  EXPECT_EQ(r.error_code(), "exists");
  EXPECT_EQ(r.error_message(), "already there");
}

TEST_F(ServerTest, JsonBodyErrors) {
  start();
  Client c(port_);
  Reply r = c.request(http::verb::put, "/v1/things/a", R"({"x": 1)");
  EXPECT_EQ(r.status, 400u);
  EXPECT_EQ(r.error_code(), "invalid_json");
  EXPECT_NE(r.error_message().find("line 1, column 8"), std::string::npos) << r.body;
  r = c.request(http::verb::put, "/v1/things/a", "x=1",
                {{"Content-Type", "application/x-www-form-urlencoded"}});
  EXPECT_EQ(r.status, 415u);
  r = c.request(http::verb::put, "/v1/things/a", R"({"x": 1})");
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.json()["body"]["x"], 1);
}

TEST_F(ServerTest, TokensReadAndWrite) {
  start(tokens());
  Client c(port_);
  // Public without a token.
  EXPECT_EQ(c.request(http::verb::get, "/healthz").status, 200u);

  Reply r = c.request(http::verb::get, "/v1/things/a");
  EXPECT_EQ(r.status, 401u);
  EXPECT_EQ(r.error_code(), "unauthorized");
  EXPECT_EQ(r.header("WWW-Authenticate"), "Bearer realm=\"steerdns\"");
  r = c.request(http::verb::get, "/v1/things/a", "", {{"Authorization", "Bearer wrong"}});
  EXPECT_EQ(r.status, 401u);
  EXPECT_EQ(r.error_message(), "invalid token");

  r = c.request(http::verb::get, "/v1/things/a", "", {{"Authorization", "Bearer ro-secret"}});
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.json()["who"], "viewer");

  // A write with the read-only token: 403, and the body was read so the connection goes on.
  r = c.request(http::verb::put, "/v1/things/a", R"({"x": 1})",
                {{"Authorization", "Bearer ro-secret"}});
  EXPECT_EQ(r.status, 403u);
  EXPECT_EQ(r.error_code(), "forbidden");
  EXPECT_EQ(r.error_message(),
            "token 'viewer' is read-only; PUT /v1/things/a needs a read-write token");

  Client w(port_);
  r = w.request(http::verb::put, "/v1/things/a", R"({"x": 1})",
                {{"Authorization", "Bearer rw-secret"}});
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.json()["who"], "ops");
}

TEST_F(ServerTest, NonLoopbackWithoutCredentialsRefused) {
  ServerOptions o;
  o.listen = "0.0.0.0:0";
  Server s(o, Auth(), Router());
  auto st = s.start();
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().find("not a loopback address and no credentials are configured"),
            std::string::npos)
      << st.error();
  // With a token it may listen anywhere.
  Server s2(o, tokens(), Router());
  ASSERT_TRUE(s2.start());
  s2.stop();
}

TEST_F(ServerTest, BadListenAddresses) {
  for (const char* bad : {"127.0.0.1", "127.0.0.1:99999", "::1:80", "[127.0.0.1]:80",
                          "localhost:80", "127.0.0.1:x"}) {
    ServerOptions o;
    o.listen = bad;
    Server s(o, Auth(), Router());
    auto st = s.start();
    EXPECT_FALSE(st) << bad;
  }
  auto ep = parse_listen("[::1]:8053");
  ASSERT_TRUE(ep);
  EXPECT_EQ(ep->address, "::1");
  EXPECT_EQ(ep->port, 8053);
  EXPECT_TRUE(ep->loopback);
  EXPECT_TRUE(parse_listen("127.0.0.9:1")->loopback);
  EXPECT_FALSE(parse_listen("10.0.0.1:1")->loopback);
}

TEST_F(ServerTest, PortInUseIsAnError) {
  start();
  ServerOptions o;
  o.listen = "127.0.0.1:" + std::to_string(port_);
  Server s(o, Auth(), Router());
  auto st = s.start();
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().find("cannot bind"), std::string::npos) << st.error();
}

TEST_F(ServerTest, BodyTooLarge) {
  ServerOptions o;
  o.max_body_bytes = 1000;
  start(Auth(), o);
  {
    // Declared too big: 413 before the body is read, then the connection closes.
    Client c(port_);
    c.send("PUT /v1/things/a HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           "Content-Length: 5000\r\n\r\n");
    auto r = c.read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 413u);
    EXPECT_EQ(r->error_code(), "payload_too_large");
    EXPECT_EQ(r->error_message(),
              "request body of 5000 bytes exceeds the limit of 1000 bytes");
    EXPECT_FALSE(r->msg.keep_alive());
    EXPECT_TRUE(c.closed_within(3s));
  }
  {
    // Chunked, no length: cut when it passes the limit.
    Client c(port_);
    std::string chunk(600, 'x');
    c.send("PUT /v1/things/a HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           "Transfer-Encoding: chunked\r\n\r\n258\r\n" + chunk + "\r\n258\r\n" + chunk +
           "\r\n0\r\n\r\n");
    auto r = c.read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 413u);
  }
  EXPECT_EQ(get("/healthz").status, 200u);
}

TEST_F(ServerTest, HeaderTooLarge) {
  ServerOptions o;
  o.max_header_bytes = 2048;
  start(Auth(), o);
  Client c(port_);
  c.send("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(4000, 'a') + "\r\n\r\n");
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 431u);
  EXPECT_EQ(r->error_code(), "header_too_large");
  EXPECT_EQ(get("/healthz").status, 200u);
}

TEST_F(ServerTest, GarbageGets400AndServerKeepsServing) {
  start();
  for (const std::string& garbage :
       {std::string("GARBAGE\r\n\r\n"), std::string("GET / HTTP/9.9\r\n\r\n"),
        std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11),
        std::string("GET /healthz HTTP/1.1\r\nBad Header\r\n\r\n"),
        std::string("GET http://example.com/healthz HTTP/1.1\r\nHost: x\r\n\r\n")}) {
    Client c(port_);
    c.send(garbage);
    auto r = c.read();
    ASSERT_TRUE(r) << garbage << ": " << c.last_error().message();
    EXPECT_EQ(r->status, 400u) << garbage;
    EXPECT_EQ(r->error_code(), "bad_request");
    EXPECT_TRUE(c.closed_within(3s));
  }
  EXPECT_GE(server_->stats().bad_requests, 5u);
  EXPECT_EQ(get("/healthz").status, 200u);
}

TEST_F(ServerTest, SlowlorisIsCutAtTheHeaderTimeout) {
  ServerOptions o;
  o.header_timeout_ms = 300;
  start(Auth(), o);
  Client slow(port_);
  slow.send("GET /healthz HTTP/1.1\r\nHost: x\r\n");
  auto t0 = std::chrono::steady_clock::now();
  // Drip a header line every 50 ms: activity does not extend the deadline.
  bool cut = false;
  for (int i = 0; i < 60 && !cut; ++i) {
    cut = !slow.try_send("X-" + std::to_string(i) + ": y\r\n");
    if (!cut) {
      cut = slow.closed_within(50ms);
    }
  }
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_TRUE(cut);
  EXPECT_LT(took, 2s);
  // Beast closes the socket when its timer fires and runs the handler that counts it after:
  // the client can see the close first.
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (server_->stats().timeouts < 1u && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_GE(server_->stats().timeouts, 1u);
  // Meanwhile others are served.
  EXPECT_EQ(get("/healthz").status, 200u);
}

TEST_F(ServerTest, IdleKeepAliveClosed) {
  ServerOptions o;
  o.idle_timeout_ms = 200;
  start(Auth(), o);
  Client c(port_);
  EXPECT_EQ(c.request(http::verb::get, "/healthz").status, 200u);
  EXPECT_TRUE(c.closed_within(3s));
}

TEST_F(ServerTest, ConnectionCap) {
  ServerOptions o;
  o.max_connections = 2;
  start(Auth(), o);
  Client a(port_);
  Client b(port_);
  EXPECT_EQ(a.request(http::verb::get, "/healthz").status, 200u);
  EXPECT_EQ(b.request(http::verb::get, "/healthz").status, 200u);
  Client c(port_);
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503u);
  EXPECT_EQ(r->error_code(), "unavailable");
  EXPECT_EQ(server_->stats().rejected, 1u);
  // The first two are still served; once one leaves, a new client gets in.
  EXPECT_EQ(a.request(http::verb::get, "/healthz").status, 200u);
  b.close();
  auto deadline = std::chrono::steady_clock::now() + 3s;
  unsigned status = 0;
  while (status != 200 && std::chrono::steady_clock::now() < deadline) {
    Client d(port_);
    d.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    auto rd = d.read();
    status = rd ? rd->status : 0;
  }
  EXPECT_EQ(status, 200u);
}

TEST_F(ServerTest, ExpectContinue) {
  start();
  Client c(port_);
  c.send("PUT /v1/things/a HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
         "Content-Length: 8\r\nExpect: 100-continue\r\n\r\n");
  auto interim = c.read();
  ASSERT_TRUE(interim);
  EXPECT_EQ(interim->status, 100u);
  c.send(R"({"x": 1})");
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200u);
}

TEST_F(ServerTest, Http10ClosesAfterTheAnswer) {
  start();
  Client c(port_);
  c.send("GET /healthz HTTP/1.0\r\n\r\n");
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200u);
  EXPECT_EQ(r->msg.version(), 10u);
  EXPECT_TRUE(c.closed_within(3s));
}

TEST_F(ServerTest, StopClosesOpenConnections) {
  start();
  Client c(port_);
  EXPECT_EQ(c.request(http::verb::get, "/healthz").status, 200u);
  server_->stop();
  EXPECT_TRUE(c.closed_within(3s));
  server_->stop();  // idempotent
}

}  // namespace
}  // namespace steerdns::api
