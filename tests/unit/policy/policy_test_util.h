#pragma once
// Builders for steering specs, health views and answers in the policy tests.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dns/rrtype.h"
#include "health/view.h"
#include "policy/explain.h"
#include "policy/model.h"
#include "policy/table.h"

namespace steerdns::policy::test {

inline dns::Name N(const std::string& s) {
  auto r = dns::Name::from_text(s);
  EXPECT_TRUE(r.ok()) << s;
  return r.ok() ? *r : dns::Name();
}

inline std::vector<uint8_t> A(const std::string& ip) {
  std::vector<uint8_t> v(4);
  EXPECT_EQ(inet_pton(AF_INET, ip.c_str(), v.data()), 1) << ip;
  return v;
}

inline dns::Cidr C(const std::string& s) {
  auto r = dns::Cidr::parse(s);
  EXPECT_TRUE(r.ok()) << s;
  return r.ok() ? *r : dns::Cidr{};
}

// A member answering one A value, with a check.
inline Member M(const std::string& id, const std::string& ip, const std::string& check = "") {
  Member m;
  m.set_id = id;
  m.rdata.push_back(A(ip));
  m.health_check = check;
  m.where = "test.yaml:" + id;
  return m;
}

inline Member Alias(const std::string& id, const std::string& target, bool eth = true) {
  Member m;
  m.set_id = id;
  m.alias = AliasTarget{N(target), dns::rrtype::A, eth};
  m.where = "test.yaml:" + id;
  return m;
}

inline RecordSet Set(const std::string& name, Policy p, std::vector<Member> members,
                     uint32_t ttl = 60) {
  RecordSet rs;
  rs.name = N(name);
  rs.type = dns::rrtype::A;
  rs.ttl = ttl;
  rs.policy = p;
  rs.members = std::move(members);
  rs.where = "test.yaml:" + name;
  return rs;
}

// Health: check id -> status (every check given is "probe"-sourced).
inline std::shared_ptr<health::HealthView> Health(
    const std::map<std::string, health::Status>& states,
    const std::map<std::string, double>& rtt = {}) {
  auto hv = std::make_shared<health::HealthView>();
  for (const auto& [id, st] : states) {
    health::CheckState cs;
    cs.status = st;
    cs.source = health::Source::kProbe;
    if (auto it = rtt.find(id); it != rtt.end()) {
      cs.last_rtt_ms = it->second;
    }
    hv->add(id, cs);
  }
  return hv;
}
inline constexpr health::Status kUp = health::Status::kHealthy;
inline constexpr health::Status kDown = health::Status::kUnhealthy;

inline Client Cl(const std::string& text, bool ecs = false) {
  auto c = parse_client(text, ecs);
  EXPECT_TRUE(c.ok()) << text;
  return c.ok() ? *c : Client{};
}

// The answer's values as text ("192.0.2.1"), or "NODATA" / "SERVFAIL".
inline std::vector<std::string> Values(const Selection& s) {
  if (s.outcome == Selection::Outcome::kNodata) {
    return {"NODATA"};
  }
  if (s.outcome == Selection::Outcome::kServfail) {
    return {"SERVFAIL"};
  }
  std::vector<std::string> out;
  const uint8_t* p = s.data;
  for (uint16_t i = 0; i < s.count; ++i) {
    size_t len = static_cast<size_t>(p[0]) << 8 | p[1];
    char buf[INET6_ADDRSTRLEN] = {};
    if (len == 4) {
      inet_ntop(AF_INET, p + 2, buf, sizeof buf);
    }
    out.emplace_back(buf);
    p += 2 + len;
  }
  return out;
}

inline std::string One(const Selection& s) {
  auto v = Values(s);
  return v.size() == 1 ? v[0] : "<" + std::to_string(v.size()) + " values>";
}

// Compiles a spec with optional health, steer state and overrides; fails the test on error.
struct Compiled {
  SteeringSpec spec;
  std::shared_ptr<health::HealthView> health;
  std::map<std::string, SteerState> steer;
  Overrides overrides;
  std::shared_ptr<const Table> table;

  CompileInputs inputs() const {
    CompileInputs in;
    in.spec = &spec;
    in.health = health.get();
    in.steer = &steer;
    in.overrides = &overrides;
    return in;
  }
  void build() {
    auto r = compile(inputs());
    ASSERT_TRUE(r.ok()) << r.error();
    table = *r;
  }
  Selection sel(const std::string& key, const Client& c = {}, uint64_t entropy = 0) const {
    uint32_t id = table->id_of(key);
    EXPECT_NE(id, kNoSteer) << key;
    return table->select(id, c, entropy);
  }
  std::string one(const std::string& key, const Client& c = {}, uint64_t entropy = 0) const {
    return One(sel(key, c, entropy));
  }
};

// A fixed, reproducible entropy sequence (splitmix64).
inline uint64_t Entropy(uint64_t i) {
  uint64_t x = i * 0x9E3779B97F4A7C15ull + 12345;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

}  // namespace steerdns::policy::test
