#pragma once
// Explain and what-if for steered record sets (control plane; allocates freely). explain()
// compiles a table from the inputs and reports how one record set answers one client: the set
// and policy, every member's health and where it came from, weights/tiers/regions, whether the
// all-down rule fired, the TTL and why, the ECS scope. simulate() compares every set's answer
// before and after forcing some checks down, without changing anything.
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "policy/table.h"

namespace steerdns::policy {

// "192.0.2.1" (a source address) or, with ecs, "192.0.2.0/24" (an EDNS Client Subnet).
// Empty text = unknown client.
Result<Client> parse_client(std::string_view text, bool ecs);

// The answer as JSON: {"outcome": "answer"|"nodata"|"servfail", "values": [...], "ttl", "scope"}.
nlohmann::json selection_json(const Selection& s, uint16_t type);

Result<nlohmann::json> explain(const CompileInputs& in, const std::string& set_key,
                               const Client& client, uint64_t entropy = 0);

// {"forced_down": [...], "sets": [{"set", "before", "after", "changed"}...]} for every set (only
// `set_keys` when non-empty).
Result<nlohmann::json> simulate(const CompileInputs& in,
                                const std::vector<std::string>& down_checks, const Client& client,
                                const std::vector<std::string>& set_keys = {},
                                uint64_t entropy = 0);

}  // namespace steerdns::policy
