// Micro-benchmarks of the query path and the zone loader on the generated bench zone
// (../shared/bench/gen_zone.py; bench/run.sh passes the paths). Not a test.
//
//   bench_query --zone=DIR/zone/bench.test.zone [--queries=DIR/queries.txt]
//               [--big_zone=BIGDIR/zone/bench.test.zone] [Google Benchmark flags]
//
// --queries adds a benchmark that cycles through the dnsperf query mix; --big_zone adds one
// load of a large zone (e.g. 1,000,000 hosts) reporting time, zone bytes and RSS growth.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "config/runtime.h"
#include "dns/message.h"
#include "dns/name.h"
#include "dns/rrtype.h"
#include "dns/wire.h"
#include "policy/model.h"
#include "policy/table.h"
#include "server/query.h"
#include "zone/loader.h"

namespace steerdns {
namespace {

struct Options {
  std::string zone;
  std::string queries;
  std::string big_zone;
};

std::shared_ptr<const config::RuntimeConfig> g_cfg;
std::vector<std::vector<uint8_t>> g_mix;  // pre-encoded dnsperf query mix

// A query in wire form: header (ID 0x1234, RD as dnsperf sends), question, optional OPT with
// a payload size and an IPv4 Client Subnet option.
std::vector<uint8_t> make_query(const std::string& name, uint16_t type, bool edns = false,
                                bool ecs = false) {
  auto n = dns::Name::from_text(name);
  if (!n) {
    std::fprintf(stderr, "bad bench name %s: %s\n", name.c_str(), n.error().c_str());
    std::exit(2);
  }
  uint8_t buf[512];
  dns::WireWriter w(buf, sizeof buf);
  w.u16(0x1234);
  w.u16(dns::flag::RD);
  w.u16(1);
  w.u16(0);
  w.u16(0);
  w.u16(edns ? 1 : 0);
  w.bytes(n->data(), n->size());
  w.u16(type);
  w.u16(dns::rrclass::IN);
  if (edns) {
    w.u8(0);  // root owner
    w.u16(dns::rrtype::OPT);
    w.u16(1232);  // payload size
    w.u32(0);
    if (ecs) {  // 192.0.2.0/24
      w.u16(11);
      w.u16(dns::ednsopt::ECS);
      w.u16(7);
      w.u16(1);
      w.u8(24);
      w.u8(0);
      const uint8_t addr[3] = {192, 0, 2};
      w.bytes(addr, sizeof addr);
    } else {
      w.u16(0);
    }
  }
  std::vector<uint8_t> q(buf, buf + w.pos());
  return q;
}

long rss_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      return std::stol(line.substr(6));
    }
  }
  return -1;
}

