#include "pipeline/gateway_handler.hpp"

#include <charconv>

#include "pipeline/errors.hpp"
#include "pipeline/request_context.hpp"
#include "pipeline/stage_driver.hpp"

namespace workgate::pipeline {

void SnapshotSource::publish(std::shared_ptr<const Snapshot> snapshot) {
  std::lock_guard lock(mutex_);
  if (current_) retired_.push_back(std::move(current_));
  current_ = std::move(snapshot);
  generation_.fetch_add(1, std::memory_order_release);
}

std::size_t SnapshotSource::collect() {
  std::vector<std::shared_ptr<const Snapshot>> unused;
  std::size_t held = 0;
  {
    std::lock_guard lock(mutex_);
    // use_count() == 1: only this list holds it, and no new reference can appear (current_ moved on).
    for (auto& snapshot : retired_) {
      if (snapshot.use_count() == 1) {
        unused.push_back(std::move(snapshot));
      }
    }
    std::erase(retired_, nullptr);
    held = retired_.size();
  }
  unused.clear();  // the destructors run here, outside the lock, on the caller's (main) thread
  return held;
}

std::shared_ptr<const Snapshot> SnapshotSource::current() const {
  std::lock_guard lock(mutex_);
  return current_;
}

const std::string& RequestContext::request_id() {
  return request_id_;  // set by GatewayHandler::begin
}

bool RequestContext::replace_path(std::string path) {
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

void RequestContext::reset() {
  response.reset_for_reuse();
  response_lines.clear();
  route_ = nullptr;
  claims_.reset();
  walk_ = Walk();
  begun_ = false;
  request_id_.clear();
}

void RequestContext::recycle(http::Response&& written) {
  response = std::move(written);
  response.reset_for_reuse();
}

GatewayHandler::GatewayHandler(http::Shard& shard, SnapshotSource& source, const StageTable& table)
    : shard_(shard), source_(source), table_(table), upstream_(shard.io()) {
  current();
}

GatewayHandler::~GatewayHandler() = default;

const std::shared_ptr<const Snapshot>& GatewayHandler::current() {
  std::uint64_t generation = source_.generation();
  if (generation != generation_ || !snapshot_) {
    snapshot_ = source_.current();
    generation_ = generation;
    // Keep-alive connections between requests let go of the replaced snapshot now.
    shard_.for_each_idle_exchange([this](http::Exchange& base) {
      auto& exchange = static_cast<RequestContext&>(base);
      if (exchange.snapshot_ != snapshot_) exchange.snapshot_.reset();
    });
    if (metrics_) remap_metrics();
    for (const auto& cluster : snapshot_->clusters)
      upstream_.cluster_state(cluster);  // health checks start now, not on the first request
    if (snapshot_->config.gateway.access_log && !access_log_) {
      access_log_ = std::make_unique<observability::AccessLog>();
    } else if (!snapshot_->config.gateway.access_log && access_log_) {
      access_log_.reset();
    }
  }
  return snapshot_;
}

void GatewayHandler::enable_metrics(std::shared_ptr<metrics::ShardMetrics> metrics) {
  metrics_ = std::move(metrics);
  if (metrics_) remap_metrics();
}

void GatewayHandler::remap_metrics() {
  std::vector<metrics::RouteLabels> labels;
  labels.reserve(snapshot_->config.paths.size());
  for (const config::Route& route : snapshot_->config.paths) {
    metrics::RouteLabels& l = labels.emplace_back();
    l.pattern = route.path;
    if (route.integration && route.integration->type == config::IntegrationType::kHttpProxy)
      l.upstream_server = route.integration->server;
  }
  metrics_->remap(labels);
}

std::unique_ptr<http::Exchange> GatewayHandler::create_exchange() {
  return std::make_unique<RequestContext>(*this);
}

const http::ConnectionLimits& GatewayHandler::limits() {
  return current()->limits;
}

std::shared_ptr<const http::TlsContext> GatewayHandler::tls_context(std::size_t tls_index) {
  const auto& tls = current()->listener_tls;
  return tls_index < tls.size() ? tls[tls_index] : nullptr;
}

RequestContext& GatewayHandler::begin(http::Exchange& base) {
  auto& exchange = static_cast<RequestContext&>(base);
  if (exchange.begun_) return exchange;
  exchange.begun_ = true;
  exchange.started_ = std::chrono::steady_clock::now();
  // X-Request-Id: the client's when well-formed (observability/request_id.hpp), else a new one.
  auto client_id = exchange.request().headers.get("X-Request-Id");
  if (client_id && observability::valid_request_id(*client_id)) {
    exchange.request_id_.assign(*client_id);
  } else {
    request_ids_.next(exchange.request_id_);
  }
  const auto& snapshot = current();
  if (exchange.snapshot_ != snapshot) exchange.snapshot_ = snapshot;
  const http::Request& request = exchange.request();
  const router::Router& router = snapshot->router;
  bool found = router.match(request.method, request.path, exchange.match_);
  if (!found && request.method == "HEAD") found = router.match("GET", request.path, exchange.match_);
  if (found) exchange.route_ = &snapshot->routes[exchange.match_.route];
  return exchange;
}

// Large or chunked bodies of proxied routes stream to the upstream; everything else is read whole first
// (hooks and workers see the body, and small bodies can be replayed on a retry).
http::BodyMode GatewayHandler::body_mode(http::Exchange& base) {
  constexpr std::uint64_t kStreamAbove = 64 * 1024;
  RequestContext& exchange = begin(base);
  const http::Request& request = exchange.request();
  if (!request.chunked && request.content_length.value_or(0) <= kStreamAbove) return http::BodyMode::kBuffer;
  if (exchange.snapshot().cors && request.method == "OPTIONS") return http::BodyMode::kBuffer;  // a preflight
  if (!exchange.has_route()) return http::BodyMode::kBuffer;
  const CompiledRoute& route = exchange.route();
  bool proxied =
      route.config->integration && route.config->integration->type == config::IntegrationType::kHttpProxy;
  return proxied && !route.pre_process ? http::BodyMode::kStream : http::BodyMode::kBuffer;
}

// The head stages before a client sends its body: a 404 or 401 then costs no upload.
http::BodyWait GatewayHandler::before_body(http::Exchange& base) {
  return StageDriver::run_head(begin(base));
}

void GatewayHandler::handle(http::Exchange& base) {
  StageDriver::run(begin(base));
}

auth::VerifyResult GatewayHandler::verify_token(const auth::Verifier& verifier, std::string_view token,
                                                std::int64_t now) {
  if (!metrics_) return token_cache_.verify(verifier, token, now);
  const std::uint64_t hits = token_cache_.stats().hits;
  auth::VerifyResult result = token_cache_.verify(verifier, token, now);
  if (token_cache_.stats().hits != hits) metrics_->token_cache_hit();
  metrics_->auth(result.ok() ? metrics::AuthResult::kValid : metrics::AuthResult::kInvalid);
  return result;
}

void stages::respond(RequestContext& exchange) {
  exchange.handler().send(exchange);
}

void GatewayHandler::send(RequestContext& exchange) {
  http::Response& response = exchange.response;
  const Snapshot& snapshot = *exchange.snapshot_;
  if (snapshot.cors) snapshot.cors->apply(exchange.request().headers.get("Origin"), response);
  if (snapshot.config.gateway.identity_header && !response.headers.empty())
    response.headers.remove("X-Powered-By");
  // One per-exchange buffer (its capacity reused) carries what goes out as complete lines: the stages'
  // (rate-limit fields), X-Request-Id (cheaper than a header-list field; the request's id replaces one an
  // upstream or worker set) and the config's fixed lines. The connection copies it into the head before
  // respond() returns.
  if (!response.headers.empty()) response.headers.remove("X-Request-Id");
  exchange.response_lines.append("X-Request-Id: ").append(exchange.request_id()).append("\r\n");
  exchange.response_lines.append(snapshot.fixed_lines);
  response.fixed_lines = exchange.response_lines;
  exchange.respond(std::move(response));
}

http::Response GatewayHandler::protocol_error(http::ProtocolError error, http::Exchange& base) {
  RequestContext& exchange = begin(base);
  const Snapshot& snapshot = exchange.snapshot();
  http::Response response = error_response(error_kind(error));
  response.headers.set("X-Request-Id", exchange.request_id());
  if (snapshot.cors) snapshot.cors->apply(exchange.request().headers.get("Origin"), response);
  response.fixed_lines = snapshot.fixed_lines;
  return response;
}

void GatewayHandler::on_complete(http::Exchange& base, int status, std::size_t bytes) {
  auto& exchange = static_cast<RequestContext&>(base);
  if (metrics_) count(exchange, status, bytes);
  // The response is written: nothing of it views the snapshot any more. A replaced one is let go now; the
  // current one stays pinned (no reference count traffic per request) until a reload, when current()
  // releases it from every idle exchange.
  if (exchange.snapshot_ != snapshot_) exchange.snapshot_.reset();
  if (!access_log_) return;
  const http::Request& request = exchange.request();
  auto elapsed = std::chrono::steady_clock::now() - exchange.started_;
  double ms = std::chrono::duration<double, std::milli>(elapsed).count();
  access_log_->record(request.client_address, request.method, request.path, status, bytes, ms,
                      exchange.request_id());
}

metrics::UpstreamSeries* GatewayHandler::upstream_metrics(const RequestContext& exchange) {
  if (!metrics_ || exchange.route_ == nullptr || exchange.snapshot_ != snapshot_) return nullptr;
  return metrics_->upstream(exchange.match_.route);
}

void GatewayHandler::count(RequestContext& exchange, int status, std::size_t bytes) {
  const http::Request& request = exchange.request();
  metrics::RouteSeries* series = &metrics_->unmatched();
  if (exchange.route_ != nullptr) {
    if (exchange.snapshot_ == snapshot_) {
      series = &metrics_->route(exchange.match_.route);  // the index is the current snapshot's
    } else {
      // A request that began before this thread swapped snapshots: its index is the old snapshot's. Rare
      // (only requests in flight across a reload), so the series is looked up by its pattern.
      series = &metrics_->route_by_pattern(exchange.route_->config->path);
    }
  }
  auto elapsed = std::chrono::steady_clock::now() - exchange.started_;
  std::uint64_t request_bytes =
      request.body.empty() ? request.content_length.value_or(0) : request.body.size();
  series->count(
      metrics::method_of(request.method), status,
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count()),
      request_bytes, bytes);
}

void GatewayHandler::sample_gauges() {
  metrics_->set_connections(static_cast<std::int64_t>(shard_.connection_count()));
  pool_gauges_.clear();
  upstream_.for_each_pool([this](const http::UpstreamClient::PoolState& pool) {
    metrics::PoolGauges& g = pool_gauges_.emplace_back();
    const http::UpstreamTarget& t = *pool.target;
    g.upstream.assign(t.tls ? "https://" : "http://").append(t.authority);
    g.open = static_cast<std::int64_t>(pool.open);
    g.idle = static_cast<std::int64_t>(pool.idle);
    g.pending = static_cast<std::int64_t>(pool.waiting);
    g.retries = pool.replays;
  });
  metrics_->set_pools(pool_gauges_);
}

void GatewayHandler::on_tick() {
  if (metrics_) sample_gauges();
  current();  // lets go of a replaced snapshot within one tick, with or without traffic
  upstream_.tick();
  if (access_log_) access_log_->flush();
}

}  // namespace workgate::pipeline
