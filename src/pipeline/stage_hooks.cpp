// Stages "pre_process" and "post_process": the route's worker hooks (src/workers/stages.cpp), before and
// after the integration.
#include "pipeline/request_context.hpp"
#include "pipeline/stage_table.hpp"

namespace workgate::pipeline::stages {

// Like the original, pre_process runs only on routes with an integration.
Flow pre_process(RequestContext& exchange) {
  const CompiledRoute& route = exchange.route();
  if (!route.pre_process || !route.integration) return Flow::kContinue;
  return route.pre_process->run(exchange);
}

Flow post_process(RequestContext& exchange) {
  const CompiledRoute& route = exchange.route();
  if (!route.post_process) return Flow::kContinue;
  return route.post_process->run(exchange);
}

}  // namespace workgate::pipeline::stages
