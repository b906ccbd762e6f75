// workgate worker SDK: Init, what a worker class's constructor receives once per binding. Part of
// <workgate/worker.hpp>.
#ifndef WORKGATE_WORKER_INIT_HPP
#define WORKGATE_WORKER_INIT_HPP

#include <workgate/worker.h>

#include <cstdint>
#include <string_view>
#include <workgate/worker/kinds.hpp>
#include <workgate/worker/string.hpp>
#include <workgate/worker/views.hpp>

namespace workgate {

class Init {
 public:
  explicit Init(const wg_init* i) : i_(i) {}
  std::string_view binding() const { return to_view(i_->binding); }
  // The declaration's `config` as JSON text ("null" when absent).
  std::string_view config_json() const { return to_view(i_->config_json); }
  Env env() const { return Env(i_->env, i_->env_count); }
  std::string_view module_path() const { return to_view(i_->module_path); }
  const wg_host* host() const { return i_->host; }
  void log(LogLevel level, std::string_view message) const {
    i_->host->log(static_cast<std::int32_t>(level), to_wg(message));
  }

 private:
  const wg_init* i_;
};

}  // namespace workgate

#endif  // WORKGATE_WORKER_INIT_HPP
