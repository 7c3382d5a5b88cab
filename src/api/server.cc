#include "api/server.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <exception>
#include <fstream>
#include <limits>
#include <optional>
#include <thread>
#include <type_traits>
#include <unordered_set>

#include "core/thread_priority.h"
#include "core/version.h"

namespace steerdns::api {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;
using boost::system::error_code;

namespace {

constexpr size_t kReadChunk = 4096;
// After an answer that leaves part of a request unread (an early 401/413 or a parse error) the
// rest is read and thrown away for a moment before closing: closing with unread data makes the
// kernel send a reset, which can destroy our answer before the client reads it.
constexpr auto kLingerTime = std::chrono::seconds(2);
constexpr size_t kLingerBytes = size_t{1} << 20;
constexpr auto kRejectTime = std::chrono::seconds(1);

bool is_loopback(const asio::ip::address& a) {
  if (a.is_v4()) {
    return a.to_v4().is_loopback();
  }
  auto v6 = a.to_v6();
  if (v6.is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, v6).is_loopback();
  }
  return v6.is_loopback();
}

std::string endpoint_text(const tcp::endpoint& ep) {
  if (ep.address().is_v6()) {
    return "[" + ep.address().to_string() + "]:" + std::to_string(ep.port());
  }
  return ep.address().to_string() + ":" + std::to_string(ep.port());
}

bool is_write(http::verb v) { return v != http::verb::get && v != http::verb::head; }

std::chrono::milliseconds ms(int v) { return std::chrono::milliseconds(v); }

std::string_view sv(beast::string_view v) { return {v.data(), v.size()}; }

}  // namespace

Result<ListenEndpoint> parse_listen(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return Error{"listen address '" + std::string(text) + "': " + why};
  };
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    return bad("expected ADDR:PORT, e.g. 127.0.0.1:8053 or [::1]:8053");
  }
  std::string_view host = text.substr(0, colon);
  std::string_view port_text = text.substr(colon + 1);
  bool bracketed = host.size() >= 2 && host.front() == '[' && host.back() == ']';
  if (bracketed) {
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    return bad("put an IPv6 address in brackets, e.g. [::1]:8053");
  }
  if (port_text.empty() || port_text.size() > 5 ||
      port_text.find_first_not_of("0123456789") != std::string_view::npos) {
    return bad("port must be a number from 0 to 65535");
  }
  unsigned long port = std::stoul(std::string(port_text));
  if (port > 65535) {
    return bad("port must be a number from 0 to 65535");
  }
  error_code ec;
  auto addr = asio::ip::make_address(std::string(host), ec);
  if (ec || host.empty()) {
    return bad("'" + std::string(host) + "' is not an IP address");
  }
  if (addr.is_v6() != bracketed) {
    return bad("only IPv6 addresses go in brackets");
  }
  return ListenEndpoint{addr.to_string(), static_cast<uint16_t>(port), is_loopback(addr)};
}

// What the server needs of a connection of either kind (plain or TLS).
class SessionBase {
 public:
  virtual ~SessionBase() = default;
  virtual void close() = 0;
};

struct Server::Impl {
  Impl(ServerOptions o, Auth a, Router r)
      : opts(std::move(o)), auth(std::move(a)), router(std::move(r)) {}

  void accept();
  void reject(tcp::socket sock);

  ServerOptions opts;
  Auth auth;
  Router router;
  std::atomic<uint64_t> connections{0};
  std::atomic<uint64_t> rejected{0};
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> bad_requests{0};
  std::atomic<uint64_t> timeouts{0};
  std::atomic<uint64_t> responses_other{0};  // 1xx and 3xx (none today)
  std::atomic<uint64_t> responses_2xx{0};
  std::atomic<uint64_t> responses_4xx{0};
  std::atomic<uint64_t> responses_5xx{0};
  std::unordered_set<SessionBase*> sessions;  // io thread only
  tcp::endpoint bound;
  std::optional<ssl::context> tls;  // set by start() when HTTPS is configured
  std::thread thread;
  // Handlers run here; joined by stop() before the io_context goes (a finished handler posts
  // its response to the io thread).
  std::optional<asio::thread_pool> pool;
  // Declared after everything sessions touch: destroying the io_context destroys pending
  // handlers, and with them the sessions.
  asio::io_context io{1};
  std::optional<tcp::acceptor> acceptor;
  asio::steady_timer accept_retry{io};
};

