#pragma once
// "Did you mean ...?" suggestions for unknown keys and values in configs.
#include <string>
#include <string_view>
#include <vector>

namespace steerdns::config {

// Optimal string alignment distance (Levenshtein plus adjacent transpositions), ASCII
// case-insensitive.
size_t edit_distance(std::string_view a, std::string_view b);

// The closest candidate, or "" if none is close. A candidate contained in the word (or
// containing it) wins over edit distance, so 'ttl_seconds' suggests 'ttl'.
std::string suggest(std::string_view word, const std::vector<std::string_view>& candidates);

// " (did you mean 'x'?)" or "".
std::string did_you_mean(std::string_view word, const std::vector<std::string_view>& candidates);

}  // namespace steerdns::config
