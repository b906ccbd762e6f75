// Worker-backed stages of a snapshot: `service` and `service_binding` integrations, pre_process hooks and
// post_process hooks (integration-level and route-level).
#pragma once

#include <vector>

#include "config/config.hpp"
#include "config/environment.hpp"
#include "pipeline/snapshot.hpp"

namespace workgate::workers {

// Loads the modules named by config.workers and config.services and stores the stages of every route in
// snapshot.routes[i] (integration for service/service_binding, pre_process, post_process). With
// load_modules false (workgate validate), modules are still opened and checked (ABI version, exported
// functions) but not initialised. Errors carry JSON pointers into the config.
void attach_worker_stages(pipeline::Snapshot& snapshot, const config::Environment& environment, bool load_modules,
                          std::vector<config::ConfigError>& errors);

}  // namespace workgate::workers
