// Stage "preflight": with CORS configured, an OPTIONS request is a preflight answered here (204, before
// auth) unless an explicit OPTIONS route (not ANY) matches its path.
#include "pipeline/gateway_handler.hpp"
#include "pipeline/request_context.hpp"
#include "pipeline/stage_table.hpp"

namespace workgate::pipeline::stages {

Flow preflight(RequestContext& exchange) {
  const Snapshot& snapshot = exchange.snapshot();
  const http::Request& request = exchange.request();
  if (!snapshot.cors || request.method != "OPTIONS") return Flow::kContinue;
  // begin() matched the route: no route means no OPTIONS route either, and an explicit OPTIONS route that
  // won is one. Only when an ANY route won may an explicit OPTIONS route still match below it.
  if (exchange.has_route()) {
    if (exchange.route().config->method != "ANY") return Flow::kContinue;
    if (snapshot.router.match("OPTIONS", request.path, exchange.handler().scratch_match(),
                              /*allow_any=*/false))
      return Flow::kContinue;
  }
  exchange.response.status = 204;
  return Flow::kRespond;
}

}  // namespace workgate::pipeline::stages
