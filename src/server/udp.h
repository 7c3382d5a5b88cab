#pragma once
// UDP transport: one worker thread per core, each with its own SO_REUSEPORT socket per listen
// address (the kernel spreads flows across them), batched recvmmsg/sendmmsg, per-thread
// buffers and counters. The query path per packet is answer_query() on the RuntimeConfig the
// worker's Snapshot reader returned for the current batch: no lock, no allocation.
#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "config/runtime.h"
#include "obs/query_log.h"
#include "core/result.h"
#include "core/snapshot.h"
#include "server/address.h"
#include "server/counters.h"
#include "server/query_metrics.h"

namespace steerdns::server {

// Opens a UDP socket bound to `addr` with SO_REUSEPORT, large buffers, no PMTU discovery
// (responses go out unfragmented-by-DF; RFC 8085 / DNS Flag Day sizes keep them small) and,
// for wildcard addresses, packet-info so replies leave from the address the query came to.
Result<int> open_udp_socket(const ListenAddr& addr);

class UdpWorker {
 public:
  // Takes ownership of `fds` (one socket per listen address).
  UdpWorker(const Snapshot<config::RuntimeConfig>& config, std::vector<int> fds,
            std::vector<bool> pktinfo, QueryMetrics& metrics);
  ~UdpWorker();
  UdpWorker(const UdpWorker&) = delete;
  UdpWorker& operator=(const UdpWorker&) = delete;

  // Serves until stop(); call on the worker's own thread.
  void run();
  // Any thread: makes run() return soon.
  void stop();
  const TransportCounters& counters() const { return counters_; }
  // Before run(): sampled queries go to this ring (null = no query log).
  void set_query_log(obs::QueryLogRing* ring) { qlog_ = ring; }

 private:
  struct Buffers;
  // recv_flags: MSG_DONTWAIT (epoll mode) or MSG_WAITFORONE (blocking single-socket mode).
  void serve_socket(int fd, bool pktinfo, int recv_flags);

  Snapshot<config::RuntimeConfig>::Reader reader_;  // used on the worker thread only
  std::vector<int> fds_;
  std::vector<bool> pktinfo_;
  int epoll_fd_ = -1;
  int stop_fd_ = -1;
  std::atomic<bool> stop_{false};
  std::unique_ptr<Buffers> bufs_;
  TransportCounters counters_;
  QueryMetrics& metrics_;
  obs::QueryLogRing* qlog_ = nullptr;
};

// N workers on their own threads.
class UdpServer {
 public:
  UdpServer(const Snapshot<config::RuntimeConfig>& config, int threads);
  ~UdpServer();
  // Binds `threads` sockets per address; call before start().
  Status listen(const ListenAddr& addr);
  // Before start(): log queries to `log` (one ring per worker).
  void set_query_log(obs::QueryLog* log) { qlog_ = log; }
  void start();
  void stop();
  CounterTotals totals() const;
  // One per worker, made with the server (a scrape may come before start()).
  const std::vector<std::unique_ptr<QueryMetrics>>& metrics() const { return metrics_; }

 private:
  const Snapshot<config::RuntimeConfig>& config_;
  int threads_;
  std::vector<std::vector<int>> fds_;  // per worker
  std::vector<std::vector<bool>> pktinfo_;
  std::vector<std::unique_ptr<QueryMetrics>> metrics_;
  std::vector<std::unique_ptr<UdpWorker>> workers_;
  std::vector<std::thread> running_;
  obs::QueryLog* qlog_ = nullptr;
};

}  // namespace steerdns::server
