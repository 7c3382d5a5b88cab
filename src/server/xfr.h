#pragma once
// Zone transfer out (AXFR, RFC 5936; IXFR, RFC 1995, from the journal of server/journal.h, or
// with a full transfer as RFC 1995 4 allows when the journal does not reach the client's
// serial): the zone as a sequence of DNS messages, SOA first, every RRset of every node, SOA
// last, as many records per message as fit.
//
// AxfrStream produces the messages one at a time, so a large zone is never held in memory as
// messages; the caller keeps the zone (its RuntimeConfig snapshot) alive meanwhile. Control
// path code (runs on the TCP thread, may allocate).
#include <cstddef>
#include <cstdint>
#include <vector>

#include "dns/message.h"
#include "dns/rdata.h"
#include "dns/tsig.h"
#include "policy/table.h"
#include "server/journal.h"
#include "server/query.h"
#include "zone/zone.h"

namespace steerdns::server {

// A transfer's messages, one at a time (the TCP transport streams either kind).
class XfrSource {
 public:
  virtual ~XfrSource() = default;
  // Writes the next message into out and returns its length, or 0 when the transfer is done.
  virtual size_t next(uint8_t* out, size_t cap) = 0;
  virtual size_t messages() const = 0;
  virtual size_t records() const = 0;
};

class AxfrStream : public XfrSource {
 public:
  // `q` is the client's AXFR or IXFR query; its id, opcode, RD bit and question are echoed.
  // `max_msg` bounds each message (at most 65535; smaller in tests to force splitting).
  // A steered rrset is sent as `steering`'s current answer for a client-less query (nothing
  // when all down gives nodata/servfail), or its fail-open fallback without a table. The
  // table must outlive the stream (it lives in the same RuntimeConfig as the zone).
  AxfrStream(const zone::Zone& z, const uint8_t* q, size_t qlen, size_t max_msg = kMaxTcpMessage,
             const policy::Table* steering = nullptr);

  // Writes the next message into out (capacity at least max_msg) and returns its length, or 0
  // when the transfer is complete. A record too large for an empty message ends the transfer
  // with a SERVFAIL message.
  size_t next(uint8_t* out, size_t cap) override;
  bool done() const { return phase_ == Phase::kDone; }
  size_t messages() const override { return messages_; }
  size_t records() const override { return records_; }

 private:
  enum class Phase : uint8_t { kFirstSoa, kNodes, kLastSoa, kDone };
  // Writes one RR; false (and the writer rewound to before it) if it does not fit.
  bool put_rr(dns::WireWriter& w, dns::Compressor& c, const uint8_t* owner, size_t owner_len,
              uint16_t type, uint32_t ttl, const uint8_t* rd, size_t rdlen);

  const zone::Zone& z_;
  const policy::Table* steering_ = nullptr;
  size_t max_msg_;
  uint16_t id_ = 0;
  uint16_t flags_ = 0;
  bool edns_ = false;
  bool do_bit_ = false;
  std::vector<uint8_t> question_;  // qname + qtype + qclass as received

  Phase phase_ = Phase::kFirstSoa;
  uint32_t node_ = 0;   // current node
  uint32_t rrset_ = 0;  // current rrset within the node
  uint32_t rdata_ = 0;  // next rdata within the rrset
  size_t messages_ = 0;
  size_t records_ = 0;
};

// An incremental transfer (RFC 1995 4): the current SOA, then per journal step the old SOA, the
// removed records, the new SOA, the added records, and the current SOA last. An empty chain is
// the up-to-date answer: the current SOA alone. Echoes the query like AxfrStream; keeps the
// steps alive itself.
class IxfrStream : public XfrSource {
 public:
  IxfrStream(const uint8_t* q, size_t qlen, XfrRecord current_soa,
             std::vector<std::shared_ptr<const Delta>> chain, size_t max_msg = kMaxTcpMessage);
  size_t next(uint8_t* out, size_t cap) override;
  size_t messages() const override { return messages_; }
  size_t records() const override { return records_; }

 private:
  XfrRecord soa_;
  std::vector<std::shared_ptr<const Delta>> chain_;
  std::vector<const XfrRecord*> seq_;  // every record to send, in order
  size_t at_ = 0;
  size_t max_msg_;
  uint16_t id_ = 0;
  uint16_t flags_ = 0;
  bool edns_ = false;
  bool do_bit_ = false;
  std::vector<uint8_t> question_;
  bool done_ = false;
  size_t messages_ = 0;
  size_t records_ = 0;
};

// The serial of the SOA in an IXFR query's authority section; false if there is none.
bool ixfr_query_serial(const uint8_t* q, size_t qlen, uint32_t* serial);

// All messages of a transfer (tests and small zones).
std::vector<std::vector<uint8_t>> axfr_messages(const zone::Zone& z, const uint8_t* q, size_t qlen,
                                                size_t max_msg = kMaxTcpMessage,
                                                const policy::Table* steering = nullptr);

// Logs a query refused for its TSIG (client, question, key, reason; never the secret): at most
// one line a second per thread, the rest counted in the next line, so that a flood of bad
// signatures cannot flood the log. Any thread (the state is per thread).
void log_tsig_failure(const sockaddr* peer, const uint8_t* q, size_t qlen, dns::TsigStatus st);

// A header-and-question answer with `rcode` (REFUSED for clients outside the ACL, NOTAUTH for a
// name that is not a zone apex). Returns 0 if the query cannot be parsed.
size_t xfr_error(const uint8_t* q, size_t qlen, uint16_t rcode, uint8_t* out, size_t cap);

}  // namespace steerdns::server
