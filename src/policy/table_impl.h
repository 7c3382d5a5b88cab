#pragma once
// Private to src/policy: the compiled form of a Table (table.cc builds it, explain.cc reads it).
#include <maxminddb.h>

#include <array>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "policy/prefix_map.h"
#include "policy/table.h"

namespace steerdns::policy {

// Where one answer's rdata lives in Impl::arena: count x ([u16 len][rdata]).
struct Blob {
  uint32_t off = 0;
  uint16_t count = 0;
};

struct CompiledMember {
  bool is_leaf = true;         // values (possibly an alias resolved to a static rrset)
  uint32_t target = kNoSteer;  // alias to another steered record set
  Blob leaf;
  int check = -1;       // index in the HealthView, -1 = none/unknown
  bool healthy = true;  // effective: check, overrides, drain, alias target health
  MemberHealth health;
  double weight = 0;         // weighted: after drain
  uint64_t id_hash = 0;      // sticky rendezvous hashing
  double measured_rtt = -1;  // the check's last RTT (latency fallback)
  // Selection::branch when this member answers, and when it answers because all are down
  // (on_all_down: fail_open).
  std::string branch;
  std::string branch_fail_open;
};

// One geo location -> member (country "TW", subdivision "US-CA", continent "continent:EU").
struct GeoLocation {
  std::array<char, 16> code{};
  uint32_t member = 0;
};

struct CompiledSet {
  std::string key;
  Policy policy = Policy::kSimple;
  AllDown all_down = AllDown::kFailOpen;
  uint32_t ttl = 0;          // effective answer TTL (SteerState.ttl or the set's)
  const char* ttl_why = "";  // explain
  bool forced_down = false;  // Overrides::sets
  bool forced_up = false;
  bool any_healthy = true;
  std::vector<CompiledMember> members;
  Blob static_blob;
  std::string branch_all_down;  // on_all_down static / nodata / servfail
  std::string branch_multi;     // multivalue (healthy members, or all of them: fail_open)

  // failover
  std::vector<uint32_t> tier_member;  // [tier - 1] -> member index
  int first_healthy_tier = 0;
  int active_tier = 0;  // SteerState
  int ramp_tier = 0;
  double ramp_share = 0;

  // weighted: candidates as decided at compile time (healthy non-zero, else healthy standby,
  // else -- fail_open -- everybody by the same rules), cumulative weights for the pick
  std::vector<uint32_t> wcand;
  std::vector<double> wweight;
  std::vector<double> wcum;
  bool weighted_all_down = false;
  bool sticky = false;
  uint8_t sticky_v4 = 24;
  uint8_t sticky_v6 = 56;

  // latency: member order per latency map entry; the last one is for clients without an entry
  std::vector<std::vector<uint32_t>> latency_order;

  // geo
  std::vector<GeoLocation> geo;
  int geo_default = -1;

  // subnet
  PrefixMap<uint32_t> subnets;
  int subnet_default = -1;

  // multivalue
  Blob multi;
  bool multi_all_down = false;

  bool fixed_valid = false;  // client- and entropy-independent: answer precomputed
  Selection fixed;
};

// Decision trace for explain (only built when asked for; the query path passes nullptr).
struct Trace {
  std::vector<std::string> steps;
  bool all_down_fired = false;
  std::string all_down_set;
  int tier = 0;
  int member = -1;  // member chosen in the top-level set
};

struct Table::Impl {
  std::vector<uint8_t> arena;
  std::vector<CompiledSet> sets;
  std::unordered_map<std::string, uint32_t> ids;
  std::vector<uint8_t> latency_prefix;  // per entry: its prefix length
  PrefixMap<uint32_t> latency;          // client prefix -> latency map entry
  MMDB_s mmdb{};
  bool mmdb_open = false;

  ~Impl();
  Selection select(uint32_t id, const Client& c, uint64_t entropy, int depth, bool* varies,
                   Trace* tr) const;
  Selection leaf(const CompiledSet& s, const Blob& b) const;
  Selection member_answer(const CompiledSet& s, uint32_t mi, const Client& c, uint64_t entropy,
                          int depth, bool* varies, Trace* tr, bool fail_open = false) const;
  // Selection for all-down handling other than fail_open; false for fail_open.
  bool all_down(const CompiledSet& s, Selection* out, Trace* tr, int depth) const;
};

}  // namespace steerdns::policy
