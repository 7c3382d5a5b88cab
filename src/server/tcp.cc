#include "server/tcp.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio.hpp>
#include <chrono>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "dns/message.h"
#include "dns/name.h"
#include "dns/rrtype.h"
#include "dns/tsig.h"
#include "server/journal.h"
#include "server/query.h"
#include "server/query_log.h"
#include "server/xfr.h"

namespace steerdns::server {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using boost::system::error_code;

// Room for one whole message plus the start of the next ones (pipelining).
constexpr size_t kInBuf = 2 + kMaxTcpMessage + 4096;
// Stop reading (and stop producing transfer messages) while this much output is queued, so a
// client that sends without reading cannot make us buffer without bound.
constexpr size_t kHighWater = size_t{256} * 1024;

}  // namespace

struct TcpServer::Impl {
  Impl(const Snapshot<config::RuntimeConfig>& config, TcpOptions o)
      : reader(config), opts(o), scratch(kMaxTcpMessage) {}
  ~Impl() { acceptors.clear(); }

  void accept(tcp::acceptor& a);

  // Used on the io thread only.
  Snapshot<config::RuntimeConfig>::Reader reader;
  TcpOptions opts;
  std::vector<uint8_t> scratch;  // one answer at a time (single thread)
  int active = 0;
  TransportCounters counters;
  QueryMetrics metrics;  // written on the io thread only
  obs::QueryLogRing* qlog = nullptr;  // the io thread is its producer
  const ZoneTransfers* journal = nullptr;  // IXFR's steps
  std::thread thread;
  // Declared after everything connections touch: destroying the io_context destroys pending
  // handlers and with them the connections.
  asio::io_context io{1};
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors;
};

namespace {

class Conn : public std::enable_shared_from_this<Conn> {
 public:
  Conn(TcpServer::Impl& s, tcp::socket sock)
      : s_(s), sock_(std::move(sock)), timer_(s.io), in_(kInBuf) {
    ++s_.active;
  }
  ~Conn() { --s_.active; }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  void start() {
    error_code ec;
    sock_.set_option(tcp::no_delay(true), ec);
    auto ep = sock_.remote_endpoint(ec);
    if (ec) {
      close();
      return;
    }
    std::memcpy(&peer_, ep.data(), std::min<size_t>(ep.size(), sizeof peer_));
    last_activity_ = Clock::now();
    after_io();
  }

 private:
  const sockaddr* peer() const { return reinterpret_cast<const sockaddr*>(&peer_); }

  // The next time this connection is closed unless something happens.
  Clock::time_point deadline() const {
    using std::chrono::milliseconds;
    Clock::time_point d = Clock::time_point::max();
    if (writing_) {
      // A client that does not read its answers is dropped after the idle timeout.
      d = write_start_ + milliseconds(std::max(s_.opts.idle_timeout_ms, s_.opts.io_timeout_ms));
    }
    if (reading_ && partial_) {
      d = std::min(d, msg_start_ + milliseconds(s_.opts.io_timeout_ms));
    } else if (reading_ && !writing_ && !xfr_ && out_.empty()) {
      d = std::min(d, last_activity_ + milliseconds(s_.opts.idle_timeout_ms));
    }
    return d;
  }

  // Keeps one timer wait pending at or before the deadline. A deadline that moved later (the
  // common case: activity pushes the idle deadline out) does not touch the timer; the pending
  // wait fires, finds time left and re-arms. Only an earlier deadline re-arms at once.
  void arm() {
    Clock::time_point d = deadline();
    if (d >= armed_for_) {
      return;
    }
    armed_for_ = d;
    timer_.expires_at(d);  // cancels the pending wait (its handler sees operation_aborted)
    timer_.async_wait([self = shared_from_this()](error_code ec) { self->on_timer(ec); });
  }

  void on_timer(error_code ec) {
    if (ec == asio::error::operation_aborted || closed_) {
      return;
    }
    armed_for_ = Clock::time_point::max();  // nothing pending now
    if (Clock::now() >= deadline()) {
      s_.counters.timeouts.add();
      close();
      return;
    }
    arm();
  }

  bool has_complete_message() const {
    if (in_len_ < 2) {
      return false;
    }
    size_t len = dns::get16(in_.data());
    return len == 0 || in_len_ - 2 >= len;
  }

  void read() {
    if (closed_ || reading_ || eof_ || closing_ || xfr_ || has_complete_message() ||
        out_.size() + sending_.size() >= kHighWater) {
      return;
    }
    reading_ = true;
    sock_.async_read_some(
        asio::buffer(in_.data() + in_len_, in_.size() - in_len_),
        [self = shared_from_this()](error_code ec, size_t n) { self->on_read(ec, n); });
  }

