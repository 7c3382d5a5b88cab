#include "dns/tsig.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>

#include "dns/message.h"
#include "dns/rrtype.h"
#include "dns/wire.h"

namespace steerdns::dns {
namespace {

struct AlgInfo {
  TsigAlgorithm alg;
  const char* text;    // as configs and the wire write it (without the trailing dot)
  const char* digest;  // OpenSSL's name
  size_t mac_size;
};
constexpr std::array<AlgInfo, 5> kAlgs = {{
    {TsigAlgorithm::kHmacSha1, "hmac-sha1", "SHA1", 20},
    {TsigAlgorithm::kHmacSha224, "hmac-sha224", "SHA224", 28},
    {TsigAlgorithm::kHmacSha256, "hmac-sha256", "SHA256", 32},
    {TsigAlgorithm::kHmacSha384, "hmac-sha384", "SHA384", 48},
    {TsigAlgorithm::kHmacSha512, "hmac-sha512", "SHA512", 64},
}};

const AlgInfo& info(TsigAlgorithm a) { return kAlgs[static_cast<size_t>(a)]; }

Name algorithm_name(TsigAlgorithm a) { return *Name::from_text(std::string(info(a).text) + "."); }

constexpr size_t kMaxMac = 64;

// One HMAC computation fed in pieces (the digest input is never assembled in one buffer).
class Hmac {
 public:
  explicit Hmac(const TsigKey& key) : size_(info(key.algorithm).mac_size) {
    // Fetched once: fetching walks OpenSSL's provider tables.
    static EVP_MAC* const mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    ctx_ = mac != nullptr ? EVP_MAC_CTX_new(mac) : nullptr;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                         const_cast<char*>(info(key.algorithm).digest), 0),
        OSSL_PARAM_construct_end()};
    ok_ = ctx_ != nullptr && EVP_MAC_init(ctx_, key.secret.data(), key.secret.size(), params) == 1;
  }
  ~Hmac() { EVP_MAC_CTX_free(ctx_); }
  Hmac(const Hmac&) = delete;
  Hmac& operator=(const Hmac&) = delete;

  void update(const uint8_t* p, size_t n) {
    if (ok_ && n > 0) {
      ok_ = EVP_MAC_update(ctx_, p, n) == 1;
    }
  }
  void u16(uint16_t v) {
    const uint8_t b[2] = {static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)};
    update(b, 2);
  }
  void u48(uint64_t v) {
    uint8_t b[6];
    for (int i = 0; i < 6; ++i) {
      b[i] = static_cast<uint8_t>(v >> (40 - 8 * i));
    }
    update(b, 6);
  }
  void name(const Name& n) {  // canonical: lower case, uncompressed
    Name l = n.lowered();
    update(l.data(), l.size());
  }
  // The MAC (empty if OpenSSL failed, which then verifies nothing and signs nothing).
  std::vector<uint8_t> final() {
    std::vector<uint8_t> out(kMaxMac);
    size_t n = 0;
    if (!ok_ || EVP_MAC_final(ctx_, out.data(), &n, out.size()) != 1 || n != size_) {
      return {};
    }
    out.resize(n);
    return out;
  }

 private:
  EVP_MAC_CTX* ctx_ = nullptr;
  size_t size_;
  bool ok_ = false;
};

// The message part of the digest: the header with `id` and ARCOUNT `ar`, then the rest.
void digest_message(Hmac& h, const uint8_t* msg, size_t len, uint16_t id, uint16_t ar) {
  uint8_t hdr[kHeaderLen];
  std::copy(msg, msg + kHeaderLen, hdr);
  hdr[0] = static_cast<uint8_t>(id >> 8);
  hdr[1] = static_cast<uint8_t>(id);
  hdr[10] = static_cast<uint8_t>(ar >> 8);
  hdr[11] = static_cast<uint8_t>(ar);
  h.update(hdr, kHeaderLen);
  h.update(msg + kHeaderLen, len - kHeaderLen);
}

