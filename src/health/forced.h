#pragma once
// Operator overrides applied to a HealthView: forced checks take the forced status, and every
// calculated check that depends on one (directly or through other calculated checks) is
// recomputed by the engine's N-of-M rule, so forcing `primary-app` down also takes down a
// `primary-region` that needs it. Steering compiles its table from the result, and simulate /
// explain use the same function, so what-if answers match what a real override does.
//
// Pure: no clock, no I/O; the input view is not changed.
#include <map>
#include <string>
#include <vector>

#include "health/spec.h"
#include "health/view.h"

namespace steerdns::health {

struct Forced {
  Status status = Status::kUnhealthy;  // kHealthy = forced up, kUnhealthy = forced down
  std::string why;                     // "forced down by alice: maintenance", shown as reason
  Millis since_wall_ms = 0;            // when the override was set; 0 = keep the view's
};

// The engine's rule for a calculated check (src/health/engine.cc, Engine::calculated_status),
// given its children's statuses: disabled = healthy; healthy if at least N children are
// healthy, unknown while the unknown children could still make N, else unhealthy; then
// inverted. Engine and with_forced() must agree; forced_test.cc checks both on the same input.
Status calculated_rule(const CheckSpec& spec, int healthy_children, int unknown_children);

// A copy of `view` with `forced` applied (check id -> forced status; ids the view does not
// have are ignored) and the calculated checks above them recomputed, children before parents.
// Checks that do not depend on a forced check keep their state as it is. A forced check gets
// Source::kOverride; a calculated check whose status the override changed gets kOverride too
// (explain shows that an operator, not a probe, decided it), with the N-of-M count as reason.
HealthView with_forced(const HealthView& view, const std::vector<CheckSpec>& specs,
                       const std::map<std::string, Forced>& forced);

}  // namespace steerdns::health
