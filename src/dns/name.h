#pragma once
// Domain names in uncompressed wire form, case preserved; comparisons ignore ASCII case
// (RFC 4343). Limits: labels of at most 63 octets, names of at most 255 octets.
#include <array>
#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.h"
#include "dns/wire.h"

namespace steerdns::dns {

inline constexpr size_t kMaxNameLen = 255;
inline constexpr size_t kMaxLabelLen = 63;

inline uint8_t lower(uint8_t c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<uint8_t>(c + 32) : c;
}

// Case-insensitive equality of two uncompressed wire names of known length.
bool wire_name_equal(const uint8_t* a, const uint8_t* b, size_t len);
// Number of octets of the uncompressed wire name at p (bounded by max); 0 if malformed.
size_t wire_name_length(const uint8_t* p, size_t max);
// True if the uncompressed wire name equals `suffix` or lies below it (label-aligned match).
bool wire_name_is_under(const uint8_t* name, size_t len, const uint8_t* suffix, size_t slen);

class Name {
 public:
  Name() : len_(1) { buf_[0] = 0; }  // the root

  // Parses presentation format (RFC 1035 5.1 escapes \X and \DDD). A name without a trailing
  // dot is relative to origin; "@" is origin. Errors say why.
  static Result<Name> from_text(std::string_view text, const Name* origin = nullptr);
  // Reads a possibly compressed name at r's position (RFC 1035 4.1.4). Pointers must point
  // backwards, so loops are impossible; the total length is bounded. On failure r fails.
  static Name from_wire(WireReader& r);
  // From uncompressed wire bytes (validated).
  static Result<Name> from_uncompressed(const uint8_t* p, size_t len);

  const uint8_t* data() const { return buf_.data(); }
  size_t size() const { return len_; }
  bool is_root() const { return len_ == 1; }
  int label_count() const;  // root has 0
  std::string to_text() const;
  // Lower-cased copy (used as lookup key).
  Name lowered() const;

  // The name with the leftmost n labels removed.
  Name parent(int n = 1) const;
  // True if this name equals other or lies below it.
  bool is_subdomain_of(const Name& other) const;
  // Replaces the suffix `from` (which this name must be under) by `to`. Fails if too long.
  Result<Name> replace_suffix(const Name& from, const Name& to) const;
  // Prepends one label (e.g. "*").
  Result<Name> prepend(std::string_view label) const;

  friend bool operator==(const Name& a, const Name& b) {
    return a.len_ == b.len_ && wire_name_equal(a.buf_.data(), b.buf_.data(), a.len_);
  }
  // Canonical DNS order (RFC 4034 6.1): by labels from the right, case-insensitively.
  friend std::strong_ordering operator<=>(const Name& a, const Name& b);

  size_t hash() const;

 private:
  std::array<uint8_t, kMaxNameLen> buf_;
  uint8_t len_;
};

// FNV-1a over lower-cased wire bytes; the same function the zone index uses.
size_t hash_wire_name(const uint8_t* p, size_t len);

struct NameHash {
  size_t operator()(const Name& n) const { return n.hash(); }
};

}  // namespace steerdns::dns
