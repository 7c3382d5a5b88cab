#include "dns/name.h"

#include <cctype>
#include <cstdio>
#include <cstring>

namespace steerdns::dns {

bool wire_name_equal(const uint8_t* a, const uint8_t* b, size_t len) {
  for (size_t i = 0; i < len; ++i) {
    if (a[i] != b[i] && lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

size_t wire_name_length(const uint8_t* p, size_t max) {
  size_t i = 0;
  while (i < max) {
    uint8_t l = p[i];
    if (l == 0) return i + 1 <= kMaxNameLen ? i + 1 : 0;
    if (l > kMaxLabelLen) return 0;
    i += 1 + l;
  }
  return 0;
}

bool wire_name_is_under(const uint8_t* name, size_t len, const uint8_t* suffix, size_t slen) {
  if (slen > len) return false;
  size_t off = len - slen;
  if (!wire_name_equal(name + off, suffix, slen)) return false;
  size_t i = 0;
  while (i < off) i += 1u + name[i];
  return i == off;
}

size_t hash_wire_name(const uint8_t* p, size_t len) {
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < len; ++i) {
    h ^= lower(p[i]);
    h *= 1099511628211ULL;
  }
  return static_cast<size_t>(h ^ (h >> 29));
}

size_t Name::hash() const { return hash_wire_name(buf_.data(), len_); }

Result<Name> Name::from_text(std::string_view text, const Name* origin) {
  Name n;
  if (text == "@") {
    if (!origin) return Error{"'@' used without an origin"};
    return *origin;
  }
  if (text == ".") return n;
  if (text.empty()) return Error{"empty name"};
  size_t out = 0;
  uint8_t label[kMaxLabelLen + 1];
  size_t llen = 0;
  bool absolute = false;
  auto flush = [&](bool final_root) -> Status {
    if (llen == 0 && !final_root) return Error{"empty label in '" + std::string(text) + "'"};
    if (out + 1 + llen > kMaxNameLen - 1) {
      return Error{"name '" + std::string(text) + "' is longer than 255 octets"};
    }
    n.buf_[out++] = static_cast<uint8_t>(llen);
    std::memcpy(&n.buf_[out], label, llen);
    out += llen;
    llen = 0;
    return OkStatus();
  };
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    uint8_t byte;
    if (c == '.') {
      if (auto s = flush(false); !s) return Error{s.error()};
      if (i + 1 == text.size()) absolute = true;
      continue;
    }
    if (c == '\\') {
      if (i + 1 >= text.size()) return Error{"dangling '\\' in '" + std::string(text) + "'"};
      if (text[i + 1] >= '0' && text[i + 1] <= '9') {
        if (i + 3 >= text.size() || !isdigit(static_cast<unsigned char>(text[i + 2])) ||
            !isdigit(static_cast<unsigned char>(text[i + 3]))) {
          return Error{"bad \\DDD escape in '" + std::string(text) + "'"};
        }
        int v = (text[i + 1] - '0') * 100 + (text[i + 2] - '0') * 10 + (text[i + 3] - '0');
        if (v > 255) return Error{"escape \\" + std::string(text.substr(i + 1, 3)) + " above 255"};
        byte = static_cast<uint8_t>(v);
        i += 3;
      } else {
        byte = static_cast<uint8_t>(text[i + 1]);
        i += 1;
      }
    } else {
      byte = static_cast<uint8_t>(c);
    }
    if (llen >= kMaxLabelLen) {
      return Error{"label longer than 63 octets in '" + std::string(text) + "'"};
    }
    label[llen++] = byte;
  }
  if (llen > 0) {
    if (auto s = flush(false); !s) return Error{s.error()};
  }
  if (!absolute) {
    if (!origin) return Error{"relative name '" + std::string(text) + "' without an origin"};
    if (out + origin->len_ > kMaxNameLen) {
      return Error{"name '" + std::string(text) + "' is longer than 255 octets"};
    }
    std::memcpy(&n.buf_[out], origin->buf_.data(), origin->len_);
    n.len_ = static_cast<uint8_t>(out + origin->len_);
    return n;
  }
  n.buf_[out++] = 0;
  n.len_ = static_cast<uint8_t>(out);
  return n;
}

Name Name::from_wire(WireReader& r) {
  Name n;
  size_t out = 0;
  size_t pos = r.pos();
  size_t end_pos = 0;  // where the reader continues after the name
  bool jumped = false;
  const uint8_t* d = r.data();
  size_t len = r.size();
  if (!r.ok()) return n;
  for (;;) {
    if (pos >= len) {
      r.fail();
      return Name();
    }
    uint8_t l = d[pos];
    if ((l & 0xC0) == 0xC0) {
      if (pos + 1 >= len) {
        r.fail();
        return Name();
      }
      size_t target = static_cast<size_t>(l & 0x3F) << 8 | d[pos + 1];
      if (!jumped) end_pos = pos + 2;
      // Only backward pointers: guarantees termination (each jump strictly decreases pos).
      if (target >= pos) {
        r.fail();
        return Name();
      }
      jumped = true;
      pos = target;
      continue;
    }
    if ((l & 0xC0) != 0) {  // 0x40/0x80: extended label types are obsolete
      r.fail();
      return Name();
    }
    if (pos + 1 + l > len || out + 1 + l > kMaxNameLen) {
      r.fail();
      return Name();
    }
    std::memcpy(&n.buf_[out], d + pos, 1 + l);
    out += 1 + l;
    pos += 1 + l;
    if (l == 0) break;
  }
  n.len_ = static_cast<uint8_t>(out);
  r.seek(jumped ? end_pos : pos);
  return n;
}

Result<Name> Name::from_uncompressed(const uint8_t* p, size_t len) {
  size_t l = wire_name_length(p, len);
  if (l == 0 || l != len) return Error{"malformed wire name"};
  Name n;
  std::memcpy(n.buf_.data(), p, len);
  n.len_ = static_cast<uint8_t>(len);
  return n;
}

int Name::label_count() const {
  int c = 0;
  for (size_t i = 0; buf_[i] != 0; i += 1 + buf_[i]) ++c;
  return c;
}

std::string Name::to_text() const {
  if (len_ == 1) return ".";
  std::string s;
  for (size_t i = 0; buf_[i] != 0; i += 1 + buf_[i]) {
    for (size_t j = 1; j <= buf_[i]; ++j) {
      uint8_t c = buf_[i + j];
      // '#' as \035: a leading "\#" would read as RFC 3597 generic rdata ("\# len hex").
      if (c <= 0x20 || c >= 0x7F || c == '#') {
        char tmp[5];
        std::snprintf(tmp, sizeof tmp, "\\%03u", c);
        s += tmp;
      } else if (!std::isalnum(c) && c != '-' && c != '_' && c != '/' && c != '*') {
        // Escape every other symbol: libzscanner (our own zone loader) reads only these bare.
        s += '\\';
        s += static_cast<char>(c);
      } else {
        s += static_cast<char>(c);
      }
    }
    s += '.';
  }
  return s;
}

Name Name::lowered() const {
  Name n = *this;
  for (size_t i = 0; n.buf_[i] != 0; i += 1 + n.buf_[i]) {
    for (size_t j = 1; j <= n.buf_[i]; ++j) n.buf_[i + j] = lower(n.buf_[i + j]);
  }
  return n;
}

Name Name::parent(int k) const {
  size_t i = 0;
  for (int c = 0; c < k && buf_[i] != 0; ++c) i += 1 + buf_[i];
  Name n;
  std::memcpy(n.buf_.data(), buf_.data() + i, len_ - i);
  n.len_ = static_cast<uint8_t>(len_ - i);
  return n;
}

bool Name::is_subdomain_of(const Name& other) const {
  return wire_name_is_under(buf_.data(), len_, other.buf_.data(), other.len_);
}

Result<Name> Name::replace_suffix(const Name& from, const Name& to) const {
  if (!is_subdomain_of(from)) return Error{"name is not below the suffix"};
  size_t prefix = len_ - from.len_;
  if (prefix + to.len_ > kMaxNameLen) return Error{"name too long after substitution"};
  Name n;
  std::memcpy(n.buf_.data(), buf_.data(), prefix);
  std::memcpy(n.buf_.data() + prefix, to.buf_.data(), to.len_);
  n.len_ = static_cast<uint8_t>(prefix + to.len_);
  return n;
}

Result<Name> Name::prepend(std::string_view label) const {
  if (label.empty() || label.size() > kMaxLabelLen) return Error{"bad label length"};
  if (len_ + 1 + label.size() > kMaxNameLen) return Error{"name too long"};
  Name n;
  n.buf_[0] = static_cast<uint8_t>(label.size());
  std::memcpy(n.buf_.data() + 1, label.data(), label.size());
  std::memcpy(n.buf_.data() + 1 + label.size(), buf_.data(), len_);
  n.len_ = static_cast<uint8_t>(len_ + 1 + label.size());
  return n;
}

std::strong_ordering operator<=>(const Name& a, const Name& b) {
  // Collect label offsets, then compare from the rightmost label.
  uint8_t oa[128], ob[128];
  int na = 0, nb = 0;
  for (size_t i = 0; a.buf_[i] != 0; i += 1 + a.buf_[i]) oa[na++] = static_cast<uint8_t>(i);
  for (size_t i = 0; b.buf_[i] != 0; i += 1 + b.buf_[i]) ob[nb++] = static_cast<uint8_t>(i);
  while (na > 0 && nb > 0) {
    const uint8_t* la = &a.buf_[oa[--na]];
    const uint8_t* lb = &b.buf_[ob[--nb]];
    size_t m = std::min(la[0], lb[0]);
    for (size_t j = 1; j <= m; ++j) {
      uint8_t ca = lower(la[j]), cb = lower(lb[j]);
      if (ca != cb) return ca <=> cb;
    }
    if (la[0] != lb[0]) return la[0] <=> lb[0];
  }
  return na <=> nb;
}

}  // namespace steerdns::dns
