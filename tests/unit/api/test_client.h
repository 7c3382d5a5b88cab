#pragma once
// A small HTTP/1.1 client for the API server tests: one TCP connection to 127.0.0.1:port,
// raw bytes or whole requests out, Beast-parsed responses in, every wait bounded (a server
// that hangs fails the test instead of hanging it).
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace steerdns::api::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using boost::system::error_code;

struct Reply {
  unsigned status = 0;
  std::string body;
  http::response<http::string_body> msg;
  nlohmann::json json() const { return nlohmann::json::parse(body); }
  std::string error_code() const { return json()["error"]["code"].get<std::string>(); }
  std::string error_message() const { return json()["error"]["message"].get<std::string>(); }
  std::string header(std::string_view name) const {
    auto it = msg.find(beast::string_view(name.data(), name.size()));
    return it == msg.end() ? std::string() : std::string(it->value());
  }
};

class Client {
 public:
  explicit Client(uint16_t port, std::chrono::milliseconds timeout = std::chrono::seconds(5))
      : sock_(io_), timeout_(timeout) {
    sock_.connect({asio::ip::make_address("127.0.0.1"), port});
  }

  void send(const std::string& raw) {
    wait([&](auto h) { asio::async_write(sock_, asio::buffer(raw), h); });
  }
  // Whether a write succeeded (false once the server closed the connection).
  bool try_send(const std::string& raw) {
    return !wait([&](auto h) { asio::async_write(sock_, asio::buffer(raw), h); });
  }

  // Reads one response; nullopt if the connection closed (or timed out) first.
  std::optional<Reply> read(bool head = false) {
    http::response_parser<http::string_body> p;
    p.body_limit(64 * 1024 * 1024);
    p.skip(head);
    error_code ec = wait([&](auto h) { http::async_read(sock_, buf_, p, h); });
    if (ec) {
      last_error_ = ec;
      return std::nullopt;
    }
    Reply r;
    r.msg = p.release();
    r.status = r.msg.result_int();
    r.body = r.msg.body();
    return r;
  }

  Reply request(http::verb method, const std::string& target, const std::string& body = "",
                std::vector<std::pair<std::string, std::string>> headers = {}) {
    std::string raw = std::string(http::to_string(method)) + " " + target + " HTTP/1.1\r\n";
    raw += "Host: test\r\n";
    bool has_ct = false;
    for (const auto& [k, v] : headers) {
      raw += k + ": " + v + "\r\n";
      has_ct = has_ct || beast::iequals(k, "content-type");
    }
    if (!body.empty() && !has_ct) {
      raw += "Content-Type: application/json\r\n";
    }
    if (!body.empty() || method == http::verb::put || method == http::verb::post) {
      raw += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    }
    raw += "\r\n" + body;
    send(raw);
    auto r = read(method == http::verb::head);
    if (!r) {
      throw std::runtime_error("no response to " + target + ": " + last_error_.message());
    }
    return *r;
  }

  // True once the server closes the connection (EOF or reset) within `within`; bytes it sends
  // before are skipped.
  bool closed_within(std::chrono::milliseconds within) {
    auto deadline = std::chrono::steady_clock::now() + within;
    char tmp[4096];
    while (std::chrono::steady_clock::now() < deadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      error_code ec = wait(
          [&](auto h) { sock_.async_read_some(asio::buffer(tmp), h); }, left);
      if (ec == asio::error::eof || ec == asio::error::connection_reset) {
        return true;
      }
      if (ec) {
        return false;  // timed out
      }
    }
    return false;
  }

  error_code last_error() const { return last_error_; }
  void close() {
    error_code ignored;
    sock_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    sock_.close(ignored);
  }

 private:
  // Runs one async operation with the timeout; cancels it when the time is up.
  template <class Start>
  error_code wait(Start start, std::optional<std::chrono::milliseconds> limit = std::nullopt) {
    error_code result = asio::error::timed_out;
    bool done = false;
    io_.restart();
    start([&](error_code ec, size_t) {
      result = ec;
      done = true;
    });
    io_.run_for(limit.value_or(timeout_));
    if (!done) {
      error_code ignored;
      sock_.cancel(ignored);
      io_.restart();
      io_.run();
      result = asio::error::timed_out;
    }
    return result;
  }

  asio::io_context io_;
  asio::ip::tcp::socket sock_;
  beast::flat_buffer buf_;
  std::chrono::milliseconds timeout_;
  error_code last_error_;
};

}  // namespace steerdns::api::testing
