#pragma once
// What the API's route sets reach beyond the control plane: the daemon's health engine and
// steering service and the query path, as callbacks the daemon wires up (api/ never includes
// daemon/ or server/). Every callback is safe to call from the API's handler threads.
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/result.h"

namespace steerdns::control {
class Plane;
}

namespace steerdns::api {

// One question for test-dns-answer / the native API's /v1/answer.
struct Question {
  std::string name;       // absolute or relative-to-root presentation name
  std::string type;       // "A", "AAAA", ...
  std::string client_ip;  // the resolver's address ("" = 127.0.0.1)
  std::string ecs;        // EDNS Client Subnet "198.51.100.0/24" ("" = none)
};

struct Services {
  control::Plane* plane = nullptr;
  // health/report: {"checks":[{id, status, since_ms, reason, checkers:[...], ...}]}
  std::function<nlohmann::json()> health_report;
  // External checks: PUT /v1/health/checks/{id}/status.
  std::function<Status(const std::string& id, bool healthy, const std::string& reason)>
      set_external;
  // The steering service's commands (daemon/steering_service.h: {"cmd": "status" |
  // "override-set" | "override-clear" | "override-list" | "failback-approve" | "events" |
  // "explain" | "simulate", ...}) -> its JSON reply.
  std::function<Result<nlohmann::json>(const nlohmann::json&)> steering;
  // Answers a question as the DNS server would right now:
  // {"rcode": "NOERROR", "rcode_code": 0, "answers": [{"name","type","ttl","data"}],
  //  "ecs_scope": 24, "aa": true}
  std::function<Result<nlohmann::json>(const Question&)> answer;
  // Alerting (daemon/alert_service.h): {"cmd": "list" | "ack" | "outbox" | "slo", ...} -> reply.
  std::function<Result<nlohmann::json>(const nlohmann::json&)> alerts;
  // GET /v1/cluster: the fleet as this node sees it (cluster/service.h status_json), or
  // {"mode": "single", ...} without a fleet; `etcd`: also ask every etcd member its status.
  std::function<nlohmann::json(bool etcd)> cluster;
  // GET /metrics: the Prometheus text exposition (obs::Registry::scrape()).
  std::function<std::string()> metrics;
};

}  // namespace steerdns::api
