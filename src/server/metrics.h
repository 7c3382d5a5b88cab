#pragma once
// The DNS families of /metrics (docs/metrics.md, "DNS"), summed over the transport threads'
// per-thread counters at scrape time.
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

#include "config/runtime.h"
#include "obs/metrics.h"
#include "server/tcp.h"
#include "server/udp.h"

namespace steerdns::server {

// Zone origin hash -> name. Names come from the served config at scrape time and are kept, so
// a zone deleted after a scrape saw it keeps its label; one never seen is "unknown".
class ZoneNames {
 public:
  std::string name(uint64_t hash, const config::RuntimeConfig* cfg);

 private:
  std::mutex mu_;
  std::unordered_map<uint64_t, std::string> names_;
};

void collect_dns_metrics(const UdpServer& udp, const TcpServer& tcp,
                         const config::RuntimeConfig* cfg, ZoneNames& names,
                         obs::Families& out);

}  // namespace steerdns::server