// One connection: reads requests one after the other (keep-alive), answers each, and closes
// on an error, a timeout, or when either side asked to. Lives in the shared_ptrs its pending
// operations (and a running handler) hold. Stream: beast::tcp_stream, or TlsStream over one.
template <class Stream>
class Session : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

 public:
  Session(Server::Impl& s, tcp::socket sock) : s_(s), stream_(make_stream(s, std::move(sock))) {
    error_code ec;
    auto ep = tcp_layer().socket().remote_endpoint(ec);
    remote_ = ec ? std::string("?") : endpoint_text(ep);
    loopback_ = !ec && is_loopback(ep.address());
    s_.sessions.insert(this);
  }
  ~Session() override { s_.sessions.erase(this); }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void start() {
    if constexpr (kTls) {
      // The handshake is part of the request's start: bounded like a header.
      tcp_layer().expires_after(ms(opts().header_timeout_ms));
      stream_.async_handshake(
          ssl::stream_base::server, [self = this->shared_from_this()](error_code ec) {
            if (ec) {
              if (ec == beast::error::timeout) {
                ++self->s_.timeouts;
              }
              spdlog::debug("api: {}: TLS handshake failed: {}", self->remote_, ec.message());
              return;
            }
            self->read_request();
          });
    } else {
      read_request();
    }
  }

  // Server shutdown: pending operations complete with operation_aborted.
  void close() override {
    error_code ec;
    tcp_layer().socket().shutdown(tcp::socket::shutdown_both, ec);
    tcp_layer().close();
  }

 private:
  static Stream make_stream(Server::Impl& s, tcp::socket sock) {
    if constexpr (kTls) {
      return Stream(std::move(sock), *s.tls);
    } else {
      return Stream(std::move(sock));
    }
  }
  beast::tcp_stream& tcp_layer() { return beast::get_lowest_layer(stream_); }
  std::shared_ptr<Session> self() { return this->shared_from_this(); }

  const ServerOptions& opts() const { return s_.opts; }

  void read_request() {
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(opts().max_header_bytes));
    // No body limit while the header is read: the declared length is checked after routing
    // and auth (so the 413 names it), and the limit is set before the body is read.
    // (Not boost::none: Beast 1.74 then rejects every Content-Length.)
    parser_->body_limit(std::numeric_limits<uint64_t>::max());
    if (buffer_.size() > 0) {
      read_header();  // the next request (pipelined) has started already
      return;
    }
    // Idle between requests: wait for the first byte with the (longer) idle timeout.
    tcp_layer().expires_after(ms(opts().idle_timeout_ms));
    stream_.async_read_some(buffer_.prepare(kReadChunk), [self = self()](error_code ec, size_t n) {
      if (ec) {
        return;  // closed, idle too long, or shutting down
      }
      self->buffer_.commit(n);
      self->read_header();
    });
  }

  void read_header() {
    tcp_layer().expires_after(ms(opts().header_timeout_ms));
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = self()](error_code ec, size_t) { self->on_header(ec); });
  }

  void on_header(error_code ec) {
    if (ec) {
      if (ec == beast::error::timeout) {
        ++s_.timeouts;
        spdlog::debug("api: {}: request header not complete within {} ms; closed", remote_,
                      opts().header_timeout_ms);
        return;
      }
      if (ec == http::error::end_of_stream || ec == asio::error::eof ||
          ec == asio::error::connection_reset || ec == asio::error::operation_aborted ||
          ec == ssl::error::stream_truncated) {
        return;
      }
      ++s_.bad_requests;
      if (ec == http::error::header_limit) {
        send_error(431,
                   "request header exceeds " + std::to_string(opts().max_header_bytes) + " bytes",
                   true);
        return;
      }
      send_error(400, "malformed HTTP request: " + ec.message(), true);
      return;
    }
    const RawRequest& raw = parser_->get();
    version_ = raw.version();
    keep_alive_ = raw.keep_alive();
    head_ = raw.method() == http::verb::head;
    bool has_body = !parser_->is_done();
    // From here on, an answer before the body was read must close the connection.
    bool close_early = has_body;
    req_ = Request{};
    req_.method = raw.method();
    req_.target = std::string(sv(raw.target()));
    req_.remote = remote_;
    method_text_ = std::string(sv(raw.method_string()));
    if (req_.target.empty() || req_.target.front() != '/') {
      ++s_.bad_requests;
      send_error(400, "request target '" + req_.target + "' must be a path starting with '/'",
                 true);
      return;
    }
    size_t q = req_.target.find('?');
    req_.path = req_.target.substr(0, q);
    if (q != std::string::npos) {
      if (auto st = parse_query(std::string_view(req_.target).substr(q + 1)); !st) {
        send_error(400, st.error(), close_early);
        return;
      }
    }
    auto m = s_.router.match(req_.method, req_.path);
    if (m.kind == Router::Match::kBadPath) {
      send_error(400, m.error, close_early);
      return;
    }
    if (m.kind == Router::Match::kNoPath) {
      send_error(404, "no such endpoint: " + req_.path, close_early);
      return;
    }
    if (m.kind == Router::Match::kNoMethod) {
      std::string allow;
      for (auto v : m.allowed) {
        allow += (allow.empty() ? "" : ", ") + method_name(v);
      }
      Response r = error_response(405, "method_not_allowed",
                                  "method " + method_text_ + " is not allowed on " + req_.path +
                                      " (allowed: " + allow + ")");
      r.headers.emplace_back("Allow", allow);
      send(std::move(r), close_early);
      return;
    }
    route_ = m.route;
    req_.params = std::move(m.params);
    if (route_->access != Access::kPublic && route_->access != Access::kCustom) {
      try {
        req_.principal = s_.auth.authenticate(sv(raw[http::field::authorization]), loopback_);
      } catch (const HttpError& e) {
        Response r = error_response(e.status(), e.code(), e.what());
        if (e.status() == 401) {
          r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"steerdns\"");
        }
        audit(r.status);
        send(std::move(r), close_early);
        return;
      }
      if (route_->access == Access::kWrite && !req_.principal.can_write) {
        audit(403);
        send_error(403,
                   "token '" + req_.principal.name + "' is read-only; " + method_text_ + " " +
                       req_.path + " needs a read-write token",
                   close_early);
        return;
      }
    }
    if (auto len = parser_->content_length(); len && *len > opts().max_body_bytes) {
      send_error(413,
                 "request body of " + std::to_string(*len) + " bytes exceeds the limit of " +
                     std::to_string(opts().max_body_bytes) + " bytes",
                 true);
      return;
    }
    if (!has_body) {
      handle();
      return;
    }
    auto expect = raw[http::field::expect];
    if (beast::iequals(expect, "100-continue")) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      tcp_layer().expires_after(ms(opts().write_timeout_ms));
      asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()),
                        [self = self()](error_code wec, size_t) {
                          if (!wec) {
                            self->read_body();
                          }
                        });
      return;
    }
    read_body();
  }

  void read_body() {
    parser_->body_limit(static_cast<uint64_t>(opts().max_body_bytes));
    tcp_layer().expires_after(ms(opts().body_timeout_ms));
    http::async_read(stream_, buffer_, *parser_,
                     [self = self()](error_code ec, size_t) { self->on_body(ec); });
  }

  void on_body(error_code ec) {
    if (ec) {
      if (ec == beast::error::timeout) {
        ++s_.timeouts;
        spdlog::debug("api: {}: request body not complete within {} ms; closed", remote_,
                      opts().body_timeout_ms);
        return;
      }
      if (ec == http::error::end_of_stream || ec == asio::error::eof ||
          ec == asio::error::connection_reset || ec == asio::error::operation_aborted ||
          ec == ssl::error::stream_truncated) {
        return;
      }
      if (ec == http::error::body_limit) {
        send_error(
            413,
            "request body exceeds the limit of " + std::to_string(opts().max_body_bytes) + " bytes",
            true);
        return;
      }
      ++s_.bad_requests;
      send_error(400, "malformed HTTP request body: " + ec.message(), true);
      return;
    }
    handle();
  }

  // The handler runs on the pool; nothing else touches req_ or parser_ meanwhile (no read is
  // pending). Its response comes back to the io thread to be written.
  void handle() {
    req_.raw = &parser_->get();
    asio::post(*s_.pool, [self = self()]() mutable {
      thread_local bool named = (make_background_thread("sd-api"), true);
      (void)named;
      Response r;
      try {
        r = self->route_->handler(self->req_);
      } catch (const HttpError& e) {
        r = error_response(e.status(), e.code(), e.what());
      } catch (const std::exception& e) {
        spdlog::error("api: {} {}: handler failed: {}", self->method_text_, self->req_.target,
                      e.what());
        r = error_response(500, "internal", std::string("internal error: ") + e.what());
      }
      self->audit(r.status);
      // The session moves along: its last reference must not drop on this thread (~Session
      // touches the io thread's session set).
      auto ex = self->stream_.get_executor();
      asio::post(ex, [self = std::move(self), r = std::move(r)]() mutable {
        self->send(std::move(r), false);
      });
    });
  }

  // Writes are logged with the token's name (audit); reads are not.
  void audit(unsigned status) {
    if (!is_write(req_.method)) {
      return;
    }
    spdlog::info("api: {} {} by '{}' from {} -> {}", method_text_, req_.target,
                 req_.principal.name.empty() ? "-" : req_.principal.name, remote_, status);
  }

  Status parse_query(std::string_view qs) {
    size_t start = 0;
    while (start <= qs.size()) {
      size_t amp = qs.find('&', start);
      std::string_view part =
          qs.substr(start, amp == std::string_view::npos ? std::string_view::npos : amp - start);
      if (!part.empty()) {
        size_t eq = part.find('=');
        auto k = percent_decode(part.substr(0, eq), true);
        auto v = percent_decode(eq == std::string_view::npos ? "" : part.substr(eq + 1), true);
        if (!k || !v) {
          return Error{"query parameter '" + std::string(part) + "': bad percent-escape"};
        }
        req_.query.emplace(std::move(*k), std::move(*v));
      }
      if (amp == std::string_view::npos) {
        break;
      }
      start = amp + 1;
    }
    return OkStatus();
  }

  void send_error(unsigned status, const std::string& message, bool close_after) {
    send(error_response(status, error_code_for(status), message), close_after);
  }

  void send(Response r, bool close_after) {
    ++s_.requests;
    switch (r.status / 100) {
      case 2:
        ++s_.responses_2xx;
        break;
      case 4:
        ++s_.responses_4xx;
        break;
      case 5:
        ++s_.responses_5xx;
        break;
      default:
        ++s_.responses_other;
        break;
    }
    res_ = {};
    res_.version(version_ == 10 ? 10 : 11);
    res_.result(r.status);
    res_.set(http::field::server, std::string("steerdns/") + kVersion);
    res_.set(http::field::content_type, r.content_type);
    for (auto& [name, value] : r.headers) {
      res_.set(name, value);
    }
    res_.keep_alive(keep_alive_ && !close_after);
    if (head_) {
      res_.content_length(r.body.size());  // what GET would send, without the body
    } else {
      res_.body() = std::move(r.body);
      res_.prepare_payload();
    }
    tcp_layer().expires_after(ms(opts().write_timeout_ms));
    http::async_write(stream_, res_, [self = self()](error_code ec, size_t) {
      if (ec) {
        return;
      }
      if (!self->res_.keep_alive()) {
        self->linger();
        return;
      }
      self->read_request();
    });
  }

  // Done with this connection: stop sending, read and drop what the client still sends until
  // it closes (or a short time passes), then close.
  void linger() {
    if constexpr (kTls) {
      // close_notify, then wait (briefly) for the client's before closing.
      tcp_layer().expires_after(kLingerTime);
      stream_.async_shutdown([self = self()](error_code) { self->tcp_layer().close(); });
    } else {
      error_code ec;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
      stream_.expires_after(kLingerTime);
      drain();
    }
  }

  void drain() {
    buffer_.consume(buffer_.size());
    stream_.async_read_some(buffer_.prepare(kReadChunk), [self = self()](error_code ec, size_t n) {
      self->drained_ += n;
      if (ec || self->drained_ > kLingerBytes) {
        self->tcp_layer().close();
        return;
      }
      self->drain();
    });
  }

  Server::Impl& s_;
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> res_;
  Request req_;
  const Route* route_ = nullptr;
  std::string remote_;
  std::string method_text_;
  bool loopback_ = false;
  unsigned version_ = 11;
  bool keep_alive_ = true;
  bool head_ = false;
  size_t drained_ = 0;
};

