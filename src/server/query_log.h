#pragma once
// The transports' side of the query log (obs/query_log.h): a sampled query is copied into the
// query thread's own ring right after it was answered. A few memcpy and one vDSO clock read;
// no lock, no allocation, no system call. A full ring drops the record (and counts it).
#include <time.h>

#include "obs/query_log.h"
#include "server/query.h"
#include "zone/zone.h"

namespace steerdns::server {

inline void log_query(obs::QueryLogRing& ring, const ClientInfo& client, const uint8_t* q,
                      size_t qlen, const uint8_t* resp, size_t rlen, const AnswerInfo& info) {
  obs::QueryRecord* r = ring.claim();
  if (r == nullptr) {
    return;
  }
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  r->time_sec = now.tv_sec;
  r->time_nsec = static_cast<uint32_t>(now.tv_nsec);
  r->transport = client.transport == Transport::kTcp ? 1 : 0;
  r->set_client(client.addr);
  r->rcode = info.rcode;
  r->truncated = info.truncated;
  // Copied, not pointed to: the snapshot holding the table and zone may be gone when the
  // writer formats the record.
  r->set_branch(info.branch);
  if (info.zone != nullptr) {
    r->set_zone(info.zone->origin().data(), info.zone->origin().size());
  } else {
    r->zone_len = 0;
  }
  r->set_messages(q, qlen, resp, rlen);
  ring.commit();
}

}  // namespace steerdns::server
