#pragma once
// ASCII case mapping for protocol text (DNS names, type mnemonics, HTTP and AWS tokens): never
// locale-dependent, so "I" lowers to "i" in every locale.
#include <string>
#include <string_view>

namespace steerdns {

inline std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return out;
}

inline std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') {
      c = static_cast<char>(c - 'a' + 'A');
    }
  }
  return out;
}

}  // namespace steerdns