void answer(benchmark::State& state, std::vector<uint8_t> q, server::Transport t,
            uint16_t want_rcode, bool want_tc) {
  uint8_t out[server::kMaxTcpMessage];
  server::ClientInfo client;
  client.transport = t;
  const size_t cap = t == server::Transport::kTcp ? sizeof out : 4096;
  server::AnswerInfo info;
  size_t n = server::answer_query(*g_cfg, q.data(), q.size(), out, cap, client, &info);
  if (n == 0 || info.rcode != want_rcode || info.truncated != want_tc) {
    state.SkipWithError("unexpected answer (wrong zone file?)");
    return;
  }
  for (auto _ : state) {
    n = server::answer_query(*g_cfg, q.data(), q.size(), out, cap, client, &info);
    benchmark::DoNotOptimize(n);
    benchmark::DoNotOptimize(out[0]);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.counters["resp_bytes"] = static_cast<double>(n);
}

void answer_mix(benchmark::State& state) {
  uint8_t out[4096];
  server::ClientInfo client;
  size_t i = 0;
  for (auto _ : state) {
    const auto& q = g_mix[i];
    size_t n = server::answer_query(*g_cfg, q.data(), q.size(), out, sizeof out, client);
    benchmark::DoNotOptimize(n);
    if (++i == g_mix.size()) {
      i = 0;
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

void parse_query(benchmark::State& state, std::vector<uint8_t> q) {
  for (auto _ : state) {
    dns::Query parsed;
    auto r = dns::parse_query(q.data(), q.size(), parsed);
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(parsed);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

void zone_load(benchmark::State& state, std::string path) {
  const auto origin = *dns::Name::from_text("bench.test.");
  size_t bytes = 0;
  size_t records = 0;
  long rss_growth = -1;
  for (auto _ : state) {
    long before = rss_kib();
    auto z = zone::load_zone_file(origin, path);
    if (!z) {
      state.SkipWithError(z.error().c_str());
      return;
    }
    std::shared_ptr<const zone::Zone> loaded = std::move(*z);
    if (rss_growth < 0) {  // later loads reuse the memory freed by the previous one
      rss_growth = rss_kib() - before;
    }
    bytes = loaded->memory_bytes();
    records = loaded->record_count();
    state.PauseTiming();  // freeing the zone is not part of loading it
    loaded.reset();
    state.ResumeTiming();
  }
  state.counters["records"] = static_cast<double>(records);
  state.counters["zone_MiB"] = static_cast<double>(bytes) / (1024.0 * 1024.0);
  state.counters["first_load_rss_growth_MiB"] = static_cast<double>(rss_growth) / 1024.0;
  state.counters["records_per_s"] = benchmark::Counter(
      static_cast<double>(records), benchmark::Counter::kIsIterationInvariantRate);
}

std::shared_ptr<const zone::Zone> tc_zone() {
  // 40 A records at one name: 40 x 16 octets do not fit in 512 (answered with TC over UDP).
  const auto origin = *dns::Name::from_text("tc.bench.");
  std::string text = "@ 300 IN SOA ns hostmaster 1 3600 600 86400 300\n@ NS ns\nns A 192.0.2.1\n";
  for (int i = 1; i <= 40; ++i) {
    text += "many A 10.0.0." + std::to_string(i) + "\n";
  }
  zone::ZoneBuilder b(origin);
  zone::TextRecordParser p(origin);
  auto st = p.parse(text, b, "tc.bench", 1);
  auto z = b.build();
  if (!st || !z) {
    std::fprintf(stderr, "tc zone: %s\n", st ? z.error().c_str() : st.error().c_str());
    std::exit(2);
  }
  return *z;
}

bool load_mix(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string name;
    std::string type;
    if (!(ls >> name >> type)) {
      continue;
    }
    auto t = dns::type_from_text(type);
    if (!t) {
      continue;
    }
    g_mix.push_back(make_query(name, *t));
  }
  return !g_mix.empty();
}

Options take_options(int* argc, char** argv) {
  Options o;
  int out = 1;
  for (int i = 1; i < *argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char* flag) -> const char* {
      size_t l = std::strlen(flag);
      return a.compare(0, l, flag) == 0 ? argv[i] + l : nullptr;
    };
    if (const char* v = value("--zone=")) {
      o.zone = v;
    } else if (const char* v2 = value("--queries=")) {
      o.queries = v2;
    } else if (const char* v3 = value("--big_zone=")) {
      o.big_zone = v3;
    } else {
      argv[out++] = argv[i];
    }
  }
  *argc = out;
  return o;
}

// policy::Table::select() alone (the per-query steering step): one steered set per case,
// clients spread over a 1,000-entry latency map, entropy from a counter.
std::shared_ptr<const policy::Table> g_policy;
policy::SteeringSpec g_policy_spec;

void build_policy_table() {
  auto name = [](const char* n) { return *dns::Name::from_text(n); };
  auto member = [](const char* id, uint8_t last) {
    policy::Member m;
    m.set_id = id;
    m.rdata.push_back({192, 0, 2, last});
    return m;
  };
  policy::RecordSet fo;
  fo.name = name("fo.bench.");
  fo.type = dns::rrtype::A;
  fo.policy = policy::Policy::kFailover;
  fo.members = {member("p", 1), member("s", 2)};
  fo.members[0].tier = 1;
  fo.members[1].tier = 2;
  g_policy_spec.record_sets.push_back(fo);
  fo.name = name("ramp.bench.");
  g_policy_spec.record_sets.push_back(fo);
  policy::RecordSet w;
  w.name = name("w.bench.");
  w.type = dns::rrtype::A;
  w.policy = policy::Policy::kWeighted;
  w.members = {member("a", 3), member("b", 4), member("c", 5)};
  w.members[0].weight = 10;
  w.members[1].weight = 20;
  w.members[2].weight = 70;
  g_policy_spec.record_sets.push_back(w);
  w.name = name("ws.bench.");
  w.sticky = true;
  g_policy_spec.record_sets.push_back(w);
  policy::RecordSet l;
  l.name = name("l.bench.");
  l.type = dns::rrtype::A;
  l.policy = policy::Policy::kLatency;
  l.members = {member("eu", 6), member("us", 7), member("ap", 8)};
  l.members[0].region = "eu";
  l.members[1].region = "us";
  l.members[2].region = "ap";
  g_policy_spec.record_sets.push_back(l);
  for (int i = 0; i < 1000; ++i) {
    policy::LatencyEntry e;
    e.cidr = *dns::Cidr::parse("10." + std::to_string(i / 4) + "." +
                               std::to_string((i % 4) * 64) + ".0/18");
    e.rtt_ms = {{"eu", static_cast<uint32_t>(i % 97)}, {"us", static_cast<uint32_t>(i % 89)},
                {"ap", static_cast<uint32_t>(i % 83)}};
    g_policy_spec.latency_map.push_back(e);
  }
  static std::map<std::string, policy::SteerState> steer = {
      {"ramp.bench./A", policy::SteerState{2, 1, 0.3, 30}}};
  policy::CompileInputs in;
  in.spec = &g_policy_spec;
  in.steer = &steer;
  auto t = policy::compile(in);
  if (!t) {
    std::fprintf(stderr, "policy bench: %s\n", t.error().c_str());
    std::exit(2);
  }
  g_policy = *t;
}

void policy_select(benchmark::State& state, std::string key) {
  uint32_t id = g_policy->id_of(key);
  policy::Client c;
  c.family = AF_INET;
  c.source_prefix = 32;
  c.addr[0] = 10;
  uint64_t n = 0;
  for (auto _ : state) {
    ++n;
    c.addr[1] = static_cast<uint8_t>(n % 250);
    c.addr[2] = static_cast<uint8_t>(n * 7);
    policy::Selection s = g_policy->select(id, c, n * 0x9E3779B97F4A7C15ull);
    benchmark::DoNotOptimize(s);
  }
}

// compile() of 10,000 failover sets: what every health or steering change costs.
void policy_compile(benchmark::State& state) {
  policy::SteeringSpec spec;
  for (int i = 0; i < 10000; ++i) {
    policy::RecordSet rs;
    // snprintf: GCC 12 warns falsely (-Wrestrict) on std::string concatenation here.
    char buf[32];
    std::snprintf(buf, sizeof buf, "s%d.bench.", i);
    rs.name = *dns::Name::from_text(buf);
    rs.type = dns::rrtype::A;
    rs.policy = policy::Policy::kFailover;
    for (int t = 1; t <= 2; ++t) {
      policy::Member m;
      m.set_id.assign(1, t == 1 ? 'p' : 's');
      m.tier = t;
      m.rdata.push_back({192, 0, 2, static_cast<uint8_t>(t)});
      std::snprintf(buf, sizeof buf, "c%d%c", i % 100, t == 1 ? 'p' : 's');
      m.health_check = buf;
      rs.members.push_back(m);
    }
    spec.record_sets.push_back(rs);
  }
  policy::CompileInputs in;
  in.spec = &spec;
  for (auto _ : state) {
    auto t = policy::compile(in);
    benchmark::DoNotOptimize(t);
  }
}

}  // namespace
}  // namespace steerdns

int main(int argc, char** argv) {
  using namespace steerdns;
  using server::Transport;
  namespace rc = dns::rcode;
  Options o = take_options(&argc, argv);
  if (o.zone.empty()) {
    std::fprintf(stderr,
                 "usage: %s --zone=DIR/zone/bench.test.zone [--queries=DIR/queries.txt] "
                 "[--big_zone=PATH] [benchmark flags]\n(make the zone with "
                 "../shared/bench/gen_zone.py --out DIR, or run bench/run.sh)\n",
                 argv[0]);
    return 2;
  }
  auto z = zone::load_zone_file(*dns::Name::from_text("bench.test."), o.zone);
  if (!z) {
    std::fprintf(stderr, "%s\n", z.error().c_str());
    return 2;
  }
  auto cfg = std::make_shared<config::RuntimeConfig>();
  cfg->set_zones({*z, tc_zone()});
  g_cfg = cfg;

  const auto A = dns::rrtype::A;
  benchmark::RegisterBenchmark("answer/A_hit", answer, make_query("h42.bench.test.", A),
                               Transport::kUdp, rc::NOERROR, false);
  benchmark::RegisterBenchmark("answer/AAAA_hit", answer,
                               make_query("h42.bench.test.", dns::rrtype::AAAA), Transport::kUdp,
                               rc::NOERROR, false);
  benchmark::RegisterBenchmark("answer/A_hit_edns_ecs", answer,
                               make_query("h42.bench.test.", A, true, true), Transport::kUdp,
                               rc::NOERROR, false);
  benchmark::RegisterBenchmark("answer/NXDOMAIN", answer, make_query("nx-nothing.bench.test.", A),
                               Transport::kUdp, rc::NXDOMAIN, false);
  benchmark::RegisterBenchmark("answer/CNAME_chain", answer, make_query("c7.bench.test.", A),
                               Transport::kUdp, rc::NOERROR, false);
  benchmark::RegisterBenchmark("answer/wildcard", answer, make_query("abc.wild.bench.test.", A),
                               Transport::kUdp, rc::NOERROR, false);
  benchmark::RegisterBenchmark("answer/MX_additional", answer,
                               make_query("m3.bench.test.", dns::rrtype::MX), Transport::kUdp,
                               rc::NOERROR, false);
  benchmark::RegisterBenchmark("answer/referral", answer, make_query("www.sub7.bench.test.", A),
                               Transport::kUdp, rc::NOERROR, false);
  benchmark::RegisterBenchmark("answer/TC_udp512", answer, make_query("many.tc.bench.", A),
                               Transport::kUdp, rc::NOERROR, true);
  benchmark::RegisterBenchmark("answer/big_tcp", answer, make_query("many.tc.bench.", A),
                               Transport::kTcp, rc::NOERROR, false);
  if (!o.queries.empty()) {
    if (!load_mix(o.queries)) {
      std::fprintf(stderr, "%s: no queries\n", o.queries.c_str());
      return 2;
    }
    benchmark::RegisterBenchmark("answer/dnsperf_mix", answer_mix);
  }
  benchmark::RegisterBenchmark("parse_query/plain", parse_query, make_query("h42.bench.test.", A));
  benchmark::RegisterBenchmark("parse_query/edns_ecs", parse_query,
                               make_query("h42.bench.test.", A, true, true));
  benchmark::RegisterBenchmark("zone_load/bench_10k", zone_load, o.zone)
      ->Unit(benchmark::kMillisecond);
  if (!o.big_zone.empty()) {
    benchmark::RegisterBenchmark("zone_load/big", zone_load, o.big_zone)
        ->Unit(benchmark::kMillisecond)
        ->Iterations(1);
  }
  build_policy_table();
  benchmark::RegisterBenchmark("policy_select/failover", policy_select, "fo.bench./A");
  benchmark::RegisterBenchmark("policy_select/failover_ramp", policy_select, "ramp.bench./A");
  benchmark::RegisterBenchmark("policy_select/weighted", policy_select, "w.bench./A");
  benchmark::RegisterBenchmark("policy_select/weighted_sticky", policy_select, "ws.bench./A");
  benchmark::RegisterBenchmark("policy_select/latency_1k_map", policy_select, "l.bench./A");
  benchmark::RegisterBenchmark("policy_compile/10k_failover", policy_compile)
      ->Unit(benchmark::kMillisecond);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
    return 2;
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
