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
  friend void check_js_workers(const config::Config&, const config::Environment&,
                               std::vector<config::ConfigError>&);
  // The JavaScript workers of `cfg` (js_workers_, js_services_, engine_): reads (and bundles) each script;
  // with `processes` > 0 starts workerd with that many processes and asks each script's bridge which
  // methods its class defines (the module parses, exports the class, a service has fetch). With
  // `isolate_failures`, a script workerd refuses is left out and workerd started again without it, so
  // that every script is checked in one run (validate); otherwise the first failure fails them all.
  void attach_js(const config::Config& cfg, const config::Environment& environment, unsigned processes,
                 bool isolate_failures, std::vector<config::ConfigError>& errors);
  // A JavaScript binding (or service): its function, and the methods its class has (unknown when workerd
  // is not started: the build of `workgate validate` and `routes`; check_js_workers asks them).
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

// `workgate validate`: what `serve` checks of the JavaScript workers once workerd runs, without serving.
// Starts one workerd process for every JavaScript worker of `config` (the `workers` with a script, the
// JavaScript `services` a route uses), asks each script's bridge what its class defines and reports, with
// their JSON pointers and the messages `serve` has: a script that does not load (a syntax error; the
// others are still checked), an entrypoint class the module does not export, a service without fetch,
// each function a route calls (integration, pre_process, post_process) that the class does not define,
// and a missing workerd binary. workerd is stopped when this returns (the engine is handed to the reaper
// thread, which `workgate` joins before it exits). No worker code runs but the modules' top level.
void check_js_workers(const config::Config& config, const config::Environment& environment,
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