// The TSIG variables (RFC 8945 4.3.3) after the message of a first (or only) message.
void digest_variables(Hmac& h, const Name& key, const Name& alg, uint64_t time_signed,
                      uint16_t fudge, uint16_t error, const std::vector<uint8_t>& other) {
  h.name(key);
  h.u16(rrclass::ANY);
  h.u16(0);  // TTL, 32 bits
  h.u16(0);
  h.name(alg);
  h.u48(time_signed);
  h.u16(fudge);
  h.u16(error);
  h.u16(static_cast<uint16_t>(other.size()));
  h.update(other.data(), other.size());
}

void digest_mac(Hmac& h, const std::vector<uint8_t>& mac) {
  h.u16(static_cast<uint16_t>(mac.size()));
  h.update(mac.data(), mac.size());
}

// The MAC a record should carry: `prior` (a request's MAC for a response, the previous MAC
// for a later message; none for a request), the message without the record, then all
// variables (first) or the timers only (later messages).
std::vector<uint8_t> compute(const TsigKey& key, const std::vector<uint8_t>* prior, bool first,
                             const uint8_t* msg, size_t len, uint16_t id, uint16_t ar,
                             const TsigRecord& r) {
  Hmac h(key);
  if (prior != nullptr) {
    digest_mac(h, *prior);
  }
  digest_message(h, msg, len, id, ar);
  if (first) {
    digest_variables(h, key.name, r.algorithm, r.time_signed, r.fudge, r.error, r.other);
  } else {
    h.u48(r.time_signed);
    h.u16(r.fudge);
  }
  return h.final();
}

// Writes a TSIG record at the end of buf[0, len) and raises ARCOUNT; 0 if it does not fit.
size_t append_record(uint8_t* buf, size_t len, size_t cap, const Name& key, const Name& alg,
                     uint64_t time_signed, uint16_t fudge, const std::vector<uint8_t>& mac,
                     uint16_t original_id, uint16_t error, const std::vector<uint8_t>& other) {
  if (len < kHeaderLen || len > cap) {
    return 0;
  }
  WireWriter w(buf, cap);
  w.rewind(len);
  Name k = key.lowered();
  Name a = alg.lowered();
  w.bytes(k.data(), k.size());
  w.u16(rrtype::TSIG);
  w.u16(rrclass::ANY);
  w.u32(0);
  size_t rdlen_at = w.pos();
  w.u16(0);
  w.bytes(a.data(), a.size());
  w.u16(static_cast<uint16_t>(time_signed >> 32));
  w.u32(static_cast<uint32_t>(time_signed));
  w.u16(fudge);
  w.u16(static_cast<uint16_t>(mac.size()));
  w.bytes(mac.data(), mac.size());
  w.u16(original_id);
  w.u16(error);
  w.u16(static_cast<uint16_t>(other.size()));
  w.bytes(other.data(), other.size());
  if (!w.ok()) {
    return 0;
  }
  w.put_u16_at(rdlen_at, static_cast<uint16_t>(w.pos() - rdlen_at - 2));
  w.put_u16_at(10, static_cast<uint16_t>(get16(buf + 10) + 1));
  return w.pos();
}

std::vector<uint8_t> time48(uint64_t t) {
  std::vector<uint8_t> v(6);
  for (int i = 0; i < 6; ++i) {
    v[static_cast<size_t>(i)] = static_cast<uint8_t>(t >> (40 - 8 * i));
  }
  return v;
}

constexpr uint16_t kFudge = 300;  // RFC 8945 10: the recommended value

bool mac_equal(const std::vector<uint8_t>& got, const std::vector<uint8_t>& want) {
  // Compares the octets sent (a truncated MAC compares its prefix); constant time.
  return !want.empty() && got.size() <= want.size() &&
         CRYPTO_memcmp(got.data(), want.data(), got.size()) == 0;
}

}  // namespace

uint64_t tsig_now() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

