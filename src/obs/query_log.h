#pragma once
// The query log (docs/query-log.md): every Nth query per query thread (1 = all of them) as JSON
// lines or dnstap (Frame Streams to a file or a unix socket).
//
// The query thread only copies: a sampled query goes into a fixed-size slot of its own
// single-producer ring (query and response bytes, capped, the client, the rcode, the steering
// branch), with no lock, no allocation and no system call. When the ring is full the record is
// dropped and counted, so a slow disk or a stuck collector never slows answers. One writer
// thread at SCHED_IDLE drains every ring and formats: under full load it gets only the CPU the
// query threads leave, and drops grow instead of latency.
//
// No server dependencies: the transports fill QueryRecords (server/query_log.h does it).
#include <sys/socket.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/result.h"
#include "obs/metrics.h"

namespace steerdns::obs {

enum class QueryLogFormat : uint8_t { kJson, kDnstap };

struct QueryLogOptions {
  QueryLogFormat format = QueryLogFormat::kJson;
  // A file (appended to; reopened by reopen(), for logrotate), or "unix:PATH": a dnstap
  // collector's Frame Streams socket (dnstap only; reconnected when it goes away).
  std::string path;
  uint32_t sample = 1;        // every Nth query per thread; 1 = all
  uint32_t ring_slots = 2048;  // per query thread (~2.9 MB), rounded up to a power of two
  std::string identity;       // dnstap `identity` (the host name by default)
  std::string version;        // dnstap `version`
};

// Parses "json" / "dnstap". Errors say what is accepted.
Result<QueryLogFormat> parse_query_log_format(const std::string& text);
// Checks a format/path/sample combination (unix: only with dnstap, sample >= 1, path set).
Status check_query_log_options(const QueryLogOptions& o);

// One logged query as the query thread copied it: fixed size, nothing that points into data
// that may be gone (a reload frees the old zones and steering table) when the writer reads it.
struct QueryRecord {
  static constexpr size_t kMaxMessage = 512;  // query/response bytes kept; true length beside
  static constexpr size_t kMaxBranch = 95;
  int64_t time_sec = 0;  // wall clock when the answer was made
  uint32_t time_nsec = 0;
  uint8_t family = 0;  // AF_INET / AF_INET6 / 0 (unknown)
  uint8_t transport = 0;  // 0 = UDP, 1 = TCP
  uint16_t port = 0;
  uint8_t addr[16] = {};
  uint16_t rcode = 0;
  bool truncated = false;  // sent with TC=1
  uint8_t branch_len = 0;
  uint8_t zone_len = 0;  // wire form; 0 = no zone
  uint16_t query_len = 0;  // true lengths (the kept bytes are min(len, kMaxMessage))
  uint16_t response_len = 0;
  char branch[kMaxBranch + 1] = {};
  uint8_t zone[255] = {};
  uint8_t query[kMaxMessage] = {};
  uint8_t response[kMaxMessage] = {};

  void set_client(const sockaddr* sa);
  void set_branch(const char* text) {
    size_t n = text ? strnlen(text, kMaxBranch) : 0;
    std::memcpy(branch, text ? text : "", n);
    branch_len = static_cast<uint8_t>(n);
  }
  void set_zone(const uint8_t* wire, size_t len) {
    zone_len = static_cast<uint8_t>(len <= sizeof zone ? len : 0);
    std::memcpy(zone, wire, zone_len);
  }
  void set_messages(const uint8_t* q, size_t qlen, const uint8_t* r, size_t rlen) {
    query_len = static_cast<uint16_t>(qlen);
    response_len = static_cast<uint16_t>(rlen);
    std::memcpy(query, q, qlen < kMaxMessage ? qlen : kMaxMessage);
    if (r != nullptr) {
      std::memcpy(response, r, rlen < kMaxMessage ? rlen : kMaxMessage);
    }
  }
  size_t query_kept() const { return query_len < kMaxMessage ? query_len : kMaxMessage; }
  size_t response_kept() const { return response_len < kMaxMessage ? response_len : kMaxMessage; }
};

// One producer (a query thread), one consumer (the writer). Slots are claimed in order; the
// producer never waits.
class QueryLogRing {
 public:
  QueryLogRing(uint32_t slots, uint32_t sample);
  QueryLogRing(const QueryLogRing&) = delete;
  QueryLogRing& operator=(const QueryLogRing&) = delete;

