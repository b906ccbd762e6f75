#include "workers/module.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <cstring>

#include "workers/host.hpp"

namespace workgate::workers {

static_assert(WG_MODULE_SIZE_V1 <= sizeof(wg_module) && WG_CALL_SIZE_V1 <= sizeof(wg_call) &&
                  WG_HOST_SIZE_V1 <= sizeof(wg_host) && WG_INIT_SIZE_V1 <= sizeof(wg_init),
              "the first version of a worker struct is a prefix of its current version");

std::string read_descriptor(const wg_module* raw, void* out, std::size_t known) {
  std::memset(out, 0, known);
  if (raw == nullptr) return "its entry point returned no module descriptor";
  // abi_version and size are the first members of every version.
  if (raw->abi_version != WORKGATE_ABI_VERSION) {
    return "it was built for worker ABI version " + std::to_string(raw->abi_version) +
           ", this gateway supports version " + std::to_string(WORKGATE_ABI_VERSION) +
           " (rebuild the worker against this gateway's SDK)";
  }
  if (raw->size < WG_MODULE_SIZE_V1) {
    return "its module descriptor declares a size of " + std::to_string(raw->size) +
           " bytes, less than the " + std::to_string(WG_MODULE_SIZE_V1) +
           " of the first version of wg_module (not built with <workgate/worker.h>?)";
  }
  // Only what the module declares: members its (older) header did not have stay zero, i.e. absent; the
  // tail of a newer, larger descriptor is not read.
  std::memcpy(out, raw, std::min<std::size_t>(raw->size, known));
  return {};
}

std::string check_descriptor(const wg_module* raw, wg_module* out) {
  wg_module copy;
  wg_module* d = out != nullptr ? out : &copy;
  std::string problem = read_descriptor(raw, d, sizeof(wg_module));
  if (!problem.empty()) return problem;
  if (d->function_count > 0 && d->functions == nullptr) return "its function table is missing";
  if (d->function_count > kMaxFunctions) {
    return "its function table has " + std::to_string(d->function_count) + " entries (at most " +
           std::to_string(kMaxFunctions) + ")";
  }
  // Names are read with a bound: a name without its NUL within kMaxNameBytes is refused, not overrun.
  if (d->name != nullptr && strnlen(d->name, kMaxNameBytes + 1) > kMaxNameBytes) {
    return "its name is longer than " + std::to_string(kMaxNameBytes) + " bytes";
  }
  for (std::size_t i = 0; i < d->function_count; ++i) {
    if (d->functions[i].name == nullptr || d->functions[i].fn == nullptr) {
      return "entry " + std::to_string(i) + " of its function table is incomplete";
    }
    std::size_t len = strnlen(d->functions[i].name, kMaxNameBytes + 1);
    if (len == 0 || len > kMaxNameBytes) {
      return "entry " + std::to_string(i) + " of its function table has an empty name or one longer than " +
             std::to_string(kMaxNameBytes) + " bytes";
    }
  }
  return {};
}

std::shared_ptr<Module> Module::open(const std::string& path, std::string& error) {
  dlerror();
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
  if (handle == nullptr) {
    const char* why = dlerror();
    error = "cannot load worker module: " + std::string(why != nullptr ? why : "unknown dlopen error");
    return nullptr;
  }
  void* symbol = dlsym(handle, WORKGATE_ENTRY_SYMBOL);
  if (symbol == nullptr) {
    dlclose(handle);
    error = "\"" + path + "\" is not a workgate worker: it does not export " WORKGATE_ENTRY_SYMBOL;
    return nullptr;
  }
  wg_entry_fn entry;
  static_assert(sizeof(entry) == sizeof(symbol));
  std::memcpy(&entry, &symbol, sizeof(entry));
  wg_module descriptor;
  std::string problem = check_descriptor(entry(), &descriptor);
  if (!problem.empty()) {
    dlclose(handle);
    error = "cannot use worker module \"" + path + "\": " + problem;
    return nullptr;
  }
  return std::shared_ptr<Module>(new Module(handle, descriptor, path));
}

Module::~Module() {
  dlclose(handle_);
}

wg_function_fn Module::find(std::string_view name) const {
  for (std::size_t i = 0; i < descriptor_.function_count; ++i) {
    if (name == descriptor_.functions[i].name) return descriptor_.functions[i].fn;
  }
  return nullptr;
}

WorkerInstance::WorkerInstance(std::shared_ptr<Module> module, Options options)
    : module_(std::move(module)), options_(std::move(options)) {
  env_.reserve(options_.env.size());
  for (const auto& [name, value] : options_.env) {
    env_.push_back(wg_pair{{name.data(), name.size()}, {value.data(), value.size()}});
  }
}

std::shared_ptr<WorkerInstance> WorkerInstance::create(std::shared_ptr<Module> module, Options options,
                                                       std::string& error) {
  std::shared_ptr<WorkerInstance> worker(new WorkerInstance(std::move(module), std::move(options)));
  const wg_module& d = worker->module_->descriptor();
  if (!worker->options_.initialise || d.init == nullptr) return worker;
  wg_init init{};
  init.size = sizeof(wg_init);
  init.host = &host_table();
  init.binding = {worker->options_.binding.data(), worker->options_.binding.size()};
  init.config_json = {worker->options_.config_json.data(), worker->options_.config_json.size()};
  init.env = worker->env_.data();
  init.env_count = worker->env_.size();
  init.module_path = {worker->module_->path().data(), worker->module_->path().size()};
  char message[1024] = {0};
  void* instance = nullptr;
  std::int32_t rc = WG_ERROR;
  try {
    rc = d.init(&init, &instance, message, sizeof(message));
  } catch (...) {
    std::strncpy(message, "init threw an exception", sizeof(message) - 1);
    rc = WG_ERROR;
  }
  if (rc != WG_OK) {
    message[sizeof(message) - 1] = '\0';
    error = message[0] != '\0' ? message : "init failed";
    return nullptr;
  }
  worker->instance_ = instance;
  worker->initialised_ = true;
  return worker;
}

WorkerInstance::~WorkerInstance() {
  const wg_module& d = module_->descriptor();
  if (initialised_ && d.destroy != nullptr) d.destroy(instance_);
}

}  // namespace workgate::workers
