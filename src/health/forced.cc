#include "health/forced.h"

#include <algorithm>
#include <functional>
#include <unordered_map>

namespace steerdns::health {

Status calculated_rule(const CheckSpec& spec, int healthy_children, int unknown_children) {
  if (spec.disabled) {
    return Status::kHealthy;  // reported healthy, like every disabled check
  }
  const int n = spec.calculated.healthy_threshold;
  Status s;
  if (healthy_children >= n) {
    s = Status::kHealthy;
  } else if (healthy_children + unknown_children >= n) {
    s = Status::kUnknown;  // undecided until the unknown children resolve
  } else {
    s = Status::kUnhealthy;
  }
  if (spec.inverted && s != Status::kUnknown) {
    s = s == Status::kHealthy ? Status::kUnhealthy : Status::kHealthy;
  }
  return s;
}

HealthView with_forced(const HealthView& view, const std::vector<CheckSpec>& specs,
                       const std::map<std::string, Forced>& forced) {
  HealthView out = view;
  if (forced.empty()) {
    return out;
  }
  std::vector<bool> changed(out.size(), false);
  for (const auto& [id, f] : forced) {
    int i = out.index_of(id);
    if (i < 0 || f.status == Status::kUnknown) {
      continue;
    }
    CheckState& st = out.mutable_at(i);
    if (st.status != f.status) {
      changed[static_cast<size_t>(i)] = true;
      if (f.since_wall_ms != 0) {
        st.since_wall_ms = f.since_wall_ms;
      }
    }
    st.status = f.status;
    st.source = Source::kOverride;
    if (f.status == Status::kUnhealthy) {
      st.last_failure_reason = f.why.empty() ? "forced down by an override" : f.why;
    }
  }

  std::unordered_map<std::string, const CheckSpec*> calc;
  for (const auto& s : specs) {
    if (s.kind == Kind::kCalculated) {
      calc.emplace(s.id, &s);
    }
  }
  // Depth-first over the calculated checks: a check is recomputed after its children (post
  // order), and only if a forced check is below it. 0 = unseen, 1 = on the stack, 2 = done.
  std::unordered_map<std::string, int> mark;
  std::unordered_map<std::string, bool> depends;
  std::function<bool(const std::string&)> visit = [&](const std::string& id) -> bool {
    auto [it, fresh] = mark.emplace(id, 1);
    if (!fresh) {
      // Done: the memo. On the stack: a cycle (validate_all rejects them); break it here.
      return it->second == 2 && depends[id];
    }
    bool dep = forced.count(id) != 0;
    auto c = calc.find(id);
    if (c != calc.end()) {
      for (const auto& child : c->second->calculated.children) {
        dep = visit(child) || dep;
      }
    }
    mark[id] = 2;
    depends[id] = dep;
    int i = out.index_of(id);
    if (!dep || c == calc.end() || forced.count(id) != 0 || i < 0) {
      return dep;
    }
    const CheckSpec& spec = *c->second;
    int healthy = 0;
    int unknown = 0;
    std::string moved;
    Millis since = 0;
    for (const auto& child : spec.calculated.children) {
      int ci = out.index_of(child);
      Status s = ci < 0 ? Status::kUnknown : out.at(ci).status;
      healthy += s == Status::kHealthy ? 1 : 0;
      unknown += s == Status::kUnknown ? 1 : 0;
      if (ci >= 0 && changed[static_cast<size_t>(ci)]) {
        moved += "; child '" + child + "' is " + status_name(s) + " (override)";
        since = std::max(since, out.at(ci).since_wall_ms);
      }
    }
    Status s = calculated_rule(spec, healthy, unknown);
    CheckState& st = out.mutable_at(i);
    if (s == st.status) {
      return dep;
    }
    changed[static_cast<size_t>(i)] = true;
    st.status = s;
    st.source = Source::kOverride;
    if (since != 0) {
      st.since_wall_ms = since;
    }
    if (s == Status::kUnhealthy) {
      st.last_failure_reason =
          std::to_string(healthy) + " of " + std::to_string(spec.calculated.children.size()) +
          " children healthy, need " + std::to_string(spec.calculated.healthy_threshold) +
          (spec.inverted ? " (inverted)" : "") + moved;
    }
    return dep;
  };
  for (const auto& s : specs) {
    visit(s.id);
  }
  return out;
}

}  // namespace steerdns::health
