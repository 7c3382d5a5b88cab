#pragma once
// IP address prefixes: access lists (AXFR), latency maps, subnet routing, ECS.
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.h"

namespace steerdns::dns {

// An address prefix, e.g. 127.0.0.0/8 or ::1/128.
struct Cidr {
  int family = AF_INET;
  uint8_t addr[16] = {};
  uint8_t prefix = 0;

  static Result<Cidr> parse(std::string_view text);
  bool contains(const sockaddr* sa) const;
  bool contains(int fam, const uint8_t* a) const;
  std::string to_text() const;
};

}  // namespace steerdns::dns
