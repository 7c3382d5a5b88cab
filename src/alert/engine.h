#pragma once
// Alert routing: turns what holds now (conditions) and what just happened (notices) into
// alerts with a severity, and alerts into notifications in the durable outbox.
//
// Level-triggered: the caller hands in every condition that holds at each step; an alert opens
// when its condition appears and resolves when it goes. After a crash the next step compares
// the conditions with the stored alerts, so a failover that happened while the daemon was down
// still alerts, and nothing that was alerted is alerted twice. Notices (one-shot events from
// the event log) come with the event log position they reach; that position is written in the
// same transaction as the notifications they cause.
//
// Each step is one store transaction (store::AlertCommit): alerts, outbox rows and the cursor
// together. Notifications are only ever sent from the outbox (alert/dispatcher.h), after that
// transaction, so one that was decided is never lost, and its dedup key makes a re-send after
// a crash recognisable at the receiver.
//
// Lifecycle: open -> acknowledged (ack(); no more repeats or escalation) -> resolved. An open
// alert re-notifies every `repeat` of its severity and, when `escalate_after` passes without
// an acknowledgement, rises one level and notifies that level's channels. One-shot notices at
// critical or emergency stay open until acknowledged; lower ones resolve at once.
//
// Thread safety: every method may be called from any thread (one mutex).
#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "alert/spec.h"
#include "core/result.h"
#include "store/store.h"

namespace steerdns::alert {

struct Condition {
  std::string event;    // a condition event of kAlertEvents
  std::string target;   // check id, record set key, name, node
  std::string summary;  // one line for people
  nlohmann::json details = nlohmann::json::object();
};

struct Notice {
  std::string event;  // action_failed, failback_rolled_back
  std::string target;
  std::string summary;
  int64_t time_ms = 0;
  nlohmann::json details = nlohmann::json::object();
};

struct EngineStats {
  std::array<int64_t, 4> open_by_severity{};  // open or acknowledged, by current severity
  int64_t acknowledged = 0;
};

class Engine {
 public:
  explicit Engine(store::Store& store) : store_(store) {}

  // Reads the stored alerts (the ones not resolved are live again) and the event cursor.
  Status load();
  void configure(AlertsSpec spec);
  // The event log position the notices handed to step() have reached (state
  // "alerts-cursor"); nullopt before the first step ever.
  std::optional<int64_t> cursor() const;

  // One step at `now_ms`. `cursor`: the event log position `notices` reach (written with them).
  // On a store error nothing changed and the next step tries again.
  Status step(const std::vector<Condition>& active, const std::vector<Notice>& notices,
              int64_t now_ms, std::optional<int64_t> cursor);

  // Acknowledges alert `id` (or the open alert whose key "event|target" is `id`): no more
  // repeats or escalation; PagerDuty channels that were paged get an acknowledge.
  Result<nlohmann::json> ack(const std::string& id, const std::string& by,
                             const std::string& reason, int64_t now_ms);

  // {"alerts": [...]}: the live ones (open, acknowledged), or every stored one with `all`.
  Result<nlohmann::json> list(bool all) const;
  EngineStats stats() const;

 private:
  struct Pending {
    std::map<std::string, nlohmann::json> alerts;  // id -> new body
    std::vector<store::OutboxRow> rows;
  };
  const RouteSpec* route(const std::string& event, const std::string& target) const;
  // Queues one notification of `alert` (kind: trigger, repeat, escalate, resolve, ack, notice)
  // to each of `channels`, and records them on the alert.
  void notify(nlohmann::json& alert, const std::string& kind,
              const std::vector<std::string>& channels, int64_t now_ms, Pending& p) const;
  nlohmann::json open_alert(const std::string& event, const std::string& target,
                            const std::string& summary, const nlohmann::json& details,
                            Severity sev, int64_t now_ms, Pending& p) const;

  store::Store& store_;
  mutable std::mutex mu_;
  AlertsSpec spec_;
  std::map<std::string, nlohmann::json> live_;  // key "event|target" -> body (not resolved)
  std::optional<int64_t> cursor_;
};

}  // namespace steerdns::alert
