#pragma once
// DNS message header, query parsing with EDNS(0) (RFC 6891) and Client Subnet (RFC 7871).
// parse_query never reads out of bounds and returns what the caller must send back.
#include <cstddef>
#include <cstdint>

#include "dns/wire.h"

namespace steerdns::dns {

inline constexpr size_t kHeaderLen = 12;
inline constexpr uint16_t kMinUdpPayload = 512;

namespace flag {
inline constexpr uint16_t QR = 0x8000, AA = 0x0400, TC = 0x0200, RD = 0x0100, RA = 0x0080,
                          Z = 0x0040, AD = 0x0020, CD = 0x0010;
}
namespace opcode {
inline constexpr uint8_t QUERY = 0, NOTIFY = 4, UPDATE = 5;
}
namespace rcode {
inline constexpr uint16_t NOERROR = 0, FORMERR = 1, SERVFAIL = 2, NXDOMAIN = 3, NOTIMP = 4,
                          REFUSED = 5, YXDOMAIN = 6, NOTAUTH = 9, BADVERS = 16;
}
namespace ednsopt {
inline constexpr uint16_t NSID = 3, ECS = 8, COOKIE = 10, KEEPALIVE = 11, PADDING = 12;
}

struct ClientSubnet {
  bool present = false;
  uint16_t family = 0;  // 1 = IPv4, 2 = IPv6
  uint8_t source_prefix = 0;
  uint8_t scope_prefix = 0;
  uint8_t addr[16] = {};
};

struct Edns {
  bool present = false;
  uint16_t udp_size = 0;
  uint8_t version = 0;
  bool do_bit = false;
  ClientSubnet ecs;
};

enum class ParseResult : uint8_t {
  kOk,
  kDrop,     // not worth an answer (a response, or shorter than a header)
  kFormErr,  // malformed: answer FORMERR
  kNotImp,   // unknown opcode: answer NOTIMP
  kBadVers,  // EDNS version above 0: answer BADVERS
};

struct Query {
  uint16_t id = 0;
  uint16_t flags = 0;  // as received
  uint8_t opcode = 0;
  bool has_question = false;
  size_t qname_off = kHeaderLen;  // the question name in the packet, uncompressed
  size_t qname_len = 0;
  uint16_t qtype = 0;
  uint16_t qclass = 0;
  size_t question_end = kHeaderLen;  // offset just past the question
  Edns edns;
  // Offset of a TSIG record (RFC 8945; it must be the last record), 0 if none: such a query
  // leaves the fast path for dns/tsig.h.
  size_t tsig_off = 0;
};

ParseResult parse_query(const uint8_t* p, size_t len, Query& q);

inline uint16_t get16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

}  // namespace steerdns::dns
