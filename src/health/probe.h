#pragma once
// Probes report raw pass/fail with a reason and timings; they know nothing about thresholds.
// All probes run on the health engine's single io_context thread (no thread per check):
// start() returns at once and `done` is called later on that same thread, exactly once,
// after at most spec.timeout_ms (+ a small grace).
#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <string>

#include "core/clock.h"
#include "health/spec.h"

namespace steerdns::health {

struct ProbeTimings {
  double dns_ms = -1;
  double connect_ms = -1;
  double tls_ms = -1;
  double first_byte_ms = -1;
  double total_ms = -1;
};

struct ProbeResult {
  bool ok = false;
  std::string reason;  // why it failed ("connection refused", "status 503 not in 200-399",
                       // "certificate expired", ...) or a short success note
  ProbeTimings timings;
  int http_status = 0;
  int cert_days_left = -1;
};

class Prober {
 public:
  virtual ~Prober() = default;
  // Starts one probe of `spec` (kinds http, https, tcp, dns, exec).
  virtual void start(const CheckSpec& spec, std::function<void(ProbeResult)> done) = 0;
  // Number of probes in flight (for the global concurrency cap and metrics).
  virtual size_t in_flight() const = 0;
};

// The real prober: libcurl multi (HTTP/HTTPS, OpenSSL for certificate facts) driven by the
// io_context's socket events, Asio sockets for TCP and DNS, fork/exec with a pidfd for exec.
// HTTP(S) probes carry `X-Steerdns-Checker: <checker_id>` when it is not empty, so that a
// backend's logs (and tests) can tell which vantage point asked.
std::unique_ptr<Prober> make_prober(boost::asio::io_context& io,
                                    const std::string& checker_id = "");

}  // namespace steerdns::health
