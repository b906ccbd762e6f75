#include "pipeline/pipeline.hpp"

#include <ctime>

#include "pipeline/errors.hpp"
#include "pipeline/handler.hpp"

namespace workgate::pipeline {
namespace {

StageId next(StageId stage) {
  switch (stage) {
    case StageId::kPreflight:
      return StageId::kRoute;
    case StageId::kRoute:
      return StageId::kAuthenticate;
    case StageId::kAuthenticate:
      return StageId::kPreProcess;
    case StageId::kPreProcess:
      return StageId::kIntegrate;
    case StageId::kIntegrate:
      return StageId::kPostProcess;
    case StageId::kPostProcess:
    case StageId::kRespond:
      return StageId::kRespond;
  }
  return StageId::kRespond;
}

}  // namespace

void GatewayExchange::resume(Flow flow) {
  stage_ = flow == Flow::kRespond ? StageId::kRespond : next(stage_);
  Pipeline::run(*this);
}

bool GatewayExchange::replace_path(std::string path) {
  const router::Router& router = snapshot().router;
  const std::string& method = request().method;
  auto same_route = [&](std::string_view p, router::RouteMatch& m) {
    bool found = router.match(method, p, m);
    if (!found && method == "HEAD") found = router.match("GET", p, m);
    return found && m.route == match_.route;
  };
  router::RouteMatch probe;
  if (route_ == nullptr || !same_route(path, probe)) return false;
  request().path = std::move(path);
  same_route(request().path, match_);  // params and wildcard_tail now view the new path
  return true;
}

void Pipeline::run_head_stages(GatewayExchange& exchange) {
  while (exchange.stage_ == StageId::kPreflight || exchange.stage_ == StageId::kRoute ||
         exchange.stage_ == StageId::kAuthenticate) {
    Flow flow = exchange.stage_ == StageId::kPreflight ? preflight(exchange)
                : exchange.stage_ == StageId::kRoute   ? route(exchange)
                                                       : authenticate(exchange);
    if (flow == Flow::kRespond) {
      exchange.stage_ = StageId::kRespond;
      exchange.handler().send(exchange);
      return;
    }
    exchange.stage_ = next(exchange.stage_);
  }
}

void Pipeline::run(GatewayExchange& exchange) {
  while (true) {
    Flow flow = Flow::kContinue;
    switch (exchange.stage_) {
      case StageId::kPreflight:
        flow = preflight(exchange);
        break;
      case StageId::kRoute:
        flow = route(exchange);
        break;
      case StageId::kAuthenticate:
        flow = authenticate(exchange);
        break;
      case StageId::kPreProcess:
        flow = pre_process(exchange);
        break;
      case StageId::kIntegrate:
        flow = integrate(exchange);
        break;
      case StageId::kPostProcess:
        flow = post_process(exchange);
        break;
      case StageId::kRespond:
        exchange.handler().send(exchange);
        return;
    }
    if (flow == Flow::kPending) return;
    exchange.stage_ = flow == Flow::kRespond ? StageId::kRespond : next(exchange.stage_);
  }
}

// With CORS configured, an OPTIONS request is a preflight answered here (before auth) unless an explicit
// OPTIONS route (not ANY) matches the path.
Flow Pipeline::preflight(GatewayExchange& exchange) {
  const Snapshot& snapshot = exchange.snapshot();
  const http::Request& request = exchange.request();
  if (!snapshot.cors || request.method != "OPTIONS") return Flow::kContinue;
  if (snapshot.router.match("OPTIONS", request.path, exchange.match_, /*allow_any=*/false))
    return Flow::kContinue;
  exchange.response.status = 204;
  return Flow::kRespond;
}

bool Pipeline::match_route(GatewayExchange& exchange) {
  if (exchange.route_ != nullptr) return true;
  const Snapshot& snapshot = exchange.snapshot();
  const http::Request& request = exchange.request();
  bool found = snapshot.router.match(request.method, request.path, exchange.match_);
  if (!found && request.method == "HEAD") found = snapshot.router.match("GET", request.path, exchange.match_);
  if (found) exchange.route_ = &snapshot.routes[exchange.match_.route];
  return found;
}

Flow Pipeline::route(GatewayExchange& exchange) {
  if (match_route(exchange)) return Flow::kContinue;
  exchange.response = error_response(ErrorKind::kNoMatch);
  return Flow::kRespond;
}

Flow Pipeline::authenticate(GatewayExchange& exchange) {
  if (!exchange.route().config->auth) return Flow::kContinue;
  const Snapshot& snapshot = exchange.snapshot();
  auto header = exchange.request().headers.get("Authorization");
  auto token = header ? auth::extract_bearer(*header) : std::nullopt;
  if (!token) {
    exchange.response = auth_error(auth::missing_token_failure());
    return Flow::kRespond;
  }
  auth::VerifyResult result = exchange.handler().verify_token(*snapshot.verifier, *token, std::time(nullptr));
  if (!result.ok()) {
    exchange.response =
        auth_error(result.failure.value_or(auth::AuthFailure{401, "JWT verification failed", "AUTH_ERROR"}));
    return Flow::kRespond;
  }
  exchange.claims_ = std::move(result.claims);
  return Flow::kContinue;
}

// Like the original, pre_process runs only on routes with an integration.
Flow Pipeline::pre_process(GatewayExchange& exchange) {
  const CompiledRoute& route = exchange.route();
  if (!route.pre_process || !route.integration) return Flow::kContinue;
  return route.pre_process->run(exchange);
}

Flow Pipeline::integrate(GatewayExchange& exchange) {
  const CompiledRoute& route = exchange.route();
  if (route.integration) return route.integration->run(exchange);
  exchange.response.status = 200;
  exchange.response.content_type = kJsonContentType;
  exchange.response.set_external_body(route.static_body);
  return Flow::kContinue;
}

Flow Pipeline::post_process(GatewayExchange& exchange) {
  const CompiledRoute& route = exchange.route();
  if (!route.post_process) return Flow::kContinue;
  return route.post_process->run(exchange);
}

}  // namespace workgate::pipeline
