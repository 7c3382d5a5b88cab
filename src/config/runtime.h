#pragma once
// RuntimeConfig: everything the query path reads, immutable once built. A reload builds a new
// one aside and publishes it with one pointer swap (Snapshot<RuntimeConfig>); a failed reload
// leaves the old one serving.
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/result.h"
#include "zone/zone.h"

namespace steerdns::config {

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

struct Chaos {
  bool enabled = true;
  std::string version;  // answer to version.bind / version.server; empty = REFUSED
  std::string id;       // answer to id.server / hostname.bind; empty = REFUSED

  // "steerdns <version>" and the host name: what every config starts from.
  static Chaos defaults();
};

class RuntimeConfig {
 public:
  // Zones, any order; the set is indexed for longest-match lookup.
  void set_zones(std::vector<std::shared_ptr<const zone::Zone>> zones);
  const std::vector<std::shared_ptr<const zone::Zone>>& zones() const { return zones_; }
  // Longest zone whose origin is qname or an ancestor of it; nullptr if none.
  const zone::Zone* find_zone(const uint8_t* qname, size_t len) const;
  // Zone with exactly this origin.
  const zone::Zone* zone_at(const uint8_t* name, size_t len) const;

  Chaos chaos;
  uint16_t max_udp_payload = 1232;  // DNS Flag Day 2020 default
  std::vector<Cidr> xfr_allow;      // who may AXFR/IXFR; empty = nobody
  std::string source;               // where this config came from, for logs

 private:
  std::vector<std::shared_ptr<const zone::Zone>> zones_;  // sorted by origin length, longest first
};

}  // namespace steerdns::config
