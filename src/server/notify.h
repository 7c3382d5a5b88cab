#pragma once
// NOTIFY out (RFC 1996): on every served serial change of a zone (server/journal.h), a NOTIFY
// over UDP to each configured target (server.notify / --notify), retried with doubling timeouts
// until a response with the same id, opcode NOTIFY and the zone in the question arrives, or the
// retries run out. A newer serial for the same zone and target replaces a pending one.
//
// Threading: notify() from any thread (it only queues); one background thread sends and waits.
// Never on the query path.
#include <sys/socket.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/result.h"
#include "dns/name.h"
#include "obs/metrics.h"
#include "server/address.h"

namespace steerdns::server {

struct NotifyOptions {
  int attempts = 5;             // sends per zone and target
  int first_timeout_ms = 1000;  // then 2x, 4x, ...
};

class Notifier {
 public:
  explicit Notifier(NotifyOptions opts = {}) : opts_(opts) {}
  ~Notifier();
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // Before start(): "ADDR:PORT" targets ("[v6]:port"). Errors name the bad entry.
  Status set_targets(const std::vector<std::string>& targets);
  bool empty() const { return targets_.empty(); }
  void start();
  void stop();  // drops what is pending
  // Queues a NOTIFY of `zone` at `serial` to every target (any thread, never blocks).
  void notify(const dns::Name& zone, uint32_t serial);
  // steerdns_notify_total{result} (docs/metrics.md).
  void collect(obs::Families& out) const;

  // The NOTIFY message (exposed for tests): question zone/SOA, answer SOA serial omitted.
  static std::vector<uint8_t> message(const dns::Name& zone, uint16_t id);

 private:
  struct Job {
    dns::Name zone;
    uint32_t serial = 0;
    size_t target = 0;
    uint16_t id = 0;
    int attempt = 0;  // sends done
    int fd = -1;
    int64_t due_ms = 0;  // next send (or give up) at
  };
  void loop();
  void send(Job& j);
  bool answered(const Job& j);  // reads the socket: a matching response arrived

  NotifyOptions opts_;
  std::vector<ListenAddr> targets_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::vector<Job> queued_;  // from notify(), taken by the thread
  std::atomic<uint64_t> ok_{0}, failed_{0}, sent_{0}, retried_{0};
};

}  // namespace steerdns::server
