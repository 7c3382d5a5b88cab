#pragma once
// A small etcd v3 client over etcd's JSON gateway (grpc-gateway: POST /v3/kv/range,
// /v3/kv/txn, /v3/watch, /v3/lease/*, keys and values base64, 64-bit numbers as strings,
// default-valued fields omitted), with libcurl.
//
// Why the gateway and not gRPC: it needs nothing beyond libcurl, which the binary links
// already (probes, alert channels), the calls we make are few and small, and every request is
// plain JSON one can replay with curl when debugging a fleet. The price is one HTTP request
// per call and no multiplexing, which does not matter at the rates a DNS control plane writes.
//
// Every unary call has a deadline (Options::timeout_ms) and tries the endpoints in turn,
// starting with the one that answered last; a call fails only when every endpoint failed
// within the deadline. Errors name the endpoint and the cause, and start with "unavailable: "
// when no endpoint could serve the call (unreachable, timeout, no leader, TLS or auth
// failure), so callers can tell "the engine is out of reach" from "the engine said no".
//
// A write in flight when the leader dies may or may not have been applied and gets no answer:
// the caller must make writes safe to retry (compare-and-swap on a revision, unique keys);
// this client retries a call on another endpoint only when it cannot have been sent.
//
// Thread safety: every method may be called from any thread (one curl easy handle per call).
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/result.h"

namespace steerdns::store::etcd {

struct Options {
  std::vector<std::string> endpoints;  // "http://127.0.0.1:23791", "https://..." (TLS)
  int64_t timeout_ms = 2'000;          // deadline of one unary call, all endpoints together
  int64_t connect_timeout_ms = 500;    // per endpoint
  std::string ca_file;                 // TLS: the CA that signed the members' certificates
  std::string cert_file;               // TLS client certificate (etcd --client-cert-auth)
  std::string key_file;
  std::string user;      // etcd authentication (POST /v3/auth/authenticate -> token)
  std::string password;  // from password_file in the spec
  std::string prefix = "steerdns/";  // every key steerdns writes lives under it
};

// "etcd:http://127.0.0.1:23791,http://127.0.0.1:23792[?timeout_ms=2000&ca=FILE&cert=FILE&
// key=FILE&user=NAME&password_file=FILE&prefix=P]". Errors name the bad part.
Result<Options> parse_spec(const std::string& spec);

struct KeyValue {
  std::string key;  // decoded (raw bytes)
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t version = 0;
  int64_t lease = 0;
};

struct RangeRequest {
  std::string key;
  std::string range_end;  // empty: the single key; prefix_end(p): every key under p
  int64_t limit = 0;
  int64_t revision = 0;   // 0: newest
  int64_t min_create_revision = 0;
  int64_t max_create_revision = 0;  // 0: no upper bound
  bool keys_only = false;
  bool count_only = false;
  bool serializable = false;  // false: linearizable (needs a leader)
  // Sorting: "NONE"/"KEY"/"CREATE"/"MOD"/"VERSION"/"VALUE" and "ASCEND"/"DESCEND".
  std::string sort_target;
  std::string sort_order;
};

struct RangeResult {
  int64_t revision = 0;  // the store revision the read was made at
  std::vector<KeyValue> kvs;
  int64_t count = 0;
  bool more = false;
};

struct Compare {
  std::string key;
  std::string target;  // "VERSION" | "CREATE" | "MOD" | "VALUE" | "LEASE"
  std::string result;  // "EQUAL" | "NOT_EQUAL" | "GREATER" | "LESS"
  int64_t number = 0;  // for VERSION / CREATE / MOD / LEASE
  std::string value;   // for VALUE
};

struct TxnOp {
  enum class Kind { kPut, kDelete, kRange } kind = Kind::kPut;
  std::string key;
  std::string range_end;  // delete / range
  std::string value;      // put
  int64_t lease = 0;      // put
  static TxnOp put(std::string k, std::string v, int64_t lease = 0) {
    TxnOp op;
    op.key = std::move(k);
    op.value = std::move(v);
    op.lease = lease;
    return op;
  }
  static TxnOp del(std::string k, std::string end = "") {
    TxnOp op;
    op.kind = Kind::kDelete;
    op.key = std::move(k);
    op.range_end = std::move(end);
    return op;
  }
  static TxnOp get(std::string k, std::string end = "") {
    TxnOp op;
    op.kind = Kind::kRange;
    op.key = std::move(k);
    op.range_end = std::move(end);
    return op;
  }
};

struct Txn {
  std::vector<Compare> compare;
  std::vector<TxnOp> success;
  std::vector<TxnOp> failure;
};

struct TxnResult {
  bool succeeded = false;
  int64_t revision = 0;  // header revision after the transaction
  // One per op of the branch taken; a range op's keys are in ranges[i] (empty for others).
  std::vector<RangeResult> ranges;
};

struct MemberStatus {
  std::string endpoint;
  bool reachable = false;
  std::string error;  // why not, when !reachable
  std::string version;
  int64_t member_id = 0;
  int64_t leader = 0;  // 0: this member knows no leader
  int64_t raft_term = 0;
  int64_t revision = 0;
  int64_t db_size = 0;
};

// The end of the range of keys starting with `prefix` (etcd's prefix convention).
std::string prefix_end(const std::string& prefix);

class Client {
 public:
  explicit Client(Options opts);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  const Options& options() const { return opts_; }
  // The endpoint that answered the last call ("" before any).
  std::string current_endpoint() const;

