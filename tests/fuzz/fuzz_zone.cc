// libFuzzer target: untrusted master-file text through the zone loader (libzscanner ->
// ZoneBuilder -> semantic checks -> immutable Zone). Errors are fine; crashes, leaks and
// inconsistent zones are not. A zone that builds is then checked: every node is found again by
// its name (in any case), every rdata is valid for its type and reads back from its
// presentation text, and queries for its names get well-formed answers.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "config/runtime.h"
#include "dns/message.h"
#include "dns/name.h"
#include "dns/rdata.h"
#include "dns/rrtype.h"
#include "fuzz_common.h"
#include "server/query.h"
#include "zone/loader.h"
#include "zone/zone.h"

namespace steerdns::fuzz {
namespace {

namespace rt = dns::rrtype;

bool mentions_include(std::string_view text) {
  // $INCLUDE reads other files: not part of what this target explores.
  static constexpr std::string_view kWord = "$include";
  for (size_t i = 0; i + kWord.size() <= text.size(); ++i) {
    size_t k = 0;
    while (k < kWord.size() && dns::lower(static_cast<uint8_t>(text[i + k])) == kWord[k]) {
      ++k;
    }
    if (k == kWord.size()) {
      return true;
    }
  }
  return false;
}

size_t make_query(uint8_t* q, const uint8_t* name, size_t len, uint16_t type) {
  std::memset(q, 0, dns::kHeaderLen);
  q[0] = 0x12;
  q[1] = 0x34;
  q[5] = 1;  // QDCOUNT
  std::memcpy(q + dns::kHeaderLen, name, len);
  size_t o = dns::kHeaderLen + len;
  q[o++] = static_cast<uint8_t>(type >> 8);
  q[o++] = static_cast<uint8_t>(type);
  q[o++] = 0;
  q[o++] = 1;  // IN
  return o;
}

void ask(const config::RuntimeConfig& cfg, const uint8_t* name, size_t len, uint16_t type,
         server::Transport transport, const uint8_t* in, size_t in_len) {
  uint8_t q[dns::kHeaderLen + dns::kMaxNameLen + 4];
  static uint8_t out[server::kMaxTcpMessage];
  size_t qlen = make_query(q, name, len, type);
  server::ClientInfo client;
  client.transport = transport;
  server::AnswerInfo info;
  // The answer must not depend on what the buffer held before: answer twice, over two
  // different fills, and compare (stale bytes read back, e.g. by name compression, would
  // otherwise pass unnoticed: the buffer is valid memory to ASan).
  static uint8_t again[server::kMaxTcpMessage];
  std::memset(out, 0x00, 8192);
  std::memset(again, 0xC0, 8192);
  server::AnswerInfo info2;
  size_t n2 = server::answer_query(cfg, q, qlen, again, sizeof again, client, &info2);
  size_t n = server::answer_query(cfg, q, qlen, out, sizeof out, client, &info);
  FUZZ_CHECK(n == n2 && std::memcmp(out, again, n) == 0,
             "the answer depends on the buffer's earlier contents", in, in_len);
  if (n == 0) {
    FUZZ_CHECK(info.transfer, "no answer to a well-formed query", in, in_len);
    return;
  }
  MessageView v;
  std::string why = check_message(out, n, &v);
  FUZZ_CHECK(why.empty(), "answer is not a well-formed message: " + why, in, in_len);
  FUZZ_CHECK(v.id == 0x1234 && (v.flags & dns::flag::QR) && v.qd == 1, "header", in, in_len);
  FUZZ_CHECK(transport == server::Transport::kTcp || n <= dns::kMinUdpPayload,
             "UDP answer above 512 without EDNS", in, in_len);
  const uint16_t rcode = v.flags & 0xF;
  FUZZ_CHECK(rcode == dns::rcode::NOERROR || rcode == dns::rcode::NXDOMAIN ||
                 rcode == dns::rcode::YXDOMAIN || rcode == dns::rcode::FORMERR ||
                 rcode == dns::rcode::NOTIMP,
             "unexpected rcode " + std::to_string(rcode), in, in_len);
}

void check_zone(const zone::Zone& z, const uint8_t* in, size_t in_len) {
  FUZZ_CHECK(z.node_count() >= 1, "empty zone", in, in_len);
  FUZZ_CHECK(z.name(z.apex()) == z.origin(), "apex name", in, in_len);
  FUZZ_CHECK(z.soa().type == rt::SOA && z.soa().count == 1, "SOA", in, in_len);
  size_t records = 0;
  for (size_t i = 0; i < z.node_count(); ++i) {
    const zone::Node& node = z.node(static_cast<uint32_t>(i));
    dns::Name name = z.name(node);
    FUZZ_CHECK(name.is_subdomain_of(z.origin()), "node outside the zone", in, in_len);
    FUZZ_CHECK(z.find(name) == &node, "node not found by its own name", in, in_len);
    dns::Name upper = name;
    {
      std::string t = name.to_text();
      for (char& c : t) {
        if (c >= 'a' && c <= 'z') {
          c = static_cast<char>(c - 32);
        }
      }
      auto u = dns::Name::from_text(t);
      FUZZ_CHECK(u.ok(), "upper-cased name does not parse", in, in_len);
      upper = *u;
    }
    FUZZ_CHECK(z.find(upper) == &node, "lookup is case-sensitive", in, in_len);
    if (node.parent != zone::kNone) {
      FUZZ_CHECK(node.parent < z.node_count() && name.parent() == z.name(z.node(node.parent)),
                 "parent link", in, in_len);
    }
    uint16_t prev_type = 0;
    bool first = true;
    for (const zone::RRset& rs : z.rrsets(node)) {
      FUZZ_CHECK(first || rs.type != prev_type, "duplicate RRset type at a node", in, in_len);
      first = false;
      prev_type = rs.type;
      uint16_t count = 0;
      z.for_each_rdata(rs, [&](const uint8_t* rd, uint16_t len) {
        ++count;
        FUZZ_CHECK(dns::rdata_valid(rs.type, rd, len), "invalid rdata stored", in, in_len);
        if (records < 64 && !dns::is_meta_type(rs.type)) {
          std::string line = name.to_text() + " 60 IN " + dns::type_to_text(rs.type) + " " +
                             dns::rdata_to_text(rs.type, rd, len);
          std::vector<TextRecord> back;
          bool parsed = parse_text_records(line, ".", &back);
          FUZZ_CHECK(parsed && back.size() == 1 && back[0].type == rs.type &&
                         std::equal(back[0].rdata.begin(), back[0].rdata.end(), rd, rd + len),
                     "stored rdata does not survive a text round trip: " + line, in, in_len);
        }
      });
      FUZZ_CHECK(count == rs.count && count > 0, "RRset count", in, in_len);
      records += count;
    }
  }
  FUZZ_CHECK(records == z.record_count(), "record count", in, in_len);
}

}  // namespace
}  // namespace steerdns::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace steerdns;
  if (size > 16384) {
    return -1;  // bigger inputs only slow the search down
  }
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (fuzz::mentions_include(text)) {
    return -1;
  }
  static const dns::Name origin = *dns::Name::from_text("fuzz.test.");
  zone::ZoneBuilder builder(origin);
  builder.set_limits(64, 32);
  zone::TextRecordParser parser(origin, 300);
  // Syntax errors are expected; whatever was accepted before one still goes to build().
  (void)parser.parse(text, builder, "fuzz.zone", 1);
  std::vector<std::string> warnings;
  auto built = builder.build(&warnings);
  if (!built) {
    FUZZ_CHECK(!built.error().empty(), "error without a message", data, size);
    return 0;
  }
  const zone::Zone& z = **built;
  fuzz::check_zone(z, data, size);

  // Answer a few questions from the zone that was just built.
  config::RuntimeConfig cfg;
  cfg.set_zones({*built});
  static const uint16_t kTypes[] = {dns::rrtype::A, dns::rrtype::ANY, dns::rrtype::MX,
                                    dns::rrtype::DS, dns::rrtype::CNAME};
  for (size_t i = 0; i < z.node_count() && i < 32; ++i) {
    const zone::Node& node = z.node(static_cast<uint32_t>(i));
    dns::Name name = z.name(node);
    for (uint16_t t : kTypes) {
      fuzz::ask(cfg, name.data(), name.size(), t, server::Transport::kUdp, data, size);
    }
    for (const zone::RRset& rs : z.rrsets(node)) {
      fuzz::ask(cfg, name.data(), name.size(), rs.type, server::Transport::kTcp, data, size);
    }
    // A name below it (wildcards, NXDOMAIN, DNAME synthesis).
    auto below = name.prepend("zz");
    if (below) {
      fuzz::ask(cfg, below->data(), below->size(), dns::rrtype::A, server::Transport::kUdp, data,
                size);
    }
  }
  return 0;
}
