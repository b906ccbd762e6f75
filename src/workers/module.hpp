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
// unmapped code.
class Module {
 public:
  // Opens `path`; on failure returns null and sets `error` (dlerror text, missing entry point, ABI mismatch).
  static std::shared_ptr<Module> open(const std::string& path, std::string& error);

  ~Module();
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  const std::string& path() const { return path_; }
  const wg_module& descriptor() const { return *descriptor_; }
  // The function exported under `name`, null when there is none.
  wg_function_fn find(std::string_view name) const;

 private:
  Module(void* handle, const wg_module* descriptor, std::string path)
      : handle_(handle), descriptor_(descriptor), path_(std::move(path)) {}
  void* handle_;
  const wg_module* descriptor_;
  std::string path_;
};

// Bounds on what a module descriptor may hold.
inline constexpr std::size_t kMaxFunctions = 4096;
inline constexpr std::size_t kMaxNameBytes = 256;  // module and function names, NUL not included

// Checks a descriptor returned by a module's entry point; returns "" when the gateway can use it.
std::string check_descriptor(const wg_module* descriptor);

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

// A function of one binding, resolved at config load.
struct BoundFunction {
  std::shared_ptr<WorkerInstance> worker;
  std::string name;
  wg_function_fn fn = nullptr;
};

}  // namespace workgate::workers
