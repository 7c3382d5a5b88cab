#include "daemon/store_state.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <deque>
#include <mutex>
#include <string_view>

#include "core/file.h"

namespace steerdns::daemon {
namespace {

using nlohmann::json;

class StoreState : public StateStore {
 public:
  StoreState(store::Store& s, std::string local_copy)
      : store_(s), local_path_(std::move(local_copy)) {
    if (local_path_.empty()) {
      return;
    }
    // Written off the caller's thread: a state save (health, steering, under their locks) never
    // waits for the disk.
    writer_ = std::make_unique<BackgroundFileWriter>(
        local_path_,
        [this](const Status& w) {
          std::lock_guard lk(local_mu_);
          if (!w && local_error_ != w.error()) {
            spdlog::error("state copy not saved: {}", w.error());
          }
          local_error_ = w ? std::string() : w.error();
        },
        std::chrono::milliseconds(500));  // a burst of saves costs one flush per half second
    auto text = read_file_if_exists(local_path_);
    if (!text) {
      spdlog::warn("state copy not read: {}; ignored (rewritten on the next save)", text.error());
      return;
    }
    if (!text->has_value()) {
      return;  // none yet
    }
    json doc = json::parse(**text, nullptr, false);
    if (doc.is_object()) {
      local_ = std::move(doc);
      if (auto it = local_.find(kPendingEvents); it != local_.end()) {
        if (it->is_array()) {
          for (auto& e : *it) {
            if (e.is_array() && e.size() == 2 && e[0].is_number_integer() && e[1].is_object()) {
              pending_.emplace_back(e[0].get<int64_t>(), std::move(e[1]));
            }
          }
        }
        local_.erase(it);
        if (!pending_.empty()) {
          spdlog::warn(
              "state copy {}: {} events recorded while the store was out of reach; "
              "added to the store once it answers",
              local_path_, pending_.size());
        }
      }
    } else {
      spdlog::warn("state copy {}: not a JSON object; ignored (rewritten on the next save)",
                   local_path_);
    }
  }

  std::string describe() const override { return store_.describe(); }

  Status put(const std::string& key, const std::string& json_text) override {
    json doc = json::parse(json_text, nullptr, false);
    if (doc.is_discarded()) {
      return Error{"state '" + key + "' is not JSON"};
    }
    Status st = store_.put_state(key, doc);
    if (!local_path_.empty()) {
      // Written whether the store took it or not: while etcd is out of reach this copy is the
      // only one, and the newest.
      {
        std::lock_guard lk(local_mu_);
        local_[key] = std::move(doc);
      }
      save_local();
      if (st) {
        drain_pending();  // the store answers again: hand it what the outage kept here
      }
    }
    return st;
  }

  Result<std::optional<std::string>> get(const std::string& key) override {
    auto v = store_.get_state(key);
    if (!v && !local_path_.empty() && store::is_unavailable(v.error())) {
      std::lock_guard lk(local_mu_);
      auto it = local_.find(key);
      if (it == local_.end()) {
        return Error{v.error() + "; and no local copy in " + local_path_};
      }
      spdlog::warn("state '{}': {}; using the local copy in {}", key, v.error(), local_path_);
      return std::optional<std::string>{it->dump(-1, ' ', false, json::error_handler_t::replace)};
    }
    if (!v) {
      return Error{v.error()};
    }
    if (!v->has_value()) {
      return std::optional<std::string>{};
    }
    return std::optional<std::string>{(*v)->dump(-1, ' ', false, json::error_handler_t::replace)};
  }

