#pragma once
// Every RR type we know is described once, as a list of rdata fields; wire parsing
// (with decompression), writing (with compression where RFC 3597 allows it) and presentation
// text are all derived from that one description (rdata.h). Other types are handled as
// RFC 3597 opaque data.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace steerdns::dns {

namespace rrtype {
inline constexpr uint16_t A = 1, NS = 2, CNAME = 5, SOA = 6, PTR = 12, HINFO = 13, MX = 15,
                          TXT = 16, AAAA = 28, SRV = 33, NAPTR = 35, DNAME = 39, OPT = 41, DS = 43,
                          SSHFP = 44, RRSIG = 46, NSEC = 47, DNSKEY = 48, NSEC3 = 50, TLSA = 52,
                          SVCB = 64, HTTPS = 65, TKEY = 249, TSIG = 250, IXFR = 251, AXFR = 252,
                          MAILB = 253, MAILA = 254, ANY = 255, CAA = 257;
}
namespace rrclass {
inline constexpr uint16_t IN = 1, CH = 3, NONE = 254, ANY = 255;
}

enum class Field : uint8_t {
  kU8,
  kU16,
  kU32,
  kIPv4,
  kIPv6,
  kName,       // domain name that may be compressed (RFC 1035 well-known types)
  kNameNC,     // domain name never compressed when writing (RFC 3597 section 4)
  kString,     // one <character-string>
  kStrings,    // one or more <character-string>s up to the end (TXT)
  kHex,        // the rest, presented as hex
  kBase64,     // the rest, presented as base64
  kSvcParams,  // SVCB/HTTPS key=value list (RFC 9460)
  kCaaTag,     // CAA tag: a length-prefixed string presented bare
  kCaaValue,   // CAA value: the rest presented as one quoted string
};

struct TypeInfo {
  uint16_t code;
  const char* name;
  uint8_t nfields;
  Field fields[8];
};

// nullptr for types without a description (handled as RFC 3597 unknown types).
const TypeInfo* type_info(uint16_t code);
// "A", "AAAA", ... or "TYPE65280".
std::string type_to_text(uint16_t code);
std::optional<uint16_t> type_from_text(std::string_view s);
std::string class_to_text(uint16_t code);
// Meta types (RFC 6895): not valid as data.
bool is_meta_type(uint16_t code);

}  // namespace steerdns::dns
