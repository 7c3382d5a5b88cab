#pragma once
// Simulation harness for health-engine tests: a fake prober whose answers a test scripts, and
// a loop that advances a FakeClock from one engine deadline or probe completion to the next,
// so every transition happens at an exact, repeatable simulated time.
#include <boost/asio/io_context.hpp>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/clock.h"
#include "health/engine.h"

namespace steerdns::health::testing {

class FakeProber final : public Prober {
 public:
  explicit FakeProber(FakeClock& clock) : clock_(clock) {}

  // Answer for a probe started now; default: every probe passes.
  std::function<ProbeResult(const CheckSpec&)> respond = [](const CheckSpec&) {
    ProbeResult r;
    r.ok = true;
    r.reason = "ok";
    return r;
  };
  Millis latency_ms = 0;

  struct Started {
    std::string id;  // the spec's id (first subscriber)
    std::string key;
    Millis at;
  };
  std::vector<Started> started;
  size_t max_in_flight = 0;

  void start(const CheckSpec& spec, std::function<void(ProbeResult)> done) override {
    started.push_back({spec.id, spec.probe_key(), clock_.now_ms()});
    ProbeResult r = respond(spec);
    r.timings.total_ms = static_cast<double>(latency_ms);
    pending_.emplace(std::make_pair(clock_.now_ms() + latency_ms, seq_++),
                     Pending{std::move(r), std::move(done)});
    max_in_flight = std::max(max_in_flight, pending_.size());
  }
  size_t in_flight() const override { return pending_.size(); }

  Millis next_completion() const { return pending_.empty() ? -1 : pending_.begin()->first.first; }
  // Delivers every result due at or before now, in order.
  void complete_due() {
    while (!pending_.empty() && pending_.begin()->first.first <= clock_.now_ms()) {
      auto node = pending_.extract(pending_.begin());
      node.mapped().done(std::move(node.mapped().result));
    }
  }
  size_t count_started(const std::string& id) const {
    size_t n = 0;
    for (const auto& s : started) {
      n += s.id == id;
    }
    return n;
  }

 private:
  struct Pending {
    ProbeResult result;
    std::function<void(ProbeResult)> done;
  };
  FakeClock& clock_;
  std::map<std::pair<Millis, uint64_t>, Pending> pending_;
  uint64_t seq_ = 0;
};

// Engine + fake prober + fake clock, with transitions recorded.
struct Sim {
  // Unless `coalesce`, every change is published at once (publish_gap_ms = 0), so tests can
  // read the view right after any call at the same simulated instant.
  explicit Sim(EngineOptions opts = {}, bool coalesce = false)
      : prober(clock), engine(io, clock, prober, exact(std::move(opts), coalesce)) {
    engine.on_transition([this](const Transition& t) {
      transitions.push_back(t);
      transition_now.push_back(clock.now_ms());
    });
  }

  static EngineOptions exact(EngineOptions o, bool coalesce) {
    if (!coalesce) {
      o.publish_gap_ms = 0;
    }
    return o;
  }

  // Advances simulated time to `t`, running every deadline and completion on the way.
  void run_until(Millis t) {
    for (int guard = 0; guard < 10'000'000; ++guard) {
      Millis a = engine.next_due_ms();
      Millis b = prober.next_completion();
      Millis next = a < 0 ? b : (b < 0 ? a : std::min(a, b));
      if (next < 0 || next > t) {
        break;
      }
      if (next > clock.now_ms()) {
        clock.set(next);
      }
      prober.complete_due();
      engine.run_due();
    }
    if (t > clock.now_ms()) {
      clock.set(t);
    }
  }
  void run_for(Millis d) { run_until(clock.now_ms() + d); }

  Status status(const std::string& id) {
    auto v = engine.view().load();
    int i = v->index_of(id);
    return i < 0 ? Status::kUnknown : v->at(i).status;
  }
  const CheckState& state(const std::string& id) {
    view_hold = engine.view().load();
    return view_hold->at(view_hold->index_of(id));
  }
  std::vector<Transition> transitions_of(const std::string& id) const {
    std::vector<Transition> out;
    for (const auto& t : transitions) {
      if (t.check == id) {
        out.push_back(t);
      }
    }
    return out;
  }

  boost::asio::io_context io;
  FakeClock clock;
  FakeProber prober;
  Engine engine;
  std::vector<Transition> transitions;
  std::vector<Millis> transition_now;  // simulated monotonic time of each transition
  std::shared_ptr<const HealthView> view_hold;
};

// "c" + std::to_string(i) without GCC 12's -Wrestrict false positive on "literal" + string.
inline std::string cat(std::string a, int i) {
  a += std::to_string(i);
  return a;
}

inline CheckSpec http_check(const std::string& id, const std::string& host = "192.0.2.1") {
  CheckSpec s;
  s.id = id;
  s.kind = Kind::kHttp;
  s.http.host = host;
  s.http.port = 80;
  s.interval_ms = 1'000;
  s.timeout_ms = 500;
  return s;
}

}  // namespace steerdns::health::testing