std::optional<TsigAlgorithm> tsig_algorithm_from_text(std::string_view text) {
  if (!text.empty() && text.back() == '.') {
    text.remove_suffix(1);
  }
  for (const auto& a : kAlgs) {
    std::string_view t = a.text;
    if (t.size() == text.size() && std::equal(t.begin(), t.end(), text.begin(), [](char x, char y) {
          return x == std::tolower(static_cast<unsigned char>(y));
        })) {
      return a.alg;
    }
  }
  return std::nullopt;
}

std::string_view tsig_algorithm_text(TsigAlgorithm a) { return info(a).text; }

size_t tsig_mac_size(TsigAlgorithm a) { return info(a).mac_size; }

std::string tsig_algorithm_list() {
  std::string s;
  for (const auto& a : kAlgs) {
    s += s.empty() ? "" : ", ";
    s += a.text;
  }
  return s;
}

Status TsigKeyring::add(TsigKey key) {
  if (find(key.name) != nullptr) {
    return Error{"key '" + key.name.to_text() + "' given twice"};
  }
  key.name = key.name.lowered();
  keys_.push_back(std::move(key));
  return OkStatus();
}

const TsigKey* TsigKeyring::find(const Name& name) const {
  for (const auto& k : keys_) {
    if (k.name == name) {
      return &k;
    }
  }
  return nullptr;
}

Result<std::vector<uint8_t>> decode_base64(std::string_view text) {
  std::string clean;
  for (char c : text) {
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
      clean.push_back(c);
    }
  }
  if (clean.empty()) {
    return Error{"empty"};
  }
  if (clean.size() % 4 != 0) {
    return Error{"not base64: the length (" + std::to_string(clean.size()) +
                 " characters) is not a multiple of 4"};
  }
  size_t pad = 0;
  for (size_t i = 0; i < clean.size(); ++i) {
    char c = clean[i];
    bool b64 = std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '+' || c == '/';
    if (c == '=' && i + 2 >= clean.size() && pad < 2) {
      ++pad;
      continue;
    }
    if (!b64 || pad > 0) {
      return Error{"not base64: character " + std::to_string(i + 1) +
                   " is not in the base64 alphabet (A-Z a-z 0-9 + / and = at the end)"};
    }
  }
  // EVP_DecodeBlock does not strip padding: it returns 3 octets per 4 characters, zeros for
  // '='; the real length is that minus the padding.
  std::vector<uint8_t> out(clean.size() / 4 * 3);
  int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(clean.data()),
                          static_cast<int>(clean.size()));
  if (n < 0 || static_cast<size_t>(n) != out.size()) {
    return Error{"not base64"};
  }
  out.resize(out.size() - pad);
  return out;
}

TsigFind find_tsig(const uint8_t* msg, size_t len, TsigRecord* out) {
  if (len < kHeaderLen) {
    return TsigFind::kNone;
  }
  const uint16_t qd = get16(msg + 4), an = get16(msg + 6), ns = get16(msg + 8),
                 ar = get16(msg + 10);
  if (ar == 0) {
    return TsigFind::kNone;
  }
  WireReader r(msg, len, kHeaderLen);
  for (uint16_t i = 0; i < qd; ++i) {
    if (!r.skip_name()) {
      return TsigFind::kNone;  // not ours to judge: the caller's parser answers FORMERR
    }
    r.skip(4);
  }
  const uint32_t before_last = uint32_t{an} + ns + ar - 1;
  for (uint32_t i = 0; i < before_last; ++i) {
    if (!r.skip_name()) {
      return TsigFind::kNone;
    }
    uint16_t type = r.u16();
    r.skip(6);
    r.skip(r.u16());
    if (!r.ok()) {
      return TsigFind::kNone;
    }
    if (type == rrtype::TSIG) {
      return TsigFind::kMalformed;  // RFC 8945 5.1: only as the last record
    }
  }
  TsigRecord t;
  t.start = r.pos();
  t.key = Name::from_wire(r);
  uint16_t type = r.u16();
  uint16_t cls = r.u16();
  r.skip(4);  // TTL
  uint16_t rdlen = r.u16();
  if (!r.ok() || type != rrtype::TSIG) {
    return TsigFind::kNone;
  }
  if (cls != rrclass::ANY || r.remaining() != rdlen) {
    return TsigFind::kMalformed;
  }
  t.algorithm = Name::from_wire(r);
  uint64_t hi = r.u16();
  t.time_signed = hi << 32 | r.u32();
  t.fudge = r.u16();
  uint16_t mac_len = r.u16();
  const uint8_t* mac = r.bytes(mac_len);
  t.original_id = r.u16();
  t.error = r.u16();
  uint16_t other_len = r.u16();
  const uint8_t* other = r.bytes(other_len);
  if (!r.ok() || r.remaining() != 0) {
    return TsigFind::kMalformed;
  }
  t.mac.assign(mac, mac + mac_len);
  t.other.assign(other, other + other_len);
  if (out != nullptr) {
    *out = std::move(t);
  }
  return TsigFind::kFound;
}

