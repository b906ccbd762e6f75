#include "workers/attach.hpp"

#include <algorithm>
#include <atomic>
#include <boost/json/serialize.hpp>
#include <filesystem>
#include <set>
#include <system_error>

#include "workers/stages.hpp"

namespace workgate::workers {
namespace {

std::atomic<unsigned> g_js_shards{1};

std::string in_quotes(std::string_view s) {
  return "\"" + std::string(s) + "\"";
}

// Modules opened during one attach, by path (a module bound twice is opened once).
class ModuleCache {
 public:
  std::shared_ptr<Module> open(const std::string& path, std::string& error) {
    if (auto it = modules_.find(path); it != modules_.end()) {
      error = it->second.second;
      return it->second.first;
    }
    std::string why;
    auto module = Module::open(path, why);
    modules_.emplace(path, std::make_pair(module, why));
    error = why;
    return module;
  }

 private:
  std::map<std::string, std::pair<std::shared_ptr<Module>, std::string>> modules_;
};

std::optional<BoundFunction> bind_function(const std::shared_ptr<WorkerInstance>& worker,
                                           std::string_view function) {
  wg_function_fn fn = worker->module().find(function);
  if (fn == nullptr) return std::nullopt;
  return BoundFunction{worker, std::string(function), fn};
}

std::string missing_function(std::string_view binding, std::string_view function) {
  return "worker binding " + in_quotes(binding) + " has no function " + in_quotes(function);
}

}  // namespace

std::string variables_json(const config::Config& config, const config::Route& route) {
  if (route.variables.empty()) return boost::json::serialize(config.variables);
  boost::json::object merged = config.variables;
  for (const auto& kv : route.variables)
    merged[kv.key()] = kv.value();
  return boost::json::serialize(merged);
}

std::string resolve_entrypoint(const config::Config& config, const std::string& entrypoint) {
  std::filesystem::path p(entrypoint);
  if (p.is_relative()) p = config.base_dir / p;
  p = p.lexically_normal();
  std::error_code ec;
  if (std::filesystem::is_regular_file(p, ec)) return p.string();
  std::filesystem::path with_so = p;
  with_so += ".so";
  if (std::filesystem::is_regular_file(with_so, ec)) return with_so.string();
  return p.string();
}

void set_js_shard_count(unsigned shards) {
  g_js_shards.store(shards == 0 ? 1 : shards);
}

bool is_js_entrypoint(std::string_view entrypoint) {
  std::string ext = std::filesystem::path(entrypoint).extension().string();
  return ext == ".js" || ext == ".mjs" || ext == ".ts" || ext == ".mts";
}

std::shared_ptr<WorkerInstance> WorkerRegistry::worker(std::string_view binding) const {
  auto it = workers_.find(binding);
  return it == workers_.end() ? nullptr : it->second;
}

std::optional<BoundFunction> WorkerRegistry::resolve_hook(const config::Config& config,
                                                          const config::HookRef& hook,
                                                          std::vector<config::ConfigError>& errors) const {
  const config::ServiceBindingEntry* alias = config.find_service_binding(hook.binding);
  if (alias == nullptr) {
    errors.push_back({hook.pointer + "/binding", "unknown service binding alias " + in_quotes(hook.binding)});
    return std::nullopt;
  }
  if (auto js = js_workers_.find(alias->binding); js != js_workers_.end()) {
    if (!js->second.function) return std::nullopt;  // failed to load: reported already
    if (js->second.methods && std::find(js->second.methods->begin(), js->second.methods->end(),
                                        hook.function) == js->second.methods->end()) {
      errors.push_back({hook.pointer + "/function", missing_function(alias->binding, hook.function)});
      return std::nullopt;
    }
    BoundFunction bound;
    bound.name = hook.function;
    bound.js = js->second.function;
    bound.js_binding = alias->binding;
    bound.js_timeout = js->second.timeout;
    return bound;
  }
  auto instance = worker(alias->binding);
  if (!instance) {
    if (config.find_worker(alias->binding) == nullptr) {
      errors.push_back({hook.pointer + "/binding",
                        "binding " + in_quotes(alias->binding) + " is not declared in workers"});
    }
    return std::nullopt;  // a declared worker that failed to load was reported already
  }
  auto bound = bind_function(instance, hook.function);
  if (!bound) errors.push_back({hook.pointer + "/function", missing_function(alias->binding, hook.function)});
  return bound;
}

std::unique_ptr<pipeline::Stage> WorkerRegistry::post_process_stage(
    const config::Config& config, const config::Route& route, const std::vector<config::HookRef>& hooks,
    std::vector<config::ConfigError>& errors) const {
  std::vector<BoundFunction> functions;
  bool ok = true;
  for (const config::HookRef& hook : hooks) {
    auto bound = resolve_hook(config, hook, errors);
    if (bound) {
      functions.push_back(std::move(*bound));
    } else {
      ok = false;
    }
  }
  if (!ok || functions.empty()) return nullptr;
  return std::make_unique<WorkerStage>(WorkerStage::Role::kPostProcess, WG_CALL_POST_PROCESS,
                                       std::move(functions), variables_json(config, route));
}

void WorkerRegistry::attach_js(const config::Config& cfg, const config::Environment& environment,
                               unsigned processes, bool isolate_failures,
                               std::vector<config::ConfigError>& errors) {
  std::vector<js::ScriptSpec> specs;
  std::vector<std::pair<bool, std::string>> owners;  // (service?, binding or alias)
  std::vector<std::chrono::milliseconds> timeouts;
  const auto& settings = cfg.gateway.js_workers;
  std::string esbuild;
  bool esbuild_looked = false;
  std::vector<bool> loaded;  // by script: its source was read (and bundled)
  auto add = [&](js::ScriptSpec spec, bool service, std::chrono::milliseconds timeout) {
    std::string ext = std::filesystem::path(spec.path).extension().string();
    if ((ext == ".ts" || ext == ".mts") && !esbuild_looked) {
      esbuild = js::find_tool(settings.esbuild, "esbuild");
      esbuild_looked = true;
    }
    std::string error = js::load_source(spec, esbuild);
    if (!error.empty()) errors.push_back({spec.pointer, error});
    loaded.push_back(error.empty());
    owners.emplace_back(service, spec.label);
    timeouts.push_back(timeout);
    specs.push_back(std::move(spec));
  };
  for (const config::WorkerEntry& entry : cfg.workers) {
    if (entry.script.empty()) continue;
    js::ScriptSpec spec;
    spec.label = entry.binding;
    spec.pointer = entry.pointer + "/script";
    spec.path = entry.script;
    spec.entrypoint = entry.entrypoint;
    spec.compatibility_date = entry.compatibility_date;
    std::set<std::string, std::less<>> seen;
    for (const std::string& name : entry.env) {
      if (!seen.insert(name).second) continue;
      if (auto value = environment.get(name)) spec.env.emplace_back(name, std::string(*value));
    }
    add(std::move(spec), false, entry.timeout);
  }
  std::set<std::string, std::less<>> used_services;
  for (const auto& route : cfg.paths)
    if (route.integration && route.integration->type == config::IntegrationType::kService)
      used_services.insert(route.integration->binding);
  for (std::size_t i = 0; i < cfg.services.size(); ++i) {
    const auto& service = cfg.services[i];
    if (!is_js_entrypoint(service.entrypoint) || !used_services.contains(service.alias)) continue;
    js::ScriptSpec spec;
    spec.label = service.alias;
    spec.pointer = "/services/" + std::to_string(i) + "/entrypoint";
    spec.path = resolve_entrypoint(cfg, service.entrypoint);
    spec.service = true;
    add(std::move(spec), true, std::chrono::milliseconds(5000));
  }
  if (specs.empty()) return;
  const bool all_loaded = std::all_of(loaded.begin(), loaded.end(), [](bool ok) { return ok; });

  // The scripts workerd runs: all of them (serve: one that does not load fails the config), or, when
  // isolating failures (validate), those that load, less each one workerd refuses (a syntax error, a
  // missing class) in turn, so that the others are still checked in the same run.
  std::vector<std::size_t> in_engine;  // index in `specs` of the engine's script i
  std::vector<std::optional<std::size_t>> engine_index(specs.size());
  std::shared_ptr<js::Engine> engine;
  bool failed = !all_loaded && !isolate_failures;
  auto context = std::make_shared<js::ContextData>();
  context->api_config = js::redacted_document(cfg.document, context->route_configs);
  if (!failed && processes > 0) {
    js::EngineSettings es;
    es.workerd = js::find_tool(settings.workerd, "workerd");
    es.processes = processes;
    es.heap_limit_mb = settings.heap_limit_mb;
    es.health_timeout = settings.health_timeout;
    es.startup_timeout = settings.startup_timeout;
    es.context = context;
    for (std::size_t i = 0; i < specs.size(); ++i)
      if (loaded[i]) in_engine.push_back(i);
    if (es.workerd.empty()) {
      std::string why = settings.workerd.empty()
                            ? "workerd is not installed (run scripts/install-deps.sh, or set "
                              "gateway.js_workers.workerd)"
                            : "workerd is not installed: gateway.js_workers.workerd \"" + settings.workerd +
                                  "\" is not an executable file";
      if (isolate_failures) why += "; validate starts it to check that the JavaScript workers load";
      errors.push_back({specs.front().pointer, why});
      failed = true;
    } else {
      while (!in_engine.empty()) {
        std::vector<js::ScriptSpec> scripts;
        for (std::size_t i : in_engine)
          scripts.push_back(specs[i]);
        std::optional<std::size_t> culprit;
        engine = js::Engine::start(es, std::move(scripts), errors, &culprit);
        if (engine || !isolate_failures || !culprit) break;
        in_engine.erase(in_engine.begin() + static_cast<std::ptrdiff_t>(*culprit));
      }
      failed = !engine;
    }
    if (engine)
      for (std::size_t e = 0; e < in_engine.size(); ++e)
        engine_index[in_engine[e]] = e;
  }
  engine_ = engine;

  for (std::size_t i = 0; i < owners.size(); ++i) {
    JsBinding binding;
    binding.timeout = timeouts[i];
    const bool usable = processes == 0 ? !failed : engine && engine_index[i].has_value();
    if (usable) {
      auto fn = std::make_shared<js::JsFunction>();
      fn->engine = engine;
      fn->script = engine_index[i].value_or(i);
      fn->env_json = js::env_json(specs[i].env);
      fn->context = context;
      if (engine) {
        std::string error;
        binding.methods = engine->describe(fn->script, error);
        if (!binding.methods) {
          errors.push_back({specs[i].pointer, error});
          fn = nullptr;
        } else if (owners[i].first && std::find(binding.methods->begin(), binding.methods->end(), "fetch") ==
                                          binding.methods->end()) {
          errors.push_back({specs[i].pointer, "the default export class has no method \"fetch\""});
          fn = nullptr;
        }
      }
      binding.function = std::move(fn);
    }
    (owners[i].first ? js_services_ : js_workers_).emplace(owners[i].second, std::move(binding));
  }
}

void check_js_workers(const config::Config& cfg, const config::Environment& environment,
                      std::vector<config::ConfigError>& errors) {
  WorkerRegistry registry;
  registry.attach_js(cfg, environment, /*processes=*/1, /*isolate_failures=*/true, errors);
  if (!registry.engine_) return;  // no JavaScript worker, or workerd did not start (reported)
  // The functions the routes call, as attach_worker_stages resolves them (the same errors).
  auto check = [&](const config::HookRef& hook) {
    const config::ServiceBindingEntry* alias = cfg.find_service_binding(hook.binding);
    if (alias == nullptr || !registry.js_workers_.contains(alias->binding)) return;  // not JavaScript
    registry.resolve_hook(cfg, hook, errors);
  };
  for (std::size_t i = 0; i < cfg.paths.size(); ++i) {
    const config::Route& route = cfg.paths[i];
    const std::string ptr = "/paths/" + std::to_string(i);
    if (route.integration && route.integration->type == config::IntegrationType::kServiceBinding)
      check({route.integration->binding, route.integration->function, ptr + "/integration"});
    if (route.pre_process) check(*route.pre_process);
    if (route.integration && route.integration->post_process) check(*route.integration->post_process);
    if (route.post_process) check(*route.post_process);
  }
  // The registry (and so the engine) goes here: the reaper thread stops workerd (workgate waits for it
  // before it exits).
}

std::shared_ptr<WorkerRegistry> attach_worker_stages(pipeline::Snapshot& snapshot,
                                                     const config::Environment& environment,
                                                     bool load_modules,
                                                     std::vector<config::ConfigError>& errors) {
  auto registry = std::make_shared<WorkerRegistry>();
  const config::Config& cfg = snapshot.config;
  ModuleCache modules;

  // JavaScript workers: the `workers` entries with a script and the `services` whose entrypoint is a
  // JavaScript module, all in one workerd config (started once, with every route's check below).
  // Without load_modules (validate's build, routes) workerd is not started: check_js_workers does that.
  unsigned processes = 0;
  if (load_modules) {
    processes = cfg.gateway.js_workers.processes != 0 ? cfg.gateway.js_workers.processes : g_js_shards.load();
  }
  registry->attach_js(cfg, environment, processes, /*isolate_failures=*/false, errors);

  for (const config::WorkerEntry& entry : cfg.workers) {
    if (!entry.script.empty()) continue;
    std::string error;
    auto module = modules.open(entry.module, error);
    if (!module) {
      errors.push_back({entry.pointer + "/module", error});
      continue;
    }
    WorkerInstance::Options options;
    options.binding = entry.binding;
    std::set<std::string, std::less<>> seen;
    for (const std::string& name : entry.env) {
      if (!seen.insert(name).second) continue;
      if (auto value = environment.get(name)) options.env.emplace_back(name, std::string(*value));
    }
    options.config_json = boost::json::serialize(entry.config);
    options.timeout = entry.timeout;
    options.initialise = load_modules;
    auto instance = WorkerInstance::create(module, std::move(options), error);
    if (!instance) {
      errors.push_back(
          {entry.pointer, "worker " + in_quotes(entry.binding) + " failed to initialise: " + error});
      continue;
    }
    registry->workers_.emplace(entry.binding, std::move(instance));
  }

  // A `service` integration's module, loaded once per alias; null when it failed (reported once).
  std::set<std::string, std::less<>> failed_services;
  auto service_fetch = [&](std::string_view alias) -> std::optional<BoundFunction> {
    if (failed_services.contains(alias)) return std::nullopt;
    if (auto js = registry->js_services_.find(alias); js != registry->js_services_.end()) {
      if (!js->second.function) return std::nullopt;
      BoundFunction bound;
      bound.name = "fetch";
      bound.js = js->second.function;
      bound.js_binding = std::string(alias);
      bound.js_timeout = js->second.timeout;
      return bound;
    }
    std::shared_ptr<WorkerInstance> instance;
    if (auto it = registry->services_.find(alias); it != registry->services_.end()) {
      instance = it->second;
    } else {
      std::size_t index = 0;
      while (index < cfg.services.size() && cfg.services[index].alias != alias)
        ++index;
      if (index == cfg.services.size()) return std::nullopt;  // validated by the loader
      std::string pointer = "/services/" + std::to_string(index) + "/entrypoint";
      std::string path = resolve_entrypoint(cfg, cfg.services[index].entrypoint);
      std::string error;
      auto module = modules.open(path, error);
      if (module && module->find("fetch") == nullptr) {
        error = "module " + in_quotes(path) + " has no function \"fetch\"";
        module = nullptr;
      }
      if (module) {
        WorkerInstance::Options options;
        options.binding = std::string(alias);
        options.initialise = load_modules;
        instance = WorkerInstance::create(module, std::move(options), error);
        if (!instance) error = "service " + in_quotes(alias) + " failed to initialise: " + error;
      }
      if (!instance) {
        errors.push_back({pointer, error});
        failed_services.emplace(alias);
        return std::nullopt;
      }
      registry->services_.emplace(std::string(alias), instance);
    }
    return bind_function(instance, "fetch");
  };

  if (snapshot.routes.size() < cfg.paths.size()) snapshot.routes.resize(cfg.paths.size());
  for (std::size_t i = 0; i < cfg.paths.size(); ++i) {
    const config::Route& route = cfg.paths[i];
    pipeline::CompiledRoute& compiled = snapshot.routes[i];
    if (compiled.config == nullptr) compiled.config = &route;
    std::string ptr = "/paths/" + std::to_string(i);
    std::string vars;
    auto route_vars = [&]() -> const std::string& {
      if (vars.empty()) vars = variables_json(cfg, route);
      return vars;
    };

    if (route.integration) {
      const config::Integration& in = *route.integration;
      if (in.type == config::IntegrationType::kServiceBinding) {
        config::HookRef ref{in.binding, in.function, ptr + "/integration"};
        if (auto bound = registry->resolve_hook(cfg, ref, errors)) {
          compiled.integration =
              std::make_unique<WorkerStage>(WorkerStage::Role::kIntegration, WG_CALL_SERVICE_BINDING,
                                            std::vector<BoundFunction>{std::move(*bound)}, route_vars());
        }
      } else if (in.type == config::IntegrationType::kService) {
        if (auto bound = service_fetch(in.binding)) {
          compiled.integration =
              std::make_unique<WorkerStage>(WorkerStage::Role::kIntegration, WG_CALL_SERVICE,
                                            std::vector<BoundFunction>{std::move(*bound)}, route_vars());
        }
      }
    }
    if (route.pre_process) {
      if (auto bound = registry->resolve_hook(cfg, *route.pre_process, errors)) {
        compiled.pre_process =
            std::make_unique<WorkerStage>(WorkerStage::Role::kPreProcess, WG_CALL_PRE_PROCESS,
                                          std::vector<BoundFunction>{std::move(*bound)}, route_vars());
      }
    }
    std::vector<config::HookRef> post;
    if (route.integration && route.integration->post_process)
      post.push_back(*route.integration->post_process);
    if (route.post_process) post.push_back(*route.post_process);
    if (!post.empty()) {
      if (auto stage = registry->post_process_stage(cfg, route, post, errors))
        compiled.post_process = std::move(stage);
    }
  }

  snapshot.keep_alive.push_back(registry);
  return registry;
}

}  // namespace workgate::workers
