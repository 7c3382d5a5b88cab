#pragma once
// The API server's figures for /metrics (docs/metrics.md, "Control plane and API").
#include "api/server.h"
#include "obs/metrics.h"

namespace steerdns::api {

// steerdns_api_requests_total{code=2xx|4xx|5xx} from the server's response counts (1xx/3xx,
// which the API does not send, appear as code="other" only if ever counted). Pure: any thread.
void collect_api_metrics(const ServerStats& stats, obs::Families& out);

}  // namespace steerdns::api
