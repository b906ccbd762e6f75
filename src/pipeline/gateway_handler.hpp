// The request handler of one event-loop thread: begins each exchange (pins the active config snapshot,
// matches the route, notes the start time), hands it to the stage driver, and owns the thread's caches
// (verified tokens, access log buffer, upstream pools).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "auth/token_cache.hpp"
#include "common/spare_list.hpp"
#include "http/request_handler.hpp"
#include "http/shard.hpp"
#include "http/upstream.hpp"
#include "metrics/shard_metrics.hpp"
#include "observability/log.hpp"
#include "observability/request_id.hpp"
#include "observability/spans.hpp"
#include "observability/trace_context.hpp"
#include "pipeline/snapshot.hpp"
#include "pipeline/stage_table.hpp"
#include "router/router.hpp"

namespace workgate::pipeline {

// The active snapshot, replaced atomically on reload. Readers check generation() (one atomic load) and
// take the mutex only when it changed.
//
// A replaced snapshot is kept here until no thread holds it any more, and collect(), called on the main
// thread, destroys it then: its destructor joins a JWKS refresher and runs workers' destroy(), which must
// never happen on an event loop (nor depend on a request arriving there). Event-loop threads let go of a
// replaced snapshot within one tick (GatewayHandler::on_tick), and an exchange when its response is written.
class SnapshotSource {
 public:
  void publish(std::shared_ptr<const Snapshot> snapshot);
  std::shared_ptr<const Snapshot> current() const;
  std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  // Destroys the replaced snapshots nobody holds any more; returns how many are still held.
  std::size_t collect();

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const Snapshot> current_;
  std::vector<std::shared_ptr<const Snapshot>> retired_;
  std::atomic<std::uint64_t> generation_{0};
};

class RequestContext;

// An upstream call's client span (http_proxy): from GatewayHandler::propagate_trace to upstream_done.
struct UpstreamSpan {
  observability::SpanId span_id{};  // sent as the upstream's parent in traceparent
  std::chrono::steady_clock::time_point sent;
  std::uint64_t start_unix_ns = 0;
  bool recording = false;
  std::string_view server;                       // the route's server alias
  std::string method;                            // when recording: the attributes of the span
  std::string path;                              // of the request target, without the query
  const http::UpstreamTarget* target = nullptr;  // the route's (a cluster's first target)
};

class GatewayHandler final : public http::RequestHandler {
 public:
  // `table`: the stages its exchanges run (tests drive fake ones).
  GatewayHandler(http::Shard& shard, SnapshotSource& source, const StageTable& table = kGatewayTable);
  ~GatewayHandler() override;

  std::unique_ptr<http::Exchange> create_exchange() override;
  void return_exchange(std::unique_ptr<http::Exchange> exchange) override;
  const http::ConnectionLimits& limits() override;
  std::shared_ptr<const http::TlsContext> tls_context(std::size_t tls_index) override;
  http::BodyMode body_mode(http::Exchange& exchange) override;
  http::BodyWait before_body(http::Exchange& exchange) override;
  void handle(http::Exchange& exchange) override;
  http::Response protocol_error(http::ProtocolError error, http::Exchange& exchange) override;
  void on_complete(http::Exchange& exchange, int status, std::size_t bytes) override;
  void on_tick() override;

  // Counts this thread's requests into `metrics` (null: not counted, the default when no admin listener
  // serves them). Call before the first request.
  void enable_metrics(std::shared_ptr<metrics::ShardMetrics> metrics);
  // The listeners' names by index, for the access log (default: "public", then "listener N"). Call
  // before the first request.
  void set_listener_names(std::vector<std::string> names) { listener_names_ = std::move(names); }
  // This thread's metrics, or null when they are off.
  metrics::ShardMetrics* metrics() { return metrics_.get(); }
  // The upstream series of the exchange's http_proxy route, or null (metrics off, no proxy route, or a
  // request that began under a replaced snapshot).
  metrics::UpstreamSeries* upstream_metrics(const RequestContext& exchange);

