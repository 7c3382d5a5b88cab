#include "fuzz_common.h"

// libzscanner's headers have no extern "C" of their own.
extern "C" {
#include <libzscanner/scanner.h>
}

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unistd.h>

#include "dns/message.h"
#include "dns/name.h"
#include "dns/rdata.h"
#include "dns/rrtype.h"
#include "config/loader.h"
#include "health/view.h"
#include "policy/table.h"
#include "zone/loader.h"

namespace steerdns::fuzz {

namespace rt = dns::rrtype;

void fail(const std::string& what, const uint8_t* data, size_t n) {
  std::fprintf(stderr, "FUZZ INVARIANT VIOLATED: %s\ninput (%zu bytes):", what.c_str(), n);
  for (size_t i = 0; i < n && i < 1024; ++i) {
    std::fprintf(stderr, "%s%02x", i % 32 == 0 ? "\n  " : " ", data[i]);
  }
  std::fprintf(stderr, "\n");
  std::abort();
}

namespace {

std::string hex(const uint8_t* p, size_t n) {
  std::string s;
  char b[4];
  for (size_t i = 0; i < n; ++i) {
    std::snprintf(b, sizeof b, "%02x", p[i]);
    s += b;
  }
  return s;
}

// Name invariants that hold for any name the decoder accepts.
void check_name(const dns::Name& nm, const uint8_t* in, size_t in_len) {
  FUZZ_CHECK(nm.size() >= 1 && nm.size() <= dns::kMaxNameLen, "name length", in, in_len);
  FUZZ_CHECK(dns::wire_name_length(nm.data(), nm.size()) == nm.size(),
             "decoded name is not a valid uncompressed name", in, in_len);
  std::string text = nm.to_text();
  auto back = dns::Name::from_text(text);
  FUZZ_CHECK(back.ok(), "to_text output '" + text + "' does not parse back", in, in_len);
  FUZZ_CHECK(back->size() == nm.size() && std::memcmp(back->data(), nm.data(), nm.size()) == 0,
             "name changed in a text round trip: '" + text + "'", in, in_len);
  dns::Name low = nm.lowered();
  FUZZ_CHECK(low == nm && low.hash() == nm.hash(), "lowered name differs", in, in_len);
}

// Rdata invariants: what the decoder accepted is valid, survives write (with compression) and
// re-read unchanged, and its presentation text parses back (with libzscanner) to the same bytes.
void check_rdata(uint16_t type, const std::vector<uint8_t>& rd, const uint8_t* in, size_t in_len) {
  FUZZ_CHECK(dns::rdata_valid(type, rd.data(), rd.size()),
             "decoded rdata of type " + std::to_string(type) + " is not valid", in, in_len);
  dns::rdata_names(type, rd.data(), rd.size(), [&](const uint8_t* name, size_t len) {
    auto n = dns::Name::from_uncompressed(name, len);
    FUZZ_CHECK(n.ok(), "rdata name does not validate", in, in_len);
    check_name(*n, in, in_len);
  });

  // Written twice so that the second copy can compress against the first.
  static uint8_t buf[2 * 65536 + 64];
  dns::WireWriter w(buf, sizeof buf);
  dns::Compressor comp;
  comp.reset();
  for (int i = 0; i < 12; ++i) {
    w.u8(0);
  }
  size_t first = w.pos();
  dns::rdata_write(w, comp, type, rd.data(), rd.size());
  size_t second = w.pos();
  dns::rdata_write(w, comp, type, rd.data(), rd.size());
  FUZZ_CHECK(w.ok(), "rdata_write overflowed", in, in_len);
  for (size_t at : {first, second}) {
    dns::WireReader r(buf, w.pos(), at);
    uint16_t len = r.u16();
    std::vector<uint8_t> again;
    FUZZ_CHECK(dns::rdata_from_wire(r, len, type, again) && again == rd,
               "rdata changed in a wire round trip, type " + std::to_string(type), in, in_len);
  }

  if (dns::type_info(type) == nullptr) {
    // Undescribed types print as RFC 3597 "\# len hex", which libzscanner checks against its
    // own idea of types it knows (CERT, ...): opaque bytes from the wire need not pass that.
    return;
  }
  std::string text = dns::rdata_to_text(type, rd.data(), rd.size());
  std::string line = "x.fuzz.test. 60 IN " + dns::type_to_text(type) + " " + text;
  std::vector<TextRecord> recs;
  bool parsed = parse_text_records(line, "fuzz.test.", &recs);
  FUZZ_CHECK(parsed && recs.size() == 1, "presentation text does not parse: " + line, in, in_len);
  FUZZ_CHECK(recs[0].type == type && recs[0].rdata == rd,
             "rdata changed in a text round trip: " + line + " -> " +
                 hex(recs[0].rdata.data(), recs[0].rdata.size()),
             in, in_len);
}

bool parse_opt(const uint8_t* rd, size_t len, MessageView& v) {
  size_t off = 0;
  while (off < len) {
    if (len - off < 4) {
      return false;
    }
    uint16_t code = dns::get16(rd + off);
    uint16_t olen = dns::get16(rd + off + 2);
    if (len - off - 4 < olen) {
      return false;
    }
    if (code == dns::ednsopt::ECS) {
      if (olen < 4) {
        return false;
      }
      v.ecs_echoed = true;
      v.ecs_family = dns::get16(rd + off + 4);
      v.ecs_source = rd[off + 6];
      v.ecs_scope = rd[off + 7];
    }
    off += 4u + olen;
  }
  return true;
}

}  // namespace

std::string check_message(const uint8_t* p, size_t n, MessageView* view) {
  MessageView local;
  MessageView& v = view ? *view : local;
  v = MessageView{};
  if (n < dns::kHeaderLen) {
    return "shorter than a header";
  }
  v.id = dns::get16(p);
  v.flags = dns::get16(p + 2);
  v.qd = dns::get16(p + 4);
  v.an = dns::get16(p + 6);
  v.ns = dns::get16(p + 8);
  v.ar = dns::get16(p + 10);
  dns::WireReader r(p, n, dns::kHeaderLen);
  for (uint16_t i = 0; i < v.qd; ++i) {
    size_t at = r.pos();
    dns::Name nm = dns::Name::from_wire(r);
    if (!r.ok()) {
      return "question " + std::to_string(i) + ": bad name at offset " + std::to_string(at);
    }
    check_name(nm, p, n);
    r.u16();
    r.u16();
    if (!r.ok()) {
      return "question " + std::to_string(i) + ": truncated";
    }
    if (i == 0) {
      v.question_start = at;
      v.question_end = r.pos();
    }
  }
  const uint32_t total = uint32_t{v.an} + v.ns + v.ar;
  for (uint32_t i = 0; i < total; ++i) {
    const bool additional = i >= uint32_t{v.an} + v.ns;
    const std::string where =
        "record " + std::to_string(i) + " at offset " + std::to_string(r.pos());
    size_t name_at = r.pos();
    dns::Name owner = dns::Name::from_wire(r);
    if (!r.ok()) {
      return where + ": bad owner name";
    }
    check_name(owner, p, n);
    uint16_t type = r.u16();
    uint16_t cls = r.u16();
    uint32_t ttl = r.u32();
    uint16_t rdlen = r.u16();
    if (!r.ok()) {
      return where + ": truncated record header";
    }
    if (rdlen > r.remaining()) {
      return where + ": rdata runs past the end";
    }
    if (type == rt::OPT) {
      if (!additional) {
        return where + ": OPT outside the additional section";
      }
      if (p[name_at] != 0) {
        return where + ": OPT not owned by the root";
      }
      if (++v.opt_count > 1) {
        return where + ": more than one OPT";
      }
      v.opt_udp_size = cls;
      v.opt_ext_rcode = static_cast<uint8_t>(ttl >> 24);
      if (!parse_opt(r.cur(), rdlen, v)) {
        return where + ": malformed OPT options";
      }
      r.skip(rdlen);
      continue;
    }
    size_t rd_start = r.pos();
    std::vector<uint8_t> rd;
    if (!dns::rdata_from_wire(r, rdlen, type, rd) || r.pos() != rd_start + rdlen) {
      return where + ": rdata does not match type " + dns::type_to_text(type);
    }
    check_rdata(type, rd, p, n);
  }
  if (r.pos() != n) {
    return std::to_string(n - r.pos()) + " trailing bytes";
  }
  return "";
}

namespace {

struct ScanCtx {
  std::vector<TextRecord>* out;
  bool error = false;
};

void on_text_record(zs_scanner_t* s) {
  auto* c = static_cast<ScanCtx*>(s->process.data);
  TextRecord rec;
  rec.owner.assign(s->r_owner, s->r_owner + s->r_owner_length);
  rec.type = s->r_type;
  rec.ttl = s->r_ttl;
  rec.rdata.assign(s->r_data, s->r_data + s->r_data_length);
  c->out->push_back(std::move(rec));
}

void on_text_error(zs_scanner_t* s) {
  static_cast<ScanCtx*>(s->process.data)->error = true;
  s->state = ZS_STATE_STOP;
}

}  // namespace

bool parse_text_records(std::string_view text, const char* origin, std::vector<TextRecord>* out) {
  auto s = std::make_unique<zs_scanner_t>();
  if (zs_init(s.get(), origin, 1, 3600) != 0) {
    return false;
  }
  ScanCtx ctx{out};
  std::string buf(text);
  buf += '\n';
  bool ok = zs_set_input_string(s.get(), buf.data(), buf.size()) == 0 &&
            zs_set_processing(s.get(), on_text_record, on_text_error, &ctx) == 0 &&
            zs_parse_all(s.get()) == 0 && !ctx.error;
  zs_deinit(s.get());
  return ok;
}

namespace {

constexpr std::string_view kParentZone = R"ZONE($TTL 3600
@        IN SOA ns1 hostmaster 2024010101 7200 3600 1209600 300
@        NS    ns1
@        NS    ns2.example.net.
@        MX    10 mail
@        TXT   "v=spf1 -all"
@        CAA   0 issue "letsencrypt.org"
@        HTTPS 1 . alpn=h2,h3 port=443 ipv4hint=192.0.2.1
ns1      A     192.0.2.53
ns1      AAAA  2001:db8::53
mail     A     192.0.2.25
www      A     192.0.2.1
www      A     192.0.2.2
www      AAAA  2001:db8::1
www      SSHFP 1 1 0123456789abcdef0123456789abcdef01234567
_443._tcp.www TLSA 3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
_sip._udp SRV  10 60 5060 www
srvout   SRV   0 0 443 target.example.net.
host     HINFO "PC" "Linux"
naptr    NAPTR 100 10 "S" "SIP+D2U" "" _sip._udp
svc      SVCB  1 www alpn=h2 port=8443 ipv6hint=2001:db8::1
ptr      PTR   www
unk      TYPE65280 \# 4 DEADBEEF
Mixed    A     192.0.2.7
c1       CNAME c2
c2       CNAME c3
c3       CNAME www
loop1    CNAME loop2
loop2    CNAME loop1
self     CNAME self
ext      CNAME www.example.net.
tochild  CNAME www.child
*.wild   A     192.0.2.80
*.wild   TXT   "wildcard"
*.cw     CNAME www
*.wmx    MX    5 mail
x.y.ent  A     192.0.2.90
dn       DNAME target
a.target A     192.0.2.100
dnx      DNAME example.net.
dnloop   DNAME x.dnloop2
dnloop2  DNAME dnloop
sub      NS    ns.sub
sub      NS    ns.other.example.net.
sub      DS    12345 8 2 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
ns.sub   A     192.0.2.200
ns.sub   AAAA  2001:db8::200
deep.sub A     192.0.2.201
child    NS    ns.child
child    DS    54321 13 2 fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210
ns.child A     192.0.2.210
many     A     10.0.0.1
many     A     10.0.0.2
many     A     10.0.0.3
many     A     10.0.0.4
many     A     10.0.0.5
many     A     10.0.0.6
many     A     10.0.0.7
many     A     10.0.0.8
many     A     10.0.0.9
many     A     10.0.0.10
many     A     10.0.0.11
many     A     10.0.0.12
many     A     10.0.0.13
many     A     10.0.0.14
many     A     10.0.0.15
many     A     10.0.0.16
many     A     10.0.0.17
many     A     10.0.0.18
many     A     10.0.0.19
many     A     10.0.0.20
many     A     10.0.0.21
many     A     10.0.0.22
many     A     10.0.0.23
many     A     10.0.0.24
many     A     10.0.0.25
many     A     10.0.0.26
many     A     10.0.0.27
many     A     10.0.0.28
many     A     10.0.0.29
many     A     10.0.0.30
many     A     10.0.0.31
many     A     10.0.0.32
bigns    NS    a-very-long-name-server-label-number-one.example.net.
bigns    NS    a-very-long-name-server-label-number-two.example.net.
)ZONE";

constexpr std::string_view kChildZone = R"ZONE($TTL 300
@    IN SOA ns.child.fuzz.test. hostmaster.fuzz.test. 7 3600 600 86400 60
@    NS   ns
ns   A    192.0.2.210
www  A    192.0.2.211
*    TXT  "child wildcard"
)ZONE";

