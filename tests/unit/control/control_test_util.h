#pragma once
// Fixtures shared by the control plane's tests: a one-zone seed catalog and one-record batches.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "config/catalog.h"

namespace steerdns::control::test {

// One zone, inline, so no file is needed.
inline config::Catalog seed_catalog() {
  auto c = config::catalog_from_json(nlohmann::json::parse(R"({
    "zones": [{"name": "example.test.",
               "settings": {"soa": {"mname": "ns1.example.test.",
                                    "rname": "hostmaster.example.test.", "serial": 1},
                            "ns": ["ns1.example.test."]},
               "records": [{"name": "ns1.example.test.", "type": "A",
                            "values": ["192.0.2.53"]}]}]})"));
  EXPECT_TRUE(c) << c.error();
  return c ? *c : config::Catalog{};
}

inline config::ChangeBatch one_record(const std::string& label, const std::string& value,
                               config::Action a = config::Action::kCreate) {
  config::ChangeBatch b;
  b.author = "test";
  b.comment = "add " + label;
  config::Change ch;
  ch.action = a;
  ch.body = nlohmann::json{{"name", label + ".example.test."}, {"type", "A"}, {"values", {value}}};
  b.changes.push_back(ch);
  return b;
}

}  // namespace steerdns::control::test
