#include "policy/table.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>

#include "policy/table_impl.h"
#include "policy/validate_internal.h"

namespace steerdns::policy {

namespace {

constexpr int kMaxDepth = 16;  // alias nesting; loops are rejected before

uint64_t mix64(uint64_t x) {  // splitmix64 finaliser
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

double unit(uint64_t x) {  // [0, 1)
  return static_cast<double>(x >> 11) * (1.0 / 9007199254740992.0);
}

uint64_t fnv1a(const uint8_t* p, size_t n, uint64_t h = 1469598103934665603ull) {
  for (size_t i = 0; i < n; ++i) {
    h = (h ^ p[i]) * 1099511628211ull;
  }
  return h;
}

// ECS scope for a decision that looked at `bits` of the client address: never more than the
// client told us (its source prefix), so resolvers may cache it for the whole subnet.
uint8_t cap_scope(const Client& c, uint8_t bits) {
  if (c.family == 0) {
    return 0;
  }
  return std::min(bits, c.source_prefix);
}

void note(Trace* tr, int depth, std::string s) {
  tr->steps.push_back(std::string(static_cast<size_t>(depth) * 2, ' ') + std::move(s));
}

// Trace text is built only for explain: the query path (tr == nullptr) must not allocate.
#define STEER_NOTE(...)             \
  do {                              \
    if (tr != nullptr) {            \
      note(tr, depth, __VA_ARGS__); \
    }                               \
  } while (0)

}  // namespace

Client Client::from_sockaddr(const sockaddr* sa) {
  Client c;
  if (sa == nullptr) {
    return c;
  }
  if (sa->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    c.family = AF_INET;
    std::memcpy(c.addr, &in->sin_addr, 4);
    c.source_prefix = 32;
  } else if (sa->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    const auto* a = reinterpret_cast<const uint8_t*>(&in6->sin6_addr);
    static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
    if (std::memcmp(a, kMapped, 12) == 0) {
      c.family = AF_INET;
      std::memcpy(c.addr, a + 12, 4);
      c.source_prefix = 32;
    } else {
      c.family = AF_INET6;
      std::memcpy(c.addr, a, 16);
      c.source_prefix = 128;
    }
  }
  return c;
}

Table::Impl::~Impl() {
  if (mmdb_open) {
    MMDB_close(&mmdb);
  }
}

Table::~Table() = default;

uint32_t Table::id_of(const std::string& set_key) const {
  auto it = impl_->ids.find(set_key);
  return it == impl_->ids.end() ? kNoSteer : it->second;
}

size_t Table::size() const { return impl_->sets.size(); }

Selection Table::select(uint32_t id, const Client& client, uint64_t entropy) const {
  if (id >= impl_->sets.size()) {
    Selection s;
    s.outcome = Selection::Outcome::kServfail;
    return s;
  }
  const CompiledSet& s = impl_->sets[id];
  if (s.fixed_valid) {
    return s.fixed;
  }
  bool varies = false;
  return impl_->select(id, client, entropy, 0, &varies, nullptr);
}

int Table::first_healthy_tier(uint32_t id) const {
  return id < impl_->sets.size() ? impl_->sets[id].first_healthy_tier : 0;
}

bool Table::has_healthy_answer(uint32_t id) const {
  return id < impl_->sets.size() && impl_->sets[id].any_healthy;
}

MemberHealth Table::member_health(uint32_t id, size_t member) const {
  if (id >= impl_->sets.size() || member >= impl_->sets[id].members.size()) {
    return MemberHealth{false, "no such member"};
  }
  return impl_->sets[id].members[member].health;
}

Selection Table::Impl::leaf(const CompiledSet& s, const Blob& b) const {
  Selection out;
  out.outcome = Selection::Outcome::kAnswer;
  out.data = arena.data() + b.off;
  out.count = b.count;
  out.ttl = s.ttl;
  return out;
}

bool Table::Impl::all_down(const CompiledSet& s, Selection* out, Trace* tr, int depth) const {
  if (tr != nullptr && !tr->all_down_fired) {
    tr->all_down_fired = true;
    tr->all_down_set = s.key;
  }
  STEER_NOTE(std::string("no healthy member: on_all_down ") + all_down_name(s.all_down));
  switch (s.all_down) {
    case AllDown::kFailOpen:
      return false;
    case AllDown::kStatic:
      *out = leaf(s, s.static_blob);
      out->branch = s.branch_all_down.c_str();
      return true;
    case AllDown::kNodata:
      *out = Selection{};
      out->outcome = Selection::Outcome::kNodata;
      out->ttl = s.ttl;
      out->branch = s.branch_all_down.c_str();
      return true;
    case AllDown::kServfail:
      *out = Selection{};
      out->outcome = Selection::Outcome::kServfail;
      out->branch = s.branch_all_down.c_str();
      return true;
  }
  return false;
}

Selection Table::Impl::member_answer(const CompiledSet& s, uint32_t mi, const Client& c,
                                     uint64_t entropy, int depth, bool* varies, Trace* tr,
                                     bool fail_open) const {
  const CompiledMember& m = s.members[mi];
  if (tr != nullptr && depth == 0) {
    tr->member = static_cast<int>(mi);
  }
  if (m.is_leaf) {
    Selection out = leaf(s, m.leaf);
    out.branch = fail_open ? m.branch_fail_open.c_str() : m.branch.c_str();
    return out;
  }
  STEER_NOTE("alias to " + sets[m.target].key);
  if (depth >= kMaxDepth) {
    Selection out;
    out.outcome = Selection::Outcome::kServfail;
    return out;
  }
  return select(m.target, c, mix64(entropy ^ 0xA11A5ull), depth + 1, varies, tr);
}

Selection Table::Impl::select(uint32_t id, const Client& c, uint64_t entropy, int depth,
                              bool* varies, Trace* tr) const {
  const CompiledSet& s = sets[id];
  if (s.fixed_valid && tr == nullptr) {
    return s.fixed;
  }
  STEER_NOTE(s.key + ": " + policy_name(s.policy));
  Selection out;
  auto with_scope = [](Selection sel, uint8_t scope) {
    sel.scope = std::max(sel.scope, scope);
    return sel;
  };
  // Geo and subnet: the first healthy member of the chain (the match, then the default); none
  // healthy: on_all_down, else the first of the chain; an empty chain is NODATA.
  auto first_of_chain = [&](const uint32_t* chain, int n, uint8_t scope,
                            const char* nodata_note) -> Selection {
    if (n == 0) {
      STEER_NOTE(nodata_note);
      out.outcome = Selection::Outcome::kNodata;
      out.ttl = s.ttl;
      out.scope = scope;
      return out;
    }
    for (int i = 0; i < n; ++i) {
      if (s.members[chain[i]].healthy) {
        return with_scope(member_answer(s, chain[i], c, entropy, depth, varies, tr), scope);
      }
    }
    if (all_down(s, &out, tr, depth)) {
      return with_scope(out, scope);
    }
    return with_scope(member_answer(s, chain[0], c, entropy, depth, varies, tr, true), scope);
  };
  if (s.forced_down) {
    STEER_NOTE("record set forced down by an override");
  }
  switch (s.policy) {
    case Policy::kSimple: {
      if (!s.any_healthy && all_down(s, &out, tr, depth)) {
        return out;
      }
      return member_answer(s, 0, c, entropy, depth, varies, tr, !s.any_healthy);
    }
    case Policy::kFailover: {
      int tier = s.active_tier > 0 && !s.forced_down ? s.active_tier : s.first_healthy_tier;
      bool fail_open = false;
      if (tier == 0) {
        if (all_down(s, &out, tr, depth)) {
          return out;
        }
        tier = 1;
        fail_open = true;
      } else if (s.active_tier > 0) {
        STEER_NOTE("tier " + std::to_string(tier) + " set by failover orchestration");
      } else {
        STEER_NOTE("first healthy tier: " + std::to_string(tier));
      }
      if (s.ramp_tier > 0 && s.ramp_share > 0 && !s.forced_down) {
        *varies = true;
        if (unit(entropy) < s.ramp_share) {
          tier = s.ramp_tier;
        }
        STEER_NOTE("gradual failback: " + std::to_string(s.ramp_share) + " of answers to tier " +
                   std::to_string(s.ramp_tier) + "; this one: tier " + std::to_string(tier));
      }
      if (tr != nullptr && depth == 0) {
        tr->tier = tier;
      }
      return member_answer(s, s.tier_member[static_cast<size_t>(tier - 1)], c, entropy, depth,
                           varies, tr, fail_open);
    }
    case Policy::kWeighted: {
      if (s.wcand.empty() || (s.weighted_all_down && s.all_down != AllDown::kFailOpen)) {
        if (all_down(s, &out, tr, depth)) {
          return out;
        }
        out = Selection{};
        out.outcome = Selection::Outcome::kServfail;
        return out;
      }
      if (s.weighted_all_down) {
        all_down(s, &out, tr, depth);  // fail_open: trace only
      }
      size_t pick = 0;
      uint8_t scope = 0;
      if (s.wcand.size() > 1) {
        *varies = true;
        if (s.sticky && c.family != 0) {
          uint8_t bits = c.family == AF_INET ? s.sticky_v4 : s.sticky_v6;
          bits = std::min(bits, c.source_prefix);
          uint8_t masked[16] = {};
          size_t full = bits / 8;
          std::memcpy(masked, c.addr, full);
          if (bits % 8 != 0) {
            masked[full] = static_cast<uint8_t>(c.addr[full] & (0xFF00 >> (bits % 8)));
          }
          uint64_t h = fnv1a(masked, 16, fnv1a(&bits, 1));
          double best = -1;
          for (size_t i = 0; i < s.wcand.size(); ++i) {
            uint64_t x = mix64(h ^ s.members[s.wcand[i]].id_hash);
            double u = (static_cast<double>(x >> 11) + 0.5) * (1.0 / 9007199254740992.0);
            double score = s.wweight[i] / -std::log(u);
            if (score > best) {
              best = score;
              pick = i;
            }
          }
          scope = cap_scope(c, bits);
          STEER_NOTE("sticky: rendezvous hash of the client /" + std::to_string(bits));
        } else {
          double r = unit(entropy) * s.wcum.back();
          pick = static_cast<size_t>(std::upper_bound(s.wcum.begin(), s.wcum.end(), r) -
                                     s.wcum.begin());
          pick = std::min(pick, s.wcand.size() - 1);
        }
      }
      STEER_NOTE("picked member " + std::to_string(s.wcand[pick]) + " of " +
                 std::to_string(s.wcand.size()) + " candidates");
      return with_scope(
          member_answer(s, s.wcand[pick], c, entropy, depth, varies, tr, s.weighted_all_down),
          scope);
    }
    case Policy::kLatency: {
      size_t entry = s.latency_order.size() - 1;
      uint8_t scope = 0;
      if (!latency.empty()) {
        *varies = true;
        uint8_t plen = 0;
        if (const uint32_t* e = latency.find(c.family, c.addr, &plen)) {
          entry = *e;
          scope = cap_scope(c, plen);
          STEER_NOTE("client matches latency map entry " + std::to_string(*e) + " (/" +
                     std::to_string(plen) + ")");
        } else {
          scope = cap_scope(c, latency.longest(c.family));
          STEER_NOTE("client matches no latency map entry");
        }
      }
      const auto& order = s.latency_order[entry];
      for (uint32_t mi : order) {
        if (s.members[mi].healthy) {
          return with_scope(member_answer(s, mi, c, entropy, depth, varies, tr), scope);
        }
      }
      if (all_down(s, &out, tr, depth)) {
        return out;
      }
      return with_scope(member_answer(s, order.front(), c, entropy, depth, varies, tr, true),
                        scope);
    }
    case Policy::kGeo: {
      *varies = true;
      uint32_t chain[4];
      int n = 0;
      uint8_t scope = 0;
      if (mmdb_open && c.family != 0) {
        sockaddr_storage ss{};
        if (c.family == AF_INET) {
          auto* in = reinterpret_cast<sockaddr_in*>(&ss);
          in->sin_family = AF_INET;
          std::memcpy(&in->sin_addr, c.addr, 4);
        } else {
          auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
          in6->sin6_family = AF_INET6;
          std::memcpy(&in6->sin6_addr, c.addr, 16);
        }
        int mmdb_error = 0;
        MMDB_lookup_result_s r =
            MMDB_lookup_sockaddr(&mmdb, reinterpret_cast<sockaddr*>(&ss), &mmdb_error);
        uint16_t nm = r.netmask;
        if (c.family == AF_INET && mmdb.metadata.ip_version == 6 && nm >= 96) {
          nm = static_cast<uint16_t>(nm - 96);
        }
        scope = cap_scope(c, static_cast<uint8_t>(nm));
        if (mmdb_error == MMDB_SUCCESS && r.found_entry) {
          char country[4] = {}, continent[16] = {}, subdiv[16] = {};
          // MMDB_aget_value: the varargs MMDB_get_value allocates its path array.
          auto get = [&](char* buf, size_t cap, const char* const* path) {
            MMDB_entry_data_s data{};
            int st = MMDB_aget_value(&r.entry, &data, path);
            if (st == MMDB_SUCCESS && data.has_data && data.type == MMDB_DATA_TYPE_UTF8_STRING &&
                data.data_size < cap) {
              std::memcpy(buf, data.utf8_string, data.data_size);
              buf[data.data_size] = 0;
            }
          };
          static const char* const kCountry[] = {"country", "iso_code", nullptr};
          static const char* const kContinent[] = {"continent", "code", nullptr};
          static const char* const kSubdivision[] = {"subdivisions", "0", "iso_code", nullptr};
          get(country, sizeof country, kCountry);
          std::memcpy(continent, "continent:", 10);
          get(continent + 10, sizeof continent - 10, kContinent);
          char sub[8] = {};
          get(sub, sizeof sub, kSubdivision);
          if (sub[0] != 0 && country[0] != 0) {
            std::snprintf(subdiv, sizeof subdiv, "%s-%s", country, sub);
          }
          STEER_NOTE(std::string("geoip: country ") + (country[0] ? country : "-") + ", " +
                     (continent[10] ? continent : "continent -") + ", /" + std::to_string(nm));
          for (const char* code :
               {static_cast<const char*>(subdiv), static_cast<const char*>(country),
                static_cast<const char*>(continent)}) {
            if (code[0] == 0 || (code == continent && continent[10] == 0)) {
              continue;
            }
            for (const GeoLocation& g : s.geo) {
              if (std::strcmp(g.code.data(), code) == 0) {
                chain[n++] = g.member;
                break;
              }
            }
          }
        } else {
          STEER_NOTE("geoip: no entry for the client");
        }
      }
      if (s.geo_default >= 0) {
        chain[n++] = static_cast<uint32_t>(s.geo_default);
      }
      return first_of_chain(chain, n, scope, "no location matches and no default: NODATA");
    }
    case Policy::kSubnet: {
      uint32_t chain[2];
      int n = 0;
      uint8_t scope = 0;
      if (!s.subnets.empty()) {
        *varies = true;
        uint8_t plen = 0;
        const uint32_t* mi = c.family != 0 ? s.subnets.find(c.family, c.addr, &plen) : nullptr;
        if (mi != nullptr) {
          chain[n++] = *mi;
          scope = cap_scope(c, plen);
          STEER_NOTE("client in subnet /" + std::to_string(plen));
        } else {
          scope = cap_scope(c, s.subnets.longest(c.family));
        }
      }
      if (s.subnet_default >= 0) {
        chain[n++] = static_cast<uint32_t>(s.subnet_default);
      }
      return first_of_chain(chain, n, scope, "no subnet matches and no default: NODATA");
    }
    case Policy::kMultivalue: {
      if (s.multi_all_down && all_down(s, &out, tr, depth)) {
        return out;
      }
      Selection m = leaf(s, s.multi);
      m.branch = s.branch_multi.c_str();
      return m;
    }
  }
  out.outcome = Selection::Outcome::kServfail;
  return out;
}

namespace {

class Compiler {
 public:
  Compiler(const CompileInputs& in, Table::Impl& t) : in_(in), t_(t) {}

