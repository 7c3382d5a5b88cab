#include "policy/explain.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

#include "dns/cidr.h"
#include "dns/rdata.h"
#include "dns/rrtype.h"
#include "policy/table_impl.h"

namespace steerdns::policy {

namespace {

const char* source_text(health::Source s) {
  switch (s) {
    case health::Source::kProbe:
      return "probe";
    case health::Source::kInitial:
      return "initial";
    case health::Source::kPersisted:
      return "persisted";
    case health::Source::kExternal:
      return "external";
    case health::Source::kCalculated:
      return "calculated";
    case health::Source::kDisabled:
      return "disabled";
    case health::Source::kStale:
      return "stale";
    case health::Source::kOverride:
      return "override";
  }
  return "?";
}

const char* status_text(health::Status s) {
  switch (s) {
    case health::Status::kHealthy:
      return "healthy";
    case health::Status::kUnhealthy:
      return "unhealthy";
    case health::Status::kUnknown:
      return "unknown";
  }
  return "?";
}

const char* outcome_text(Selection::Outcome o) {
  switch (o) {
    case Selection::Outcome::kAnswer:
      return "answer";
    case Selection::Outcome::kNodata:
      return "nodata";
    case Selection::Outcome::kServfail:
      return "servfail";
  }
  return "?";
}

std::string force_text(ForceState f) {
  return f == ForceState::kUp ? "up" : f == ForceState::kDown ? "down" : "none";
}

}  // namespace

Result<Client> parse_client(std::string_view text, bool ecs) {
  Client c;
  if (text.empty()) {
    return c;
  }
  auto cidr = dns::Cidr::parse(text);
  if (!cidr) {
    return Error{std::string(ecs ? "--ecs " : "--client ") + cidr.error()};
  }
  c.family = cidr->family;
  std::memcpy(c.addr, cidr->addr, 16);
  c.source_prefix = cidr->prefix;
  c.from_ecs = ecs;
  return c;
}

nlohmann::json selection_json(const Selection& s, uint16_t type) {
  nlohmann::json j;
  j["outcome"] = outcome_text(s.outcome);
  nlohmann::json values = nlohmann::json::array();
  const uint8_t* p = s.data;
  for (uint16_t i = 0; i < s.count && p != nullptr; ++i) {
    size_t len = static_cast<size_t>(p[0]) << 8 | p[1];
    values.push_back(dns::rdata_to_text(type, p + 2, len));
    p += 2 + len;
  }
  j["values"] = values;
  j["ttl"] = s.ttl;
  j["scope"] = s.scope;
  return j;
}

Result<nlohmann::json> explain(const CompileInputs& in, const std::string& set_key,
                               const Client& client, uint64_t entropy) {
  auto compiled = compile(in);
  if (!compiled) {
    return Error{compiled.error()};
  }
  const Table& table = **compiled;
  uint32_t id = table.id_of(set_key);
  if (id == kNoSteer) {
    return Error{"explain: no steered record set " + set_key};
  }
  const Table::Impl& t = *table.impl();
  const RecordSet& rs = in.spec->record_sets[id];
  const CompiledSet& s = t.sets[id];

  Trace tr;
  bool varies = false;
  Selection sel = t.select(id, client, entropy, 0, &varies, &tr);

  nlohmann::json j;
  j["set"] = set_key;
  j["where"] = rs.where;
  j["policy"] = policy_name(rs.policy);
  j["on_all_down"] = all_down_name(rs.on_all_down);
  j["answer"] = selection_json(sel, rs.type);
  j["client_dependent"] = varies;
  j["has_healthy_answer"] = s.any_healthy;
  if (s.forced_down || s.forced_up) {
    j["set_override"] = s.forced_down ? "down" : "up";
  }
  nlohmann::json members = nlohmann::json::array();
  for (size_t i = 0; i < rs.members.size(); ++i) {
    const Member& m = rs.members[i];
    const CompiledMember& cm = s.members[i];
    nlohmann::json mj;
    mj["set_id"] = m.set_id;
    mj["where"] = m.where;
    mj["healthy"] = cm.healthy;
    mj["why"] = cm.health.why;
    if (!m.health_check.empty()) {
      nlohmann::json cj;
      cj["id"] = m.health_check;
      if (in.health != nullptr && cm.check >= 0) {
        const health::CheckState& st = in.health->at(cm.check);
        cj["status"] = status_text(st.status);
        cj["source"] = source_text(st.source);
        cj["since_wall_ms"] = st.since_wall_ms;
        cj["consecutive_ok"] = st.consecutive_ok;
        cj["consecutive_fail"] = st.consecutive_fail;
        if (!st.last_failure_reason.empty()) {
          cj["last_failure"] = st.last_failure_reason;
        }
        if (st.last_rtt_ms >= 0) {
          cj["last_rtt_ms"] = st.last_rtt_ms;
        }
      } else {
        cj["status"] = "unknown";
        cj["source"] = "initial";
      }
      if (in.overrides != nullptr) {
        auto it = in.overrides->checks.find(m.health_check);
        if (it != in.overrides->checks.end()) {
          cj["source"] = "override";
          cj["forced"] = force_text(it->second);
        }
      }
      mj["check"] = cj;
    }
    if (in.overrides != nullptr) {
      std::string mkey = set_key + "#" + m.set_id;
      if (auto it = in.overrides->members.find(mkey); it != in.overrides->members.end()) {
        mj["member_override"] = force_text(it->second);
      }
      if (auto it = in.overrides->drain.find(mkey); it != in.overrides->drain.end()) {
        mj["drain"] = it->second;
      }
    }
    switch (rs.policy) {
      case Policy::kFailover:
        mj["tier"] = m.tier;
        break;
      case Policy::kWeighted:
        mj["weight"] = m.weight;
        mj["effective_weight"] = cm.weight;
        break;
      case Policy::kLatency:
        mj["region"] = m.region;
        break;
      case Policy::kGeo:
        mj["locations"] = m.locations;
        break;
      case Policy::kSubnet: {
        nlohmann::json subnets = nlohmann::json::array();
        for (const auto& c : m.subnets) {
          subnets.push_back(c.to_text());
        }
        mj["subnets"] = subnets;
        mj["default"] = m.subnet_default;
        break;
      }
      default:
        break;
    }
    if (m.alias) {
      RecordSet probe;
      probe.name = m.alias->name;
      probe.type = m.alias->type;
      mj["alias"] = {{"target", probe.key()},
                     {"evaluate_target_health", m.alias->evaluate_target_health},
                     {"resolved_static", !m.rdata.empty()}};
    }
    mj["chosen"] = tr.member == static_cast<int>(i);
    members.push_back(mj);
  }
  j["members"] = members;
  if (rs.policy == Policy::kFailover) {
    j["tier_chosen"] = tr.tier;
    j["first_healthy_tier"] = s.first_healthy_tier;
    if (s.active_tier > 0) {
      j["active_tier_from_orchestration"] = s.active_tier;
    }
    if (s.ramp_tier > 0) {
      j["ramp"] = {{"tier", s.ramp_tier}, {"share", s.ramp_share}};
    }
  }
  j["all_down_fired"] = tr.all_down_fired;
  if (tr.all_down_fired) {
    j["all_down_set"] = tr.all_down_set;
  }
  j["ttl"] = {{"value", sel.ttl}, {"why", s.ttl_why}};
  if (sel.outcome == Selection::Outcome::kAnswer && tr.member >= 0 &&
      !s.members[static_cast<size_t>(tr.member)].is_leaf) {
    j["ttl"]["why"] = "the alias target's TTL";
  }
  j["scope"] = sel.scope;
  j["steps"] = tr.steps;
  return j;
}

Result<nlohmann::json> simulate(const CompileInputs& in,
                                const std::vector<std::string>& down_checks, const Client& client,
                                const std::vector<std::string>& set_keys, uint64_t entropy) {
  auto before = compile(in);
  if (!before) {
    return Error{before.error()};
  }
  Overrides ov;
  if (in.overrides != nullptr) {
    ov = *in.overrides;
  }
  for (const std::string& c : down_checks) {
    ov.checks[c] = ForceState::kDown;
  }
  CompileInputs what_if = in;
  what_if.overrides = &ov;
  auto after = compile(what_if);
  if (!after) {
    return Error{after.error()};
  }
  nlohmann::json out;
  out["forced_down"] = down_checks;
  nlohmann::json sets = nlohmann::json::array();
  for (size_t i = 0; i < in.spec->record_sets.size(); ++i) {
    const RecordSet& rs = in.spec->record_sets[i];
    std::string key = rs.key();
    if (!set_keys.empty() && std::find(set_keys.begin(), set_keys.end(), key) == set_keys.end()) {
      continue;
    }
    auto id = static_cast<uint32_t>(i);
    nlohmann::json b = selection_json((*before)->select(id, client, entropy), rs.type);
    nlohmann::json a = selection_json((*after)->select(id, client, entropy), rs.type);
    bool changed = a != b;
    sets.push_back({{"set", key}, {"before", b}, {"after", a}, {"changed", changed}});
  }
  out["sets"] = sets;
  return out;
}

}  // namespace steerdns::policy
