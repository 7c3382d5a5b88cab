#pragma once
// Per-thread transport counters. Each instance is written by one thread only (relaxed
// load + store, no locked instructions) and read by anyone summing them (metrics, shutdown log).
#include <cstdint>

#include "obs/metrics.h"

namespace steerdns::server {

using Counter = obs::Counter;

struct alignas(64) TransportCounters {
  Counter queries;    // packets or messages received
  Counter responses;  // responses sent
  Counter drops;      // not answered (malformed beyond FORMERR, send failures, too large)
  Counter truncated;  // UDP responses with TC set
  Counter transfers;  // AXFR/IXFR streamed (TCP)
  Counter refused_transfers;
  Counter connections;           // accepted TCP connections
  Counter rejected_connections;  // over tcp_max_clients
  Counter timeouts;              // TCP connections closed by the idle or I/O timeout
};

// A plain copy for summing and printing.
struct CounterTotals {
  uint64_t queries = 0, responses = 0, drops = 0, truncated = 0, transfers = 0,
           refused_transfers = 0, connections = 0, rejected_connections = 0, timeouts = 0;

  void add(const TransportCounters& c) {
    queries += c.queries.get();
    responses += c.responses.get();
    drops += c.drops.get();
    truncated += c.truncated.get();
    transfers += c.transfers.get();
    refused_transfers += c.refused_transfers.get();
    connections += c.connections.get();
    rejected_connections += c.rejected_connections.get();
    timeouts += c.timeouts.get();
  }
};

}  // namespace steerdns::server