  Status run() {
    const SteeringSpec& spec = *in_.spec;
    size_t n = spec.record_sets.size();
    t_.sets.resize(n);
    for (size_t i = 0; i < n; ++i) {
      t_.ids.emplace(spec.record_sets[i].key(), static_cast<uint32_t>(i));
    }
    for (size_t e = 0; e < spec.latency_map.size(); ++e) {
      t_.latency.insert(spec.latency_map[e].cidr, static_cast<uint32_t>(e));
    }
    t_.latency.build();
    bool geo = false;
    for (const RecordSet& rs : spec.record_sets) {
      geo = geo || rs.policy == Policy::kGeo;
    }
    if (geo) {
      int st = MMDB_open(spec.geoip_db.c_str(), MMDB_MODE_MMAP, &t_.mmdb);
      if (st != MMDB_SUCCESS) {
        return Error{"geoip_db '" + spec.geoip_db + "': " + MMDB_strerror(st)};
      }
      t_.mmdb_open = true;
    }
    state_.assign(n, 0);
    for (size_t i = 0; i < n; ++i) {
      build_set(static_cast<uint32_t>(i));
    }
    // Answers that depend on neither the client nor chance are laid out once.
    for (size_t i = 0; i < n; ++i) {
      bool varies = false;
      Selection sel = t_.select(static_cast<uint32_t>(i), Client{}, 0, 0, &varies, nullptr);
      if (!varies) {
        t_.sets[i].fixed = sel;
        t_.sets[i].fixed_valid = true;
      }
    }
    return OkStatus();
  }

