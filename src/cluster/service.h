#pragma once
// Fleet membership and the exchange of health views over etcd (docs/fleet.md).
//
// Every node keeps one etcd lease (Settings::lease_ttl_ms) and, attached to it:
//   {prefix}fleet/member/{node}  who it is, when it last beat, the catalog revision it serves;
//   {prefix}fleet/health/{node}  its own checker's view (statuses after its own thresholds);
//   {prefix}fleet/leader         the node that runs alert routing (first to create it wins).
// It watches {prefix}fleet/ and hands every peer's view to the health engine
// (Hooks::set_peer), which aggregates the live views with each check's rule. All nodes see the
// same views, so they compute the same consensus; a node whose lease expired (its keys are
// deleted by etcd) stops counting (Hooks::drop_peer).
//
// Static stability: a node that cannot reach etcd keeps answering from its last snapshot. It
// marks itself stale once no heartbeat succeeded for stale_after_ms. While stale, the peers'
// last views keep counting for peer_grace_ms; after that only its own probes decide, so a node
// cut off from the fleet for long follows what it can see itself. On reconnect it takes a new
// lease if the old one expired, republishes its view, reloads every peer's and carries on: no
// restart.
//
// Threading: one session thread (lease, heartbeat, publishing) and the watch's thread; the
// hooks are called from them, one at a time per thread, never with this object's mutex held.
// status_json(), problems() and collect_metrics() may be called from any thread.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/result.h"
#include "health/engine.h"
#include "obs/metrics.h"
#include "store/etcd/client.h"

namespace steerdns::cluster {

struct Settings {
  std::string node_id;
  std::string site;
  std::string version;  // this binary's, shown to peers
  int64_t lease_ttl_ms = 10'000;
  int64_t heartbeat_ms = 1'000;
  int64_t stale_after_ms = 3'000;
  int64_t peer_grace_ms = 60'000;
  int64_t divergence_after_ms = 30'000;
};

struct Hooks {
  // This node's own checker's view (health::Engine::local_view).
  std::function<std::vector<health::PeerStatus>()> local_view;
  // A peer's whole view (health::Engine::set_peer_view) / a peer that stopped counting.
  std::function<void(const std::string& node, const std::vector<health::PeerStatus>&)> set_peer;
  std::function<void(const std::string& node)> drop_peer;
  // The consensus the engine computed: check id -> status (health::HealthView).
  std::function<std::vector<std::pair<std::string, health::Status>>()> consensus;
  // The catalog revision this node serves (control::Plane::served_revision).
  std::function<int64_t()> served_revision;
  // An operator action another node took (publish_op), to apply here too.
  std::function<void(const nlohmann::json& op)> apply_op;
};

// Something that needs an operator, for alerting (alert events node_stale, checker_divergence).
struct Problem {
  std::string event;
  std::string target;  // node id or check id
  std::string summary;
  nlohmann::json details = nlohmann::json::object();
};

class Service {
 public:
  Service(std::unique_ptr<store::etcd::Client> client, Settings settings, Hooks hooks);
  ~Service();  // stop()
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  // Starts the session and the watch. Returns at once: a node that cannot reach etcd yet is
  // stale until it can, and keeps serving meanwhile.
  void start();
  // Leaves the fleet: revokes the lease (peers drop this node's view at once) and stops.
  void stop();

  // The local view changed (health::Engine::on_local_change): publish it now.
  void local_changed();

  // Operator actions (overrides, failback approvals, external check sets) taken on this node,
  // for every other node to apply as well (Hooks::apply_op): steering state is per node,
  // operator intent is the fleet's. Kept 24 h under {prefix}fleet/ops/. A node applies the ops
  // it sees live, and after an outage the ones it missed; a node starting up replays the
  // override and external check ops only (an old failback approval must not approve a later
  // failback). Error: etcd out of reach (the
  // action then holds on this node only; the caller says so).
  Status publish_op(const nlohmann::json& op);

  bool leader() const;  // this node runs alert routing

  // GET /v1/cluster: this node, every member with its last contact, served revision and stale
  // flag, per-check views and the consensus; with `members_health`, every etcd member's status
  // too (one request per endpoint, each within the client's deadline).
  nlohmann::json status_json(bool members_health) const;
  // This node stale; peers stale or gone without leaving; checks whose views diverge from the
  // consensus for longer than divergence_after_ms.
  std::vector<Problem> problems() const;
  void collect_metrics(obs::Families& out) const;

 private:
  struct Member {
    nlohmann::json record;  // as the member wrote it
    bool alive = false;     // its key exists (its lease is live)
    bool left = false;      // it said goodbye (leaving: true) before its key went
    int64_t seen_ms = 0;    // wall time we last saw its key change
  };
  struct View {
    std::vector<health::PeerStatus> checks;
    int64_t wall_ms = 0;
  };

  void session_loop();
  // One heartbeat: lease, member record, view (when dirty or forced), leader claim.
  Status beat(bool publish_view);
  // Reads every fleet/ key and replaces what we know (start, reconnect, watch reset).
  Status resync();
  void on_events(const std::vector<store::etcd::WatchEvent>& events);
  // Applies one fleet/ key (put or delete); hooks to call after the mutex is released.
  struct Calls {
    std::vector<std::pair<std::string, std::vector<health::PeerStatus>>> set;
    std::vector<std::string> drop;
    std::vector<std::pair<int64_t, nlohmann::json>> ops;  // (create revision, op), to apply
  };
  void apply_key(const std::string& key, const std::string& value, bool deleted,
                 int64_t create_revision, int64_t now, Calls& calls);
  void run_calls(const Calls& calls);
  void update_divergence(int64_t now);
  void prune_ops(int64_t now);  // the leader drops ops older than 24 h, once a minute

  std::string member_key(const std::string& node) const;
  std::string health_key(const std::string& node) const;
  std::string leader_key() const;
  std::string fleet_prefix() const;

  std::unique_ptr<store::etcd::Client> client_;
  Settings settings_;
  Hooks hooks_;
  int64_t started_ms_ = 0;

  mutable std::mutex mu_;  // everything below
  std::condition_variable cv_;
  bool stopping_ = false;
  bool view_dirty_ = true;
  int64_t lease_ = 0;
  int64_t last_ok_ms_ = 0;     // last successful heartbeat (wall)
  int64_t last_keepalive_ms_ = 0;
  std::string last_error_;
  bool stale_ = true;          // until the first heartbeat succeeds
  int64_t stale_since_ms_ = 0;
  bool peers_frozen_dropped_ = false;  // static stability: peers dropped after peer_grace
  bool need_resync_ = true;
  std::string leader_;
  std::map<std::string, Member> members_;
  std::map<std::string, View> views_;  // peers' (and our own, as published)
  // (check, node) -> since when that node's view differs from the consensus
  std::map<std::pair<std::string, std::string>, int64_t> diverging_;
  int64_t ops_cursor_ = 0;     // create revision of the newest op applied or skipped
  bool ops_replayed_ = false;  // the startup replay happened (then every op applies)
  int64_t ops_pruned_ms_ = 0;
  uint64_t ops_published_ = 0;
  uint64_t ops_applied_ = 0;
  uint64_t etcd_errors_ = 0;
  uint64_t lease_regrants_ = 0;
  uint64_t views_published_ = 0;
  std::atomic<bool> watch_connected_{false};

  std::thread session_;
  std::unique_ptr<store::etcd::Watch> watch_;
};

}  // namespace steerdns::cluster
