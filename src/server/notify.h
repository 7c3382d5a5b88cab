#pragma once
// NOTIFY out (RFC 1996): on every served serial change of a zone (server/journal.h), a NOTIFY
// over UDP to each configured target (server.notify / --notify), retried with doubling timeouts
// until a response with the same id, opcode NOTIFY and the zone in the question arrives, or the
// retries run out. A newer serial for the same zone and target replaces a pending one. A target
// with a TSIG key gets a signed NOTIFY, and only a response that verifies with that key counts
// as acknowledged (RFC 8945).
//
// Threading: notify() from any thread (it only queues); one background thread sends and waits.
// Never on the query path.
#include <sys/socket.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/result.h"
#include "dns/name.h"
#include "dns/tsig.h"
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

  struct Target {
    std::string addr;              // "ADDR:PORT" ("[v6]:port")
    std::optional<dns::Name> key;  // sign with this key of set_keys()'s ring
  };
  // Any time (a reload): the next notify() goes to these; NOTIFYs in flight to a target that
  // stays keep retrying, those to a removed one are dropped. Errors name the bad entry and
  // change nothing.
  Status set_keyed_targets(const std::vector<Target>& targets);
  Status set_targets(const std::vector<std::string>& targets);  // unsigned targets
  // The keys targets name (any thread; a reload's keys apply to the next NOTIFY).
  void set_keys(std::shared_ptr<const dns::TsigKeyring> keys);
  bool empty() const;
  void start();
  void stop();  // drops what is pending
  // Queues a NOTIFY of `zone` at `serial` to every target (any thread, never blocks).
  void notify(const dns::Name& zone, uint32_t serial);
  // steerdns_notify_total{result} (docs/metrics.md).
  void collect(obs::Families& out) const;

  // The NOTIFY message (exposed for tests): question zone/SOA, answer SOA serial omitted.
  static std::vector<uint8_t> message(const dns::Name& zone, uint16_t id);

 private:
  struct Dest {
    ListenAddr addr;
    std::optional<dns::Name> key;
    bool operator==(const Dest& o) const { return addr.text == o.addr.text && key == o.key; }
  };
  struct Job {
    dns::Name zone;
    uint32_t serial = 0;
    Dest target;  // a copy: a reload never pulls it from under the sending thread
    uint16_t id = 0;
    int attempt = 0;  // sends done
    int fd = -1;
    int64_t due_ms = 0;  // next send (or give up) at
    // The message, signed once when the target has a key (retries resend it as it is: well
    // inside the 300 s fudge), and what verifies the response.
    std::vector<uint8_t> msg;
    std::optional<dns::TsigKey> key;
    std::vector<uint8_t> request_mac;
  };
  // Builds j.msg (signed with the target's key); false (logged) if the key is gone.
  bool prepare(Job& j);
  void loop();
  void send(Job& j);
  bool answered(const Job& j);  // reads the socket: a matching response arrived

  NotifyOptions opts_;
  std::vector<Dest> targets_;  // guarded by mu_
  std::shared_ptr<const dns::TsigKeyring> keys_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::vector<Job> queued_;  // from notify(), taken by the thread
  std::atomic<uint64_t> ok_{0}, failed_{0}, sent_{0}, retried_{0};
};

}  // namespace steerdns::server
