// Stage "integrate": the route's integration (src/integrations/http_proxy.cpp, auth0.cpp, supabase.cpp;
// service and service_binding in src/workers/stages.cpp), or its static response.
#include "pipeline/errors.hpp"
#include "pipeline/request_context.hpp"
#include "pipeline/stage_table.hpp"

namespace workgate::pipeline::stages {

Flow integrate(RequestContext& exchange) {
  const CompiledRoute& route = exchange.route();
  if (route.integration) return route.integration->run(exchange);
  exchange.response.status = 200;
  exchange.response.content_type = kJsonContentType;
  exchange.response.set_external_body(route.static_body);
  return Flow::kContinue;
}

}  // namespace workgate::pipeline::stages
