#include "config/check.h"

#include <algorithm>
#include <functional>
#include <map>

#include "dns/rrtype.h"

namespace steerdns::config {
namespace {

std::string dur(Millis ms) {
  if (ms % 1000 != 0) {
    return std::to_string(ms) + "ms";
  }
  return std::to_string(ms / 1000) + "s";
}

struct Detect {
  Millis ms = 0;
  std::string why;
};

// Time for check `id` to report down once its endpoint fails. Calculated checks go down when
// their slowest needed child does; the worst case is the slowest child.
Detect detect(const std::map<std::string, const health::CheckSpec*>& checks, const std::string& id,
              int depth) {
  auto it = checks.find(id);
  if (it == checks.end() || depth > 16) {
    return {};
  }
  const health::CheckSpec& c = *it->second;
  if (c.kind == health::Kind::kCalculated) {
    Detect worst;
    for (const auto& child : c.calculated.children) {
      Detect d = detect(checks, child, depth + 1);
      if (d.ms >= worst.ms) {
        worst = d;
      }
    }
    worst.why = id + " <- " + worst.why;
    return worst;
  }
  if (c.kind == health::Kind::kExternal) {
    // Pushed by a monitor: down when it says so, or when its reports stop for stale_after.
    if (c.external.stale_after_ms > 0 && c.external.stale_state == health::Status::kUnhealthy) {
      return {c.external.stale_after_ms, id + ": stale after " + dur(c.external.stale_after_ms)};
    }
    return {0, id + ": external (as fast as it is pushed)"};
  }
  Millis ms = c.interval_ms * c.failure_threshold + c.timeout_ms;
  return {ms, id + ": " + dur(c.interval_ms) + " x " + std::to_string(c.failure_threshold) + " + " +
                  dur(c.timeout_ms)};
}

}  // namespace

std::vector<FailoverTime> failover_times(const LoadedConfig& cfg) {
  std::vector<FailoverTime> out;
  if (!cfg.steering_spec) {
    return out;
  }
  std::map<std::string, const health::CheckSpec*> checks;
  for (const auto& c : cfg.health_checks) {
    checks[c.id] = &c;
  }
  const auto& sets = cfg.steering_spec->record_sets;
  // Detection of a set: its slowest member check, and through aliases that evaluate target
  // health, the target set's (loops are rejected at load).
  std::function<Detect(size_t, int)> set_detect = [&](size_t i, int depth) {
    Detect worst;
    for (const auto& m : sets[i].members) {
      Detect d;
      if (!m.health_check.empty()) {
        d = detect(checks, m.health_check, 0);
        d.why = m.set_id + " " + d.why;
      } else if (m.alias && m.alias->evaluate_target_health && m.rdata.empty() && depth < 16) {
        for (size_t j = 0; j < sets.size(); ++j) {
          if (sets[j].name == m.alias->name && sets[j].type == m.alias->type) {
            d = set_detect(j, depth + 1);
            d.why = m.set_id + " -> " + sets[j].key() + " " + d.why;
          }
        }
      }
      if (!d.why.empty() && (worst.why.empty() || d.ms > worst.ms)) {
        worst = d;
      }
    }
    return worst;
  };
  for (size_t i = 0; i < sets.size(); ++i) {
    const auto& rs = sets[i];
    FailoverTime t;
    t.set = rs.key();
    t.policy = policy::policy_name(rs.policy);
    Detect d = set_detect(i, 0);
    t.has_checks = !d.why.empty();
    t.detect_ms = d.ms;
    t.detect_why = d.why;
    // Clients cached the normal answer: its TTL (failover_ttl only applies once failed over).
    t.ttl = rs.ttl;
    if (rs.on_all_down == policy::AllDown::kNodata ||
        rs.on_all_down == policy::AllDown::kServfail) {
      if (cfg.runtime) {
        if (const zone::Zone* z = cfg.runtime->find_zone(rs.name.data(), rs.name.size())) {
          t.negative_ttl = z->negative_ttl();
        }
      }
    }
    out.push_back(std::move(t));
  }
  return out;
}

std::string check_report(const std::string& path, const LoadedConfig& cfg) {
  std::string out = path + ": OK (" +
                    std::to_string(cfg.runtime ? cfg.runtime->zones().size() : 0) + " zones, " +
                    std::to_string(cfg.health_checks.size()) + " health checks, " +
                    std::to_string(cfg.steering_spec ? cfg.steering_spec->record_sets.size() : 0) +
                    " steered record sets)\n";
  for (const auto& w : cfg.warnings) {
    out += "warning: " + w + "\n";
  }
  auto times = failover_times(cfg);
  if (!times.empty()) {
    out += "Worst-case time from an endpoint failing to clients moving:\n";
  }
  for (const auto& t : times) {
    out += "  " + t.set + " (" + t.policy + "): ";
    if (!t.has_checks) {
      out += "no health checks: the answer never moves on its own\n";
      continue;
    }
    out += dur(t.worst_ms()) + " = detection " + dur(t.detect_ms) + " (" + t.detect_why +
           ") + TTL " + std::to_string(t.ttl) + "s";
    if (t.negative_ttl > 0) {
      out += " + negative TTL " + std::to_string(t.negative_ttl) + "s";
    }
    out += "\n";
  }
  return out;
}

Result<std::string> check_config_file(const std::string& path) {
  auto cfg = load_config_file(path);
  if (!cfg) {
    return Error{cfg.error()};
  }
  return check_report(path, *cfg);
}

}  // namespace steerdns::config