  // Producer: true for every `sample`-th call (a per-thread counter, no random numbers).
  bool sample() {
    if (++seen_ < sample_) {
      return false;
    }
    seen_ = 0;
    return true;
  }
  // Producer: the next free slot, or null when the ring is full (counted as dropped).
  QueryRecord* claim() {
    uint64_t t = tail_.load(std::memory_order_relaxed);
    if (t - head_cache_ >= slots_) {
      head_cache_ = head_.load(std::memory_order_acquire);
      if (t - head_cache_ >= slots_) {
        dropped_.add();
        return nullptr;
      }
    }
    return &ring_[t & mask_];
  }
  // Producer: publishes the slot claim() returned.
  void commit() { tail_.store(tail_.load(std::memory_order_relaxed) + 1, std::memory_order_release); }

  // Consumer: calls f(const QueryRecord&) for up to `max` records; returns how many.
  template <class F>
  size_t drain(size_t max, F&& f) {
    uint64_t h = head_.load(std::memory_order_relaxed);
    uint64_t t = tail_.load(std::memory_order_acquire);
    size_t n = 0;
    while (h != t && n < max) {
      f(ring_[h & mask_]);
      ++h;
      ++n;
      head_.store(h, std::memory_order_release);  // the slot is free again
    }
    return n;
  }
  uint64_t dropped() const { return dropped_.get(); }
  uint32_t slots() const { return static_cast<uint32_t>(slots_); }

 private:
  alignas(64) std::atomic<uint64_t> head_{0};  // consumer's position
  alignas(64) std::atomic<uint64_t> tail_{0};  // producer's position
  uint64_t head_cache_ = 0;                    // producer's last view of head_
  uint32_t seen_ = 0;
  uint32_t sample_;
  Counter dropped_;  // written by the producer only
  uint64_t slots_;
  uint64_t mask_;
  std::unique_ptr<QueryRecord[]> ring_;
};

// Formatting, exposed for tests and tools.
// One JSON object (no newline): time, client, transport, qname/qtype/qclass, rcode, flags,
// answer RRs in presentation form, zone and branch.
std::string query_record_to_json(const QueryRecord& r);
// One packed dnstap.Dnstap protobuf (an AUTH_RESPONSE Message carrying the query and the
// response; `extra` holds the steering branch).
std::vector<uint8_t> query_record_to_dnstap(const QueryRecord& r, const std::string& identity,
                                            const std::string& version);

class QueryLog {
 public:
  // Opens the output (a file must open now; a socket is connected in the background and
  // retried while it is not there). Errors name the path and the reason.
  static Result<std::unique_ptr<QueryLog>> open(const QueryLogOptions& opts);
  ~QueryLog();
  QueryLog(const QueryLog&) = delete;
  QueryLog& operator=(const QueryLog&) = delete;

  // One ring per query thread; call before that thread starts. Stable until the log dies.
  QueryLogRing* add_ring();
  // Starts the writer thread.
  void start();
  // Drains what is queued, writes it, and stops the writer.
  void stop();
  // Any thread: reopen the file at the next writer pass (after logrotate moved it).
  void reopen() { reopen_.store(true, std::memory_order_relaxed); }

  struct Stats {
    uint64_t records = 0;       // written
    uint64_t dropped_full = 0;  // a ring was full
    uint64_t dropped_output = 0;  // formatted but not written (output error, no collector)
    uint64_t bytes = 0;
  };
  Stats stats() const;
  // steerdns_querylog_* families (docs/metrics.md).
  void collect(Families& out) const;
  const QueryLogOptions& options() const { return opts_; }

 private:
  explicit QueryLog(const QueryLogOptions& opts);
  struct Output;
  void run();
  // One pass over the rings; *more is set when a ring may hold more than the pass took.
  size_t drain_once(bool* more);

  QueryLogOptions opts_;
  std::unique_ptr<Output> out_;  // writer thread only (after open)
  mutable std::mutex mu_;        // rings_ (add_ring vs the writer), cv_
  std::condition_variable cv_;
  std::vector<std::unique_ptr<QueryLogRing>> rings_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> reopen_{false};
  std::thread thread_;
  Counter records_;  // written by the writer thread only
  Counter dropped_output_;
  Counter bytes_;
};

}  // namespace steerdns::obs
