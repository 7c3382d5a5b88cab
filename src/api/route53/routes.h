#pragma once
// The Route 53-compatible REST/XML API under /2013-04-01/ (docs/route53.md), so that the real
// `aws route53 ... --endpoint-url` and boto3 work unchanged:
//   hosted zones      POST/GET hostedzone, GET/DELETE hostedzone/{id}, GET hostedzonesbyname
//   record sets       POST hostedzone/{id}/rrset (ChangeResourceRecordSets), GET .../rrset
//   changes           GET change/{id} (PENDING -> INSYNC from the control plane)
//   health checks     POST/GET healthcheck, GET/POST/DELETE healthcheck/{id},
//                     GET healthcheck/{id}/status
//   test-dns-answer   GET testdnsanswer
//
// Every route is Access::kCustom: the handler verifies AWS Signature V4 against `keys` itself
// (without keys: loopback clients only, unsigned). Errors are Route 53's XML error bodies with
// Route 53's codes and statuses.
//
// Reads come from the control plane's catalog; writes are BatchBuilders submitted to the plane
// that translate Route 53 record sets (one per name, type and SetIdentifier) into our record
// sets (one per name and type, the Route 53 record sets being its members) against the catalog
// the applier hands them, so concurrent writers never lose each other's members.
#include "api/route53/sigv4.h"
#include "api/router.h"
#include "api/services.h"

namespace steerdns::api {

using route53::Route53Keys;

// `services.plane` must outlive the router; `health_report` and `answer` may be empty (the
// operations that need them then answer 503).
void add_route53_routes(Router& router, const Services& services, const Route53Keys& keys);

}  // namespace steerdns::api
