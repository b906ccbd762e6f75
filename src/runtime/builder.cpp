#include "runtime/builder.hpp"

#include <boost/json/serialize.hpp>

#include "common/js_json.hpp"
#include "http/tls_context.hpp"
#include "integrations/auth0.hpp"
#include "integrations/http_proxy.hpp"
#include "integrations/supabase.hpp"
#include "pipeline/request_context.hpp"
#include "ratelimit/key.hpp"
#include "ratelimit/limiter.hpp"
#include "runtime/authorizers.hpp"
#include "workers/attach.hpp"

namespace workgate::runtime {

namespace {

std::string identity_line() {
  return "X-Powered-By: workgate\r\n";
}

http::ConnectionLimits limits_from(const config::GatewaySettings& g) {
  http::ConnectionLimits limits;
  limits.max_header_bytes = g.max_header_bytes;
  limits.max_headers = g.max_headers;
  limits.max_body_bytes = g.max_body_bytes;
  limits.header_timeout = g.header_timeout;
  limits.body_timeout = g.body_timeout;
  limits.min_body_rate = g.min_body_rate;
  limits.idle_timeout = g.idle_timeout;
  limits.http2.max_concurrent_streams = g.http2.max_concurrent_streams;
  limits.http2.stream_window_bytes = g.http2.stream_window_bytes;
  limits.http2.connection_window_bytes = g.http2.connection_window_bytes;
  limits.http2.reset_burst = g.http2.reset_burst;
  limits.http2.resets_per_second = g.http2.resets_per_second;
  limits.http2.control_frame_burst = g.http2.control_frame_burst;
  limits.http2.control_frames_per_second = g.http2.control_frames_per_second;
  limits.http2.max_continuation_frames = g.http2.max_continuation_frames;
  limits.write_timeout = g.write_timeout;
  limits.handshake_timeout = g.tls_handshake_timeout;
  limits.tunnel_idle_timeout = g.websocket_idle_timeout;
  return limits;
}

// The certificates of every TLS listener, loaded and checked now: a config whose certificates do not load
// is refused (at startup and on reload), with the pointer of the entry.
void build_listener_tls(pipeline::Snapshot& snapshot, BuildResult& result) {
  const auto& listeners = snapshot.config.gateway.listeners;
  snapshot.listener_tls.assign(listeners.size(), nullptr);
  for (std::size_t i = 0; i < listeners.size(); ++i) {
    const config::ListenerEntry& listener = listeners[i];
    if (!listener.tls) continue;
    http::TlsServerOptions options;
    options.pointer = listener.pointer + "/tls";
    options.min_version = listener.tls->min_version == 13 ? TLS1_3_VERSION : TLS1_2_VERSION;
    // Server preference: h2 first when the listener speaks it.
    options.alpn =
        listener.http2 ? std::vector<std::string>{"h2", "http/1.1"} : std::vector<std::string>{"http/1.1"};
    for (std::size_t c = 0; c < listener.tls->certificates.size(); ++c) {
      const auto& cert = listener.tls->certificates[c];
      options.certificates.push_back(
          {cert.cert_file, cert.key_file, options.pointer + "/certificates/" + std::to_string(c)});
    }
    std::vector<http::TlsProblem> errors, warnings;
    snapshot.listener_tls[i] = http::TlsContext::create(options, errors, warnings);
    for (auto& e : errors)
      result.errors.push_back({std::move(e.pointer), std::move(e.message)});
    for (auto& w : warnings)
      result.warnings.push_back({std::move(w.pointer), std::move(w.message)});
  }
}

std::shared_ptr<const http::UpstreamTarget> make_target(const config::ServerEntry& server,
                                                        const BuildOptions& options,
                                                        const std::string& pointer,
                                                        std::vector<config::ConfigError>& errors,
                                                        const config::ServerTarget* member = nullptr) {
  std::vector<std::string> ca_files = options.ca_files;
  if (server.ca_file) ca_files.push_back(*server.ca_file);
  std::string host = member ? member->host : server.host;
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  std::string error;
  auto target =
      http::make_upstream_target(server.tls, host, member ? member->port : server.port, ca_files, error);
  if (!target) {
    errors.push_back({pointer, error});
    return nullptr;
  }
  target->connect_timeout = server.connect_timeout;
  target->timeout = server.timeout;
  target->idle_timeout = server.idle_timeout;
  target->max_connections = server.max_connections;
  // Pools are shared by targets with the same origin and the same settings (also across reloads).
  target->pool_key +=
      "|" + std::to_string(server.connect_timeout.count()) + "/" + std::to_string(server.timeout.count()) +
      "/" + std::to_string(server.idle_timeout.count()) + "/" + std::to_string(server.max_connections);
  return target;
}

// A server with `targets`: one UpstreamTarget (and so one pool per thread) per target, and the cluster's
// policies; null when a target cannot be built (the error is recorded).
std::shared_ptr<const http::Cluster> make_cluster(const config::ServerEntry& server,
                                                  const BuildOptions& options, const std::string& pointer,
                                                  std::vector<config::ConfigError>& errors) {
  std::vector<std::shared_ptr<const http::UpstreamTarget>> targets;
  std::vector<std::uint32_t> weights;
  for (std::size_t i = 0; i < server.targets.size(); ++i) {
    auto t =
        make_target(server, options, pointer + "/targets/" + std::to_string(i), errors, &server.targets[i]);
    if (!t) return nullptr;
    targets.push_back(std::move(t));
    weights.push_back(server.targets[i].weight);
  }
  auto cluster = std::make_shared<http::Cluster>(server.alias, std::move(targets), std::move(weights));
  switch (server.balance) {
    case config::BalancePolicy::kRoundRobin:
      cluster->balance = http::BalanceKind::kRoundRobin;
      break;
    case config::BalancePolicy::kLeastRequest:
      cluster->balance = http::BalanceKind::kLeastRequest;
      break;
    case config::BalancePolicy::kHash:
      cluster->balance = http::BalanceKind::kHash;
      break;
  }
  if (server.health_check) {
    const config::HealthCheck& hc = *server.health_check;
    cluster->health_check = http::HealthCheckPolicy{hc.path, hc.interval, hc.timeout, hc.healthy_threshold,
                                                    hc.unhealthy_threshold};
  }
  if (server.outlier) {
    const config::OutlierSettings& o = *server.outlier;
    cluster->outlier = http::OutlierPolicy{
        o.consecutive_connect_failures, o.consecutive_5xx, o.base_ejection, o.max_ejection,
        o.max_ejection_percent,         o.eject_last};
  }
  cluster->max_requests = server.max_requests;
  cluster->max_pending = server.max_pending;
  return cluster;
}

// balance "hash": the server's hash_key compiled for one route (the rate-limit key syntax: $route and
// route variables are the route's).
std::optional<integrations::HashKeyResolver> make_hash_key(const config::ServerEntry& server,
                                                           const config::Route& route,
                                                           const config::Config& cfg,
                                                           std::vector<config::ConfigError>& errors) {
  if (server.balance != config::BalancePolicy::kHash) return integrations::HashKeyResolver();
  std::string error;
  auto key = ratelimit::KeyTemplate::compile(server.hash_key, route, cfg, error);
  if (!key) {
    std::size_t index = static_cast<std::size_t>(&server - cfg.servers.data());
    errors.push_back({"/servers/" + std::to_string(index) + "/hash_key", error});
    return std::nullopt;
  }
  return integrations::HashKeyResolver(
      [key = std::move(*key)](const pipeline::RequestContext& exchange, std::string& out) {
        const integrations::ValueTemplate::Context request{exchange.request(), exchange.claims(),
                                                           exchange.match()};
        const ratelimit::KeyTemplate::Context context{request,
                                                      exchange.snapshot().config.gateway.trusted_proxies};
        key.resolve(context, out);
      });
}

}  // namespace

BuildResult build_snapshot(config::Config config, const BuildOptions& options) {
  BuildResult result;
  auto snapshot = std::make_shared<pipeline::Snapshot>();
  snapshot->config = std::move(config);
  const config::Config& cfg = snapshot->config;

  std::vector<router::RouteDefinition> definitions;
  definitions.reserve(cfg.paths.size());
  for (const auto& route : cfg.paths)
    definitions.push_back({route.method, route.path});
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
  if (const config::TracingSettings& t = cfg.gateway.tracing; t.enabled()) {
    auto target = std::make_shared<observability::ExportTarget>();
    target->host = t.host;
    target->port = t.port;
    target->path = t.path;
    target->service_name = t.service_name;
    target->service_version = WORKGATE_VERSION;
    snapshot->trace_target = std::move(target);
  }
  build_listener_tls(*snapshot, result);

  if (cfg.authorizer) {
    snapshot->verifier = make_verifier(*cfg.authorizer, options, *snapshot, result.errors, result.warnings);
  }

  std::vector<std::shared_ptr<const http::UpstreamTarget>> targets(cfg.servers.size());
  std::vector<std::shared_ptr<const http::Cluster>> clusters(cfg.servers.size());
  for (std::size_t i = 0; i < cfg.servers.size(); ++i) {
    std::string pointer = "/servers/" + std::to_string(i);
    if (cfg.servers[i].targets.empty()) {
      targets[i] = make_target(cfg.servers[i], options, pointer, result.errors);
    } else if ((clusters[i] = make_cluster(cfg.servers[i], options, pointer, result.errors))) {
      targets[i] = clusters[i]->member(0).target;
      snapshot->clusters.push_back(clusters[i]);
    }
  }

  ratelimit::RateLimitBuild rate_limits = ratelimit::prepare_rate_limits(cfg, options.connect, result.errors);
  snapshot->rate_limit_fail_open = rate_limits.fail_open_counters;

  snapshot->routes.resize(cfg.paths.size());
  for (std::size_t i = 0; i < cfg.paths.size(); ++i) {
    const config::Route& route = cfg.paths[i];
    pipeline::CompiledRoute& compiled = snapshot->routes[i];
    compiled.config = &route;
    compiled.rate_limit = ratelimit::make_rate_limit_stage(route, cfg, rate_limits, result.errors);
    if (route.response) compiled.static_body = js_json(*route.response);
    if (!route.integration) continue;
    std::string pointer = "/paths/" + std::to_string(i);
    switch (route.integration->type) {
      case config::IntegrationType::kHttpProxy: {
        const config::ServerEntry* server = cfg.find_server(route.integration->server);
        auto server_index = static_cast<std::size_t>(server - cfg.servers.data());
        auto target = targets[server_index];
        auto mapping = integrations::compile_mapping(route, cfg, pointer + "/mapping", result.errors);
        if (!target || !mapping) break;
        bool buffer_response = route.post_process.has_value() || route.integration->post_process.has_value();
        if (clusters[server_index]) {
          auto hash_key = make_hash_key(*server, route, cfg, result.errors);
          if (!hash_key) break;
          compiled.integration =
              integrations::make_balanced_http_proxy(clusters[server_index], std::move(*hash_key), *server,
                                                     route, std::move(*mapping), buffer_response);
          break;
        }
        compiled.integration = integrations::make_http_proxy(std::move(target), *server, route,
                                                             std::move(*mapping), buffer_response);
        break;
      }
      case config::IntegrationType::kService:
      case config::IntegrationType::kServiceBinding:
        break;  // attach_worker_stages
      case config::IntegrationType::kAuth0Callback:
      case config::IntegrationType::kAuth0Userinfo:
      case config::IntegrationType::kAuth0CallbackRedirect:
      case config::IntegrationType::kAuth0Refresh:
        compiled.integration = integrations::make_auth0_integration(route, cfg, snapshot->verifier.get(),
                                                                    options.ca_files, result.errors);
        break;
      case config::IntegrationType::kSupabasePasswordlessAuth:
      case config::IntegrationType::kSupabasePasswordlessVerify:
      case config::IntegrationType::kSupabasePasswordlessAuthAlt:
        compiled.integration = integrations::make_supabase_integration(
            route, *options.environment, options.ca_files, result.errors, result.warnings);
        break;
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
