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
  upstream_outcome_ = UpstreamOutcome();
  error_code_ = {};
}

void RequestContext::release_memory() {
  http::Exchange::release_memory();
  response = http::Response();
  std::string().swap(response_lines);
  std::string().swap(request_id_);
  std::vector<router::PathParam>().swap(match_.params);
}

void RequestContext::recycle(http::Response&& written) {
  response = std::move(written);
  response.reset_for_reuse();
}

GatewayHandler::GatewayHandler(http::Shard& shard, SnapshotSource& source, const StageTable& table)
    : shard_(shard), source_(source), table_(table), upstream_(shard.io(), nullptr, &shard.slab()) {
  current();
}

GatewayHandler::~GatewayHandler() {
  spans_.flush(snapshot_ ? snapshot_->trace_target : nullptr);
}

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
  if (std::unique_ptr<http::Exchange> exchange = spare_exchanges_.take()) return exchange;
  return std::make_unique<RequestContext>(*this);
}

void GatewayHandler::return_exchange(std::unique_ptr<http::Exchange> exchange) {
  if (spare_exchanges_.full()) return;
  auto& context = static_cast<RequestContext&>(*exchange);
  context.release_memory();
  context.snapshot_.reset();  // a spare one pins no config
  spare_exchanges_.keep(exchange);
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
  begin_trace(exchange);
  const http::Request& request = exchange.request();
  const router::Router& router = snapshot->router;
  bool found = router.match(request.method, request.path, exchange.match_);
  if (!found && request.method == "HEAD") found = router.match("GET", request.path, exchange.match_);
  if (found) exchange.route_ = &snapshot->routes[exchange.match_.route];
  return exchange;
}

