#include "zone/zone.h"

#include <malloc.h>

#include <algorithm>
#include <cstring>

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

std::shared_ptr<const Zone> Zone::with_serial(uint32_t serial) const {
  auto z = std::make_shared<Zone>(*this);
  const RRset& soa = z->rrsets_[soa_rrset_];
  uint8_t* rd = z->rdata_.data() + soa.data_off + 2;  // the one SOA rdata, past its length
  size_t len = static_cast<size_t>(rd[-2] << 8 | rd[-1]);
  size_t l1 = dns::wire_name_length(rd, len);
  size_t l2 = dns::wire_name_length(rd + l1, len - l1);
  uint8_t* nums = rd + l1 + l2;
  nums[0] = static_cast<uint8_t>(serial >> 24);
  nums[1] = static_cast<uint8_t>(serial >> 16);
  nums[2] = static_cast<uint8_t>(serial >> 8);
  nums[3] = static_cast<uint8_t>(serial);
  z->serial_ = serial;
  return z;
}

size_t Zone::memory_bytes() const {
  return nodes_.capacity() * sizeof(Node) + rrsets_.capacity() * sizeof(RRset) + names_.capacity() +
         rdata_.capacity() + index_.capacity() * sizeof(uint32_t);
}

// ---------------------------------------------------------------------------------------------
// The builder keeps names in one arena with an open-addressing index (no per-name allocation):
// a 1,000,000-name zone is mostly hashing and a few linear passes.

struct ZoneBuilder::Impl {
  Name origin;
  struct NameEnt {
    uint32_t off;
    uint32_t hash;
    uint32_t parent;
    uint8_t len;
  };
  struct Rec {
    uint32_t name_id;
    uint16_t type;
    uint16_t rdlen;
    uint32_t ttl;
    uint32_t rd_off;
    uint32_t file_id;
    uint32_t line;
    uint32_t steer = kNone;    // steered rrset (see add_steered)
    bool placeholder = false;  // a steered rrset without fallback data: no record of its own
  };
  std::vector<Rec> recs;
  std::vector<uint8_t> rd;          // rdata of all records back to back
  std::vector<uint8_t> name_arena;  // original-case wire names
  std::vector<NameEnt> names;
  std::vector<uint32_t> table;  // name ids; kNone = empty
  size_t mask = 0;
  uint32_t last_id = kNone;  // consecutive records usually share their owner
  std::vector<std::string> files;

  const uint8_t* name_ptr(uint32_t id) const { return name_arena.data() + names[id].off; }

  void grow() {
    size_t cap = table.empty() ? 1024 : table.size() * 2;
    table.assign(cap, kNone);
    mask = cap - 1;
    for (uint32_t id = 0; id < names.size(); ++id) {
      size_t h = names[id].hash & mask;
      while (table[h] != kNone) h = (h + 1) & mask;
      table[h] = id;
    }
  }
  // Returns the id of the name, adding it if absent; `added` tells which.
  uint32_t intern(const uint8_t* p, size_t len, bool* added = nullptr) {
    if (names.size() * 2 >= table.size()) grow();
    auto hash = static_cast<uint32_t>(dns::hash_wire_name(p, len));
    size_t h = hash & mask;
    for (;;) {
      uint32_t id = table[h];
      if (id == kNone) break;
      if (names[id].hash == hash && names[id].len == len &&
          dns::wire_name_equal(name_ptr(id), p, len)) {
        if (added) *added = false;
        return id;
      }
      h = (h + 1) & mask;
    }
    auto id = static_cast<uint32_t>(names.size());
    names.push_back(
        NameEnt{static_cast<uint32_t>(name_arena.size()), hash, kNone, static_cast<uint8_t>(len)});
    name_arena.insert(name_arena.end(), p, p + len);
    table[h] = id;
    if (added) *added = true;
    return id;
  }

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
    auto n = Name::from_uncompressed(name_ptr(id), names[id].len);
    return n ? n->to_text() : "?";
  }
};

ZoneBuilder::ZoneBuilder(Name origin) : impl_(std::make_unique<Impl>()) { impl_->origin = origin; }
ZoneBuilder::~ZoneBuilder() = default;

size_t ZoneBuilder::record_count() const { return impl_->recs.size(); }

