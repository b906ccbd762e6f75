// Worker-backed stages of a snapshot: `service` and `service_binding` integrations, pre_process hooks and
// post_process hooks (integration-level and route-level).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "config/environment.hpp"
#include "pipeline/snapshot.hpp"
#include "workers/js_call.hpp"
#include "workers/module.hpp"

namespace workgate::workers {

// The worker instances of one config load (one per `workers` binding and per used `services` alias).
class WorkerRegistry {
 public:
  // The instance of a `workers` binding; null when it is not declared or failed to load.
  std::shared_ptr<WorkerInstance> worker(std::string_view binding) const;

  // Resolves a hook ({binding: <serviceBindings alias>, function}) to its function. Errors go to
  // `<hook.pointer>/function`; a binding whose module failed to load yields nullopt without a new error.
  std::optional<BoundFunction> resolve_hook(const config::Config& config, const config::HookRef& hook,
                                            std::vector<config::ConfigError>& errors) const;

  // A post_process stage calling `hooks` in order. attach_worker_stages already installs
  // `integration.post_process` (then the route-level `post_process`) as the route's post_process stage for
  // every integration type, auth0_callback included; this is for integrations that want to run a hook
  // themselves. Null when a hook does not resolve (errors reported).
  std::unique_ptr<pipeline::Stage> post_process_stage(const config::Config& config,
                                                      const config::Route& route,
                                                      const std::vector<config::HookRef>& hooks,
                                                      std::vector<config::ConfigError>& errors) const;

 private:
  friend std::shared_ptr<WorkerRegistry> attach_worker_stages(pipeline::Snapshot&, const config::Environment&,
                                                              bool, std::vector<config::ConfigError>&);
  // A JavaScript binding (or service): its function, and the methods its class has (unknown for
  // `workgate validate`, which does not start workerd).
  struct JsBinding {
    std::shared_ptr<js::JsFunction> function;
    std::optional<std::vector<std::string>> methods;
    std::chrono::milliseconds timeout{5000};
  };
  std::map<std::string, JsBinding, std::less<>> js_workers_;
  std::map<std::string, JsBinding, std::less<>> js_services_;  // by service alias
  std::shared_ptr<js::Engine> engine_;
  std::map<std::string, std::shared_ptr<WorkerInstance>, std::less<>> workers_;
  std::map<std::string, std::shared_ptr<WorkerInstance>, std::less<>> services_;  // by service alias
};

// Loads the modules named by config.workers and by the services the routes use, and stores the stages of
// every route in snapshot.routes[i] (integration for service/service_binding, pre_process, post_process).
// With load_modules false (workgate validate), modules are still opened and checked (ABI version, exported
// functions) but not initialised. Errors carry JSON pointers into the config. The registry is also kept
// alive by the snapshot.
std::shared_ptr<WorkerRegistry> attach_worker_stages(pipeline::Snapshot& snapshot,
                                                     const config::Environment& environment,
                                                     bool load_modules,
                                                     std::vector<config::ConfigError>& errors);

// How many shards serve requests (one workerd process per shard unless gateway.js_workers.processes
// says otherwise). Set by `workgate serve` before the config is loaded; default 1.
void set_js_shard_count(unsigned shards);

// Whether a `services[].entrypoint` names a JavaScript or TypeScript module.
bool is_js_entrypoint(std::string_view entrypoint);

// The route's variables over the global ones, as a JSON object (what worker functions see).
std::string variables_json(const config::Config& config, const config::Route& route);

// Where a `services[].entrypoint` points: relative to the config's directory, with or without ".so".
std::string resolve_entrypoint(const config::Config& config, const std::string& entrypoint);

}  // namespace workgate::workers
