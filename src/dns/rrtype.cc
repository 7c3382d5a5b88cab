#include "dns/rrtype.h"

#include <array>
#include <charconv>
#include <cstring>

namespace steerdns::dns {
namespace {

using F = Field;
constexpr TypeInfo kTypes[] = {
    {rrtype::A, "A", 1, {F::kIPv4}},
    {rrtype::NS, "NS", 1, {F::kName}},
    {rrtype::CNAME, "CNAME", 1, {F::kName}},
    {rrtype::SOA, "SOA", 7, {F::kName, F::kName, F::kU32, F::kU32, F::kU32, F::kU32, F::kU32}},
    {rrtype::PTR, "PTR", 1, {F::kName}},
    {rrtype::HINFO, "HINFO", 2, {F::kString, F::kString}},
    {rrtype::MX, "MX", 2, {F::kU16, F::kName}},
    {rrtype::TXT, "TXT", 1, {F::kStrings}},
    {rrtype::AAAA, "AAAA", 1, {F::kIPv6}},
    {rrtype::SRV, "SRV", 4, {F::kU16, F::kU16, F::kU16, F::kNameNC}},
    {rrtype::NAPTR, "NAPTR", 6, {F::kU16, F::kU16, F::kString, F::kString, F::kString, F::kNameNC}},
    {rrtype::DNAME, "DNAME", 1, {F::kNameNC}},
    {rrtype::DS, "DS", 4, {F::kU16, F::kU8, F::kU8, F::kHex}},
    {rrtype::SSHFP, "SSHFP", 3, {F::kU8, F::kU8, F::kHex}},
    {rrtype::DNSKEY, "DNSKEY", 4, {F::kU16, F::kU8, F::kU8, F::kBase64}},
    {rrtype::TLSA, "TLSA", 4, {F::kU8, F::kU8, F::kU8, F::kHex}},
    {rrtype::SVCB, "SVCB", 3, {F::kU16, F::kNameNC, F::kSvcParams}},
    {rrtype::HTTPS, "HTTPS", 3, {F::kU16, F::kNameNC, F::kSvcParams}},
    {rrtype::CAA, "CAA", 3, {F::kU8, F::kCaaTag, F::kCaaValue}},
};

struct Named {
  uint16_t code;
  const char* name;
};
// Names of types without an rdata description (meta types and DNSSEC types we pass as opaque).
constexpr Named kOtherNames[] = {
    {rrtype::OPT, "OPT"},
    {rrtype::RRSIG, "RRSIG"},
    {rrtype::NSEC, "NSEC"},
    {rrtype::NSEC3, "NSEC3"},
    {rrtype::TKEY, "TKEY"},
    {rrtype::TSIG, "TSIG"},
    {rrtype::IXFR, "IXFR"},
    {rrtype::AXFR, "AXFR"},
    {rrtype::MAILB, "MAILB"},
    {rrtype::MAILA, "MAILA"},
    {rrtype::ANY, "ANY"},
    {51, "NSEC3PARAM"},
    {59, "CDS"},
    {60, "CDNSKEY"},
    {61, "OPENPGPKEY"},
    {99, "SPF"},
    {256, "URI"},
    {29, "LOC"},
};

char lower_c(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

bool ieq(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower_c(a[i]) != lower_c(b[i])) return false;
  }
  return true;
}

}  // namespace

const TypeInfo* type_info(uint16_t code) {
  for (const auto& t : kTypes) {
    if (t.code == code) return &t;
  }
  return nullptr;
}

std::string type_to_text(uint16_t code) {
  if (const TypeInfo* t = type_info(code)) return t->name;
  for (const auto& n : kOtherNames) {
    if (n.code == code) return n.name;
  }
  return "TYPE" + std::to_string(code);
}

std::optional<uint16_t> type_from_text(std::string_view s) {
  for (const auto& t : kTypes) {
    if (ieq(s, t.name)) return t.code;
  }
  for (const auto& n : kOtherNames) {
    if (ieq(s, n.name)) return n.code;
  }
  if (s.size() > 4 && ieq(s.substr(0, 4), "TYPE")) {
    unsigned v = 0;
    auto [p, ec] = std::from_chars(s.data() + 4, s.data() + s.size(), v);
    if (ec == std::errc() && p == s.data() + s.size() && v <= 65535) {
      return static_cast<uint16_t>(v);
    }
  }
  return std::nullopt;
}

std::string class_to_text(uint16_t code) {
  switch (code) {
    case rrclass::IN:
      return "IN";
    case rrclass::CH:
      return "CH";
    case rrclass::NONE:
      return "NONE";
    case rrclass::ANY:
      return "ANY";
    default:
      return "CLASS" + std::to_string(code);
  }
}

bool is_meta_type(uint16_t code) { return code == rrtype::OPT || (code >= 128 && code <= 255); }

}  // namespace steerdns::dns