std::vector<ZoneBuilder::Record> ZoneBuilder::records_from(size_t first) const {
  const Impl& m = *impl_;
  std::vector<Record> out;
  for (size_t i = first; i < m.recs.size(); ++i) {
    const Impl::Rec& r = m.recs[i];
    const uint8_t* o = m.name_ptr(r.name_id);
    const uint8_t* p = m.rd.data() + r.rd_off;
    out.push_back(Record{{o, o + m.names[r.name_id].len}, r.type, r.ttl, {p, p + r.rdlen}});
  }
  return out;
}

Status ZoneBuilder::add_steered(const Name& owner, uint16_t type, uint32_t ttl, uint32_t steer,
                                const std::vector<std::vector<uint8_t>>& fallback,
                                std::string_view file, uint32_t line) {
  Impl& m = *impl_;
  size_t first = m.recs.size();
  for (const auto& rd : fallback) {
    auto st = add(owner.data(), owner.size(), type, dns::rrclass::IN, ttl, rd.data(), rd.size(),
                  file, line);
    if (!st) {
      m.recs.resize(first);
      return st;
    }
  }
  if (fallback.empty()) {
    // The checks of add() without rdata (type NULL, 10, takes any rdata): the placeholder only
    // carries owner, type and steer id.
    static const uint8_t kEmpty[1] = {0};
    auto st = add(owner.data(), owner.size(), 10, dns::rrclass::IN, ttl, kEmpty, 0, file, line);
    if (!st) {
      return st;
    }
    m.recs.back().type = type;
    m.recs.back().placeholder = true;
  }
  for (size_t i = first; i < m.recs.size(); ++i) {
    m.recs[i].steer = steer;
  }
  return OkStatus();
}

std::vector<std::vector<uint8_t>> ZoneBuilder::rdata_of(const Name& owner, uint16_t type) const {
  const Impl& m = *impl_;
  std::vector<std::vector<uint8_t>> out;
  for (const auto& r : m.recs) {
    if (r.type == type && !r.placeholder && m.names[r.name_id].len == owner.size() &&
        dns::wire_name_equal(m.name_ptr(r.name_id), owner.data(), owner.size())) {
      const uint8_t* p = m.rd.data() + r.rd_off;
      out.emplace_back(p, p + r.rdlen);
    }
  }
  return out;
}

Status ZoneBuilder::add(const uint8_t* owner, size_t owner_len, uint16_t type, uint16_t rclass,
                        uint32_t ttl, const uint8_t* rdata, size_t rdlen, std::string_view file,
                        uint32_t line) {
  Impl& m = *impl_;
  auto where = [&] {
    return file.empty() ? std::string("record") : std::string(file) + ":" + std::to_string(line);
  };
  if (owner_len == 0 || dns::wire_name_length(owner, owner_len) != owner_len) {
    return Error{where() + ": malformed owner name"};
  }
  auto owner_text = [&] {
    auto n = Name::from_uncompressed(owner, owner_len);
    return n ? n->to_text() : std::string("?");
  };
  if (rclass != dns::rrclass::IN) {
    return Error{where() + ": class " + dns::class_to_text(rclass) + " is not supported (only IN)"};
  }
  if (!dns::wire_name_is_under(owner, owner_len, m.origin.data(), m.origin.size())) {
    return Error{where() + ": owner " + owner_text() + " is outside the zone " +
                 m.origin.to_text()};
  }
  if (dns::is_meta_type(type)) {
    return Error{where() + ": " + dns::type_to_text(type) + " is a meta type, not zone data"};
  }
  if (!dns::rdata_valid(type, rdata, rdlen)) {
    std::string why = dns::rdata_problem(type, rdata, rdlen);
    return Error{where() + ": malformed " + dns::type_to_text(type) + " rdata" +
                 (why.empty() ? "" : ": " + why)};
  }
  if (ttl > 0x7FFFFFFFu) ttl = 0;  // RFC 2181 8: values above 2^31-1 are treated as 0
  uint32_t id = m.last_id;
  if (id == kNone || m.names[id].len != owner_len ||
      !dns::wire_name_equal(m.name_ptr(id), owner, owner_len)) {
    id = m.intern(owner, owner_len);
    m.last_id = id;
  }
  if (m.rd.size() + rdlen > 0xFFFF0000u) return Error{where() + ": zone too large"};
  m.recs.push_back(Impl::Rec{id, type, static_cast<uint16_t>(rdlen), ttl,
                             static_cast<uint32_t>(m.rd.size()), m.file_id(file), line});
  m.rd.insert(m.rd.end(), rdata, rdata + rdlen);
  return OkStatus();
}

