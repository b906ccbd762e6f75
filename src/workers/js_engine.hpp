// JavaScript workers on Cloudflare's workerd: the processes workgate starts, configures and supervises.
//
// One Engine per config load that declares JavaScript workers. It writes workerd's Cap'n Proto config
// and the modules into a private runtime directory (mode 0700), starts `processes` workerd processes
// (each holding every JavaScript worker, so one JS worker calling another's binding stays inside workerd),
// each listening on one Unix socket per worker, and waits until every process answers its health socket
// before start() returns (so the gateway is ready only once workerd is). A supervisor thread then reaps
// and restarts crashed processes with backoff, probes each process's health socket every second (and at
// once when a shard reports a call timeout) and kills and restarts a process that does not answer within
// health_timeout (a worker stuck in an infinite loop blocks its whole process). It forwards what workerd
// prints (console.log of the workers) to the gateway log. Processes are started with PR_SET_PDEATHSIG, so
// they never outlive the gateway. When the last reference to an engine goes (a reload replaced it), the
// thread dropping it only queues it: the process-wide reaper thread (reaper.hpp) runs ~Engine, which stops
// the supervisor, kills and waits for the processes and removes the runtime directory.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "config/config.hpp"

namespace workgate::workers::js {

// The bridge entry worker (workers/js/bridge.js), embedded at build time.
extern const char* const kBridgeJs;

inline constexpr std::string_view kDefaultCompatibilityDate = "2025-09-01";

// What every call of one config load shares: the config document with its secrets removed (ctxJson's
// apiConfig) and each route's entry of it (ctxJson's matchedPath.config). Written once into the runtime
// directory as the module wg-context.js, so that calls carry only what differs per request.
struct ContextData {
  std::string api_config = "{}";
  std::vector<std::string> route_configs;
};

// The JSON object of a worker's declared variables (its envJson argument).
std::string env_json(const std::vector<std::pair<std::string, std::string>>& env);

// One workerd service: a `workers` binding or a `services` alias backed by a JavaScript module.
struct ScriptSpec {
  std::string label;       // the binding or the service alias (logs)
  std::string pointer;     // JSON pointer of the script in the config (errors)
  std::string path;        // the script file
  std::string source;      // the module text (bundled for TypeScript)
  std::string entrypoint;  // class to call; "" = the default export
  bool service = false;    // a `services` entry: default export class with fetch(request, env, ctx)
  std::string compatibility_date;
  std::vector<std::pair<std::string, std::string>> env;  // declared variables that are set (text bindings)
};

struct EngineSettings {
  std::string workerd;  // binary
  unsigned processes = 1;
  std::size_t heap_limit_mb = 0;
  std::chrono::milliseconds health_timeout{1000};
  std::chrono::milliseconds startup_timeout{30000};
  std::shared_ptr<const ContextData> context;  // null: an empty apiConfig and no route configs
};

// Finds a tool: `configured` if given, else the project's npm install (third_party/npm), else PATH.
// "" when not found.
std::string find_tool(const std::string& configured, std::string_view name);

// Reads `spec.path` into spec.source, bundling TypeScript with esbuild. Returns "" or the error (esbuild's
// message with the file and line).
std::string load_source(ScriptSpec& spec, const std::string& esbuild);

// The workerd config (Cap'n Proto text) of process `index` (exposed for tests).
std::string capnp_config(const std::vector<ScriptSpec>& scripts, const std::string& dir, unsigned index,
                         std::size_t heap_limit_mb);

// The kind of value the bridge answered, from its status line's reason phrase ("wg-<kind>", see
// workers/js/bridge.js); empty for an answer that is not the bridge's (workerd's own errors).
inline std::string_view bridge_result(std::string_view reason) {
  return reason.starts_with("wg-") ? reason.substr(3) : std::string_view();
}

// The answer of a blocking call to a bridge (start-up checks and health probes, never on a shard).
struct BlockingAnswer {
  int status = 0;
  std::string result;  // bridge_result()
  std::string body;
};
// `stop`, when given and set, ends the wait early (the supervisor stopping: ~Engine waits no longer than a
// slice of 20 ms for a probe in progress).
std::optional<BlockingAnswer> blocking_call(const std::string& socket_path, const std::string& body,
                                            std::chrono::milliseconds timeout,
                                            const std::atomic<bool>* stop = nullptr);

class Engine {
 public:
  // Starts the processes and waits until they are ready (or fail: `errors` then says why, and null).
  // The engine returned is destroyed on the reaper thread (Reaper::process()). `failed_script`, when
  // given, receives the index of the script workerd's error names (a module that does not load, a class
  // it does not export), if it names one.
  static std::shared_ptr<Engine> start(EngineSettings settings, std::vector<ScriptSpec> scripts,
                                       std::vector<config::ConfigError>& errors,
                                       std::optional<std::size_t>* failed_script = nullptr);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  unsigned processes() const { return settings_.processes; }
  unsigned process_of(unsigned shard) const { return shard % settings_.processes; }
  // The socket of script `script` in process `process`.
  const std::string& socket(unsigned process, std::size_t script) const {
    return sockets_[process * scripts_.size() + script];
  }
  // Bumped every time process `process` is restarted (pooled connections of an older generation are
  // dropped). Thread-safe.
  std::uint64_t generation(unsigned process) const {
    return states_[process]->generation.load(std::memory_order_acquire);
  }
  // A call to `process` timed out: probe it now (thread-safe, never blocks).
  void report_timeout(unsigned process);
  // Restarts so far (all processes), for tests and metrics.
  std::uint64_t restarts() const { return restarts_.load(std::memory_order_relaxed); }
  // The methods the class of `script` defines, asked of the bridge in process 0 (at load).
  std::optional<std::vector<std::string>> describe(std::size_t script, std::string& error) const;
  const std::vector<ScriptSpec>& scripts() const { return scripts_; }
  const std::string& directory() const { return dir_; }

 private:
  struct Process {
    int pid = 0;
    enum class State { kDown, kStarting, kUp } state = State::kDown;
    std::chrono::steady_clock::time_point restart_at{};
    std::chrono::steady_clock::time_point started{};
    std::chrono::steady_clock::time_point last_probe{};
    std::chrono::milliseconds backoff{100};
    std::atomic<std::uint64_t> generation{1};
    std::atomic<bool> suspect{false};
    std::string log_path;
    std::uint64_t log_offset = 0;
    std::string config_path;
  };

  Engine(EngineSettings settings, std::vector<ScriptSpec> scripts);
  bool prepare(std::vector<config::ConfigError>& errors);
  bool spawn(unsigned index);
  void kill_process(unsigned index, const char* why);
  void supervise();
  void forward_log(Process& p, unsigned index);
  std::string startup_failure(unsigned index) const;

  EngineSettings settings_;
  std::vector<ScriptSpec> scripts_;
  std::string dir_;
  std::vector<std::string> sockets_;
  std::vector<std::unique_ptr<Process>> states_;
  std::vector<std::string> health_sockets_;
  std::atomic<std::uint64_t> restarts_{0};

  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::atomic<bool> stopping_{false};  // stop_, readable without the mutex (probes in progress)
  // Start-up: the supervisor reports when every process is up, or the first failure.
  bool start_done_ = false;
  std::string start_error_;
  std::thread thread_;
};

}  // namespace workgate::workers::js
