#pragma once
// Delivery of the outbox: takes due rows from the store, renders each for its channel
// (generic webhook JSON, Slack incoming webhook, PagerDuty Events API v2, email over SMTP),
// sends it with libcurl and records the attempt in the row's history.
//
// At least once: a row is marked delivered only after the receiver accepted it (HTTP 2xx, SMTP
// 250), so a crash mid-send sends it again after the restart, with the same dedup key (webhook
// body and X-Steerdns-Dedup-Key header, PagerDuty dedup_key, email Message-ID). Failures retry
// with doubling backoff; a permanent refusal (HTTP 4xx but 408/429) or max_attempts make the
// row dead: kept, listed and counted, never silently dropped.
//
// Channels deliver independently: each has its own worker thread that sends its rows one at a
// time, so a receiver that hangs until its timeout delays only its own channel. Order: the
// rows of one alert on one channel are sent in the order they were written, and a row waits
// while an earlier row of the same alert and channel is pending (also during that row's
// backoff), so a resolve never overtakes its trigger. Rows of different alerts do not wait for
// each other's retries; a dead row does not hold back the rows after it.
//
// Thread safety: run_once(), hold() and stop() from one thread (the daemon's delivery loop;
// stop() also from its owner once that loop has ended); configure(), idle() and stats() from
// any.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "alert/spec.h"
#include "core/clock.h"
#include "core/result.h"
#include "store/store.h"

namespace steerdns::alert {

// What a channel sends for one outbox payload.
struct Rendered {
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  std::string body;                  // HTTP body, or the whole email (RFC 5322)
  std::string mail_from;             // smtp
  std::vector<std::string> rcpt;     // smtp
};
Result<Rendered> render(const ChannelSpec& ch, const nlohmann::json& payload);

struct Delivery {
  bool ok = false;
  bool permanent = false;  // retrying cannot help (a 4xx refusal, a bad routing key)
  bool aborted = false;    // ended by Abort::trigger(): nothing is known, nothing to record
  std::string detail;      // "HTTP 202", "connect: Connection refused", ...
};

// Lets another thread end a deliver() in flight at once (stop, a channel removed): it wakes
// the transfer's poll, which then gives up. Once triggered it stays triggered.
class Abort {
 public:
  void trigger();
  bool triggered() const { return flag_.load(); }

 private:
  friend Delivery deliver(const ChannelSpec& ch, const Rendered& r, Abort* abort);
  std::atomic<bool> flag_{false};
  std::mutex mu_;
  void* multi_ = nullptr;  // the CURLM* of the transfer in flight, under mu_
};

// Sends synchronously, bounded by the channel's timeout, or until `abort` is triggered.
Delivery deliver(const ChannelSpec& ch, const Rendered& r, Abort* abort = nullptr);

struct ChannelStats {
  int64_t delivered = 0;
  int64_t failed = 0;  // attempts that failed (retried or not)
  int64_t dead = 0;
};

class Dispatcher {
 public:
  // `clock`'s wall time stamps the attempts and their retry times.
  Dispatcher(store::Store& store, Clock& clock) : store_(store), clock_(clock) {}
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // A removed channel's worker ends (its send in flight aborted; the row stays pending and is
  // made dead by the next pass); a changed channel applies from its next row.
  void configure(AlertsSpec spec);
  // One pass: reads the pending rows and hands the ones due at `now_ms` to the workers of
  // their channels, without waiting for any send; a channel whose worker is still busy gets
  // its rows on a later pass. Rows of a channel no longer configured are made dead here.
  // Returns how many rows were handed out or made dead, or the store's error (also one a
  // worker met recording an attempt since the last pass).
  Result<size_t> run_once(int64_t now_ms);
  // This node stops delivering (fleet: another one is active): rows handed out and not yet
  // started are dropped (they stay pending in the store); sends in flight finish.
  void hold();
  // Aborts the sends in flight (their rows stay pending, as after a crash) and joins the
  // workers, so it returns promptly even while a receiver hangs. A later run_once starts new
  // workers.
  void stop();
  // Called from a worker when it has sent everything handed to it (the daemon runs the next
  // pass at once rather than on its timer). Set before the first run_once.
  void on_idle(std::function<void()> cb);
  // No row handed out waits or is being sent.
  bool idle() const;
  std::map<std::string, ChannelStats> stats() const;

 private:
  struct Worker {
    std::string channel;
    std::deque<store::OutboxRow> queue;  // oldest first
    bool sending = false;
    bool retired = false;  // removed or stopping: ends after the send in flight
    bool ended = false;    // its thread returned (join it)
    Abort abort;
    std::condition_variable cv;
    std::thread thread;
    bool busy() const { return sending || !queue.empty(); }
  };
  void work(Worker* w);
  // Under mu_: ends the worker after its send in flight (aborted).
  void retire(Worker& w);
  // Joins the retired workers that ended.
  void reap();
  // Under mu_.
  void count(const std::string& channel, bool ok, bool dead);

  store::Store& store_;
  Clock& clock_;
  mutable std::mutex mu_;  // everything below, and every Worker's fields
  AlertsSpec spec_;
  std::map<std::string, ChannelStats> stats_;
  std::map<std::string, std::unique_ptr<Worker>> workers_;  // by channel
  std::vector<std::unique_ptr<Worker>> retired_;
  std::function<void()> on_idle_;
  std::string worker_error_;  // a failed outbox_attempt, reported by the next run_once
};

}  // namespace steerdns::alert