std::string_view tsig_status_text(TsigStatus s) {
  switch (s) {
    case TsigStatus::kOk:
      return "ok";
    case TsigStatus::kFormErr:
      return "FORMERR (malformed TSIG record)";
    case TsigStatus::kBadKey:
      return "BADKEY (unknown key, or not the key's algorithm)";
    case TsigStatus::kBadSig:
      return "BADSIG (the MAC does not verify: wrong secret?)";
    case TsigStatus::kBadTime:
      return "BADTIME (signed outside the fudge of our clock)";
    case TsigStatus::kBadTrunc:
      return "BADTRUNC (truncated MAC; only full-length MACs are accepted)";
    case TsigStatus::kUnsigned:
      return "unsigned response to a signed request";
    case TsigStatus::kPeerError:
      return "the peer answered with a TSIG error";
  }
  return "?";
}

uint16_t tsig_status_error(TsigStatus s) {
  switch (s) {
    case TsigStatus::kBadKey:
      return tsigerr::BADKEY;
    case TsigStatus::kBadSig:
      return tsigerr::BADSIG;
    case TsigStatus::kBadTime:
      return tsigerr::BADTIME;
    case TsigStatus::kBadTrunc:
      return tsigerr::BADTRUNC;
    default:
      return 0;
  }
}

TsigRequest tsig_verify_request(const TsigKeyring& keys, const uint8_t* msg, size_t len,
                                uint64_t now) {
  TsigRequest out;
  if (find_tsig(msg, len, &out.record) != TsigFind::kFound) {
    out.status = TsigStatus::kFormErr;
    return out;
  }
  const TsigRecord& r = out.record;
  // 5.2.1: the key, and the algorithm it is configured with.
  const TsigKey* key = keys.find(r.key);
  auto alg = tsig_algorithm_from_text(r.algorithm.to_text());
  if (key == nullptr || !alg || *alg != key->algorithm) {
    out.status = TsigStatus::kBadKey;
    return out;
  }
  out.key = key;
  // 5.2.2.1: a MAC longer than the hash, or shorter than max(10, half of it), is malformed.
  const size_t full = tsig_mac_size(key->algorithm);
  if (r.mac.size() > full || r.mac.size() < std::max<size_t>(10, full / 2)) {
    out.status = TsigStatus::kFormErr;
    return out;
  }
  // 5.2.2: the MAC over the message as it was before the record was added.
  auto want = compute(*key, nullptr, true, msg, r.start, r.original_id,
                      static_cast<uint16_t>(get16(msg + 10) - 1), r);
  if (!mac_equal(r.mac, want)) {
    out.status = TsigStatus::kBadSig;
    return out;
  }
  if (r.mac.size() < full) {
    out.status = TsigStatus::kBadTrunc;
    return out;
  }
  // 5.2.3: the time, after the MAC (a forged time must not earn a signed BADTIME).
  if (now > r.time_signed + r.fudge || r.time_signed > now + r.fudge) {
    out.status = TsigStatus::kBadTime;
    return out;
  }
  out.status = TsigStatus::kOk;
  return out;
}

