// Pipeline stages backed by worker functions.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "pipeline/request_context.hpp"
#include "pipeline/snapshot.hpp"
#include "workers/host.hpp"
#include "workers/module.hpp"

namespace workgate::workers {

class WorkerStage final : public pipeline::Stage {
 public:
  enum class Role { kIntegration, kPreProcess, kPostProcess };

  // `functions` run in order (post_process: the integration-level hook, then the route-level one).
  // `call_kind` is the WG_CALL_* the functions see; `variables_json` the route's variables over the
  // global ones.
  WorkerStage(Role role, std::uint32_t call_kind, std::vector<BoundFunction> functions,
              std::string variables_json);

  pipeline::Flow run(pipeline::RequestContext& exchange) override;
  // A JavaScript integration streams the request body to workerd (native workers take it whole).
  bool streams_request_body() const override;

  Role role() const { return role_; }
  const std::vector<BoundFunction>& functions() const { return functions_; }

 private:
  pipeline::Flow run_from(pipeline::RequestContext& exchange, std::size_t index);
  // `started`: when the call began (its duration is counted in the thread's metrics, when on).
  pipeline::Flow apply(pipeline::RequestContext& exchange, std::size_t index, Outcome outcome,
                       std::chrono::steady_clock::time_point started);
  pipeline::Flow run_js(pipeline::RequestContext& exchange, std::size_t index, const CallInput& call,
                        std::chrono::steady_clock::time_point started);
  pipeline::Flow fail(pipeline::RequestContext& exchange, std::size_t index, std::string_view message);

  Role role_;
  std::uint32_t call_kind_;
  std::vector<BoundFunction> functions_;
  std::string variables_json_;
};

}  // namespace workgate::workers
