#include "zone/zone.h"

#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "dns/rdata.h"
#include "dns/rrtype.h"

namespace steerdns::zone {

using dns::Name;
namespace rt = dns::rrtype;

const RRset* Zone::rrset(const Node& n, uint16_t type) const {
  const RRset* p = rrsets_.data() + n.first_rrset;
  for (uint8_t i = 0; i < n.nrrsets; ++i) {
    if (p[i].type == type) return &p[i];
  }
  return nullptr;
}

const Node* Zone::find(const uint8_t* name, size_t len) const {
  size_t h = dns::hash_wire_name(name, len) & index_mask_;
  for (;;) {
    uint32_t i = index_[h];
    if (i == kNone) return nullptr;
    const Node& n = nodes_[i];
    if (n.name_len == len && dns::wire_name_equal(names_.data() + n.name_off, name, len)) {
      return &n;
    }
    h = (h + 1) & index_mask_;
  }
}

Name Zone::name(const Node& n) const {
  auto r = Name::from_uncompressed(names_.data() + n.name_off, n.name_len);
  return r ? *r : Name();
}

size_t Zone::memory_bytes() const {
  return nodes_.capacity() * sizeof(Node) + rrsets_.capacity() * sizeof(RRset) +
         names_.capacity() + rdata_.capacity() + index_.capacity() * sizeof(uint32_t);
}

// ---------------------------------------------------------------------------------------------

struct ZoneBuilder::Impl {
  Name origin;
  Name origin_lower;
  struct Rec {
    uint32_t name_id;
    uint16_t type;
    uint16_t rdlen;
    uint32_t ttl;
    uint32_t rd_off;
    uint32_t file_id;
    uint32_t line;
  };
  std::vector<Rec> recs;
  std::vector<uint8_t> rd;          // rdata of all records back to back
  std::vector<std::string> owners;  // original-case wire names, by name id
  std::unordered_map<std::string, uint32_t> name_ids;  // lower-cased wire name -> id
  std::vector<std::string> files;

