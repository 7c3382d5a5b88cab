#pragma once
// The HTTP/1.1 API server (Boost.Beast on Asio): one io thread of its own, never a DNS worker.
// Keep-alive, routes from a Router, bearer-token Auth, and limits so that bad or slow clients
// cost little and never block the others: header and body size caps, an idle timeout between
// requests, a header timeout once a request started (slowloris), body and write timeouts, and
// a cap on concurrent connections (more get 503 and are closed).
//
// Request handling, in order: read the header -> route (404 unknown path, 405 wrong method,
// with Allow) -> authenticate (401, 403 read-only token on a write) -> size check (413) ->
// read the body -> handler. Errors are JSON {"error": {"code", "message"}}. A request that
// cannot be parsed gets 400 naming the problem and the connection is closed; other
// connections are unaffected. Every write (a method other than GET/HEAD) is logged with the
// token's name, the peer and the status (audit).
//
// Handlers run on a small pool of their own (ServerOptions::handler_threads), never on the io
// thread: the response is posted back to the connection, so a handler that waits (a durable
// commit, ?wait for INSYNC) holds up only its own connection. One request per connection is
// in a handler at a time (HTTP/1.1 answers in order).
//
// TLS: with tls_cert_file and tls_key_file set the server speaks HTTPS only (OpenSSL via
// beast::ssl_stream; TLS 1.2 or newer); the handshake counts against header_timeout_ms.
//
// Threading: start() and stop() from one owning thread; port()/address() after a successful
// start(); stats() from any thread.
#include <cstdint>
#include <memory>
#include <string>

#include "api/auth.h"
#include "api/router.h"
#include "core/result.h"

namespace steerdns::api {

struct ServerOptions {
  std::string listen = "127.0.0.1:8053";  // ADDR:PORT or [V6ADDR]:PORT; port 0 = any (tests)
  size_t max_header_bytes = 16 * 1024;    // request line + headers; more gets 431
  size_t max_body_bytes = 4 * 1024 * 1024;
  int idle_timeout_ms = 30000;   // keep-alive: wait this long for the next request to start
  int header_timeout_ms = 5000;  // the rest of the header once its first byte arrived
  int body_timeout_ms = 30000;   // the whole body once the header is in
  int write_timeout_ms = 30000;  // the whole response
  int max_connections = 256;
  // The pool handlers run on. Writers block in it until their batch is durable, and batches
  // that wait together are committed together (group commit): the pool size bounds how many.
  int handler_threads = 64;
  // HTTPS: a PEM certificate chain and its PEM private key. Both or neither.
  std::string tls_cert_file;
  std::string tls_key_file;
  // Credentials that routes check by themselves (the Route 53 access key ids, for the startup
  // log). Non-empty also allows a non-loopback address without bearer tokens: those routes
  // then refuse unsigned clients, and the token routes refuse every non-loopback client.
  std::string other_credentials;
};

struct ServerStats {
  uint64_t connections = 0;   // accepted and served
  uint64_t rejected = 0;      // over max_connections
  uint64_t requests = 0;      // handled (any status)
  uint64_t bad_requests = 0;  // unparsable requests (400/431)
  uint64_t timeouts = 0;      // connections cut by a timeout
  // Responses sent, by status class (they add up to `requests`). Connections turned away
  // over max_connections are in `rejected` only: no request was read.
  uint64_t responses_1xx_3xx = 0;
  uint64_t responses_2xx = 0;
  uint64_t responses_4xx = 0;
  uint64_t responses_5xx = 0;
};

// Parses ADDR:PORT / [V6]:PORT. Errors say what is wrong with `text`.
struct ListenEndpoint {
  std::string address;  // "127.0.0.1", "::1"
  uint16_t port = 0;
  bool loopback = false;
};
Result<ListenEndpoint> parse_listen(std::string_view text);

class Server {
 public:
  // Adds GET /healthz (public, 200 "ok") unless the router has it already.
  Server(ServerOptions opts, Auth auth, Router router);
  ~Server();  // stop()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Loads the TLS certificate and key (if any), binds, listens and starts the io thread and
  // the handler pool. Errors (nothing left running): a malformed address, a non-loopback
  // address without credentials, a certificate or key that cannot be read or do not match
  // (the message names the file), an address that cannot be bound (in use, not local, no
  // permission).
  Status start();
  // Closes the listener and every connection, joins the io thread, then waits for handlers
  // still running (their answers are dropped). Idempotent.
  void stop();

  uint16_t port() const;
  std::string address() const;  // "127.0.0.1:8053" / "[::1]:8053", the bound port
  bool tls() const;
  ServerStats stats() const;

  struct Impl;

 private:
  Status load_tls();

  std::unique_ptr<Impl> impl_;
};

}  // namespace steerdns::api
