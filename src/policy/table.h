#pragma once
// The compiled steering table the query path reads: for every steered record set, its answer
// as a small decision tree whose client-independent parts are folded into fixed answers when
// the table is built. Per query the work is a walk of at most a few nodes: a prefix lookup
// (latency, subnet), a MaxMind lookup (geo) or one weighted pick, then a pointer to wire rdata
// that was laid out at build time. No locks, no allocation.
//
// A new table is built whenever health, steering state or config changes (compile()), and
// published inside a new RuntimeConfig by pointer swap.
#include <sys/socket.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/result.h"
#include "health/view.h"
#include "policy/model.h"

namespace steerdns::policy {

inline constexpr uint32_t kNoSteer = 0xFFFFFFFFu;

// Who is asking: the EDNS Client Subnet when present, else the source address.
struct Client {
  int family = 0;  // AF_INET / AF_INET6; 0 = unknown (answers as for the default entry)
  uint8_t addr[16] = {};
  uint8_t source_prefix = 0;  // ECS source prefix, or 32/128 for a source address
  bool from_ecs = false;

  static Client from_sockaddr(const sockaddr* sa);
};

struct Selection {
  enum class Outcome : uint8_t { kAnswer, kNodata, kServfail };
  Outcome outcome = Outcome::kAnswer;
  const uint8_t* data = nullptr;  // count x ([u16 length][rdata]), like zone::RRset data
  uint16_t count = 0;
  uint32_t ttl = 0;
  uint8_t scope = 0;  // ECS scope prefix: what the decision depended on; 0 = nobody
  // Which branch produced it ("failover tier 2 secondary", "all_down static"), for the query
  // log: text laid out when the table was compiled, valid while the table lives.
  const char* branch = nullptr;
};

// What dr/ decides on top of health, per record set (by RecordSet::key()). Absent = follow
// health alone.
struct SteerState {
  int active_tier = 0;  // failover: serve this tier (0 = the first healthy tier)
  // gradual failback: `ramp_share` (0..1) of answers go to `ramp_tier`, the rest to active_tier
  int ramp_tier = 0;
  double ramp_share = 0;
  uint32_t ttl = 0;  // answer TTL to use (lowered while failed over, capped by next change); 0 = set's
};

// Operator overrides folded in when compiling (dr/ owns them, with reason/author/expiry).
enum class ForceState : uint8_t { kNone, kUp, kDown };
struct Overrides {
  std::map<std::string, ForceState> checks;   // check id -> forced
  std::map<std::string, ForceState> members;  // "set key#set_id" -> forced
  std::map<std::string, double> drain;        // "set key#set_id" -> weight factor 0..1
  std::map<std::string, ForceState> sets;     // set key -> kDown answers as all-down
};

struct CompileInputs {
  const SteeringSpec* spec = nullptr;
  const health::HealthView* health = nullptr;  // may be null: every check healthy
  const std::map<std::string, SteerState>* steer = nullptr;  // may be null
  const Overrides* overrides = nullptr;                       // may be null
};

// Effective health of one member as steering sees it, and why (explain shows it).
struct MemberHealth {
  bool healthy = true;
  std::string why;  // "check primary-app: unhealthy (probe) since ...", "forced down by ..."
};

class Table {
 public:
  ~Table();
  // Index of the record set with this key, or kNoSteer. Resolved when zones are built.
  uint32_t id_of(const std::string& set_key) const;
  size_t size() const;
  // The query path: the answer for record set `id` for this client. `entropy` is a per-query
  // random value (weighted picks).
  Selection select(uint32_t id, const Client& client, uint64_t entropy) const;

  // Control plane (dr/, explain): first tier (failover) whose members are healthy, 0 if none;
  // and whether the set as a whole has a healthy answer (alias evaluate-target-health, SLO).
  int first_healthy_tier(uint32_t id) const;
  bool has_healthy_answer(uint32_t id) const;
  MemberHealth member_health(uint32_t id, size_t member) const;

  struct Impl;
  // For explain (src/policy only): the compiled form.
  const Impl* impl() const { return impl_.get(); }

 private:
  friend Result<std::shared_ptr<const Table>> compile(const CompileInputs& in);
  std::unique_ptr<Impl> impl_;
};

// Builds the table. Fails only on inputs validate() would reject (and the geo database not
// opening); the caller keeps serving the previous table then.
Result<std::shared_ptr<const Table>> compile(const CompileInputs& in);

}  // namespace steerdns::policy
