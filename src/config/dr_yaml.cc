// Parses `actions:` into dr::ActionsSpec.
#include "config/dr_yaml.h"

#include <algorithm>
#include <cctype>
#include <string_view>
#include <vector>

#include "config/health_yaml.h"
#include "config/loader.h"
#include "config/suggest.h"
#include "config/yaml_fields.h"

namespace steerdns::config {
namespace {

using dr::ActionKind;
using dr::ActionSpec;

constexpr std::string_view kActionKeys[] = {"webhook", "exec",      "method",  "headers",
                                            "timeout", "retries",   "backoff", "on_failure",
                                            "sets",    "max_output"};
constexpr std::string_view kMethods[] = {"POST", "PUT", "PATCH", "GET", "DELETE", "HEAD"};

constexpr Millis kMaxTimeoutMs = 3'600'000;
constexpr int kMaxRetries = 100;

class Parser : public YamlFieldReader {
 public:
  explicit Parser(std::string file) : YamlFieldReader(std::move(file)) {}

  Result<dr::ActionsSpec> parse(const YAML::Node& node);

 private:
  // "file:line: actions: on_failover[2]: field: reason"
  Error err(const YAML::Node& n, const std::string& field, const std::string& why) const override {
    std::string who = where_.empty() ? "actions" : "actions: " + where_;
    return Error{at(n) + ": " + who + (field.empty() ? "" : ": " + field) + ": " + why};
  }
  Result<Millis> duration(const std::string& key, const YAML::Node& v, Millis lo, Millis hi) const;
  Result<ActionSpec> action(const YAML::Node& n);
  steerdns::Status url(const YAML::Node& v, ActionSpec& a) const;

