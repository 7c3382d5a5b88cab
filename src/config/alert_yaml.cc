// Parses `alerts:` into alert::AlertsSpec and `slo:` into alert::SloSpec.
#include "config/alert_yaml.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <set>
#include <string_view>
#include <vector>

#include "config/health_yaml.h"
#include "config/loader.h"
#include "config/suggest.h"
#include "config/yaml_fields.h"

namespace steerdns::config {
namespace {

using alert::ChannelKind;
using alert::ChannelSpec;

constexpr std::string_view kTopKeys[] = {"routes", "severities", "channels", "cert_expiring_days",
                                         "retry"};
constexpr std::string_view kRouteKeys[] = {"events", "severity", "targets"};
constexpr std::string_view kSeverityKeys[] = {"channels", "repeat", "escalate_after"};
constexpr std::string_view kChannelKeys[] = {"type", "url",      "headers",      "routing_key",
                                             "routing_key_env", "from", "to", "username",
                                             "password_env",    "timeout"};
constexpr std::string_view kRetryKeys[] = {"min", "max", "max_attempts"};
constexpr std::string_view kSloKeys[] = {"objective", "alert_below", "alert_window"};

constexpr Millis kDay = 86'400'000;

std::vector<std::string_view> views(const auto& arr) {
  return std::vector<std::string_view>(std::begin(arr), std::end(arr));
}

class Parser : public YamlFieldReader {
 public:
  Parser(std::string file, std::string section)
      : YamlFieldReader(std::move(file)), section_(std::move(section)) {}

  Result<alert::AlertsSpec> alerts(const YAML::Node& node, std::vector<std::string>* warnings);
  Result<alert::SloSpec> slo(const YAML::Node& node);

 private:
  // "file:line: alerts: channels: pd: field: reason"
  Error err(const YAML::Node& n, const std::string& field, const std::string& why) const override {
    std::string who = where_.empty() ? section_ : section_ + ": " + where_;
    return Error{at(n) + ": " + who + (field.empty() ? "" : ": " + field) + ": " + why};
  }
  // The keys of mapping `n`, each known and given once.
  steerdns::Status keys(const YAML::Node& n, const std::vector<std::string_view>& known,
                        const char* what) const;
  Result<Millis> duration_in(const std::string& key, const YAML::Node& v, Millis lo,
                             Millis hi) const;
  Result<double> percent(const std::string& key, const YAML::Node& v) const;
  Result<ChannelSpec> channel(const std::string& name, const YAML::Node& n,
                              std::vector<std::string>* warnings);
  Result<alert::SloObjective> objective(const YAML::Node& n, const alert::SloObjective& base);

