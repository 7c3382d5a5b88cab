#include "server/xfr.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <string>

#include "dns/name.h"
#include "dns/rdata.h"
#include "dns/rrtype.h"
#include "server/address.h"

namespace steerdns::server {
namespace {

constexpr size_t kOptLen = 11;  // root owner, type, class, ttl, rdlength 0
constexpr uint16_t kOptPayload = 1232;

void write_opt(dns::WireWriter& w, bool do_bit) {
  w.u8(0);
  w.u16(dns::rrtype::OPT);
  w.u16(kOptPayload);
  w.u32(do_bit ? 0x8000u : 0u);
  w.u16(0);
}

}  // namespace

AxfrStream::AxfrStream(const zone::Zone& z, const uint8_t* q, size_t qlen, size_t max_msg,
                       const policy::Table* steering)
    : z_(z), steering_(steering), max_msg_(std::min(max_msg, kMaxTcpMessage)) {
  dns::Query query;
  if (dns::parse_query(q, qlen, query) != dns::ParseResult::kOk || !query.has_question) {
    // The TCP transport only hands over queries that parsed; echo the zone name regardless.
    question_.assign(z.origin().data(), z.origin().data() + z.origin().size());
    question_.insert(question_.end(), {0, dns::rrtype::AXFR, 0, dns::rrclass::IN});
    return;
  }
  id_ = query.id;
  flags_ = query.flags;
  edns_ = query.edns.present;
  do_bit_ = query.edns.do_bit;
  question_.assign(q + query.qname_off, q + query.question_end);
}

bool AxfrStream::put_rr(dns::WireWriter& w, dns::Compressor& c, const uint8_t* owner,
                        size_t owner_len, uint16_t type, uint32_t ttl, const uint8_t* rd,
                        size_t rdlen) {
  size_t mark = w.pos();
  c.write_name(w, owner, owner_len, true);
  w.u16(type);
  w.u16(dns::rrclass::IN);
  w.u32(ttl);
  dns::rdata_write(w, c, type, rd, rdlen);
  if (!w.ok()) {
    // Compression entries past `mark` are stale now; the caller starts a new message.
    w.rewind(mark);
    return false;
  }
  return true;
}

size_t AxfrStream::next(uint8_t* out, size_t cap) {
  if (phase_ == Phase::kDone) {
    return 0;
  }
  const bool first = messages_ == 0;
  dns::WireWriter w(out, std::min(cap, max_msg_));
  dns::Compressor comp;
  uint16_t flags = static_cast<uint16_t>(dns::flag::QR | dns::flag::AA | (flags_ & 0x7800) |
                                         (flags_ & dns::flag::RD));
  w.u16(id_);
  w.u16(flags);
  w.u16(first ? 1 : 0);
  w.u16(0);
  w.u16(0);
  w.u16(0);
  if (first) {
    // Not remembered for compression: names pointing into the question would take the case
    // the client typed, and the transfer must carry the zone's own case.
    w.bytes(question_.data(), question_.size());
  }
  // Keep room for the OPT record while records are written.
  w.limit(std::min(cap, max_msg_) - (edns_ ? kOptLen : 0));
  uint16_t an = 0;
  const dns::Name& origin = z_.origin();
  const zone::RRset& soa = z_.soa();
  bool full = false;

  auto put_soa = [&]() -> bool {
    bool ok = true;
    z_.for_each_rdata(soa, [&](const uint8_t* rd, uint16_t len) {
      ok = ok && put_rr(w, comp, origin.data(), origin.size(), dns::rrtype::SOA, soa.ttl, rd, len);
    });
    return ok;
  };

  if (phase_ == Phase::kFirstSoa) {
    if (put_soa()) {
      ++an;
      phase_ = Phase::kNodes;
    } else {
      full = true;
    }
  }
  while (!full && phase_ == Phase::kNodes) {
    if (node_ >= z_.node_count()) {
      phase_ = Phase::kLastSoa;
      break;
    }
    const zone::Node& n = z_.node(node_);
    auto sets = z_.rrsets(n);
    if (rrset_ >= sets.size()) {
      ++node_;
      rrset_ = 0;
      rdata_ = 0;
      continue;
    }
    const zone::RRset& rs = sets[rrset_];
    if (rs.type == dns::rrtype::SOA && (n.flags & zone::nodeflag::kApex)) {
      ++rrset_;  // sent first and last
      continue;
    }
    const uint8_t* owner = z_.name_data(n);
    // The records to send: the zone's, or a steered set's answer (deterministic: entropy 0,
    // so a transfer resumed in the next message sees the same selection).
    const uint8_t* p = z_.rdata_ptr(rs);
    uint16_t count = rs.count;
    uint32_t ttl = rs.ttl;
    if (rs.steer != zone::kNone && steering_ != nullptr) {
      policy::Selection sel = steering_->select(rs.steer, policy::Client{}, 0);
      bool answered = sel.outcome == policy::Selection::Outcome::kAnswer;
      p = sel.data;
      count = answered ? sel.count : 0;
      ttl = sel.ttl;
    }
    for (uint16_t i = 0; i < count; ++i) {
      auto len = static_cast<uint16_t>(p[0] << 8 | p[1]);
      const uint8_t* rd = p + 2;
      p += 2 + len;
      if (full || i < rdata_) {
        continue;
      }
      if (put_rr(w, comp, owner, n.name_len, rs.type, ttl, rd, len)) {
        ++an;
        ++rdata_;
      } else {
        full = true;
      }
    }
    if (!full) {
      ++rrset_;
      rdata_ = 0;
    }
  }
  if (!full && phase_ == Phase::kLastSoa) {
    if (put_soa()) {
      ++an;
      phase_ = Phase::kDone;
    } else {
      full = true;
    }
  }
  if (full && an == 0) {
    // One record larger than a whole message: cannot be transferred.
    w.rewind(dns::kHeaderLen);
    if (first) {
      w.bytes(question_.data(), question_.size());
    }
    w.put_u16_at(2, static_cast<uint16_t>(flags | dns::rcode::SERVFAIL));
    phase_ = Phase::kDone;
  }
  w.put_u16_at(6, an);
  if (edns_) {
    w.limit(std::min(cap, max_msg_));
    write_opt(w, do_bit_);
    w.put_u16_at(10, 1);
  }
  ++messages_;
  records_ += an;
  return w.pos();
}

IxfrStream::IxfrStream(const uint8_t* q, size_t qlen, XfrRecord current_soa,
                       std::vector<std::shared_ptr<const Delta>> chain, size_t max_msg)
    : soa_(std::move(current_soa)), chain_(std::move(chain)),
      max_msg_(std::min(max_msg, kMaxTcpMessage)) {
  dns::Query query;
  if (dns::parse_query(q, qlen, query) == dns::ParseResult::kOk && query.has_question) {
    id_ = query.id;
    flags_ = query.flags;
    edns_ = query.edns.present;
    do_bit_ = query.edns.do_bit;
    question_.assign(q + query.qname_off, q + query.question_end);
  }
  seq_.push_back(&soa_);
  for (const auto& d : chain_) {
    seq_.push_back(&d->old_soa);
    for (const auto& r : d->removed) {
      seq_.push_back(&r);
    }
    seq_.push_back(&d->new_soa);
    for (const auto& r : d->added) {
      seq_.push_back(&r);
    }
  }
  if (!chain_.empty()) {
    seq_.push_back(&soa_);
  }
}

size_t IxfrStream::next(uint8_t* out, size_t cap) {
  if (done_) {
    return 0;
  }
  const bool first = messages_ == 0;
  const size_t size = std::min(cap, max_msg_);
  dns::WireWriter w(out, size);
  dns::Compressor comp;
  uint16_t flags = static_cast<uint16_t>(dns::flag::QR | dns::flag::AA | (flags_ & 0x7800) |
                                         (flags_ & dns::flag::RD));
  w.u16(id_);
  w.u16(flags);
  w.u16(first && !question_.empty() ? 1 : 0);
  w.u16(0);
  w.u16(0);
  w.u16(0);
  if (first) {
    w.bytes(question_.data(), question_.size());
  }
  w.limit(size - (edns_ ? kOptLen : 0));
  uint16_t an = 0;
  while (at_ < seq_.size()) {
    RecordView v = view_record(*seq_[at_]);
    size_t mark = w.pos();
    comp.write_name(w, v.owner, v.owner_len, true);
    w.u16(v.type);
    w.u16(dns::rrclass::IN);
    w.u32(v.ttl);
    dns::rdata_write(w, comp, v.type, v.rd, v.rdlen);
    if (!w.ok()) {
      w.rewind(mark);
      break;
    }
    ++an;
    ++at_;
  }
  if (an == 0 && at_ < seq_.size()) {
    // One record larger than a whole message: cannot be transferred.
    w.rewind(dns::kHeaderLen);
    if (first) {
      w.bytes(question_.data(), question_.size());
    }
    w.put_u16_at(2, static_cast<uint16_t>(flags | dns::rcode::SERVFAIL));
    at_ = seq_.size();
  }
  done_ = at_ >= seq_.size();
  w.put_u16_at(6, an);
  if (edns_) {
    w.limit(size);
    write_opt(w, do_bit_);
    w.put_u16_at(10, 1);
  }
  ++messages_;
  records_ += an;
  return w.pos();
}

bool ixfr_query_serial(const uint8_t* q, size_t qlen, uint32_t* serial) {
  dns::Query query;
  if (dns::parse_query(q, qlen, query) == dns::ParseResult::kDrop || !query.has_question ||
      qlen < dns::kHeaderLen) {
    return false;
  }
  const uint16_t an = static_cast<uint16_t>(q[6] << 8 | q[7]);
  const uint16_t ns = static_cast<uint16_t>(q[8] << 8 | q[9]);
  dns::WireReader r(q, qlen);
  r.seek(query.question_end);
  for (uint32_t i = 0; i < uint32_t{an} + ns; ++i) {
    if (!r.skip_name()) {
      return false;
    }
    uint16_t type = r.u16();
    r.skip(6);  // class, ttl
    uint16_t rdlen = r.u16();
    if (!r.ok() || r.remaining() < rdlen) {
      return false;
    }
    size_t end = r.pos() + rdlen;
    if (i >= an && type == dns::rrtype::SOA) {
      if (!r.skip_name() || !r.skip_name()) {
        return false;
      }
      uint32_t s = r.u32();
      if (!r.ok() || r.pos() > end) {
        return false;
      }
      *serial = s;
      return true;
    }
    r.seek(end);
  }
  return false;
}

std::vector<std::vector<uint8_t>> axfr_messages(const zone::Zone& z, const uint8_t* q, size_t qlen,
                                                size_t max_msg, const policy::Table* steering) {
  std::vector<std::vector<uint8_t>> out;
  AxfrStream s(z, q, qlen, max_msg, steering);
  std::vector<uint8_t> buf(kMaxTcpMessage);
  while (size_t n = s.next(buf.data(), buf.size())) {
    out.emplace_back(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
  }
  return out;
}

void log_tsig_failure(const sockaddr* peer, const uint8_t* q, size_t qlen, dns::TsigStatus st) {
  thread_local int64_t last_s = 0;
  thread_local uint64_t suppressed = 0;
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::steady_clock::now().time_since_epoch())
                          .count();
  if (now == last_s) {
    ++suppressed;
    return;
  }
  last_s = now;
  std::string question = "?";
  dns::Query query;
  if (dns::parse_query(q, qlen, query) != dns::ParseResult::kDrop && query.has_question) {
    auto n = dns::Name::from_uncompressed(q + query.qname_off, query.qname_len);
    question = (n ? n->to_text() : std::string("?")) + "/" + dns::type_to_text(query.qtype);
  }
  dns::TsigRecord rec;
  std::string key = dns::find_tsig(q, qlen, &rec) == dns::TsigFind::kFound
                        ? rec.key.to_text()
                        : std::string("(unreadable)");
  spdlog::warn("TSIG: {} from {} refused, key {}: {}{}", question, sockaddr_to_text(peer), key,
               dns::tsig_status_text(st),
               suppressed > 0 ? fmt::format(" ({} more TSIG failures not logged)", suppressed)
                              : std::string());
  suppressed = 0;
}

size_t xfr_error(const uint8_t* q, size_t qlen, uint16_t rcode, uint8_t* out, size_t cap) {
  dns::Query query;
  auto pr = dns::parse_query(q, qlen, query);
  if (pr == dns::ParseResult::kDrop || !query.has_question) {
    return 0;
  }
  dns::WireWriter w(out, cap);
  w.u16(query.id);
  w.u16(static_cast<uint16_t>(dns::flag::QR | (query.flags & 0x7800) |
                              (query.flags & dns::flag::RD) | (rcode & 0x0F)));
  w.u16(1);
  w.u16(0);
  w.u16(0);
  w.u16(query.edns.present ? 1 : 0);
  w.bytes(q + query.qname_off, query.question_end - query.qname_off);
  if (query.edns.present) {
    write_opt(w, query.edns.do_bit);
  }
  return w.ok() ? w.pos() : 0;
}

}  // namespace steerdns::server
