#include "server/metrics.h"

#include <map>
#include <tuple>

namespace steerdns::server {

std::string ZoneNames::name(uint64_t hash, const config::RuntimeConfig* cfg) {
  if (hash == 0) {
    return "none";
  }
  if (hash == QueryMetrics::kOtherZone) {
    return "other";
  }
  std::lock_guard lk(mu_);
  if (auto it = names_.find(hash); it != names_.end()) {
    return it->second;
  }
  if (cfg != nullptr) {
    for (const auto& z : cfg->zones()) {
      names_.emplace(z->origin_hash(), z->origin().to_text());
    }
    if (auto it = names_.find(hash); it != names_.end()) {
      return it->second;
    }
  }
  return "unknown";
}

void collect_dns_metrics(const UdpServer& udp, const TcpServer& tcp,
                         const config::RuntimeConfig* cfg, ZoneNames& names,
                         obs::Families& out) {
  using Key = std::tuple<std::string, unsigned, unsigned, unsigned>;
  std::map<Key, uint64_t> queries;
  obs::Histogram::Snapshot udp_lat, tcp_lat;
  auto add = [&](const QueryMetrics& m) {
    m.for_each([&](uint64_t zone, unsigned qt, unsigned rc, unsigned tr, uint64_t n) {
      queries[Key{names.name(zone, cfg), qt, rc, tr}] += n;
    });
    udp_lat.add(m.latency(Transport::kUdp).snapshot());
    tcp_lat.add(m.latency(Transport::kTcp).snapshot());
  };
  for (const auto& m : udp.metrics()) {
    add(*m);
  }
  add(tcp.metrics());

  auto& q = obs::add_family(out, "steerdns_dns_queries_total",
                            "DNS queries answered, by zone, query type, response code and "
                            "transport.",
                            prometheus::MetricType::Counter);
  for (const auto& [k, n] : queries) {
    const auto& [zone, qt, rc, tr] = k;
    obs::add_counter(q,
                     {{"zone", zone},
                      {"qtype", std::string(qtype_label(qt))},
                      {"rcode", std::string(rcode_label(rc))},
                      {"transport", std::string(transport_label(tr))}},
                     static_cast<double>(n));
  }
  auto& lat = obs::add_family(out, "steerdns_dns_response_duration_seconds",
                              "Time from receiving a query to handing its response to the "
                              "kernel (UDP: per recvmmsg batch).",
                              prometheus::MetricType::Histogram);
  obs::add_histogram(lat, {{"transport", "udp"}}, udp_lat);
  obs::add_histogram(lat, {{"transport", "tcp"}}, tcp_lat);

  const CounterTotals u = udp.totals();
  const CounterTotals t = tcp.totals();
  obs::add_counter(obs::add_family(out, "steerdns_dns_truncated_total",
                                   "UDP responses sent with TC=1.",
                                   prometheus::MetricType::Counter),
                   {}, static_cast<double>(u.truncated));
  auto& drops = obs::add_family(out, "steerdns_dns_dropped_total",
                                "Queries not answered (malformed, send failures).",
                                prometheus::MetricType::Counter);
  obs::add_counter(drops, {{"transport", "udp"}}, static_cast<double>(u.drops));
  obs::add_counter(drops, {{"transport", "tcp"}}, static_cast<double>(t.drops));
  auto& conns = obs::add_family(out, "steerdns_dns_tcp_connections_total", "TCP connections.",
                                prometheus::MetricType::Counter);
  obs::add_counter(conns, {{"result", "accepted"}}, static_cast<double>(t.connections));
  obs::add_counter(conns, {{"result", "rejected"}}, static_cast<double>(t.rejected_connections));
  obs::add_counter(conns, {{"result", "timeout"}}, static_cast<double>(t.timeouts));
  auto& xfr = obs::add_family(out, "steerdns_dns_transfers_total", "Zone transfers (AXFR/IXFR).",
                              prometheus::MetricType::Counter);
  obs::add_counter(xfr, {{"result", "sent"}}, static_cast<double>(t.transfers));
  obs::add_counter(xfr, {{"result", "refused"}}, static_cast<double>(t.refused_transfers));
  // Every reason and transport is present from the start, so a rate() alert sees the first one.
  auto& tsig = obs::add_family(out, "steerdns_dns_tsig_failures_total",
                               "Signed requests (transfers, SOA checks) that failed TSIG "
                               "verification, by reason.",
                               prometheus::MetricType::Counter);
  static constexpr const char* kReasons[kTsigFailureKinds] = {"formerr", "badkey", "badsig",
                                                              "badtime", "badtrunc"};
  for (size_t i = 0; i < kTsigFailureKinds; ++i) {
    obs::add_counter(tsig, {{"reason", kReasons[i]}, {"transport", "udp"}},
                     static_cast<double>(u.tsig_failures[i]));
    obs::add_counter(tsig, {{"reason", kReasons[i]}, {"transport", "tcp"}},
                     static_cast<double>(t.tsig_failures[i]));
  }
}

}  // namespace steerdns::server
