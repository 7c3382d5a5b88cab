#pragma once
// `steerdns drill`: a disaster-recovery rehearsal that measures what clients would see.
//
// Local drill (the default): the flagship scenario end to end on loopback, by itself. Two HTTP
// backends run in-process (primary, secondary), a `steerdns serve` child (this binary) serves a
// failover A record over them with 1 s checks; the drill kills the primary, measures detection,
// the moment the DNS answer switches and the moment a TTL-honouring client moves, restores the
// primary and measures failback for each failback mode (one daemon per mode).
//
// Live drill (--live): forces one check down on a running daemon with an override that expires
// by itself, measures when the answer for --name switches, and clears the override.
//
// Both print a timeline and PASS/FAIL against --rto, and record the result as a "drill" event
// in the daemon's event log. Runs on the calling thread; the backends have their own threads.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/clock.h"

namespace CLI {
class App;
}

namespace steerdns::daemon {

struct DrillOptions {
  Millis rto_ms = 60'000;  // target for the TTL-honouring client move, from the failure
  Millis interval_ms = 1000;
  int failure_threshold = 3;
  int success_threshold = 2;
  uint32_t ttl = 60;
  uint32_t failover_ttl = 30;
  std::vector<std::string> failback = {"auto", "manual", "gradual"};
  Millis stabilize_ms = 3000;      // auto/gradual: primary healthy this long before failing back
  Millis ramp_ms = 5000;           // gradual: the ramp's duration
  Millis approve_after_ms = 3000;  // manual: approve this long after the primary is healthy
  Millis timeout_ms = 60'000;      // give up on any one step after this long
  bool json = false;
  bool keep = false;      // keep the temporary directory (config, daemon logs)
  bool wait_ttl = false;  // wait for the TTL-honouring move in real time and check it
  // Also record the result in this (long-running) daemon's event log. Live: the target daemon.
  std::string control;
  std::string event_log;  // also append the result to this event log file

  bool live = false;
  std::string check;        // live: the check forced down
  Millis for_ms = 120'000;  // live: the override's lifetime (bounded: max 30 m)
  std::string name;         // live: the name whose answer is watched
  std::string type = "A";
  std::string server = "127.0.0.1:5300";  // live: where --name is asked
};

// Checks the options (ranges, modes, live requirements); the message names the flag.
std::string check_drill_options(const DrillOptions& o);

// Runs the drill; returns the exit code: 0 PASS, 1 FAIL (missed RTO or a failed step), 2 bad
// options.
int run_drill(const DrillOptions& o);

// Adds the `drill` subcommand (its flags and --help) to `app`. After parsing, if the
// subcommand was given, call the returned function: it converts the flags and runs the drill.
struct DrillCommand {
  CLI::App* cmd = nullptr;
  std::function<int()> run;
};
DrillCommand add_drill_command(CLI::App& app);

}  // namespace steerdns::daemon
