#pragma once
// Building DNS queries and parsing responses in unit tests (query engine, steering scenarios).
// Deliberately separate from src/dns's parser so that tests check the server's bytes with
// independent code paths where it matters (section walking, OPT handling).
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "dns/message.h"
#include "dns/name.h"
#include "dns/rdata.h"
#include "dns/rrtype.h"
#include "dns/wire.h"

namespace steerdns::testutil {

namespace rt = dns::rrtype;
using dns::Name;

// ---- building queries ----

struct Opt {
  uint16_t payload = 1232;
  uint8_t version = 0;
  bool do_bit = false;
  uint16_t ext_flags = 0;  // other EDNS flag bits
  std::vector<uint8_t> options;
};

struct Q {
  std::string name;
  uint16_t type = rt::A;
  uint16_t qclass = dns::rrclass::IN;
  uint16_t flags = 0;  // header flags incl. opcode
  bool edns = false;
  Opt opt;
};

inline std::vector<uint8_t> build_query(const Q& q) {
  std::vector<uint8_t> b;
  auto u16 = [&](uint16_t v) {
    b.push_back(static_cast<uint8_t>(v >> 8));
    b.push_back(static_cast<uint8_t>(v));
  };
  u16(0xBEEF);
  u16(q.flags);
  u16(1);
  u16(0);
  u16(0);
  u16(q.edns ? 1 : 0);
  auto n = Name::from_text(q.name);
  EXPECT_TRUE(n.ok()) << q.name;
  b.insert(b.end(), n->data(), n->data() + n->size());
  u16(q.type);
  u16(q.qclass);
  if (q.edns) {
    b.push_back(0);
    u16(rt::OPT);
    u16(q.opt.payload);
    b.push_back(0);  // extended rcode
    b.push_back(q.opt.version);
    u16(static_cast<uint16_t>((q.opt.do_bit ? 0x8000 : 0) | q.opt.ext_flags));
    u16(static_cast<uint16_t>(q.opt.options.size()));
    b.insert(b.end(), q.opt.options.begin(), q.opt.options.end());
  }
  return b;
}

// ---- parsing responses ----

struct RR {
  std::string name;  // as sent (case preserved)
  uint16_t type = 0;
  uint16_t rclass = 0;
  uint32_t ttl = 0;
  std::string rdata;  // presentation text
  std::string text() const {
    return name + " " + std::to_string(ttl) + " " + dns::type_to_text(type) + " " + rdata;
  }
};

struct Resp {
  bool ok = false;
  size_t size = 0;
  uint16_t id = 0;
  uint16_t flags = 0;
  uint16_t rcode = 0;  // header rcode, extended by the OPT if present
  std::string qname;
  uint16_t qtype = 0;
  std::vector<RR> an, ns, ar;
  bool has_opt = false;
  uint16_t opt_payload = 0;
  uint8_t opt_version = 0;
  uint16_t opt_flags = 0;
  std::vector<uint8_t> opt_rdata;

  bool aa() const { return flags & dns::flag::AA; }
  bool tc() const { return flags & dns::flag::TC; }
};

inline Resp parse_response(const uint8_t* p, size_t len) {
  Resp r;
  r.size = len;
  dns::WireReader w(p, len);
  r.id = w.u16();
  r.flags = w.u16();
  r.rcode = r.flags & 0xF;
  uint16_t qd = w.u16(), an = w.u16(), ns = w.u16(), ar = w.u16();
  if (!w.ok()) return r;
  for (int i = 0; i < qd; ++i) {
    Name n = Name::from_wire(w);
    r.qname = n.to_text();
    r.qtype = w.u16();
    w.u16();
  }
  auto read_section = [&](int count, std::vector<RR>& out, bool additional) {
    for (int i = 0; i < count && w.ok(); ++i) {
      RR rr;
      Name n = Name::from_wire(w);
      rr.name = n.to_text();
      rr.type = w.u16();
      rr.rclass = w.u16();
      rr.ttl = w.u32();
      uint16_t rdlen = w.u16();
      if (additional && rr.type == rt::OPT) {
        r.has_opt = true;
        r.opt_payload = rr.rclass;
        r.rcode = static_cast<uint16_t>(r.rcode | ((rr.ttl >> 24) << 4));
        r.opt_version = static_cast<uint8_t>(rr.ttl >> 16);
        r.opt_flags = static_cast<uint16_t>(rr.ttl);
        const uint8_t* d = w.bytes(rdlen);
        if (d) r.opt_rdata.assign(d, d + rdlen);
        continue;
      }
      std::vector<uint8_t> rd;
      if (!dns::rdata_from_wire(w, rdlen, rr.type, rd)) return;
      rr.rdata = dns::rdata_to_text(rr.type, rd.data(), rd.size());
      out.push_back(rr);
    }
  };
  read_section(an, r.an, false);
  read_section(ns, r.ns, false);
  read_section(ar, r.ar, true);
  r.ok = w.ok() && w.pos() == len;
  return r;
}

inline std::vector<std::string> texts(const std::vector<RR>& s) {
  std::vector<std::string> t;
  for (const RR& rr : s) t.push_back(rr.text());
  std::sort(t.begin(), t.end());
  return t;
}

}  // namespace steerdns::testutil
