#include "dns/message.h"

#include "dns/name.h"
#include "dns/rrtype.h"

namespace steerdns::dns {
namespace {

bool parse_ecs(const uint8_t* p, size_t n, ClientSubnet& ecs) {
  if (n < 4) return false;
  ecs.family = get16(p);
  ecs.source_prefix = p[2];
  ecs.scope_prefix = p[3];
  size_t max_prefix = ecs.family == 1 ? 32 : ecs.family == 2 ? 128 : 0;
  if (max_prefix == 0 || ecs.source_prefix > max_prefix) return false;
  // RFC 7871 6: SCOPE PREFIX-LENGTH must be 0 in queries; ADDRESS is exactly the prefix octets.
  if (ecs.scope_prefix != 0) return false;
  size_t octets = (ecs.source_prefix + 7u) / 8u;
  if (n - 4 != octets) return false;
  for (size_t i = 0; i < octets; ++i) ecs.addr[i] = p[4 + i];
  if (octets && (ecs.source_prefix % 8) != 0) {
    uint8_t mask = static_cast<uint8_t>(0xFF >> (ecs.source_prefix % 8));
    if (ecs.addr[octets - 1] & mask) return false;  // bits beyond the prefix must be zero
  }
  ecs.present = true;
  return true;
}

}  // namespace

ParseResult parse_query(const uint8_t* p, size_t len, Query& q) {
  if (len < kHeaderLen) return ParseResult::kDrop;
  q.id = get16(p);
  q.flags = get16(p + 2);
  if (q.flags & flag::QR) return ParseResult::kDrop;
  q.opcode = static_cast<uint8_t>((q.flags >> 11) & 0xF);
  uint16_t qd = get16(p + 4), an = get16(p + 6), ns = get16(p + 8), ar = get16(p + 10);

  WireReader r(p, len, kHeaderLen);
  if (qd == 1) {
    size_t start = r.pos();
    // The question name must be uncompressed: nothing precedes it that a pointer could use.
    size_t nl = wire_name_length(p + start, len - start);
    if (nl == 0) return ParseResult::kFormErr;
    r.skip(nl);
    q.qtype = r.u16();
    q.qclass = r.u16();
    if (!r.ok()) return ParseResult::kFormErr;
    q.has_question = true;
    q.qname_off = start;
    q.qname_len = nl;
    q.question_end = r.pos();
  } else if (qd > 1) {
    return ParseResult::kFormErr;
  }
  if (q.opcode != opcode::QUERY && q.opcode != opcode::NOTIFY) return ParseResult::kNotImp;
  if (qd == 0) return ParseResult::kFormErr;

  // Skip answer and authority records (normally none in a query).
  for (uint32_t i = 0; i < uint32_t{an} + ns && r.ok(); ++i) {
    r.skip_name();
    r.skip(8);
    uint16_t rdlen = r.u16();
    r.skip(rdlen);
  }
  bool badvers = false;
  for (uint16_t i = 0; i < ar && r.ok(); ++i) {
    size_t name_at = r.pos();
    r.skip_name();
    uint16_t type = r.u16();
    uint16_t cls = r.u16();
    uint32_t ttl = r.u32();
    uint16_t rdlen = r.u16();
    const uint8_t* rd = r.bytes(rdlen);
    if (!r.ok()) break;
    if (type != rrtype::OPT) {
      if (type == rrtype::TSIG) {
        if (i + 1 != ar) return ParseResult::kFormErr;  // RFC 8945 5.1: last, and only one
        q.tsig_off = name_at;
      }
      continue;
    }
    // RFC 6891 6.1.1: one OPT, owned by the root.
    if (q.edns.present || p[name_at] != 0) return ParseResult::kFormErr;
    q.edns.present = true;
    q.edns.udp_size = cls;
    q.edns.version = static_cast<uint8_t>(ttl >> 16);
    q.edns.do_bit = (ttl & 0x8000) != 0;
    if (q.edns.version > 0) {
      badvers = true;
      continue;
    }
    for (size_t off = 0; off + 4 <= rdlen;) {
      uint16_t code = get16(rd + off);
      uint16_t olen = get16(rd + off + 2);
      if (off + 4 + olen > rdlen) return ParseResult::kFormErr;
      if (code == ednsopt::ECS) {
        if (q.edns.ecs.present || !parse_ecs(rd + off + 4, olen, q.edns.ecs)) {
          return ParseResult::kFormErr;
        }
      }
      off += 4u + olen;
      if (off != rdlen && rdlen - off < 4) return ParseResult::kFormErr;
    }
    if (rdlen > 0 && rdlen < 4) return ParseResult::kFormErr;
  }
  if (!r.ok()) return ParseResult::kFormErr;
  if (badvers) return ParseResult::kBadVers;
  return ParseResult::kOk;
}

}  // namespace steerdns::dns
