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
// Thread safety: run_once() from one thread (the daemon's delivery thread); configure() and
// stats() from any.
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "alert/spec.h"
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
  std::string detail;      // "HTTP 202", "connect: Connection refused", ...
};
// Sends synchronously, bounded by the channel's timeout.
Delivery deliver(const ChannelSpec& ch, const Rendered& r);

struct ChannelStats {
  int64_t delivered = 0;
  int64_t failed = 0;  // attempts that failed (retried or not)
  int64_t dead = 0;
};

class Dispatcher {
 public:
  explicit Dispatcher(store::Store& store) : store_(store) {}
  void configure(AlertsSpec spec);
  // Attempts every row due at `now_ms` (at most `limit`); returns how many were attempted, or
  // the store's error.
  Result<size_t> run_once(int64_t now_ms, size_t limit = 100);
  std::map<std::string, ChannelStats> stats() const;

 private:
  store::Store& store_;
  mutable std::mutex mu_;
  AlertsSpec spec_;
  std::map<std::string, ChannelStats> stats_;
};

}  // namespace steerdns::alert
