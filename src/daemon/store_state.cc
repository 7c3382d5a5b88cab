#include "daemon/store_state.h"

#include <chrono>

namespace steerdns::daemon {
namespace {

using nlohmann::json;

class StoreState : public StateStore {
 public:
  explicit StoreState(store::Store& s) : store_(s) {}

  std::string describe() const override { return store_.describe(); }

  Status put(const std::string& key, const std::string& json_text) override {
    json doc = json::parse(json_text, nullptr, false);
    if (doc.is_discarded()) {
      return Error{"state '" + key + "' is not JSON"};
    }
    return store_.put_state(key, doc);
  }

  Result<std::optional<std::string>> get(const std::string& key) override {
    auto v = store_.get_state(key);
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
    return store_.append_events(batch);
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
  store::Store& store_;
};

}  // namespace

std::shared_ptr<StateStore> state_store_over(store::Store& store) {
  return std::make_shared<StoreState>(store);
}

}  // namespace steerdns::daemon