  uint32_t file_id(std::string_view f) {
    for (size_t i = 0; i < files.size(); ++i) {
      if (files[i] == f) return static_cast<uint32_t>(i);
    }
    files.emplace_back(f);
    return static_cast<uint32_t>(files.size() - 1);
  }
  std::string where(const Rec& r) const {
    if (files[r.file_id].empty()) return "record " + owner_text(r.name_id);
    return files[r.file_id] + ":" + std::to_string(r.line);
  }
  std::string owner_text(uint32_t id) const {
    auto n = Name::from_uncompressed(reinterpret_cast<const uint8_t*>(owners[id].data()),
                                     owners[id].size());
    return n ? n->to_text() : "?";
  }
};

ZoneBuilder::ZoneBuilder(Name origin) : impl_(std::make_unique<Impl>()) {
  impl_->origin = origin;
  impl_->origin_lower = origin.lowered();
}
ZoneBuilder::~ZoneBuilder() = default;

size_t ZoneBuilder::record_count() const { return impl_->recs.size(); }

namespace {
std::string lower_key(const uint8_t* p, size_t len) {
  std::string s(reinterpret_cast<const char*>(p), len);
  for (auto& c : s) c = static_cast<char>(dns::lower(static_cast<uint8_t>(c)));
  return s;
}
}  // namespace

Status ZoneBuilder::add(const uint8_t* owner, size_t owner_len, uint16_t type, uint16_t rclass,
                        uint32_t ttl, const uint8_t* rdata, size_t rdlen, std::string_view file,
                        uint32_t line) {
  Impl& m = *impl_;
  auto where = [&] {
    return file.empty() ? std::string("record") : std::string(file) + ":" + std::to_string(line);
  };
  auto owner_name = Name::from_uncompressed(owner, owner_len);
  if (!owner_name) return Error{where() + ": malformed owner name"};
  if (rclass != dns::rrclass::IN) {
    return Error{where() + ": class " + dns::class_to_text(rclass) + " is not supported (only IN)"};
  }
  if (!owner_name->is_subdomain_of(m.origin)) {
    return Error{where() + ": owner " + owner_name->to_text() + " is outside the zone " +
                 m.origin.to_text()};
  }
  if (dns::is_meta_type(type)) {
    return Error{where() + ": " + dns::type_to_text(type) + " is a meta type, not zone data"};
  }
  if (!dns::rdata_valid(type, rdata, rdlen)) {
    return Error{where() + ": malformed " + dns::type_to_text(type) + " rdata"};
  }
  if (ttl > 0x7FFFFFFFu) ttl = 0;  // RFC 2181 8: values above 2^31-1 are treated as 0
  std::string key = lower_key(owner, owner_len);
  auto [it, inserted] = m.name_ids.try_emplace(std::move(key), static_cast<uint32_t>(m.owners.size()));
  if (inserted) m.owners.emplace_back(reinterpret_cast<const char*>(owner), owner_len);
  if (m.rd.size() + rdlen > 0xFFFFFFF0u) return Error{where() + ": zone too large"};
  m.recs.push_back(Impl::Rec{it->second, type, static_cast<uint16_t>(rdlen), ttl,
                             static_cast<uint32_t>(m.rd.size()), m.file_id(file), line});
  m.rd.insert(m.rd.end(), rdata, rdata + rdlen);
  return OkStatus();
}

Result<std::shared_ptr<const Zone>> ZoneBuilder::build(std::vector<std::string>* warnings) {
  Impl& m = *impl_;
  auto z = std::make_shared<Zone>();
  z->origin_ = m.origin;
  auto warn = [&](std::string s) {
    if (warnings) warnings->push_back(std::move(s));
  };

  // Materialise empty non-terminals: every ancestor between a name and the apex exists.
  const size_t origin_len = m.origin.size();
  {
    std::string key = lower_key(m.origin.data(), m.origin.size());
    if (m.name_ids.try_emplace(key, static_cast<uint32_t>(m.owners.size())).second) {
      m.owners.emplace_back(reinterpret_cast<const char*>(m.origin.data()), m.origin.size());
    }
  }
  for (size_t id = 0, n = m.owners.size(); id < n; ++id) {
    std::string cur = m.owners[id];
    for (;;) {
      if (cur.size() <= origin_len) break;
      cur.erase(0, 1 + static_cast<uint8_t>(cur[0]));
      std::string key = lower_key(reinterpret_cast<const uint8_t*>(cur.data()), cur.size());
      auto [it, ins] = m.name_ids.try_emplace(std::move(key), static_cast<uint32_t>(m.owners.size()));
      if (!ins) break;  // its ancestors exist already
      m.owners.push_back(cur);
    }
  }
  const size_t nnames = m.owners.size();

  // Canonical order (RFC 4034 6.1): sort by the reversed, lower-cased label sequence.
  std::vector<std::string> rkeys(nnames);
  for (size_t id = 0; id < nnames; ++id) {
    const std::string& w = m.owners[id];
    uint8_t offs[128];
    int nl = 0;
    for (size_t i = 0; static_cast<uint8_t>(w[i]) != 0; i += 1 + static_cast<uint8_t>(w[i])) {
      offs[nl++] = static_cast<uint8_t>(i);
    }
    std::string& k = rkeys[id];
    k.reserve(w.size());
    for (int l = nl - 1; l >= 0; --l) {
      size_t o = offs[l];
      for (size_t j = 1; j <= static_cast<uint8_t>(w[o]); ++j) {
        // Map each octet so that the label terminator (1) sorts before any octet (>= 2).
        k += static_cast<char>(dns::lower(static_cast<uint8_t>(w[o + j])));
      }
      k += '\0';
    }
  }
  std::vector<uint32_t> order(nnames);
  for (size_t i = 0; i < nnames; ++i) order[i] = static_cast<uint32_t>(i);
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    const std::string& ka = rkeys[a];
    const std::string& kb = rkeys[b];
    // Label-wise comparison: '\0' ends a label, so a shorter label sorts first.
    size_t i = 0, j = 0;
    while (i < ka.size() && j < kb.size()) {
      unsigned char ca = static_cast<unsigned char>(ka[i]), cb = static_cast<unsigned char>(kb[j]);
      if (ca != cb) {
        if (ca == 0) return true;
        if (cb == 0) return false;
        return ca < cb;
      }
      ++i;
      ++j;
    }
    return ka.size() - i < kb.size() - j;
  });
  rkeys.clear();
  rkeys.shrink_to_fit();
  std::vector<uint32_t> node_of(nnames);
  for (size_t i = 0; i < nnames; ++i) node_of[order[i]] = static_cast<uint32_t>(i);

  // Group records by (node, type), keeping file order inside an rrset.
  std::vector<uint32_t> ri(m.recs.size());
  for (size_t i = 0; i < ri.size(); ++i) ri[i] = static_cast<uint32_t>(i);
  std::stable_sort(ri.begin(), ri.end(), [&](uint32_t a, uint32_t b) {
    const auto& ra = m.recs[a];
    const auto& rb = m.recs[b];
    uint32_t na = node_of[ra.name_id], nb = node_of[rb.name_id];
    if (na != nb) return na < nb;
    return ra.type < rb.type;
  });

  z->nodes_.resize(nnames);
  for (size_t i = 0; i < nnames; ++i) {
    const std::string& w = m.owners[order[i]];
    Node& n = z->nodes_[i];
    n.name_off = static_cast<uint32_t>(z->names_.size());
    n.name_len = static_cast<uint8_t>(w.size());
    z->names_.insert(z->names_.end(), w.begin(), w.end());
  }
  // Hash index.
  size_t cap = 16;
  while (cap < nnames * 2) cap <<= 1;
  z->index_.assign(cap, kNone);
  z->index_mask_ = cap - 1;
  for (uint32_t i = 0; i < nnames; ++i) {
    const Node& n = z->nodes_[i];
    size_t h = dns::hash_wire_name(z->names_.data() + n.name_off, n.name_len) & z->index_mask_;
    while (z->index_[h] != kNone) h = (h + 1) & z->index_mask_;
    z->index_[h] = i;
  }
  const Node* apex = z->find(m.origin);
  z->apex_ = z->index_of(apex);

  // RRsets.
  std::vector<uint32_t> first_rec_of_rrset;  // for error messages
  std::string err;
  size_t k = 0;
  std::vector<std::pair<const uint8_t*, uint16_t>> seen;
  while (k < ri.size()) {
    const auto& r0 = m.recs[ri[k]];
    uint32_t node = node_of[r0.name_id];
    Node& n = z->nodes_[node];
    if (n.nrrsets == 0) n.first_rrset = static_cast<uint32_t>(z->rrsets_.size());
    if (n.nrrsets == 255 || n.nrrsets >= max_types_per_name_) {
      return Error{m.where(r0) + ": too many types at " + m.owner_text(r0.name_id)};
    }
    RRset rs;
    rs.type = r0.type;
    rs.ttl = r0.ttl;
    rs.data_off = static_cast<uint32_t>(z->rdata_.size());
    seen.clear();
    size_t j = k;
    for (; j < ri.size() && m.recs[ri[j]].name_id == r0.name_id && m.recs[ri[j]].type == r0.type;
         ++j) {
      const auto& r = m.recs[ri[j]];
      const uint8_t* p = m.rd.data() + r.rd_off;
      bool dup = false;
      for (auto& s : seen) {
        if (s.second == r.rdlen && std::memcmp(s.first, p, r.rdlen) == 0) dup = true;
      }
      if (dup) continue;  // RFC 2181 5: an RRset has no duplicate records
      if (r.ttl != rs.ttl) {
        warn(m.where(r) + ": TTL " + std::to_string(r.ttl) + " differs from the RRset's TTL " +
             std::to_string(rs.ttl) + " (RFC 2181 5.2); using " + std::to_string(rs.ttl));
      }
      if (seen.size() >= max_rrs_per_set_ || seen.size() >= 65535) {
        return Error{m.where(r) + ": more than " + std::to_string(seen.size()) + " " +
                     dns::type_to_text(r.type) + " records at " + m.owner_text(r.name_id)};
      }
      seen.emplace_back(p, r.rdlen);
      z->rdata_.push_back(static_cast<uint8_t>(r.rdlen >> 8));
      z->rdata_.push_back(static_cast<uint8_t>(r.rdlen));
      z->rdata_.insert(z->rdata_.end(), p, p + r.rdlen);
    }
    rs.count = static_cast<uint16_t>(seen.size());
    rs.data_len = static_cast<uint32_t>(z->rdata_.size() - rs.data_off);
    z->rrsets_.push_back(rs);
    first_rec_of_rrset.push_back(ri[k]);
    n.nrrsets++;
    z->record_count_ += rs.count;
    k = j;
  }
  m.rd.clear();
  m.rd.shrink_to_fit();
  auto where_rrset = [&](const Node& n, uint16_t type) {
    const RRset* rs = z->rrset(n, type);
    return m.where(m.recs[first_rec_of_rrset[rs - z->rrsets_.data()]]);
  };

  // Tree links, flags and semantic checks. Parents precede children in canonical order.
  for (uint32_t i = 0; i < nnames; ++i) {
    Node& n = z->nodes_[i];
    const uint8_t* w = z->names_.data() + n.name_off;
    Name owner = z->name(n);
    if (i == z->apex_) {
      n.flags |= nodeflag::kApex;
    } else {
      const uint8_t* pw = w + 1 + w[0];
      const Node* p = z->find(pw, n.name_len - 1 - w[0]);
      n.parent = z->index_of(p);
      Node& par = z->nodes_[n.parent];
      n.depth = static_cast<uint8_t>(par.depth + 1);
      n.cut = par.cut;
      n.dname = par.dname;
      if (n.dname == kNone && (par.flags & nodeflag::kDname)) n.dname = n.parent;
      if (w[0] == 1 && w[1] == '*') par.flags |= nodeflag::kWildcardChild;
      if (par.flags & nodeflag::kDname) {
        const Node& d = z->nodes_[n.dname == kNone ? n.parent : n.dname];
        return Error{where_rrset(d, rt::DNAME) + ": DNAME at " + z->name(d).to_text() +
                     " has names below it (" + owner.to_text() + ") (RFC 6672 2.4)"};
      }
    }
    bool has_cname = false, has_other = false;
    const char* other_type = nullptr;
    uint16_t other_code = 0;
    for (const RRset& rs : z->rrsets(n)) {
      switch (rs.type) {
        case rt::CNAME:
          has_cname = true;
          if (rs.count > 1) {
            return Error{where_rrset(n, rt::CNAME) + ": more than one CNAME at " + owner.to_text()};
          }
          break;
        case rt::RRSIG:
        case rt::NSEC:
          break;
        default:
          has_other = true;
          other_code = rs.type;
          (void)other_type;
      }
      if (rs.type == rt::DNAME) {
        if (rs.count > 1) {
          return Error{where_rrset(n, rt::DNAME) + ": more than one DNAME at " + owner.to_text()};
        }
        n.flags |= nodeflag::kDname;
      }
      if (rs.type == rt::SOA && i != z->apex_) {
        return Error{where_rrset(n, rt::SOA) + ": SOA record at " + owner.to_text() +
                     " is not at the zone apex " + m.origin.to_text()};
      }
      if (rs.type == rt::NS && i != z->apex_) {
        n.flags |= nodeflag::kCut;
        if (n.cut == kNone) n.cut = i;
      }
    }
    if (has_cname && has_other) {
      return Error{where_rrset(n, rt::CNAME) + ": CNAME at " + owner.to_text() +
                   " beside other data (" + dns::type_to_text(other_code) + " at " +
                   where_rrset(n, other_code) + ")"};
    }
    if (has_cname) n.flags |= nodeflag::kCname;
    if ((n.flags & nodeflag::kDname) && (n.flags & nodeflag::kCut)) {
      return Error{where_rrset(n, rt::DNAME) + ": DNAME and NS at the delegation " +
                   owner.to_text()};
    }
  }

  const Node& ap = z->nodes_[z->apex_];
  const RRset* soa = z->rrset(ap, rt::SOA);
  if (!soa) return Error{"zone " + m.origin.to_text() + ": no SOA record at the apex"};
  if (soa->count != 1) {
    return Error{where_rrset(ap, rt::SOA) + ": more than one SOA record at the apex"};
  }
  if (!z->rrset(ap, rt::NS)) {
    return Error{"zone " + m.origin.to_text() + ": no NS records at the apex"};
  }
  z->soa_rrset_ = static_cast<uint32_t>(soa - z->rrsets_.data());
  z->for_each_rdata(*soa, [&](const uint8_t* rd, uint16_t len) {
    // SOA rdata: mname, rname, serial, refresh, retry, expire, minimum.
    size_t l1 = dns::wire_name_length(rd, len);
    size_t l2 = dns::wire_name_length(rd + l1, len - l1);
    const uint8_t* nums = rd + l1 + l2;
    z->serial_ = uint32_t{nums[0]} << 24 | uint32_t{nums[1]} << 16 | uint32_t{nums[2]} << 8 | nums[3];
    uint32_t minimum = uint32_t{nums[16]} << 24 | uint32_t{nums[17]} << 16 |
                       uint32_t{nums[18]} << 8 | nums[19];
    z->negative_ttl_ = std::min(soa->ttl, minimum);
  });

  // Glue and occluded data: warnings, as Knot and NSD do.
  for (uint32_t i = 0; i < nnames; ++i) {
    const Node& n = z->nodes_[i];
    if (n.cut != kNone && n.cut != i && n.nrrsets > 0) {
      const Node& cut = z->nodes_[n.cut];
      bool is_glue = false;
      if (const RRset* ns = z->rrset(cut, rt::NS)) {
        z->for_each_rdata(*ns, [&](const uint8_t* rd, uint16_t len) {
          if (len == n.name_len && dns::wire_name_equal(rd, z->names_.data() + n.name_off, len)) {
            is_glue = true;
          }
        });
      }
      for (const RRset& rs : z->rrsets(n)) {
        if (!is_glue || (rs.type != rt::A && rs.type != rt::AAAA)) {
          warn(m.where(m.recs[first_rec_of_rrset[&rs - z->rrsets_.data()]]) + ": " +
               dns::type_to_text(rs.type) + " at " + z->name(n).to_text() +
               " is below the delegation " + z->name(cut).to_text() + " and occluded");
        }
      }
    }
    if ((n.flags & nodeflag::kCut) && n.cut == i) {
      const RRset* ns = z->rrset(n, rt::NS);
      z->for_each_rdata(*ns, [&](const uint8_t* rd, uint16_t len) {
        auto target = Name::from_uncompressed(rd, len);
        if (!target || !target->is_subdomain_of(z->name(n))) return;
        const Node* t = z->find(*target);
        if (!t || (!z->rrset(*t, rt::A) && !z->rrset(*t, rt::AAAA))) {
          warn(where_rrset(n, rt::NS) + ": delegation " + z->name(n).to_text() + " to " +
               target->to_text() + " has no glue address");
        }
      });
    }
  }
  return std::shared_ptr<const Zone>(std::move(z));
}

}  // namespace steerdns::zone
