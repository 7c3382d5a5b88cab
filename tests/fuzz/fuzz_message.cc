// libFuzzer target: untrusted packet bytes through the message decoders and the whole query
// path (server::answer_query) against fixed zones. Asserts that every response fits the
// buffer and the client's payload size, is a well-formed DNS message, echoes ID, opcode, RD
// and the question, carries the rcode the decoder asked for, and is deterministic. The
// steer.test. zone (fuzz_common.cc) sends queries through every routing policy as well.
#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "dns/message.h"
#include "dns/name.h"
#include "fuzz_common.h"
#include "server/query.h"

namespace steerdns::fuzz {
namespace {

using dns::ParseResult;

// Direct use of parse_query: what it reports must be consistent with the packet.
void check_parse_query(const uint8_t* data, size_t size, ParseResult pr, const dns::Query& q) {
  if (pr != ParseResult::kOk) {
    return;
  }
  FUZZ_CHECK(q.has_question, "kOk without a question", data, size);
  FUZZ_CHECK(q.qname_off == dns::kHeaderLen && q.qname_len >= 1 &&
                 q.qname_off + q.qname_len + 4 == q.question_end && q.question_end <= size,
             "question bounds", data, size);
  auto n = dns::Name::from_uncompressed(data + q.qname_off, q.qname_len);
  FUZZ_CHECK(n.ok(), "accepted question name does not validate", data, size);
  FUZZ_CHECK(q.edns.version == 0 || !q.edns.present, "kOk with EDNS version > 0", data, size);
  if (q.edns.ecs.present) {
    FUZZ_CHECK(q.edns.ecs.family == 1 || q.edns.ecs.family == 2, "ECS family", data, size);
    FUZZ_CHECK(q.edns.ecs.source_prefix <= (q.edns.ecs.family == 1 ? 32 : 128), "ECS prefix", data,
               size);
  }
}

void check_response(const config::RuntimeConfig& cfg, const uint8_t* data, size_t size,
                    ParseResult pr, const dns::Query& q, const uint8_t* resp, size_t n, size_t cap,
                    server::Transport transport, const zone::Zone* steered) {
  const bool udp = transport == server::Transport::kUdp;
  FUZZ_CHECK(n <= cap, "response larger than the buffer", data, size);
  if (udp) {
    size_t want = q.edns.present ? std::max<size_t>(q.edns.udp_size, dns::kMinUdpPayload)
                                 : dns::kMinUdpPayload;
    want = std::min<size_t>(want, std::max<size_t>(cfg.max_udp_payload, dns::kMinUdpPayload));
    FUZZ_CHECK(n <= std::min(cap, want), "UDP response above the client's payload size", data,
               size);
  }
  MessageView v;
  std::string why = check_message(resp, n, &v);
  FUZZ_CHECK(why.empty(), "response is not a well-formed message: " + why, data, size);
  FUZZ_CHECK(v.id == q.id, "ID not echoed", data, size);
  FUZZ_CHECK(v.flags & dns::flag::QR, "QR not set", data, size);
  FUZZ_CHECK(((v.flags >> 11) & 0xF) == q.opcode, "opcode not echoed", data, size);
  FUZZ_CHECK((v.flags & dns::flag::RD) == (q.flags & dns::flag::RD), "RD not copied", data, size);
  FUZZ_CHECK(v.qd <= 1, "more than one question", data, size);
  if (v.qd == 1) {
    // The question is echoed byte for byte (0x20 case preserved).
    size_t qlen = v.question_end - v.question_start;
    FUZZ_CHECK(q.has_question && qlen == q.question_end - q.qname_off &&
                   std::memcmp(resp + v.question_start, data + q.qname_off, qlen) == 0,
               "question not echoed", data, size);
  }
  if (v.flags & dns::flag::TC) {
    FUZZ_CHECK(udp, "TC over TCP", data, size);
    FUZZ_CHECK(v.an == 0 && v.ns == 0, "TC response with records", data, size);
  }
  const uint16_t rcode = static_cast<uint16_t>(v.opt_ext_rcode << 4 | (v.flags & 0xF));
  switch (pr) {
    case ParseResult::kFormErr:
      FUZZ_CHECK(rcode == dns::rcode::FORMERR, "malformed query without FORMERR", data, size);
      break;
    case ParseResult::kNotImp:
      FUZZ_CHECK(rcode == dns::rcode::NOTIMP, "unknown opcode without NOTIMP", data, size);
      break;
    case ParseResult::kBadVers:
      FUZZ_CHECK(v.opt_count == 1 && rcode == dns::rcode::BADVERS, "EDNS version without BADVERS",
                 data, size);
      break;
    case ParseResult::kOk:
      FUZZ_CHECK(v.opt_count == (q.edns.present ? 1 : 0), "OPT presence does not follow the query",
                 data, size);
      if (q.edns.ecs.present && v.opt_count == 1) {
        // Only steered answers depend on the client (the steer.test. zone); their scope is
        // what the decision used, never beyond the client's own prefix.
        bool steered_zone = steered && steered->origin().to_text() == "steer.test.";
        FUZZ_CHECK(v.ecs_echoed && v.ecs_family == q.edns.ecs.family &&
                       v.ecs_source == q.edns.ecs.source_prefix &&
                       (steered_zone ? v.ecs_scope <= v.ecs_source : v.ecs_scope == 0),
                   "ECS not echoed with the right scope", data, size);
      }
      break;
    case ParseResult::kDrop:
      FUZZ_CHECK(false, "answered a packet the decoder dropped", data, size);
  }
  if (pr != ParseResult::kOk || !q.edns.present) {
    FUZZ_CHECK(v.opt_count <= (q.edns.present ? 1 : 0), "OPT in answer to a query without one",
               data, size);
  }
  if (v.flags & dns::flag::AA) {
    FUZZ_CHECK(rcode == dns::rcode::NOERROR || rcode == dns::rcode::NXDOMAIN ||
                   rcode == dns::rcode::YXDOMAIN,
               "AA on an error", data, size);
  }
}

void run_query_path(const uint8_t* data, size_t size, ParseResult pr, const dns::Query& q,
                    server::Transport transport, size_t cap) {
  static uint8_t out_a[server::kMaxTcpMessage];
  static uint8_t out_b[server::kMaxTcpMessage];
  const config::RuntimeConfig& cfg = message_config();
  // Different fill patterns expose any byte of the response that was not written.
  std::memset(out_a, 0x00, cap);
  std::memset(out_b, 0xA5, cap);
  server::ClientInfo client;
  client.transport = transport;
  // A source address, as the transports always give (steering uses it without ECS).
  static const sockaddr_in source = [] {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(0xC0000201);  // 192.0.2.1
    return sin;
  }();
  client.addr = reinterpret_cast<const sockaddr*>(&source);
  server::AnswerInfo info_a;
  server::AnswerInfo info_b;
  size_t na = server::answer_query(cfg, data, size, out_a, cap, client, &info_a);
  size_t nb = server::answer_query(cfg, data, size, out_b, cap, client, &info_b);
  FUZZ_CHECK(na == nb && std::memcmp(out_a, out_b, na) == 0, "answer is not deterministic", data,
             size);
  if (na == 0) {
    FUZZ_CHECK(pr == ParseResult::kDrop || info_a.transfer || info_a.dropped,
               "no answer without a reason", data, size);
    FUZZ_CHECK(!info_a.transfer || transport == server::Transport::kTcp, "transfer over UDP", data,
               size);
    return;
  }
  FUZZ_CHECK(pr != ParseResult::kDrop, "answered a packet that should be dropped", data, size);
  check_response(cfg, data, size, pr, q, out_a, na, cap, transport, info_a.zone);
  FUZZ_CHECK(info_a.truncated == ((dns::get16(out_a + 2) & dns::flag::TC) != 0),
             "AnswerInfo.truncated disagrees with TC", data, size);
}

}  // namespace
}  // namespace steerdns::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace steerdns;
  if (size > server::kMaxTcpMessage) {
    return -1;  // cannot arrive over either transport
  }
  // The decoders on their own: the generic strict parser (names, compression, every rdata
  // description, round trips) and the query parser.
  (void)fuzz::check_message(data, size);
  dns::Query q;
  dns::ParseResult pr = dns::parse_query(data, size, q);
  fuzz::check_parse_query(data, size, pr, q);
  // The whole query path, as each transport calls it.
  fuzz::run_query_path(data, size, pr, q, server::Transport::kUdp, 512);
  fuzz::run_query_path(data, size, pr, q, server::Transport::kUdp, 4096);
  fuzz::run_query_path(data, size, pr, q, server::Transport::kTcp, server::kMaxTcpMessage);
  return 0;
}
