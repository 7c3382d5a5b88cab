#include "policy/model.h"

#include <fstream>
#include <map>
#include <set>
#include <utility>

#include "dns/rrtype.h"
#include "policy/validate_internal.h"

namespace steerdns::policy {

const char* policy_name(Policy p) {
  switch (p) {
    case Policy::kSimple:
      return "simple";
    case Policy::kFailover:
      return "failover";
    case Policy::kWeighted:
      return "weighted";
    case Policy::kLatency:
      return "latency";
    case Policy::kGeo:
      return "geo";
    case Policy::kSubnet:
      return "subnet";
    case Policy::kMultivalue:
      return "multivalue";
  }
  return "?";
}

const char* all_down_name(AllDown a) {
  switch (a) {
    case AllDown::kFailOpen:
      return "fail_open";
    case AllDown::kStatic:
      return "static";
    case AllDown::kNodata:
      return "nodata";
    case AllDown::kServfail:
      return "servfail";
  }
  return "?";
}

const char* failback_name(FailbackMode m) {
  switch (m) {
    case FailbackMode::kAuto:
      return "auto";
    case FailbackMode::kManual:
      return "manual";
    case FailbackMode::kGradual:
      return "gradual";
  }
  return "?";
}

std::string RecordSet::key() const {
  return name.lowered().to_text() + "/" + dns::type_to_text(type);
}

namespace {

bool is_upper_alpha(char c) { return c >= 'A' && c <= 'Z'; }
bool is_upper_alnum(char c) { return is_upper_alpha(c) || (c >= '0' && c <= '9'); }

bool valid_country(const std::string& s) {
  return s.size() == 2 && is_upper_alpha(s[0]) && is_upper_alpha(s[1]);
}

}  // namespace

bool valid_location(const std::string& loc) {
  if (loc == "*") {
    return true;
  }
  if (loc.rfind("continent:", 0) == 0) {
    static const std::set<std::string> kContinents = {"AF", "AN", "AS", "EU", "NA", "OC", "SA"};
    return kContinents.count(loc.substr(10)) > 0;
  }
  if (valid_country(loc)) {
    return true;
  }
  // Subdivision: ISO 3166-2, "TW-TPE", "US-CA".
  if (loc.size() >= 4 && loc.size() <= 6 && valid_country(loc.substr(0, 2)) && loc[2] == '-') {
    for (size_t i = 3; i < loc.size(); ++i) {
      if (!is_upper_alnum(loc[i])) {
        return false;
      }
    }
    return true;
  }
  return false;
}

namespace {

class Checker {
 public:
  Checker(const SteeringSpec& spec, const std::vector<std::string>* known)
      : spec_(spec), known_(known) {}

  Status run() {
    std::map<std::string, size_t> keys;
    for (size_t i = 0; i < spec_.record_sets.size(); ++i) {
      const RecordSet& rs = spec_.record_sets[i];
      auto [it, fresh] = keys.emplace(rs.key(), i);
      if (!fresh) {
        const RecordSet& first = spec_.record_sets[it->second];
        std::string why = "duplicate record set (first defined at " + first.where + ")";
        if (first.policy != rs.policy) {
          why = std::string("mixed policies in one name/type: ") + policy_name(rs.policy) +
                " here, " + policy_name(first.policy) + " at " + first.where;
        }
        return fail(rs, nullptr, why);
      }
    }
    bool has_geo = false;
    for (const RecordSet& rs : spec_.record_sets) {
      if (Status st = check_set(rs, keys); !st) {
        return st;
      }
      has_geo = has_geo || rs.policy == Policy::kGeo;
    }
    if (Status st = check_loops(keys); !st) {
      return st;
    }
    if (has_geo) {
      if (spec_.geoip_db.empty()) {
        for (const RecordSet& rs : spec_.record_sets) {
          if (rs.policy == Policy::kGeo) {
            return fail(rs, nullptr, "geo routing needs geoip_db (a MaxMind .mmdb file)");
          }
        }
      }
      std::ifstream f(spec_.geoip_db, std::ios::binary);
      if (!f) {
        return Error{"geoip_db '" + spec_.geoip_db + "': cannot open the file"};
      }
    }
    for (const LatencyEntry& e : spec_.latency_map) {
      for (const auto& [region, rtt] : e.rtt_ms) {
        if (region.empty()) {
          return Error{e.where + ": latency map " + e.cidr.to_text() + ": empty region name"};
        }
      }
    }
    return OkStatus();
  }

 private:
  static Status fail(const RecordSet& rs, const Member* m, const std::string& why) {
    std::string where = (m != nullptr && !m->where.empty()) ? m->where : rs.where;
    std::string id = m != nullptr ? " " + m->set_id : "";
    return Error{where + ": " + rs.key() + id + ": " + why};
  }

