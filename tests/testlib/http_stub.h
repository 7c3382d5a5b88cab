#pragma once
// An HTTP/1.1 server on 127.0.0.1 for the tests of our HTTP clients (webhook actions, alert
// channels, the CLI's API client): one request per connection, each answered with the next
// reply of a script (the last one repeats), every request recorded. A reply may be delayed,
// or hang: the request is read and the connection held unanswered until the stub is destroyed,
// while further connections are still taken.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace steerdns::testing {

struct HttpReply {
  int status = 200;
  std::string body;
  std::string content_type;  // no Content-Type header when empty
  int64_t delay_ms = 0;
  bool hang = false;
};
struct HttpRequest {
  std::string method;
  std::string path;  // the request target, query string included
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  int64_t at_ms = 0;  // steady clock, when it was read

  // The first header of that name (any case), or "".
  std::string header(const std::string& name) const {
    for (const auto& [k, v] : headers) {
      if (strcasecmp(k.c_str(), name.c_str()) == 0) {
        return v;
      }
    }
    return "";
  }
};

class HttpStub {
 public:
  using Reply = HttpReply;
  using Request = HttpRequest;

  explicit HttpStub(std::vector<Reply> script = {Reply{}}) : script_(std::move(script)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    socklen_t len = sizeof sa;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &len);
    port_ = ntohs(sa.sin_port);
    ::listen(fd_, 16);
    thread_ = std::thread([this] { serve(); });
  }
  ~HttpStub() {
    stop_ = true;
    thread_.join();
    for (int c : held_) {
      ::close(c);
    }
    ::close(fd_);
  }
  HttpStub(const HttpStub&) = delete;
  HttpStub& operator=(const HttpStub&) = delete;

  uint16_t port() const { return port_; }
  std::string url(const std::string& path = "/hook") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  int connections() const { return connections_.load(); }
  std::vector<Request> requests() const {
    std::lock_guard lk(mu_);
    return requests_;
  }

  static int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

 private:
  void serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) {
        continue;
      }
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) {
        continue;
      }
      connections_++;
      if (handle(c)) {
        held_.push_back(c);
      } else {
        ::close(c);
      }
    }
  }

  // Reads one request (at most 5 s) and answers it; true if the connection is to be held.
  bool handle(int c) {
    std::string in;
    size_t head = std::string::npos;
    size_t length = 0;
    const int64_t deadline = now_ms() + 5'000;
    while (now_ms() < deadline && !stop_) {
      pollfd p{c, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) {
        continue;
      }
      char buf[4096];
      ssize_t n = ::read(c, buf, sizeof buf);
      if (n <= 0) {
        break;
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
      return false;  // no whole request: nothing to record or answer
    }
    Request r;
    r.at_ms = now_ms();
    std::istringstream hs(in.substr(0, head));
    std::string line;
    std::getline(hs, line);
    std::istringstream(line) >> r.method >> r.path;
    while (std::getline(hs, line)) {
      if (!line.empty() && line.back() == '\r') {
        line.pop_back();
      }
      auto colon = line.find(':');
      if (colon != std::string::npos) {
        std::string v = line.substr(colon + 1);
        v.erase(0, v.find_first_not_of(' '));
        r.headers.emplace_back(line.substr(0, colon), v);
      }
    }
    r.body = in.substr(head + 4, length);
    Reply reply;
    {
      std::lock_guard lk(mu_);
      reply = script_[std::min(requests_.size(), script_.size() - 1)];
      requests_.push_back(std::move(r));
    }
    if (reply.hang) {
      return true;
    }
    const int64_t until = now_ms() + reply.delay_ms;
    while (now_ms() < until && !stop_) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    std::string out =
        "HTTP/1.1 " + std::to_string(reply.status) + " X\r\n" +
        (reply.content_type.empty() ? "" : "Content-Type: " + reply.content_type + "\r\n") +
        "Content-Length: " + std::to_string(reply.body.size()) + "\r\nConnection: close\r\n\r\n" +
        reply.body;
    (void)::send(c, out.data(), out.size(), MSG_NOSIGNAL);
    return false;
  }

  std::vector<Reply> script_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::vector<int> held_;  // serve thread only
  mutable std::mutex mu_;
  std::vector<Request> requests_;
  std::thread thread_;
};

}  // namespace steerdns::testing
