#include "api/router.h"

#include <algorithm>
#include <stdexcept>

namespace steerdns::api {

namespace {

// Splits "/a/b/c" into raw segments {"a", "b", "c"}; "/" gives {}.
std::vector<std::string_view> split_raw(std::string_view path) {
  std::vector<std::string_view> out;
  if (path.size() > 1 && path.back() == '/') {
    path.remove_suffix(1);
  }
  if (path.size() <= 1) {
    return out;
  }
  path.remove_prefix(1);
  size_t start = 0;
  while (true) {
    size_t p = path.find('/', start);
    if (p == std::string_view::npos) {
      out.push_back(path.substr(start));
      break;
    }
    out.push_back(path.substr(start, p - start));
    start = p + 1;
  }
  return out;
}

// Higher is more specific: literal over {param} over {rest...}.
int score(int kind) { return kind == 0 ? 2 : kind == 1 ? 1 : 0; }

}  // namespace

std::string method_name(http::verb v) { return std::string(http::to_string(v)); }

void Router::add(http::verb method, std::string_view pattern, Handler handler) {
  Access a =
      (method == http::verb::get || method == http::verb::head) ? Access::kRead : Access::kWrite;
  add(method, pattern, a, std::move(handler));
}

void Router::add(http::verb method, std::string_view pattern, Access access, Handler handler) {
  auto bad = [&](const std::string& why) {
    throw std::invalid_argument("route '" + std::string(pattern) + "': " + why);
  };
  if (pattern.empty() || pattern.front() != '/') {
    bad("must start with '/'");
  }
  Compiled c;
  auto raw = split_raw(pattern);
  for (size_t i = 0; i < raw.size(); ++i) {
    std::string_view s = raw[i];
    if (s.empty()) {
      bad("empty segment");
    }
    if (s.front() == '{') {
      if (s.back() != '}' || s.size() < 3) {
        bad("unterminated or empty parameter '" + std::string(s) + "'");
      }
      std::string name(s.substr(1, s.size() - 2));
      Segment::Kind kind = Segment::kParam;
      if (name.size() > 3 && name.ends_with("...")) {
        name.resize(name.size() - 3);
        kind = Segment::kRest;
        if (i + 1 != raw.size()) {
          bad("a rest parameter must be the last segment");
        }
      }
      c.segments.push_back({kind, name});
    } else {
      if (s.find_first_of("{}") != std::string_view::npos) {
        bad("a parameter must be a whole segment");
      }
      c.segments.push_back({Segment::kLiteral, std::string(s)});
    }
  }
  for (const auto& r : routes_) {
    if (r.method == method && r.pattern == pattern) {
      bad("registered twice for " + method_name(method));
    }
  }
  routes_.push_back(Route{method, std::string(pattern), access, std::move(handler)});
  compiled_.push_back(std::move(c));
}

bool Router::match_one(const Compiled& c, const std::vector<std::string>& segs,
                       std::map<std::string, std::string>* params) {
  size_t n = c.segments.size();
  bool rest = n > 0 && c.segments.back().kind == Segment::kRest;
  if (rest ? segs.size() < n - 1 : segs.size() != n) {
    return false;
  }
  params->clear();
  for (size_t i = 0; i < n; ++i) {
    const Segment& s = c.segments[i];
    if (s.kind == Segment::kRest) {
      std::string joined;
      for (size_t j = i; j < segs.size(); ++j) {
        joined += (j == i ? "" : "/") + segs[j];
      }
      (*params)[s.text] = std::move(joined);
      return true;
    }
    if (s.kind == Segment::kLiteral) {
      if (segs[i] != s.text) {
        return false;
      }
    } else {
      if (segs[i].empty()) {
        return false;
      }
      (*params)[s.text] = segs[i];
    }
  }
  return true;
}

Router::Match Router::match(http::verb method, std::string_view path) const {
  Match m;
  std::vector<std::string> segs;
  for (auto raw : split_raw(path)) {
    auto d = percent_decode(raw);
    if (!d) {
      m.kind = Match::kBadPath;
      m.error = "path '" + std::string(path) + "': bad percent-escape in '" + std::string(raw) +
                "'";
      return m;
    }
    segs.push_back(std::move(*d));
  }
  // The best match for the method (HEAD falls back to GET), and every method the path has.
  std::vector<int> best_score;
  std::vector<int> fallback_score;
  const Route* fallback = nullptr;
  std::map<std::string, std::string> fallback_params;
  std::map<std::string, std::string> params;
  for (size_t i = 0; i < routes_.size(); ++i) {
    const Compiled& c = compiled_[i];
    if (!match_one(c, segs, &params)) {
      continue;
    }
    const Route& r = routes_[i];
    if (std::find(m.allowed.begin(), m.allowed.end(), r.method) == m.allowed.end()) {
      m.allowed.push_back(r.method);
    }
    std::vector<int> sc;
    for (const auto& s : c.segments) {
      sc.push_back(score(s.kind));
    }
    if (r.method == method) {
      if (m.route == nullptr || sc > best_score) {
        m.route = &r;
        m.params = params;
        best_score = sc;
      }
    } else if (method == http::verb::head && r.method == http::verb::get) {
      if (fallback == nullptr || sc > fallback_score) {
        fallback = &r;
        fallback_params = params;
        fallback_score = sc;
      }
    }
  }
  if (m.route == nullptr && fallback != nullptr) {
    m.route = fallback;
    m.params = std::move(fallback_params);
  }
  if (m.route != nullptr) {
    m.kind = Match::kFound;
  } else {
    m.kind = m.allowed.empty() ? Match::kNoPath : Match::kNoMethod;
    if (std::find(m.allowed.begin(), m.allowed.end(), http::verb::get) != m.allowed.end() &&
        std::find(m.allowed.begin(), m.allowed.end(), http::verb::head) == m.allowed.end()) {
      m.allowed.push_back(http::verb::head);
    }
  }
  return m;
}

}  // namespace steerdns::api
