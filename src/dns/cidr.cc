#include "dns/cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace steerdns::dns {

Result<Cidr> Cidr::parse(std::string_view text) {
  Cidr c;
  std::string s(text);
  std::string addr = s;
  int prefix = -1;
  if (auto slash = s.find('/'); slash != std::string::npos) {
    addr = s.substr(0, slash);
    std::string p = s.substr(slash + 1);
    int v = 0;
    auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
    if (ec != std::errc() || ptr != p.data() + p.size() || p.empty()) {
      return Error{"'" + s + "': prefix length is not a number"};
    }
    prefix = v;
  }
  if (inet_pton(AF_INET, addr.c_str(), c.addr) == 1) {
    c.family = AF_INET;
    if (prefix < 0) prefix = 32;
    if (prefix > 32) return Error{"'" + s + "': IPv4 prefix length above 32"};
  } else if (inet_pton(AF_INET6, addr.c_str(), c.addr) == 1) {
    c.family = AF_INET6;
    if (prefix < 0) prefix = 128;
    if (prefix > 128) return Error{"'" + s + "': IPv6 prefix length above 128"};
  } else {
    return Error{"'" + s + "' is not an IP address or prefix"};
  }
  c.prefix = static_cast<uint8_t>(prefix);
  // Clear host bits so that comparisons are exact.
  int bytes = c.family == AF_INET ? 4 : 16;
  for (int i = 0; i < bytes; ++i) {
    int bits = std::clamp(prefix - i * 8, 0, 8);
    c.addr[i] &= static_cast<uint8_t>(0xFF00 >> bits);
  }
  return c;
}

bool Cidr::contains(int fam, const uint8_t* a) const {
  if (fam != family) return false;
  int full = prefix / 8, rest = prefix % 8;
  if (std::memcmp(a, addr, static_cast<size_t>(full)) != 0) return false;
  if (rest == 0) return true;
  auto mask = static_cast<uint8_t>(0xFF00 >> rest);
  return (a[full] & mask) == addr[full];
}

bool Cidr::contains(const sockaddr* sa) const {
  if (sa->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    return contains(AF_INET, reinterpret_cast<const uint8_t*>(&in->sin_addr));
  }
  if (sa->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    const uint8_t* a = reinterpret_cast<const uint8_t*>(&in6->sin6_addr);
    // IPv4-mapped IPv6 addresses match IPv4 prefixes.
    static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
    if (family == AF_INET && std::memcmp(a, kMapped, 12) == 0) return contains(AF_INET, a + 12);
    return contains(AF_INET6, a);
  }
  return false;
}

std::string Cidr::to_text() const {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(family, addr, buf, sizeof buf);
  return std::string(buf) + "/" + std::to_string(prefix);
}

}  // namespace steerdns::dns
