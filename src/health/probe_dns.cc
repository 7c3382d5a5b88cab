// DNS probe: one query (built with src/dns) over UDP, or TCP when configured or when the UDP
// answer is truncated; checks the rcode and optionally that an answer's rdata text appears.
#include <strings.h>

#include <algorithm>
#include <array>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <memory>
#include <random>
#include <utility>
#include <vector>

#include "dns/message.h"
#include "dns/name.h"
#include "dns/rdata.h"
#include "dns/rrtype.h"
#include "dns/wire.h"
#include "health/probe_kinds.h"

namespace steerdns::health::detail {
namespace {

namespace asio = boost::asio;
using udp = asio::ip::udp;
using tcp = asio::ip::tcp;

const char* rcode_text(unsigned rc) {
  static const char* const kNames[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
                                       "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
                                       "NXRRSET", "NOTAUTH", "NOTZONE"};
  return rc < std::size(kNames) ? kNames[rc] : "RCODE?";
}

bool iequal(const std::string& a, const std::string& b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

std::string without_final_dot(std::string s) {
  if (s.size() > 1 && s.back() == '.') {
    s.pop_back();
  }
  return s;
}

// "192.0.2.1", "192.0.2.1:5353", "[2001:db8::1]:53", "2001:db8::1".
bool parse_server(const std::string& s, asio::ip::address& addr, uint16_t& port) {
  std::string host = s;
  port = 53;
  boost::system::error_code ec;
  if (!s.empty() && s[0] == '[') {
    auto close = s.find(']');
    if (close == std::string::npos) {
      return false;
    }
    host = s.substr(1, close - 1);
    if (close + 1 < s.size()) {
      if (s[close + 1] != ':') {
        return false;
      }
      try {
        port = static_cast<uint16_t>(std::stoul(s.substr(close + 2)));
      } catch (const std::exception&) {
        return false;
      }
    }
  } else if (std::count(s.begin(), s.end(), ':') == 1) {
    auto colon = s.find(':');
    host = s.substr(0, colon);
    try {
      port = static_cast<uint16_t>(std::stoul(s.substr(colon + 1)));
    } catch (const std::exception&) {
      return false;
    }
  }
  addr = asio::ip::make_address(host, ec);
  return !ec && port != 0;
}

class DnsProbe : public ProbeBase, public std::enable_shared_from_this<DnsProbe> {
 public:
  DnsProbe(asio::io_context& io, const CheckSpec& spec, DoneFn done)
      : ProbeBase(io, spec, std::move(done)), usock_(io), tsock_(io), spec_(spec.dns) {}

  void run() {
    asio::ip::address addr;
    uint16_t port = 0;
    if (!parse_server(spec_.server, addr, port)) {
      fail_early("bad server address \"" + spec_.server + "\"");
      return;
    }
    server_ = udp::endpoint(addr, port);
    std::string error = build_query();
    if (!error.empty()) {
      fail_early(std::move(error));
      return;
    }
    arm_deadline(shared_from_this(), [this] { finish(false, timeout_reason(timeout_ms_)); });
    if (spec_.tcp) {
      query_tcp();
    } else {
      query_udp();
    }
  }

 private:
  std::string build_query() {
    std::string qn = spec_.qname;
    if (qn.empty() || qn.back() != '.') {
      qn += '.';
    }
    auto name = dns::Name::from_text(qn);
    if (!name.ok()) {
      return "bad qname: " + name.error();
    }
    auto type = dns::type_from_text(spec_.qtype);
    if (!type) {
      return "bad qtype \"" + spec_.qtype + "\"";
    }
    qname_ = *name;
    qtype_ = *type;
    static thread_local std::mt19937 rng{std::random_device{}()};
    id_ = static_cast<uint16_t>(rng());
    query_.resize(512);
    dns::WireWriter w(query_.data(), query_.size());
    w.u16(id_);
    w.u16(dns::flag::RD);  // harmless to an authoritative server, needed by a resolver
    w.u16(1);
    w.u16(0);
    w.u16(0);
    w.u16(1);
    w.bytes(qname_.data(), qname_.size());
    w.u16(qtype_);
    w.u16(dns::rrclass::IN);
    // OPT (RFC 6891): room for 1232-byte answers over UDP.
    w.u8(0);
    w.u16(dns::rrtype::OPT);
    w.u16(1232);
    w.u32(0);
    w.u16(0);
    if (!w.ok()) {
      return "query too long";
    }
    query_.resize(w.pos());
    return {};
  }

  void query_udp() {
    auto self = shared_from_this();
    boost::system::error_code ec;
    usock_.open(server_.protocol(), ec);
    if (ec) {
      finish(false, "socket: " + ec.message());
      return;
    }
    usock_.connect(server_, ec);  // the kernel then drops datagrams from other sources
    if (ec) {
      finish(false, "connect failed: " + ec.message());
      return;
    }
    usock_.async_send(asio::buffer(query_), [self](const boost::system::error_code& sec, size_t) {
      if (self->finished_) {
        return;
      }
      if (sec) {
        self->finish(false, "send failed: " + sec.message());
        return;
      }
      self->receive_udp();
    });
  }

  void receive_udp() {
    auto self = shared_from_this();
    reply_.resize(65535);
    usock_.async_receive(
        asio::buffer(reply_), [self](const boost::system::error_code& ec, size_t n) {
          if (self->finished_) {
            return;
          }
          if (ec) {
            // ICMP port unreachable shows up here as "connection refused".
            self->finish(false, ec == asio::error::connection_refused
                                    ? std::string("connection refused")
                                    : "receive failed: " + ec.message());
            return;
          }
          self->reply_.resize(n);
          if (!self->matches_query()) {
            self->receive_udp();  // a stray or late datagram: keep waiting for ours
            return;
          }
          if ((dns::get16(self->reply_.data() + 2) & dns::flag::TC) != 0) {
            self->query_tcp();
            return;
          }
          self->evaluate();
        });
  }

  void query_tcp() {
    auto self = shared_from_this();
    tcp::endpoint ep(server_.address(), server_.port());
    tcp_query_.resize(2 + query_.size());
    tcp_query_[0] = static_cast<uint8_t>(query_.size() >> 8);
    tcp_query_[1] = static_cast<uint8_t>(query_.size());
    std::copy(query_.begin(), query_.end(), tcp_query_.begin() + 2);
    auto c0 = std::chrono::steady_clock::now();
    tsock_.async_connect(ep, [self, c0](const boost::system::error_code& ec) {
      if (self->finished_) {
        return;
      }
      if (ec) {
        self->finish(false, ec == asio::error::connection_refused
                                ? std::string("connection refused")
                                : "connect failed: " + ec.message());
        return;
      }
      self->result_.timings.connect_ms = ms_since(c0);
      asio::async_write(self->tsock_, asio::buffer(self->tcp_query_),
                        [self](const boost::system::error_code& wec, size_t) {
                          if (self->finished_) {
                            return;
                          }
                          if (wec) {
                            self->finish(false, "send failed: " + wec.message());
                            return;
                          }
                          self->read_tcp_length();
                        });
    });
  }

  void read_tcp_length() {
    auto self = shared_from_this();
    asio::async_read(tsock_, asio::buffer(len_buf_),
                     [self](const boost::system::error_code& ec, size_t) {
                       if (self->finished_) {
                         return;
                       }
                       if (ec) {
                         self->finish(false, "receive failed: " + ec.message());
                         return;
                       }
                       size_t len = static_cast<size_t>(self->len_buf_[0]) << 8 | self->len_buf_[1];
                       self->reply_.resize(len);
                       asio::async_read(self->tsock_, asio::buffer(self->reply_),
                                        [self](const boost::system::error_code& rec, size_t) {
                                          if (self->finished_) {
                                            return;
                                          }
                                          if (rec) {
                                            self->finish(false, "receive failed: " + rec.message());
                                          } else if (!self->matches_query()) {
                                            self->finish(false, "reply does not match query");
                                          } else {
                                            self->evaluate();
                                          }
                                        });
                     });
  }

  // A response to our query: same id, QR set, same question.
  bool matches_query() {
    if (reply_.size() < dns::kHeaderLen) {
      return false;
    }
    const uint8_t* p = reply_.data();
    if (dns::get16(p) != id_ || (dns::get16(p + 2) & dns::flag::QR) == 0) {
      return false;
    }
    if (dns::get16(p + 4) != 1) {
      return false;
    }
    dns::WireReader r(p, reply_.size(), dns::kHeaderLen);
    dns::Name qn = dns::Name::from_wire(r);
    uint16_t qt = r.u16();
    r.u16();
    return r.ok() && qn == qname_ && qt == qtype_;
  }

  void evaluate() {
    const uint8_t* p = reply_.data();
    unsigned rcode = dns::get16(p + 2) & 0xF;
    uint16_t ancount = dns::get16(p + 6);
    dns::WireReader r(p, reply_.size(), dns::kHeaderLen);
    dns::Name::from_wire(r);
    r.skip(4);
    std::vector<std::string> answers;
    std::vector<uint8_t> rd;
    for (uint16_t i = 0; i < ancount && r.ok(); ++i) {
      dns::Name::from_wire(r);
      uint16_t type = r.u16();
      r.u16();
      r.u32();
      uint16_t rdlen = r.u16();
      rd.clear();
      if (!r.ok() || !dns::rdata_from_wire(r, rdlen, type, rd)) {
        finish(false, "malformed response");
        return;
      }
      answers.push_back(dns::rdata_to_text(type, rd.data(), rd.size()));
    }
    if (!r.ok()) {
      finish(false, "malformed response");
      return;
    }
    std::string got = rcode_text(rcode);
    std::string want = spec_.expect_rcode.empty() ? "NOERROR" : spec_.expect_rcode;
    if (!iequal(got, want)) {
      finish(false, "rcode " + got + ", expected " + want);
      return;
    }
    if (!spec_.expect_answer.empty()) {
      std::string expect = without_final_dot(spec_.expect_answer);
      for (const auto& a : answers) {
        if (iequal(without_final_dot(a), expect)) {
          std::string note = "rcode " + got;
          note.append(", answer ").append(a);
          finish(true, std::move(note));
          return;
        }
      }
      std::string list;
      for (const auto& a : answers) {
        list += (list.empty() ? "" : ", ") + a;
        if (list.size() > 120) {
          list += ", ...";
          break;
        }
      }
      finish(false, "answer " + spec_.expect_answer +
                        " not found (got: " + (list.empty() ? "no answers" : list) + ")");
      return;
    }
    finish(true, "rcode " + got + ", " + std::to_string(answers.size()) + " answers");
  }

  void finish(bool ok, std::string reason) {
    if (finished_) {
      return;
    }
    boost::system::error_code ec;
    usock_.close(ec);
    tsock_.close(ec);
    result_.timings.first_byte_ms = ms_since(t0_);  // the reply is the first (and last) byte
    deliver(ok, std::move(reason));
  }

  udp::socket usock_;
  tcp::socket tsock_;
  DnsSpec spec_;
  udp::endpoint server_;
  dns::Name qname_;
  uint16_t qtype_ = 0;
  uint16_t id_ = 0;
  std::vector<uint8_t> query_;
  std::vector<uint8_t> tcp_query_;
  std::array<uint8_t, 2> len_buf_{};
  std::vector<uint8_t> reply_;
};

}  // namespace

void start_dns_probe(asio::io_context& io, const CheckSpec& spec, DoneFn done) {
  std::make_shared<DnsProbe>(io, spec, std::move(done))->run();
}

}  // namespace steerdns::health::detail
