#include "dns/tsig.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <string>
#include <vector>

#include "dns/message.h"
#include "dns/name.h"
#include "dns/rrtype.h"
#include "dns/wire.h"

namespace steerdns::dns {
namespace {

using Bytes = std::vector<uint8_t>;

Bytes hex(const std::string& h) {
  Bytes out;
  for (size_t i = 0; i + 1 < h.size(); i += 2) {
    out.push_back(static_cast<uint8_t>(std::stoi(h.substr(i, 2), nullptr, 16)));
  }
  return out;
}

Name N(const std::string& s) { return *Name::from_text(s); }

// "steerdns tsig test key 32 bytes!"
constexpr const char* kSecret = "c3RlZXJkbnMgdHNpZyB0ZXN0IGtleSAzMiBieXRlcyE=";
constexpr uint64_t kT = 1764172800;  // the clock the vectors were made at

TsigKey key(TsigAlgorithm alg = TsigAlgorithm::kHmacSha256, const char* secret = kSecret,
            const std::string& name = "xfr-key.") {
  return TsigKey{N(name), alg, *decode_base64(secret)};
}

TsigKeyring ring(const TsigKey& k) {
  TsigKeyring r;
  EXPECT_TRUE(r.add(k).ok());
  return r;
}

// Made by dnspython 2.3 (independent of this code), with time.time() fixed at kT:
//   q = dns.message.make_query("example.test.", "SOA"); q.id = 0x4242
//   q.use_tsig({xfr-key.: Key("xfr-key.", kSecret, ALG)}, "xfr-key.", algorithm=ALG)
//   r = dns.message.make_response(from_wire(q)); r.answer += example.test. 3600 A 192.0.2.1
struct Vector {
  TsigAlgorithm alg;
  const char* query;
  const char* response;
  const char* query_mac;
};
const Vector kVectors[] = {
    {TsigAlgorithm::kHmacSha256,
     "424201000001000000000001076578616d706c6504746573740000060001077866722d6b65790000fa00ff0000"
     "0000003d0b686d61632d73686132353600000069272400012c0020d647cb19314f6db7c63be26331e53166f5"
     "1954f3e08a71e3b48ee6af55809904424200000000",
     "424281000001000100000001076578616d706c6504746573740000060001c00c0001000100000e100004c000"
     "0201077866722d6b65790000fa00ff00000000003d0b686d61632d73686132353600000069272400012c0020"
     "aee271bf65b160b9a0920b7891b4b6a20ffe3af9fbac1cef22f9ea7af2eb9dd8424200000000",
     "d647cb19314f6db7c63be26331e53166f51954f3e08a71e3b48ee6af55809904"},
    {TsigAlgorithm::kHmacSha1,
     "424201000001000000000001076578616d706c6504746573740000060001077866722d6b65790000fa00ff0000"
     "0000002f09686d61632d7368613100000069272400012c00141b7704733b99a5c0b2c207573845a18f9ed58e"
     "19424200000000",
     "424281000001000100000001076578616d706c6504746573740000060001c00c0001000100000e100004c000"
     "0201077866722d6b65790000fa00ff00000000002f09686d61632d7368613100000069272400012c0014062d"
     "534afd2d06c61d43745ca48d26be3db43d39424200000000",
     "1b7704733b99a5c0b2c207573845a18f9ed58e19"},
    {TsigAlgorithm::kHmacSha512,
     "424201000001000000000001076578616d706c6504746573740000060001077866722d6b65790000fa00ff0000"
     "0000005d0b686d61632d73686135313200000069272400012c0040c7f31fdb41c5fe9039b15cd05e4813d6e5"
     "2450963eb38366709743935a0be8356bebf3d0d23d5bf214ece6292f1e580e5523b57e427e010a22344bbb72"
     "768952424200000000",
     "424281000001000100000001076578616d706c6504746573740000060001c00c0001000100000e100004c000"
     "0201077866722d6b65790000fa00ff00000000005d0b686d61632d73686135313200000069272400012c0040"
     "f07a8660927a64e664ed11e56b6ea3270b63583658d1bdbcdf8a62bfb754123a374ca62c7791d51c64919abf"
     "0bb0b1bd8c3c8860a80492c081431326cba39c5f424200000000",
     "c7f31fdb41c5fe9039b15cd05e4813d6e52450963eb38366709743935a0be8356bebf3d0d23d5bf214ece629"
     "2f1e580e5523b57e427e010a22344bbb72768952"},
};

// The message without its TSIG record (ARCOUNT lowered): what a signer starts from.
Bytes strip(const Bytes& m) {
  TsigRecord r;
  EXPECT_EQ(find_tsig(m.data(), m.size(), &r), TsigFind::kFound);
  Bytes out(m.begin(), m.begin() + static_cast<std::ptrdiff_t>(r.start));
  out[11] = static_cast<uint8_t>(out[11] - 1);
  return out;
}

Bytes sign(TsigSigner& s, Bytes m, uint64_t t, uint16_t error = 0,
           std::optional<uint64_t> other = std::nullopt) {
  size_t len = m.size();
  m.resize(len + 512);
  size_t n = s.sign(m.data(), len, m.size(), t, error, other);
  EXPECT_NE(n, 0u);
  m.resize(n);
  return m;
}

// A query for example.test./SOA (id 0x1234), unsigned.
Bytes query() {
  Bytes b(512);
  WireWriter w(b.data(), b.size());
  w.u16(0x1234);
  w.u16(0);
  w.u16(1);
  w.u16(0);
  w.u16(0);
  w.u16(0);
  Name n = N("example.test.");
  w.bytes(n.data(), n.size());
  w.u16(rrtype::SOA);
  w.u16(rrclass::IN);
  b.resize(w.pos());
  return b;
}

// A response message of `records` TXT records (id 0x1234): one message of a transfer.
Bytes response(int records, uint8_t tag) {
  Bytes b(4096);
  WireWriter w(b.data(), b.size());
  w.u16(0x1234);
  w.u16(flag::QR | flag::AA);
  w.u16(0);
  w.u16(static_cast<uint16_t>(records));
  w.u16(0);
  w.u16(0);
  Name n = N("example.test.");
  for (int i = 0; i < records; ++i) {
    w.bytes(n.data(), n.size());
    w.u16(rrtype::TXT);
    w.u16(rrclass::IN);
    w.u32(60);
    w.u16(2);
    w.u8(1);
    w.u8(static_cast<uint8_t>(tag + i));
  }
  b.resize(w.pos());
  return b;
}

TEST(Base64, DecodesWithAndWithoutPadding) {
  EXPECT_EQ(*decode_base64("YQ=="), Bytes({'a'}));
  EXPECT_EQ(*decode_base64("YWI="), Bytes({'a', 'b'}));
  EXPECT_EQ(*decode_base64("YWJj"), Bytes({'a', 'b', 'c'}));
  EXPECT_EQ(*decode_base64("YWJj\n ZA==\n"), Bytes({'a', 'b', 'c', 'd'}));
  EXPECT_EQ(decode_base64(kSecret)->size(), 32u);
}

TEST(Base64, RejectsBadInputWithoutEchoingIt) {
  for (const char* bad : {"", "YQ=", "Y=Q=", "YQ==YQ==", "@@@@", "YW=j", "YQ==="}) {
    auto r = decode_base64(bad);
    ASSERT_FALSE(r.ok()) << bad;
    if (std::string(bad).size() > 2) {
      EXPECT_EQ(r.error().find(bad), std::string::npos) << r.error();
    }
  }
}

TEST(TsigAlgorithm, NamesAsBindAndNsdWriteThem) {
  EXPECT_EQ(tsig_algorithm_from_text("hmac-sha256"), TsigAlgorithm::kHmacSha256);
  EXPECT_EQ(tsig_algorithm_from_text("HMAC-SHA512."), TsigAlgorithm::kHmacSha512);
  EXPECT_EQ(tsig_algorithm_from_text("hmac-sha1"), TsigAlgorithm::kHmacSha1);
  EXPECT_EQ(tsig_algorithm_from_text("hmac-sha224"), TsigAlgorithm::kHmacSha224);
  EXPECT_EQ(tsig_algorithm_from_text("hmac-sha384"), TsigAlgorithm::kHmacSha384);
  EXPECT_FALSE(tsig_algorithm_from_text("hmac-md5"));
  EXPECT_FALSE(tsig_algorithm_from_text("sha256"));
  EXPECT_EQ(tsig_mac_size(TsigAlgorithm::kHmacSha384), 48u);
}

TEST(TsigKeyring, FindsCaseInsensitivelyAndRefusesDuplicates) {
  TsigKeyring r;
  ASSERT_TRUE(r.add(key(TsigAlgorithm::kHmacSha256, kSecret, "Xfr-Key.")).ok());
  EXPECT_FALSE(r.add(key(TsigAlgorithm::kHmacSha1, kSecret, "XFR-key.")).ok());
  ASSERT_NE(r.find(N("xfr-KEY.")), nullptr);
  EXPECT_EQ(r.find(N("xfr-key."))->name.to_text(), "xfr-key.");
  EXPECT_EQ(r.find(N("other.")), nullptr);
}

TEST(Tsig, VerifiesRequestsSignedByDnspython) {
  for (const auto& v : kVectors) {
    SCOPED_TRACE(std::string(tsig_algorithm_text(v.alg)));
    Bytes q = hex(v.query);
    TsigKeyring keys = ring(key(v.alg));
    auto r = tsig_verify_request(keys, q.data(), q.size(), kT);
    EXPECT_EQ(r.status, TsigStatus::kOk) << tsig_status_text(r.status);
    EXPECT_EQ(r.record.mac, hex(v.query_mac));
    EXPECT_EQ(r.record.original_id, 0x4242);
    // Within the fudge (300 s) either way, and not beyond.
    EXPECT_EQ(tsig_verify_request(keys, q.data(), q.size(), kT + 300).status, TsigStatus::kOk);
    EXPECT_EQ(tsig_verify_request(keys, q.data(), q.size(), kT - 300).status, TsigStatus::kOk);
    EXPECT_EQ(tsig_verify_request(keys, q.data(), q.size(), kT + 301).status, TsigStatus::kBadTime);
    EXPECT_EQ(tsig_verify_request(keys, q.data(), q.size(), kT - 301).status, TsigStatus::kBadTime);
    // The query also parses as one, with the record found where it is.
    Query pq;
    ASSERT_EQ(parse_query(q.data(), q.size(), pq), ParseResult::kOk);
    EXPECT_EQ(pq.tsig_off, r.record.start);
  }
}

TEST(Tsig, BadSigForAnyFlippedByte) {
  Bytes q = hex(kVectors[0].query);
  TsigKeyring keys = ring(key());
  TsigRecord rec;
  ASSERT_EQ(find_tsig(q.data(), q.size(), &rec), TsigFind::kFound);
  // No octet can change unnoticed (but the id: the original id counts). Octets that keep the
  // message's framing (flags, letters of the question, its type and class, the MAC and every
  // TSIG field after the names) give BADSIG; counts and label lengths break the framing:
  // FORMERR or BADKEY (the key name no longer reads the same).
  size_t mac_at = q.size() - 6 - rec.mac.size();
  const std::vector<size_t> lengths = {12, 20, 25, rec.start, rec.start + 18};
  for (size_t i = 2; i < q.size(); ++i) {
    Bytes b = q;
    b[i] ^= 0x01;  // (not 0x20: names compare without case, so a case change is no change)
    auto r = tsig_verify_request(keys, b.data(), b.size(), kT);
    const size_t ttl_at = rec.start + 9 + 4;  // the TSIG record's TTL: not in the digest
    if (i < ttl_at || i >= ttl_at + 4) {
      EXPECT_NE(r.status, TsigStatus::kOk) << "octet " << i;
    }
    bool framing = i < 12 || std::count(lengths.begin(), lengths.end(), i) > 0 ||
                   (i >= rec.start && i < rec.start + 9 + 10 + 13 + 10) || i + 2 >= q.size();
    if (!framing) {
      EXPECT_EQ(r.status, TsigStatus::kBadSig) << "octet " << i;
    }
    if (i == 2 || i == 3 || (i >= mac_at && i < mac_at + rec.mac.size())) {
      EXPECT_EQ(r.status, TsigStatus::kBadSig) << "octet " << i;
    }
  }
  // The id may change (a forwarder): the original id is what counts.
  Bytes b = q;
  b[0] ^= 1;
  EXPECT_EQ(tsig_verify_request(keys, b.data(), b.size(), kT).status, TsigStatus::kOk);
  // The original id may not.
  b = q;
  b[b.size() - 6] ^= 1;
  EXPECT_EQ(tsig_verify_request(keys, b.data(), b.size(), kT).status, TsigStatus::kBadSig);
  // The right name, the wrong secret.
  TsigKeyring wrong = ring(key(TsigAlgorithm::kHmacSha256, "d3Jvbmcgc2VjcmV0"));
  EXPECT_EQ(tsig_verify_request(wrong, q.data(), q.size(), kT).status, TsigStatus::kBadSig);
}

TEST(Tsig, BadKeyForAnUnknownNameOrAnotherAlgorithm) {
  Bytes q = hex(kVectors[0].query);
  TsigKeyring other = ring(key(TsigAlgorithm::kHmacSha256, kSecret, "other-key."));
  auto r = tsig_verify_request(other, q.data(), q.size(), kT);
  EXPECT_EQ(r.status, TsigStatus::kBadKey);
  EXPECT_EQ(r.key, nullptr);
  EXPECT_EQ(r.record.key.to_text(), "xfr-key.");
  TsigKeyring sha1 = ring(key(TsigAlgorithm::kHmacSha1));
  EXPECT_EQ(tsig_verify_request(sha1, q.data(), q.size(), kT).status, TsigStatus::kBadKey);
  EXPECT_EQ(tsig_verify_request(TsigKeyring(), q.data(), q.size(), kT).status, TsigStatus::kBadKey);
  EXPECT_EQ(tsig_status_error(TsigStatus::kBadKey), 17);
  EXPECT_EQ(tsig_status_error(TsigStatus::kBadSig), 16);
  EXPECT_EQ(tsig_status_error(TsigStatus::kBadTime), 18);
}

TEST(Tsig, SignsByteForByteAsDnspython) {
  for (const auto& v : kVectors) {
    SCOPED_TRACE(std::string(tsig_algorithm_text(v.alg)));
    TsigKey k = key(v.alg);
    Bytes q = hex(v.query);
    TsigSigner req(k, {}, /*response=*/false);
    EXPECT_EQ(sign(req, strip(q), kT), q);
    EXPECT_EQ(req.mac(), hex(v.query_mac));
    Bytes r = hex(v.response);
    Bytes mac = hex(v.query_mac);
    TsigSigner resp(k, mac, /*response=*/true);
    EXPECT_EQ(sign(resp, strip(r), kT), r);
  }
}

TEST(Tsig, VerifiesResponsesSignedByDnspython) {
  for (const auto& v : kVectors) {
    SCOPED_TRACE(std::string(tsig_algorithm_text(v.alg)));
    TsigKey k = key(v.alg);
    Bytes r = hex(v.response);
    EXPECT_EQ(TsigVerifier(k, hex(v.query_mac)).verify(r.data(), r.size(), kT), TsigStatus::kOk);
    // Bound to the request: another request MAC does not verify it.
    Bytes other = hex(v.query_mac);
    other[0] ^= 1;
    EXPECT_EQ(TsigVerifier(k, other).verify(r.data(), r.size(), kT), TsigStatus::kBadSig);
    Bytes flipped = r;
    flipped[15] ^= 0x20;  // a letter of the question name
    EXPECT_EQ(TsigVerifier(k, hex(v.query_mac)).verify(flipped.data(), flipped.size(), kT),
              TsigStatus::kBadSig);
    Bytes unsigned_r = strip(r);
    EXPECT_EQ(TsigVerifier(k, hex(v.query_mac)).verify(unsigned_r.data(), unsigned_r.size(), kT),
              TsigStatus::kUnsigned);
    EXPECT_EQ(TsigVerifier(k, hex(v.query_mac)).verify(r.data(), r.size(), kT + 301),
              TsigStatus::kBadTime);
  }
}

TEST(Tsig, RoundTripForEachAlgorithm) {
  for (auto alg : {TsigAlgorithm::kHmacSha1, TsigAlgorithm::kHmacSha224, TsigAlgorithm::kHmacSha256,
                   TsigAlgorithm::kHmacSha384, TsigAlgorithm::kHmacSha512}) {
    SCOPED_TRACE(std::string(tsig_algorithm_text(alg)));
    TsigKey k = key(alg);
    TsigSigner req(k, {}, false);
    Bytes q = sign(req, query(), kT);
    EXPECT_EQ(q.size(), query().size() + TsigSigner::record_size(k) - 6);  // no other data
    TsigKeyring keys = ring(k);
    auto v = tsig_verify_request(keys, q.data(), q.size(), kT + 5);
    ASSERT_EQ(v.status, TsigStatus::kOk) << tsig_status_text(v.status);
    EXPECT_EQ(v.record.mac.size(), tsig_mac_size(alg));
    TsigSigner resp(*v.key, v.record.mac, true);
    Bytes r = sign(resp, response(3, 'a'), kT + 5);
    EXPECT_EQ(TsigVerifier(k, req.mac()).verify(r.data(), r.size(), kT + 6), TsigStatus::kOk);
  }
}

TEST(Tsig, MultiMessageChainEveryMessageSigned) {
  TsigKey k = key();
  TsigSigner req(k, {}, false);
  Bytes q = sign(req, query(), kT);
  TsigSigner s(k, req.mac(), true);
  Bytes m1 = sign(s, response(3, 'a'), kT);
  Bytes mac1 = s.mac();
  Bytes m2 = sign(s, response(2, 'x'), kT + 1);
  Bytes mac2 = s.mac();
  Bytes m3 = sign(s, response(1, 'z'), kT + 2);

  // In order: every message verifies.
  TsigVerifier v(k, req.mac());
  EXPECT_EQ(v.verify(m1.data(), m1.size(), kT), TsigStatus::kOk);
  EXPECT_EQ(v.verify(m2.data(), m2.size(), kT), TsigStatus::kOk);
  EXPECT_EQ(v.verify(m3.data(), m3.size(), kT), TsigStatus::kOk);
  // Out of order or alone, a later message does not: it is chained to the one before.
  TsigVerifier skip(k, req.mac());
  EXPECT_EQ(skip.verify(m1.data(), m1.size(), kT), TsigStatus::kOk);
  EXPECT_EQ(skip.verify(m3.data(), m3.size(), kT), TsigStatus::kBadSig);
  EXPECT_EQ(TsigVerifier(k, req.mac()).verify(m2.data(), m2.size(), kT), TsigStatus::kBadSig);

  // Independently: the second message's MAC is HMAC(prior MAC size, prior MAC, message,
  // time signed, fudge) over bytes assembled here by hand (RFC 8945 5.3.1).
  Bytes input = {static_cast<uint8_t>(mac1.size() >> 8), static_cast<uint8_t>(mac1.size())};
  input.insert(input.end(), mac1.begin(), mac1.end());
  Bytes body = response(2, 'x');
  input.insert(input.end(), body.begin(), body.end());
  const uint64_t t = kT + 1;
  for (int i = 5; i >= 0; --i) {
    input.push_back(static_cast<uint8_t>(t >> (8 * i)));
  }
  input.push_back(300 >> 8);
  input.push_back(300 & 0xFF);
  uint8_t want[EVP_MAX_MD_SIZE];
  unsigned int want_len = 0;
  HMAC(EVP_sha256(), k.secret.data(), static_cast<int>(k.secret.size()), input.data(), input.size(),
       want, &want_len);
  EXPECT_EQ(mac2, Bytes(want, want + want_len));
  // And the first: request MAC, message, then every variable (RFC 8945 4.3.3).
  Bytes in1 = {0, 32};
  in1.insert(in1.end(), req.mac().begin(), req.mac().end());
  Bytes b1 = response(3, 'a');
  in1.insert(in1.end(), b1.begin(), b1.end());
  Name kn = N("xfr-key."), an = N("hmac-sha256.");
  in1.insert(in1.end(), kn.data(), kn.data() + kn.size());
  for (uint8_t o : {0, 255, 0, 0, 0, 0}) {
    in1.push_back(o);  // class ANY, TTL 0
  }
  in1.insert(in1.end(), an.data(), an.data() + an.size());
  for (int i = 5; i >= 0; --i) {
    in1.push_back(static_cast<uint8_t>(kT >> (8 * i)));
  }
  for (uint8_t o : {1, 44, 0, 0, 0, 0}) {
    in1.push_back(o);  // fudge 300, error 0, other len 0
  }
  HMAC(EVP_sha256(), k.secret.data(), static_cast<int>(k.secret.size()), in1.data(), in1.size(),
       want, &want_len);
  EXPECT_EQ(mac1, Bytes(want, want + want_len));
}

// Rewrites the MAC of a signed message to its first `n` octets.
Bytes truncate_mac(const Bytes& m, size_t n) {
  TsigRecord r;
  EXPECT_EQ(find_tsig(m.data(), m.size(), &r), TsigFind::kFound);
  size_t mac_at = m.size() - 6 - r.mac.size();
  Bytes out(m.begin(), m.begin() + static_cast<std::ptrdiff_t>(mac_at - 2));
  out.push_back(static_cast<uint8_t>(n >> 8));
  out.push_back(static_cast<uint8_t>(n));
  out.insert(out.end(), r.mac.begin(), r.mac.begin() + static_cast<std::ptrdiff_t>(n));
  out.insert(out.end(), m.end() - 6, m.end());
  // RDLENGTH sits right before the algorithm name.
  Name owner = r.key;
  size_t rdlen_at = r.start + owner.size() + 8;
  uint16_t rdlen = static_cast<uint16_t>(get16(out.data() + rdlen_at) - (r.mac.size() - n));
  out[rdlen_at] = static_cast<uint8_t>(rdlen >> 8);
  out[rdlen_at + 1] = static_cast<uint8_t>(rdlen);
  return out;
}

TEST(Tsig, TruncatedMacsAreRejected) {
  TsigKey k = key();
  TsigKeyring keys = ring(k);
  TsigSigner req(k, {}, false);
  Bytes q = sign(req, query(), kT);
  // 16 of 32 octets, correct: RFC 8945 allows it, our policy does not -> BADTRUNC.
  Bytes t16 = truncate_mac(q, 16);
  EXPECT_EQ(tsig_verify_request(keys, t16.data(), t16.size(), kT).status, TsigStatus::kBadTrunc);
  // Wrong octets in a truncated MAC: BADSIG first.
  Bytes bad = t16;
  bad[bad.size() - 7] ^= 1;
  EXPECT_EQ(tsig_verify_request(keys, bad.data(), bad.size(), kT).status, TsigStatus::kBadSig);
  // Below max(10, half the hash): malformed.
  Bytes t8 = truncate_mac(q, 8);
  EXPECT_EQ(tsig_verify_request(keys, t8.data(), t8.size(), kT).status, TsigStatus::kFormErr);
}

TEST(Tsig, RecordOnlyLastAndWellFormed) {
  TsigKey k = key();
  TsigSigner req(k, {}, false);
  Bytes q = sign(req, query(), kT);
  // An OPT record after the TSIG: the TSIG is no longer last.
  Bytes after = q;
  for (uint8_t o : {0, 0, 41, 4, 208, 0, 0, 0, 0, 0, 0}) {
    after.push_back(o);
  }
  after[11] = 2;
  EXPECT_EQ(find_tsig(after.data(), after.size(), nullptr), TsigFind::kMalformed);
  Query pq;
  EXPECT_EQ(parse_query(after.data(), after.size(), pq), ParseResult::kFormErr);
  // Trailing octets after the record.
  Bytes trailing = q;
  trailing.push_back(0);
  EXPECT_EQ(find_tsig(trailing.data(), trailing.size(), nullptr), TsigFind::kMalformed);
  // Not signed at all.
  Bytes plain = query();
  EXPECT_EQ(find_tsig(plain.data(), plain.size(), nullptr), TsigFind::kNone);
  ASSERT_EQ(parse_query(plain.data(), plain.size(), pq), ParseResult::kOk);
  EXPECT_EQ(pq.tsig_off, 0u);
}

TEST(Tsig, ErrorAnswers) {
  TsigKey k = key();
  TsigSigner req(k, {}, false);
  Bytes q = sign(req, query(), kT);
  TsigRecord rec;
  ASSERT_EQ(find_tsig(q.data(), q.size(), &rec), TsigFind::kFound);
  // BADSIG / BADKEY: unsigned, MAC size 0, the request's names.
  Bytes r = response(0, 0);
  size_t len = r.size();
  r.resize(len + 256);
  size_t n = tsig_append_unsigned(r.data(), len, r.size(), rec, kT + 1, tsigerr::BADSIG);
  ASSERT_NE(n, 0u);
  r.resize(n);
  TsigRecord got;
  ASSERT_EQ(find_tsig(r.data(), r.size(), &got), TsigFind::kFound);
  EXPECT_TRUE(got.mac.empty());
  EXPECT_EQ(got.error, tsigerr::BADSIG);
  EXPECT_EQ(got.key.to_text(), "xfr-key.");
  TsigVerifier v(k, req.mac());
  EXPECT_EQ(v.verify(r.data(), r.size(), kT), TsigStatus::kPeerError);
  EXPECT_EQ(v.record().error, tsigerr::BADSIG);
  // BADTIME: signed, with the request's time and our clock as other data (RFC 8945 5.2.3).
  TsigSigner s(k, rec.mac, true);
  Bytes bt = sign(s, response(0, 0), rec.time_signed, tsigerr::BADTIME, kT + 1000);
  TsigVerifier v2(k, req.mac());
  EXPECT_EQ(v2.verify(bt.data(), bt.size(), kT), TsigStatus::kPeerError);
  EXPECT_EQ(v2.record().error, tsigerr::BADTIME);
  EXPECT_EQ(v2.record().other, hex("0000692727e8"));
}

}  // namespace
}  // namespace steerdns::dns
