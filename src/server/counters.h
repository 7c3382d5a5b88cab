#pragma once
// Per-thread transport counters. Each instance is written by one thread only (relaxed
// load + store, no locked instructions) and read by anyone summing them (metrics, shutdown log).
#include <array>
#include <cstdint>

#include "dns/tsig.h"
#include "obs/metrics.h"

namespace steerdns::server {

using Counter = obs::Counter;

// TsigStatus kFormErr, kBadKey, kBadSig, kBadTime, kBadTrunc: the ways a request fails.
inline constexpr size_t kTsigFailureKinds = 5;
static_assert(static_cast<size_t>(dns::TsigStatus::kBadTrunc) -
                  static_cast<size_t>(dns::TsigStatus::kFormErr) + 1 ==
              kTsigFailureKinds);

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
  // Signed requests that failed verification, by TsigStatus (kFormErr..kBadTrunc): a secondary
  // with a stale secret or a skewed clock shows here before its zones go stale.
  std::array<Counter, kTsigFailureKinds> tsig_failures;

  void count_tsig_failure(dns::TsigStatus s) {
    const auto i = static_cast<size_t>(s) - static_cast<size_t>(dns::TsigStatus::kFormErr);
    if (i < tsig_failures.size()) {
      tsig_failures[i].add();
    }
  }
};

// A plain copy for summing and printing.
struct CounterTotals {
  uint64_t queries = 0, responses = 0, drops = 0, truncated = 0, transfers = 0,
           refused_transfers = 0, connections = 0, rejected_connections = 0, timeouts = 0;
  std::array<uint64_t, kTsigFailureKinds> tsig_failures{};

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
    for (size_t i = 0; i < tsig_failures.size(); ++i) {
      tsig_failures[i] += c.tsig_failures[i].get();
    }
  }
};

}  // namespace steerdns::server
