#pragma once
// RuntimeConfig: everything the query path reads, immutable once built. A reload builds a new
// one aside and publishes it with one pointer swap (Snapshot<RuntimeConfig>); a failed reload
// leaves the old one serving.
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "dns/cidr.h"
#include "dns/tsig.h"
#include "policy/model.h"
#include "policy/table.h"
#include "zone/zone.h"

namespace steerdns::config {

using dns::Cidr;

struct Chaos {
  bool enabled = true;
  std::string version;  // answer to version.bind / version.server; empty = REFUSED
  std::string id;       // answer to id.server / hostname.bind; empty = REFUSED

  // "steerdns <version>" and the host name: what every config starts from.
  static Chaos defaults();
};

// One `server.xfr_allow` entry: clients in `from` may transfer; with `key`, only requests
// signed with that TSIG key (docs/zone-transfer.md).
struct XfrAllow {
  Cidr from;
  std::optional<dns::Name> key;

  XfrAllow() = default;
  XfrAllow(const Cidr& c) : from(c) {}  // NOLINT(google-explicit-constructor): a plain prefix
  bool contains(const sockaddr* sa) const { return from.contains(sa); }
  // "192.0.2.0/24", or "192.0.2.0/24 key xfr-key." with a key.
  std::string to_text() const {
    return key ? from.to_text() + " key " + key->to_text() : from.to_text();
  }
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
  std::vector<XfrAllow> xfr_allow;  // who may AXFR/IXFR; empty = nobody
  // `server.tsig_keys`: verifies signed queries and signs their answers (never null once
  // loaded; empty without the setting).
  std::shared_ptr<const dns::TsigKeyring> tsig_keys = std::make_shared<const dns::TsigKeyring>();
  std::string source;               // where this config came from, for logs
  // Traffic steering: the record sets (zone::RRset::steer indexes record_sets) and the table
  // the query path selects from. The steering service publishes a copy of this config with a
  // table recompiled on every health or steering change; copies share zones and spec.
  // Null table: steered rrsets answer their fail-open fallback.
  std::shared_ptr<const policy::SteeringSpec> steering_spec;
  std::shared_ptr<const policy::Table> steering;

 private:
  std::vector<std::shared_ptr<const zone::Zone>> zones_;  // sorted by origin length, longest first
};

}  // namespace steerdns::config
