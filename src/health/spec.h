#pragma once
// Health-check specifications: what to probe, how often, and how raw results become a status.
// Specs are immutable values compiled from the config (file, JSON API, Route 53 API alike);
// validate() rejects bad specs with the field and the reason, before anything runs.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/result.h"

namespace steerdns::health {

enum class Kind : uint8_t { kHttp, kHttps, kTcp, kDns, kCalculated, kExec, kExternal };
enum class Status : uint8_t { kUnknown, kHealthy, kUnhealthy };
// How per-checker (vantage point) statuses combine into one.
enum class Aggregation : uint8_t {
  kRoute53,   // healthy if more than 18 % of reporting checkers say healthy (Route 53's rule)
  kMajority,  // healthy if more than half say healthy
  kAll,       // healthy only if every reporting checker says healthy
};

const char* kind_name(Kind k);
const char* status_name(Status s);

inline constexpr size_t kDefaultMaxBody = 1 << 20;      // 1 MiB
inline constexpr size_t kMaxMaxBody = size_t{1} << 30;  // 1 GiB: validation's upper bound

struct StatusRange {
  int lo = 200;
  int hi = 399;
};

struct HttpSpec {
  std::string method = "GET";
  std::string host;   // connect address (IP literal or name); with `ip` unset, resolved
  std::string ip;     // optional: connect to this IP, send `host` as Host header/SNI
  uint16_t port = 0;  // 0 = 80/443 by scheme
  std::string path = "/";
  std::string host_header;  // Host header and TLS SNI name; default: host
  std::vector<std::pair<std::string, std::string>> headers;
  std::string user_agent = "steerdns-health/1";
  std::vector<StatusRange> expect_status = {{200, 399}};
  std::string search;  // must occur in the first 5,120 bytes of the body
  std::string regex;   // ECMAScript regex that must match in the first 5,120 bytes
  bool verify_tls = true;
  std::string ca_file;  // extra trust anchor (tests, private CAs)
  // The whole body must arrive within this many bytes (and within the timeout); an endless
  // body is cut off as soon as it passes the limit and the probe fails.
  size_t max_body = kDefaultMaxBody;
};

struct TcpSpec {
  std::string host;
  uint16_t port = 0;
  std::string send;    // optional payload after connect
  std::string expect;  // optional regex the reply must match
};

struct DnsSpec {
  std::string server;  // "127.0.0.1:53"
  std::string qname;
  std::string qtype = "A";
  std::string expect_rcode = "NOERROR";
  std::string expect_answer;  // optional: an rdata text that must appear in the answer
  bool tcp = false;
};

struct ExecSpec {
  std::vector<std::string> argv;
  size_t max_output = 4096;
};

struct CalculatedSpec {
  std::vector<std::string> children;
  int healthy_threshold = 1;  // N of M; 0 = always healthy; > M = never healthy
};

struct ExternalSpec {
  Millis stale_after_ms = 0;  // 0 = never stale
  Status stale_state = Status::kUnhealthy;
  std::string file;  // optional: a file whose first word (healthy/unhealthy) sets the status
};

struct CheckSpec {
  std::string id;
  Kind kind = Kind::kHttp;
  HttpSpec http;
  TcpSpec tcp;
  DnsSpec dns;
  ExecSpec exec;
  CalculatedSpec calculated;
  ExternalSpec external;

  Millis interval_ms = 10'000;
  Millis timeout_ms = 2'000;
  Millis recheck_ms = 200;    // fast confirmation interval while a state change is pending
  int failure_threshold = 3;  // consecutive failures to go down
  int success_threshold = 2;  // consecutive successes to go up
  // Probes per recheck while a state change is pending (1 or 2). With 2, each recheck sends
  // a pair at once and the pair counts as one observation: the result that agrees with the
  // current status if either does. A dead backend fails both (same speed); a random blip must
  // hit both probes of every recheck (p^(2(threshold-1)+1) instead of p^threshold).
  int confirm_probes = 2;
  bool inverted = false;
  bool disabled = false;  // reported healthy, not probed (as Route 53 does)
  Status initial = Status::kUnknown;
  Millis initial_wait_ms = 5'000;     // with `unknown`, how long to wait for the first round
  Millis max_state_age_ms = 600'000;  // persisted state older than this is ignored at startup
  Aggregation aggregation = Aggregation::kRoute53;
  // Fleet: false when this node's site does not run the check; then only the peers' views
  // (Engine::set_peer_view) decide its status. Not part of the config schema: the daemon sets
  // it from cluster.sites.
  bool probed_here = true;
  std::string where;  // "file:line" of the spec, for error messages

  // Key of what is probed: specs with equal keys share one probe (deduplication).
  std::string probe_key() const;
};

// Minimum interval accepted (100 ms where configured; 1 s is the usual floor).
inline constexpr Millis kMinIntervalMs = 100;

// Checks one spec on its own (fields, ranges, URL parts).
// (steerdns::Status, the Result type: the enum health::Status would shadow it here.)
steerdns::Status validate(const CheckSpec& spec);
// Checks a whole set: unique ids, known children, no cycles among calculated checks.
steerdns::Status validate_all(const std::vector<CheckSpec>& specs);

}  // namespace steerdns::health
