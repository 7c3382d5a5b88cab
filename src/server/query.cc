#include "server/query.h"

#include <chrono>
#include <cstring>

#include "dns/message.h"
#include "dns/name.h"
#include "dns/rdata.h"
#include "dns/rrtype.h"
#include "dns/tsig.h"

namespace steerdns::server {
namespace {

namespace rt = dns::rrtype;
using dns::WireWriter;
using zone::Node;
using zone::RRset;
using zone::Zone;

constexpr int kMaxChain = 16;  // CNAME/DNAME steps followed inside our data

// A cheap per-thread random value for weighted picks (splitmix64): no lock, no allocation.
uint64_t next_entropy() {
  thread_local uint64_t state =
      static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
      reinterpret_cast<uintptr_t>(&state);
  uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// The records to emit for one rrset: the zone's own data, or a steered set's selection.
// Data is count x ([u16 length][rdata]) either way.
struct RRdata {
  policy::Selection::Outcome outcome = policy::Selection::Outcome::kAnswer;
  const uint8_t* p = nullptr;
  uint16_t count = 0;
  uint32_t ttl = 0;
  bool answered() const { return outcome == policy::Selection::Outcome::kAnswer; }

  template <class F>
  void for_each(F&& f) const {
    const uint8_t* q = p;
    for (uint16_t i = 0; i < count; ++i) {
      auto l = static_cast<uint16_t>(q[0] << 8 | q[1]);
      f(q + 2, l);
      q += 2 + l;
    }
  }
};

// Builds a response in place. Sections are written in order; counts are patched at the end.
class Response {
 public:
  Response(uint8_t* out, size_t cap) : w_(out, cap) {}

  WireWriter& w() { return w_; }
  dns::Compressor& comp() { return comp_; }

  void header(uint16_t id, uint16_t flags) {
    w_.u16(id);
    w_.u16(flags);
    w_.u16(0);
    w_.u16(0);
    w_.u16(0);
    w_.u16(0);
  }
  void question(const uint8_t* q, const dns::Query& query) {
    w_.bytes(q + query.qname_off, query.question_end - query.qname_off);
    comp_.remember(q + query.qname_off, query.qname_len, dns::kHeaderLen);
    qd_ = 1;
  }
  // Owner given as a pointer to the question name (kQname) or as an uncompressed name.
  void rr(const uint8_t* owner, size_t owner_len, bool owner_is_qname, uint16_t type, uint32_t ttl,
          const uint8_t* rd, size_t rdlen) {
    if (owner_is_qname) {
      w_.u16(0xC000 | dns::kHeaderLen);
    } else {
      comp_.write_name(w_, owner, owner_len, true);
    }
    w_.u16(type);
    w_.u16(dns::rrclass::IN);
    w_.u32(ttl);
    dns::rdata_write(w_, comp_, type, rd, rdlen);
  }
  void rrset(const Zone& z, const uint8_t* owner, size_t owner_len, bool owner_is_qname,
             const RRset& rs, uint32_t ttl, uint16_t& count) {
    z.for_each_rdata(rs, [&](const uint8_t* rd, uint16_t len) {
      rr(owner, owner_len, owner_is_qname, rs.type, ttl, rd, len);
      ++count;
    });
  }
  void rrdata(const uint8_t* owner, size_t owner_len, bool owner_is_qname, uint16_t type,
              const RRdata& d, uint16_t& count) {
    d.for_each([&](const uint8_t* rd, uint16_t len) {
      rr(owner, owner_len, owner_is_qname, type, d.ttl, rd, len);
      ++count;
    });
  }
  void finish_counts() {
    w_.put_u16_at(4, qd_);
    w_.put_u16_at(6, an);
    w_.put_u16_at(8, ns);
    w_.put_u16_at(10, ar);
  }

  uint16_t an = 0, ns = 0, ar = 0;

 private:
  WireWriter w_;
  dns::Compressor comp_;
  uint16_t qd_ = 0;
};

bool name_in(const uint8_t* name, size_t len, const dns::Name& zone_origin) {
  return dns::wire_name_is_under(name, len, zone_origin.data(), zone_origin.size());
}

class Answerer {
 public:
  Answerer(const config::RuntimeConfig& cfg, const uint8_t* q, const dns::Query& query,
           Response& resp, const ClientInfo& client)
      : cfg_(cfg), q_(q), query_(query), r_(resp), client_(client) {}

  // Returns the rcode; sets aa_.
  uint16_t run(const Zone& z);
  bool aa() const { return aa_; }
  bool must_truncate() const { return must_tc_; }
  // ECS scope for the response: the most specific prefix any steering decision used.
  uint8_t scope() const { return scope_; }
  // The steering branch behind the answer (Selection::branch), or null for zone data.
  const char* branch() const { return branch_; }

 private:
  // Every rrset that is emitted goes through here: a steered one asks the steering table.
  RRdata resolve(const Zone& z, const RRset& rs) {
    RRdata d;
    d.ttl = rs.ttl;
    if (rs.steer == zone::kNone || !cfg_.steering) {
      // Static data, or a steered rrset without a table: its fail-open fallback.
      d.p = z.rdata_ptr(rs);
      d.count = rs.count;
      if (rs.steer != zone::kNone && branch_ == nullptr) {
        branch_ = "no steering table: zone data";
      }
      if (rs.count == 0) {
        d.outcome = policy::Selection::Outcome::kNodata;
      }
      return d;
    }
    if (!have_client_) {
      pclient_ = steering_client();
      have_client_ = true;
    }
    policy::Selection sel = cfg_.steering->select(rs.steer, pclient_, next_entropy());
    if (sel.scope > scope_) {
      scope_ = sel.scope;
    }
    if (branch_ == nullptr) {
      branch_ = sel.branch;  // the first steered set decides what the query log names
    }
    d.outcome = sel.outcome;
    d.p = sel.data;
    d.count = sel.count;
    d.ttl = sel.ttl;
    if (d.answered() && d.count == 0) {
      d.outcome = policy::Selection::Outcome::kNodata;
    }
    return d;
  }
  // The EDNS Client Subnet when present, else the source address.
  policy::Client steering_client() const {
    const auto& ecs = query_.edns.ecs;
    if (!ecs.present) {
      return policy::Client::from_sockaddr(client_.addr);
    }
    policy::Client c;
    c.family = ecs.family == 1 ? AF_INET : ecs.family == 2 ? AF_INET6 : 0;
    std::memcpy(c.addr, ecs.addr, sizeof c.addr);
    c.source_prefix = ecs.source_prefix;
    c.from_ecs = true;
    return c;
  }

  void add_soa_authority(const Zone& z) {
    const RRset& soa = z.soa();
    r_.rrset(z, z.origin().data(), z.origin().size(), false, soa, z.negative_ttl(), r_.ns);
  }
  void referral(const Zone& z, const Node& cut);
  void additional_for(const Zone& z, uint16_t type, const RRdata& d);
  void add_addresses(const Zone& z, const uint8_t* name, size_t len, bool required);

  const config::RuntimeConfig& cfg_;
  const uint8_t* q_;
  const dns::Query& query_;
  Response& r_;
  const ClientInfo& client_;
  bool aa_ = true;
  bool must_tc_ = false;
  uint8_t scope_ = 0;
  bool have_client_ = false;
  policy::Client pclient_;
  const char* branch_ = nullptr;
};

void Answerer::add_addresses(const Zone& z, const uint8_t* name, size_t len, bool required) {
  if (!name_in(name, len, z.origin())) return;
  const Node* n = z.find(name, len);
  if (!n) return;
  for (uint16_t t : {rt::A, rt::AAAA}) {
    const RRset* rs = z.rrset(*n, t);
    if (!rs) continue;
    RRdata d = resolve(z, *rs);
    if (!d.answered()) continue;
    size_t mark = r_.w().pos();
    uint16_t before = r_.ar;
    r_.rrdata(name, len, false, t, d, r_.ar);
    if (!r_.w().ok()) {
      // Additional data that does not fit is left out; required glue forces TC (RFC 9471).
      r_.w().rewind(mark);
      r_.ar = before;
      if (required) must_tc_ = true;
      return;
    }
  }
}

void Answerer::additional_for(const Zone& z, uint16_t type, const RRdata& d) {
  if (type != rt::MX && type != rt::SRV && type != rt::NS) return;
  d.for_each([&](const uint8_t* rd, uint16_t len) {
    size_t skip = type == rt::MX ? 2 : type == rt::SRV ? 6 : 0;
    if (len <= skip) return;
    size_t nl = dns::wire_name_length(rd + skip, len - skip);
    if (nl) add_addresses(z, rd + skip, nl, false);
  });
}

void Answerer::referral(const Zone& z, const Node& cut) {
  // AA describes the answer's owner: a referral after an authoritative CNAME keeps it.
  if (r_.an == 0) aa_ = false;
  const RRset* ns = z.rrset(cut, rt::NS);
  const uint8_t* cut_name = z.name_data(cut);
  r_.rrset(z, cut_name, cut.name_len, false, *ns, ns->ttl, r_.ns);
  if (!r_.w().ok()) return;
  z.for_each_rdata(*ns, [&](const uint8_t* rd, uint16_t len) {
    // In-bailiwick glue is required (RFC 9471).
    bool below_cut = dns::wire_name_is_under(rd, len, cut_name, cut.name_len);
    add_addresses(z, rd, len, below_cut);
  });
}

uint16_t Answerer::run(const Zone& z) {
  const uint16_t qtype = query_.qtype;
  // The name being resolved: the question name, then CNAME/DNAME targets.
  uint8_t synth[dns::kMaxNameLen];  // storage for DNAME-synthesised names
  const uint8_t* cur = q_ + query_.qname_off;
  size_t cur_len = query_.qname_len;
  bool cur_is_qname = true;

  for (int step = 0; step <= kMaxChain; ++step) {
    const Node* node = z.find(cur, cur_len);
    const Node* enc = node;  // closest encloser
    bool exact = node != nullptr;
    if (!exact) {
      // Walk up to the closest existing ancestor (empty non-terminals exist as nodes).
      const uint8_t* p = cur;
      size_t l = cur_len;
      while (!enc && l > z.origin().size()) {
        l -= 1u + p[0];
        p += 1u + p[0];
        enc = z.find(p, l);
      }
      if (!enc) enc = &z.apex();
    }
    // Zone cut or DNAME on the path from the apex: the topmost one wins.
    uint32_t enc_idx = z.index_of(enc);
    uint32_t cut = enc->cut;
    if (cut == enc_idx && exact && qtype == rt::DS) cut = zone::kNone;  // DS lives in the parent
    uint32_t dname = enc->dname;
    if (!exact && (enc->flags & zone::nodeflag::kDname)) dname = enc_idx;
    if (cut != zone::kNone && (dname == zone::kNone || z.node(cut).depth <= z.node(dname).depth)) {
      referral(z, z.node(cut));
      return dns::rcode::NOERROR;
    }
    if (dname != zone::kNone) {
      const Node& dn = z.node(dname);
      const RRset* drs = z.rrset(dn, rt::DNAME);
      const uint8_t* dn_name = z.name_data(dn);
      uint32_t dttl = drs->ttl;
      const uint8_t* target = nullptr;
      uint16_t tlen = 0;
      z.for_each_rdata(*drs, [&](const uint8_t* rd, uint16_t len) {
        target = rd;
        tlen = len;
      });
      r_.rr(dn_name, dn.name_len, false, rt::DNAME, dttl, target, tlen);
      ++r_.an;
      // Synthesise qname' = prefix(cur) + target (RFC 6672 2.2).
      size_t prefix = cur_len - dn.name_len;
      if (prefix + tlen > dns::kMaxNameLen) return dns::rcode::YXDOMAIN;
      uint8_t tmp[dns::kMaxNameLen];
      std::memcpy(tmp, cur, prefix);
      std::memcpy(tmp + prefix, target, tlen);
      r_.rr(cur, cur_len, cur_is_qname, rt::CNAME, dttl, tmp, prefix + tlen);
      ++r_.an;
      std::memcpy(synth, tmp, prefix + tlen);
      cur = synth;
      cur_len = prefix + tlen;
      cur_is_qname = false;
      // A CNAME query is answered by the synthesised CNAME itself (RFC 6672 3.2).
      if (qtype == rt::CNAME) return dns::rcode::NOERROR;
      if (!name_in(cur, cur_len, z.origin())) return dns::rcode::NOERROR;
      continue;
    }

    const Node* data = node;
    if (!exact) {
      // RFC 4592: a wildcard child of the closest encloser answers for the missing name.
      if (enc->flags & zone::nodeflag::kWildcardChild) {
        uint8_t wname[dns::kMaxNameLen + 2];
        const uint8_t* en = z.name_data(*enc);
        wname[0] = 1;
        wname[1] = '*';
        std::memcpy(wname + 2, en, enc->name_len);
        data = z.find(wname, enc->name_len + 2u);
      }
      if (!data) {
        add_soa_authority(z);
        return dns::rcode::NXDOMAIN;
      }
    }

    if (data->nrrsets == 0) {  // empty non-terminal: the name exists, with no data
      add_soa_authority(z);
      return dns::rcode::NOERROR;
    }
    if (qtype == rt::ANY) {
      // RFC 8482: over UDP one RRset is enough; over TCP send them all.
      // Steered sets without an answer (all down: nodata/servfail) are left out.
      uint16_t before = r_.an;
      bool skipped = false;
      for (const RRset& rs : z.rrsets(*data)) {
        if (rs.type == rt::RRSIG) continue;
        RRdata d = resolve(z, rs);
        if (!d.answered()) {
          skipped = true;
          continue;
        }
        r_.rrdata(cur, cur_len, cur_is_qname, rs.type, d, r_.an);
        if (client_.transport == Transport::kUdp) break;
      }
      if (skipped && r_.an == before) add_soa_authority(z);
      return dns::rcode::NOERROR;
    }
    if (const RRset* rs = z.rrset(*data, qtype)) {
      RRdata d = resolve(z, *rs);
      if (d.outcome == policy::Selection::Outcome::kServfail) return dns::rcode::SERVFAIL;
      if (!d.answered()) {
        add_soa_authority(z);
        return dns::rcode::NOERROR;
      }
      r_.rrdata(cur, cur_len, cur_is_qname, rs->type, d, r_.an);
      if (r_.w().ok()) additional_for(z, rs->type, d);
      return dns::rcode::NOERROR;
    }
    if (data->flags & zone::nodeflag::kCname) {
      RRdata cn = resolve(z, *z.rrset(*data, rt::CNAME));
      if (cn.outcome == policy::Selection::Outcome::kServfail) return dns::rcode::SERVFAIL;
      if (!cn.answered()) {
        add_soa_authority(z);
        return dns::rcode::NOERROR;
      }
      const uint8_t* target = nullptr;
      uint16_t tlen = 0;
      cn.for_each([&](const uint8_t* rd, uint16_t len) {
        if (target == nullptr) {
          target = rd;
          tlen = len;
        }
      });
      r_.rr(cur, cur_len, cur_is_qname, rt::CNAME, cn.ttl, target, tlen);
      ++r_.an;
      cur = target;
      cur_len = tlen;
      cur_is_qname = false;
      // Stop at the zone's edge: we are not a resolver (the client follows it).
      if (!name_in(cur, cur_len, z.origin())) return dns::rcode::NOERROR;
      continue;
    }
    add_soa_authority(z);
    return dns::rcode::NOERROR;
  }
  // A chain longer than kMaxChain (or a loop): what we have so far, as BIND and Knot do.
  return dns::rcode::NOERROR;
}

// Reserves room for the OPT record while sections are written.
size_t opt_size(const dns::Query& q) {
  if (!q.edns.present) return 0;
  size_t n = 11;
  if (q.edns.ecs.present) n += 4 + 4 + (q.edns.ecs.source_prefix + 7u) / 8u;
  return n;
}

void write_opt(WireWriter& w, const dns::Query& q, uint16_t payload, uint16_t rcode,
               uint8_t scope) {
  w.u8(0);
  w.u16(rt::OPT);
  w.u16(payload);
  uint32_t ttl = static_cast<uint32_t>(rcode >> 4) << 24;  // extended rcode, version 0
  if (q.edns.do_bit) ttl |= 0x8000;
  w.u32(ttl);
  if (q.edns.ecs.present) {
    const auto& e = q.edns.ecs;
    uint16_t alen = static_cast<uint16_t>((e.source_prefix + 7u) / 8u);
    w.u16(static_cast<uint16_t>(8 + alen));
    w.u16(dns::ednsopt::ECS);
    w.u16(static_cast<uint16_t>(4 + alen));
    w.u16(e.family);
    w.u8(e.source_prefix);
    w.u8(scope);  // what the answer depended on: 0 unless a steering decision used the subnet
    w.bytes(e.addr, alen);
  } else {
    w.u16(0);
  }
}

bool label_eq(const uint8_t* name, size_t len, const char* text) {
  // Compares a wire name against a dotted lower-case text name like "version.bind".
  uint8_t buf[64];
  size_t o = 0;
  const char* s = text;
  while (*s) {
    const char* dot = std::strchr(s, '.');
    size_t l = dot ? static_cast<size_t>(dot - s) : std::strlen(s);
    buf[o++] = static_cast<uint8_t>(l);
    std::memcpy(buf + o, s, l);
    o += l;
    s += l + (dot ? 1 : 0);
  }
  buf[o++] = 0;
  return o == len && dns::wire_name_equal(name, buf, len);
}

// The answer to a parsed query, `reserve` octets short of the room it may take (kept free for
// a TSIG record). Inlined into both callers, so the common one (reserve 0) stays as it was.
[[gnu::always_inline]] inline size_t answer_parsed(const config::RuntimeConfig& cfg,
                                                   const uint8_t* q, const dns::Query& query,
                                                   dns::ParseResult pr, uint8_t* out, size_t cap,
                                                   const ClientInfo& client, AnswerInfo& inf,
                                                   size_t reserve) {
  inf.qtype = query.qtype;
  const bool udp = client.transport == Transport::kUdp;
  size_t limit = cap;
  if (udp) {
    size_t want = query.edns.present ? std::max<size_t>(query.edns.udp_size, dns::kMinUdpPayload)
                                     : dns::kMinUdpPayload;
    // Never above our own advertised maximum (RFC 6891 6.2.5, DNS Flag Day 2020).
    want = std::min<size_t>(want, std::max<size_t>(cfg.max_udp_payload, dns::kMinUdpPayload));
    limit = std::min(limit, want);
  }
  limit -= reserve;
  Response r(out, limit);
  uint16_t flags = static_cast<uint16_t>(dns::flag::QR | (query.flags & 0x7800) |
                                         (query.flags & (dns::flag::RD | dns::flag::CD)));
  r.header(query.id, flags);
  if (query.has_question) r.question(q, query);
  if (!r.w().ok()) {  // the question alone does not fit (cannot happen with cap >= 512)
    inf.dropped = true;
    return 0;
  }
  const size_t after_question = r.w().pos();
  const size_t opt_len = opt_size(query);
  uint16_t rcode = dns::rcode::NOERROR;
  bool aa = false;
  uint8_t scope = 0;
  bool edns_ok = pr == dns::ParseResult::kOk || pr == dns::ParseResult::kBadVers ||
                 pr == dns::ParseResult::kNotImp;

  auto finish = [&]() -> size_t {
    WireWriter& w = r.w();
    uint16_t f = flags;
    if (aa) f |= dns::flag::AA;
    f = static_cast<uint16_t>((f & ~0x000F) | (rcode & 0x0F));
    w.put_u16_at(2, f);
    r.finish_counts();
    if (query.edns.present && edns_ok) {
      w.limit(limit);  // give back the room reserved for OPT
      uint16_t payload = std::max<uint16_t>(cfg.max_udp_payload, dns::kMinUdpPayload);
      size_t before = w.pos();
      write_opt(w, query, payload, rcode, scope);
      if (!w.ok()) {
        w.rewind(before);
      } else {
        w.put_u16_at(10, static_cast<uint16_t>(r.ar + 1));
      }
    }
    inf.rcode = rcode;
    return w.pos();
  };

  switch (pr) {
    case dns::ParseResult::kOk:
      break;
    case dns::ParseResult::kFormErr:
      rcode = dns::rcode::FORMERR;
      return finish();
    case dns::ParseResult::kNotImp:
      rcode = dns::rcode::NOTIMP;
      return finish();
    case dns::ParseResult::kBadVers:
      rcode = dns::rcode::BADVERS;
      return finish();
    case dns::ParseResult::kDrop:
      return 0;
  }
  if (query.opcode != dns::opcode::QUERY) {
    rcode = query.opcode == dns::opcode::NOTIFY ? dns::rcode::REFUSED : dns::rcode::NOTIMP;
    return finish();
  }
  // Leave room for OPT while writing sections.
  r.w().limit(limit - opt_len);
  const uint8_t* qname = q + query.qname_off;
  const uint16_t qtype = query.qtype;

  if (query.qclass == dns::rrclass::CH) {
    const std::string* text = nullptr;
    if (cfg.chaos.enabled && (qtype == rt::TXT || qtype == rt::ANY)) {
      if (label_eq(qname, query.qname_len, "version.bind") ||
          label_eq(qname, query.qname_len, "version.server")) {
        text = &cfg.chaos.version;
      } else if (label_eq(qname, query.qname_len, "id.server") ||
                 label_eq(qname, query.qname_len, "hostname.bind")) {
        text = &cfg.chaos.id;
      }
    }
    if (!text || text->empty()) {
      rcode = dns::rcode::REFUSED;
      return finish();
    }
    uint8_t rd[256];
    size_t l = std::min<size_t>(text->size(), 255);
    rd[0] = static_cast<uint8_t>(l);
    std::memcpy(rd + 1, text->data(), l);
    WireWriter& w = r.w();
    w.u16(0xC000 | dns::kHeaderLen);
    w.u16(rt::TXT);
    w.u16(dns::rrclass::CH);
    w.u32(0);
    w.u16(static_cast<uint16_t>(l + 1));
    w.bytes(rd, l + 1);
    r.an = 1;
    aa = true;
    return finish();
  }
  if (query.qclass != dns::rrclass::IN && query.qclass != dns::rrclass::ANY) {
    rcode = dns::rcode::REFUSED;
    return finish();
  }
  if (qtype == rt::OPT || qtype == rt::TSIG || qtype == rt::TKEY) {
    rcode = dns::rcode::FORMERR;
    return finish();
  }
  if (qtype == rt::MAILA || qtype == rt::MAILB) {
    rcode = dns::rcode::NOTIMP;
    return finish();
  }

  const Zone* z = cfg.find_zone(qname, query.qname_len);
  // DS is answered by the parent side of a cut: prefer an enclosing zone we also serve.
  if (z && qtype == rt::DS && query.qname_len == z->origin().size() && query.qname_len > 1) {
    const uint8_t* parent = qname + 1 + qname[0];
    if (const Zone* pz = cfg.find_zone(parent, query.qname_len - 1u - qname[0])) z = pz;
  }
  inf.zone = z;
  if (!z) {
    rcode = dns::rcode::REFUSED;
    return finish();
  }
  if (qtype == rt::AXFR || qtype == rt::IXFR) {
    if (!udp) {
      inf.transfer = true;  // streamed by the TCP transport (xfr.h)
      return 0;
    }
    if (qtype == rt::AXFR) {
      rcode = dns::rcode::FORMERR;  // AXFR is TCP only (RFC 5936 4.2)
      return finish();
    }
    // IXFR over UDP: answer with our SOA so the client retries over TCP (RFC 1995 2).
    aa = true;
    r.rrset(*z, z->origin().data(), z->origin().size(), false, z->soa(), z->soa().ttl, r.an);
    return finish();
  }

  Answerer a(cfg, q, query, r, client);
  rcode = a.run(*z);
  aa = a.aa() && rcode != dns::rcode::SERVFAIL;  // a SERVFAIL is no authoritative answer
  scope = a.scope();
  inf.branch = a.branch();
  if (rcode == dns::rcode::SERVFAIL) {
    // A steered set answered SERVFAIL (all down): nothing else of the chain is sent.
    r.w().rewind(after_question);
    r.an = r.ns = r.ar = 0;
    return finish();
  }
  if (!r.w().ok() || a.must_truncate()) {
    // TC: the answer does not fit the client's payload size; header, question and OPT only.
    r.w().rewind(after_question);
    r.an = r.ns = r.ar = 0;
    flags |= dns::flag::TC;
    inf.truncated = true;
  }
  return finish();
}

// NOTAUTH with the TSIG error (RFC 8945 5.3.2): header and question, then the TSIG record,
// unsigned for BADKEY and BADSIG (we cannot or must not sign), signed for BADTIME (with the
// request's time, our clock as other data) and BADTRUNC.
size_t tsig_error_answer(const uint8_t* q, const dns::Query& query, const dns::TsigRequest& v,
                         uint64_t now, uint8_t* out, size_t cap, AnswerInfo& inf) {
  WireWriter w(out, cap);
  w.u16(query.id);
  w.u16(static_cast<uint16_t>(dns::flag::QR | (query.flags & 0x7800) |
                              (query.flags & (dns::flag::RD | dns::flag::CD)) |
                              dns::rcode::NOTAUTH));
  w.u16(query.has_question ? 1 : 0);
  w.u16(0);
  w.u16(0);
  w.u16(0);
  if (query.has_question) {
    w.bytes(q + query.qname_off, query.question_end - query.qname_off);
  }
  if (!w.ok()) {
    inf.dropped = true;
    return 0;
  }
  inf.rcode = dns::rcode::NOTAUTH;
  const uint16_t err = dns::tsig_status_error(v.status);
  if (v.status == dns::TsigStatus::kBadKey || v.status == dns::TsigStatus::kBadSig) {
    return dns::tsig_append_unsigned(out, w.pos(), cap, v.record, now, err);
  }
  dns::TsigSigner signer(*v.key, v.record.mac, /*response=*/true);
  const bool badtime = v.status == dns::TsigStatus::kBadTime;
  return signer.sign(out, w.pos(), cap, badtime ? v.record.time_signed : now, err,
                     badtime ? std::optional<uint64_t>(now) : std::nullopt);
}

// A query with a TSIG record: verified, then answered as usual and signed, or answered with
// the TSIG error. Off the common path: its cost (an HMAC, allocations) is for signed queries.
[[gnu::noinline]] size_t answer_signed(const config::RuntimeConfig& cfg, const uint8_t* q,
                                       size_t qlen, const dns::Query& query, dns::ParseResult pr,
                                       uint8_t* out, size_t cap, const ClientInfo& client,
                                       AnswerInfo& inf) {
  inf.tsig = true;
  const uint64_t now = dns::tsig_now();
  static const dns::TsigKeyring kNoKeys;
  dns::TsigRequest v =
      pr == dns::ParseResult::kFormErr
          ? dns::TsigRequest{}
          : dns::tsig_verify_request(cfg.tsig_keys ? *cfg.tsig_keys : kNoKeys, q, qlen, now);
  inf.tsig_status = v.status;
  if (v.status == dns::TsigStatus::kFormErr) {
    // A malformed record (or query): FORMERR, unsigned.
    inf.qtype = query.qtype;
    return answer_parsed(cfg, q, query, dns::ParseResult::kFormErr, out, cap, client, inf, 0);
  }
  if (v.status != dns::TsigStatus::kOk) {
    inf.qtype = query.qtype;
    return tsig_error_answer(q, query, v, now, out, cap, inf);
  }
  size_t n =
      answer_parsed(cfg, q, query, pr, out, cap, client, inf, dns::TsigSigner::record_size(*v.key));
  if (n == 0) {
    return 0;  // dropped, or a transfer (the TCP transport signs every message)
  }
  dns::TsigSigner signer(*v.key, v.record.mac, /*response=*/true);
  return signer.sign(out, n, cap, now);
}

}  // namespace

size_t answer_query(const config::RuntimeConfig& cfg, const uint8_t* q, size_t qlen, uint8_t* out,
                    size_t cap, const ClientInfo& client, AnswerInfo* info) {
  AnswerInfo local;
  AnswerInfo& inf = info ? *info : local;
  inf = AnswerInfo{};
  dns::Query query;
  dns::ParseResult pr = dns::parse_query(q, qlen, query);
  if (pr == dns::ParseResult::kDrop) {
    inf.dropped = true;
    return 0;
  }
  if (query.tsig_off != 0) [[unlikely]] {
    return answer_signed(cfg, q, qlen, query, pr, out, cap, client, inf);
  }
  return answer_parsed(cfg, q, query, pr, out, cap, client, inf, 0);
}

}  // namespace steerdns::server