  std::string section_;
  std::string where_;
};

steerdns::Status Parser::keys(const YAML::Node& n, const std::vector<std::string_view>& known,
                              const char* what) const {
  if (!n.IsMap()) {
    return err(n, "", std::string(what) + " must be a mapping, not " + yaml_kind(n));
  }
  std::set<std::string> seen;
  for (const auto& kv : n) {
    if (!kv.first.IsScalar()) {
      return err(kv.first, "", "keys must be plain words");
    }
    const std::string& key = kv.first.Scalar();
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      return err(kv.first, "", "unknown key '" + key + "'" + did_you_mean(key, known));
    }
    if (!seen.insert(key).second) {
      return err(kv.first, "", "key '" + key + "' given twice");
    }
  }
  return OkStatus();
}

Result<Millis> Parser::duration_in(const std::string& key, const YAML::Node& v, Millis lo,
                                   Millis hi) const {
  auto d = duration(key, v);
  if (!d) {
    return Error{d.error()};
  }
  if (*d < lo || *d > hi) {
    return err(v, key,
               v.Scalar() + " is out of range " + std::to_string(lo) + "ms.." +
                   std::to_string(hi) + "ms");
  }
  return *d;
}

Result<double> Parser::percent(const std::string& key, const YAML::Node& v) const {
  auto s = str(key, v);
  if (!s) {
    return Error{s.error()};
  }
  std::string t = *s;
  if (!t.empty() && t.back() == '%') {
    t.pop_back();
  }
  char* end = nullptr;
  double x = std::strtod(t.c_str(), &end);
  if (t.empty() || end != t.c_str() + t.size()) {
    return err(v, key, "must be a percentage like 99.9, not '" + *s + "'");
  }
  if (!(x > 0 && x < 100)) {
    return err(v, key, *s + " is out of range: a percentage above 0 and below 100");
  }
  return x;
}

bool url_scheme_ok(const std::string& url, std::initializer_list<std::string_view> schemes,
                   std::string& why) {
  size_t sep = url.find("://");
  if (sep == std::string::npos) {
    why = "'" + url + "' is not a URL";
    return false;
  }
  std::string scheme = url.substr(0, sep);
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (std::find(schemes.begin(), schemes.end(), scheme) == schemes.end()) {
    why = "scheme '" + scheme + "' is not ";
    size_t i = 0;
    for (auto s : schemes) {
      why.append(i++ == 0 ? "" : " or ").append(s);
    }
    return false;
  }
  std::string rest = url.substr(sep + 3);
  if (rest.empty() || rest.front() == '/' || rest.front() == ':') {
    why = "'" + url + "' has no host";
    return false;
  }
  if (url.find_first_of(" \t\r\n") != std::string::npos) {
    why = "'" + url + "' contains white space";
    return false;
  }
  return true;
}

Result<ChannelSpec> Parser::channel(const std::string& name, const YAML::Node& n,
                                    std::vector<std::string>* warnings) {
  where_ = "channels: " + name;
  if (auto st = keys(n, views(kChannelKeys), "a channel"); !st) {
    return Error{st.error()};
  }
  ChannelSpec c;
  c.name = name;
  c.where = at(n);
  if (!n["type"]) {
    return err(n, "", "needs 'type: webhook | slack | pagerduty | smtp'");
  }
  auto type = str("type", n["type"]);
  if (!type) {
    return Error{type.error()};
  }
  auto kinds = views(alert::kChannelKindNames);
  auto k = std::find(kinds.begin(), kinds.end(), *type);
  if (k == kinds.end()) {
    return err(n["type"], "type",
               "'" + *type + "' is not one of webhook, slack, pagerduty, smtp" +
                   did_you_mean(*type, kinds));
  }
  c.kind = static_cast<ChannelKind>(k - kinds.begin());
  const bool smtp = c.kind == ChannelKind::kSmtp;
  for (const auto& kv : n) {
    const std::string& key = kv.first.Scalar();
    const YAML::Node& v = kv.second;
    auto only = [&](bool ok, const char* kinds_text) -> steerdns::Status {
      if (!ok) {
        return err(kv.first, key, std::string("only ") + kinds_text + " channels take it");
      }
      return OkStatus();
    };
    if (key == "type") {
      continue;
    }
    if (key == "url") {
      auto u = str(key, v);
      if (!u) {
        return Error{u.error()};
      }
      std::string why;
      bool ok = smtp ? url_scheme_ok(*u, {"smtp", "smtps"}, why)
                     : url_scheme_ok(*u, {"http", "https"}, why);
      if (!ok) {
        return err(v, key, why);
      }
      c.url = *u;
    } else if (key == "headers") {
      if (auto st = only(c.kind == ChannelKind::kWebhook, "webhook"); !st) {
        return Error{st.error()};
      }
      if (!v.IsMap()) {
        return err(v, key, std::string("must be a mapping of name: value, not ") + yaml_kind(v));
      }
      for (const auto& h : v) {
        auto hn = str(key, h.first);
        auto hv = hn ? str(key, h.second) : hn;
        if (!hv) {
          return Error{hv.error()};
        }
        if (hn->empty() || hn->find_first_of(": \t\r\n") != std::string::npos ||
            hv->find_first_of("\r\n") != std::string::npos) {
          return err(h.first, key, "'" + *hn + "': header names are one word, values one line");
        }
        c.headers.emplace_back(*hn, *hv);
      }
    } else if (key == "routing_key" || key == "routing_key_env") {
      if (auto st = only(c.kind == ChannelKind::kPagerDuty, "pagerduty"); !st) {
        return Error{st.error()};
      }
      auto s = str(key, v);
      if (!s) {
        return Error{s.error()};
      }
      (key == "routing_key" ? c.routing_key : c.routing_key_env) = *s;
    } else if (key == "from" || key == "username" || key == "password_env") {
      if (auto st = only(smtp, "smtp"); !st) {
        return Error{st.error()};
      }
      auto s = str(key, v);
      if (!s) {
        return Error{s.error()};
      }
      (key == "from" ? c.from : key == "username" ? c.username : c.password_env) = *s;
    } else if (key == "to") {
      if (auto st = only(smtp, "smtp"); !st) {
        return Error{st.error()};
      }
      auto l = v.IsScalar() ? Result<std::vector<std::string>>(std::vector<std::string>{v.Scalar()})
                            : str_list(key, v);
      if (!l) {
        return Error{l.error()};
      }
      for (const auto& addr : *l) {
        if (addr.find('@') == std::string::npos ||
            addr.find_first_of(" \t\r\n<>,") != std::string::npos) {
          return err(v, key, "'" + addr + "' is not an email address");
        }
      }
      c.to = std::move(*l);
    } else if (key == "timeout") {
      auto d = duration_in(key, v, 100, 300'000);
      if (!d) {
        return Error{d.error()};
      }
      c.timeout_ms = *d;
    }
  }
  if (c.url.empty()) {
    return err(n, "", smtp ? "needs 'url: smtp://host:port'" : "needs 'url: http(s)://...'");
  }
  if (smtp && c.to.empty()) {
    return err(n, "", "needs 'to: [address, ...]'");
  }
  if (c.kind == ChannelKind::kPagerDuty) {
    if (c.routing_key.empty() == c.routing_key_env.empty()) {
      return err(n, "", "needs one of 'routing_key' or 'routing_key_env' (the variable holding it)");
    }
    if (!c.routing_key_env.empty() && std::getenv(c.routing_key_env.c_str()) == nullptr &&
        warnings != nullptr) {
      warnings->push_back(c.where + ": alerts: channels: " + name + ": " + c.routing_key_env +
                          " is not set: notifications to it fail until it is");
    }
  }
  where_.clear();
  return c;
}

Result<alert::AlertsSpec> Parser::alerts(const YAML::Node& node,
                                         std::vector<std::string>* warnings) {
  alert::AlertsSpec out;
  if (!node.IsDefined() || node.IsNull()) {
    return out;
  }
  if (auto st = keys(node, views(kTopKeys), "alerts"); !st) {
    return Error{st.error()};
  }
  if (YAML::Node ch = node["channels"]) {
    if (!ch.IsMap()) {
      return err(ch, "channels", std::string("must be a mapping of name: channel, not ") +
                                     yaml_kind(ch));
    }
    for (const auto& kv : ch) {
      auto c = channel(kv.first.Scalar(), kv.second, warnings);
      if (!c) {
        return Error{c.error()};
      }
      out.channels[c->name] = std::move(*c);
    }
  }
  std::vector<std::string> names;
  for (const auto& [n, c] : out.channels) {
    names.push_back(n);
  }
  std::vector<std::string_view> channel_names(names.begin(), names.end());
  if (YAML::Node sv = node["severities"]) {
    if (auto st = keys(sv, views(alert::kSeverityNames), "severities"); !st) {
      return Error{st.error()};
    }
    for (const auto& kv : sv) {
      where_ = "severities: " + kv.first.Scalar();
      auto& spec = out.severities[static_cast<size_t>(*alert::severity_from(kv.first.Scalar()))];
      if (auto st = keys(kv.second, views(kSeverityKeys), "a severity"); !st) {
        return Error{st.error()};
      }
      for (const auto& f : kv.second) {
        const std::string& key = f.first.Scalar();
        if (key == "channels") {
          auto l = str_list(key, f.second);
          if (!l) {
            return Error{l.error()};
          }
          for (const auto& c : *l) {
            if (!out.channels.count(c)) {
              return err(f.second, key,
                         "no channel '" + c + "' under alerts: channels" +
                             did_you_mean(c, channel_names));
            }
          }
          spec.channels = std::move(*l);
        } else {
          auto d = duration_in(key, f.second, 1'000, 30 * kDay);
          if (!d) {
            return Error{d.error()};
          }
          (key == "repeat" ? spec.repeat_ms : spec.escalate_after_ms) = *d;
        }
      }
      if (spec.escalate_after_ms > 0 &&
          *alert::severity_from(kv.first.Scalar()) == alert::Severity::kEmergency) {
        return err(kv.second["escalate_after"], "escalate_after",
                   "emergency is the highest level: there is nothing to escalate to");
      }
    }
    where_.clear();
  }
  if (YAML::Node routes = node["routes"]) {
    if (!routes.IsSequence()) {
      return err(routes, "routes", std::string("must be a list, not ") + yaml_kind(routes));
    }
    size_t i = 0;
    for (const auto& r : routes) {
      where_ = "routes[" + std::to_string(i++) + "]";
      if (auto st = keys(r, views(kRouteKeys), "a route"); !st) {
        return Error{st.error()};
      }
      alert::RouteSpec route;
      route.where = at(r);
      if (!r["events"] || !r["severity"]) {
        return err(r, "", "needs 'events: [...]' and 'severity: info | warning | critical | emergency'");
      }
      auto ev = str_list("events", r["events"]);
      if (!ev) {
        return Error{ev.error()};
      }
      if (ev->empty()) {
        return err(r["events"], "events", "is empty");
      }
      auto known = views(alert::kAlertEvents);
      for (const auto& e : *ev) {
        if (std::find(known.begin(), known.end(), e) == known.end()) {
          return err(r["events"], "events",
                     "unknown event '" + e + "'" + did_you_mean(e, known) +
                         " (docs/alerts.md lists them)");
        }
      }
      route.events = std::move(*ev);
      auto sev = str("severity", r["severity"]);
      if (!sev) {
        return Error{sev.error()};
      }
      auto s = alert::severity_from(*sev);
      if (!s) {
        return err(r["severity"], "severity",
                   "'" + *sev + "' is not one of info, warning, critical, emergency" +
                       did_you_mean(*sev, views(alert::kSeverityNames)));
      }
      route.severity = *s;
      if (YAML::Node t = r["targets"]) {
        auto l = str_list("targets", t);
        if (!l) {
          return Error{l.error()};
        }
        route.targets = std::move(*l);
      }
      if (out.severities[static_cast<size_t>(route.severity)].channels.empty() &&
          warnings != nullptr) {
        warnings->push_back(route.where + ": alerts: " + where_ + ": severity " + *sev +
                            " has no channels: these alerts are only listed, never sent");
      }
      out.routes.push_back(std::move(route));
    }
    where_.clear();
  }
  if (YAML::Node d = node["cert_expiring_days"]) {
    auto n = integer("cert_expiring_days", d, 1, 365);
    if (!n) {
      return Error{n.error()};
    }
    out.cert_expiring_days = static_cast<int>(*n);
  }
  if (YAML::Node r = node["retry"]) {
    where_ = "retry";
    if (auto st = keys(r, views(kRetryKeys), "retry"); !st) {
      return Error{st.error()};
    }
    if (r["min"]) {
      auto d = duration_in("min", r["min"], 100, kDay);
      if (!d) {
        return Error{d.error()};
      }
      out.retry_min_ms = *d;
    }
    if (r["max"]) {
      auto d = duration_in("max", r["max"], 100, kDay);
      if (!d) {
        return Error{d.error()};
      }
      out.retry_max_ms = *d;
    }
    if (r["max_attempts"]) {
      auto n = integer("max_attempts", r["max_attempts"], 1, 100000);
      if (!n) {
        return Error{n.error()};
      }
      out.max_attempts = static_cast<int>(*n);
    }
    if (out.retry_max_ms < out.retry_min_ms) {
      return err(r, "max", "is below min");
    }
    where_.clear();
  }
  return out;
}

std::string canonical_name(std::string n) {
  std::transform(n.begin(), n.end(), n.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (n.empty() || n.back() != '.') {
    n.push_back('.');
  }
  return n;
}

Result<alert::SloObjective> Parser::objective(const YAML::Node& n,
                                              const alert::SloObjective& base) {
  if (auto st = keys(n, views(kSloKeys), "an objective"); !st) {
    return Error{st.error()};
  }
  alert::SloObjective o = base;
  o.where = at(n);
  if (n["objective"]) {
    auto p = percent("objective", n["objective"]);
    if (!p) {
      return Error{p.error()};
    }
    o.objective = *p;
  }
  if (n["alert_below"]) {
    auto p = percent("alert_below", n["alert_below"]);
    if (!p) {
      return Error{p.error()};
    }
    o.alert_below = *p;
  }
  if (n["alert_window"]) {
    auto d = duration_in("alert_window", n["alert_window"], 60'000, 30 * kDay);
    if (!d) {
      return Error{d.error()};
    }
    o.alert_window_ms = *d;
  }
  return o;
}

Result<alert::SloSpec> Parser::slo(const YAML::Node& node) {
  alert::SloSpec out;
  if (!node.IsDefined() || node.IsNull()) {
    return out;
  }
  if (!node.IsMap()) {
    return err(node, "", std::string("must be a mapping of name: {objective: ...}, not ") +
                             yaml_kind(node));
  }
  if (YAML::Node d = node["default"]) {
    where_ = "default";
    auto o = objective(d, out.defaults);
    if (!o) {
      return Error{o.error()};
    }
    out.defaults = *o;
  }
  for (const auto& kv : node) {
    if (!kv.first.IsScalar()) {
      return err(kv.first, "", "keys must be names");
    }
    if (kv.first.Scalar() == "default") {
      continue;
    }
    std::string name = canonical_name(kv.first.Scalar());
    where_ = kv.first.Scalar();
    if (out.names.count(name)) {
      return err(kv.first, "", "name given twice");
    }
    auto o = objective(kv.second, out.defaults);
    if (!o) {
      return Error{o.error()};
    }
    out.names[name] = *o;
  }
  where_.clear();
  return out;
}

}  // namespace

Result<alert::AlertsSpec> parse_alerts(const YAML::Node& node, const std::string& file,
                                       std::vector<std::string>* warnings) {
  return Parser(file, "alerts").alerts(node, warnings);
}

Result<alert::SloSpec> parse_slo(const YAML::Node& node, const std::string& file) {
  return Parser(file, "slo").slo(node);
}

steerdns::Status check_slo_names(const YAML::Node& node, const std::string& file,
                                 const policy::SteeringSpec& steering) {
  if (!node.IsDefined() || !node.IsMap()) {
    return OkStatus();
  }
  std::vector<std::string> names;
  for (const auto& rs : steering.record_sets) {
    std::string k = rs.key();
    names.push_back(k.substr(0, k.rfind('/')));
  }
  std::vector<std::string_view> cands(names.begin(), names.end());
  for (const auto& kv : node) {
    if (kv.first.Scalar() == "default") {
      continue;
    }
    std::string name = canonical_name(kv.first.Scalar());
    if (std::find(names.begin(), names.end(), name) == names.end()) {
      int line = kv.first.Mark().line;
      return Error{file + ":" + std::to_string(line < 0 ? 1 : line + 1) + ": slo: " +
                   kv.first.Scalar() + ": no steered record set has this name" +
                   did_you_mean(name, cands)};
    }
  }
  return OkStatus();
}

}  // namespace steerdns::config
