#pragma once
// The native JSON API (docs/api.md has every route with examples):
//   zones, record sets, change batches (list, get, diff, dry run, wait for INSYNC), the
//   declarative catalog (GET /v1/catalog, POST /v1/apply), zone import/export, health-check
//   configuration, and the steering commands (status, overrides, failback approval, events,
//   explain, simulate, drills) plus /v1/answer.
//
// Reads come from the control plane's committed catalog (an immutable snapshot per request).
// Every write is a config::ChangeBatch submitted to control::Plane with author = the request's
// principal (the audit trail); a batch the plane rejects changes nothing and answers 400 with
// the plane's message (which names the change and the field). Steering writes (overrides,
// failback approvals) go to Services::steering with the principal as their author.
//
// Also registers the health routes of health_routes.h (GET /v1/health/checks[/{id}], PUT
// .../status) from Services::health_report / set_external, unless the router has them already.
// Services callbacks that are empty answer 503 on the routes that need them.
//
// Handlers block on the plane (a durable commit, ?wait=SECONDS): run them on the server's
// handler pool (api::Server does).
#include "api/router.h"
#include "api/services.h"

namespace steerdns::api {

void add_native_routes(Router& router, const Services& services);

}  // namespace steerdns::api