namespace {
std::uint64_t unix_now_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

// http.request.method: the known methods as they are, anything else "_OTHER" (semantic conventions).
std::string_view semconv_method(std::string_view method) {
  for (std::string_view m : {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"})
    if (method == m) return m;
  return "_OTHER";
}

std::string_view protocol_version(unsigned version) {
  switch (version) {
    case 10:
      return "1.0";
    case 20:
      return "2";
    default:
      return "1.1";
  }
}

std::string_view upstream_error_type(http::UpstreamError error) {
  switch (error) {
    case http::UpstreamError::kNone:
      return {};
    case http::UpstreamError::kTimeout:
      return "timeout";
    case http::UpstreamError::kUnavailable:
      return "unavailable";
    case http::UpstreamError::kBadResponse:
      return "bad_response";
    default:
      return "client_error";  // the client's streamed body failed or the client left
  }
}
}  // namespace

void GatewayHandler::begin_trace(RequestContext& exchange) {
  RequestTrace& trace = exchange.trace_;
  const http::HeaderList& headers = exchange.request().headers;
  observability::TraceParent parent;
  auto traceparent = headers.get("traceparent");
  trace.tracestate.clear();
  if (traceparent && observability::parse_traceparent(*traceparent, parent)) {
    trace.trace_id = parent.trace_id;
    trace.parent_id = parent.parent_id;
    trace.has_parent = true;
    trace.flags = parent.flags;
    // Several tracestate fields form one list (joined by commas); an invalid list is dropped whole.
    headers.for_each([&](const http::HeaderList::Field& f) {
      if (!http::iequals(f.name, "tracestate")) return;
      if (!trace.tracestate.empty()) trace.tracestate.push_back(',');
      trace.tracestate.append(f.value);
    });
    if (!observability::valid_tracestate(trace.tracestate)) trace.tracestate.clear();
  } else {
    trace_ids_.next(trace.trace_id);
    trace.has_parent = false;
    trace.flags = 0;
  }
  trace_ids_.next(trace.span_id);
  trace.recording = false;
  if (exchange.snapshot_->trace_target) {
    trace.recording = observability::sampled_by_ratio(
        trace.trace_id, exchange.snapshot_->config.gateway.tracing.sample_ratio);
    // Flags other than sampled are kept as received (version 00 defines no others; later ones may).
    trace.flags = trace.recording ? (trace.flags | 1) : (trace.flags & ~1);
    if (trace.recording) trace.start_unix_ns = unix_now_ns();
  }
}

UpstreamSpan GatewayHandler::propagate_trace(RequestContext& exchange, const http::UpstreamTarget& target,
                                             std::string_view server, std::string& head) {
  UpstreamSpan span;
  const RequestTrace& trace = exchange.trace_;
  trace_ids_.next(span.span_id);
  span.sent = std::chrono::steady_clock::now();
  span.server = server;
  head.append("traceparent: ");
  observability::append_traceparent(head, trace.trace_id, span.span_id, trace.flags);
  head.append("\r\n");
  if (!trace.tracestate.empty()) head.append("tracestate: ").append(trace.tracestate).append("\r\n");
  if (trace.recording) {
    span.recording = true;
    span.start_unix_ns = unix_now_ns();
    span.target = &target;
    std::string_view line = std::string_view(head).substr(0, head.find('\r'));
    auto sp = line.find(' ');
    span.method.assign(line.substr(0, sp));
    std::string_view rest = sp == std::string_view::npos ? std::string_view() : line.substr(sp + 1);
    span.path.assign(rest.substr(0, rest.find_first_of("? ")));
  }
  return span;
}

void GatewayHandler::upstream_done(RequestContext& exchange, const UpstreamSpan& span,
                                   http::UpstreamError error, int status,
                                   const http::UpstreamTarget* answered, std::uint32_t resends) {
  auto elapsed = std::chrono::steady_clock::now() - span.sent;
  exchange.upstream_outcome_.server = span.server;
  exchange.upstream_outcome_.duration_ms = std::chrono::duration<double, std::milli>(elapsed).count();
  if (!span.recording) return;
  const RequestTrace& trace = exchange.trace_;
  observability::Span out;
  out.trace_id = trace.trace_id;
  out.span_id = span.span_id;
  out.parent_span_id = trace.span_id;
  out.has_parent = true;
  out.kind = observability::SpanKind::kClient;
  std::string_view method = semconv_method(span.method);
  out.name = method == "_OTHER" ? "HTTP" : std::string(method);
  out.start_unix_ns = span.start_unix_ns;
  out.end_unix_ns = unix_now_ns();
  out.attributes.reserve(8);
  out.attributes.push_back({"http.request.method", std::string(method)});
  if (method == "_OTHER") out.attributes.push_back({"http.request.method_original", span.method});
  // One client span per call (the traceparent the upstream saw is the same on every attempt), naming the
  // target of the last attempt; a resent request says how often (OTel's http.request.resend_count).
  const http::UpstreamTarget& target = answered != nullptr ? *answered : *span.target;
  out.attributes.push_back({"server.address", target.host});
  out.attributes.push_back({"server.port", std::int64_t{target.port}});
  std::string url;
  url.reserve(8 + target.authority.size() + span.path.size());
  url.assign(target.tls ? "https://" : "http://").append(target.authority).append(span.path);
  out.attributes.push_back({"url.full", std::move(url)});
  if (resends > 0) out.attributes.push_back({"http.request.resend_count", std::int64_t{resends}});
  out.attributes.push_back({"network.protocol.version", std::string("1.1")});
  out.attributes.push_back({"workgate.upstream.server", std::string(span.server)});
  if (error == http::UpstreamError::kNone) {
    out.attributes.push_back({"http.response.status_code", std::int64_t{status}});
    if (status >= 400) {
      out.status = observability::SpanStatus::kError;
      out.attributes.push_back({"error.type", std::to_string(status)});
    }
  } else {
    out.status = observability::SpanStatus::kError;
    out.attributes.push_back({"error.type", std::string(upstream_error_type(error))});
  }
  spans_.add(std::move(out), snapshot_ ? snapshot_->trace_target : nullptr);
}

void GatewayHandler::propagate_trace_to_worker(RequestContext& exchange) {
  const RequestTrace& trace = exchange.trace_;
  thread_local std::string value;  // kept: no allocation per call
  value.clear();
  observability::append_traceparent(value, trace.trace_id, trace.span_id, trace.flags);
  exchange.request().headers.set("traceparent", value);
  if (trace.tracestate.empty()) {
    exchange.request().headers.remove("tracestate");
  } else {
    exchange.request().headers.set("tracestate", trace.tracestate);
  }
}

void GatewayHandler::record_server_span(RequestContext& exchange, int status) {
  const RequestTrace& trace = exchange.trace_;
  const http::Request& request = exchange.request();
  observability::Span out;
  out.trace_id = trace.trace_id;
  out.span_id = trace.span_id;
  out.parent_span_id = trace.parent_id;
  out.has_parent = trace.has_parent;
  out.kind = observability::SpanKind::kServer;
  std::string_view method = semconv_method(request.method);
  out.name = method == "_OTHER" ? "HTTP" : std::string(method);
  out.start_unix_ns = trace.start_unix_ns;
  out.end_unix_ns = unix_now_ns();
  out.attributes.reserve(12);
  out.attributes.push_back({"http.request.method", std::string(method)});
  if (method == "_OTHER") out.attributes.push_back({"http.request.method_original", request.method});
  out.attributes.push_back({"url.path", request.path});
  out.attributes.push_back({"url.scheme", std::string(request.tls ? "https" : "http")});
  if (exchange.route_ != nullptr) {
    const std::string& route = exchange.route_->config->path;
    out.name.append(" ").append(route);
    out.attributes.push_back({"http.route", route});
  }
  out.attributes.push_back({"http.response.status_code", std::int64_t{status}});
  if (auto host = request.headers.get("Host")) {
    std::string_view h = *host;
    std::string_view port;
    auto colon = h.rfind(':');
    if (colon != std::string_view::npos && h.find(']', colon) == std::string_view::npos) {
      port = h.substr(colon + 1);
      h = h.substr(0, colon);
    }
    if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
    out.attributes.push_back({"server.address", std::string(h)});
    std::int64_t n = 0;
    auto r = std::from_chars(port.data(), port.data() + port.size(), n);
    if (!port.empty() && r.ec == std::errc() && r.ptr == port.data() + port.size())
      out.attributes.push_back({"server.port", n});
  }
  if (!request.client_address.empty()) out.attributes.push_back({"client.address", request.client_address});
  out.attributes.push_back({"network.protocol.version", std::string(protocol_version(request.version))});
  out.attributes.push_back({"workgate.request_id", exchange.request_id_});
  if (status >= 500) {
    out.status = observability::SpanStatus::kError;
    out.attributes.push_back({"error.type", std::to_string(status)});
  }
  spans_.add(std::move(out), snapshot_ ? snapshot_->trace_target : nullptr);
}

// Large or chunked bodies of proxied routes stream to the upstream, and those of JavaScript integrations
// without hooks to workerd; everything else is read whole first (hooks and native workers see the body,
// and small bodies can be replayed on a retry).
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
  if (proxied) return route.pre_process ? http::BodyMode::kBuffer : http::BodyMode::kStream;
  // A JavaScript integration's post_process hooks get the request with its body, so they need it whole; a
  // GET or HEAD body is never passed to a worker.
  bool streams = route.integration && route.integration->streams_request_body() && !route.pre_process &&
                 !route.post_process && request.method != "GET" && request.method != "HEAD";
  return streams ? http::BodyMode::kStream : http::BodyMode::kBuffer;
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
  exchange.error_code_ = response.error_code;
  exchange.respond(std::move(response));
}

http::Response GatewayHandler::protocol_error(http::ProtocolError error, http::Exchange& base) {
  RequestContext& exchange = begin(base);
  const Snapshot& snapshot = exchange.snapshot();
  http::Response response = error_response(error_kind(error));
  response.headers.set("X-Request-Id", exchange.request_id());
  if (snapshot.cors) snapshot.cors->apply(exchange.request().headers.get("Origin"), response);
  response.fixed_lines = snapshot.fixed_lines;
  exchange.error_code_ = response.error_code;
  return response;
}

void GatewayHandler::on_complete(http::Exchange& base, int status, std::size_t bytes) {
  auto& exchange = static_cast<RequestContext&>(base);
  if (metrics_) count(exchange, status, bytes);
  if (exchange.trace_.recording) record_server_span(exchange, status);
  if (access_log_) write_access_log(exchange, status, bytes);
  // The response is written: nothing of it views the snapshot any more. A replaced one is let go now; the
  // current one stays pinned (no reference count traffic per request) until a reload, when current()
  // releases it from every idle exchange.
  if (exchange.snapshot_ != snapshot_) exchange.snapshot_.reset();
}

void GatewayHandler::write_access_log(RequestContext& exchange, int status, std::size_t bytes) {
  const http::Request& request = exchange.request();
  auto elapsed = std::chrono::steady_clock::now() - exchange.started_;
  observability::AccessRecord r;
  r.client = request.client_address;
  static constexpr std::string_view kListeners[] = {
      "public",      "listener 1",  "listener 2",  "listener 3", "listener 4",  "listener 5",
      "listener 6",  "listener 7",  "listener 8",  "listener 9", "listener 10", "listener 11",
      "listener 12", "listener 13", "listener 14", "listener 15"};
  if (request.listener < listener_names_.size()) {
    r.listener = listener_names_[request.listener];
  } else {
    r.listener = request.listener < std::size(kListeners) ? kListeners[request.listener] : "listener";
  }
  r.protocol = request.version == 10 ? "HTTP/1.0" : request.version == 20 ? "HTTP/2" : "HTTP/1.1";
  r.method = request.method;
  if (exchange.route_ != nullptr) r.route = exchange.route_->config->path;
  r.path = request.path;
  r.status = status;
  r.bytes_in = request.body.empty() ? request.content_length.value_or(0) : request.body.size();
  r.bytes_out = bytes;
  r.duration_ms = std::chrono::duration<double, std::milli>(elapsed).count();
  r.request_id = exchange.request_id();
  std::string trace_id;
  trace_id.reserve(32);
  observability::append_hex(trace_id, exchange.trace_.trace_id);
  r.trace_id = trace_id;
  r.upstream = exchange.upstream_outcome_.server;
  r.upstream_duration_ms = exchange.upstream_outcome_.duration_ms;
  r.error = exchange.error_code_;
  access_log_->record(r);
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
  const auto& listeners = shard_.listener_connections();
  for (std::size_t l = 0; l < listeners.size(); ++l)
    metrics_->set_connections(l, static_cast<std::int64_t>(listeners[l].open),
                              static_cast<std::int64_t>(listeners[l].http2));
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
  spans_.flush(snapshot_->trace_target);
}

}  // namespace workgate::pipeline