  void on_read(error_code ec, size_t n) {
    reading_ = false;
    if (closed_) {
      return;
    }
    if (ec == asio::error::eof) {
      eof_ = true;  // a half-close still gets the answers to what was sent
    } else if (ec) {
      close();
      return;
    }
    if (n > 0) {
      if (in_len_ == 0) {
        msg_start_ = Clock::now();
      }
      in_len_ += n;
    }
    after_io();
  }

  // Answers every complete message in the buffer (pipelining), until a transfer starts or
  // enough output is queued.
  void process() {
    size_t pos = 0;
    while (!xfr_ && !closing_ && out_.size() < kHighWater && in_len_ - pos >= 2) {
      size_t len = dns::get16(in_.data() + pos);
      if (len == 0) {
        closing_ = true;  // not a DNS message: finish what is queued and close
        break;
      }
      if (in_len_ - pos - 2 < len) {
        break;
      }
      handle(in_.data() + pos + 2, len);
      pos += 2 + len;
    }
    if (pos > 0) {
      std::memmove(in_.data(), in_.data() + pos, in_len_ - pos);
      in_len_ -= pos;
      last_activity_ = Clock::now();
      msg_start_ = last_activity_;  // what is left arrived with the last read
    }
    partial_ = in_len_ > 0 && !has_complete_message();
  }

  void handle(const uint8_t* msg, size_t len) {
    s_.counters.queries.add();
    const config::RuntimeConfig* cfg = s_.reader.get();
    if (cfg == nullptr) {
      closing_ = true;
      return;
    }
    AnswerInfo info;
    const auto t0 = Clock::now();
    const ClientInfo client{peer(), Transport::kTcp};
    size_t n = answer_query(*cfg, msg, len, s_.scratch.data(), s_.scratch.size(), client, &info);
    if (s_.qlog != nullptr && (n != 0 || info.transfer) && s_.qlog->sample()) {
      log_query(*s_.qlog, client, msg, len, s_.scratch.data(), n, info);  // a transfer: no response
    }
    if (info.tsig && info.tsig_status != dns::TsigStatus::kOk) {
      s_.counters.count_tsig_failure(info.tsig_status);
      log_tsig_failure(peer(), msg, len, info.tsig_status);
    }
    if (info.transfer) {
      s_.metrics.count(info, Transport::kTcp);
      start_transfer(msg, len);
      return;
    }
    if (n != 0) {
      s_.metrics.count(info, Transport::kTcp);
      // (the time to answer; the write is queued right after)
      s_.metrics.latency(Transport::kTcp)
          .observe(std::chrono::duration<double>(Clock::now() - t0).count());
    }
    if (n == 0) {
      // Not a query (a response, or shorter than a header): RFC 7766 lets us close.
      s_.counters.drops.add();
      closing_ = true;
      return;
    }
    append(s_.scratch.data(), n);
  }