namespace {
// First 8 octets of a label, lower-cased, big-endian: orders most labels without a full compare.
uint64_t label_key(const uint8_t* label) {
  uint64_t k = 0;
  for (int i = 0; i < 8; ++i) {
    k <<= 8;
    if (i < label[0]) k |= dns::lower(label[1 + i]);
  }
  return k;
}
// Canonical order of two labels (RFC 4034 6.1): octet-wise, lower-cased, shorter first.
int label_cmp(const uint8_t* a, const uint8_t* b) {
  size_t m = std::min(a[0], b[0]);
  for (size_t i = 1; i <= m; ++i) {
    uint8_t ca = dns::lower(a[i]), cb = dns::lower(b[i]);
    if (ca != cb) return ca < cb ? -1 : 1;
  }
  return a[0] == b[0] ? 0 : (a[0] < b[0] ? -1 : 1);
}
}  // namespace

Result<std::shared_ptr<const Zone>> ZoneBuilder::build(std::vector<std::string>* warnings) {
  Impl& m = *impl_;
  auto z = std::make_shared<Zone>();
  z->origin_ = m.origin;
  z->origin_hash_ = dns::hash_wire_name(m.origin.data(), m.origin.size()) | 1;
  auto warn = [&](std::string s) {
    if (warnings) warnings->push_back(std::move(s));
  };

  // Materialise empty non-terminals: every name's parent exists, up to the apex.
  const uint32_t apex_id = m.intern(m.origin.data(), m.origin.size());
  for (uint32_t id = 0; id < m.names.size(); ++id) {  // grows while we walk it
    if (id == apex_id) continue;
    uint8_t buf[dns::kMaxNameLen];
    const uint8_t* p = m.name_ptr(id);
    size_t plen = m.names[id].len - 1u - p[0];
    std::memcpy(buf, p + 1 + p[0], plen);  // the arena may move while interning
    m.names[id].parent = m.intern(buf, plen);
  }
  const size_t nnames = m.names.size();

  // Canonical order (RFC 4034 6.1), i.e. the tree keyed by reversed labels: sort siblings by
  // label, then walk the tree depth-first from the apex.
  struct Child {
    uint32_t parent;
    uint64_t key;
    uint32_t id;
  };
  std::vector<Child> kids;
  kids.reserve(nnames);
  for (uint32_t id = 0; id < nnames; ++id) {
    if (id != apex_id) kids.push_back(Child{m.names[id].parent, label_key(m.name_ptr(id)), id});
  }
  std::sort(kids.begin(), kids.end(), [&](const Child& a, const Child& b) {
    if (a.parent != b.parent) return a.parent < b.parent;
    if (a.key != b.key) return a.key < b.key;
    return label_cmp(m.name_ptr(a.id), m.name_ptr(b.id)) < 0;
  });
  std::vector<uint32_t> first_kid(nnames + 1, 0);
  for (const Child& c : kids) first_kid[c.parent + 1]++;
  for (size_t i = 0; i < nnames; ++i) first_kid[i + 1] += first_kid[i];
  std::vector<uint32_t> order;
  order.reserve(nnames);
  {
    std::vector<std::pair<uint32_t, uint32_t>> stack;  // (name id, next child position)
    order.push_back(apex_id);
    stack.emplace_back(apex_id, first_kid[apex_id]);
    while (!stack.empty()) {
      auto& [id, next] = stack.back();
      if (next == first_kid[id + 1]) {
        stack.pop_back();
        continue;
      }
      uint32_t c = kids[next++].id;
      order.push_back(c);
      stack.emplace_back(c, first_kid[c]);
    }
  }
  kids = {};
  first_kid = {};
  std::vector<uint32_t> node_of(nnames);
  for (size_t i = 0; i < nnames; ++i) node_of[order[i]] = static_cast<uint32_t>(i);

  // Group records by node (counting sort keeps file order), then by type inside a node.
  std::vector<uint32_t> rec_start(nnames + 1, 0);
  for (const auto& r : m.recs) rec_start[node_of[r.name_id] + 1]++;
  for (size_t i = 0; i < nnames; ++i) rec_start[i + 1] += rec_start[i];
  std::vector<uint32_t> ri(m.recs.size());
  {
    std::vector<uint32_t> fill(rec_start.begin(), rec_start.end() - 1);
    for (uint32_t i = 0; i < m.recs.size(); ++i) ri[fill[node_of[m.recs[i].name_id]]++] = i;
  }
  for (size_t nd = 0; nd < nnames; ++nd) {
    auto b = ri.begin() + rec_start[nd], e = ri.begin() + rec_start[nd + 1];
    if (e - b > 1) {
      std::stable_sort(b, e,
                       [&](uint32_t x, uint32_t y) { return m.recs[x].type < m.recs[y].type; });
    }
  }

  z->nodes_.resize(nnames);
  for (size_t i = 0; i < nnames; ++i) {
    const auto& ne = m.names[order[i]];
    Node& n = z->nodes_[i];
    n.name_off = ne.off;
    n.name_len = ne.len;
    n.parent = ne.parent == kNone ? kNone : node_of[ne.parent];
  }
  // Hash index.
  size_t cap = 16;
  while (cap < nnames * 2) cap <<= 1;
  z->index_.assign(cap, kNone);
  z->index_mask_ = cap - 1;
  for (uint32_t i = 0; i < nnames; ++i) {
    size_t h = m.names[order[i]].hash & z->index_mask_;
    while (z->index_[h] != kNone) h = (h + 1) & z->index_mask_;
    z->index_[h] = i;
  }
  z->names_ = std::move(m.name_arena);
  z->apex_ = node_of[apex_id];

  // RRsets.
  std::vector<uint32_t> first_rec_of_rrset;  // for error messages
  z->rdata_.reserve(m.rd.size() + 2 * m.recs.size());
  size_t k = 0;
  std::vector<std::pair<const uint8_t*, uint16_t>> seen;
  while (k < ri.size()) {
    const auto& r0 = m.recs[ri[k]];
    uint32_t node = node_of[r0.name_id];
    Node& n = z->nodes_[node];
    if (n.nrrsets == 0) n.first_rrset = static_cast<uint32_t>(z->rrsets_.size());
    if (n.nrrsets == 255 || n.nrrsets >= max_types_per_name_) {
      return Error{m.where(r0) + ": too many types at " + z->name(n).to_text()};
    }
    RRset rs;
    rs.type = r0.type;
    rs.ttl = r0.ttl;
    rs.steer = r0.steer;
    rs.data_off = static_cast<uint32_t>(z->rdata_.size());
    seen.clear();
    size_t j = k;
    for (; j < ri.size() && m.recs[ri[j]].name_id == r0.name_id && m.recs[ri[j]].type == r0.type;
         ++j) {
      const auto& r = m.recs[ri[j]];
      if (r.steer != rs.steer) {
        const auto& st = r.steer != kNone ? r : r0;
        const auto& plain = r.steer != kNone ? r0 : r;
        return Error{m.where(st) + ": steered " + dns::type_to_text(r.type) + " at " +
                     z->name(n).to_text() + " beside static " + dns::type_to_text(r.type) +
                     " records (" + m.where(plain) + "); give the values as a member instead"};
      }
      if (r.placeholder) continue;
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
                     dns::type_to_text(r.type) + " records at " + z->name(n).to_text()};
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
  m.rd = {};
  ri = {};
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
    z->serial_ =
        uint32_t{nums[0]} << 24 | uint32_t{nums[1]} << 16 | uint32_t{nums[2]} << 8 | nums[3];
    uint32_t minimum =
        uint32_t{nums[16]} << 24 | uint32_t{nums[17]} << 16 | uint32_t{nums[18]} << 8 | nums[19];
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
  // The builder's scratch memory goes back to the system now, not when the builder dies: a
  // large zone would otherwise leave the daemon's RSS at its load-time peak. Only for large
  // ones: malloc_trim walks and madvises every arena, which on a busy control plane (a compile
  // per change group) is kernel time the query threads wait behind.
  const size_t scratch = m.recs.capacity() * sizeof(Impl::Rec) + m.rd.capacity() +
                         m.name_arena.capacity() + m.names.capacity() * sizeof(Impl::NameEnt);
  m = Impl{};
  m.origin = z->origin_;
  if (scratch > (32u << 20)) {
    malloc_trim(0);
  }
  return std::shared_ptr<const Zone>(std::move(z));
}

}  // namespace steerdns::zone
