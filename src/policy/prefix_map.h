#pragma once
// Longest-prefix match over IPv4/IPv6 prefixes, built once and read without allocation: per
// family, one sorted array per prefix length that occurs, searched from the longest length down
// (at most 33 or 129 binary searches, in practice a handful).
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "dns/cidr.h"

namespace steerdns::policy {

template <class T>
class PrefixMap {
 public:
  // Later inserts of the same prefix are ignored (the first wins). Call build() before find().
  void insert(const dns::Cidr& c, T value) {
    Key k{};
    std::memcpy(k.data(), c.addr, 16);
    fam(c.family).pending.push_back({c.prefix, k, std::move(value)});
  }

  void build() {
    for (Family* f : {&v4_, &v6_}) {
      f->levels.clear();
      std::stable_sort(f->pending.begin(), f->pending.end(), [](const auto& a, const auto& b) {
        return a.prefix != b.prefix ? a.prefix > b.prefix : a.key < b.key;
      });
      for (auto& p : f->pending) {
        if (f->levels.empty() || f->levels.back().prefix != p.prefix) {
          f->levels.push_back({p.prefix, {}});
        }
        auto& entries = f->levels.back().entries;
        if (entries.empty() || entries.back().first != p.key) {
          entries.emplace_back(p.key, std::move(p.value));
        }
      }
      f->pending.clear();
    }
  }

  // The value of the longest prefix containing addr (16 bytes for AF_INET6, 4 for AF_INET), or
  // nullptr; *prefix receives its length.
  const T* find(int family, const uint8_t* addr, uint8_t* prefix) const {
    const Family& f = family == AF_INET ? v4_ : v6_;
    if (family != AF_INET && family != AF_INET6) {
      return nullptr;
    }
    size_t bytes = family == AF_INET ? 4 : 16;
    for (const Level& l : f.levels) {
      Key k{};
      std::memcpy(k.data(), addr, bytes);
      mask(k, l.prefix);
      auto it = std::lower_bound(l.entries.begin(), l.entries.end(), k,
                                 [](const auto& e, const Key& key) { return e.first < key; });
      if (it != l.entries.end() && it->first == k) {
        if (prefix != nullptr) {
          *prefix = l.prefix;
        }
        return &it->second;
      }
    }
    return nullptr;
  }

  // The longest prefix length present for a family (0 if none).
  uint8_t longest(int family) const {
    const Family& f = family == AF_INET ? v4_ : v6_;
    return f.levels.empty() ? 0 : f.levels.front().prefix;
  }
  bool empty() const { return v4_.levels.empty() && v6_.levels.empty(); }

 private:
  using Key = std::array<uint8_t, 16>;
  struct Pending {
    uint8_t prefix;
    Key key;
    T value;
  };
  struct Level {
    uint8_t prefix;
    std::vector<std::pair<Key, T>> entries;  // sorted by key
  };
  struct Family {
    std::vector<Pending> pending;
    std::vector<Level> levels;  // longest prefix first
  };

  static void mask(Key& k, uint8_t prefix) {
    for (size_t i = 0; i < 16; ++i) {
      int bits = std::clamp(static_cast<int>(prefix) - static_cast<int>(i) * 8, 0, 8);
      k[i] &= static_cast<uint8_t>(0xFF00 >> bits);
    }
  }
  Family& fam(int family) { return family == AF_INET ? v4_ : v6_; }

  Family v4_, v6_;
};

}  // namespace steerdns::policy
