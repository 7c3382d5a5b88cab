#pragma once
// The query pipeline: one packet in, one response (or a drop) out. Pure function of the
// RuntimeConfig snapshot and the packet; no locks, no allocation, no I/O. Used by the UDP and
// TCP transports, the fuzz target and the micro-benchmarks.
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>

#include "config/runtime.h"
#include "dns/tsig.h"

namespace steerdns::server {

enum class Transport : uint8_t { kUdp, kTcp };

struct ClientInfo {
  const sockaddr* addr = nullptr;  // may be null (tests, fuzzing)
  Transport transport = Transport::kUdp;
};

// What happened, for metrics and logs.
struct AnswerInfo {
  uint16_t rcode = 0;
  uint16_t qtype = 0;
  bool truncated = false;
  bool dropped = false;
  bool transfer = false;  // AXFR/IXFR over TCP: the transport streams it (see xfr.h)
  const zone::Zone* zone = nullptr;
  // The steering branch that produced the answer ("failover tier 2 secondary"), null for zone
  // data: text in the snapshot's steering table, valid while the snapshot is held.
  const char* branch = nullptr;
  // A TSIG-signed query (dns/tsig.h): verified (kOk: the answer is signed, and a transfer is
  // signed by the TCP transport) or answered with the TSIG error (logged by the transports).
  bool tsig = false;
  dns::TsigStatus tsig_status = dns::TsigStatus::kOk;
};

inline constexpr size_t kMaxTcpMessage = 65535;

// Writes the response to `out` (capacity `cap`, at least 512; 65535 for TCP) and returns its
// length, or 0 if the packet is to be dropped (or, with info->transfer, handed to the
// zone-transfer code). A query signed with TSIG (RFC 8945) is verified against
// cfg.tsig_keys and answered signed, or with NOTAUTH and the TSIG error (signed for BADTIME
// and BADTRUNC, unsigned for BADKEY and BADSIG); that path is apart from the common one.
size_t answer_query(const config::RuntimeConfig& cfg, const uint8_t* q, size_t qlen, uint8_t* out,
                    size_t cap, const ClientInfo& client, AnswerInfo* info = nullptr);

}  // namespace steerdns::server