constexpr std::string_view kOtherZone = R"ZONE(@ 86400 IN SOA ns hostmaster 1 3600 600 86400 3600
@ NS ns
ns A 198.51.100.1
@ A 198.51.100.2
)ZONE";

std::shared_ptr<const zone::Zone> build_zone(const char* origin_text, std::string_view text,
                                             std::string_view extra = {}) {
  auto origin = dns::Name::from_text(origin_text);
  if (!origin) {
    std::fprintf(stderr, "fuzz zone %s: %s\n", origin_text, origin.error().c_str());
    std::abort();
  }
  zone::ZoneBuilder b(*origin);
  zone::TextRecordParser parser(*origin);
  std::string all(text);
  all += extra;
  auto st = parser.parse(all, b, origin_text, 1);
  if (!st) {
    std::fprintf(stderr, "fuzz zone %s: %s\n", origin_text, st.error().c_str());
    std::abort();
  }
  auto z = b.build();
  if (!z) {
    std::fprintf(stderr, "fuzz zone %s: %s\n", origin_text, z.error().c_str());
    std::abort();
  }
  return *z;
}

std::string big_txt() {
  // Eight 255-octet strings: over 2 KB, more than any UDP payload we allow.
  std::string s = "big TXT";
  for (int i = 0; i < 8; ++i) {
    s += " \"" + std::string(255, static_cast<char>('a' + i)) + "\"";
  }
  return s + "\n";
}

}  // namespace

