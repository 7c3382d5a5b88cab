#include "api/metrics.h"

namespace steerdns::api {

void collect_api_metrics(const ServerStats& stats, obs::Families& out) {
  auto& f = obs::add_family(out, "steerdns_api_requests_total", "API requests by status class",
                            prometheus::MetricType::Counter);
  obs::add_counter(f, {{"code", "2xx"}}, static_cast<double>(stats.responses_2xx));
  obs::add_counter(f, {{"code", "4xx"}}, static_cast<double>(stats.responses_4xx));
  obs::add_counter(f, {{"code", "5xx"}}, static_cast<double>(stats.responses_5xx));
  if (stats.responses_1xx_3xx > 0) {
    obs::add_counter(f, {{"code", "other"}}, static_cast<double>(stats.responses_1xx_3xx));
  }
}

}  // namespace steerdns::api
