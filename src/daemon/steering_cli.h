#pragma once
// The steering subcommands of `steerdns`, talking to a running daemon over its control socket
// (`steer {JSON}` requests, daemon/steering_service.h):
//   status                      per steered set: phase, active/healthy tier, TTL, since, flags
//   override set|clear|list     operator overrides with reason, author and expiry
//   failover SET --to TIER      force the set onto a later tier / member (member overrides)
//   failback SET | approve SET  undo a failover / approve a manual failback
//   events [--last N]           the event log (transitions, overrides, actions)
//   explain NAME TYPE           the answer and the decision path, on the live state
//   simulate --down CHECK...    how answers would change; changes nothing
// Each takes --json, and --control PATH for the control socket; without it they go to the
// native API (cli/api_client.h: --api URL, a token from the environment or a config file).
#include <functional>

namespace CLI {
class App;
}

namespace steerdns::daemon {

// Adds the subcommands to `app`. The returned function runs the one that was parsed and
// returns its exit code, or -1 if none of them was.
std::function<int()> add_steering_commands(CLI::App& app);

}  // namespace steerdns::daemon