  void start_transfer(const uint8_t* msg, size_t len) {
    // Keep the snapshot the transfer reads from alive until it is done.
    std::shared_ptr<const config::RuntimeConfig> cfg = s_.reader.shared();
    dns::Query q;
    dns::parse_query(msg, len, q);
    // A signed request was verified by answer_query (failures were answered there): find its
    // key in this snapshot, to check the ACL and sign every message of the answer.
    const dns::TsigKey* key = nullptr;
    dns::TsigRecord rec;
    if (q.tsig_off != 0 && cfg->tsig_keys &&
        dns::find_tsig(msg, len, &rec) == dns::TsigFind::kFound) {
      key = cfg->tsig_keys->find(rec.key);
    }
    std::optional<dns::TsigSigner> signer;
    if (key != nullptr) {
      signer.emplace(*key, rec.mac, /*response=*/true);
    }
    // An entry with a key admits only requests signed with that key; one without, anyone in
    // its prefix (a signed request is then answered signed all the same).
    bool in_prefix = false;
    bool allowed = false;
    for (const auto& a : cfg->xfr_allow) {
      if (!a.contains(peer())) {
        continue;
      }
      in_prefix = true;
      if (!a.key || (key != nullptr && *a.key == key->name)) {
        allowed = true;
        break;
      }
    }
    const zone::Zone* z = cfg->zone_at(msg + q.qname_off, q.qname_len);
    if (!allowed || z == nullptr) {
      uint16_t rcode = allowed ? dns::rcode::NOTAUTH : dns::rcode::REFUSED;
      s_.counters.refused_transfers.add();
      if (!allowed) {
        std::string why = !in_prefix       ? std::string("not in the transfer ACL")
                          : key == nullptr ? std::string(
                                                 "unsigned, and the ACL requires a "
                                                 "TSIG key for this address")
                                           : "signed with key " + key->name.to_text() +
                                                 ", which no ACL entry for this address names";
        spdlog::info("transfer of {} refused to {}: {}",
                     dns::Name::from_uncompressed(msg + q.qname_off, q.qname_len)->to_text(),
                     sockaddr_to_text(peer()), why);
      }
      size_t n = xfr_error(msg, len, rcode, s_.scratch.data(), s_.scratch.size());
      if (n != 0 && signer) {
        n = signer->sign(s_.scratch.data(), n, s_.scratch.size(), dns::tsig_now());
      }
      if (n == 0) {
        closing_ = true;
        return;
      }
      append(s_.scratch.data(), n);
      return;
    }
    xfr_signer_ = std::move(signer);
    xfr_tsig_room_ = key != nullptr ? dns::TsigSigner::record_size(*key) : 0;
    s_.counters.transfers.add();
    xfr_zone_ = z;
    xfr_cfg_ = std::move(cfg);
    uint32_t client = 0;
    if (q.qtype == dns::rrtype::IXFR && s_.journal != nullptr &&
        ixfr_query_serial(msg, len, &client)) {
      // RFC 1995: up to date (or newer) -> our SOA alone; in the journal -> the steps; else a
      // full transfer.
      const uint32_t ours = z->serial();
      std::vector<std::shared_ptr<const Delta>> steps;
      if (client != ours && !serial_gt(client, ours)) {
        steps = s_.journal->chain(z->origin(), client, ours);
      }
      if (client == ours || serial_gt(client, ours) || !steps.empty()) {
        spdlog::info("transfer of {}: IXFR from serial {} to {}: {}", z->origin().to_text(),
                     client, ours,
                     steps.empty() ? std::string("up to date")
                                   : fmt::format("{} journal steps", steps.size()));
        xfr_ = std::make_unique<IxfrStream>(msg, len, soa_record(*z, ours), std::move(steps));
        return;
      }
    }
    xfr_ = std::make_unique<AxfrStream>(*z, msg, len, kMaxTcpMessage, xfr_cfg_->steering.get());
  }

  void pump_transfer() {
    while (xfr_ && out_.size() < kHighWater) {
      size_t old = out_.size();
      out_.resize(old + 2 + kMaxTcpMessage);
      // Signed: each message leaves room for its TSIG record (RFC 8945 5.3.1, every one signed).
      size_t room = kMaxTcpMessage - (xfr_signer_ ? xfr_tsig_room_ : 0);
      size_t n = xfr_->next(out_.data() + old + 2, room);
      if (n != 0 && xfr_signer_) {
        n = xfr_signer_->sign(out_.data() + old + 2, n, kMaxTcpMessage, dns::tsig_now());
      }
      if (n == 0) {
        out_.resize(old);
        spdlog::info("transfer of {} serial {} to {}: {} records in {} messages{}",
                     xfr_zone_->origin().to_text(), xfr_zone_->serial(), sockaddr_to_text(peer()),
                     xfr_->records(), xfr_->messages(), xfr_signer_ ? ", TSIG-signed" : "");
        xfr_.reset();
        xfr_cfg_.reset();
        xfr_zone_ = nullptr;
        xfr_signer_.reset();
        break;
      }
      out_[old] = static_cast<uint8_t>(n >> 8);
      out_[old + 1] = static_cast<uint8_t>(n);
      out_.resize(old + 2 + n);
      s_.counters.responses.add();
    }
  }

  void append(const uint8_t* p, size_t n) {
    out_.push_back(static_cast<uint8_t>(n >> 8));
    out_.push_back(static_cast<uint8_t>(n));
    out_.insert(out_.end(), p, p + n);
    s_.counters.responses.add();
  }

  void write() {
    if (closed_ || writing_ || out_.empty()) {
      return;
    }
    sending_.swap(out_);
    out_.clear();
    writing_ = true;
    write_start_ = Clock::now();
    asio::async_write(sock_, asio::buffer(sending_),
                      [self = shared_from_this()](error_code ec, size_t) { self->on_write(ec); });
  }

  void on_write(error_code ec) {
    writing_ = false;
    if (closed_) {
      return;
    }
    if (ec) {
      close();
      return;
    }
    sending_.clear();
    last_activity_ = Clock::now();
    after_io();
  }

