#include "daemon/steering_service.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <optional>
#include <set>
#include <system_error>

#include "core/file.h"
#include "core/text.h"
#include "dns/rrtype.h"
#include "health/forced.h"
#include "policy/explain.h"
#include "store/store.h"

namespace steerdns::daemon {
namespace {

using nlohmann::json;

constexpr size_t kRecentEvents = 1000;

std::string str_field(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

const char* scope_text(dr::OverrideScope s) {
  switch (s) {
    case dr::OverrideScope::kCheck:
      return "check";
    case dr::OverrideScope::kMember:
      return "member";
    case dr::OverrideScope::kRecordSet:
      return "set";
  }
  return "?";
}

const char* action_text(dr::OverrideAction a) {
  switch (a) {
    case dr::OverrideAction::kForceUp:
      return "up";
    case dr::OverrideAction::kForceDown:
      return "down";
    case dr::OverrideAction::kDrain:
      return "drain";
  }
  return "?";
}

Result<dr::OverrideScope> parse_scope(const std::string& s) {
  if (s == "check") {
    return dr::OverrideScope::kCheck;
  }
  if (s == "member") {
    return dr::OverrideScope::kMember;
  }
  if (s == "set") {
    return dr::OverrideScope::kRecordSet;
  }
  return Error{"scope '" + s + "' is not check, member or set"};
}

json event_json(const dr::Event& e) {
  return json{{"wall_ms", e.wall_ms}, {"type", e.type},   {"target", e.target},
              {"cause", e.cause},     {"actor", e.actor}, {"from_tier", e.from_tier},
              {"to_tier", e.to_tier}};
}

json override_json(const dr::Override& o, Millis now_wall) {
  json j{{"scope", scope_text(o.scope)},
         {"target", o.target},
         {"action", action_text(o.action)},
         {"reason", o.reason},
         {"author", o.author},
         {"created_wall_ms", o.created_wall_ms},
         {"expires_wall_ms", o.expires_wall_ms},
         {"expires_in_ms", std::max<Millis>(0, o.expires_wall_ms - now_wall)}};
  if (o.action == dr::OverrideAction::kDrain) {
    j["drain_ms"] = o.drain_ms;
  }
  return j;
}

// Whether check `target` is `check` or below it (a child of a calculated check, at any depth).
bool reaches(const std::string& target, const std::string& check,
             const std::vector<health::CheckSpec>& checks, int depth = 0) {
  if (target == check) {
    return true;
  }
  if (depth > 64) {
    return false;  // validate_all rejects cycles; do not trust it with the stack
  }
  for (const auto& c : checks) {
    if (c.id == check && c.kind == health::Kind::kCalculated) {
      for (const auto& child : c.calculated.children) {
        if (reaches(target, child, checks, depth + 1)) {
          return true;
        }
      }
    }
  }
  return false;
}

// An override concerns a set if it names the set, one of its members, or a member's check or a
// check below it (a forced child moves its calculated parent).
bool concerns(const dr::Override& o, const policy::RecordSet* rs, const std::string& key,
              const std::vector<health::CheckSpec>& checks) {
  switch (o.scope) {
    case dr::OverrideScope::kRecordSet:
      return o.target == key;
    case dr::OverrideScope::kMember:
      return o.target.rfind(key + "#", 0) == 0;
    case dr::OverrideScope::kCheck:
      if (rs != nullptr) {
        for (const auto& m : rs->members) {
          if (!m.health_check.empty() && reaches(o.target, m.health_check, checks)) {
            return true;
          }
        }
      }
      return false;
  }
  return false;
}

}  // namespace

SteeringService::SteeringService(Snapshot<config::RuntimeConfig>& snapshot, Clock& clock)
    : snapshot_(snapshot), clock_(clock), orch_(clock), actions_(clock) {
  orch_.on_event([this](const dr::Event& e) {
    std::lock_guard lk(ev_mu_);
    pending_.push_back(e);
  });
  actions_.on_audit([this](const dr::Event& e) { record(e, false); });
}

SteeringService::~SteeringService() { stop(); }

std::shared_ptr<const health::HealthView> SteeringService::effective_locked(
    const std::shared_ptr<const health::HealthView>& view, policy::Overrides& ov,
    const std::vector<std::string>& down) const {
  if (!view) {
    for (const auto& d : down) {
      ov.checks[d] = policy::ForceState::kDown;  // no view: compile applies it to members
    }
    return view;
  }
  std::map<std::string, health::Forced> forced;
  if (!ov.checks.empty()) {
    std::vector<dr::Override> all = orch_.list_overrides();
    for (const auto& [id, f] : ov.checks) {
      if (f == policy::ForceState::kNone) {
        continue;
      }
      bool up = f == policy::ForceState::kUp;
      health::Forced hf{up ? health::Status::kHealthy : health::Status::kUnhealthy,
                        std::string("forced ") + (up ? "up" : "down") + " by an override", 0};
      for (const auto& o : all) {
        if (o.scope == dr::OverrideScope::kCheck && o.target == id) {
          hf.why =
              std::string("forced ") + (up ? "up" : "down") + " by " + o.author + ": " + o.reason;
          hf.since_wall_ms = o.created_wall_ms;
        }
      }
      forced[id] = std::move(hf);
    }
  }
  for (const auto& d : down) {
    forced[d] = health::Forced{health::Status::kUnhealthy, "simulated down", 0};
  }
  if (forced.empty()) {
    return view;
  }
  for (auto it = ov.checks.begin(); it != ov.checks.end();) {
    it = view->index_of(it->first) >= 0 ? ov.checks.erase(it) : std::next(it);
  }
  for (const auto& d : down) {
    if (view->index_of(d) < 0) {
      ov.checks[d] = policy::ForceState::kDown;
    }
  }
  return std::make_shared<const health::HealthView>(health::with_forced(*view, checks_, forced));
}

policy::CompileInputs SteeringService::inputs_locked(
    const health::HealthView* view, const std::map<std::string, policy::SteerState>* steer,
    const policy::Overrides* ov) const {
  policy::CompileInputs in;
  in.spec = base_ ? base_->steering_spec.get() : nullptr;
  in.health = view;
  in.steer = steer;
  in.overrides = ov;
  return in;
}

Status SteeringService::start(const config::ServerSettings& settings,
                              const config::LoadedConfig& loaded,
                              const Snapshot<health::HealthView>* view) {
  std::unique_lock lk(mu_);
  if (started_) {
    return Error{"steering: already started"};
  }
  if (state_store_) {
    state_path_ = state_store_->describe() + " [steering]";
    events_path_ = state_store_->describe() + " [events]";
  } else if (!settings.health_state_file.empty()) {
    auto dir = std::filesystem::path(settings.health_state_file).parent_path();
    state_path_ = (dir / "steerdns-steering.json").string();
    events_path_ = (dir / "steerdns-events.jsonl").string();
  }
  base_ = loaded.runtime;
  checks_ = loaded.health_checks;
  view_ = view;
  orch_.configure(base_->steering_spec);
  std::optional<std::string> saved;
  if (state_store_) {
    auto r = state_store_->get("steering");
    if (r) {
      saved = *r;
    } else if (store::is_unavailable(r.error())) {
      // A fleet node started while etcd is out of reach (serving its catalog cache): better
      // serving from health alone than not at all; said loudly.
      spdlog::error("steering: state {} not read ({}); starting from health alone", state_path_,
                    r.error());
    } else {
      return Error{"steering: state: " + r.error()};
    }
  } else if (!state_path_.empty()) {
    if (auto r = read_file_if_exists(state_path_); !r) {
      spdlog::error("steering: state not read ({}); starting from health alone", r.error());
    } else {
      saved = std::move(*r);
    }
  }
  if (saved) {
    if (auto st = orch_.restore(*saved); !st) {
      // Starting from scratch is safer than not starting: say loudly what was lost.
      spdlog::error("steering: state {} not restored ({}); starting from health alone",
                    state_path_, st.error());
    } else {
      last_saved_ = *saved;
      spdlog::info("steering: state restored from {}", state_path_);
    }
  }
  if (state_store_) {
    log_ = dr::EventLog::over(state_store_);
  } else if (!events_path_.empty()) {
    auto log = dr::EventLog::open(events_path_);
    if (!log) {
      return Error{"steering: event log: " + log.error()};
    }
    log_ = std::move(*log);
    if (log_->repaired_bytes() > 0) {
      spdlog::warn("steering: event log {}: cut off a torn last line ({} bytes)", events_path_,
                   log_->repaired_bytes());
    }
  }
  actions_.configure(std::make_shared<dr::ActionsSpec>(loaded.actions));
  actions_.start();
  process_locked("startup");
  started_ = true;
  thread_ = std::thread([this] { loop(); });
  size_t sets = base_->steering_spec ? base_->steering_spec->record_sets.size() : 0;
  spdlog::info("steering: {} record sets, {} actions{}", sets, loaded.actions.count(),
               state_path_.empty() ? "; state not persisted (no health state file)"
                                   : "; state " + state_path_ + ", events " + events_path_);
  return OkStatus();
}

Status SteeringService::check(const config::LoadedConfig& loaded) const {
  if (!loaded.runtime || !loaded.runtime->steering_spec) {
    return OkStatus();
  }
  policy::CompileInputs in;
  in.spec = loaded.runtime->steering_spec.get();
  auto t = policy::compile(in);
  if (!t) {
    return Error{"steering: " + t.error()};
  }
  return OkStatus();
}

Status SteeringService::apply(const config::LoadedConfig& loaded,
                              const Snapshot<health::HealthView>* view) {
  std::lock_guard lk(mu_);
  base_ = loaded.runtime;
  checks_ = loaded.health_checks;
  view_ = view;
  orch_.configure(base_->steering_spec);
  actions_.configure(std::make_shared<dr::ActionsSpec>(loaded.actions));
  process_locked("reload");
  return OkStatus();
}

void SteeringService::health_changed() {
  {
    std::lock_guard lk(mu_);
    dirty_ = true;
  }
  cv_.notify_all();
}

void SteeringService::stop() {
  {
    std::lock_guard lk(mu_);
    if (stopping_) {
      return;
    }
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  }
  actions_.stop();  // audits what it drops, into the log that is still open
  std::lock_guard lk(mu_);
  if (started_) {
    save_locked();
  }
}

void SteeringService::loop() {
  std::unique_lock lk(mu_);
  while (!stopping_) {
    Millis due = orch_.next_due_ms();
    uint64_t seen = generation_;
    auto woken = [this, seen] { return stopping_ || dirty_ || generation_ != seen; };
    if (!dirty_) {
      if (due < 0) {
        cv_.wait(lk, woken);
      } else {
        Millis left = due - clock_.now_ms();
        if (left > 0) {
          cv_.wait_for(lk, std::chrono::milliseconds(left), woken);
        }
      }
    }
    if (stopping_) {
      break;
    }
    bool health = dirty_;
    dirty_ = false;
    if (health || (due >= 0 && clock_.now_ms() >= due)) {
      process_locked(health ? "health change" : "timer");
    }
  }
}

void SteeringService::process_locked(const char* why) {
  if (!base_) {
    return;
  }
  auto t0 = std::chrono::steady_clock::now();
  std::shared_ptr<const health::HealthView> view = view_ ? view_->load() : nullptr;
  if (base_->steering_spec && !base_->steering_spec->record_sets.empty()) {
    // The orchestrator decides on health as overrides amend it (a check forced down fails
    // over like a failed one), then the final table carries its decision.
    policy::Overrides ov = orch_.overrides();
    // update() expires overrides first; when one expired, decide again on health without it.
    for (int pass = 0; pass < 2; ++pass) {
      policy::Overrides cov = ov;
      auto hv = effective_locked(view, cov);
      auto health_only = policy::compile(inputs_locked(hv.get(), nullptr, &cov));
      if (!health_only) {
        spdlog::error("steering: cannot compile ({}); the previous table keeps serving",
                      health_only.error());
        flush_events_locked();
        return;
      }
      orch_.update(**health_only);
      policy::Overrides after = orch_.overrides();
      bool same = after.checks == ov.checks && after.members == ov.members &&
                  after.drain == ov.drain && after.sets == ov.sets;
      ov = std::move(after);
      if (same) {
        break;
      }
    }
    auto state = orch_.state();
    auto hv = effective_locked(view, ov);
    auto table = policy::compile(inputs_locked(hv.get(), &state, &ov));
    if (!table) {
      spdlog::error("steering: cannot compile ({}); the previous table keeps serving",
                    table.error());
      flush_events_locked();
      return;
    }
    auto rc = std::make_shared<config::RuntimeConfig>(*base_);
    rc->steering = std::move(*table);
    snapshot_.publish(filter_ ? filter_(std::move(rc)) : std::move(rc));
  } else {
    snapshot_.publish(filter_ ? filter_(base_) : base_);
  }
  if (after_publish_) {
    after_publish_();
  }
  double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  spdlog::debug("steering: table published ({}) in {:.2f} ms", why, ms);
  save_locked();
  flush_events_locked();
  // The steering thread may be waiting for an older due time (a control command ran this).
  ++generation_;
  cv_.notify_all();
}

void SteeringService::save_locked() {
  if (state_path_.empty()) {
    return;
  }
  std::string text = orch_.save();
  if (text == last_saved_) {
    return;
  }
  Status st =
      state_store_ ? state_store_->put("steering", text) : write_file_atomically(state_path_, text);
  if (!st) {
    spdlog::error("steering: state not saved: {}", st.error());
    return;
  }
  last_saved_ = std::move(text);
}

void SteeringService::flush_events_locked() {
  std::vector<dr::Event> events;
  {
    std::lock_guard lk(ev_mu_);
    events.swap(pending_);
  }
  for (const auto& e : events) {
    record(e, true);
  }
}

void SteeringService::record(const dr::Event& e, bool run_actions) {
  bool loud = e.type == "failover" || e.type == "all_down" || e.type == "flap_frozen" ||
              e.type == "failback_rolled_back" || e.type == "action_failed" ||
              e.type == "action_dropped";
  std::string tiers = e.from_tier != 0 || e.to_tier != 0
                          ? fmt::format(" (tier {} -> {})", e.from_tier, e.to_tier)
                          : "";
  spdlog::log(loud ? spdlog::level::warn : spdlog::level::info, "steering: {} {}{}: {} [{}]",
              e.type, e.target, tiers, e.cause, e.actor);
  if (log_) {
    if (auto st = log_->append(e); !st) {
      spdlog::error("steering: event not logged: {}", st.error());
    }
  }
  {
    std::lock_guard lk(ev_mu_);
    recent_.push_back(e);
    if (recent_.size() > kRecentEvents) {
      recent_.pop_front();
    }
  }
  if (run_actions) {
    actions_.submit(e);
  }
}

// ---- control ----

Result<std::string> SteeringService::resolve_set_locked(const std::string& text) const {
  if (!base_ || !base_->steering_spec) {
    return Error{"no steered record sets are configured"};
  }
  std::string name = lower(text);
  std::string type;
  if (auto slash = name.rfind('/'); slash != std::string::npos) {
    type = name.substr(slash + 1);
    name = name.substr(0, slash);
  }
  if (name.empty() || name.back() != '.') {
    name += '.';
  }
  std::vector<std::string> matches;
  for (const auto& rs : base_->steering_spec->record_sets) {
    std::string key = rs.key();
    auto slash = key.rfind('/');
    if (lower(key.substr(0, slash)) == name &&
        (type.empty() || lower(key.substr(slash + 1)) == type)) {
      matches.push_back(key);
    }
  }
  if (matches.size() == 1) {
    return matches[0];
  }
  if (matches.empty()) {
    return Error{"no steered record set '" + text + "' (give NAME/TYPE, e.g. app.example.test/A)"};
  }
  std::string all;
  for (const auto& m : matches) {
    all += (all.empty() ? "" : ", ") + m;
  }
  return Error{"'" + text + "' names several record sets (" + all + "): add /TYPE"};
}

Result<std::string> SteeringService::resolve_member_locked(const std::string& text) const {
  auto hash = text.rfind('#');
  if (hash == std::string::npos || hash == 0 || hash + 1 == text.size()) {
    return Error{"a member is named SET#SET_ID, e.g. app.example.test/A#primary, not '" + text +
                 "'"};
  }
  auto key = resolve_set_locked(text.substr(0, hash));
  if (!key) {
    return Error{key.error()};
  }
  std::string id = text.substr(hash + 1);
  const policy::RecordSet* rs = set_locked(*key);
  if (rs == nullptr) {
    return Error{"no steered record set " + *key};
  }
  std::string ids;
  for (const auto& m : rs->members) {
    if (m.set_id == id) {
      return *key + "#" + id;
    }
    ids += (ids.empty() ? "" : ", ") + m.set_id;
  }
  return Error{"record set " + *key + " has no member '" + id + "' (members: " + ids + ")"};
}

// The record set with this key: the loader's table indexes them (ids are positions in the
// spec), so status for thousands of sets is not a quadratic scan building key strings.
const policy::RecordSet* SteeringService::set_locked(const std::string& key) const {
  if (!base_ || !base_->steering_spec || !base_->steering) {
    return nullptr;
  }
  uint32_t id = base_->steering->id_of(key);
  return id == policy::kNoSteer ? nullptr : &base_->steering_spec->record_sets[id];
}

Status SteeringService::known_check_locked(const std::string& id) const {
  std::shared_ptr<const health::HealthView> view = view_ ? view_->load() : nullptr;
  if (view && view->index_of(id) >= 0) {
    return OkStatus();
  }
  if (base_ && base_->steering_spec) {
    for (const auto& rs : base_->steering_spec->record_sets) {
      for (const auto& m : rs.members) {
        if (m.health_check == id) {
          return OkStatus();
        }
      }
    }
  }
  return Error{"no health check '" + id + "'"};
}

Result<json> SteeringService::command(const json& req) {
  if (!req.is_object()) {
    return Error{"steering request is not a JSON object"};
  }
  std::string cmd = str_field(req, "cmd");
  if (cmd == "status") {
    return status_json();
  }
  if (cmd == "override-set") {
    return set_override(req);
  }
  if (cmd == "override-clear") {
    return clear_override(req);
  }
  if (cmd == "override-list") {
    return overrides_json();
  }
  if (cmd == "failback-approve") {
    return approve(req);
  }
  if (cmd == "events") {
    return events(req);
  }
  if (cmd == "explain") {
    return explain(req);
  }
  if (cmd == "simulate") {
    return simulate(req);
  }
  if (cmd == "record-event") {
    // An event from outside the orchestrator (a drill's result) into the same log.
    auto it = req.find("event");
    if (it == req.end() || !it->is_object()) {
      return Error{"record-event: 'event' must be an object"};
    }
    auto e = dr::event_from_json_line(it->dump());
    if (!e) {
      return Error{"record-event: " + e.error()};
    }
    record(*e, false);
    return json{{"recorded", events_path_.empty() ? "memory" : events_path_}};
  }
  return Error{"unknown steering command '" + cmd +
               "' (known: status, override-set, override-clear, override-list, "
               "failback-approve, events, explain, simulate, record-event)"};
}

// The last drills (events of type "drill", written by `steerdns drill`), newest last, with
// the result JSON the drill put in the cause, so the status report shows DR test results.
json SteeringService::recent_drills(size_t n) const {
  json out = json::array();
  if (!log_) {
    return out;
  }
  auto r = log_->read_last(2000);  // drills are rare: look back over recent history only
  if (!r) {
    return out;
  }
  std::vector<const dr::Event*> drills;
  for (const auto& e : r->events) {
    if (e.type == "drill") {
      drills.push_back(&e);
    }
  }
  size_t from = drills.size() > n ? drills.size() - n : 0;
  for (size_t i = from; i < drills.size(); ++i) {
    json d{{"time_ms", drills[i]->wall_ms}, {"actor", drills[i]->actor}};
    json result = json::parse(drills[i]->cause, nullptr, false);
    d["result"] = result.is_discarded() ? json(drills[i]->cause) : result;
    out.push_back(std::move(d));
  }
  return out;
}

json SteeringService::status_json() const {
  json drills = recent_drills(5);
  std::lock_guard lk(mu_);
  Millis now_wall = clock_.wall_ms();
  auto overrides = orch_.list_overrides();
  json sets = json::array();
  for (const auto& s : orch_.status()) {
    const policy::RecordSet* rs = set_locked(s.key);
    json ov = json::array();
    for (const auto& o : overrides) {
      if (concerns(o, rs, s.key, checks_)) {
        ov.push_back(override_json(o, now_wall));
      }
    }
    json j{{"set", s.key},
           {"phase", dr::phase_name(s.phase)},
           {"active_tier", s.active_tier},
           {"healthy_tier", s.healthy_tier},
           {"ttl", s.ttl},
           {"since_wall_ms", s.since_wall_ms},
           {"reason", s.reason},
           {"frozen", s.frozen},
           {"awaiting_approval", s.awaiting_approval},
           {"ramp_share", s.ramp_share},
           {"recent_transitions", s.recent_transitions_wall_ms.size()},
           {"overrides", ov}};
    if (rs != nullptr) {
      j["failback"] = policy::failback_name(rs->failback);
      j["set_ttl"] = rs->ttl;
      j["failover_ttl"] = rs->failover_ttl;
    }
    sets.push_back(std::move(j));
  }
  json all = json::array();
  for (const auto& o : overrides) {
    all.push_back(override_json(o, now_wall));
  }
  size_t steered = base_ && base_->steering_spec ? base_->steering_spec->record_sets.size() : 0;
  return json{{"now_wall_ms", now_wall},
              {"steered_sets", steered},
              {"sets", sets},
              {"overrides", all},
              {"state_file", state_path_},
              {"event_log", events_path_},
              {"drills", std::move(drills)},
              {"actions_pending", actions_.pending()}};
}

Result<json> SteeringService::set_override(const json& req) {
  std::lock_guard lk(mu_);
  auto scope = parse_scope(str_field(req, "scope"));
  if (!scope) {
    return Error{"override: " + scope.error()};
  }
  dr::Override o;
  o.scope = *scope;
  std::string target = str_field(req, "target");
  if (o.scope == dr::OverrideScope::kCheck) {
    if (auto st = known_check_locked(target); !st) {
      return Error{"override: " + st.error()};
    }
    o.target = target;
  } else {
    auto t = o.scope == dr::OverrideScope::kMember ? resolve_member_locked(target)
                                                   : resolve_set_locked(target);
    if (!t) {
      return Error{"override: " + t.error()};
    }
    o.target = *t;
  }
  std::string action = str_field(req, "action");
  if (action == "up") {
    o.action = dr::OverrideAction::kForceUp;
  } else if (action == "down") {
    o.action = dr::OverrideAction::kForceDown;
  } else if (action == "drain") {
    o.action = dr::OverrideAction::kDrain;
  } else {
    return Error{"override: --action '" + action + "' is not up, down or drain"};
  }
  o.reason = str_field(req, "reason");
  o.author = str_field(req, "author");
  std::string expires = str_field(req, "expires");
  if (expires.empty()) {
    return Error{"override: --expires DURATION is required (an override never lasts forever)"};
  }
  auto ex = config::parse_duration_ms(expires);
  if (!ex || *ex <= 0) {
    return Error{"override: --expires '" + expires +
                 "': " + (ex ? std::string("must be more than 0") : ex.error())};
  }
  o.created_wall_ms = clock_.wall_ms();
  o.expires_wall_ms = o.created_wall_ms + *ex;
  if (std::string d = str_field(req, "drain"); !d.empty()) {
    auto dm = config::parse_duration_ms(d);
    if (!dm) {
      return Error{"override: --drain '" + d + "': " + dm.error()};
    }
    o.drain_ms = *dm;
  }
  json reply = override_json(o, o.created_wall_ms);
  if (auto st = orch_.set_override(o); !st) {
    return Error{st.error()};
  }
  process_locked("override");
  return reply;
}

Result<json> SteeringService::clear_override(const json& req) {
  std::lock_guard lk(mu_);
  auto scope = parse_scope(str_field(req, "scope"));
  if (!scope) {
    return Error{"override clear: " + scope.error()};
  }
  std::string target = str_field(req, "target");
  if (*scope == dr::OverrideScope::kMember) {
    auto t = resolve_member_locked(target);
    if (!t) {
      return Error{"override clear: " + t.error()};
    }
    target = *t;
  } else if (*scope == dr::OverrideScope::kRecordSet) {
    auto t = resolve_set_locked(target);
    if (!t) {
      return Error{"override clear: " + t.error()};
    }
    target = *t;
  }
  std::string author = str_field(req, "author");
  if (author.empty()) {
    return Error{"override clear: --author NAME is required"};
  }
  if (auto st = orch_.clear_override(*scope, target, author); !st) {
    return Error{st.error()};
  }
  process_locked("override cleared");
  return json{{"scope", scope_text(*scope)}, {"target", target}, {"cleared", true}};
}

json SteeringService::overrides_json() const {
  std::lock_guard lk(mu_);
  Millis now_wall = clock_.wall_ms();
  json all = json::array();
  for (const auto& o : orch_.list_overrides()) {
    all.push_back(override_json(o, now_wall));
  }
  return json{{"overrides", all}};
}

Result<json> SteeringService::approve(const json& req) {
  std::lock_guard lk(mu_);
  auto key = resolve_set_locked(str_field(req, "set"));
  if (!key) {
    return Error{"failback approve: " + key.error()};
  }
  std::string author = str_field(req, "author");
  if (author.empty()) {
    return Error{"failback approve: --author NAME is required"};
  }
  if (auto st = orch_.approve_failback(*key, author); !st) {
    return Error{st.error()};
  }
  process_locked("failback approved");
  return json{{"set", *key}, {"approved_by", author}};
}

Result<json> SteeringService::events(const json& req) const {
  size_t last = 20;
  if (auto it = req.find("last"); it != req.end() && it->is_number_unsigned()) {
    last = it->get<size_t>();
  }
  std::vector<dr::Event> list;
  std::string warning;
  if (log_) {
    auto r = log_->read_last(last);
    if (!r) {
      return Error{"events: " + r.error()};
    }
    list = std::move(r->events);
    warning = r->warning;
  } else {
    std::lock_guard lk(ev_mu_);
    size_t from = last == 0 || recent_.size() <= last ? 0 : recent_.size() - last;
    list.assign(recent_.begin() + static_cast<std::ptrdiff_t>(from), recent_.end());
  }
  json out = json::array();
  for (const auto& e : list) {
    out.push_back(event_json(e));
  }
  json j{{"events", out}, {"source", log_ ? events_path_ : "memory (no event log)"}};
  if (!warning.empty()) {
    j["warning"] = warning;
  }
  return j;
}

Result<json> SteeringService::explain(const json& req) const {
  std::lock_guard lk(mu_);
  std::string name = str_field(req, "name");
  std::string type_text = str_field(req, "type");
  auto type = dns::type_from_text(type_text);
  if (!type) {
    return Error{"explain: '" + type_text + "' is not a record type"};
  }
  auto key = resolve_set_locked(name + "/" + dns::type_to_text(*type));
  if (!key) {
    return Error{"explain: " + key.error()};
  }
  std::string ecs = str_field(req, "ecs");
  auto client = policy::parse_client(ecs.empty() ? str_field(req, "client") : ecs, !ecs.empty());
  if (!client) {
    return Error{"explain: " + client.error()};
  }
  std::shared_ptr<const health::HealthView> view = view_ ? view_->load() : nullptr;
  auto state = orch_.state();
  auto ov = orch_.overrides();
  auto hv = effective_locked(view, ov);
  auto j = policy::explain(inputs_locked(hv.get(), &state, &ov), *key, *client);
  if (!j) {
    return Error{j.error()};
  }
  // The thresholds behind each member's check (the table knows statuses, not specs).
  if (auto mit = j->find("members"); mit != j->end() && mit->is_array()) {
    for (auto& m : *mit) {
      if (!m.contains("check")) {
        continue;
      }
      auto id = m["check"].value("id", std::string());
      for (const auto& c : checks_) {
        if (c.id != id) {
          continue;
        }
        json spec{{"kind", health::kind_name(c.kind)},
                  {"interval_ms", c.interval_ms},
                  {"timeout_ms", c.timeout_ms},
                  {"failure_threshold", c.failure_threshold},
                  {"success_threshold", c.success_threshold},
                  {"recheck_ms", c.recheck_ms},
                  {"confirm_probes", c.confirm_probes},
                  {"inverted", c.inverted},
                  {"disabled", c.disabled}};
        if (c.kind == health::Kind::kCalculated) {
          spec["children"] = c.calculated.children;
          spec["healthy_threshold"] = c.calculated.healthy_threshold;
        }
        m["check"]["spec"] = std::move(spec);
      }
    }
  }
  for (const auto& s : orch_.status()) {
    if (s.key == *key) {
      (*j)["orchestration"] = {{"phase", dr::phase_name(s.phase)},
                               {"active_tier", s.active_tier},
                               {"healthy_tier", s.healthy_tier},
                               {"since_wall_ms", s.since_wall_ms},
                               {"reason", s.reason},
                               {"frozen", s.frozen},
                               {"awaiting_approval", s.awaiting_approval},
                               {"ttl", s.ttl}};
    }
  }
  Millis now_wall = clock_.wall_ms();
  const policy::RecordSet* rs = set_locked(*key);
  json ovj = json::array();
  for (const auto& o : orch_.list_overrides()) {
    if (concerns(o, rs, *key, checks_)) {
      ovj.push_back(override_json(o, now_wall));
    }
  }
  (*j)["overrides"] = ovj;
  return j;
}

Result<json> SteeringService::simulate(const json& req) const {
  std::lock_guard lk(mu_);
  if (!base_ || !base_->steering_spec) {
    return Error{"simulate: no steered record sets are configured"};
  }
  std::vector<std::string> down;
  if (auto it = req.find("down"); it != req.end() && it->is_array()) {
    for (const auto& d : *it) {
      if (d.is_string()) {
        down.push_back(d.get<std::string>());
      }
    }
  }
  if (down.empty()) {
    return Error{"simulate: give at least one --down CHECK"};
  }
  for (const auto& d : down) {
    if (auto st = known_check_locked(d); !st) {
      return Error{"simulate: " + st.error()};
    }
  }
  std::string ecs = str_field(req, "ecs");
  auto client = policy::parse_client(ecs.empty() ? str_field(req, "client") : ecs, !ecs.empty());
  if (!client) {
    return Error{"simulate: " + client.error()};
  }
  std::shared_ptr<const health::HealthView> view = view_ ? view_->load() : nullptr;
  auto state = orch_.state();
  auto ov = orch_.overrides();
  policy::Overrides before_ov = ov;
  auto before_view = effective_locked(view, before_ov);
  auto before = policy::compile(inputs_locked(before_view.get(), &state, &before_ov));
  if (!before) {
    return Error{"simulate: " + before.error()};
  }
  // What the orchestrator would decide with these checks down, on a scratch copy of its state:
  // the live one (and its events, actions, state file) is not touched.
  dr::Orchestrator scratch(clock_);
  scratch.configure(base_->steering_spec);
  if (auto st = scratch.restore(orch_.save()); !st) {
    return Error{"simulate: " + st.error()};
  }
  // The checks go down as an override would take them down: through calculated parents too.
  policy::Overrides what_if = ov;
  auto what_if_view = effective_locked(view, what_if, down);
  auto health_only = policy::compile(inputs_locked(what_if_view.get(), nullptr, &what_if));
  if (!health_only) {
    return Error{"simulate: " + health_only.error()};
  }
  scratch.update(**health_only);
  auto after_state = scratch.state();
  auto after = policy::compile(inputs_locked(what_if_view.get(), &after_state, &what_if));
  if (!after) {
    return Error{"simulate: " + after.error()};
  }
  std::map<std::string, dr::SetStatus> after_status;
  for (auto& s : scratch.status()) {
    after_status.emplace(s.key, s);
  }
  json sets = json::array();
  const auto& specs = base_->steering_spec->record_sets;
  for (size_t i = 0; i < specs.size(); ++i) {
    const auto& rs = specs[i];
    std::string key = rs.key();
    uint32_t bid = (*before)->id_of(key);
    uint32_t aid = (*after)->id_of(key);
    if (bid == policy::kNoSteer || aid == policy::kNoSteer) {
      continue;
    }
    json b = policy::selection_json((*before)->select(bid, *client, 0), rs.type);
    json a = policy::selection_json((*after)->select(aid, *client, 0), rs.type);
    json s{{"set", key}, {"before", b}, {"after", a}, {"changed", a != b}};
    if (auto it = after_status.find(key); it != after_status.end()) {
      s["after_phase"] = dr::phase_name(it->second.phase);
      s["after_tier"] = it->second.active_tier;
    }
    sets.push_back(std::move(s));
  }
  return json{{"forced_down", down}, {"sets", sets}};
}

}  // namespace steerdns::daemon
