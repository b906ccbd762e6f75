// Worker modules (dlopen'ed shared objects) and the instances the config's bindings create from them.
#pragma once

#include <workgate/worker.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace workgate::workers {

// An opened module whose descriptor passed the ABI check. Modules are opened with RTLD_NODELETE: their
// code stays mapped for the life of the process, so a late completion from a worker thread never runs
// unmapped code. The gateway keeps its own copy of the descriptor, read within the size the module
// declares (see read_descriptor).
class Module {
 public:
  // Opens `path`; on failure returns null and sets `error` (dlerror text, missing entry point, ABI mismatch).
  static std::shared_ptr<Module> open(const std::string& path, std::string& error);

  ~Module();
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  const std::string& path() const { return path_; }
  // The module's descriptor as this gateway's wg_module: members the module's header did not have are
  // zero (absent).
  const wg_module& descriptor() const { return descriptor_; }
  // The function exported under `name`, null when there is none.
  wg_function_fn find(std::string_view name) const;

 private:
  Module(void* handle, const wg_module& descriptor, std::string path)
      : handle_(handle), descriptor_(descriptor), path_(std::move(path)) {}
  void* handle_;
  wg_module descriptor_;
  std::string path_;
};

// Bounds on what a module descriptor may hold.
inline constexpr std::size_t kMaxFunctions = 4096;
inline constexpr std::size_t kMaxNameBytes = 256;  // module and function names, NUL not included

// Reads the descriptor a module's entry point returned ("structs only grow"): checks its ABI version and
// that its `size` covers at least the first version of wg_module (WG_MODULE_SIZE_V1), then copies its
// first `size` bytes, at most `known`, into `out` (`known` bytes, zeroed first). Members that the
// module's older header did not have are left zero: absent. Nothing beyond the declared size is read,
// and nothing beyond `known` of a module built against a newer, larger header. Returns "" or why the
// descriptor cannot be used. The gateway passes sizeof(wg_module); tests pass a larger descriptor to
// play a newer gateway.
std::string read_descriptor(const wg_module* raw, void* out, std::size_t known);

// read_descriptor() into `out` (when given), then checks what the descriptor holds (function table,
// names); returns "" when the gateway can use it.
std::string check_descriptor(const wg_module* raw, wg_module* out = nullptr);

// One binding (a `workers` entry, or a `services` alias) of a module: the instance its init created, the
// environment variables it may see and its config.
class WorkerInstance {
 public:
  struct Options {
    std::string binding;
    std::vector<std::pair<std::string, std::string>> env;  // declared variables that are set, in order
    std::string config_json = "null";
    std::chrono::milliseconds timeout{5000};
    bool initialise = true;  // false for `workgate validate`
  };

  // Null and `error` set when the module's init fails.
  static std::shared_ptr<WorkerInstance> create(std::shared_ptr<Module> module, Options options,
                                                std::string& error);

  ~WorkerInstance();
  WorkerInstance(const WorkerInstance&) = delete;
  WorkerInstance& operator=(const WorkerInstance&) = delete;

  const std::string& binding() const { return options_.binding; }
  const Module& module() const { return *module_; }
  void* instance() const { return instance_; }
  const std::vector<wg_pair>& env() const { return env_; }
  const std::string& config_json() const { return options_.config_json; }
  std::chrono::milliseconds timeout() const { return options_.timeout; }

 private:
  WorkerInstance(std::shared_ptr<Module> module, Options options);

  std::shared_ptr<Module> module_;
  Options options_;
  std::vector<wg_pair> env_;  // views into options_.env
  void* instance_ = nullptr;
  bool initialised_ = false;
};

namespace js {
struct JsFunction;
}

// A function of one binding, resolved at config load: a native module's function (`worker`, `fn`), or
// a JavaScript function run by workerd (`js`, with the binding's name and timeout).
struct BoundFunction {
  std::shared_ptr<WorkerInstance> worker;
  std::string name;
  wg_function_fn fn = nullptr;
  std::shared_ptr<const js::JsFunction> js = nullptr;
  std::string js_binding = {};
  std::chrono::milliseconds js_timeout{5000};

  const std::string& binding() const { return worker ? worker->binding() : js_binding; }
  std::chrono::milliseconds timeout() const { return worker ? worker->timeout() : js_timeout; }
};

}  // namespace workgate::workers