TsigSigner::TsigSigner(const TsigKey& key, std::span<const uint8_t> request_mac, bool response)
    : key_(key), prior_mac_(request_mac.begin(), request_mac.end()), response_(response) {}

size_t TsigSigner::record_size(const TsigKey& key) {
  // owner + type, class, ttl, rdlength + algorithm + time, fudge, mac size + MAC + original
  // id, error, other len + 6 octets of other data (BADTIME)
  return key.name.size() + 10 + algorithm_name(key.algorithm).size() + 10 +
         tsig_mac_size(key.algorithm) + 6 + 6;
}

size_t TsigSigner::sign(uint8_t* buf, size_t len, size_t cap, uint64_t time_signed, uint16_t error,
                        std::optional<uint64_t> other_time) {
  if (len < kHeaderLen) {
    return 0;
  }
  TsigRecord r;
  r.algorithm = algorithm_name(key_.algorithm);
  r.time_signed = time_signed;
  r.fudge = kFudge;
  r.error = error;
  if (other_time) {
    r.other = time48(*other_time);
  }
  const uint16_t id = get16(buf);
  const bool with_prior = response_ || !first_;
  auto mac =
      compute(key_, with_prior ? &prior_mac_ : nullptr, first_, buf, len, id, get16(buf + 10), r);
  if (mac.empty()) {
    return 0;
  }
  size_t n = append_record(buf, len, cap, key_.name, r.algorithm, r.time_signed, r.fudge, mac, id,
                           r.error, r.other);
  if (n != 0) {
    prior_mac_ = std::move(mac);
    first_ = false;
  }
  return n;
}

size_t tsig_append_unsigned(uint8_t* buf, size_t len, size_t cap, const TsigRecord& request,
                            uint64_t now, uint16_t error) {
  if (len < kHeaderLen) {
    return 0;
  }
  return append_record(buf, len, cap, request.key, request.algorithm, now, kFudge, {}, get16(buf),
                       error, {});
}

TsigVerifier::TsigVerifier(const TsigKey& key, std::vector<uint8_t> request_mac)
    : key_(key), prior_mac_(std::move(request_mac)) {}

TsigStatus TsigVerifier::verify(const uint8_t* msg, size_t len, uint64_t now) {
  rec_ = TsigRecord{};
  TsigFind f = find_tsig(msg, len, &rec_);
  if (f == TsigFind::kNone) {
    return TsigStatus::kUnsigned;
  }
  if (f == TsigFind::kMalformed) {
    return TsigStatus::kFormErr;
  }
  if (rec_.error != 0 && rec_.mac.empty()) {
    return TsigStatus::kPeerError;  // BADKEY / BADSIG come unsigned
  }
  auto alg = tsig_algorithm_from_text(rec_.algorithm.to_text());
  if (!(rec_.key == key_.name) || !alg || *alg != key_.algorithm) {
    return TsigStatus::kBadKey;
  }
  if (rec_.mac.size() != tsig_mac_size(key_.algorithm)) {
    return rec_.mac.size() < tsig_mac_size(key_.algorithm) ? TsigStatus::kBadTrunc
                                                           : TsigStatus::kFormErr;
  }
  auto want = compute(key_, &prior_mac_, first_, msg, rec_.start, rec_.original_id,
                      static_cast<uint16_t>(get16(msg + 10) - 1), rec_);
  if (!mac_equal(rec_.mac, want)) {
    return TsigStatus::kBadSig;
  }
  prior_mac_ = rec_.mac;
  first_ = false;
  if (rec_.error != 0) {
    return TsigStatus::kPeerError;  // a signed BADTIME / BADTRUNC
  }
  if (now > rec_.time_signed + rec_.fudge || rec_.time_signed > now + rec_.fudge) {
    return TsigStatus::kBadTime;
  }
  return TsigStatus::kOk;
}

}  // namespace steerdns::dns