 private:
  Blob add_blob(const std::vector<std::vector<uint8_t>>& values, size_t max) {
    Blob b;
    b.off = static_cast<uint32_t>(t_.arena.size());
    for (const auto& v : values) {
      if (b.count >= max) {
        break;
      }
      t_.arena.push_back(static_cast<uint8_t>(v.size() >> 8));
      t_.arena.push_back(static_cast<uint8_t>(v.size() & 0xFF));
      t_.arena.insert(t_.arena.end(), v.begin(), v.end());
      ++b.count;
    }
    return b;
  }

  template <class M>
  ForceState forced(const M* map, const std::string& key) {
    if (map == nullptr) {
      return ForceState::kNone;
    }
    auto it = map->find(key);
    return it == map->end() ? ForceState::kNone : it->second;
  }

  // The member's own health: its check (or overrides), before alias and set-level rules.
  void own_health(const Member& m, const std::string& mkey, CompiledMember& cm) {
    const Overrides* ov = in_.overrides;
    const health::HealthView* hv = in_.health;
    if (hv != nullptr && !m.health_check.empty()) {
      cm.check = hv->index_of(m.health_check);
      if (cm.check >= 0) {
        cm.measured_rtt = hv->at(cm.check).last_rtt_ms;
      }
    }
    ForceState fm = forced(ov != nullptr ? &ov->members : nullptr, mkey);
    if (fm != ForceState::kNone) {
      cm.healthy = fm == ForceState::kUp;
      cm.health = {cm.healthy,
                   std::string("forced ") + (cm.healthy ? "up" : "down") + " by a member override"};
      return;
    }
    if (m.health_check.empty()) {
      cm.health = {true, "no health check (always healthy)"};
      return;
    }
    const std::string check = "check " + m.health_check + ": ";
    ForceState fc = forced(ov != nullptr ? &ov->checks : nullptr, m.health_check);
    if (fc != ForceState::kNone) {
      cm.healthy = fc == ForceState::kUp;
      cm.health = {cm.healthy,
                   check + "forced " + (cm.healthy ? "up" : "down") + " by a check override"};
      return;
    }
    if (hv == nullptr || cm.check < 0) {
      cm.health = {true, check + "no status yet (counts healthy, like a new check)"};
      return;
    }
    const health::CheckState& st = hv->at(cm.check);
    if (st.status == health::Status::kUnhealthy) {
      cm.healthy = false;
      // "check web: unhealthy (probe): HTTP 503": where the status came from, then why.
      std::string why = check + "unhealthy (" + health::source_name(st.source) + ")";
      if (!st.last_failure_reason.empty()) {
        why += ": " + st.last_failure_reason;
      }
      cm.health = {false, std::move(why)};
    } else if (st.status == health::Status::kUnknown) {
      cm.health = {true, check + "unknown (counts healthy, like a new check)"};
    } else {
      cm.health = {true, check + "healthy"};
    }
  }

