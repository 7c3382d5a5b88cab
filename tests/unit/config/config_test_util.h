#pragma once
// Helpers for config tests: write YAML into a fresh temp directory, load it, dump zones.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "config/loader.h"
#include "dns/rdata.h"
#include "dns/rrtype.h"
#include "testlib/temp_dir.h"
#include "zone/zone.h"

namespace steerdns::config::testing {

using ::steerdns::testing::TempDir;

// 1-based line of the first line of `text` containing `marker` (0 if absent), so tests name
// the line they expect in an error without counting by hand.
inline int line_of(const std::string& text, const std::string& marker) {
  auto pos = text.find(marker);
  if (pos == std::string::npos) {
    return 0;
  }
  return 1 +
         static_cast<int>(std::count(text.begin(), text.begin() + static_cast<long>(pos), '\n'));
}

// The smallest valid zones section (one zone, its NS address): tests of other sections append
// or prepend theirs.
inline constexpr const char* kMinimalZones = R"(zones:
  - name: example.test.
    soa: { mname: ns1.example.test., rname: hostmaster.example.test. }
    ns: [ns1.example.test.]
    records:
      - { name: ns1, type: A, values: [127.0.0.1] }
)";

// A `server:` section that must be refused: the error names t.yaml, the line holding `marker`
// and contains `reason`. `server_yaml` is the indented body under `server:`.
inline void expect_server_error(const std::string& server_yaml, const std::string& marker,
                                const std::string& reason) {
  TempDir d;
  std::string yaml = "server:\n" + server_yaml + kMinimalZones;
  auto c = load_config_file(d.write("t.yaml", yaml));
  ASSERT_FALSE(c.ok()) << server_yaml;
  std::string want = "t.yaml:" + std::to_string(line_of(yaml, marker)) + ":";
  EXPECT_NE(c.error().find(want), std::string::npos) << c.error() << " (want " << want << ")";
  EXPECT_NE(c.error().find(reason), std::string::npos) << c.error();
}

// Every record of a zone as "owner ttl TYPE rdata", sorted.
inline std::vector<std::string> dump(const zone::Zone& z) {
  std::vector<std::string> out;
  for (size_t i = 0; i < z.node_count(); ++i) {
    const zone::Node& n = z.node(static_cast<uint32_t>(i));
    std::string owner = z.name(n).to_text();
    for (const auto& rs : z.rrsets(n)) {
      z.for_each_rdata(rs, [&](const uint8_t* rd, uint16_t len) {
        out.push_back(owner + " " + std::to_string(rs.ttl) + " " + dns::type_to_text(rs.type) +
                      " " + dns::rdata_to_text(rs.type, rd, len));
      });
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The rdata texts of one rrset of the first zone; empty if absent.
inline std::vector<std::string> rdata_of(const LoadedConfig& c, const std::string& owner,
                                         uint16_t type, uint32_t* ttl = nullptr) {
  std::vector<std::string> out;
  const auto& z = *c.runtime->zones().front();
  auto name = dns::Name::from_text(owner);
  if (!name) {
    return out;
  }
  const zone::Node* n = z.find(*name);
  if (n == nullptr) {
    return out;
  }
  const zone::RRset* rs = z.rrset(*n, type);
  if (rs == nullptr) {
    return out;
  }
  if (ttl != nullptr) {
    *ttl = rs->ttl;
  }
  z.for_each_rdata(*rs, [&](const uint8_t* rd, uint16_t len) {
    out.push_back(dns::rdata_to_text(type, rd, len));
  });
  return out;
}

}  // namespace steerdns::config::testing
