#pragma once
// Internal to health/: the per-kind probe implementations behind make_prober (probe.cc).
// Everything here runs on the one io_context thread the Prober was made with; `done` is called
// exactly once, later, on that thread (never from inside start).
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "health/probe.h"
#include "health/spec.h"

namespace steerdns::health::detail {

using DoneFn = std::function<void(ProbeResult)>;

// Body bytes an HTTP(S) probe keeps and matches against (Route 53's limit); the whole body is
// read up to HttpSpec::max_body.
inline constexpr size_t kHttpBodyLimit = 5120;
// Reply bytes a TCP probe reads while looking for its `expect` pattern.
inline constexpr size_t kTcpReplyLimit = 4096;

// libcurl multi handle driven by the io_context: curl's sockets are waited on with
// posix::stream_descriptor::async_wait, its timer is one steady_timer.
class HttpProber {
 public:
  HttpProber(boost::asio::io_context& io, const std::string& checker_id);
  ~HttpProber();
  HttpProber(const HttpProber&) = delete;
  HttpProber& operator=(const HttpProber&) = delete;

  void start(const CheckSpec& spec, DoneFn done);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

void start_tcp_probe(boost::asio::io_context& io, const CheckSpec& spec, DoneFn done);
void start_dns_probe(boost::asio::io_context& io, const CheckSpec& spec, DoneFn done);
void start_exec_probe(boost::asio::io_context& io, const CheckSpec& spec, DoneFn done);

// Shared helpers.
inline double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}
inline std::string timeout_reason(Millis timeout_ms) {
  return "timeout after " + std::to_string(timeout_ms) + " ms";
}
// Printable, single-line, bounded excerpt of bytes from the network or a child process.
std::string printable_excerpt(std::string_view s, size_t max = 120);
// Calls `done` with a failure from a fresh io_context handler (so never from inside start).
void post_failure(boost::asio::io_context& io, DoneFn done, std::string reason);

// What the Asio probes (tcp, dns, exec) share: the start time, one deadline timer, the result
// being built, and `done` called exactly once. A probe derives from it and from
// enable_shared_from_this, and closes its own sockets before deliver().
class ProbeBase {
 protected:
  ProbeBase(boost::asio::io_context& io, const CheckSpec& spec, DoneFn done);
  // Fails before anything started (bad spec): `done` runs later from the io_context.
  void fail_early(std::string reason);
  // Arms the deadline: `expired` runs after the timeout unless the probe finished first.
  // `keep` (the probe's own shared_ptr) keeps it alive until the timer fires or is cancelled.
  void arm_deadline(std::shared_ptr<void> keep, std::function<void()> expired);
  // Cancels the deadline, stamps total_ms, and hands result_ with `ok` and `reason` to done.
  // Callers check finished_ first; it is set here.
  void deliver(bool ok, std::string reason);

  boost::asio::io_context& io_;
  boost::asio::steady_timer timer_;
  Millis timeout_ms_;
  std::chrono::steady_clock::time_point t0_;
  ProbeResult result_;
  bool finished_ = false;

 private:
  DoneFn done_;
};

}  // namespace steerdns::health::detail
