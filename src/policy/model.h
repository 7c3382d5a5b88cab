#pragma once
// Steered record sets: the one model that the YAML file, the JSON API and the Route 53 API all
// compile to. Shaped like Route 53's ResourceRecordSet (name, type, set identifier, TTL,
// values or alias target, health check id) so that its users recognise it, with one record set
// per (name, type) holding all its members (Route 53 spreads them over several
// ResourceRecordSets with the same name and type; the Route 53 API layer groups them).
//
// Values are immutable once built; validate() rejects contradictory or incomplete sets with the
// record's source ("file:line") and the reason, before anything is applied.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/result.h"
#include "dns/cidr.h"
#include "dns/name.h"

namespace steerdns::policy {

enum class Policy : uint8_t { kSimple, kFailover, kWeighted, kLatency, kGeo, kSubnet, kMultivalue };
// What to answer when no member is healthy.
enum class AllDown : uint8_t {
  kFailOpen,  // answer as if all were healthy (failover: the first tier) -- Route 53's rule
  kStatic,    // answer `static_values` (a sorry page)
  kNodata,    // NOERROR, empty answer
  kServfail,  // SERVFAIL, so resolvers try again / fall back
};
enum class FailbackMode : uint8_t {
  kAuto,     // back to the better tier once it has been healthy for `stabilize`
  kManual,   // stay until an operator approves (survives restarts)
  kGradual,  // weighted ramp back over `ramp`, rolled back if the better tier degrades
};

const char* policy_name(Policy p);
const char* all_down_name(AllDown a);
const char* failback_name(FailbackMode m);

// An alias member answers with another record set's current answer (Route 53 AliasTarget).
struct AliasTarget {
  dns::Name name;      // absolute; must be in a zone we serve
  uint16_t type = 0;   // the record set's own type (aliases never change the type)
  bool evaluate_target_health = true;  // unhealthy when the target has no healthy answer
};

struct Member {
  std::string set_id;                       // unique within the record set
  std::vector<std::vector<uint8_t>> rdata;  // wire rdata of the values; empty for an alias
  std::optional<AliasTarget> alias;
  std::string health_check;  // check id; empty = always healthy (Route 53's rule)

  int tier = 0;        // failover: 1 = primary, 2 = secondary, 3... (role: primary/secondary)
  int weight = -1;     // weighted: 0..255; 0 = standby
  std::string region;  // latency
  // geo: ISO country codes ("TW"), continent codes as "continent:AS", subdivisions as
  // "TW-TPE", and "*" for the default member.
  std::vector<std::string> locations;
  std::vector<dns::Cidr> subnets;  // subnet: CIDR collection of this member
  bool subnet_default = false;     // subnet: answers clients no collection matches

  std::string where;  // "file:line" or "change batch N, change 3"
};

struct RecordSet {
  dns::Name name;  // absolute owner name
  uint16_t type = 0;
  uint32_t ttl = 300;
  Policy policy = Policy::kSimple;
  std::vector<Member> members;  // kSimple: exactly one
  AllDown on_all_down = AllDown::kFailOpen;
  std::vector<std::vector<uint8_t>> static_values;  // for AllDown::kStatic

  // weighted: the same client subnet keeps its member (rendezvous hashing over healthy members)
  bool sticky = false;
  uint8_t sticky_v4_prefix = 24;
  uint8_t sticky_v6_prefix = 56;
  // multivalue: at most this many healthy values (Route 53: 8)
  int max_values = 8;

  // Failover orchestration (dr/). Meaningful for failover record sets.
  uint32_t failover_ttl = 0;     // TTL while failed over; 0 = same as ttl
  Millis failover_ttl_hold_ms = 0;  // keep the lower TTL this long after failing back
  FailbackMode failback = FailbackMode::kAuto;
  Millis stabilize_ms = 60'000;     // auto: better tier healthy this long before failing back
  Millis ramp_ms = 600'000;         // gradual: duration of the ramp back
  Millis min_state_ms = 30'000;     // anti-flap: minimum time in a state before failing back
  int flap_transitions = 4;         // anti-flap: K transitions ...
  Millis flap_window_ms = 600'000;  // ... within W freeze the record in the safer tier

  std::string where;

  std::string key() const;  // "genai-demo.example.test./A": identifies the set everywhere
};

// Client network -> round-trip time per region, for latency routing. Longest prefix wins.
struct LatencyEntry {
  dns::Cidr cidr;
  std::vector<std::pair<std::string, uint32_t>> rtt_ms;  // region -> RTT
  std::string where;
};

struct SteeringSpec {
  std::vector<RecordSet> record_sets;
  std::vector<LatencyEntry> latency_map;
  std::string geoip_db;  // MaxMind-format .mmdb; required when a geo record set exists
  // Latency members without a map entry for the client fall back to the RTT their health check
  // measured (checker -> endpoint), when this is set.
  bool latency_use_measured_rtt = true;
};

// Checks the spec as a whole: unique (name, type); per policy: members well formed (two
// PRIMARYs, weights out of range, failover without a secondary, missing regions or locations,
// duplicate set ids), alias targets exist with the same type and form no loop, every
// health_check is in `known_checks`, the geo database opens. Errors carry the member's `where`.
Status validate(const SteeringSpec& spec, const std::vector<std::string>& known_checks);

}  // namespace steerdns::policy
