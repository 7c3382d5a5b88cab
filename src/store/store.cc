// open_store (the spec string) and make_id. The backends are in sqlite_store.cc and etcd/.
#include "store/store.h"

#include <openssl/rand.h>

#include <random>
#include <string_view>

#include "store/etcd/etcd_store.h"
#include "store/sqlite_store.h"

namespace steerdns::store {

Result<std::unique_ptr<Store>> open_store(const std::string& spec, const OpenOptions& opts) {
  constexpr std::string_view kSqlite = "sqlite:";
  constexpr std::string_view kEtcd = "etcd:";
  constexpr const char* kKinds =
      "(expected sqlite:PATH, sqlite::memory: or etcd:http://HOST:PORT[,...])";
  // "etcd://host:port" looks like a URL but is not a spec: the endpoints are full URLs.
  if (spec.rfind(kEtcd, 0) == 0 && spec.rfind("etcd://", 0) != 0) {
    auto o = etcd::parse_spec(spec);
    if (!o.ok()) {
      return Error{o.error()};
    }
    if (opts.node_id.empty()) {
      return Error{"store '" + spec + "': etcd store needs --node-id"};
    }
    auto s = EtcdStore::open(*o, opts.node_id);
    if (!s.ok()) {
      return Error{s.error()};
    }
    return std::unique_ptr<Store>(std::move(s).value());
  }
  if (spec.rfind(kSqlite, 0) != 0) {
    return Error{"store '" + spec + "': unknown kind " + kKinds};
  }
  std::string path = spec.substr(kSqlite.size());
  if (path.empty()) {
    return Error{"store '" + spec + "': missing path (expected sqlite:PATH or sqlite::memory:)"};
  }
  auto s = SqliteStore::open(path);
  if (!s.ok()) {
    return Error{s.error()};
  }
  return std::unique_ptr<Store>(std::move(s).value());
}

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
