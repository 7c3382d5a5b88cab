#include "server/journal.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <iterator>
#include <nlohmann/json.hpp>
#include <set>

#include "dns/rrtype.h"

namespace steerdns::server {
namespace {

void put16(std::string& s, uint16_t v) {
  s.push_back(static_cast<char>(v >> 8));
  s.push_back(static_cast<char>(v & 0xFF));
}
void put32(std::string& s, uint32_t v) {
  put16(s, static_cast<uint16_t>(v >> 16));
  put16(s, static_cast<uint16_t>(v & 0xFFFF));
}

uint64_t fnv(uint64_t h, const std::string& s) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

std::string key_of(const dns::Name& origin) { return origin.lowered().to_text(); }

}  // namespace

XfrRecord make_record(const uint8_t* owner, size_t owner_len, uint16_t type, uint32_t ttl,
                      const uint8_t* rd, size_t rdlen) {
  XfrRecord r;
  r.reserve(1 + owner_len + 10 + rdlen);
  r.push_back(static_cast<char>(owner_len));
  r.append(reinterpret_cast<const char*>(owner), owner_len);
  put16(r, type);
  put32(r, ttl);
  put16(r, static_cast<uint16_t>(rdlen));
  r.append(reinterpret_cast<const char*>(rd), rdlen);
  return r;
}

RecordView view_record(const XfrRecord& r) {
  const auto* p = reinterpret_cast<const uint8_t*>(r.data());
  RecordView v;
  v.owner_len = p[0];
  v.owner = p + 1;
  const uint8_t* q = p + 1 + v.owner_len;
  v.type = static_cast<uint16_t>(q[0] << 8 | q[1]);
  v.ttl = uint32_t{q[2]} << 24 | uint32_t{q[3]} << 16 | uint32_t{q[4]} << 8 | q[5];
  v.rdlen = static_cast<uint16_t>(q[6] << 8 | q[7]);
  v.rd = q + 8;
  return v;
}

bool serial_gt(uint32_t a, uint32_t b) {
  return a != b && static_cast<uint32_t>(a - b) < 0x80000000u;
}

namespace {

// The zone's records as transferred, apex SOA excluded, in two sorted parts: the zone's own
// (`fixed`, skipped when null) and the steered sets' current answers (`steered`).
void collect_records(const zone::Zone& z, const policy::Table* steering,
                     std::vector<XfrRecord>* fixed, std::vector<XfrRecord>* steered) {
  for (uint32_t i = 0; i < z.node_count(); ++i) {
    const zone::Node& n = z.node(i);
    const uint8_t* owner = z.name_data(n);
    for (const zone::RRset& rs : z.rrsets(n)) {
      if (rs.type == dns::rrtype::SOA && (n.flags & zone::nodeflag::kApex)) {
        continue;
      }
      const bool is_steered = rs.steer != zone::kNone && steering != nullptr;
      std::vector<XfrRecord>* out = is_steered ? steered : fixed;
      if (out == nullptr) {
        continue;
      }
      // What AxfrStream sends: the same selection (client-less, entropy 0).
      const uint8_t* p = z.rdata_ptr(rs);
      uint16_t count = rs.count;
      uint32_t ttl = rs.ttl;
      if (is_steered) {
        policy::Selection sel = steering->select(rs.steer, policy::Client{}, 0);
        p = sel.data;
        count = sel.outcome == policy::Selection::Outcome::kAnswer ? sel.count : 0;
        ttl = sel.ttl;
      }
      for (uint16_t k = 0; k < count; ++k) {
        auto len = static_cast<uint16_t>(p[0] << 8 | p[1]);
        out->push_back(make_record(owner, n.name_len, rs.type, ttl, p + 2, len));
        p += 2 + len;
      }
    }
  }
  for (auto* v : {fixed, steered}) {
    if (v != nullptr) {
      std::sort(v->begin(), v->end());
      v->erase(std::unique(v->begin(), v->end()), v->end());
    }
  }
}

std::vector<XfrRecord> merged(const std::vector<XfrRecord>& a, const std::vector<XfrRecord>& b) {
  std::vector<XfrRecord> out;
  out.reserve(a.size() + b.size());
  std::set_union(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

void diff_into(const std::vector<XfrRecord>& before, const std::vector<XfrRecord>& after,
               std::vector<XfrRecord>& removed, std::vector<XfrRecord>& added) {
  std::set_difference(before.begin(), before.end(), after.begin(), after.end(),
                      std::back_inserter(removed));
  std::set_difference(after.begin(), after.end(), before.begin(), before.end(),
                      std::back_inserter(added));
}

}  // namespace

std::vector<XfrRecord> transfer_records(const zone::Zone& z, const policy::Table* steering) {
  std::vector<XfrRecord> fixed, steered;
  collect_records(z, steering, &fixed, &steered);
  return merged(fixed, steered);
}

XfrRecord soa_record(const zone::Zone& z, uint32_t serial) {
  const zone::RRset& soa = z.soa();
  XfrRecord r;
  z.for_each_rdata(soa, [&](const uint8_t* rd, uint16_t len) {
    std::vector<uint8_t> b(rd, rd + len);
    size_t l1 = dns::wire_name_length(b.data(), b.size());
    size_t l2 = dns::wire_name_length(b.data() + l1, b.size() - l1);
    uint8_t* nums = b.data() + l1 + l2;
    nums[0] = static_cast<uint8_t>(serial >> 24);
    nums[1] = static_cast<uint8_t>(serial >> 16);
    nums[2] = static_cast<uint8_t>(serial >> 8);
    nums[3] = static_cast<uint8_t>(serial);
    r = make_record(z.origin().data(), z.origin().size(), dns::rrtype::SOA, soa.ttl, b.data(),
                    b.size());
  });
  return r;
}

size_t Delta::bytes() const {
  size_t n = old_soa.size() + new_soa.size();
  for (const auto& r : removed) {
    n += r.size();
  }
  for (const auto& r : added) {
    n += r.size();
  }
  return n;
}

Delta make_delta(uint32_t from, uint32_t to, XfrRecord old_soa, XfrRecord new_soa,
                 const std::vector<XfrRecord>& before, const std::vector<XfrRecord>& after) {
  Delta d;
  d.from = from;
  d.to = to;
  d.old_soa = std::move(old_soa);
  d.new_soa = std::move(new_soa);
  diff_into(before, after, d.removed, d.added);
  return d;
}

void ZoneTransfers::load_persisted_locked() {
  loaded_ = true;
  if (!store_) {
    return;
  }
  auto r = store_->get("xfr-serials");
  if (!r) {
    spdlog::error("xfr: served serials not read ({}); serving the catalog's serials", r.error());
    return;
  }
  if (!r->has_value()) {
    return;
  }
  auto j = nlohmann::json::parse(**r, nullptr, false);
  if (!j.is_object()) {
    spdlog::error("xfr: served serials in the store are not a JSON object; ignored");
    return;
  }
  for (const auto& [k, v] : j.items()) {
    if (v.is_object() && v.value("serial", nlohmann::json()).is_number_unsigned()) {
      persisted_[k] =
          Persisted{v.value("serial", 0u), v.value("catalog", 0u), v.value("hash", uint64_t{0})};
    }
  }
}

void ZoneTransfers::save_locked() {
  if (!store_) {
    return;
  }
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, p] : persisted_) {
    j[k] = {{"serial", p.serial}, {"catalog", p.catalog}, {"hash", p.hash}};
  }
  if (auto st = store_->put("xfr-serials", j.dump()); !st) {
    spdlog::error("xfr: served serials not saved: {}", st.error());
  }
}

std::shared_ptr<const zone::Zone> ZoneTransfers::served_zone_locked(
    ZoneState& st, const std::shared_ptr<const zone::Zone>& z) {
  if (z->serial() == st.served) {
    return z;
  }
  // One copy per (zone, served serial): republishing the same content (a timer, a health
  // change elsewhere) reuses it instead of copying the zone again.
  if (st.patched_from != z || !st.patched || st.patched->serial() != st.served) {
    st.patched = z->with_serial(st.served);
    st.patched_from = z;
  }
  return st.patched;
}

std::shared_ptr<const config::RuntimeConfig> ZoneTransfers::prepare(
    std::shared_ptr<const config::RuntimeConfig> rc) {
  if (!rc) {
    return rc;
  }
  std::vector<std::pair<dns::Name, uint32_t>> changed;
  std::vector<std::shared_ptr<const zone::Zone>> zones;
  bool patched = false;
  {
    std::lock_guard lk(mu_);
    if (!loaded_) {
      load_persisted_locked();
    }
    const policy::Table* table = rc->steering.get();
    std::set<std::string> seen;
    for (const auto& z : rc->zones()) {
      std::string key = key_of(z->origin());
      seen.insert(key);
      auto it = zones_.find(key);
      ZoneState* st = it == zones_.end() ? nullptr : &it->second;
      if (st != nullptr && st->source == z && st->table == table) {
        // Same zone, same table: same content.
        zones.push_back(served_zone_locked(*st, z));
        patched = patched || zones.back() != z;
        continue;
      }
      // The same zone object has the same records of its own: only the steered answers can
      // differ (a health change on a big zone recomputes only the steered sets).
      const bool same_zone =
          st != nullptr && st->source == z && (st->table != nullptr) == (table != nullptr);
      std::vector<XfrRecord> fixed, steered;
      collect_records(*z, table, same_zone ? nullptr : &fixed, &steered);
      uint64_t fixed_hash = 0xcbf29ce484222325ull;
      if (same_zone) {
        fixed_hash = st->fixed_hash;
      } else {
        for (const auto& r : fixed) {
          fixed_hash = fnv(fixed_hash, r);
        }
      }
      uint64_t hash = fixed_hash;
      for (const auto& r : steered) {
        hash = fnv(hash, r);
      }
      const uint32_t catalog = z->serial();
      uint32_t served = catalog;
      if (st != nullptr) {
        bool content_changed =
            st->catalog != catalog || st->steered != steered || (!same_zone && st->fixed != fixed);
        if (!content_changed) {
          served = st->served;
        } else {
          served = serial_gt(catalog, st->served) ? catalog : st->served + 1;
        }
      } else if (auto p = persisted_.find(key); p != persisted_.end()) {
        // After a restart: the same content keeps its serial; anything else moves past it.
        if (p->second.catalog == catalog && p->second.hash == hash) {
          served = p->second.serial;
        } else if (!serial_gt(catalog, p->second.serial)) {
          served = p->second.serial + 1;
        }
      }
      if (st == nullptr) {
        st = &zones_[key];
      }
      if (st->source != nullptr && served != st->served) {
        // The step a secondary at the previous serial applies. Diffed per part; a record that
        // moved between the parts (a set became steered with the same answer) cancels out.
        auto d = std::make_shared<Delta>();
        d->from = st->served;
        d->to = served;
        d->old_soa = st->soa;
        d->new_soa = soa_record(*z, served);
        std::vector<XfrRecord> rem, add;
        if (!same_zone) {
          diff_into(st->fixed, fixed, rem, add);
        }
        diff_into(st->steered, steered, rem, add);
        std::sort(rem.begin(), rem.end());
        std::sort(add.begin(), add.end());
        diff_into(rem, add, d->removed, d->added);
        st->journal_bytes += d->bytes();
        st->journal.push_back(std::move(d));
        while (!st->journal.empty() && (st->journal.size() > limits_.max_versions ||
                                        st->journal_bytes > limits_.max_bytes)) {
          st->journal_bytes -= st->journal.front()->bytes();
          st->journal.pop_front();
        }
      }
      bool serial_moved = st->source == nullptr ? served != catalog : served != st->served;
      if (st->source == nullptr || serial_moved) {
        changed.emplace_back(z->origin(), served);
      }
      st->source = z;
      st->table = table;
      st->table_ref = rc->steering;
      st->catalog = catalog;
      st->served = served;
      st->hash = hash;
      st->soa = soa_record(*z, served);
      if (!same_zone) {
        st->fixed = std::move(fixed);
        st->fixed_hash = fixed_hash;
      }
      st->steered = std::move(steered);
      zones.push_back(served_zone_locked(*st, z));
      patched = patched || zones.back() != z;
      persisted_[key] = Persisted{served, catalog, hash};
    }
    // A zone that is gone keeps only its persisted serial (a zone added back moves past it).
    std::erase_if(zones_, [&](const auto& kv) { return seen.count(kv.first) == 0; });
    if (!changed.empty()) {
      save_locked();
    }
    // A prepared config that was never published is superseded by this one: a zone keeps only
    // its latest serial to announce.
    for (auto& c : changed) {
      auto same = std::find_if(unannounced_.begin(), unannounced_.end(),
                               [&](const auto& u) { return u.first == c.first; });
      if (same != unannounced_.end()) {
        same->second = c.second;
      } else {
        unannounced_.push_back(std::move(c));
      }
    }
  }
  if (!patched) {
    return rc;
  }
  auto next = std::make_shared<config::RuntimeConfig>(*rc);
  next->set_zones(std::move(zones));
  return next;
}

void ZoneTransfers::published() {
  std::vector<std::pair<dns::Name, uint32_t>> announce;
  {
    std::lock_guard lk(mu_);
    announce.swap(unannounced_);
  }
  for (const auto& [origin, serial] : announce) {
    spdlog::info("xfr: zone {} serves serial {}", origin.to_text(), serial);
    if (notify_) {
      notify_(origin, serial);
    }
  }
}

std::vector<std::shared_ptr<const Delta>> ZoneTransfers::chain(const dns::Name& origin,
                                                               uint32_t from, uint32_t to) const {
  std::vector<std::shared_ptr<const Delta>> out;
  std::lock_guard lk(mu_);
  auto it = zones_.find(key_of(origin));
  if (it == zones_.end()) {
    return out;
  }
  uint32_t at = from;
  for (const auto& d : it->second.journal) {
    if (at == to) {
      break;
    }
    if (out.empty() && d->from != from) {
      continue;
    }
    if (d->from != at) {
      return {};
    }
    out.push_back(d);
    at = d->to;
  }
  if (at != to) {
    out.clear();
  }
  return out;
}

size_t ZoneTransfers::journal_size(const dns::Name& origin) const {
  std::lock_guard lk(mu_);
  auto it = zones_.find(key_of(origin));
  return it == zones_.end() ? 0 : it->second.journal.size();
}

}  // namespace steerdns::server
