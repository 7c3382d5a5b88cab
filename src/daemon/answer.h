#pragma once
// The answer the DNS server would give right now to one question, for the API's
// test-dns-answer and /v1/answer: built as a real query and run through answer_query, so it
// cannot disagree with what resolvers get.
#include <nlohmann/json.hpp>

#include "api/services.h"
#include "config/runtime.h"
#include "core/result.h"

namespace steerdns::daemon {

// {"rcode": "NOERROR", "rcode_code": 0, "aa": true, "ecs_scope": 24 | null,
//  "answers": [{"name","type","ttl","data"}], "authority": [...]}
// Errors: a name, type, client address or subnet that does not parse.
Result<nlohmann::json> answer_question(const config::RuntimeConfig& cfg, const api::Question& q);

}  // namespace steerdns::daemon
