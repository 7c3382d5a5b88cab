#pragma once
// Zone versions as secondaries see them (docs/zone-transfer.md).
//
// ZoneTransfers sits in front of every publish of the RuntimeConfig: it computes each zone's
// content as a transfer sends it (steered sets as their current answer for a client-less query),
// gives the zone a served SOA serial that increases whenever that content changes (a catalog
// change or a steering change alike, RFC 1982 arithmetic, never backward across restarts: the
// served serials are persisted), keeps a bounded journal of the differences for IXFR (RFC 1995)
// and reports every serial change (NOTIFY, server/notify.h).
//
// Threading: prepare() is called by one publisher at a time (the steering service holds its lock
// around it); chain() from the TCP thread. Both take mu_; the query path never calls either.
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "config/runtime.h"
#include "core/state_store.h"
#include "dns/name.h"
#include "policy/table.h"
#include "zone/zone.h"

namespace steerdns::server {

// One record as transferred: [u8 owner length][owner wire][u16 type][u32 ttl][u16 rdlength]
// [rdata, uncompressed]. Byte order of these strings is the journal's sort order.
using XfrRecord = std::string;
struct RecordView {
  const uint8_t* owner = nullptr;
  size_t owner_len = 0;
  uint16_t type = 0;
  uint32_t ttl = 0;
  const uint8_t* rd = nullptr;
  uint16_t rdlen = 0;
};
XfrRecord make_record(const uint8_t* owner, size_t owner_len, uint16_t type, uint32_t ttl,
                      const uint8_t* rd, size_t rdlen);
RecordView view_record(const XfrRecord& r);

// RFC 1982: a is newer than b.
bool serial_gt(uint32_t a, uint32_t b);

// The zone's records as AXFR sends them (server/xfr.h), apex SOA excluded, sorted.
std::vector<XfrRecord> transfer_records(const zone::Zone& z, const policy::Table* steering);
// The zone's SOA record with `serial` in it.
XfrRecord soa_record(const zone::Zone& z, uint32_t serial);

// One step of the journal: what a secondary at `from` applies to reach `to`.
struct Delta {
  uint32_t from = 0;
  uint32_t to = 0;
  XfrRecord old_soa;  // SOA at `from`
  XfrRecord new_soa;  // SOA at `to`
  std::vector<XfrRecord> removed;
  std::vector<XfrRecord> added;
  size_t bytes() const;
};
// Both inputs sorted.
Delta make_delta(uint32_t from, uint32_t to, XfrRecord old_soa, XfrRecord new_soa,
                 const std::vector<XfrRecord>& before, const std::vector<XfrRecord>& after);

struct JournalLimits {
  size_t max_versions = 100;     // per zone
  size_t max_bytes = 64u << 20;  // per zone, records' bytes
};

class ZoneTransfers {
 public:
  explicit ZoneTransfers(JournalLimits limits = {}) : limits_(limits) {}
  // Before the first prepare().
  void set_limits(JournalLimits limits) { limits_ = limits; }
  // Before the first prepare(): served serials persist here (key "xfr-serials"). Without it
  // they live in memory only (a restart serves the catalog's serial again, see the docs).
  void set_state_store(std::shared_ptr<StateStore> store) { store_ = std::move(store); }
  // Before the first prepare(): called (from published(), must not block) with the zone origin
  // and its new served serial on every change.
  void on_serial_change(std::function<void(const dns::Name&, uint32_t)> f) {
    notify_ = std::move(f);
  }
  // The config to publish: `rc` with each zone's SOA serial set to its served serial (zones whose
  // serial already is that are shared, not copied). One caller at a time.
  std::shared_ptr<const config::RuntimeConfig> prepare(
      std::shared_ptr<const config::RuntimeConfig> rc);
  // After the config prepare() returned is published: logs and notifies its serial changes. Not
  // inside prepare(): a secondary answering a NOTIFY at once must find the new serial served,
  // or it takes the old one as current and waits for its refresh timer. Same caller.
  void published();
  // The journal steps from `from` to `to` in order; empty when the journal does not reach back
  // to `from` (the caller then sends the full zone). Any thread.
  std::vector<std::shared_ptr<const Delta>> chain(const dns::Name& origin, uint32_t from,
                                                  uint32_t to) const;
  size_t journal_size(const dns::Name& origin) const;

 private:
  struct ZoneState {
    std::shared_ptr<const zone::Zone> source;  // as the catalog built it (unpatched)
    const policy::Table* table = nullptr;      // the table the records were computed with
    std::shared_ptr<const policy::Table> table_ref;
    uint32_t catalog = 0;
    uint32_t served = 0;
    uint64_t hash = 0;
    XfrRecord soa;                 // at `served`
    std::vector<XfrRecord> fixed;  // the zone's own records, sorted
    uint64_t fixed_hash = 0;
    std::vector<XfrRecord> steered;  // the steered sets' answers, sorted
    std::deque<std::shared_ptr<const Delta>> journal;
    size_t journal_bytes = 0;
    // The zone as published (`patched_from` carrying `served`), when the serials differ.
    std::shared_ptr<const zone::Zone> patched_from;
    std::shared_ptr<const zone::Zone> patched;
  };
  // `z` itself, or its copy carrying st.served (made once per zone and serial).
  std::shared_ptr<const zone::Zone> served_zone_locked(ZoneState& st,
                                                       const std::shared_ptr<const zone::Zone>& z);
  void load_persisted_locked();
  void save_locked();

  JournalLimits limits_;
  std::shared_ptr<StateStore> store_;
  std::function<void(const dns::Name&, uint32_t)> notify_;
  std::vector<std::pair<dns::Name, uint32_t>> unannounced_;  // prepared, not yet published
  mutable std::mutex mu_;
  bool loaded_ = false;
  std::map<std::string, ZoneState> zones_;  // by lower-case origin text
  struct Persisted {
    uint32_t serial = 0;
    uint32_t catalog = 0;
    uint64_t hash = 0;
  };
  std::map<std::string, Persisted> persisted_;
};

}  // namespace steerdns::server