  Status check_set(const RecordSet& rs, const std::map<std::string, size_t>& keys) {
    if (rs.members.empty()) {
      return fail(rs, nullptr, "no members");
    }
    std::set<std::string> ids;
    for (const Member& m : rs.members) {
      if (m.set_id.empty() && rs.policy != Policy::kSimple) {
        return fail(rs, &m, "member without a set_id");
      }
      if (!ids.insert(m.set_id).second) {
        return fail(rs, &m, "duplicate set_id");
      }
      if (Status st = check_member(rs, m, keys); !st) {
        return st;
      }
    }
    if (rs.failover_ttl > rs.ttl) {
      return fail(rs, nullptr,
                  "failover_ttl " + std::to_string(rs.failover_ttl) + " is above ttl " +
                      std::to_string(rs.ttl));
    }
    if (rs.on_all_down == AllDown::kStatic && rs.static_values.empty()) {
      return fail(rs, nullptr, "on_all_down: static needs static_values");
    }
    if (rs.stabilize_ms < 0 || rs.ramp_ms < 0 || rs.min_state_ms < 0 ||
        rs.failover_ttl_hold_ms < 0 || rs.flap_window_ms < 0) {
      return fail(rs, nullptr, "negative duration (stabilize, ramp, min_state, hold, flap window)");
    }
    if (rs.failback == FailbackMode::kGradual && rs.ramp_ms <= 0) {
      return fail(rs, nullptr, "failback: gradual needs a ramp above 0");
    }
    if (rs.flap_transitions < 2) {
      return fail(rs, nullptr, "flap_transitions must be at least 2");
    }
    switch (rs.policy) {
      case Policy::kSimple:
        if (rs.members.size() != 1) {
          return fail(
              rs, nullptr,
              "simple routing takes exactly one member, not " + std::to_string(rs.members.size()));
        }
        break;
      case Policy::kFailover: {
        std::map<int, const Member*> tiers;
        for (const Member& m : rs.members) {
          if (m.tier < 1) {
            return fail(rs, &m, "failover member needs a tier (1 = primary, 2 = secondary, ...)");
          }
          auto [it, fresh] = tiers.emplace(m.tier, &m);
          if (!fresh) {
            std::string why = m.tier == 1   ? "two PRIMARY members"
                              : m.tier == 2 ? "two SECONDARY members"
                                            : "two members in tier " + std::to_string(m.tier);
            return fail(rs, &m, why + " (the other is " + it->second->set_id + ")");
          }
        }
        if (tiers.size() < 2) {
          return fail(rs, nullptr, "a failover record without a secondary");
        }
        int expect = 1;
        for (const auto& [tier, m] : tiers) {
          if (tier != expect) {
            return fail(rs, m,
                        "failover tiers must be 1, 2, ... without gaps; tier " +
                            std::to_string(expect) + " is missing");
          }
          ++expect;
        }
        break;
      }
      case Policy::kWeighted:
        for (const Member& m : rs.members) {
          if (m.weight < 0 || m.weight > 255) {
            return fail(rs, &m,
                        m.weight == -1
                            ? "weighted member without a weight"
                            : "weight " + std::to_string(m.weight) + " out of range 0..255");
          }
        }
        if (rs.sticky && (rs.sticky_v4_prefix > 32 || rs.sticky_v6_prefix > 128)) {
          return fail(rs, nullptr, "sticky prefix out of range (v4 0..32, v6 0..128)");
        }
        break;
      case Policy::kLatency: {
        std::map<std::string, const Member*> regions;
        for (const Member& m : rs.members) {
          if (m.region.empty()) {
            return fail(rs, &m, "latency member without a region");
          }
          auto [it, fresh] = regions.emplace(m.region, &m);
          if (!fresh) {
            return fail(rs, &m,
                        "region '" + m.region + "' used twice (also " + it->second->set_id + ")");
          }
        }
        break;
      }
      case Policy::kGeo: {
        std::map<std::string, const Member*> locs;
        for (const Member& m : rs.members) {
          if (m.locations.empty()) {
            return fail(rs, &m, "geo member without locations");
          }
          for (const std::string& l : m.locations) {
            if (!valid_location(l)) {
              return fail(rs, &m,
                          "location '" + l +
                              "' is not a country (\"TW\"), subdivision (\"US-CA\"), continent "
                              "(\"continent:EU\": AF AN AS EU NA OC SA) or \"*\"");
            }
            auto [it, fresh] = locs.emplace(l, &m);
            if (!fresh) {
              return fail(rs, &m,
                          "location '" + l + "' used twice (also " + it->second->set_id + ")");
            }
          }
        }
        break;
      }
      case Policy::kSubnet: {
        int defaults = 0;
        for (const Member& m : rs.members) {
          if (m.subnet_default) {
            ++defaults;
            if (defaults > 1) {
              return fail(rs, &m, "more than one default member");
            }
          } else if (m.subnets.empty()) {
            return fail(rs, &m, "subnet member without subnets (and not the default)");
          }
        }
        std::map<std::string, const Member*> seen;
        for (const Member& m : rs.members) {
          for (const dns::Cidr& c : m.subnets) {
            auto [it, fresh] = seen.emplace(c.to_text(), &m);
            if (!fresh) {
              return fail(
                  rs, &m,
                  "subnet " + c.to_text() + " used twice (also " + it->second->set_id + ")");
            }
          }
        }
        break;
      }
      case Policy::kMultivalue:
        if (rs.max_values < 1 || rs.max_values > 8) {
          return fail(rs, nullptr,
                      "max_values " + std::to_string(rs.max_values) + " out of range 1..8");
        }
        for (const Member& m : rs.members) {
          if (m.alias || m.rdata.size() != 1) {
            return fail(rs, &m, "multivalue member must have exactly one value (no alias)");
          }
        }
        break;
    }
    return OkStatus();
  }

