#include "runtime/builder.hpp"

#include <boost/json/serialize.hpp>

#include "runtime/authorizers.hpp"
#include "workers/attach.hpp"

namespace workgate::runtime {

namespace {

std::string identity_line() { return "X-Powered-By: workgate\r\n"; }

http::ConnectionLimits limits_from(const config::GatewaySettings& g) {
  http::ConnectionLimits limits;
  limits.max_header_bytes = g.max_header_bytes;
  limits.max_headers = g.max_headers;
  limits.max_body_bytes = g.max_body_bytes;
  limits.header_timeout = g.header_timeout;
  limits.body_timeout = g.body_timeout;
  limits.idle_timeout = g.idle_timeout;
  limits.write_timeout = g.write_timeout;
  return limits;
}

}  // namespace

BuildResult build_snapshot(config::Config config, const BuildOptions& options) {
  BuildResult result;
  auto snapshot = std::make_shared<pipeline::Snapshot>();
  snapshot->config = std::move(config);
  const config::Config& cfg = snapshot->config;

  std::vector<router::RouteDefinition> definitions;
  definitions.reserve(cfg.paths.size());
  for (const auto& route : cfg.paths) definitions.push_back({route.method, route.path});
  std::vector<router::CompileError> route_errors;
  snapshot->router = router::Router::compile(definitions, route_errors);
  for (const auto& e : route_errors) {
    result.errors.push_back({"/paths/" + std::to_string(e.route) + "/path", e.message});
  }

  if (cfg.cors) {
    snapshot->cors.emplace(*cfg.cors);
    snapshot->fixed_lines = snapshot->cors->fixed_lines();
  }
  if (cfg.gateway.identity_header) snapshot->fixed_lines += identity_line();
  snapshot->limits = limits_from(cfg.gateway);

  if (cfg.authorizer) {
    snapshot->verifier = make_verifier(*cfg.authorizer, options, *snapshot, result.errors);
  }

  snapshot->routes.resize(cfg.paths.size());
  for (std::size_t i = 0; i < cfg.paths.size(); ++i) {
    const config::Route& route = cfg.paths[i];
    pipeline::CompiledRoute& compiled = snapshot->routes[i];
    compiled.config = &route;
    if (route.response) compiled.static_body = boost::json::serialize(*route.response);
    if (!route.integration) continue;
    switch (route.integration->type) {
      case config::IntegrationType::kService:
      case config::IntegrationType::kServiceBinding:
        break;  // attach_worker_stages
      default:
        result.errors.push_back({"/paths/" + std::to_string(i) + "/integration/type",
                                 "integration type \"" +
                                     std::string(config::integration_type_name(route.integration->type)) +
                                     "\" is not available in this build"});
    }
  }
  workers::attach_worker_stages(*snapshot, *options.environment, options.connect, result.errors);

  if (result.errors.empty()) result.snapshot = std::move(snapshot);
  return result;
}

}  // namespace workgate::runtime
