// Stage "rate_limit": the route's rate-limit policies (src/ratelimit/limiter.cpp), after authentication so
// that keys can use the token's claims, and after preflight so that CORS preflights are not counted.
#include "pipeline/request_context.hpp"
#include "pipeline/stage_table.hpp"

namespace workgate::pipeline::stages {

Flow rate_limit(RequestContext& exchange) {
  const CompiledRoute& route = exchange.route();
  if (!route.rate_limit) return Flow::kContinue;
  return route.rate_limit->run(exchange);
}

}  // namespace workgate::pipeline::stages
