#pragma once
// TCP transport per RFC 7766 on one Boost.Asio io_context thread: 2-byte length framing,
// pipelined queries (answered in order as each is processed), an idle timeout between
// messages, an I/O timeout per message once its first byte arrived (slowloris), a client limit
// (beyond it: accept and close at once), and AXFR/IXFR streamed to clients in the transfer ACL.
#include <memory>

#include "config/runtime.h"
#include "obs/query_log.h"
#include "core/result.h"
#include "core/snapshot.h"
#include "server/address.h"
#include "server/counters.h"
#include "server/query_metrics.h"

namespace steerdns::server {

class ZoneTransfers;  // server/journal.h

struct TcpOptions {
  int max_clients = 1024;
  int idle_timeout_ms = 10000;
  int io_timeout_ms = 500;
};

class TcpServer {
 public:
  TcpServer(const Snapshot<config::RuntimeConfig>& config, TcpOptions opts);
  ~TcpServer();
  TcpServer(const TcpServer&) = delete;
  TcpServer& operator=(const TcpServer&) = delete;

  // Binds and listens; call before start().
  Status listen(const ListenAddr& addr);
  // Before start(): answer IXFR from `journal` (else IXFR gets a full transfer). It outlives us.
  void set_journal(const ZoneTransfers* journal);
  // Before start(): log queries to `log` (one ring for the io thread).
  void set_query_log(obs::QueryLog* log);
  // Runs the io_context on its own thread.
  void start();
  // Any thread: closes everything and joins the thread.
  void stop();
  CounterTotals totals() const;
  const QueryMetrics& metrics() const;

  struct Impl;  // defined in tcp.cc

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace steerdns::server