void Server::Impl::accept() {
  acceptor->async_accept([this](error_code ec, tcp::socket sock) {
    if (ec == asio::error::operation_aborted) {
      return;
    }
    if (ec) {
      // Out of descriptors and the like: try again shortly rather than spin.
      spdlog::warn("api: accept: {}", ec.message());
      accept_retry.expires_after(std::chrono::milliseconds(100));
      accept_retry.async_wait([this](error_code tec) {
        if (!tec) {
          accept();
        }
      });
      return;
    }
    if (sessions.size() >= static_cast<size_t>(opts.max_connections)) {
      reject(std::move(sock));
    } else if (tls) {
      ++connections;
      std::make_shared<Session<TlsStream>>(*this, std::move(sock))->start();
    } else {
      ++connections;
      std::make_shared<Session<beast::tcp_stream>>(*this, std::move(sock))->start();
    }
    accept();
  });
}

void Server::Impl::reject(tcp::socket sock) {
  ++rejected;
  if (tls) {
    // No TLS handshake just to say no: close.
    error_code ec;
    sock.shutdown(tcp::socket::shutdown_both, ec);
    sock.close(ec);
    return;
  }
  struct Reject {
    beast::tcp_stream stream;
    std::string text;
  };
  std::string body = R"({"error":{"code":"unavailable","message":"too many connections"}})";
  body += '\n';
  auto r = std::make_shared<Reject>(Reject{beast::tcp_stream(std::move(sock)), ""});
  r->text =
      "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
      "Connection: close\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  r->stream.expires_after(kRejectTime);
  asio::async_write(r->stream, asio::buffer(r->text), [r](error_code, size_t) {
    error_code ec;
    r->stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    r->stream.close();
  });
}

