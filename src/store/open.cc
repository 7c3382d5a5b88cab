// open_store: the spec string picks the backend.
#include <string_view>

#include "store/etcd/etcd_store.h"
#include "store/sqlite_store.h"
#include "store/store.h"

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
    EtcdStoreOptions so;
    so.allow_offline = opts.allow_offline;
    auto s = EtcdStore::open(*o, opts.node_id, so);
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

}  // namespace steerdns::store