  Status check_member(const RecordSet& rs, const Member& m,
                      const std::map<std::string, size_t>& keys) {
    if (m.alias) {
      if (m.alias->type != rs.type) {
        return fail(rs, &m,
                    "alias target type " + dns::type_to_text(m.alias->type) + " differs from " +
                        dns::type_to_text(rs.type));
      }
      RecordSet probe;
      probe.name = m.alias->name;
      probe.type = m.alias->type;
      if (keys.count(probe.key()) == 0 && m.rdata.empty()) {
        return fail(rs, &m, "alias target " + probe.key() + " does not exist");
      }
      if (probe.key() == rs.key()) {
        return fail(rs, &m, "alias loop: the member points to its own record set");
      }
    } else if (m.rdata.empty()) {
      return fail(rs, &m, "member without values or alias");
    }
    if (!m.health_check.empty() && known_ != nullptr) {
      bool found = false;
      for (const std::string& k : *known_) {
        if (k == m.health_check) {
          found = true;
          break;
        }
      }
      if (!found) {
        return fail(rs, &m, "health check '" + m.health_check + "' does not exist");
      }
    }
    return OkStatus();
  }

  // Alias edges between record sets must form no cycle (depth-first search, three colours).
  Status check_loops(const std::map<std::string, size_t>& keys) {
    size_t n = spec_.record_sets.size();
    std::vector<std::vector<std::pair<size_t, const Member*>>> edges(n);
    for (size_t i = 0; i < n; ++i) {
      for (const Member& m : spec_.record_sets[i].members) {
        if (!m.alias || !m.rdata.empty()) {
          continue;
        }
        RecordSet probe;
        probe.name = m.alias->name;
        probe.type = m.alias->type;
        auto it = keys.find(probe.key());
        if (it != keys.end()) {
          edges[i].emplace_back(it->second, &m);
        }
      }
    }
    std::vector<int> colour(n, 0);
    std::vector<size_t> path;
    for (size_t i = 0; i < n; ++i) {
      if (colour[i] == 0) {
        if (Status st = dfs(i, edges, colour, path); !st) {
          return st;
        }
      }
    }
    return OkStatus();
  }

  Status dfs(size_t i, const std::vector<std::vector<std::pair<size_t, const Member*>>>& edges,
             std::vector<int>& colour, std::vector<size_t>& path) {
    colour[i] = 1;
    path.push_back(i);
    for (const auto& [j, m] : edges[i]) {
      if (colour[j] == 1) {
        std::string cycle;
        bool on = false;
        for (size_t p : path) {
          on = on || p == j;
          if (on) {
            cycle += spec_.record_sets[p].key() + " -> ";
          }
        }
        cycle += spec_.record_sets[j].key();
        return fail(spec_.record_sets[i], m, "alias loop: " + cycle);
      }
      if (colour[j] == 0) {
        if (Status st = dfs(j, edges, colour, path); !st) {
          return st;
        }
      }
    }
    path.pop_back();
    colour[i] = 2;
    return OkStatus();
  }

  const SteeringSpec& spec_;
  const std::vector<std::string>* known_;
};

}  // namespace

Status validate_spec(const SteeringSpec& spec, const std::vector<std::string>* known_checks) {
  return Checker(spec, known_checks).run();
}

Status validate(const SteeringSpec& spec, const std::vector<std::string>& known_checks) {
  return validate_spec(spec, &known_checks);
}

}  // namespace steerdns::policy