  std::string where_;  // "on_failover[2]"
};

Result<Millis> Parser::duration(const std::string& key, const YAML::Node& v, Millis lo,
                                Millis hi) const {
  auto d = YamlFieldReader::duration(key, v);
  if (!d) {
    return Error{d.error()};
  }
  if (*d < lo || *d > hi) {
    return err(
        v, key,
        v.Scalar() + " is out of range " + std::to_string(lo) + "ms.." + std::to_string(hi) + "ms");
  }
  return *d;
}

steerdns::Status Parser::url(const YAML::Node& v, ActionSpec& a) const {
  auto u = str("webhook", v);
  if (!u) {
    return Error{u.error()};
  }
  size_t sep = u->find("://");
  if (sep == std::string::npos) {
    return err(v, "webhook", "'" + *u + "' is not a URL (expected http://host[:port]/path)");
  }
  std::string scheme = u->substr(0, sep);
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (scheme != "http" && scheme != "https") {
    return err(v, "webhook", "scheme '" + scheme + "' is not http or https");
  }
  std::string rest = u->substr(sep + 3);
  std::string authority = rest.substr(0, rest.find_first_of("/?#"));
  if (authority.empty() || authority.front() == ':') {
    return err(v, "webhook", "'" + *u + "' has no host");
  }
  if (u->find_first_of(" \t\r\n") != std::string::npos) {
    return err(v, "webhook", "'" + *u + "' contains white space (encode it as %20)");
  }
  a.url = *u;
  return OkStatus();
}

Result<ActionSpec> Parser::action(const YAML::Node& n) {
  if (!n.IsMap()) {
    return err(
        n, "",
        std::string("each action must be a mapping with 'webhook' or 'exec', not ") + yaml_kind(n));
  }
  ActionSpec a;
  a.where = at(n);
  std::vector<std::string_view> cands(std::begin(kActionKeys), std::end(kActionKeys));
  bool has_webhook = false;
  bool has_exec = false;
  std::vector<std::string> seen;
  // Kind first, so that errors about other keys can say which kind they belong to.
  for (const auto& kv : n) {
    if (!kv.first.IsScalar()) {
      return err(kv.first, "", "keys must be plain words");
    }
    const std::string& key = kv.first.Scalar();
    if (std::find(cands.begin(), cands.end(), key) == cands.end()) {
      return err(kv.first, "", "unknown key '" + key + "'" + did_you_mean(key, cands));
    }
    if (std::find(seen.begin(), seen.end(), key) != seen.end()) {
      return err(kv.first, "", "key '" + key + "' given twice");
    }
    seen.push_back(key);
    has_webhook = has_webhook || key == "webhook";
    has_exec = has_exec || key == "exec";
  }
  if (has_webhook == has_exec) {
    return err(n, "",
               has_webhook ? "give either 'webhook' or 'exec', not both"
                           : "needs 'webhook: URL' or 'exec: [program, args...]'");
  }
  a.kind = has_webhook ? ActionKind::kWebhook : ActionKind::kExec;
  for (const auto& kv : n) {
    const std::string& key = kv.first.Scalar();
    const YAML::Node& v = kv.second;
    if (key == "webhook") {
      if (auto st = url(v, a); !st) {
        return Error{st.error()};
      }
    } else if (key == "exec") {
      auto argv = str_list(key, v);
      if (!argv) {
        return Error{argv.error()};
      }
      if (argv->empty() || argv->front().empty()) {
        return err(v, key, "needs a program: [program, args...] (no shell is used)");
      }
      a.argv = std::move(*argv);
    } else if (key == "method") {
      if (a.kind != ActionKind::kWebhook) {
        return err(kv.first, key, "only webhooks have a method");
      }
      auto m = str(key, v);
      if (!m) {
        return Error{m.error()};
      }
      std::string up = *m;
      std::transform(up.begin(), up.end(), up.begin(),
                     [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
      std::vector<std::string_view> ms(std::begin(kMethods), std::end(kMethods));
      if (std::find(ms.begin(), ms.end(), up) == ms.end()) {
        return err(v, key,
                   "'" + *m + "' is not one of POST, PUT, PATCH, GET, DELETE, HEAD" +
                       did_you_mean(up, ms));
      }
      a.method = up;
    } else if (key == "headers") {
      if (a.kind != ActionKind::kWebhook) {
        return err(kv.first, key, "only webhooks have headers");
      }
      if (!v.IsMap()) {
        return err(v, key, std::string("must be a mapping of name: value, not ") + yaml_kind(v));
      }
      for (const auto& h : v) {
        auto name = str(key, h.first);
        if (!name) {
          return Error{name.error()};
        }
        auto val = str(key, h.second);
        if (!val) {
          return Error{val.error()};
        }
        bool bad_name = name->empty() || name->find_first_of(": \t\r\n") != std::string::npos;
        if (bad_name || val->find_first_of("\r\n") != std::string::npos) {
          return err(h.first, key,
                     "'" + *name +
                         "': header names are one word without ':', "
                         "values one line");
        }
        a.headers.emplace_back(*name, *val);
      }
    } else if (key == "timeout") {
      auto d = duration(key, v, 1, kMaxTimeoutMs);
      if (!d) {
        return Error{d.error()};
      }
      a.timeout_ms = *d;
    } else if (key == "retries") {
      auto r = integer(key, v, 0, kMaxRetries);
      if (!r) {
        return Error{r.error()};
      }
      a.retries = static_cast<int>(*r);
    } else if (key == "backoff") {
      auto d = duration(key, v, 0, 60'000);
      if (!d) {
        return Error{d.error()};
      }
      a.backoff_ms = *d;
    } else if (key == "on_failure") {
      auto s = str(key, v);
      if (!s) {
        return Error{s.error()};
      }
      if (*s != "continue" && *s != "stop") {
        return err(v, key,
                   "'" + *s + "' is not continue or stop" + did_you_mean(*s, {"continue", "stop"}));
      }
      a.stop_on_failure = *s == "stop";
    } else if (key == "sets") {
      auto sets = str_list(key, v);
      if (!sets) {
        return Error{sets.error()};
      }
      for (const auto& s : *sets) {
        if (s.empty() || s.find_first_of(" \t#") != std::string::npos) {
          return err(v, key, "'" + s + "' is not a record set name (NAME or NAME/TYPE)");
        }
      }
      a.sets = std::move(*sets);
    } else if (key == "max_output") {
      auto m = integer(key, v, 0, 1 << 20);
      if (!m) {
        return Error{m.error()};
      }
      a.max_output = static_cast<size_t>(*m);
    }
  }
  return a;
}

Result<dr::ActionsSpec> Parser::parse(const YAML::Node& node) {
  dr::ActionsSpec spec;
  if (!node.IsDefined() || node.IsNull()) {
    return spec;
  }
  if (!node.IsMap()) {
    return err(node, "",
               std::string("must be a mapping of on_<event>: [actions], not ") + yaml_kind(node));
  }
  std::vector<std::string> keys;
  for (auto t : dr::kActionEventTypes) {
    keys.push_back("on_" + std::string(t));
  }
  std::vector<std::string_view> cands(keys.begin(), keys.end());
  for (const auto& kv : node) {
    if (!kv.first.IsScalar()) {
      return err(kv.first, "", "keys must be plain words like on_failover");
    }
    const std::string& key = kv.first.Scalar();
    if (std::find(cands.begin(), cands.end(), key) == cands.end()) {
      std::string all;
      for (const auto& k : keys) {
        all += (all.empty() ? "" : ", ") + k;
      }
      return err(kv.first, "",
                 "unknown key '" + key + "'" + did_you_mean(key, cands) + " (known: " + all + ")");
    }
    std::string type = key.substr(3);
    if (spec.on.count(type) != 0) {
      return err(kv.first, "", "key '" + key + "' given twice");
    }
    const YAML::Node& list = kv.second;
    std::vector<ActionSpec> actions;
    if (!list.IsNull()) {
      if (!list.IsSequence()) {
        where_ = key;
        return err(list, "", std::string("must be a list of actions, not ") + yaml_kind(list));
      }
      size_t i = 0;
      for (const auto& item : list) {
        where_ = key + "[" + std::to_string(++i) + "]";
        auto a = action(item);
        if (!a) {
          return Error{a.error()};
        }
        actions.push_back(std::move(*a));
      }
    }
    where_.clear();
    spec.on.emplace(type, std::move(actions));
  }
  return spec;
}

}  // namespace

Result<dr::ActionsSpec> parse_actions(const YAML::Node& node, const std::string& file) {
  return Parser(file).parse(node);
}

steerdns::Status check_action_sets(const YAML::Node& node, const std::string& file,
                                   const policy::SteeringSpec& steering) {
  if (!node.IsDefined() || !node.IsMap()) {
    return OkStatus();  // parse_actions() accepted it: nothing to filter
  }
  std::vector<std::string> keys;
  for (const auto& rs : steering.record_sets) {
    keys.push_back(rs.key());
  }
  for (const auto& kv : node) {
    const YAML::Node& list = kv.second;
    if (!list.IsSequence()) {
      continue;
    }
    size_t i = 0;
    for (const auto& item : list) {
      ++i;
      if (!item.IsMap() || !item["sets"] || !item["sets"].IsSequence()) {
        continue;
      }
      for (const auto& entry : item["sets"]) {
        const std::string& f = entry.Scalar();
        if (std::any_of(keys.begin(), keys.end(),
                        [&](const std::string& k) { return dr::set_filter_matches(f, k); })) {
          continue;
        }
        // Suggest in the form that was written: with or without /TYPE and the final dot.
        auto sl = f.rfind('/');
        bool typed = sl != std::string::npos;
        std::string written = f.substr(0, sl);
        bool dot = !written.empty() && written.back() == '.';
        std::vector<std::string> cands;
        for (const auto& k : keys) {
          auto slash = k.rfind('/');
          std::string name = k.substr(0, slash);
          if (!dot && name.size() > 1) {
            name.pop_back();
          }
          cands.push_back(typed ? name + k.substr(slash) : name);
        }
        std::vector<std::string_view> views(cands.begin(), cands.end());
        int line = entry.Mark().line >= 0 ? entry.Mark().line : item.Mark().line;
        std::string why = keys.empty()
                              ? "no record set has a routing policy, so this filter matches nothing"
                              : "no steered record set '" + f + "'" + did_you_mean(f, views) +
                                    "; an action filtered on it would never run";
        return Error{file + ":" + std::to_string(line < 0 ? 1 : line + 1) +
                     ": actions: " + kv.first.Scalar() + "[" + std::to_string(i) +
                     "]: sets: " + (keys.empty() ? "'" + f + "': " : "") + why};
      }
    }
  }
  return OkStatus();
}

}  // namespace steerdns::config
