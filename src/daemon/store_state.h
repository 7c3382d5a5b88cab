#pragma once
// The durable store (store/store.h) as the StateStore that the health engine, the steering
// service and the event log persist into (core/state_store.h): health and steering state as
// state documents, events in the store's event table beside the change batches.
#include <memory>
#include <string>

#include "core/state_store.h"
#include "store/store.h"

namespace steerdns::daemon {

// `store` must outlive the returned object. With `local_copy` (a fleet node: the store is etcd)
// state documents are also written to that file, and read from it while the store is out of
// reach, so that a node restarted during an etcd outage keeps its health and steering state
// and its zones' served serials (docs/fleet.md); events the store cannot take meanwhile wait
// there too and are appended once it answers.
std::shared_ptr<StateStore> state_store_over(store::Store& store, std::string local_copy = {});
// The local copy's name beside a fleet node's catalog cache: "X.json" -> "X.state.json".
std::string state_copy_path(const std::string& catalog_cache);

}  // namespace steerdns::daemon