Server::Server(ServerOptions opts, Auth auth, Router router) {
  bool has_healthz = false;
  for (const auto& r : router.routes()) {
    has_healthz = has_healthz || (r.method == http::verb::get && r.pattern == "/healthz");
  }
  if (!has_healthz) {
    // Answers while the io thread serves: load balancers and `curl -f` probes use it.
    router.add(http::verb::get, "/healthz", Access::kPublic,
               [](const Request&) { return text_response(200, "ok\n"); });
  }
  impl_ = std::make_unique<Impl>(std::move(opts), std::move(auth), std::move(router));
}

Server::~Server() { stop(); }

Status Server::start() {
  Impl& s = *impl_;
  if (s.thread.joinable()) {
    return Error{"API server already started"};
  }
  auto ep = parse_listen(s.opts.listen);
  if (!ep) {
    return Error{"API " + ep.error()};
  }
  if (!ep->loopback && !s.auth.has_credentials() && s.opts.other_credentials.empty()) {
    return Error{"API on " + s.opts.listen +
                 ": not a loopback address and no credentials are configured; set "
                 "STEERDNS_API_TOKEN (and STEERDNS_API_READ_TOKEN for read-only access) or "
                 "STEERDNS_ACCESS_KEY_ID/STEERDNS_SECRET_ACCESS_KEY, or listen on 127.0.0.1"};
  }
  if (s.opts.handler_threads < 1) {
    return Error{"API: handler_threads must be at least 1, got " +
                 std::to_string(s.opts.handler_threads)};
  }
  if (auto st = load_tls(); !st) {
    return st;
  }
  tcp::endpoint endpoint(asio::ip::make_address(ep->address), ep->port);
  s.acceptor.emplace(s.io);
  error_code ec;
  auto fail = [&](const char* what) {
    s.acceptor.reset();
    return Error{"API on " + s.opts.listen + ": " + what + ": " + ec.message()};
  };
  if (s.acceptor->open(endpoint.protocol(), ec); ec) {
    return fail("cannot open a socket");
  }
  s.acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
  if (endpoint.address().is_v6()) {
    s.acceptor->set_option(asio::ip::v6_only(true), ec);
  }
  if (s.acceptor->bind(endpoint, ec); ec) {
    return fail("cannot bind");
  }
  if (s.acceptor->listen(asio::socket_base::max_listen_connections, ec); ec) {
    return fail("cannot listen");
  }
  s.bound = s.acceptor->local_endpoint(ec);
  s.pool.emplace(static_cast<size_t>(s.opts.handler_threads));
  s.accept();
  s.thread = std::thread([&s] {
    make_background_thread("sd-api-io");
    for (;;) {
      try {
        s.io.run();
        return;
      } catch (const std::exception& e) {
        // Not expected (handlers catch their errors); keep serving rather than go deaf.
        spdlog::error("api: io thread: {}", e.what());
      }
    }
  });
  const char* scheme = s.tls ? "https" : "http";
  std::string creds;
  if (s.auth.has_credentials()) {
    creds = "tokens: " + s.auth.describe();
  }
  if (!s.opts.other_credentials.empty()) {
    creds += (creds.empty() ? "" : "; ") + s.opts.other_credentials;
  }
  if (!creds.empty()) {
    spdlog::info("API on {}://{} ({})", scheme, address(), creds);
  } else {
    spdlog::info("API on {}://{} without credentials (loopback clients only)", scheme, address());
  }
  return OkStatus();
}

