#pragma once
// Listen addresses: "127.0.0.1:5300", "[::1]:5300", "0.0.0.0:53", "[::]:53".
#include <sys/socket.h>

#include <string>
#include <string_view>

#include "core/result.h"

namespace steerdns::server {

struct ListenAddr {
  sockaddr_storage ss{};
  socklen_t len = 0;
  std::string text;  // as given, for logs

  const sockaddr* sa() const { return reinterpret_cast<const sockaddr*>(&ss); }
  int family() const { return ss.ss_family; }
  bool is_wildcard() const;
};

// Parses ADDR:PORT; IPv6 addresses must be in brackets. Port 0 is accepted (tests).
Result<ListenAddr> parse_listen_addr(std::string_view text);

// "1.2.3.4:53" or "[::1]:53".
std::string sockaddr_to_text(const sockaddr* sa);

}  // namespace steerdns::server
