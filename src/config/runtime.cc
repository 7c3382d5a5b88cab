#include "config/runtime.h"

#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstring>

#include "core/version.h"

namespace steerdns::config {


Chaos Chaos::defaults() {
  Chaos c;
  c.version = std::string("steerdns ") + kVersion;
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) == 0) {
    c.id = host;
  }
  return c;
}

void RuntimeConfig::set_zones(std::vector<std::shared_ptr<const zone::Zone>> zones) {
  zones_ = std::move(zones);
  std::stable_sort(zones_.begin(), zones_.end(), [](const auto& a, const auto& b) {
    return a->origin().size() > b->origin().size();
  });
}

const zone::Zone* RuntimeConfig::find_zone(const uint8_t* qname, size_t len) const {
  // Longest first, so the first suffix match is the closest enclosing zone.
  for (const auto& z : zones_) {
    const dns::Name& o = z->origin();
    if (dns::wire_name_is_under(qname, len, o.data(), o.size())) return z.get();
  }
  return nullptr;
}

const zone::Zone* RuntimeConfig::zone_at(const uint8_t* name, size_t len) const {
  for (const auto& z : zones_) {
    if (z->origin().size() == len && dns::wire_name_equal(name, z->origin().data(), len)) {
      return z.get();
    }
  }
  return nullptr;
}

}  // namespace steerdns::config
