#include "daemon/answer.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>
#include <vector>

#include "dns/cidr.h"
#include "dns/message.h"
#include "dns/name.h"
#include "dns/rdata.h"
#include "dns/rrtype.h"
#include "dns/wire.h"
#include "server/query.h"

namespace steerdns::daemon {
namespace {

using nlohmann::json;

const char* rcode_text(unsigned rc) {
  static const char* const kNames[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
                                       "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
                                       "NXRRSET", "NOTAUTH", "NOTZONE"};
  return rc < sizeof kNames / sizeof kNames[0] ? kNames[rc] : "RCODE";
}

// Reads `count` records from r; false on a malformed message (cannot happen for our own
// answers, but a parse error must not crash the API).
bool read_section(dns::WireReader& r, uint16_t count, json& out, std::optional<int>* ecs_scope) {
  for (uint16_t i = 0; i < count; ++i) {
    dns::Name owner = dns::Name::from_wire(r);
    uint16_t type = r.u16();
    uint16_t klass = r.u16();
    uint32_t ttl = r.u32();
    uint16_t rdlen = r.u16();
    if (!r.ok() || rdlen > r.remaining()) {
      return false;
    }
    if (type == dns::rrtype::OPT) {
      // Options: find ECS (code 8): family(2) source(1) scope(1) address.
      size_t end = r.pos() + rdlen;
      while (r.ok() && r.pos() + 4 <= end) {
        uint16_t code = r.u16();
        uint16_t len = r.u16();
        if (code == dns::ednsopt::ECS && len >= 4) {
          r.u16();
          r.u8();
          *ecs_scope = r.u8();
          r.skip(len - 4);
        } else {
          r.skip(len);
        }
      }
      (void)klass;
      continue;
    }
    std::vector<uint8_t> rd;
    if (!dns::rdata_from_wire(r, rdlen, type, rd)) {
      return false;
    }
    out.push_back({{"name", owner.to_text()},
                   {"type", dns::type_to_text(type)},
                   {"ttl", ttl},
                   {"data", dns::rdata_to_text(type, rd.data(), rd.size())}});
  }
  return r.ok();
}

}  // namespace

Result<json> answer_question(const config::RuntimeConfig& cfg, const api::Question& q) {
  std::string name = q.name.empty() || q.name.back() != '.' ? q.name + "." : q.name;
  auto qname = dns::Name::from_text(name);
  if (!qname) {
    return Error{"name '" + q.name + "': " + qname.error()};
  }
  auto qtype = dns::type_from_text(q.type);
  if (!qtype) {
    return Error{"type '" + q.type + "': unknown record type"};
  }
  sockaddr_storage ss{};
  std::string client = q.client_ip.empty() ? "127.0.0.1" : q.client_ip;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, client.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
  } else if (inet_pton(AF_INET6, client.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
  } else {
    return Error{"client address '" + q.client_ip + "' is not an IPv4 or IPv6 address"};
  }
  std::optional<dns::Cidr> ecs;
  if (!q.ecs.empty()) {
    std::string text = q.ecs;
    if (text.find('/') == std::string::npos) {
      text += text.find(':') == std::string::npos ? "/32" : "/128";
    }
    auto c = dns::Cidr::parse(text);
    if (!c) {
      return Error{"client subnet '" + q.ecs + "': " + c.error()};
    }
    ecs = *c;
  }

  uint8_t query[512];
  dns::WireWriter w(query, sizeof query);
  w.u16(0x5344);  // id
  w.u16(0);       // flags: standard query, no recursion wanted
  w.u16(1);
  w.u16(0);
  w.u16(0);
  w.u16(ecs ? 1 : 0);
  w.bytes(qname->data(), qname->size());
  w.u16(*qtype);
  w.u16(1);
  if (ecs) {
    bool is4 = ecs->family == AF_INET;
    size_t addr_len = (ecs->prefix + 7) / 8;
    w.u8(0);  // root owner
    w.u16(dns::rrtype::OPT);
    w.u16(1232);
    w.u32(0);
    w.u16(static_cast<uint16_t>(4 + 4 + addr_len));
    w.u16(dns::ednsopt::ECS);
    w.u16(static_cast<uint16_t>(4 + addr_len));
    w.u16(is4 ? 1 : 2);
    w.u8(ecs->prefix);
    w.u8(0);
    w.bytes(ecs->addr, addr_len);
  }
  if (!w.ok()) {
    return Error{"the question does not fit in a query"};
  }
  std::vector<uint8_t> resp(server::kMaxTcpMessage);
  server::ClientInfo ci;
  ci.addr = reinterpret_cast<const sockaddr*>(&ss);
  ci.transport = server::Transport::kTcp;  // no truncation: the whole answer
  server::AnswerInfo info;
  size_t n = server::answer_query(cfg, query, w.pos(), resp.data(), resp.size(), ci, &info);
  if (n < dns::kHeaderLen) {
    return Error{"the server dropped the question (" + name + " " + q.type + ")"};
  }
  dns::WireReader r(resp.data(), n);
  r.u16();
  uint16_t flags = r.u16();
  uint16_t qd = r.u16(), an = r.u16(), ns = r.u16(), ar = r.u16();
  for (uint16_t i = 0; i < qd; ++i) {
    (void)dns::Name::from_wire(r);
    r.u16();
    r.u16();
  }
  json answers = json::array(), authority = json::array(), additional = json::array();
  std::optional<int> scope;
  if (!read_section(r, an, answers, &scope) || !read_section(r, ns, authority, &scope) ||
      !read_section(r, ar, additional, &scope)) {
    return Error{"could not read the server's answer for " + name + " " + q.type};
  }
  unsigned rc = flags & 0xF;
  json out{{"name", qname->to_text()},
           {"type", dns::type_to_text(*qtype)},
           {"client", client},
           {"rcode", rcode_text(rc)},
           {"rcode_code", rc},
           {"aa", (flags & 0x0400) != 0},
           {"answers", answers},
           {"authority", authority}};
  out["ecs_scope"] = scope ? json(*scope) : json(nullptr);
  return out;
}

}  // namespace steerdns::daemon