  Result<RangeResult> range(const RangeRequest& req);
  Result<TxnResult> txn(const Txn& t);
  // Plain put / delete: the new store revision.
  Result<int64_t> put(const std::string& key, const std::string& value, int64_t lease = 0);
  Result<int64_t> del(const std::string& key, const std::string& range_end = "");
  // Discards the history before `revision` (watches started earlier get on_reset).
  Status compact(int64_t revision);

  // Leases: grant returns the id (TTL as granted in *ttl_s when non-null); keepalive the TTL
  // left (an error "lease ... not found" when it expired); revoke deletes its keys.
  Result<int64_t> lease_grant(int64_t ttl_s, int64_t* granted_ttl_s = nullptr);
  Result<int64_t> lease_keepalive(int64_t id);
  Status lease_revoke(int64_t id);

  // POST /v3/maintenance/status on every endpoint (each with the deadline): for cluster status.
  std::vector<MemberStatus> member_status();

  // One JSON request on the gateway (path "/v3/kv/range"), endpoint rotation and deadline as
  // above; the parsed JSON answer. Used by the calls above and by Watch.
  struct Impl;

 private:
  Options opts_;
  std::unique_ptr<Impl> impl_;
  friend class Watch;
};

struct WatchEvent {
  bool deleted = false;  // DELETE (includes lease expiry); else PUT
  KeyValue kv;           // for a delete: key and mod_revision only
};

// A watch on [key, range_end) on its own thread: a POST /v3/watch stream with the
// `hasleader` metadata (header Grpc-Metadata-hasleader: true), so that a member that lost
// quorum ends the stream instead of staying silent; a stream that sends nothing (not even a
// progress notification) for `idle_timeout_ms` is treated as dead too. Lost streams are
// reopened on the next endpoint after a short backoff, resuming after the last revision seen;
// when that revision was compacted away, on_reset() is called and the watch restarts from the
// current revision (the caller reloads what it watches).
struct WatchShared;  // client.cc: what stop() needs to wake the watch thread

struct WatchCallbacks {
  // Events of one response, in revision order; `revision` is the response header's.
  std::function<void(const std::vector<WatchEvent>& events, int64_t revision)> on_events;
  // The stream is (re)established (true) or lost (false, with the reason).
  std::function<void(bool connected, const std::string& why)> on_state;
  // Missed events cannot be replayed (compaction): reload, then events continue.
  std::function<void()> on_reset;
};

class Watch {
 public:
  // start_revision 0: from now. The callbacks run on the watch thread, one at a time.
  Watch(Client& client, std::string key, std::string range_end, int64_t start_revision,
        WatchCallbacks cb, int64_t idle_timeout_ms = 15'000);
  ~Watch();  // stop(); not from a callback (the watch thread cannot join itself)
  Watch(const Watch&) = delete;
  Watch& operator=(const Watch&) = delete;
  void stop();
  bool connected() const { return connected_.load(); }

 private:
  void run();
  Client& client_;
  std::string key_;
  std::string range_end_;
  std::atomic<int64_t> next_revision_;
  WatchCallbacks cb_;
  int64_t idle_timeout_ms_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> connected_{false};
  std::shared_ptr<WatchShared> shared_;
  std::thread thread_;
};

}  // namespace steerdns::store::etcd