  // Moves the connection forward after any event: answer, stream, write, read, re-arm.
  void after_io() {
    if (closed_) {
      return;
    }
    if (!xfr_) {
      process();
    }
    pump_transfer();
    if (!xfr_ && has_complete_message() && out_.size() < kHighWater) {
      process();  // a transfer finished with pipelined queries behind it
    }
    write();
    bool idle_out = !writing_ && out_.empty() && !xfr_;
    if (idle_out && (closing_ || (eof_ && !has_complete_message()))) {
      close();
      return;
    }
    read();
    arm();
  }

  void close() {
    if (closed_) {
      return;
    }
    closed_ = true;
    error_code ec;
    sock_.shutdown(tcp::socket::shutdown_both, ec);
    sock_.close(ec);
    timer_.cancel();
  }

  TcpServer::Impl& s_;
  tcp::socket sock_;
  asio::steady_timer timer_;
  sockaddr_storage peer_{};
  std::vector<uint8_t> in_;
  size_t in_len_ = 0;
  std::vector<uint8_t> out_;      // queued, not yet handed to the socket
  std::vector<uint8_t> sending_;  // being written
  bool reading_ = false, writing_ = false, closed_ = false, eof_ = false, closing_ = false;
  bool partial_ = false;  // the buffer ends in an incomplete message
  Clock::time_point msg_start_{}, last_activity_{}, write_start_{};
  Clock::time_point armed_for_ = Clock::time_point::max();  // expiry of the pending wait
  std::unique_ptr<XfrSource> xfr_;
  std::shared_ptr<const config::RuntimeConfig> xfr_cfg_;
  const zone::Zone* xfr_zone_ = nullptr;
  std::optional<dns::TsigSigner> xfr_signer_;  // a signed request: signs every message
  size_t xfr_tsig_room_ = 0;
};

}  // namespace

void TcpServer::Impl::accept(tcp::acceptor& a) {
  a.async_accept([this, &a](error_code ec, tcp::socket sock) {
    if (ec == asio::error::operation_aborted) {
      return;
    }
    if (ec) {
      // Out of descriptors or similar: back off briefly instead of spinning.
      auto t = std::make_shared<asio::steady_timer>(io, std::chrono::milliseconds(50));
      t->async_wait([this, &a, t](error_code) { accept(a); });
      return;
    }
    if (active >= opts.max_clients) {
      counters.rejected_connections.add();
      error_code ignored;
      sock.close(ignored);
    } else {
      counters.connections.add();
      std::make_shared<Conn>(*this, std::move(sock))->start();
    }
    accept(a);
  });
}

TcpServer::TcpServer(const Snapshot<config::RuntimeConfig>& config, TcpOptions opts)
    : impl_(std::make_unique<Impl>(config, opts)) {}

TcpServer::~TcpServer() { stop(); }

Status TcpServer::listen(const ListenAddr& addr) {
  tcp::endpoint ep;
  std::memcpy(ep.data(), addr.sa(), addr.len);
  ep.resize(addr.len);
  auto a = std::make_unique<tcp::acceptor>(impl_->io);
  error_code ec;
  auto fail = [&](const char* what) -> Status {
    return Error{"tcp " + addr.text + ": " + what + ": " + ec.message()};
  };
  if (a->open(ep.protocol(), ec); ec) {
    return fail("socket");
  }
  if (a->set_option(tcp::acceptor::reuse_address(true), ec); ec) {
    return fail("SO_REUSEADDR");
  }
  if (addr.family() == AF_INET6) {
    if (a->set_option(asio::ip::v6_only(true), ec); ec) {
      return fail("IPV6_V6ONLY");
    }
  }
  if (a->bind(ep, ec); ec) {
    return fail("bind");
  }
  if (a->listen(asio::socket_base::max_listen_connections, ec); ec) {
    return fail("listen");
  }
  impl_->acceptors.push_back(std::move(a));
  return OkStatus();
}

void TcpServer::start() {
  for (auto& a : impl_->acceptors) {
    impl_->accept(*a);
  }
  impl_->thread = std::thread([this] { impl_->io.run(); });
}

void TcpServer::stop() {
  impl_->io.stop();
  if (impl_->thread.joinable()) {
    impl_->thread.join();
  }
}

CounterTotals TcpServer::totals() const {
  CounterTotals t;
  t.add(impl_->counters);
  return t;
}

const QueryMetrics& TcpServer::metrics() const { return impl_->metrics; }

void TcpServer::set_journal(const ZoneTransfers* journal) { impl_->journal = journal; }

void TcpServer::set_query_log(obs::QueryLog* log) {
  impl_->qlog = log != nullptr ? log->add_ring() : nullptr;
}

}  // namespace steerdns::server