std::string_view parent_zone_text() { return kParentZone; }

// Steered record sets of every policy, so that fuzzed queries (with fuzzed ECS options) go
// through policy::Table::select as well: client-dependent, weighted, all-down, steered CNAME,
// alias at the apex, and a steered address used as additional data for MX.
const char kSteerConfig[] = R"(
health_checks:
  up: { type: external, initial: healthy }
  down: { type: external, initial: unhealthy }
latency_map:
  - { cidr: 203.0.113.0/24, rtt_ms: { a: 10, b: 30 } }
  - { cidr: "2001:db8::/32", rtt_ms: { a: 40, b: 5 } }
  - { cidr: 0.0.0.0/0, rtt_ms: { a: 50, b: 50 } }
zones:
  - name: steer.test.
    soa: { mname: ns1.steer.test., rname: h.steer.test., minimum: 60 }
    ns: [ns1.steer.test.]
    records:
      - { name: ns1, type: A, values: [127.0.0.1] }
      - { name: "@", type: MX, values: ["10 fo.steer.test."] }
      - name: fo
        type: A
        policy: failover
        failover_ttl: 30
        members:
          - { set_id: p, role: primary, values: [192.0.2.1], health_check: down }
          - { set_id: s, role: secondary, values: [192.0.2.2, 192.0.2.3], health_check: up }
      - name: lat
        type: AAAA
        policy: latency
        members:
          - { set_id: a, region: a, values: ["2001:db8::a"], health_check: up }
          - { set_id: b, region: b, values: ["2001:db8::b"] }
      # The invariants compare two answers to one query, so random picks must not differ:
      # one non-zero weight (the pick code still runs), and a sticky set (hash of the client).
      - name: w
        type: A
        policy: weighted
        members:
          - { set_id: x, weight: 3, values: [198.51.100.1] }
          - { set_id: z, weight: 0, values: [198.51.100.3] }
      - name: sub
        type: TXT
        policy: subnet
        members:
          - { set_id: n, subnets: [10.0.0.0/8, "fd00::/8"], values: ["inside"] }
          - { set_id: d, default: true, values: ["outside"] }
      - name: dead
        type: A
        policy: multivalue
        on_all_down: servfail
        members:
          - { set_id: m, values: [192.0.2.9], health_check: down }
      - name: nod
        type: A
        policy: failover
        on_all_down: nodata
        members:
          - { set_id: p, role: primary, values: [192.0.2.1], health_check: down }
          - { set_id: s, role: secondary, values: [192.0.2.2], health_check: down }
      - name: cn
        type: CNAME
        policy: weighted
        sticky: true
        members:
          - { set_id: a, weight: 1, values: [fo.steer.test.] }
          - { set_id: b, weight: 1, values: [lat.steer.test.] }
      - name: "@"
        type: A
        policy: simple
        members:
          - { set_id: apex, alias: { name: fo.steer.test. } }
)";