void Server::stop() {
  if (!impl_ || !impl_->thread.joinable()) {
    return;
  }
  Impl& s = *impl_;
  asio::post(s.io, [&s] {
    error_code ec;
    s.acceptor->close(ec);
    s.accept_retry.cancel();
    // Copied: closing may not erase now, but the set must not change under the loop.
    std::vector<SessionBase*> open(s.sessions.begin(), s.sessions.end());
    for (SessionBase* c : open) {
      c->close();
    }
    s.io.stop();
  });
  s.thread.join();
  // Handlers still running finish (their responses go nowhere: the io thread is gone);
  // queued ones are dropped.
  s.pool->stop();
  s.pool->join();
  s.pool.reset();
}

bool Server::tls() const { return impl_->tls.has_value(); }

Status Server::load_tls() {
  Impl& s = *impl_;
  s.tls.reset();
  const std::string& cert = s.opts.tls_cert_file;
  const std::string& key = s.opts.tls_key_file;
  if (cert.empty() && key.empty()) {
    return OkStatus();
  }
  if (cert.empty() || key.empty()) {
    return Error{"API TLS: give both a certificate and a key file (got only the " +
                 std::string(cert.empty() ? "key" : "certificate") + ")"};
  }
  for (const auto* f : {&cert, &key}) {
    if (!std::ifstream(*f)) {
      return Error{"API TLS: cannot read " +
                   std::string(f == &cert ? "certificate" : "private key") + " file '" + *f + "'"};
    }
  }
  ssl::context ctx(ssl::context::tls_server);
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                  ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                  ssl::context::single_dh_use);
  error_code ec;
  if (ctx.use_certificate_chain_file(cert, ec); ec) {
    return Error{"API TLS: certificate file '" + cert + "': " + ec.message()};
  }
  if (ctx.use_private_key_file(key, ssl::context::pem, ec); ec) {
    if (ec.message().find("mismatch") != std::string::npos) {
      return Error{"API TLS: private key file '" + key + "' does not match certificate file '" +
                   cert + "'"};
    }
    return Error{"API TLS: private key file '" + key + "': " + ec.message()};
  }
  if (SSL_CTX_check_private_key(ctx.native_handle()) != 1) {
    return Error{"API TLS: private key file '" + key + "' does not match certificate file '" +
                 cert + "'"};
  }
  s.tls.emplace(std::move(ctx));
  return OkStatus();
}

uint16_t Server::port() const { return impl_->bound.port(); }

std::string Server::address() const { return endpoint_text(impl_->bound); }

ServerStats Server::stats() const {
  const Impl& s = *impl_;
  ServerStats st;
  st.connections = s.connections.load();
  st.rejected = s.rejected.load();
  st.requests = s.requests.load();
  st.bad_requests = s.bad_requests.load();
  st.timeouts = s.timeouts.load();
  st.responses_1xx_3xx = s.responses_other.load();
  st.responses_2xx = s.responses_2xx.load();
  st.responses_4xx = s.responses_4xx.load();
  st.responses_5xx = s.responses_5xx.load();
  return st;
}

}  // namespace steerdns::api
