// What every user of the interface needs, backends aside (record_target, make_id): the config
// loader links this alone (sd_store_api). open_store is in open.cc, the backends in
// sqlite_store.cc and etcd/.
#include "store/store.h"

#include <openssl/rand.h>

#include <random>

namespace steerdns::store {

RecordTarget record_target(const Op& op) {
  RecordTarget t{op.zone_id, op.key, false};
  if (op.record) {
    if (t.zone_id.empty()) {
      t.zone_id = op.record->zone_id;
    }
    if (t.key.empty()) {
      t.key = op.record->key;
    }
    t.conflict = (!op.record->zone_id.empty() && op.record->zone_id != t.zone_id) ||
                 (!op.record->key.empty() && op.record->key != t.key);
  }
  return t;
}

std::string make_id(char prefix) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  constexpr int kLen = 20;
  constexpr unsigned kLimit = 252;  // largest multiple of 36 <= 256: no modulo bias
  std::string id(1, prefix);
  id.reserve(1 + kLen);
  unsigned char buf[32];
  while (id.size() < 1 + kLen) {
    if (RAND_bytes(buf, sizeof(buf)) != 1) {
      // The OpenSSL RNG failing is close to impossible; an id still has to be made.
      std::random_device rd;
      for (auto& b : buf) {
        b = static_cast<unsigned char>(rd());
      }
    }
    for (unsigned char b : buf) {
      if (b < kLimit && id.size() < 1 + kLen) {
        id.push_back(kAlphabet[b % 36]);
      }
    }
  }
  return id;
}

}  // namespace steerdns::store
