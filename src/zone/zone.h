#pragma once
// An immutable zone: nodes form a tree under the apex (each node points to its parent, and the
// node table is sorted in canonical order, i.e. by reversed labels), with a hash index over
// lower-cased owner names for O(1) exact lookups on the query path. Built aside by
// ZoneBuilder, validated, then published by pointer swap; never modified afterwards.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "dns/name.h"

namespace steerdns::zone {

inline constexpr uint32_t kNone = 0xFFFFFFFFu;

struct RRset {
  uint16_t type = 0;
  uint16_t count = 0;
  uint32_t ttl = 0;
  uint32_t data_off = 0;  // into Zone rdata arena: count x ([u16 length][rdata])
  uint32_t data_len = 0;
  // Steered rrset: index into policy::SteeringSpec::record_sets; the answer comes from the
  // steering table per query, and the data above is the fail-open fallback (may be empty).
  uint32_t steer = kNone;
};

namespace nodeflag {
inline constexpr uint8_t kApex = 1, kCut = 2, kDname = 4, kWildcardChild = 8, kCname = 16;
}

struct Node {
  uint32_t name_off = 0;  // into the names arena: uncompressed wire name, original case
  uint8_t name_len = 0;
  uint8_t flags = 0;
  uint8_t depth = 0;  // labels below the apex (apex = 0)
  uint8_t nrrsets = 0;
  uint32_t first_rrset = 0;
  uint32_t parent = kNone;
  // Topmost zone cut at or above this node (apex excluded), or kNone.
  uint32_t cut = kNone;
  // Topmost DNAME strictly above this node (apex included), or kNone.
  uint32_t dname = kNone;
};

class Zone {
 public:
  const dns::Name& origin() const { return origin_; }
  // A hash of the origin (case-insensitive, never 0): names the zone in per-thread metrics
  // without a string per query, and stays the same across rebuilds of the zone.
  uint64_t origin_hash() const { return origin_hash_; }
  uint32_t serial() const { return serial_; }
  const Node& apex() const { return nodes_[apex_]; }
  uint32_t apex_index() const { return apex_; }

  // Exact, case-insensitive lookup of an uncompressed wire name; nullptr if absent.
  const Node* find(const uint8_t* name, size_t len) const;
  const Node* find(const dns::Name& n) const { return find(n.data(), n.size()); }
  const Node& node(uint32_t i) const { return nodes_[i]; }
  uint32_t index_of(const Node* n) const { return static_cast<uint32_t>(n - nodes_.data()); }
  size_t node_count() const { return nodes_.size(); }
  size_t record_count() const { return record_count_; }

  std::span<const RRset> rrsets(const Node& n) const {
    return {rrsets_.data() + n.first_rrset, n.nrrsets};
  }
  const RRset* rrset(const Node& n, uint16_t type) const;
  const uint8_t* name_data(const Node& n) const { return names_.data() + n.name_off; }
  dns::Name name(const Node& n) const;

  // Iterates the rdata of an rrset: f(const uint8_t* rdata, uint16_t len).
  template <class F>
  void for_each_rdata(const RRset& rs, F&& f) const {
    const uint8_t* p = rdata_.data() + rs.data_off;
    for (uint16_t i = 0; i < rs.count; ++i) {
      uint16_t l = static_cast<uint16_t>(p[0] << 8 | p[1]);
      f(p + 2, l);
      p += 2 + l;
    }
  }
  // The rdata of an rrset in the wire layout above (count x ([u16 length][rdata])).
  const uint8_t* rdata_ptr(const RRset& rs) const { return rdata_.data() + rs.data_off; }
  // The SOA rdata and TTL (every zone has exactly one SOA at its apex).
  const RRset& soa() const { return rrsets_[soa_rrset_]; }
  // Negative-answer TTL per RFC 2308: min(SOA TTL, SOA MINIMUM).
  uint32_t negative_ttl() const { return negative_ttl_; }

  size_t memory_bytes() const;

  // A copy whose SOA says `serial` (zone transfer's served serial, server/journal.h): the rest
  // is the same data. Copies the whole zone; for publishing, not the query path.
  std::shared_ptr<const Zone> with_serial(uint32_t serial) const;

 private:
  friend class ZoneBuilder;
  dns::Name origin_;
  uint64_t origin_hash_ = 1;
  uint32_t serial_ = 0;
  uint32_t apex_ = 0;
  uint32_t soa_rrset_ = 0;
  uint32_t negative_ttl_ = 0;
  size_t record_count_ = 0;
  std::vector<Node> nodes_;
  std::vector<RRset> rrsets_;
  std::vector<uint8_t> names_;
  std::vector<uint8_t> rdata_;
  std::vector<uint32_t> index_;  // open addressing over node indices; kNone = empty
  size_t index_mask_ = 0;
};

// Builds a Zone from records, then runs the semantic checks (RFC 1034/2181: one SOA at the
// apex, apex NS, CNAME alone, one DNAME and nothing below it, no out-of-zone data; glue and
// occluded data are reported as warnings). Errors name the record's source ("file:line").
class ZoneBuilder {
 public:
  explicit ZoneBuilder(dns::Name origin);
  ~ZoneBuilder();
  ZoneBuilder(const ZoneBuilder&) = delete;
  ZoneBuilder& operator=(const ZoneBuilder&) = delete;

  // `file` and `line` are kept for error messages ("file:line: ..."). Returns an error for
  // data that can never be valid (out of zone, wrong class, meta type, malformed rdata).
  Status add(const uint8_t* owner, size_t owner_len, uint16_t type, uint16_t rclass, uint32_t ttl,
             const uint8_t* rdata, size_t rdlen, std::string_view file, uint32_t line);
  Status add(const dns::Name& owner, uint16_t type, uint32_t ttl, const std::vector<uint8_t>& rd,
             std::string_view file = "", uint32_t line = 0) {
    return add(owner.data(), owner.size(), type, 1, ttl, rd.data(), rd.size(), file, line);
  }
  // A steered rrset (owner, type, ttl, steering id) whose answer the steering table gives per
  // query; `fallback` is the fail-open answer used without a table (empty for pure alias sets).
  // The semantic checks treat it as an rrset of `type`; static records of the same owner and
  // type beside it are an error.
  Status add_steered(const dns::Name& owner, uint16_t type, uint32_t ttl, uint32_t steer,
                     const std::vector<std::vector<uint8_t>>& fallback, std::string_view file,
                     uint32_t line);
  size_t record_count() const;
  // A record as add() took it (owner in original case), for callers that cache what they added.
  struct Record {
    std::vector<uint8_t> owner;
    uint16_t type = 0;
    uint32_t ttl = 0;
    std::vector<uint8_t> rdata;
  };
  // The records added from index `first` (a record_count() taken before) on.
  std::vector<Record> records_from(size_t first) const;
  // Rdata of the records added so far at (owner, type), in order (alias resolution, tests).
  std::vector<std::vector<uint8_t>> rdata_of(const dns::Name& owner, uint16_t type) const;
  // Limits against pathological zones (CVE-2024-1737 class).
  void set_limits(size_t max_rrs_per_set, size_t max_types_per_name) {
    max_rrs_per_set_ = max_rrs_per_set;
    max_types_per_name_ = max_types_per_name;
  }

  // Validates and freezes. Warnings (glue, occluded data, TTL mismatches) go to `warnings`.
  Result<std::shared_ptr<const Zone>> build(std::vector<std::string>* warnings = nullptr);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  size_t max_rrs_per_set_ = 100000;
  size_t max_types_per_name_ = 1000;
};

}  // namespace steerdns::zone