  http::Shard& shard() { return shard_; }
  http::UpstreamClient& upstream() { return upstream_; }
  const StageTable& stage_table() const { return table_; }
  // A RouteMatch for lookups that must not touch an exchange's match (kept to reuse its capacity).
  router::RouteMatch& scratch_match() { return scratch_match_; }

  // The respond step: adds CORS and identity headers and hands the response to the connection.
  void send(RequestContext& exchange);

  // Per-thread state of a pipeline extension that outlives snapshots (a rate limiter's Redis connection):
  // the slot for `key`, empty until the extension fills it; destroyed with the handler, on this thread.
  std::shared_ptr<void>& extension_state(const std::string& key) { return extension_state_[key]; }

  // Trace Context for an upstream request whose request line and fields are being written to `head`
  // (after the request line): appends traceparent (the trace's id, a new span id) and the client's
  // tracestate. The fields of the client's request by those names must not be copied.
  UpstreamSpan propagate_trace(RequestContext& exchange, const http::UpstreamTarget& target,
                               std::string_view server, std::string& head);
  // The upstream call ended (any outcome): notes it for the access log and records its client span,
  // which names `answered` (the target that answered or failed last: for a server with `targets`, the one
  // the balancer picked or the request moved to; null: span.target) and counts `resends`.
  void upstream_done(RequestContext& exchange, const UpstreamSpan& span, http::UpstreamError error,
                     int status, const http::UpstreamTarget* answered = nullptr, std::uint32_t resends = 0);
  // Before a worker hook or service sees the request: its traceparent names the gateway's server span.
  void propagate_trace_to_worker(RequestContext& exchange);

  // Verifies a bearer token, reusing this thread's cache of verified tokens.
  auth::VerifyResult verify_token(const auth::Verifier& verifier, std::string_view token, std::int64_t now);

 private:
  const std::shared_ptr<const Snapshot>& current();
  void remap_metrics();
  // Connection and pool gauges, sampled on the thread's tick.
  void sample_gauges();
  // The request/response counting of the respond step's completion (metrics on).
  void count(RequestContext& exchange, int status, std::size_t bytes);
  // The one place an exchange begins (first of body_mode, before_body, handle, protocol_error): pins the
  // current snapshot, notes the start time and matches the route, once per request.
  RequestContext& begin(http::Exchange& base);
  // begin's part for the W3C trace context (traceparent/tracestate taken or a new trace begun).
  void begin_trace(RequestContext& exchange);
  void record_server_span(RequestContext& exchange, int status);
  void write_access_log(RequestContext& exchange, int status, std::size_t bytes);

  http::Shard& shard_;
  SnapshotSource& source_;
  const StageTable& table_;
  std::shared_ptr<const Snapshot> snapshot_;
  std::uint64_t generation_ = 0;
  std::unique_ptr<observability::AccessLog> access_log_;
  http::UpstreamClient upstream_;
  auth::TokenCache token_cache_;
  router::RouteMatch scratch_match_;
  std::unordered_map<std::string, std::shared_ptr<void>> extension_state_;
  std::shared_ptr<metrics::ShardMetrics> metrics_;
  std::vector<std::string> listener_names_;
  std::vector<metrics::PoolGauges> pool_gauges_;  // reused by sample_gauges()
  observability::RequestIdGenerator request_ids_;
  observability::TraceIdGenerator trace_ids_;
  observability::SpanBuffer spans_;  // finished spans until the tick hands them to the exporter
  // Exchanges given back by parked connections, for the next connection that needs one (bounded); last,
  // so that they go before what they refer to.
  // As many as a burst of parked connections waking at once would take again; beyond, they are freed.
  SpareList<std::unique_ptr<http::Exchange>, 64> spare_exchanges_;
};

}  // namespace workgate::pipeline
