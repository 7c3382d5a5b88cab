#pragma once
// TSIG (RFC 8945): messages signed with an HMAC over a secret shared with the peer. Used for
// zone transfers, the SOA checks secondaries send with the same key, and NOTIFY.
//
// Control-plane and slow-path code: the query path only detects a TSIG record (parse_query
// sets Query::tsig_off) and hands such queries here. Everything is a pure function of its
// arguments (time is passed in, seconds since the epoch); a key ring is immutable once built
// and may be read from any thread.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "dns/name.h"

namespace steerdns::dns {

// Seconds since the epoch: the clock TSIG times are compared with.
uint64_t tsig_now();

// TSIG error field values (RFC 8945 3, the IANA RCODE registry).
namespace tsigerr {
inline constexpr uint16_t BADSIG = 16, BADKEY = 17, BADTIME = 18, BADTRUNC = 22;
}

enum class TsigAlgorithm : uint8_t {
  kHmacSha1,
  kHmacSha224,
  kHmacSha256,
  kHmacSha384,
  kHmacSha512
};

// "hmac-sha256" etc., as RFC 8945, BIND, NSD and Knot write them (any case, trailing dot
// allowed); nullopt for anything else (hmac-md5 and GSS-TSIG are not supported).
std::optional<TsigAlgorithm> tsig_algorithm_from_text(std::string_view text);
std::string_view tsig_algorithm_text(TsigAlgorithm a);  // "hmac-sha256"
size_t tsig_mac_size(TsigAlgorithm a);                  // full MAC length in octets
// The names every algorithm is accepted under, for error messages.
std::string tsig_algorithm_list();

struct TsigKey {
  Name name;  // lower-cased: the form that goes into the MAC (RFC 8945 4.3.3, canonical)
  TsigAlgorithm algorithm = TsigAlgorithm::kHmacSha256;
  std::vector<uint8_t> secret;  // never logged

  friend bool operator==(const TsigKey& a, const TsigKey& b) {
    return a.name == b.name && a.algorithm == b.algorithm && a.secret == b.secret;
  }
};

// The keys of a config, looked up by name (case-insensitively). Few keys: a linear search.
class TsigKeyring {
 public:
  // Errors: a key with that name already exists.
  Status add(TsigKey key);
  const TsigKey* find(const Name& name) const;
  bool empty() const { return keys_.empty(); }
  const std::vector<TsigKey>& keys() const { return keys_; }
  friend bool operator==(const TsigKeyring& a, const TsigKeyring& b) { return a.keys_ == b.keys_; }

 private:
  std::vector<TsigKey> keys_;
};

// Strict base64 (RFC 4648 4, padding required; spaces and newlines between characters are
// ignored, as in BIND key files). Errors say why without echoing the input (it is a secret).
Result<std::vector<uint8_t>> decode_base64(std::string_view text);

// The TSIG record of a message, read from it.
struct TsigRecord {
  size_t start = 0;  // offset of the record: the message without it is [0, start)
  Name key;          // the key name as sent (compression followed)
  Name algorithm;
  uint64_t time_signed = 0;  // 48 bits, seconds since the epoch
  uint16_t fudge = 0;
  std::vector<uint8_t> mac;
  uint16_t original_id = 0;
  uint16_t error = 0;
  std::vector<uint8_t> other;
};

enum class TsigFind : uint8_t {
  kNone,  // the message carries no TSIG record
  kFound,
  kMalformed,  // a TSIG record elsewhere than last, more than one, bad fields: FORMERR
};
TsigFind find_tsig(const uint8_t* msg, size_t len, TsigRecord* out);

// The result of checking a signed message. Values other than kOk that the server answers
// with a TSIG error carry that error (tsig_status_error); kFormErr is answered FORMERR.
enum class TsigStatus : uint8_t {
  kOk,
  kFormErr,    // malformed record or MAC length out of bounds (RFC 8945 5.2.2.1)
  kBadKey,     // unknown key name, or an algorithm other than the key's
  kBadSig,     // the MAC does not verify
  kBadTime,    // time signed outside the fudge of our clock
  kBadTrunc,   // a truncated MAC (valid, but we accept full-length MACs only)
  kUnsigned,   // a response without TSIG to a signed request
  kPeerError,  // the peer answered with a TSIG error of its own (TsigRecord::error)
};
std::string_view tsig_status_text(TsigStatus s);  // "BADSIG (the MAC does not verify)" etc.
uint16_t tsig_status_error(TsigStatus s);         // BADSIG..BADTRUNC, else 0

// A verified (or rejected) request: what the server needs to answer it.
struct TsigRequest {
  TsigStatus status = TsigStatus::kFormErr;
  const TsigKey* key = nullptr;  // the key ring's key when known (null with BADKEY)
  TsigRecord record;             // as received (valid unless kFormErr)
};

// Verifies a request's TSIG against `keys` at time `now` in the order of RFC 8945 5.2: key,
// then MAC, then time.
TsigRequest tsig_verify_request(const TsigKeyring& keys, const uint8_t* msg, size_t len,
                                uint64_t now);

// Signs messages with one key: a request (request_mac empty: nothing before the message in
// the digest), or the responses to a verified request. The first call signs with every TSIG
// variable; each later call (the next message of a transfer) with the prior MAC and the timers
// only (RFC 8945 5.3.1), so every message of a transfer is signed.
class TsigSigner {
 public:
  TsigSigner(const TsigKey& key, std::span<const uint8_t> request_mac, bool response);
  // Octets a TSIG record of this key takes (with 6 octets of other data for BADTIME): what to
  // keep free in a message that is to be signed.
  static size_t record_size(const TsigKey& key);
  // Appends the TSIG record to the message buf[0, len) (capacity cap), with `time_signed`,
  // `error` and, for BADTIME, our clock as other data (RFC 8945 5.2.3); raises ARCOUNT.
  // Returns the new length, or 0 if the record does not fit.
  size_t sign(uint8_t* buf, size_t len, size_t cap, uint64_t time_signed, uint16_t error = 0,
              std::optional<uint64_t> other_time = std::nullopt);
  // The MAC of the last message signed (a request's, to verify its response).
  const std::vector<uint8_t>& mac() const { return prior_mac_; }

 private:
  TsigKey key_;  // a copy: a signer may outlive the config it came from
  std::vector<uint8_t> prior_mac_;
  bool response_;
  bool first_ = true;
};

// An unsigned TSIG error record (BADKEY, BADSIG: RFC 8945 5.3.2, the server must not sign):
// the request's key and algorithm names, MAC size 0. Appended like TsigSigner::sign.
size_t tsig_append_unsigned(uint8_t* buf, size_t len, size_t cap, const TsigRecord& request,
                            uint64_t now, uint16_t error);

// Verifies the responses to a request we signed (NOTIFY; the tests' transfers). Every message
// must be signed: what steerdns itself sends (RFC 8945 5.3.1 lets a sender skip up to 99).
class TsigVerifier {
 public:
  TsigVerifier(const TsigKey& key, std::vector<uint8_t> request_mac);
  TsigStatus verify(const uint8_t* msg, size_t len, uint64_t now);
  // The record of the last message verified (its error field for kPeerError).
  const TsigRecord& record() const { return rec_; }

 private:
  TsigKey key_;
  std::vector<uint8_t> prior_mac_;
  bool first_ = true;
  TsigRecord rec_;
};

}  // namespace steerdns::dns
