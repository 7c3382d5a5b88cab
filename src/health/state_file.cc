#include "health/state_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <system_error>

#include "core/file.h"

namespace steerdns::health {
namespace {

using nlohmann::json;

Status status_from(const std::string& s) {
  if (s == "healthy") {
    return Status::kHealthy;
  }
  if (s == "unhealthy") {
    return Status::kUnhealthy;
  }
  return Status::kUnknown;
}

}  // namespace

Result<std::map<std::string, PersistedCheck>> StateFile::load() const {
  if (store_) {
    auto text = store_->get(key_);
    if (!text) {
      return Error{path_ + ": cannot read health state: " + text.error()};
    }
    if (!text->has_value()) {
      return std::map<std::string, PersistedCheck>{};
    }
    return parse(**text);
  }
  auto text = read_file_if_exists(path_);
  if (!text) {
    return Error{"cannot read health state: " + text.error()};
  }
  if (!text->has_value()) {
    return std::map<std::string, PersistedCheck>{};
  }
  return parse(**text);
}

Result<std::map<std::string, PersistedCheck>> StateFile::parse(const std::string& text) const {
  std::map<std::string, PersistedCheck> out;
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return Error{path_ + ": health state is not valid JSON"};
  }
  if (doc.value("version", 0) != 1 || !doc.contains("checks") || !doc["checks"].is_object()) {
    return Error{path_ + ": health state has an unknown format (want version 1 with 'checks')"};
  }
  try {
    for (const auto& [id, c] : doc["checks"].items()) {
      PersistedCheck p;
      p.identity = c.value("identity", "");
      p.status = status_from(c.value("status", "unknown"));
      p.consecutive_ok = c.value("consecutive_ok", 0);
      p.consecutive_fail = c.value("consecutive_fail", 0);
      p.last_failure_reason = c.value("last_failure_reason", "");
      p.since_wall_ms = c.value("since_wall_ms", Millis{0});
      p.updated_wall_ms = c.value("updated_wall_ms", Millis{0});
      p.cert_days_left = c.value("cert_days_left", -1);
      p.transitions = c.value("transitions", uint64_t{0});
      out.emplace(id, std::move(p));
    }
  } catch (const json::exception& e) {
    return Error{path_ + ": health state has a field of the wrong type: " + e.what()};
  }
  return out;
}

steerdns::Status StateFile::save(const std::map<std::string, PersistedCheck>& checks,
                                 Millis now_wall_ms) const {
  json doc;
  doc["version"] = 1;
  doc["saved_wall_ms"] = now_wall_ms;
  json& cj = doc["checks"] = json::object();
  for (const auto& [id, p] : checks) {
    cj[id] = {{"identity", p.identity},
              {"status", status_name(p.status)},
              {"consecutive_ok", p.consecutive_ok},
              {"consecutive_fail", p.consecutive_fail},
              {"last_failure_reason", p.last_failure_reason},
              {"since_wall_ms", p.since_wall_ms},
              {"updated_wall_ms", p.updated_wall_ms},
              {"cert_days_left", p.cert_days_left},
              {"transitions", p.transitions}};
  }
  // Invalid UTF-8 in a probe's reason must not make the state unsaveable.
  std::string text = doc.dump(1, ' ', false, json::error_handler_t::replace) + "\n";
  if (store_) {
    if (auto st = store_->put(key_, text); !st) {
      return Error{path_ + ": cannot save health state: " + st.error()};
    }
    return OkStatus();
  }

  if (auto st = write_file_atomically(path_, text); !st) {
    return Error{"cannot write health state: " + st.error()};
  }
  return OkStatus();
}

}  // namespace steerdns::health
