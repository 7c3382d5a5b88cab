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

nlohmann::json rows_to_json(const CatalogRows& rows) {
  nlohmann::json zones = nlohmann::json::array();
  for (const auto& z : rows.zones) {
    zones.push_back({{"id", z.id},
                     {"name", z.name},
                     {"caller_ref", z.caller_ref},
                     {"comment", z.comment},
                     {"settings", z.settings},
                     {"created_ms", z.created_ms}});
  }
  nlohmann::json records = nlohmann::json::array();
  for (const auto& r : rows.records) {
    records.push_back({{"zone_id", r.zone_id}, {"key", r.key}, {"body", r.body}});
  }
  nlohmann::json checks = nlohmann::json::array();
  for (const auto& c : rows.checks) {
    checks.push_back(
        {{"id", c.id}, {"caller_ref", c.caller_ref}, {"version", c.version}, {"body", c.body}});
  }
  return {{"revision", rows.revision},
          {"zones", std::move(zones)},
          {"records", std::move(records)},
          {"checks", std::move(checks)},
          {"settings", rows.settings}};
}

namespace {

Result<CatalogRows> parse_rows(const nlohmann::json& j) {
  using json = nlohmann::json;
  auto list = [&](const char* name) -> Result<const json*> {
    auto it = j.find(name);
    if (it == j.end() || !it->is_array()) {
      return Error{std::string("\"") + name + "\" is missing or not a list"};
    }
    return &*it;
  };
  auto text = [](const json& o, const char* key) -> Result<std::string> {
    auto it = o.find(key);
    if (it == o.end() || !it->is_string()) {
      return Error{std::string("\"") + key + "\" is missing or not a string"};
    }
    return it->get<std::string>();
  };
  if (!j.is_object() || !j.contains("revision") || !j["revision"].is_number_integer()) {
    return Error{"not a catalog (no integer \"revision\")"};
  }
  CatalogRows rows;
  rows.revision = j["revision"].get<int64_t>();
  auto zones = list("zones");
  auto records = list("records");
  auto checks = list("checks");
  for (const auto* l : {&zones, &records, &checks}) {
    if (!l->ok()) {
      return Error{l->error()};
    }
  }
  for (size_t i = 0; i < (*zones)->size(); ++i) {
    const json& z = (**zones)[i];
    auto id = text(z, "id");
    auto name = text(z, "name");
    if (!id.ok() || !name.ok()) {
      return Error{"zones[" + std::to_string(i) + "]: " + (id.ok() ? name : id).error()};
    }
    ZoneRow row;
    row.id = *id;
    row.name = *name;
    row.caller_ref = z.value("caller_ref", "");
    row.comment = z.value("comment", "");
    row.settings = z.value("settings", json::object());
    row.created_ms = z.value("created_ms", int64_t{0});
    rows.zones.push_back(std::move(row));
  }
  for (size_t i = 0; i < (*records)->size(); ++i) {
    const json& r = (**records)[i];
    auto zone = text(r, "zone_id");
    auto key = text(r, "key");
    if (!zone.ok() || !key.ok() || !r.contains("body")) {
      return Error{"records[" + std::to_string(i) + "]: " +
                   (!zone.ok()  ? zone.error()
                    : !key.ok() ? key.error()
                                : "no \"body\"")};
    }
    rows.records.push_back(RecordRow{*zone, *key, r["body"]});
  }
  for (size_t i = 0; i < (*checks)->size(); ++i) {
    const json& c = (**checks)[i];
    auto id = text(c, "id");
    if (!id.ok() || !c.contains("body")) {
      return Error{"checks[" + std::to_string(i) + "]: " + (id.ok() ? "no \"body\"" : id.error())};
    }
    rows.checks.push_back(
        CheckRow{*id, c.value("caller_ref", ""), c.value("version", int64_t{1}), c["body"]});
  }
  rows.settings = j.value("settings", json::object());
  return rows;
}

}  // namespace

Result<CatalogRows> rows_from_json(const nlohmann::json& j) {
  try {
    return parse_rows(j);
  } catch (const nlohmann::json::exception& e) {
    return Error{std::string("a field of the wrong type: ") + e.what()};
  }
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