  void build_set(uint32_t id) {
    if (state_[id] != 0) {
      return;  // done (validate_spec rejected loops, so 1 cannot be seen here)
    }
    state_[id] = 1;
    const RecordSet& rs = in_.spec->record_sets[id];
    CompiledSet& s = t_.sets[id];
    s.key = rs.key();
    s.policy = rs.policy;
    s.all_down = rs.on_all_down;
    s.ttl = rs.ttl;
    s.ttl_why = "the record set's ttl";
    const SteerState* steer = nullptr;
    if (in_.steer != nullptr) {
      auto it = in_.steer->find(s.key);
      if (it != in_.steer->end()) {
        steer = &it->second;
      }
    }
    if (steer != nullptr && steer->ttl > 0) {
      s.ttl = steer->ttl;
      s.ttl_why = "set by failover orchestration (failover_ttl / next state change)";
    }
    const Overrides* ov = in_.overrides;
    ForceState fs = forced(ov != nullptr ? &ov->sets : nullptr, s.key);
    s.forced_down = fs == ForceState::kDown;
    s.forced_up = fs == ForceState::kUp;
    s.static_blob = add_blob(rs.static_values, 0xFFFF);

    s.members.resize(rs.members.size());
    for (size_t i = 0; i < rs.members.size(); ++i) {
      const Member& m = rs.members[i];
      CompiledMember& cm = s.members[i];
      std::string mkey = s.key + "#" + m.set_id;
      cm.id_hash = mix64(fnv1a(reinterpret_cast<const uint8_t*>(m.set_id.data()), m.set_id.size()));
      own_health(m, mkey, cm);
      if (!m.rdata.empty()) {
        cm.leaf = add_blob(m.rdata, 0xFFFF);
      } else if (m.alias) {
        RecordSet probe;
        probe.name = m.alias->name;
        probe.type = m.alias->type;
        auto it = t_.ids.find(probe.key());
        cm.is_leaf = false;
        cm.target = it->second;  // validate_spec guarantees it exists
        build_set(cm.target);
        if (m.alias->evaluate_target_health && cm.healthy && !t_.sets[cm.target].any_healthy) {
          cm.healthy = false;
          cm.health = {false, "alias target " + probe.key() + " has no healthy answer"};
        }
      }
      double factor = 1;
      if (ov != nullptr) {
        auto it = ov->drain.find(mkey);
        if (it != ov->drain.end()) {
          factor = std::clamp(it->second, 0.0, 1.0);
        }
      }
      cm.weight = std::max(m.weight, 0) * factor;
      if (factor <= 0 && cm.healthy) {
        cm.healthy = false;
        cm.health = {false, "drained to 0 by an override"};
      }
      if (s.forced_down) {
        cm.healthy = false;
        cm.health = {false, "record set forced down by an override (" + cm.health.why + ")"};
      } else if (s.forced_up && !cm.healthy) {
        cm.healthy = true;
        cm.health = {true, "record set forced up by an override (" + cm.health.why + ")"};
      }
    }
    s.any_healthy = false;
    for (const CompiledMember& cm : s.members) {
      s.any_healthy = s.any_healthy || cm.healthy;
    }
    // The query log's branch texts, laid out once here (the query path only passes pointers).
    for (size_t i = 0; i < rs.members.size(); ++i) {
      const Member& m = rs.members[i];
      std::string& b = s.members[i].branch;
      b = policy_name(rs.policy);
      if (rs.policy == Policy::kFailover) {
        b += " tier " + std::to_string(m.tier);
      }
      b += " " + m.set_id;
      if (rs.policy == Policy::kLatency && !m.region.empty()) {
        b += " region " + m.region;
      }
      s.members[i].branch_fail_open = "all_down fail_open " + b;
    }
    s.branch_all_down = std::string("all_down ") + all_down_name(rs.on_all_down);
    s.branch_multi = "multivalue";

    switch (rs.policy) {
      case Policy::kSimple:
        break;
      case Policy::kFailover: {
        s.tier_member.assign(rs.members.size(), 0);
        for (size_t i = 0; i < rs.members.size(); ++i) {
          s.tier_member[static_cast<size_t>(rs.members[i].tier - 1)] = static_cast<uint32_t>(i);
        }
        for (size_t t = 0; t < s.tier_member.size(); ++t) {
          if (s.members[s.tier_member[t]].healthy) {
            s.first_healthy_tier = static_cast<int>(t + 1);
            break;
          }
        }
        if (steer != nullptr) {
          int tiers = static_cast<int>(s.tier_member.size());
          if (steer->active_tier >= 1 && steer->active_tier <= tiers) {
            s.active_tier = steer->active_tier;
          }
          if (steer->ramp_tier >= 1 && steer->ramp_tier <= tiers && steer->ramp_share > 0) {
            s.ramp_tier = steer->ramp_tier;
            s.ramp_share = std::min(steer->ramp_share, 1.0);
          }
        }
        break;
      }
      case Policy::kWeighted: {
        auto collect = [&](bool need_healthy) {
          for (int pass = 0; pass < 2 && s.wcand.empty(); ++pass) {
            for (size_t i = 0; i < s.members.size(); ++i) {
              const CompiledMember& cm = s.members[i];
              if (need_healthy && !cm.healthy) {
                continue;
              }
              // pass 0: members with weight; pass 1: standby (weight 0), equal split
              if (pass == 0 ? cm.weight > 0 : cm.weight <= 0) {
                s.wcand.push_back(static_cast<uint32_t>(i));
                s.wweight.push_back(pass == 0 ? cm.weight : 1.0);
              }
            }
          }
        };
        collect(true);
        if (s.wcand.empty()) {
          s.weighted_all_down = true;
          if (rs.on_all_down == AllDown::kFailOpen) {
            collect(false);
          }
        }
        double sum = 0;
        for (double w : s.wweight) {
          sum += w;
          s.wcum.push_back(sum);
        }
        s.sticky = rs.sticky;
        s.sticky_v4 = rs.sticky_v4_prefix;
        s.sticky_v6 = rs.sticky_v6_prefix;
        break;
      }
      case Policy::kLatency: {
        const SteeringSpec& spec = *in_.spec;
        auto order_for = [&](const LatencyEntry* e) {
          std::vector<std::pair<double, uint32_t>> v;
          for (size_t i = 0; i < rs.members.size(); ++i) {
            double rtt = std::numeric_limits<double>::infinity();
            bool found = false;
            if (e != nullptr) {
              for (const auto& [region, ms] : e->rtt_ms) {
                if (region == rs.members[i].region) {
                  rtt = ms;
                  found = true;
                  break;
                }
              }
            }
            if (!found && spec.latency_use_measured_rtt && s.members[i].measured_rtt >= 0) {
              rtt = s.members[i].measured_rtt;
            }
            v.emplace_back(rtt, static_cast<uint32_t>(i));
          }
          std::stable_sort(v.begin(), v.end(),
                           [](const auto& a, const auto& b) { return a.first < b.first; });
          std::vector<uint32_t> order;
          for (const auto& p : v) {
            order.push_back(p.second);
          }
          return order;
        };
        for (const LatencyEntry& e : spec.latency_map) {
          s.latency_order.push_back(order_for(&e));
        }
        s.latency_order.push_back(order_for(nullptr));
        break;
      }
      case Policy::kGeo:
        for (size_t i = 0; i < rs.members.size(); ++i) {
          for (const std::string& l : rs.members[i].locations) {
            if (l == "*") {
              s.geo_default = static_cast<int>(i);
              continue;
            }
            GeoLocation g;
            std::snprintf(g.code.data(), g.code.size(), "%s", l.c_str());
            g.member = static_cast<uint32_t>(i);
            s.geo.push_back(g);
          }
        }
        break;
      case Policy::kSubnet:
        for (size_t i = 0; i < rs.members.size(); ++i) {
          if (rs.members[i].subnet_default) {
            s.subnet_default = static_cast<int>(i);
          }
          for (const dns::Cidr& c : rs.members[i].subnets) {
            s.subnets.insert(c, static_cast<uint32_t>(i));
          }
        }
        s.subnets.build();
        break;
      case Policy::kMultivalue: {
        std::vector<std::vector<uint8_t>> vals;
        for (size_t i = 0; i < rs.members.size(); ++i) {
          if (s.members[i].healthy) {
            vals.push_back(rs.members[i].rdata.front());
          }
        }
        if (vals.empty()) {
          s.multi_all_down = true;
          s.branch_multi = "all_down fail_open multivalue";
          for (const Member& m : rs.members) {
            vals.push_back(m.rdata.front());
          }
        }
        s.multi = add_blob(vals, static_cast<size_t>(rs.max_values));
        break;
      }
    }
    state_[id] = 2;
  }

  const CompileInputs& in_;
  Table::Impl& t_;
  std::vector<int> state_;
};

}  // namespace

Result<std::shared_ptr<const Table>> compile(const CompileInputs& in) {
  if (in.spec == nullptr) {
    return Error{"compile: no steering spec"};
  }
  if (Status st = validate_spec(*in.spec, nullptr); !st) {
    return Error{st.error()};
  }
  auto table = std::shared_ptr<Table>(new Table());
  table->impl_ = std::make_unique<Table::Impl>();
  if (Status st = Compiler(in, *table->impl_).run(); !st) {
    return Error{st.error()};
  }
  return std::shared_ptr<const Table>(std::move(table));
}

}  // namespace steerdns::policy
