#pragma once
// The durable store (store/store.h) as the StateStore that the health engine, the steering
// service and the event log persist into (core/state_store.h): health and steering state as
// state documents, events in the store's event table beside the change batches.
#include <memory>

#include "core/state_store.h"
#include "store/store.h"

namespace steerdns::daemon {

// `store` must outlive the returned object.
std::shared_ptr<StateStore> state_store_over(store::Store& store);

}  // namespace steerdns::daemon
