#pragma once
// Bounds-checked cursors over DNS wire data with a sticky error: after the first failed read or
// write every later call is a no-op returning zeros, and the caller checks ok() once at the end.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace steerdns::dns {

class WireReader {
 public:
  WireReader(const uint8_t* data, size_t len, size_t pos = 0) : d_(data), len_(len), pos_(pos) {
    if (pos_ > len_) {
      fail();
    }
  }
  explicit WireReader(std::span<const uint8_t> s) : WireReader(s.data(), s.size()) {}

  bool ok() const { return ok_; }
  void fail() { ok_ = false; }
  size_t pos() const { return pos_; }
  size_t remaining() const { return ok_ ? len_ - pos_ : 0; }
  const uint8_t* data() const { return d_; }
  size_t size() const { return len_; }
  const uint8_t* cur() const { return d_ + pos_; }

  uint8_t u8() {
    if (!need(1)) {
      return 0;
    }
    return d_[pos_++];
  }
  uint16_t u16() {
    if (!need(2)) {
      return 0;
    }
    uint16_t v = static_cast<uint16_t>(d_[pos_] << 8 | d_[pos_ + 1]);
    pos_ += 2;
    return v;
  }
  uint32_t u32() {
    if (!need(4)) {
      return 0;
    }
    uint32_t v = uint32_t{d_[pos_]} << 24 | uint32_t{d_[pos_ + 1]} << 16 |
                 uint32_t{d_[pos_ + 2]} << 8 | d_[pos_ + 3];
    pos_ += 4;
    return v;
  }
  // Returns a pointer to n bytes and advances, or nullptr (and fails).
  const uint8_t* bytes(size_t n) {
    if (!need(n)) {
      return nullptr;
    }
    const uint8_t* p = d_ + pos_;
    pos_ += n;
    return p;
  }
  void skip(size_t n) { bytes(n); }
  // Skips a (possibly compressed) name without materialising it; bounded and loop-free because
  // pointers are not followed. A malformed name fails the reader. Returns ok().
  bool skip_name() {
    for (int labels = 0; labels < 128 && ok_; ++labels) {
      uint8_t l = u8();
      if (!ok_ || l == 0) {
        return ok_;
      }
      if ((l & 0xC0) == 0xC0) {
        u8();
        return ok_;
      }
      if ((l & 0xC0) != 0) {
        break;
      }
      skip(l);
    }
    fail();
    return false;
  }
  void seek(size_t pos) {
    if (pos > len_) {
      fail();
    } else if (ok_) {
      pos_ = pos;
    }
  }

 private:
  bool need(size_t n) {
    if (!ok_ || len_ - pos_ < n) {
      ok_ = false;
      return false;
    }
    return true;
  }
  const uint8_t* d_;
  size_t len_;
  size_t pos_;
  bool ok_ = true;
};

class WireWriter {
 public:
  WireWriter(uint8_t* buf, size_t cap) : b_(buf), cap_(cap), full_(cap) {}

  bool ok() const { return ok_; }
  size_t pos() const { return pos_; }
  size_t capacity() const { return cap_; }
  uint8_t* data() { return b_; }
  const uint8_t* data() const { return b_; }
  // Sets the usable capacity (e.g. the client's UDP payload size, or less to keep room for a
  // trailing OPT record); never beyond the buffer given at construction.
  void limit(size_t cap) {
    cap_ = cap < full_ ? cap : full_;
    if (pos_ > cap_) {
      ok_ = false;
    }
  }
  // Rolls back to an earlier position and clears the overflow flag (used for truncation).
  void rewind(size_t pos) {
    pos_ = pos;
    ok_ = true;
  }

  void u8(uint8_t v) {
    if (need(1)) {
      b_[pos_++] = v;
    }
  }
  void u16(uint16_t v) {
    if (need(2)) {
      b_[pos_] = static_cast<uint8_t>(v >> 8);
      b_[pos_ + 1] = static_cast<uint8_t>(v);
      pos_ += 2;
    }
  }
  void u32(uint32_t v) {
    if (need(4)) {
      b_[pos_] = static_cast<uint8_t>(v >> 24);
      b_[pos_ + 1] = static_cast<uint8_t>(v >> 16);
      b_[pos_ + 2] = static_cast<uint8_t>(v >> 8);
      b_[pos_ + 3] = static_cast<uint8_t>(v);
      pos_ += 4;
    }
  }
  void bytes(const void* p, size_t n) {
    if (need(n)) {
      if (n) {
        std::memcpy(b_ + pos_, p, n);
      }
      pos_ += n;
    }
  }
  void put_u16_at(size_t at, uint16_t v) {
    if (at + 2 <= pos_) {
      b_[at] = static_cast<uint8_t>(v >> 8);
      b_[at + 1] = static_cast<uint8_t>(v);
    }
  }

 private:
  bool need(size_t n) {
    if (!ok_ || cap_ - pos_ < n) {
      ok_ = false;
      return false;
    }
    return true;
  }
  uint8_t* b_;
  size_t cap_;
  size_t full_;
  size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace steerdns::dns
