#include "config/suggest.h"

#include <algorithm>
#include <limits>

#include "dns/name.h"

namespace steerdns::config {

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) {
    d[i][0] = i;
  }
  for (size_t j = 0; j <= b.size(); ++j) {
    d[0][j] = j;
  }
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cost =
          dns::lower(static_cast<uint8_t>(a[i - 1])) == dns::lower(static_cast<uint8_t>(b[j - 1]))
              ? 0
              : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

std::string suggest(std::string_view word, const std::vector<std::string_view>& candidates) {
  std::string best;
  size_t best_score = std::numeric_limits<size_t>::max();
  for (auto c : candidates) {
    size_t score;
    std::string_view shorter = c.size() < word.size() ? c : word;
    std::string_view longer = c.size() < word.size() ? word : c;
    if (shorter.size() >= 3 && longer.find(shorter) != std::string_view::npos) {
      score = 0;
    } else {
      size_t d = edit_distance(word, c);
      if (d > std::max<size_t>(2, word.size() / 3) || d >= std::max(word.size(), c.size())) {
        continue;
      }
      score = d + 1;
    }
    if (score < best_score || (score == best_score && c.size() > best.size())) {
      best_score = score;
      best = std::string(c);
    }
  }
  return best;
}

std::string did_you_mean(std::string_view word, const std::vector<std::string_view>& cands) {
  std::string s = suggest(word, cands);
  return s.empty() ? "" : " (did you mean '" + s + "'?)";
}

}  // namespace steerdns::config
