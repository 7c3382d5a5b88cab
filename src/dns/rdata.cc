#include "dns/rdata.h"

#include <arpa/inet.h>

#include <cctype>
#include <cstdio>
#include <cstring>

#include "dns/name.h"

namespace steerdns::dns {
namespace {

constexpr size_t kBad = static_cast<size_t>(-1);

// SvcParams (RFC 9460 2.2): keys strictly ascending, each value well-formed for its key, as
// the presentation format requires (a malformed value makes the RR malformed), so that what is
// served also reads back from its text. Keys without a format of their own take any value.
// nullptr if valid, else why not.
const char* svc_params_error(const uint8_t* p, size_t n) {
  size_t i = 0;
  int last = -1;
  const uint8_t* mandatory = nullptr;
  size_t mandatory_len = 0;
  while (i < n) {
    if (n - i < 4) return "a parameter is cut short";
    const int key = p[i] << 8 | p[i + 1];
    const size_t vl = static_cast<size_t>(p[i + 2] << 8 | p[i + 3]);
    const uint8_t* v = p + i + 4;
    if (n - i - 4 < vl) return "a parameter value runs past the end";
    if (key <= last) return "keys must be in ascending order, each at most once";
    if (key == 65535) return "key65535 is reserved";
    last = key;
    switch (key) {
      case 0:  // one or more keys, ascending, never mandatory itself (8)
        if (vl < 2 || vl % 2 != 0) return "mandatory needs one or more keys";
        for (size_t j = 0; j < vl; j += 2) {
          const int k = v[j] << 8 | v[j + 1];
          if (k == 0) return "mandatory must not list itself";
          if (j > 0 && k <= (v[j - 2] << 8 | v[j - 1])) {
            return "mandatory lists a key twice (or out of order)";
          }
        }
        mandatory = v;
        mandatory_len = vl;
        break;
      case 1:  // one or more non-empty ids (7.1.1)
        if (vl == 0) return "alpn needs one or more protocol ids";
        for (size_t j = 0; j < vl; j += 1u + v[j]) {
          if (v[j] == 0 || j + 1u + v[j] > vl) return "alpn has an empty or cut-short id";
        }
        break;
      case 2:
        if (vl != 0) return "no-default-alpn takes no value";
        break;
      case 3:
        if (vl != 2) return "port must be one number (2 octets)";
        break;
      case 4:
        if (vl == 0 || vl % 4 != 0) return "ipv4hint must be one or more IPv4 addresses";
        break;
      case 5:  // an ECHConfigList, never empty
        if (vl == 0) return "ech must not be empty";
        break;
      case 6:
        if (vl == 0 || vl % 16 != 0) return "ipv6hint must be one or more IPv6 addresses";
        break;
      default:
        break;
    }
    i += 4 + vl;
  }
  // Every key that mandatory lists is present (8: self-consistency).
  for (size_t j = 0; j < mandatory_len; j += 2) {
    const int k = mandatory[j] << 8 | mandatory[j + 1];
    bool found = false;
    for (size_t o = 0; o < n && !found; o += 4u + (p[o + 2] << 8 | p[o + 3])) {
      found = (p[o] << 8 | p[o + 1]) == k;
    }
    if (!found) return "a key listed in mandatory is missing";
  }
  return nullptr;
}

// Length of one field of uncompressed rdata starting at p with n octets left; kBad if invalid.
size_t field_len(Field f, const uint8_t* p, size_t n) {
  switch (f) {
    case Field::kU8:
      return n >= 1 ? 1 : kBad;
    case Field::kU16:
      return n >= 2 ? 2 : kBad;
    case Field::kU32:
    case Field::kIPv4:
      return n >= 4 ? 4 : kBad;
    case Field::kIPv6:
      return n >= 16 ? 16 : kBad;
    case Field::kName:
    case Field::kNameNC: {
      size_t l = wire_name_length(p, n);
      return l ? l : kBad;
    }
    case Field::kString:
    case Field::kCaaTag:
      if (n < 1 || n < 1u + p[0]) return kBad;
      if (f == Field::kCaaTag) {
        // RFC 8659 4.1: a non-empty tag of ASCII letters and digits only.
        if (p[0] == 0) return kBad;
        for (size_t i = 1; i <= p[0]; ++i) {
          if (!std::isalnum(p[i])) return kBad;
        }
      }
      return 1u + p[0];
    case Field::kStrings: {
      if (n == 0) return kBad;
      size_t i = 0;
      while (i < n) {
        if (i + 1 + p[i] > n) return kBad;
        i += 1 + p[i];
      }
      return n;
    }
    case Field::kSvcParams:
      return svc_params_error(p, n) == nullptr ? n : kBad;
    case Field::kHex:
    case Field::kBase64:
      // Digests, fingerprints and keys (DS, SSHFP, TLSA, DNSKEY) are never empty.
      return n >= 1 ? n : kBad;
    case Field::kCaaValue:
      return n;
  }
  return kBad;
}

void append_quoted(std::string& s, const uint8_t* p, size_t n) {
  s += '"';
  for (size_t i = 0; i < n; ++i) {
    uint8_t c = p[i];
    if (c == '"' || c == '\\') {
      s += '\\';
      s += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7F) {
      char tmp[5];
      std::snprintf(tmp, sizeof tmp, "\\%03u", c);
      s += tmp;
    } else {
      s += static_cast<char>(c);
    }
  }
  s += '"';
}

void append_hex(std::string& s, const uint8_t* p, size_t n) {
  static const char* kDigits = "0123456789ABCDEF";
  for (size_t i = 0; i < n; ++i) {
    s += kDigits[p[i] >> 4];
    s += kDigits[p[i] & 15];
  }
}

void append_base64(std::string& s, const uint8_t* p, size_t n) {
  static const char* kB64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t i = 0;
  for (; i + 2 < n; i += 3) {
    uint32_t v = uint32_t{p[i]} << 16 | uint32_t{p[i + 1]} << 8 | p[i + 2];
    s += kB64[v >> 18];
    s += kB64[(v >> 12) & 63];
    s += kB64[(v >> 6) & 63];
    s += kB64[v & 63];
  }
  if (i + 1 == n) {
    uint32_t v = uint32_t{p[i]} << 16;
    s += kB64[v >> 18];
    s += kB64[(v >> 12) & 63];
    s += "==";
  } else if (i + 2 == n) {
    uint32_t v = uint32_t{p[i]} << 16 | uint32_t{p[i + 1]} << 8;
    s += kB64[v >> 18];
    s += kB64[(v >> 12) & 63];
    s += kB64[(v >> 6) & 63];
    s += '=';
  }
}

void append_svc_params(std::string& s, const uint8_t* p, size_t n) {
  static const char* kKeys[] = {"mandatory", "alpn", "no-default-alpn", "port",
                                "ipv4hint",  "ech",  "ipv6hint"};
  size_t i = 0;
  while (i + 4 <= n) {
    uint16_t key = static_cast<uint16_t>(p[i] << 8 | p[i + 1]);
    size_t vl = static_cast<size_t>(p[i + 2] << 8 | p[i + 3]);
    const uint8_t* v = p + i + 4;
    s += ' ';
    s += key < 7 ? kKeys[key] : "key" + std::to_string(key);
    i += 4 + vl;
    if (key == 2 && vl == 0) continue;
    s += '=';
    char buf[INET6_ADDRSTRLEN];
    switch (key) {
      case 0:
        for (size_t j = 0; j + 1 < vl; j += 2) {
          if (j) s += ',';
          // mandatory lists SvcParamKeys (RFC 9460 8), not RR types.
          uint16_t k = static_cast<uint16_t>(v[j] << 8 | v[j + 1]);
          s += k < 7 ? kKeys[k] : "key" + std::to_string(k);
        }
        break;
      case 1: {
        // A value-list (RFC 9460 A.1): a comma or backslash inside an id is escaped with a
        // backslash before the text is quoted (which escapes that backslash again).
        std::string list;
        for (size_t j = 0; j < vl && j + 1 + v[j] <= vl; j += 1 + v[j]) {
          if (!list.empty()) list += ',';
          for (size_t k = 0; k < v[j]; ++k) {
            const char c = static_cast<char>(v[j + 1 + k]);
            if (c == ',' || c == '\\') list += '\\';
            list += c;
          }
        }
        append_quoted(s, reinterpret_cast<const uint8_t*>(list.data()), list.size());
        break;
      }
      case 3:
        s += std::to_string(vl == 2 ? (v[0] << 8 | v[1]) : 0);
        break;
      case 4:
        for (size_t j = 0; j + 4 <= vl; j += 4) {
          if (j) s += ',';
          s += inet_ntop(AF_INET, v + j, buf, sizeof buf);
        }
        break;
      case 5:
        append_base64(s, v, vl);
        break;
      case 6:
        for (size_t j = 0; j + 16 <= vl; j += 16) {
          if (j) s += ',';
          s += inet_ntop(AF_INET6, v + j, buf, sizeof buf);
        }
        break;
      default:
        append_quoted(s, v, vl);
    }
  }
}

bool compressible_type(uint16_t type) {
  // RFC 3597 section 4: only RFC 1035 types may have compressed names in their rdata.
  return type == rrtype::NS || type == rrtype::CNAME || type == rrtype::SOA ||
         type == rrtype::PTR || type == rrtype::MX;
}

// Compares the (possibly compressed) name at msg[off] with an uncompressed name.
bool equal_at(const uint8_t* msg, size_t msglen, size_t off, const uint8_t* name, size_t len) {
  size_t i = 0;
  int hops = 0;
  while (off < msglen) {
    uint8_t l = msg[off];
    if ((l & 0xC0) == 0xC0) {
      if (off + 1 >= msglen || ++hops > 64) return false;
      off = static_cast<size_t>(l & 0x3F) << 8 | msg[off + 1];
      continue;
    }
    if (i >= len || name[i] != l || off + 1 + l > msglen || i + 1 + l > len) return false;
    if (!wire_name_equal(msg + off + 1, name + i + 1, l)) return false;
    if (l == 0) return i + 1 == len;
    i += 1 + l;
    off += 1 + l;
  }
  return false;
}

}  // namespace

void Compressor::remember(const uint8_t* name, size_t len, size_t offset) {
  for (size_t i = 0; name[i] != 0 && i < len; i += 1 + name[i]) {
    if (n_ >= kMax || offset + i >= 0x4000) return;
    e_[n_++] = Entry{static_cast<uint16_t>(offset + i), static_cast<uint16_t>(len - i),
                     static_cast<uint32_t>(hash_wire_name(name + i, len - i))};
  }
}

void Compressor::write_name(WireWriter& w, const uint8_t* name, size_t len, bool compress) {
  size_t i = 0;
  while (name[i] != 0) {
    size_t slen = len - i;
    auto h = static_cast<uint32_t>(hash_wire_name(name + i, slen));
    if (compress) {
      for (int k = 0; k < n_; ++k) {
        const Entry& e = e_[k];
        if (e.hash == h && e.len == slen && equal_at(w.data(), w.pos(), e.off, name + i, slen)) {
          w.u16(static_cast<uint16_t>(0xC000 | e.off));
          return;
        }
      }
    }
    if (n_ < kMax && w.pos() < 0x4000) {
      e_[n_++] = Entry{static_cast<uint16_t>(w.pos()), static_cast<uint16_t>(slen), h};
    }
    w.bytes(name + i, 1u + name[i]);
    i += 1u + name[i];
  }
  w.u8(0);
}

bool rdata_from_wire(WireReader& r, uint16_t rdlen, uint16_t type, std::vector<uint8_t>& out) {
  size_t start = r.pos();
  size_t end = start + rdlen;
  if (rdlen > r.remaining()) {
    r.fail();
    return false;
  }
  const TypeInfo* ti = type_info(type);
  if (!ti) {
    const uint8_t* p = r.bytes(rdlen);
    if (!p) return false;
    out.insert(out.end(), p, p + rdlen);
    return true;
  }
  for (int k = 0; k < ti->nfields; ++k) {
    Field f = ti->fields[k];
    if (f == Field::kName || f == Field::kNameNC) {
      // RFC 3597: decompress names in every type we know.
      WireReader sub(r.data(), end, r.pos());
      Name n = Name::from_wire(sub);
      if (!sub.ok()) {
        r.fail();
        return false;
      }
      out.insert(out.end(), n.data(), n.data() + n.size());
      r.seek(sub.pos());
      continue;
    }
    size_t left = end - r.pos();
    size_t l = field_len(f, r.cur(), left);
    if (l == kBad) {
      r.fail();
      return false;
    }
    const uint8_t* p = r.bytes(l);
    if (!p) return false;
    out.insert(out.end(), p, p + l);
  }
  if (r.pos() != end) {
    r.fail();
    return false;
  }
  return r.ok();
}

bool rdata_valid(uint16_t type, const uint8_t* rd, size_t len) {
  const TypeInfo* ti = type_info(type);
  if (!ti) return true;
  size_t i = 0;
  for (int k = 0; k < ti->nfields; ++k) {
    size_t l = field_len(ti->fields[k], rd + i, len - i);
    if (l == kBad) return false;
    i += l;
  }
  return i == len;
}

std::string rdata_problem(uint16_t type, const uint8_t* rd, size_t len) {
  const TypeInfo* ti = type_info(type);
  if (!ti) return {};
  size_t i = 0;
  for (int k = 0; k < ti->nfields; ++k) {
    if (ti->fields[k] == Field::kSvcParams) {
      if (const char* e = svc_params_error(rd + i, len - i)) return e;
    }
    size_t l = field_len(ti->fields[k], rd + i, len - i);
    if (l == kBad) return {};
    i += l;
  }
  return {};
}

void rdata_write(WireWriter& w, Compressor& c, uint16_t type, const uint8_t* rd, size_t len) {
  size_t len_at = w.pos();
  w.u16(0);
  const TypeInfo* ti = type_info(type);
  if (!ti || !compressible_type(type)) {
    w.bytes(rd, len);
    w.put_u16_at(len_at, static_cast<uint16_t>(len));
    return;
  }
  size_t i = 0;
  for (int k = 0; k < ti->nfields && i <= len; ++k) {
    Field f = ti->fields[k];
    size_t l = field_len(f, rd + i, len - i);
    if (l == kBad) break;
    if (f == Field::kName) {
      c.write_name(w, rd + i, l, true);
    } else {
      w.bytes(rd + i, l);
    }
    i += l;
  }
  w.put_u16_at(len_at, static_cast<uint16_t>(w.pos() - len_at - 2));
}

std::string rdata_to_text(uint16_t type, const uint8_t* rd, size_t len) {
  const TypeInfo* ti = type_info(type);
  std::string s;
  if (!ti || !rdata_valid(type, rd, len)) {
    s = "\\# " + std::to_string(len);
    if (len) {
      s += ' ';
      append_hex(s, rd, len);
    }
    return s;
  }
  size_t i = 0;
  char buf[INET6_ADDRSTRLEN];
  for (int k = 0; k < ti->nfields; ++k) {
    Field f = ti->fields[k];
    size_t l = field_len(f, rd + i, len - i);
    const uint8_t* p = rd + i;
    if (k > 0 && f != Field::kSvcParams) s += ' ';
    switch (f) {
      case Field::kU8:
        s += std::to_string(p[0]);
        break;
      case Field::kU16:
        s += std::to_string(p[0] << 8 | p[1]);
        break;
      case Field::kU32:
        s += std::to_string(uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 |
                            p[3]);
        break;
      case Field::kIPv4:
        s += inet_ntop(AF_INET, p, buf, sizeof buf);
        break;
      case Field::kIPv6:
        s += inet_ntop(AF_INET6, p, buf, sizeof buf);
        break;
      case Field::kName:
      case Field::kNameNC: {
        auto n = Name::from_uncompressed(p, l);
        s += n ? n->to_text() : "?";
        break;
      }
      case Field::kString:
        append_quoted(s, p + 1, p[0]);
        break;
      case Field::kCaaTag:
        s.append(reinterpret_cast<const char*>(p + 1), p[0]);
        break;
      case Field::kStrings:
        for (size_t j = 0; j < l; j += 1u + p[j]) {
          if (j) s += ' ';
          append_quoted(s, p + j + 1, p[j]);
        }
        break;
      case Field::kHex:
        if (l == 0) {
          s += '-';
        } else {
          append_hex(s, p, l);
        }
        break;
      case Field::kBase64:
        append_base64(s, p, l);
        break;
      case Field::kSvcParams:
        append_svc_params(s, p, l);
        break;
      case Field::kCaaValue:
        append_quoted(s, p, l);
        break;
    }
    i += l;
  }
  return s;
}

void rdata_names(uint16_t type, const uint8_t* rd, size_t len,
                 const std::function<void(const uint8_t*, size_t)>& f) {
  const TypeInfo* ti = type_info(type);
  if (!ti) return;
  size_t i = 0;
  for (int k = 0; k < ti->nfields; ++k) {
    Field fk = ti->fields[k];
    size_t l = field_len(fk, rd + i, len - i);
    if (l == kBad) return;
    if (fk == Field::kName || fk == Field::kNameNC) f(rd + i, l);
    i += l;
  }
}

}  // namespace steerdns::dns
