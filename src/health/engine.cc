#include "health/engine.h"

#include <sys/stat.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cctype>
#include <fstream>
#include <nlohmann/json.hpp>
#include <unordered_set>

namespace steerdns::health {
namespace {

// FNV-1a: a stable hash, so a check's phase in its interval is the same on every run and
// every machine (repeatable tests, predictable spread).
uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

bool is_probed(const CheckSpec& s) {
  return !s.disabled && s.kind != Kind::kCalculated && s.kind != Kind::kExternal;
}

// Everything except identity (what is probed) and `where`; equal settings mean "unchanged".
bool same_settings(const CheckSpec& a, const CheckSpec& b) {
  return a.interval_ms == b.interval_ms && a.timeout_ms == b.timeout_ms &&
         a.recheck_ms == b.recheck_ms && a.failure_threshold == b.failure_threshold &&
         a.success_threshold == b.success_threshold && a.confirm_probes == b.confirm_probes &&
         a.initial == b.initial && a.initial_wait_ms == b.initial_wait_ms &&
         a.max_state_age_ms == b.max_state_age_ms && a.aggregation == b.aggregation &&
         a.calculated.children == b.calculated.children &&
         a.calculated.healthy_threshold == b.calculated.healthy_threshold &&
         a.external.stale_after_ms == b.external.stale_after_ms &&
         a.external.stale_state == b.external.stale_state;
}

Status flip(Status s) {
  if (s == Status::kHealthy) {
    return Status::kUnhealthy;
  }
  if (s == Status::kUnhealthy) {
    return Status::kHealthy;
  }
  return s;
}

std::string ms_text(Millis ms) { return std::to_string(ms) + "ms"; }

}  // namespace

Engine::Engine(boost::asio::io_context& io, Clock& clock, Prober& prober, EngineOptions opts)
    : io_(io), clock_(clock), prober_(prober), opts_(std::move(opts)), timer_(io) {
  if (opts_.max_concurrent_probes == 0) {
    opts_.max_concurrent_probes = 1;
  }
  if (opts_.state_store || !opts_.state_file.empty()) {
    state_file_ = opts_.state_store ? std::make_unique<StateFile>(opts_.state_store, "health")
                                    : std::make_unique<StateFile>(opts_.state_file);
    auto loaded = state_file_->load();
    if (loaded.ok()) {
      persisted_ = std::move(loaded.value());
    } else {
      // Start from the configured initial states; the next save replaces the bad file.
      state_warning_ = loaded.error() + " (ignored; checks start from their initial state)";
    }
  }
  view_.publish(std::make_shared<HealthView>());
}

Engine::~Engine() { alive_.reset(); }

std::string Engine::identity(const CheckSpec& s) const {
  return nlohmann::json::array({kind_name(s.kind), s.probe_key(), s.inverted, s.disabled,
                                s.external.file, s.probed_here})
      .dump();
}

void Engine::push_timer(Millis due, TimerType t, const std::string& name, uint64_t gen) {
  timers_.push(TimerEntry{due, ++seq_, t, name, gen});
}

Millis Engine::aligned_due(const std::string& key, Millis interval, Millis now) const {
  // The next time at least interval/2 away that sits on this probe's phase: checks stay
  // spread over the interval and return to their slot after a fast-confirmation burst.
  Millis phase = static_cast<Millis>(fnv1a(key) % static_cast<uint64_t>(interval));
  Millis base = now + interval / 2;
  Millis r = ((base - phase) % interval + interval) % interval;
  return r == 0 ? base : base + (interval - r);
}

void Engine::schedule_probe(Probe& p, Millis now) {
  Millis due = -1;
  for (const auto& id : p.subscribers) {
    auto it = checks_.find(id);
    if (it != checks_.end() && it->second.desired_due >= 0) {
      due = due < 0 ? it->second.desired_due : std::min(due, it->second.desired_due);
    }
  }
  if (due < 0) {
    return;
  }
  p.due = std::max(due, now);
  push_timer(p.due, TimerType::kProbe, p.key, p.gen);
}

bool Engine::wants_pair(const Probe& p) const {
  for (const auto& id : p.subscribers) {
    auto it = checks_.find(id);
    if (it == checks_.end() || it->second.spec.confirm_probes < 2) {
      continue;
    }
    auto cs = it->second.checkers.find(opts_.checker_id);
    if (cs != it->second.checkers.end() && cs->second.tracker.confirming()) {
      return true;
    }
  }
  return false;
}

void Engine::launch_or_wait(Probe& p, After& after) {
  int n = wants_pair(p) ? 2 : 1;
  // A pair waits for room for both, unless nothing is in flight (a cap of 1 must not starve it).
  if (in_flight_ > 0 && in_flight_ + n > opts_.max_concurrent_probes) {
    p.waiting = true;
    waiting_.push_back(p.key);
    return;
  }
  p.in_flight = true;
  p.outstanding = n;
  p.results.assign(n, ProbeResult{});
  in_flight_ += n;
  probes_started_ += n;
  for (int i = 0; i < n; ++i) {
    after.launches.push_back(Launch{p.spec, p.key, p.gen, i});
  }
}

void Engine::drain_waiting(After& after) {
  while (in_flight_ < opts_.max_concurrent_probes && !waiting_.empty()) {
    auto it = probes_.find(waiting_.front());
    if (it == probes_.end() || !it->second.waiting) {
      waiting_.pop_front();
      continue;
    }
    it->second.waiting = false;
    launch_or_wait(it->second, after);
    if (it->second.waiting) {
      // A pair still lacks room: it keeps its place at the front (launch_or_wait re-queued it
      // at the back) and the queue waits.
      waiting_.pop_back();
      break;
    }
    waiting_.pop_front();
  }
}

void Engine::create_check(Check& c, Millis now, Millis wall) {
  const CheckSpec& s = c.spec;
  c.gen = ++gen_;
  c.key = is_probed(s) && s.probed_here ? s.probe_key() : "";
  c.state = CheckState{};
  c.state.since_wall_ms = wall;
  if (s.disabled) {
    c.state.status = Status::kHealthy;
    c.state.source = Source::kDisabled;
    return;
  }
  if (s.kind == Kind::kCalculated) {
    c.state.status = Status::kUnknown;
    c.state.source = Source::kCalculated;
    return;
  }
  Status init = s.initial;
  int ok = 0;
  int fail = 0;
  c.state.source = Source::kInitial;
  if (persisted_) {
    auto it = persisted_->find(s.id);
    if (it != persisted_->end()) {
      const PersistedCheck& p = it->second;
      if (p.identity == identity(s) && p.status != Status::kUnknown &&
          wall - p.updated_wall_ms <= s.max_state_age_ms) {
        init = p.status;
        ok = p.consecutive_ok;
        fail = p.consecutive_fail;
        c.state.source = Source::kPersisted;
        c.state.since_wall_ms = p.since_wall_ms;
        c.state.last_failure_reason = p.last_failure_reason;
        c.state.cert_days_left = p.cert_days_left;
        c.transitions = p.transitions;
        c.updated_wall_ms = p.updated_wall_ms;
      }
    }
  }
  c.state.status = init;
  if (is_probed(s) && !s.probed_here) {
    // Another site runs it: no local checker; the peers' views decide (set_peer_view).
  } else if (s.kind == Kind::kExternal) {
    c.ext_updated_ms = now;
    if (s.external.stale_after_ms > 0) {
      push_timer(now + s.external.stale_after_ms, TimerType::kStale, s.id, c.gen);
    }
    if (!s.external.file.empty()) {
      push_timer(now, TimerType::kFilePoll, s.id, c.gen);
    }
  } else {
    Tracker t(TrackerParams::of(s), init);
    t.restore(init, ok, fail);
    c.checkers.emplace(opts_.checker_id, CheckerState{t, 0, ""});
    c.state.consecutive_ok = t.consecutive_ok();
    c.state.consecutive_fail = t.consecutive_fail();
    // Eager first round: every check is probed within a second of starting (standbys too),
    // spread by its phase so thousands of checks do not fire at once.
    Millis spread = std::min<Millis>(s.interval_ms, 1'000);
    c.desired_due = now + static_cast<Millis>(fnv1a(c.key) % static_cast<uint64_t>(spread));
  }
  if (init == Status::kUnknown) {
    push_timer(now + s.initial_wait_ms, TimerType::kInitialWait, s.id, c.gen);
  }
}

steerdns::Status Engine::configure(std::vector<CheckSpec> specs) {
  auto st = validate_all(specs);
  if (!st) {
    return st;
  }
  After after;
  {
    std::lock_guard lk(mu_);
    Millis now = clock_.now_ms();
    Millis wall = clock_.wall_ms();
    std::unordered_map<std::string, Check> next;
    std::vector<std::string> order;
    std::vector<std::string> fresh;
    std::vector<std::string> retuned;  // same target, new settings (e.g. aggregation rule)
    for (auto& spec : specs) {
      order.push_back(spec.id);
      auto it = checks_.find(spec.id);
      Check c;
      if (it != checks_.end() && identity(it->second.spec) == identity(spec)) {
        c = std::move(it->second);
        bool same = same_settings(c.spec, spec);
        c.spec = std::move(spec);
        if (!same) {
          retuned.push_back(c.spec.id);
          for (auto& [name, cs] : c.checkers) {
            cs.tracker.set_params(TrackerParams::of(c.spec));
          }
          if (!c.key.empty()) {
            const Tracker& t = c.checkers.at(opts_.checker_id).tracker;
            Millis want = t.confirming() && c.spec.recheck_ms < c.spec.interval_ms
                              ? now + c.spec.recheck_ms
                              : aligned_due(c.key, c.spec.interval_ms, now);
            c.desired_due = c.desired_due < 0 ? want : std::min(c.desired_due, want);
          }
          if (c.spec.kind == Kind::kExternal && c.spec.external.stale_after_ms > 0) {
            push_timer(c.ext_updated_ms + c.spec.external.stale_after_ms, TimerType::kStale,
                       c.spec.id, c.gen);
          }
        }
      } else {
        c.spec = std::move(spec);
        fresh.push_back(c.spec.id);
        if (it != checks_.end()) {
          c.latency = std::move(it->second.latency);  // metrics are per id, whatever the target
        }
      }
      c.parents.clear();
      std::string id = c.spec.id;
      next.emplace(id, std::move(c));
    }
    checks_ = std::move(next);
    order_ = std::move(order);
    ordered_.clear();
    for (const auto& id : order_) {
      ordered_.push_back(&checks_.at(id));
    }
    for (const auto& id : fresh) {
      create_check(checks_.at(id), now, wall);
    }
    configured_ = true;
    persisted_.reset();  // persisted state applies to the first configuration only

    // Parents and an evaluation order for calculated checks (children first).
    for (const auto& id : order_) {
      const Check& c = checks_.at(id);
      if (c.spec.kind == Kind::kCalculated) {
        for (const auto& ch : c.spec.calculated.children) {
          checks_.at(ch).parents.push_back(id);
        }
      }
    }
    calc_order_.clear();
    std::unordered_set<std::string> done;
    std::function<void(const std::string&)> visit = [&](const std::string& id) {
      if (!done.insert(id).second) {
        return;
      }
      const Check& c = checks_.at(id);
      if (c.spec.kind != Kind::kCalculated) {
        return;
      }
      for (const auto& ch : c.spec.calculated.children) {
        visit(ch);
      }
      calc_order_.push_back(id);
    };
    for (const auto& id : order_) {
      visit(id);
    }

    // Probes: one per distinct key. Kept probes keep their schedule and in-flight state.
    std::unordered_map<std::string, Probe> probes;
    for (const auto& id : order_) {
      const Check& c = checks_.at(id);
      if (c.key.empty()) {
        continue;
      }
      auto [it, added] = probes.try_emplace(c.key);
      Probe& p = it->second;
      if (added) {
        auto old = probes_.find(c.key);
        if (old != probes_.end()) {
          p = std::move(old->second);
          p.subscribers.clear();
        } else {
          p.key = c.key;
          p.gen = ++gen_;
          p.spec = std::make_shared<const CheckSpec>(c.spec);
        }
      }
      p.subscribers.push_back(id);
    }
    probes_ = std::move(probes);
    for (auto& [key, p] : probes_) {
      if (p.in_flight || p.waiting) {
        continue;
      }
      Millis before = p.due;
      Millis due = -1;
      for (const auto& id : p.subscribers) {
        Millis d = checks_.at(id).desired_due;
        if (d >= 0) {
          due = due < 0 ? d : std::min(due, d);
        }
      }
      if (due >= 0 && due != before) {
        schedule_probe(p, now);
      }
    }
    for (const auto& id : retuned) {
      Check& c = checks_.at(id);
      if (!c.key.empty()) {
        recompute(c, "configuration changed", after);
      }
    }
    std::unordered_set<std::string> is_fresh(fresh.begin(), fresh.end());
    for (const auto& id : calc_order_) {
      Check& c = checks_.at(id);
      if (is_fresh.count(id) && !c.spec.disabled) {
        c.state.status = calculated_status(c);  // a starting value, not a transition
      } else {
        recompute(c, "configuration changed", after);
      }
    }
    view_dirty_ = true;
    after.local_changed = true;  // checks came or went: peers learn the new list
    end_locked(after);
  }
  finish(after);
  return OkStatus();
}

void Engine::start() {
  {
    std::lock_guard lk(mu_);
    started_ = true;
    armed_due_ = -1;
    kick_posted_ = false;
  }
  auto w = std::weak_ptr<int>(alive_);
  boost::asio::post(io_, [this, w] {
    if (!w.lock()) {
      return;
    }
    run_due();
    rearm();
  });
}

void Engine::stop() {
  {
    std::lock_guard lk(mu_);
    started_ = false;
  }
  if (io_.stopped()) {
    timer_.cancel();
  } else {
    auto w = std::weak_ptr<int>(alive_);
    boost::asio::post(io_, [this, w] {
      if (w.lock()) {
        timer_.cancel();
      }
    });
  }
  if (state_file_) {
    (void)save_state();
  }
}

void Engine::kick() {
  Millis next;
  {
    std::lock_guard lk(mu_);
    if (!started_ || timers_.empty() || kick_posted_) {
      return;
    }
    next = timers_.top().due;
    if (armed_due_ >= 0 && next >= armed_due_) {
      return;
    }
    kick_posted_ = true;
  }
  auto w = std::weak_ptr<int>(alive_);
  boost::asio::post(io_, [this, w] {
    if (w.lock()) {
      rearm();
    }
  });
}

void Engine::rearm() {
  Millis next;
  {
    std::lock_guard lk(mu_);
    kick_posted_ = false;
    if (!started_) {
      return;
    }
    next = timers_.empty() ? -1 : timers_.top().due;
    armed_due_ = next;
  }
  if (next < 0) {
    timer_.cancel();
    return;
  }
  Millis delay = std::max<Millis>(0, next - clock_.now_ms());
  timer_.expires_after(std::chrono::milliseconds(delay));
  auto w = std::weak_ptr<int>(alive_);
  timer_.async_wait([this, w](const boost::system::error_code& ec) {
    if (ec || !w.lock()) {
      return;
    }
    {
      std::lock_guard lk(mu_);
      armed_due_ = -1;
    }
    run_due();
    rearm();
  });
}

Millis Engine::next_due_ms() const {
  std::lock_guard lk(mu_);
  return timers_.empty() ? -1 : timers_.top().due;
}

void Engine::run_due() {
  After after;
  {
    std::lock_guard lk(mu_);
    Millis now = clock_.now_ms();
    while (!timers_.empty() && timers_.top().due <= now) {
      TimerEntry e = timers_.top();
      timers_.pop();
      if (e.type == TimerType::kPublish) {
        publish_pending_ = false;  // end_locked publishes if the view is still dirty
        continue;
      }
      if (e.type == TimerType::kSave) {
        save_pending_ = false;
        after.save = state_file_ != nullptr && state_dirty_;
        continue;
      }
      if (e.type == TimerType::kProbe) {
        auto it = probes_.find(e.name);
        if (it == probes_.end()) {
          continue;
        }
        Probe& p = it->second;
        if (p.gen != e.gen || p.due != e.due || p.in_flight || p.waiting) {
          continue;
        }
        launch_or_wait(p, after);
        continue;
      }
      auto it = checks_.find(e.name);
      if (it == checks_.end() || it->second.gen != e.gen) {
        continue;
      }
      Check& c = it->second;
      if (c.spec.disabled) {
        continue;
      }
      switch (e.type) {
        case TimerType::kInitialWait:
          if (c.state.status == Status::kUnknown) {
            std::string why =
                "no result within initial_wait (" + ms_text(c.spec.initial_wait_ms) + ")";
            if (c.spec.kind == Kind::kExternal) {
              set_status(c, c.spec.external.stale_state, Source::kStale, why, after);
            } else if (c.spec.kind != Kind::kCalculated) {
              if (auto own = c.checkers.find(opts_.checker_id); own != c.checkers.end()) {
                own->second.tracker.restore(Status::kUnhealthy, 0, 0);
                after.local_changed = true;
              }
              c.state.last_failure_reason = why;
              set_status(c, Status::kUnhealthy, Source::kInitial, why, after);
            }
          }
          break;
        case TimerType::kStale: {
          Millis stale_after = c.spec.external.stale_after_ms;
          if (c.spec.kind == Kind::kExternal && stale_after > 0 && !c.stale &&
              now - c.ext_updated_ms >= stale_after) {
            c.stale = true;
            std::string why = "no update for " + ms_text(now - c.ext_updated_ms) +
                              " (stale_after " + ms_text(stale_after) + ")";
            if (c.spec.external.stale_state != Status::kHealthy) {
              c.state.last_failure_reason = why;
            }
            set_status(c, c.spec.external.stale_state, Source::kStale, why, after);
          }
          break;
        }
        case TimerType::kFilePoll:
          poll_file(c, now, after);
          push_timer(now + c.spec.interval_ms, TimerType::kFilePoll, c.spec.id, c.gen);
          break;
        default:
          break;
      }
    }
    end_locked(after);
  }
  finish(after);
}

void Engine::poll_file(Check& c, Millis now, After& after) {
  const std::string& path = c.spec.external.file;
  struct stat sb;
  if (::stat(path.c_str(), &sb) != 0) {
    return;  // no update; staleness decides
  }
  int64_t mtime = static_cast<int64_t>(sb.st_mtim.tv_sec) * 1'000'000'000 + sb.st_mtim.tv_nsec;
  if (mtime == c.file_mtime) {
    return;
  }
  c.file_mtime = mtime;
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  std::string word;
  for (char ch : line) {
    if (std::isspace(static_cast<unsigned char>(ch))) {
      if (!word.empty()) {
        break;
      }
      continue;
    }
    word += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  }
  Status s;
  if (word == "healthy" || word == "up") {
    s = Status::kHealthy;
  } else if (word == "unhealthy" || word == "down") {
    s = Status::kUnhealthy;
  } else {
    return;  // unreadable content is not an update
  }
  // Same path as set_external (without the mutex, which is held).
  c.ext_updated_ms = now;
  c.stale = false;
  c.observed = true;
  Millis wall = clock_.wall_ms();
  c.updated_wall_ms = wall;
  c.last_observation_wall_ms = wall;
  Status final_s = c.spec.inverted ? flip(s) : s;
  std::string why = "file " + path + ": " + line;
  Observation o{"file", wall, s == Status::kHealthy, final_s == Status::kHealthy, why, {}, 0};
  c.recent.push_back(o);
  while (c.recent.size() > opts_.history) {
    c.recent.pop_front();
  }
  if (final_s == Status::kUnhealthy) {
    c.state.last_failure_reason = why;
    ++c.probes_failed;
  } else {
    ++c.probes_ok;
  }
  state_dirty_ = true;
  if (c.spec.external.stale_after_ms > 0) {
    push_timer(now + c.spec.external.stale_after_ms, TimerType::kStale, c.spec.id, c.gen);
  }
  set_status(c, final_s, Source::kExternal, why, after);
}

steerdns::Status Engine::set_external(const std::string& id, Status status,
                                      const std::string& reason) {
  After after;
  {
    std::lock_guard lk(mu_);
    auto it = checks_.find(id);
    if (it == checks_.end()) {
      return Error{"health check '" + id + "': no such check"};
    }
    Check& c = it->second;
    if (c.spec.kind != Kind::kExternal) {
      return Error{"health check '" + id + "': is a " + std::string(kind_name(c.spec.kind)) +
                   " check; only external checks can be set"};
    }
    Millis now = clock_.now_ms();
    Millis wall = clock_.wall_ms();
    c.ext_updated_ms = now;
    c.stale = false;
    c.observed = true;
    c.updated_wall_ms = wall;
    c.last_observation_wall_ms = wall;
    Status final_s = c.spec.inverted ? flip(status) : status;
    std::string why = reason.empty() ? std::string("set to ") + status_name(status) : reason;
    c.recent.push_back(Observation{
        "external", wall, status == Status::kHealthy, final_s == Status::kHealthy, why, {}, 0});
    while (c.recent.size() > opts_.history) {
      c.recent.pop_front();
    }
    if (final_s == Status::kUnhealthy) {
      c.state.last_failure_reason = (c.spec.inverted ? "inverted: " : "") + why;
      ++c.probes_failed;
    } else {
      ++c.probes_ok;
    }
    ++observations_;
    state_dirty_ = true;
    if (c.spec.external.stale_after_ms > 0) {
      push_timer(now + c.spec.external.stale_after_ms, TimerType::kStale, id, c.gen);
    }
    if (!c.spec.disabled) {
      set_status(c, final_s, Source::kExternal, "set externally: " + why, after);
    }
    end_locked(after);
  }
  finish(after);
  return OkStatus();
}

steerdns::Status Engine::add_observation(const std::string& checker, const std::string& id,
                                         const ProbeResult& result, Millis wall_ms) {
  After after;
  {
    std::lock_guard lk(mu_);
    auto it = checks_.find(id);
    if (it == checks_.end()) {
      return Error{"health check '" + id + "': no such check"};
    }
    Check& c = it->second;
    if (c.key.empty()) {
      return Error{"health check '" + id + "': is not probed (" +
                   (c.spec.disabled ? "disabled" : kind_name(c.spec.kind)) +
                   "), observations do not apply"};
    }
    apply_observation(c, checker, result, wall_ms, clock_.now_ms(), after);
    end_locked(after);
  }
  finish(after);
  return OkStatus();
}

void Engine::on_transition(std::function<void(const Transition&)> cb) {
  std::lock_guard lk(mu_);
  callbacks_.push_back(std::move(cb));
}

void Engine::on_local_change(std::function<void()> cb) {
  std::lock_guard lk(mu_);
  local_callbacks_.push_back(std::move(cb));
}

std::vector<PeerStatus> Engine::local_view() const {
  std::lock_guard lk(mu_);
  std::vector<PeerStatus> out;
  for (const Check* c : ordered_) {
    auto own = c->checkers.find(opts_.checker_id);
    if (c->key.empty() || own == c->checkers.end()) {
      continue;
    }
    const CheckerState& cs = own->second;
    out.push_back(PeerStatus{c->spec.id, cs.tracker.status(),
                             cs.since_wall_ms > 0 ? cs.since_wall_ms : c->state.since_wall_ms,
                             cs.last_reason});
  }
  return out;
}

steerdns::Status Engine::set_peer_view(const std::string& checker,
                                       const std::vector<PeerStatus>& view) {
  if (checker == opts_.checker_id) {
    return Error{"checker '" + checker + "' is this node's own; it cannot be set as a peer"};
  }
  std::unordered_map<std::string, const PeerStatus*> by_id;
  for (const auto& p : view) {
    by_id.emplace(p.check, &p);
  }
  After after;
  {
    std::lock_guard lk(mu_);
    for (const auto& id : order_) {
      Check& c = checks_.at(id);
      if (!is_probed(c.spec)) {
        continue;
      }
      auto it = by_id.find(id);
      auto have = c.checkers.find(checker);
      if (it == by_id.end()) {
        if (have != c.checkers.end()) {
          c.checkers.erase(have);
          recompute(c, "[" + checker + "] stopped reporting", after);
        }
        continue;
      }
      const PeerStatus& p = *it->second;
      if (have == c.checkers.end()) {
        have = c.checkers
                   .emplace(checker, CheckerState{Tracker(TrackerParams::of(c.spec),
                                                          Status::kUnknown),
                                                  0, "", true})
                   .first;
      }
      CheckerState& cs = have->second;
      bool moved = !cs.peer || cs.tracker.status() != p.status;
      cs.peer = true;
      cs.last_wall_ms = p.since_wall_ms;
      cs.last_reason = p.reason;
      if (!moved) {
        continue;
      }
      cs.tracker.restore(p.status, 0, 0);
      std::string why = "[" + checker + "] sees it " + status_name(p.status) +
                        (p.reason.empty() ? "" : ": " + p.reason);
      if (p.status == Status::kUnhealthy) {
        c.state.last_failure_reason = why;
      }
      c.observed = true;
      recompute(c, why, after);
    }
    end_locked(after);
  }
  finish(after);
  return OkStatus();
}

void Engine::drop_peer(const std::string& checker) {
  if (checker != opts_.checker_id) {
    (void)set_peer_view(checker, {});
  }
}

void Engine::on_probe_done(const std::string& key, uint64_t gen, int index, const ProbeResult& r) {
  After after;
  {
    std::lock_guard lk(mu_);
    if (in_flight_ > 0) {
      --in_flight_;
    }
    auto it = probes_.find(key);
    bool current = it != probes_.end() && it->second.gen == gen && it->second.in_flight &&
                   index < static_cast<int>(it->second.results.size());
    if (current) {
      it->second.results[index] = r;
    }
    if (current && --it->second.outstanding <= 0) {
      Probe& p = it->second;
      p.in_flight = false;
      Millis now = clock_.now_ms();
      Millis wall = clock_.wall_ms();
      for (const auto& id : p.subscribers) {
        Check& c = checks_.at(id);
        if (!c.latency) {
          c.latency = std::make_shared<ProbeLatency>();
        }
        for (const auto& res : p.results) {
          c.latency->observe(res.timings);
        }
        if (p.results.size() < 2) {
          apply_observation(c, opts_.checker_id, p.results[0], wall, now, after);
          continue;
        }
        // A pair is one observation: the result agreeing with the check's counted status if
        // either does, else the first. A check that asked for single probes takes the first.
        size_t pick = 0;
        auto cs = c.checkers.find(opts_.checker_id);
        if (c.spec.confirm_probes >= 2 && cs != c.checkers.end() &&
            cs->second.tracker.status() != Status::kUnknown) {
          bool want_ok = cs->second.tracker.status() == Status::kHealthy;
          if ((p.results[0].ok != c.spec.inverted) != want_ok &&
              (p.results[1].ok != c.spec.inverted) == want_ok) {
            pick = 1;
          }
        }
        apply_observation(c, opts_.checker_id, p.results[pick], wall, now, after,
                          &p.results[1 - pick]);
      }
      p.results.clear();
      schedule_probe(p, now);
    }
    end_locked(after);
  }
  finish(after);
}

bool Engine::remote_fresh(const Check& c, const std::string& checker, const CheckerState& cs,
                          Millis wall) const {
  if (checker == opts_.checker_id || cs.peer) {
    return true;
  }
  // A remote checker that stopped reporting must not hold the verdict forever.
  return wall - cs.last_wall_ms <= 3 * c.spec.interval_ms + c.spec.timeout_ms;
}

void Engine::apply_observation(Check& c, const std::string& checker, const ProbeResult& r,
                               Millis wall, Millis now, After& after, const ProbeResult* other) {
  // A checker seen for the first time starts from the check's current status, so one blip
  // from a newly joined vantage point is held to the threshold like any other.
  auto [it, added] = c.checkers.try_emplace(
      checker, CheckerState{Tracker(TrackerParams::of(c.spec), c.state.status), 0, ""});
  CheckerState& cs = it->second;
  Tracker::Step st = cs.tracker.observe(r.ok);
  std::string why = r.reason;
  if (c.spec.inverted) {
    why = std::string("inverted: probe ") + (r.ok ? "passed" : "failed") +
          (r.reason.empty() ? "" : ": " + r.reason);
  }
  cs.last_wall_ms = wall;
  cs.last_reason = why;
  c.recent.push_back(Observation{checker, wall, r.ok, st.counted_ok, r.reason, r.timings,
                                 r.http_status, other ? 2 : 1, other && other->ok != r.ok});
  while (c.recent.size() > opts_.history) {
    c.recent.pop_front();
  }
  ++observations_;
  c.observed = true;
  c.last_observation_wall_ms = std::max(c.last_observation_wall_ms, wall);
  c.updated_wall_ms = c.last_observation_wall_ms;
  state_dirty_ = true;
  if (other) {
    ++(other->ok != c.spec.inverted ? c.probes_ok : c.probes_failed);
  }
  if (st.counted_ok) {
    ++c.probes_ok;
  } else {
    ++c.probes_failed;
    c.state.last_failure_reason = checker == opts_.checker_id ? why : "[" + checker + "] " + why;
  }
  if (checker == opts_.checker_id) {
    if (st.changed) {
      after.local_changed = true;
      cs.since_wall_ms = wall;
    }
    c.state.consecutive_ok = cs.tracker.consecutive_ok();
    c.state.consecutive_fail = cs.tracker.consecutive_fail();
    if (r.cert_days_left >= 0 || c.spec.kind == Kind::kHttps) {
      c.state.cert_days_left = r.cert_days_left;
    }
    c.state.last_rtt_ms = r.timings.total_ms;
    c.desired_due = cs.tracker.confirming() && c.spec.recheck_ms < c.spec.interval_ms
                        ? now + c.spec.recheck_ms
                        : aligned_due(c.key, c.spec.interval_ms, now);
  }
  std::string reason;
  if (st.from == Status::kUnknown) {
    reason = "first result: " + (st.counted_ok ? (why.empty() ? "ok" : why) : why);
  } else if (st.to == Status::kUnhealthy) {
    reason = std::to_string(cs.tracker.consecutive_fail()) + " consecutive failures: " + why;
  } else {
    reason = std::to_string(cs.tracker.consecutive_ok()) + " consecutive successes" +
             (why.empty() ? "" : ": " + why);
  }
  if (checker != opts_.checker_id) {
    reason = "[" + checker + "] " + reason;
  }
  recompute(c, reason, after);
}

Status Engine::calculated_status(const Check& c) const {
  const auto& cs = c.spec.calculated;
  int healthy = 0;
  int unknown = 0;
  for (const auto& ch : cs.children) {
    Status s = checks_.at(ch).state.status;
    if (s == Status::kHealthy) {
      ++healthy;
    }
    if (s == Status::kUnknown) {
      ++unknown;
    }
  }
  Status s;
  if (healthy >= cs.healthy_threshold) {
    s = Status::kHealthy;
  } else if (healthy + unknown >= cs.healthy_threshold) {
    s = Status::kUnknown;  // undecided until the unknown children resolve
  } else {
    s = Status::kUnhealthy;
  }
  return c.spec.inverted ? flip(s) : s;
}

void Engine::recompute(Check& c, const std::string& reason, After& after) {
  if (c.spec.disabled) {
    set_status(c, Status::kHealthy, Source::kDisabled, "disabled", after);
    return;
  }
  if (c.spec.kind == Kind::kCalculated) {
    int healthy = 0;
    for (const auto& ch : c.spec.calculated.children) {
      if (checks_.at(ch).state.status == Status::kHealthy) {
        ++healthy;
      }
    }
    std::string why =
        std::to_string(healthy) + " of " + std::to_string(c.spec.calculated.children.size()) +
        " children healthy, need " + std::to_string(c.spec.calculated.healthy_threshold) +
        (c.spec.inverted ? " (inverted)" : "") + "; " + reason;
    Status s = calculated_status(c);
    if (s == Status::kUnhealthy) {
      c.state.last_failure_reason = why;
    }
    set_status(c, s, Source::kCalculated, why, after);
    return;
  }
  if (c.spec.kind == Kind::kExternal) {
    return;  // set directly by set_external / file / staleness
  }
  Millis wall = clock_.wall_ms();
  int healthy = 0;
  int reporting = 0;
  for (const auto& [name, cs] : c.checkers) {
    if (cs.tracker.status() == Status::kUnknown || !remote_fresh(c, name, cs, wall)) {
      continue;
    }
    ++reporting;
    if (cs.tracker.status() == Status::kHealthy) {
      ++healthy;
    }
  }
  Status s = aggregate(c.spec.aggregation, healthy, reporting);
  if (s == Status::kUnknown) {
    return;  // nobody has a verdict yet: keep the initial or persisted status
  }
  std::string why = reason;
  if (reporting > 1) {
    why += " (" + std::to_string(healthy) + " of " + std::to_string(reporting) +
           " checkers healthy, rule " + aggregation_name(c.spec.aggregation) + ")";
  }
  set_status(c, s, c.observed ? Source::kProbe : c.state.source, why, after);
}

void Engine::set_status(Check& c, Status s, Source src, const std::string& reason, After& after) {
  if (s == c.state.status && src == c.state.source) {
    return;
  }
  view_dirty_ = true;
  state_dirty_ = true;
  if (s == c.state.status) {
    c.state.source = src;
    return;
  }
  Millis wall = clock_.wall_ms();
  after.events.push_back(Transition{wall, c.spec.id, c.state.status, s, reason, src});
  c.state.status = s;
  c.state.source = src;
  c.state.since_wall_ms = wall;
  ++c.transitions;
  std::vector<std::string> parents = c.parents;
  for (const auto& p : parents) {
    recompute(checks_.at(p), "child '" + c.spec.id + "' is " + status_name(s), after);
  }
}

void Engine::publish_locked() {
  auto v = std::make_shared<HealthView>();
  for (const Check* c : ordered_) {
    v->add(c->spec.id, c->state);
  }
  v->set_version(++view_version_);
  view_.publish(std::move(v));
  view_dirty_ = false;
  last_publish_ms_ = clock_.now_ms();
  for (auto& ev : held_events_) {
    pending_events_.push_back(std::move(ev));
  }
  held_events_.clear();
}

void Engine::end_locked(After& after) {
  drain_waiting(after);
  for (auto& ev : after.events) {
    held_events_.push_back(std::move(ev));
  }
  after.events.clear();
  if (view_dirty_) {
    Millis now = clock_.now_ms();
    if (opts_.publish_gap_ms <= 0 || last_publish_ms_ < 0 ||
        now - last_publish_ms_ >= opts_.publish_gap_ms) {
      publish_locked();
    } else if (!publish_pending_) {
      publish_pending_ = true;
      push_timer(last_publish_ms_ + opts_.publish_gap_ms, TimerType::kPublish, "", 0);
    }
  }
  if (state_file_ && state_dirty_ && !save_pending_) {
    save_pending_ = true;
    push_timer(clock_.now_ms() + opts_.save_interval_ms, TimerType::kSave, "", 0);
  }
}

void Engine::deliver_events() {
  {
    std::lock_guard lk(mu_);
    if (delivering_ || pending_events_.empty()) {
      return;
    }
    delivering_ = true;
  }
  // Whoever finds no deliverer delivers everything queued, including events that callbacks
  // cause; other threads only queue. So callbacks never overlap and never reorder.
  for (;;) {
    std::deque<Transition> batch;
    std::vector<std::function<void(const Transition&)>> cbs;
    {
      std::lock_guard lk(mu_);
      if (pending_events_.empty()) {
        delivering_ = false;
        return;
      }
      batch.swap(pending_events_);
      cbs = callbacks_;
    }
    for (const auto& ev : batch) {
      for (const auto& cb : cbs) {
        cb(ev);
      }
    }
  }
}

void Engine::finish(After& after) {
  auto w = std::weak_ptr<int>(alive_);
  auto launch = [this, w](const std::vector<Launch>& launches) {
    for (const auto& l : launches) {
      std::string key = l.key;
      uint64_t gen = l.gen;
      int index = l.index;
      prober_.start(*l.spec, [this, w, key, gen, index](const ProbeResult& r) {
        if (w.lock()) {
          on_probe_done(key, gen, index, r);
        }
      });
    }
  };
  if (!after.launches.empty()) {
    bool started;
    {
      std::lock_guard lk(mu_);
      started = started_;
    }
    // Probers live on the io thread; a launch freed by a call from another thread goes there.
    if (started && !io_.get_executor().running_in_this_thread()) {
      boost::asio::post(io_, [w, launch, l = std::move(after.launches)]() mutable {
        if (w.lock()) {
          launch(l);
        }
      });
    } else {
      launch(after.launches);
    }
  }
  deliver_events();
  if (after.local_changed) {
    std::vector<std::function<void()>> cbs;
    {
      std::lock_guard lk(mu_);
      cbs = local_callbacks_;
    }
    for (const auto& cb : cbs) {
      cb();
    }
  }
  if (after.save) {
    (void)save_state();
  }
  kick();
}

std::map<std::string, PersistedCheck> Engine::persist_map_locked() const {
  std::map<std::string, PersistedCheck> out;
  for (const auto& id : order_) {
    const Check& c = checks_.at(id);
    if (c.spec.disabled || c.spec.kind == Kind::kCalculated) {
      continue;
    }
    if (c.state.status == Status::kUnknown) {
      continue;
    }
    // Only states learned from the world are worth keeping; initial ones come from config.
    if (!c.observed && c.state.source != Source::kPersisted) {
      continue;
    }
    PersistedCheck p;
    p.identity = identity(c.spec);
    p.status = c.state.status;
    p.consecutive_ok = c.state.consecutive_ok;
    p.consecutive_fail = c.state.consecutive_fail;
    p.last_failure_reason = c.state.last_failure_reason;
    p.since_wall_ms = c.state.since_wall_ms;
    p.updated_wall_ms = c.updated_wall_ms;
    p.cert_days_left = c.state.cert_days_left;
    p.transitions = c.transitions;
    out.emplace(id, std::move(p));
  }
  return out;
}

steerdns::Status Engine::save_state() {
  if (!state_file_) {
    return Error{"health engine: no state file configured"};
  }
  std::map<std::string, PersistedCheck> m;
  Millis wall;
  {
    std::lock_guard lk(mu_);
    m = persist_map_locked();
    state_dirty_ = false;
    wall = clock_.wall_ms();
  }
  std::lock_guard lk(save_mu_);
  auto st = state_file_->save(m, wall);
  if (!st) {
    std::lock_guard lk2(mu_);
    state_dirty_ = true;  // try again at the next save
    state_warning_ = st.error();
  }
  return st;
}

EngineReport Engine::report() const {
  std::lock_guard lk(mu_);
  EngineReport r;
  r.checker_id = opts_.checker_id;
  r.state_warning = state_warning_;
  r.view_version = view_version_;
  r.probes_in_flight = in_flight_;
  r.probes_waiting = waiting_.size();
  r.probes_started = probes_started_;
  r.observations = observations_;
  Millis now = clock_.now_ms();
  Millis wall = clock_.wall_ms();
  for (const auto& id : order_) {
    const Check& c = checks_.at(id);
    CheckReport cr;
    cr.id = id;
    cr.kind = c.spec.kind;
    cr.inverted = c.spec.inverted;
    cr.disabled = c.spec.disabled;
    cr.aggregation = c.spec.aggregation;
    cr.state = c.state;
    cr.transitions = c.transitions;
    cr.probes_ok = c.probes_ok;
    cr.probes_failed = c.probes_failed;
    cr.last_observation_wall_ms = c.last_observation_wall_ms;
    if (!c.key.empty()) {
      auto p = probes_.find(c.key);
      if (p != probes_.end()) {
        cr.next_probe_in_ms =
            p->second.in_flight || p->second.waiting ? 0 : std::max<Millis>(0, p->second.due - now);
      }
    }
    cr.latency = c.latency;
    cr.recent.assign(c.recent.begin(), c.recent.end());
    for (const auto& [name, cs] : c.checkers) {
      cr.checkers.push_back(CheckerReport{name, cs.tracker.status(), cs.tracker.consecutive_ok(),
                                          cs.tracker.consecutive_fail(), cs.last_wall_ms,
                                          cs.last_reason, remote_fresh(c, name, cs, wall),
                                          cs.peer});
    }
    r.checks.push_back(std::move(cr));
  }
  return r;
}

}  // namespace steerdns::health
