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
// Handlers run on the server's io thread, one at a time: they must not block for long (hand
// slow work to another thread and answer 202, or keep it short).
//
// TLS: not built yet. The seam is Session (server.cc), which does all its I/O on a
// beast::tcp_stream; making it a template over the stream type and adding a handshake step
// with beast::ssl_stream<beast::tcp_stream> (OpenSSL) gives HTTPS, plus ServerOptions for the
// certificate and key.
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
  int idle_timeout_ms = 30000;    // keep-alive: wait this long for the next request to start
  int header_timeout_ms = 5000;   // the rest of the header once its first byte arrived
  int body_timeout_ms = 30000;    // the whole body once the header is in
  int write_timeout_ms = 30000;   // the whole response
  int max_connections = 256;
};

struct ServerStats {
  uint64_t connections = 0;  // accepted and served
  uint64_t rejected = 0;     // over max_connections
  uint64_t requests = 0;     // handled (any status)
  uint64_t bad_requests = 0; // unparsable requests (400/431)
  uint64_t timeouts = 0;     // connections cut by a timeout
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

  // Binds, listens and starts the io thread. Errors (nothing left running): a malformed
  // address, a non-loopback address without credentials, an address that cannot be bound
  // (in use, not local, no permission).
  Status start();
  // Closes the listener and every connection, then joins the io thread. Idempotent.
  void stop();

  uint16_t port() const;
  std::string address() const;  // "127.0.0.1:8053" / "[::1]:8053", the bound port
  ServerStats stats() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace steerdns::api