const config::RuntimeConfig& message_config() {
  static const config::RuntimeConfig* cfg = [] {
    auto* c = new config::RuntimeConfig();
    char path[] = "/tmp/steerdns-fuzz-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, kSteerConfig, sizeof kSteerConfig - 1) !=
                      static_cast<ssize_t>(sizeof kSteerConfig - 1)) {
      std::fprintf(stderr, "fuzz: cannot write the steering config\n");
      std::abort();
    }
    close(fd);
    auto steered = config::load_config_file(path);
    unlink(path);
    if (!steered) {
      std::fprintf(stderr, "fuzz: steering config: %s\n", steered.error().c_str());
      std::abort();
    }
    std::vector<std::shared_ptr<const zone::Zone>> zones = steered->runtime->zones();
    zones.push_back(build_zone("fuzz.test.", kParentZone, big_txt()));
    zones.push_back(build_zone("child.fuzz.test.", kChildZone));
    zones.push_back(build_zone("example.", kOtherZone));
    c->set_zones(std::move(zones));
    c->steering_spec = steered->runtime->steering_spec;
    // The loader's table counts every check healthy; compile with `down` down so that the
    // all-down outcomes (SERVFAIL, NODATA, failover to tier 2) are reachable too.
    health::HealthView view;
    health::CheckState up, down;
    up.status = health::Status::kHealthy;
    down.status = health::Status::kUnhealthy;
    view.add("up", up);
    view.add("down", down);
    auto table = policy::compile({c->steering_spec.get(), &view, nullptr, nullptr});
    if (!table) {
      std::fprintf(stderr, "fuzz: steering table: %s\n", table.error().c_str());
      std::abort();
    }
    c->steering = *table;
    c->chaos.version = "steerdns-fuzz";
    c->chaos.id = "fuzz-1";
    c->source = "fuzz";
    return c;
  }();
  return *cfg;
}

}  // namespace steerdns::fuzz
