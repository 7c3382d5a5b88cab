#include "cluster/service.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <set>

#include <fmt/format.h>

#include "core/thread_priority.h"

namespace steerdns::cluster {
namespace {

using json = nlohmann::json;
using prometheus::MetricType;

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

health::Status parse_status(const std::string& s) {
  if (s == "healthy") {
    return health::Status::kHealthy;
  }
  if (s == "unhealthy") {
    return health::Status::kUnhealthy;
  }
  return health::Status::kUnknown;
}

json view_json(const std::vector<health::PeerStatus>& v) {
  json checks = json::array();
  for (const auto& p : v) {
    checks.push_back({{"id", p.check},
                      {"status", health::status_name(p.status)},
                      {"since_ms", p.since_wall_ms},
                      {"reason", p.reason}});
  }
  return checks;
}

// A peer's published view; entries that do not parse are skipped (a newer peer may add
// fields, never change these).
std::vector<health::PeerStatus> parse_view(const json& j) {
  std::vector<health::PeerStatus> out;
  if (!j.is_object() || !j.contains("checks") || !j["checks"].is_array()) {
    return out;
  }
  for (const auto& c : j["checks"]) {
    if (!c.is_object() || !c.contains("id") || !c["id"].is_string()) {
      continue;
    }
    health::PeerStatus p;
    p.check = c["id"].get<std::string>();
    p.status = parse_status(c.value("status", ""));
    p.since_wall_ms = c.value("since_ms", int64_t{0});
    p.reason = c.value("reason", "");
    out.push_back(std::move(p));
  }
  return out;
}

// The client's "lease N not found (expired or revoked)" and etcd's own "requested lease not
// found" (a put under an expired lease): take a new lease, not a reason to call etcd down.
bool lease_lost(const std::string& err) {
  return err.find("lease") != std::string::npos && err.find("not found") != std::string::npos;
}

}  // namespace

Service::Service(std::unique_ptr<store::etcd::Client> client, Settings settings, Hooks hooks)
    : client_(std::move(client)), settings_(std::move(settings)), hooks_(std::move(hooks)) {}

Service::~Service() { stop(); }

std::string Service::fleet_prefix() const { return client_->options().prefix + "fleet/"; }
std::string Service::member_key(const std::string& node) const {
  return fleet_prefix() + "member/" + node;
}
std::string Service::health_key(const std::string& node) const {
  return fleet_prefix() + "health/" + node;
}
std::string Service::leader_key() const { return fleet_prefix() + "leader"; }

void Service::start() {
  started_ms_ = wall_ms();
  {
    std::lock_guard lk(mu_);
    stopping_ = false;
    stale_since_ms_ = started_ms_;
  }
  session_ = std::thread([this] {
    make_background_thread("sd-cluster");
    session_loop();
  });
}

void Service::stop() {
  {
    std::lock_guard lk(mu_);
    if (!session_.joinable()) {
      return;
    }
    stopping_ = true;
  }
  cv_.notify_all();
  session_.join();
  watch_.reset();
  // Leaving on purpose: peers forget this node at once instead of alerting on it.
  int64_t lease;
  {
    std::lock_guard lk(mu_);
    lease = lease_;
    lease_ = 0;
  }
  if (lease != 0) {
    json m{{"node", settings_.node_id}, {"site", settings_.site}, {"leaving", true},
           {"heartbeat_ms", wall_ms()}};
    (void)client_->put(member_key(settings_.node_id), m.dump(), lease);
    if (auto st = client_->lease_revoke(lease); !st) {
      spdlog::warn("cluster: leaving: {} (peers drop this node when its lease expires)",
                   st.error());
    }
  }
}

Status Service::publish_op(const json& op) {
  const int64_t now = wall_ms();
  // Time first: keys sort by when the action was taken, so pruning is one range delete.
  std::string key = fmt::format("{}ops/{:013d}-{}-{:08x}", fleet_prefix(), now,
                                settings_.node_id, static_cast<uint32_t>(std::random_device{}()));
  json v{{"op", op}, {"node", settings_.node_id}, {"time_ms", now}};
  auto r = client_->put(key, v.dump());
  if (!r) {
    return Error{r.error()};
  }
  std::lock_guard lk(mu_);
  ++ops_published_;
  return OkStatus();
}

void Service::local_changed() {
  {
    std::lock_guard lk(mu_);
    view_dirty_ = true;
  }
  cv_.notify_all();
}

bool Service::leader() const {
  std::lock_guard lk(mu_);
  return !stale_ && leader_ == settings_.node_id;
}

Status Service::beat(bool publish_view) {
  const int64_t now = wall_ms();
  int64_t lease;
  int64_t last_keepalive;
  {
    std::lock_guard lk(mu_);
    lease = lease_;
    last_keepalive = last_keepalive_ms_;
  }
  if (lease != 0 && now - last_keepalive >= settings_.heartbeat_ms) {
    auto ttl = client_->lease_keepalive(lease);
    if (!ttl && !lease_lost(ttl.error())) {
      return Error{ttl.error()};
    }
    if (!ttl || *ttl <= 0) {
      spdlog::warn("cluster: lease {:x} expired; taking a new one", lease);
      lease = 0;
    }
  }
  if (lease == 0) {
    int64_t ttl_s = std::max<int64_t>(2, (settings_.lease_ttl_ms + 999) / 1000);
    auto id = client_->lease_grant(ttl_s);
    if (!id) {
      return Error{id.error()};
    }
    lease = *id;
    publish_view = true;  // the keys of the old lease are gone
    std::lock_guard lk(mu_);
    lease_ = lease;
    ++lease_regrants_;
  }
  {
    std::lock_guard lk(mu_);
    last_keepalive_ms_ = now;
  }
  const int64_t served = hooks_.served_revision ? hooks_.served_revision() : 0;
  json member{{"node", settings_.node_id},   {"site", settings_.site},
              {"version", settings_.version}, {"started_ms", started_ms_},
              {"heartbeat_ms", now},          {"served_revision", served},
              {"lease_ttl_ms", settings_.lease_ttl_ms}};
  std::vector<store::etcd::TxnOp> writes{
      store::etcd::TxnOp::put(member_key(settings_.node_id), member.dump(), lease)};
  std::vector<health::PeerStatus> view;
  if (publish_view) {
    view = hooks_.local_view ? hooks_.local_view() : std::vector<health::PeerStatus>{};
    json h{{"node", settings_.node_id},
           {"site", settings_.site},
           {"wall_ms", now},
           {"checks", view_json(view)}};
    writes.push_back(store::etcd::TxnOp::put(health_key(settings_.node_id), h.dump(), lease));
  }
  // The first node to create the leader key runs alert routing until its lease goes.
  store::etcd::Txn t;
  t.compare.push_back({leader_key(), "CREATE", "EQUAL", 0, ""});
  t.success = writes;
  t.success.push_back(store::etcd::TxnOp::put(leader_key(), settings_.node_id, lease));
  t.failure = writes;
  t.failure.push_back(store::etcd::TxnOp::get(leader_key()));
  auto r = client_->txn(t);
  if (!r) {
    if (lease_lost(r.error())) {
      std::lock_guard lk(mu_);
      lease_ = 0;
    }
    return Error{r.error()};
  }
  std::lock_guard lk(mu_);
  if (r->succeeded) {
    leader_ = settings_.node_id;
  } else if (!r->ranges.empty() && !r->ranges.back().kvs.empty()) {
    leader_ = r->ranges.back().kvs[0].value;
  }
  if (publish_view) {
    views_[settings_.node_id] = View{std::move(view), now};
    ++views_published_;
  }
  members_[settings_.node_id] = Member{member, true, false, now};
  return OkStatus();
}

Status Service::resync() {
  store::etcd::RangeRequest req;
  req.key = fleet_prefix();
  req.range_end = store::etcd::prefix_end(req.key);
  auto r = client_->range(req);
  if (!r) {
    return Error{r.error()};
  }
  const int64_t now = wall_ms();
  Calls calls;
  {
    std::lock_guard lk(mu_);
    std::set<std::string> peers_before;
    for (const auto& [node, v] : views_) {
      if (node != settings_.node_id) {
        peers_before.insert(node);
      }
    }
    for (auto& [node, m] : members_) {
      if (node != settings_.node_id) {
        m.alive = false;
      }
    }
    std::string leader;
    for (const auto& kv : r->kvs) {
      apply_key(kv.key, kv.value, false, kv.create_revision, now, calls);
      if (kv.key == leader_key()) {
        leader = kv.value;
      }
    }
    leader_ = leader;
    std::set<std::string> present;
    for (const auto& [node, v] : calls.set) {
      present.insert(node);
    }
    for (const auto& node : peers_before) {
      if (!present.count(node)) {
        views_.erase(node);
        calls.drop.push_back(node);
      }
    }
    peers_frozen_dropped_ = false;
    need_resync_ = false;
    ops_replayed_ = true;
    ops_cursor_ = std::max(ops_cursor_, r->revision);
    std::sort(calls.ops.begin(), calls.ops.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
  }
  run_calls(calls);
  if (!watch_) {
    store::etcd::WatchCallbacks cb;
    cb.on_events = [this](const std::vector<store::etcd::WatchEvent>& ev, int64_t) {
      on_events(ev);
    };
    cb.on_state = [this](bool connected, const std::string& why) {
      watch_connected_ = connected;
      if (!connected) {
        spdlog::warn("cluster: watch on {}: {}", fleet_prefix(), why);
      }
    };
    cb.on_reset = [this] {
      {
        std::lock_guard lk(mu_);
        need_resync_ = true;
      }
      cv_.notify_all();
    };
    watch_ = std::make_unique<store::etcd::Watch>(*client_, req.key, req.range_end,
                                                  r->revision + 1, std::move(cb));
  }
  return OkStatus();
}

void Service::apply_key(const std::string& key, const std::string& value, bool deleted,
                        int64_t create_revision, int64_t now, Calls& calls) {
  const std::string fp = fleet_prefix();
  if (key.rfind(fp, 0) != 0) {
    return;
  }
  std::string rest = key.substr(fp.size());
  auto slash = rest.find('/');
  std::string kind = rest.substr(0, slash);
  std::string node = slash == std::string::npos ? "" : rest.substr(slash + 1);
  if (kind == "leader") {
    leader_ = deleted ? "" : value;
    return;
  }
  if (kind == "ops") {
    if (deleted || create_revision <= ops_cursor_) {
      return;  // pruned, or applied (or skipped) before
    }
    ops_cursor_ = create_revision;
    json j = json::parse(value, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("op") || !j["op"].is_object()) {
      spdlog::warn("cluster: operator action {} is not JSON; ignored", key);
      return;
    }
    if (j.value("node", "") == settings_.node_id) {
      return;  // ours: applied when it was taken
    }
    std::string cmd = j["op"].value("cmd", "");
    if (!ops_replayed_ && cmd != "override-set" && cmd != "override-clear" &&
        cmd != "external-set") {
      return;  // startup: an old approval must not approve a later failback
    }
    calls.ops.emplace_back(create_revision, j["op"]);
    return;
  }
  if (node.empty()) {
    return;
  }
  if (kind == "member") {
    if (node == settings_.node_id) {
      return;  // ours: beat() keeps it
    }
    Member& m = members_[node];
    if (deleted) {
      m.alive = false;
      if (m.left) {
        members_.erase(node);
      }
      return;
    }
    json j = json::parse(value, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      spdlog::warn("cluster: member record of '{}' is not JSON; ignored", node);
      return;
    }
    m.record = std::move(j);
    m.alive = true;
    m.left = m.record.value("leaving", false);
    m.seen_ms = now;
    return;
  }
  if (kind == "health") {
    if (node == settings_.node_id) {
      return;  // our own view counts locally, never as a peer
    }
    if (deleted) {
      if (views_.erase(node) > 0) {
        calls.drop.push_back(node);
      }
      return;
    }
    json j = json::parse(value, nullptr, false);
    if (j.is_discarded()) {
      spdlog::warn("cluster: health view of '{}' is not JSON; ignored", node);
      return;
    }
    View v{parse_view(j), j.value("wall_ms", int64_t{0})};
    calls.set.emplace_back(node, v.checks);
    views_[node] = std::move(v);
  }
}

void Service::run_calls(const Calls& calls) {
  for (const auto& [rev, op] : calls.ops) {
    if (hooks_.apply_op) {
      hooks_.apply_op(op);
    }
    std::lock_guard lk(mu_);
    ++ops_applied_;
  }
  for (const auto& node : calls.drop) {
    if (hooks_.drop_peer) {
      hooks_.drop_peer(node);
    }
  }
  for (const auto& [node, view] : calls.set) {
    if (hooks_.set_peer) {
      hooks_.set_peer(node, view);
    }
  }
}

void Service::on_events(const std::vector<store::etcd::WatchEvent>& events) {
  Calls calls;
  const int64_t now = wall_ms();
  {
    std::lock_guard lk(mu_);
    for (const auto& e : events) {
      apply_key(e.kv.key, e.kv.value, e.deleted, e.kv.create_revision, now, calls);
    }
  }
  run_calls(calls);
}

void Service::session_loop() {
  bool first = true;
  for (;;) {
    bool publish;
    {
      std::lock_guard lk(mu_);
      if (stopping_) {
        return;
      }
      publish = view_dirty_;
      view_dirty_ = false;
    }
    Status st = beat(publish);
    const int64_t now = wall_ms();
    Calls calls;
    bool resync_now = false;
    {
      std::lock_guard lk(mu_);
      if (st) {
        if (stale_) {
          if (first) {
            spdlog::info("cluster: node '{}' (site '{}') joined the fleet at {}",
                         settings_.node_id, settings_.site, client_->current_endpoint());
          } else {
            spdlog::warn("cluster: etcd is back ({}) after {} ms; catching up",
                         client_->current_endpoint(), now - stale_since_ms_);
          }
          stale_ = false;
          need_resync_ = true;
          first = false;
        }
        last_ok_ms_ = now;
        last_error_.clear();
        resync_now = need_resync_;
      } else {
        ++etcd_errors_;
        if (last_error_ != st.error()) {
          spdlog::warn("cluster: heartbeat: {}", st.error());
        }
        last_error_ = st.error();
        view_dirty_ = view_dirty_ || publish;  // publish again once it works
        if (!stale_ && now - last_ok_ms_ >= settings_.stale_after_ms) {
          stale_ = true;
          stale_since_ms_ = now;
          spdlog::error("cluster: no contact with etcd for {} ms: this node is stale and keeps "
                        "serving its last snapshot ({})",
                        now - last_ok_ms_, st.error());
        }
        if (stale_ && !peers_frozen_dropped_ && now - stale_since_ms_ >= settings_.peer_grace_ms) {
          // Static stability's second step: cut off this long, follow our own probes.
          for (auto it = views_.begin(); it != views_.end();) {
            if (it->first != settings_.node_id) {
              calls.drop.push_back(it->first);
              it = views_.erase(it);
            } else {
              ++it;
            }
          }
          peers_frozen_dropped_ = true;
          spdlog::error("cluster: stale for {} ms (peer_grace): peers' views no longer count; "
                        "this node's own probes decide until etcd is back",
                        now - stale_since_ms_);
        }
      }
    }
    run_calls(calls);
    if (resync_now) {
      if (auto rs = resync(); !rs) {
        spdlog::warn("cluster: reading the fleet's views: {}", rs.error());
      }
    }
    update_divergence(now);
    prune_ops(now);
    std::unique_lock lk(mu_);
    cv_.wait_for(lk, std::chrono::milliseconds(settings_.heartbeat_ms),
                 [this] { return stopping_ || view_dirty_ || need_resync_; });
  }
}

void Service::prune_ops(int64_t now) {
  {
    std::lock_guard lk(mu_);
    if (stale_ || leader_ != settings_.node_id || now - ops_pruned_ms_ < 60'000) {
      return;
    }
    ops_pruned_ms_ = now;
  }
  constexpr int64_t kKeepOpsMs = 24 * 3600 * 1000;
  std::string from = fleet_prefix() + "ops/";
  (void)client_->del(from, fmt::format("{}{:013d}", from, now - kKeepOpsMs));
}

void Service::update_divergence(int64_t now) {
  if (!hooks_.consensus) {
    return;
  }
  auto consensus = hooks_.consensus();
  auto own = hooks_.local_view ? hooks_.local_view() : std::vector<health::PeerStatus>{};
  std::lock_guard lk(mu_);
  std::map<std::pair<std::string, std::string>, int64_t> next;
  std::map<std::string, std::map<std::string, health::Status>> by_check;
  for (const auto& p : own) {
    by_check[p.check][settings_.node_id] = p.status;
  }
  for (const auto& [node, v] : views_) {
    if (node == settings_.node_id) {
      continue;
    }
    for (const auto& p : v.checks) {
      by_check[p.check][node] = p.status;
    }
  }
  for (const auto& [check, status] : consensus) {
    if (status == health::Status::kUnknown) {
      continue;
    }
    auto it = by_check.find(check);
    if (it == by_check.end()) {
      continue;
    }
    for (const auto& [node, s] : it->second) {
      if (s == health::Status::kUnknown || s == status) {
        continue;
      }
      auto key = std::make_pair(check, node);
      auto was = diverging_.find(key);
      next[key] = was == diverging_.end() ? now : was->second;
    }
  }
  diverging_ = std::move(next);
}

std::vector<Problem> Service::problems() const {
  const int64_t now = wall_ms();
  std::vector<Problem> out;
  std::lock_guard lk(mu_);
  if (stale_) {
    out.push_back({"node_stale", settings_.node_id,
                   "this node has had no contact with etcd for " +
                       std::to_string((now - std::max(last_ok_ms_, started_ms_)) / 1000) +
                       " s" + (last_error_.empty() ? "" : ": " + last_error_) +
                       "; it serves its last snapshot",
                   json{{"self", true}, {"last_contact_ms", last_ok_ms_}}});
    return out;  // what we know of peers is frozen: no news about them
  }
  for (const auto& [node, m] : members_) {
    if (node == settings_.node_id || m.left) {
      continue;
    }
    if (!m.alive) {
      out.push_back({"node_stale", node,
                     "node '" + node + "' is gone from the fleet (its lease expired) since " +
                         std::to_string((now - m.seen_ms) / 1000) + " s",
                     json{{"self", false}, {"last_contact_ms", m.seen_ms}}});
    } else if (now - m.seen_ms > settings_.stale_after_ms + settings_.heartbeat_ms) {
      out.push_back({"node_stale", node,
                     "node '" + node + "' has not beaten for " +
                         std::to_string((now - m.seen_ms) / 1000) + " s",
                     json{{"self", false}, {"last_contact_ms", m.seen_ms}}});
    }
  }
  std::map<std::string, json> by_check;
  for (const auto& [key, since] : diverging_) {
    if (now - since < settings_.divergence_after_ms) {
      continue;
    }
    by_check[key.first][key.second] = since;
  }
  for (const auto& [check, nodes] : by_check) {
    std::string who;
    for (auto it = nodes.begin(); it != nodes.end(); ++it) {
      who.append(who.empty() ? "" : ", ").append(it.key());
    }
    out.push_back({"checker_divergence", check,
                   "the view of " + who + " differs from the fleet's consensus",
                   json{{"nodes", nodes}}});
  }
  return out;
}

json Service::status_json(bool members_health) const {
  const int64_t now = wall_ms();
  auto consensus = hooks_.consensus ? hooks_.consensus()
                                    : std::vector<std::pair<std::string, health::Status>>{};
  auto own = hooks_.local_view ? hooks_.local_view() : std::vector<health::PeerStatus>{};
  json j;
  {
    std::lock_guard lk(mu_);
    j = {{"mode", "fleet"},
         {"node", settings_.node_id},
         {"site", settings_.site},
         {"endpoints", client_->options().endpoints},
         {"endpoint", client_->current_endpoint()},
         {"stale", stale_},
         {"stale_since_ms", stale_ ? json(stale_since_ms_) : json(nullptr)},
         {"last_contact_ms", last_ok_ms_ > 0 ? json(last_ok_ms_) : json(nullptr)},
         {"last_error", last_error_.empty() ? json(nullptr) : json(last_error_)},
         {"leader", leader_.empty() ? json(nullptr) : json(leader_)},
         {"watch_connected", watch_connected_.load()},
         {"peers_counted", !stale_ || !peers_frozen_dropped_},
         {"settings",
          {{"lease_ttl_ms", settings_.lease_ttl_ms},
           {"heartbeat_ms", settings_.heartbeat_ms},
           {"stale_after_ms", settings_.stale_after_ms},
           {"peer_grace_ms", settings_.peer_grace_ms},
           {"divergence_after_ms", settings_.divergence_after_ms}}}};
    json members = json::array();
    for (const auto& [node, m] : members_) {
      bool self = node == settings_.node_id;
      bool member_stale = self ? stale_
                               : !m.alive || now - m.seen_ms > settings_.stale_after_ms +
                                                                   settings_.heartbeat_ms;
      members.push_back({{"node", node},
                         {"self", self},
                         {"site", m.record.value("site", "")},
                         {"version", m.record.value("version", "")},
                         {"alive", self ? !stale_ : m.alive},
                         {"left", m.left},
                         {"stale", member_stale},
                         {"leader", node == leader_},
                         {"last_contact_ms", self ? last_ok_ms_ : m.seen_ms},
                         {"heartbeat_ms", m.record.value("heartbeat_ms", int64_t{0})},
                         {"started_ms", m.record.value("started_ms", int64_t{0})},
                         {"served_revision", m.record.value("served_revision", int64_t{0})}});
    }
    j["members"] = std::move(members);
    std::map<std::string, json> views;
    for (const auto& p : own) {
      views[p.check][settings_.node_id] = health::status_name(p.status);
    }
    for (const auto& [node, v] : views_) {
      if (node == settings_.node_id) {
        continue;
      }
      for (const auto& p : v.checks) {
        views[p.check][node] = health::status_name(p.status);
      }
    }
    json checks = json::array();
    for (const auto& [id, status] : consensus) {
      json diverging = json::array();
      for (const auto& [key, since] : diverging_) {
        if (key.first == id) {
          diverging.push_back({{"node", key.second}, {"since_ms", since}});
        }
      }
      checks.push_back({{"id", id},
                        {"consensus", health::status_name(status)},
                        {"views", views.count(id) ? views[id] : json::object()},
                        {"diverging", std::move(diverging)}});
    }
    j["checks"] = std::move(checks);
  }
  if (members_health) {
    json etcd = json::array();
    for (const auto& m : client_->member_status()) {
      etcd.push_back({{"endpoint", m.endpoint},
                      {"reachable", m.reachable},
                      {"error", m.error.empty() ? json(nullptr) : json(m.error)},
                      {"version", m.version},
                      {"member_id", std::to_string(m.member_id)},
                      {"leader", std::to_string(m.leader)},
                      {"is_leader", m.reachable && m.leader != 0 && m.leader == m.member_id},
                      {"raft_term", m.raft_term},
                      {"revision", m.revision},
                      {"db_size", m.db_size}});
    }
    j["etcd"] = std::move(etcd);
  }
  return j;
}

void Service::collect_metrics(obs::Families& out) const {
  const int64_t now = wall_ms();
  std::lock_guard lk(mu_);
  auto gauge = [&](const char* name, const char* help, double v) {
    auto& f = obs::add_family(out, name, help, MetricType::Gauge);
    obs::add_gauge(f, {}, v);
  };
  auto counter = [&](const char* name, const char* help, double v) {
    auto& f = obs::add_family(out, name, help, MetricType::Counter);
    obs::add_counter(f, {}, v);
  };
  gauge("steerdns_cluster_stale", "1 while this node cannot reach etcd (serving its last snapshot)",
        stale_ ? 1 : 0);
  gauge("steerdns_cluster_leader", "1 while this node runs alert routing for the fleet",
        !stale_ && leader_ == settings_.node_id ? 1 : 0);
  gauge("steerdns_cluster_last_contact_seconds",
        "seconds since this node's last successful heartbeat to etcd",
        last_ok_ms_ > 0 ? static_cast<double>(now - last_ok_ms_) / 1000.0
                        : static_cast<double>(now - started_ms_) / 1000.0);
  gauge("steerdns_cluster_watch_connected", "1 while the watch on the fleet's keys is open",
        watch_connected_.load() ? 1 : 0);
  size_t peers = 0;
  for (const auto& [node, v] : views_) {
    peers += node != settings_.node_id;
  }
  gauge("steerdns_cluster_peer_views", "peers whose health views count in the consensus",
        static_cast<double>(peers));
  std::set<std::string> diverging;
  for (const auto& [key, since] : diverging_) {
    diverging.insert(key.first);
  }
  gauge("steerdns_cluster_divergent_checks",
        "checks where some node's view differs from the consensus",
        static_cast<double>(diverging.size()));
  {
    size_t alive = 0, stale = 0, gone = 0;
    for (const auto& [node, m] : members_) {
      if (node == settings_.node_id || m.left) {
        continue;
      }
      if (!m.alive) {
        ++gone;
      } else if (now - m.seen_ms > settings_.stale_after_ms + settings_.heartbeat_ms) {
        ++stale;
      } else {
        ++alive;
      }
    }
    auto& f = obs::add_family(out, "steerdns_cluster_peers", "other fleet members by state",
                              MetricType::Gauge);
    obs::add_gauge(f, {{"state", "alive"}}, static_cast<double>(alive));
    obs::add_gauge(f, {{"state", "stale"}}, static_cast<double>(stale));
    obs::add_gauge(f, {{"state", "gone"}}, static_cast<double>(gone));
  }
  counter("steerdns_cluster_etcd_errors_total", "heartbeats that failed (etcd out of reach)",
          static_cast<double>(etcd_errors_));
  counter("steerdns_cluster_lease_grants_total",
          "etcd leases taken (1 at start, +1 after each expiry)",
          static_cast<double>(lease_regrants_));
  {
    auto& f = obs::add_family(out, "steerdns_cluster_operator_actions_total",
                              "operator actions shared with the fleet: taken here and "
                              "published, or taken on another node and applied here",
                              MetricType::Counter);
    obs::add_counter(f, {{"direction", "published"}}, static_cast<double>(ops_published_));
    obs::add_counter(f, {{"direction", "applied"}}, static_cast<double>(ops_applied_));
  }
  counter("steerdns_cluster_views_published_total",
          "times this node published its health view", static_cast<double>(views_published_));
}

}  // namespace steerdns::cluster