  Status append_events(const std::vector<std::string>& objects) override {
    std::vector<std::pair<int64_t, json>> batch;
    for (const auto& text : objects) {
      json body = json::parse(text, nullptr, false);
      if (body.is_discarded()) {
        return Error{"event is not JSON: " + text.substr(0, 80)};
      }
      int64_t t = body.value("wall_ms", int64_t{0});
      if (t == 0) {
        t = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::system_clock::now().time_since_epoch())
                .count();
      }
      batch.emplace_back(t, std::move(body));
    }
    if (local_path_.empty()) {
      return store_.append_events(batch);
    }
    std::lock_guard drain(drain_mu_);
    // Older events first, so the store keeps them in the order they happened; when those
    // could not go, neither can these (and the caller does not wait for a second timeout).
    Status st = drain_pending_locked();
    if (st) {
      st = store_.append_events(batch);
      if (st || !store::is_unavailable(st.error())) {
        return st;
      }
    }
    // A fleet node cut off from etcd: the failovers and actions of an outage are exactly the
    // events an operator looks for afterwards, so they wait in the local copy.
    size_t held, dropped = 0;
    {
      std::lock_guard lk(local_mu_);
      for (auto& e : batch) {
        pending_.push_back(std::move(e));
      }
      while (pending_.size() > kMaxPendingEvents) {
        pending_.pop_front();
        ++dropped;
      }
      held = pending_.size();
    }
    save_local();
    if (dropped > 0) {
      spdlog::error(
          "events: {} oldest events held during the store outage dropped (at most {} "
          "are kept)",
          dropped, kMaxPendingEvents);
    }
    spdlog::warn("events: {}; {} held in the local copy {} until the store answers", st.error(),
                 held, local_path_);
    return OkStatus();
  }

  Result<std::vector<std::string>> last_events(size_t n) override {
    auto rows = store_.last_events(n);
    if (!rows) {
      return Error{rows.error()};
    }
    std::vector<std::string> out;
    out.reserve(rows->size());
    for (const auto& e : *rows) {
      out.push_back(e.body.dump(-1, ' ', false, json::error_handler_t::replace));
    }
    return out;
  }

 private:
  // The key under which the local copy keeps events the store could not take.
  static constexpr const char* kPendingEvents = "~pending_events";
  static constexpr size_t kMaxPendingEvents = 10000;

  void save_local() {
    writer_->write([this] {
      std::lock_guard lk(local_mu_);
      if (pending_.empty()) {
        return local_.dump() + "\n";
      }
      json doc = local_;
      json& ev = doc[kPendingEvents] = json::array();
      for (const auto& [t, body] : pending_) {
        ev.push_back(json::array({t, body}));
      }
      return doc.dump() + "\n";
    });
  }

  void drain_pending() {
    std::lock_guard drain(drain_mu_);
    (void)drain_pending_locked();  // a failure keeps them for the next try
  }
  // Appends the held events to the store (at least once: an append whose answer was lost is
  // sent again). Under drain_mu_, so two threads never hand in the same events and nothing
  // else takes from pending_ meanwhile. The error is the store's, if it did not take them.
  Status drain_pending_locked() {
    std::vector<std::pair<int64_t, json>> batch;
    {
      std::lock_guard lk(local_mu_);
      if (pending_.empty()) {
        return OkStatus();
      }
      batch.assign(pending_.begin(), pending_.end());
    }
    if (auto st = store_.append_events(batch); !st) {
      return st;  // kept for the next try
    }
    {
      std::lock_guard lk(local_mu_);
      pending_.erase(pending_.begin(), pending_.begin() + static_cast<long>(batch.size()));
    }
    spdlog::info("events: {} events held during the store outage added to the store", batch.size());
    save_local();
    return OkStatus();
  }

  store::Store& store_;
  const std::string local_path_;
  std::mutex drain_mu_;
  std::mutex local_mu_;
  json local_ = json::object();  // key -> document, as in local_path_
  std::deque<std::pair<int64_t, json>> pending_;  // events the store could not take
  std::string local_error_;      // the last write error (logged once)
  std::unique_ptr<BackgroundFileWriter> writer_;  // last: stops (writing) before the rest goes
};

}  // namespace

std::shared_ptr<StateStore> state_store_over(store::Store& store, std::string local_copy) {
  return std::make_shared<StoreState>(store, std::move(local_copy));
}

std::string state_copy_path(const std::string& catalog_cache) {
  constexpr std::string_view kJson = ".json";
  if (catalog_cache.size() > kJson.size() &&
      catalog_cache.compare(catalog_cache.size() - kJson.size(), kJson.size(), kJson) == 0) {
    return catalog_cache.substr(0, catalog_cache.size() - kJson.size()) + ".state.json";
  }
  return catalog_cache + ".state";
}

}  // namespace steerdns::daemon
