#pragma once
// Typed reads of YAML values shared by the section parsers (health_yaml.cc, dr_yaml.cc). Each
// error goes through the parser's own err(), which words "file:line: <section>: field: reason".
// Control-plane only.
#include <yaml-cpp/yaml.h>

#include <charconv>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "config/health_yaml.h"
#include "config/loader.h"
#include "core/result.h"

namespace steerdns::config {

class YamlFieldReader {
 public:
  explicit YamlFieldReader(std::string file) : file_(std::move(file)) {}
  virtual ~YamlFieldReader() = default;

 protected:
  // "file:line" of n, 1-based; line 1 when n has no position (an undefined node).
  std::string at(const YAML::Node& n) const {
    int line = n.IsDefined() ? n.Mark().line : -1;
    return file_ + ":" + std::to_string(line < 0 ? 1 : line + 1);
  }
  virtual Error err(const YAML::Node& n, const std::string& field,
                    const std::string& why) const = 0;

  Result<std::string> str(const std::string& key, const YAML::Node& v) const {
    if (!v.IsScalar()) {
      return err(v, key, std::string("must be a string, not ") + yaml_kind(v));
    }
    return v.Scalar();
  }

  Result<std::vector<std::string>> str_list(const std::string& key, const YAML::Node& v) const {
    if (!v.IsSequence()) {
      return err(v, key, std::string("must be a list, not ") + yaml_kind(v));
    }
    std::vector<std::string> out;
    for (const auto& item : v) {
      auto s = str(key, item);
      if (!s) {
        return Error{s.error()};
      }
      out.push_back(*s);
    }
    return out;
  }

  // A whole number in lo..hi, written without spaces or a sign other than '-'.
  Result<int64_t> integer(const std::string& key, const YAML::Node& v, int64_t lo,
                          int64_t hi) const {
    auto s = str(key, v);
    if (!s) {
      return Error{s.error()};
    }
    int64_t x = 0;
    auto [p, ec] = std::from_chars(s->data(), s->data() + s->size(), x);
    if (s->empty() || ec != std::errc() || p != s->data() + s->size()) {
      return err(v, key, "must be a whole number, not '" + *s + "'");
    }
    if (x < lo || x > hi) {
      return err(v, key, *s + " is out of range " + std::to_string(lo) + ".." + std::to_string(hi));
    }
    return x;
  }

  // Milliseconds from "250ms", "5s", "2m", ... (parse_duration_ms).
  Result<int64_t> duration(const std::string& key, const YAML::Node& v) const {
    auto s = str(key, v);
    if (!s) {
      return Error{s.error()};
    }
    auto d = parse_duration_ms(*s);
    if (!d) {
      return err(v, key, d.error());
    }
    return *d;
  }

  std::string file_;
};

}  // namespace steerdns::config
