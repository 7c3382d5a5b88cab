#pragma once
// Row builders for store tests, and the shared TempDir.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

#include "store/store.h"
#include "testlib/temp_dir.h"

namespace steerdns::store::testing {

using ::steerdns::testing::TempDir;

// "C7": built by append, not "C" + std::to_string(7), which trips GCC 12's -Wrestrict at -O3.
inline std::string numbered(const char* prefix, int64_t n) {
  std::string s(prefix);
  s.append(std::to_string(n));
  return s;
}

inline ZoneRow zone_row(const std::string& id, const std::string& name) {
  ZoneRow z;
  z.id = id;
  z.name = name;
  z.caller_ref = "ref-" + id;
  z.comment = "zone " + name;
  z.settings = {{"ttl", 300}, {"ns", {"ns1." + name}}};
  z.created_ms = 1700000000000;
  return z;
}

inline Op put_zone(const ZoneRow& z) {
  Op op;
  op.kind = "zone";
  op.key = z.id;
  op.zone = z;
  return op;
}

inline Op put_record(const std::string& zone_id, const std::string& key,
                     const nlohmann::json& body) {
  Op op;
  op.kind = "record";
  op.key = key;
  op.zone_id = zone_id;
  op.record = RecordRow{zone_id, key, body};
  return op;
}

inline Op del(const std::string& kind, const std::string& key, const std::string& zone_id = "") {
  Op op;
  op.kind = kind;
  op.key = key;
  op.zone_id = zone_id;
  op.del = true;
  return op;
}

inline Op put_check(const std::string& id, int64_t version, const nlohmann::json& body) {
  Op op;
  op.kind = "check";
  op.key = id;
  op.check = CheckRow{id, "cref-" + id, version, body};
  return op;
}

inline Op put_settings(const nlohmann::json& s) {
  Op op;
  op.kind = "settings";
  op.settings = s;
  return op;
}

inline ChangeRow change_row(const std::string& id, const std::string& comment = "") {
  ChangeRow ch;
  ch.id = id;
  ch.author = "test";
  ch.comment = comment;
  ch.submitted_ms = 1700000000123;
  ch.changes = nlohmann::json::array({{{"action", "UPSERT"}, {"key", comment}}});
  return ch;
}

}  // namespace steerdns::store::testing
