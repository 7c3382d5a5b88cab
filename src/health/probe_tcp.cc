// TCP probe: connect (optionally send a string and match a regex on up to 4 KB of reply),
// all with Asio on the engine's io_context and one deadline timer per probe.
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <memory>
#include <optional>
#include <regex>
#include <utility>

#include "health/probe_kinds.h"

namespace steerdns::health::detail {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

std::string connect_error(const boost::system::error_code& ec) {
  if (ec == asio::error::connection_refused) {
    return "connection refused";
  }
  return "connect failed: " + ec.message();
}

class TcpProbe : public ProbeBase, public std::enable_shared_from_this<TcpProbe> {
 public:
  TcpProbe(asio::io_context& io, const CheckSpec& spec, DoneFn done)
      : ProbeBase(io, spec, std::move(done)), sock_(io), resolver_(io), spec_(spec.tcp) {}

  void run() {
    if (!spec_.expect.empty()) {
      try {
        expect_.emplace(spec_.expect, std::regex::ECMAScript);
      } catch (const std::regex_error&) {
        fail_early("invalid expect regex");
        return;
      }
    }
    auto self = shared_from_this();
    arm_deadline(self, [this] { finish(false, timeout_reason(timeout_ms_)); });
    boost::system::error_code ec;
    auto addr = asio::ip::make_address(spec_.host, ec);
    if (!ec) {
      connect(tcp::endpoint(addr, spec_.port));
      return;
    }
    resolver_.async_resolve(
        spec_.host, std::to_string(spec_.port),
        [self](const boost::system::error_code& rec, const tcp::resolver::results_type& results) {
          if (self->finished_) {
            return;
          }
          if (rec || results.empty()) {
            self->finish(false, "cannot resolve " + self->spec_.host + ": " + rec.message());
            return;
          }
          self->result_.timings.dns_ms = ms_since(self->t0_);
          self->connect(results.begin()->endpoint());
        });
  }

 private:
  void connect(const tcp::endpoint& ep) {
    auto self = shared_from_this();
    connect_start_ = std::chrono::steady_clock::now();
    sock_.async_connect(ep, [self](const boost::system::error_code& ec) {
      if (self->finished_) {
        return;
      }
      if (ec) {
        self->finish(false, connect_error(ec));
        return;
      }
      self->result_.timings.connect_ms = ms_since(self->connect_start_);
      self->after_connect();
    });
  }

  void after_connect() {
    if (spec_.send.empty()) {
      if (expect_) {
        read_more();
      } else {
        finish(true, "connected");
      }
      return;
    }
    auto self = shared_from_this();
    asio::async_write(sock_, asio::buffer(spec_.send),
                      [self](const boost::system::error_code& ec, size_t) {
                        if (self->finished_) {
                          return;
                        }
                        if (ec) {
                          self->finish(false, "send failed: " + ec.message());
                        } else if (self->expect_) {
                          self->read_more();
                        } else {
                          self->finish(true, "connected, sent");
                        }
                      });
  }

  void read_more() {
    auto self = shared_from_this();
    size_t have = reply_.size();
    reply_.resize(kTcpReplyLimit);
    sock_.async_read_some(asio::buffer(reply_.data() + have, kTcpReplyLimit - have),
                          [self, have](const boost::system::error_code& ec, size_t n) {
                            self->reply_.resize(have + n);
                            if (self->finished_) {
                              return;
                            }
                            if (self->result_.timings.first_byte_ms < 0 && n > 0) {
                              self->result_.timings.first_byte_ms = ms_since(self->t0_);
                            }
                            if (std::regex_search(self->reply_, *self->expect_)) {
                              self->finish(true, "reply matched");
                              return;
                            }
                            if (ec || self->reply_.size() >= kTcpReplyLimit) {
                              std::string why = ec == asio::error::eof ? "connection closed"
                                                : ec                   ? ec.message()
                                                                       : "4096 bytes read";
                              self->finish(false, "reply did not match expect (" + why + "): \"" +
                                                      printable_excerpt(self->reply_, 60) + "\"");
                              return;
                            }
                            self->read_more();
                          });
  }

  void finish(bool ok, std::string reason) {
    if (finished_) {
      return;
    }
    boost::system::error_code ec;
    resolver_.cancel();
    sock_.close(ec);
    deliver(ok, std::move(reason));
  }

  tcp::socket sock_;
  tcp::resolver resolver_;
  TcpSpec spec_;
  std::chrono::steady_clock::time_point connect_start_;
  std::optional<std::regex> expect_;
  std::string reply_;
};

}  // namespace

void start_tcp_probe(asio::io_context& io, const CheckSpec& spec, DoneFn done) {
  std::make_shared<TcpProbe>(io, spec, std::move(done))->run();
}

}  // namespace steerdns::health::detail
