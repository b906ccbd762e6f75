// Stage "route": the route was matched once when the exchange began (GatewayHandler::begin, through
// Router::match in src/router/router.cpp); a request no route matches is answered 404 here, after the CORS
// preflight and before authentication.
#include "pipeline/errors.hpp"
#include "pipeline/request_context.hpp"
#include "pipeline/stage_table.hpp"

namespace workgate::pipeline::stages {

Flow route(RequestContext& exchange) {
  if (exchange.has_route()) return Flow::kContinue;
  exchange.response = error_response(ErrorKind::kNoMatch);
  return Flow::kRespond;
}

}  // namespace workgate::pipeline::stages
