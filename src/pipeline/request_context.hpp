// The pipeline's state of one request (the http::Exchange the gateway's connections carry), reused for
// every request of a connection. Stages read and write it; StageDriver walks it through the stage table.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "auth/verifier.hpp"
#include "http/request_handler.hpp"
#include "observability/trace_context.hpp"
#include "pipeline/snapshot.hpp"
#include "router/router.hpp"

namespace workgate::pipeline {

class GatewayHandler;

// The request's W3C trace context, set by GatewayHandler::begin: the trace it belongs to (the client's,
// or a new one), the gateway's server span and the client's span it continues.
struct RequestTrace {
  observability::TraceId trace_id{};
  observability::SpanId span_id{};    // the gateway's server span (new for every request)
  observability::SpanId parent_id{};  // the client's span, when has_parent
  bool has_parent = false;
  std::uint8_t flags = 0;  // sent on: the client's, with the sampled bit set to ours when tracing is on
  bool recording = false;  // gateway.tracing is on and the trace is sampled: spans are exported
  std::uint64_t start_unix_ns = 0;  // when recording
  std::string tracestate;           // the client's, when well-formed (forwarded as is)
};

// What the access log says of the request's upstream call (http_proxy), when there was one.
struct UpstreamOutcome {
  std::string_view server;  // the route's server alias (config snapshot)
  double duration_ms = -1;  // < 0: no upstream call
};

class RequestContext final : public http::Exchange {
 public:
  explicit RequestContext(GatewayHandler& handler) : handler_(handler) {}

  GatewayHandler& handler() { return handler_; }
  const Snapshot& snapshot() const { return *snapshot_; }
  const CompiledRoute& route() const { return *route_; }
  bool has_route() const { return route_ != nullptr; }
  const router::RouteMatch& match() const { return match_; }
  const auth::Claims& claims() const { return claims_; }
  // The authenticate stage, and integrations that verify a token themselves (auth0_callback's id_token),
  // make its claims visible to later stages (the proxy's mapping, post_process).
  void set_claims(auth::Claims claims) { claims_ = std::move(claims); }
  const std::string& request_id();
  std::chrono::steady_clock::time_point started() const { return started_; }
  const RequestTrace& trace() const { return trace_; }
  UpstreamOutcome& upstream_outcome() { return upstream_outcome_; }

  // The response being built; stages set it, the respond step sends it.
  http::Response response;
  // Complete "Name: value\r\n" lines a stage adds to whatever response the exchange ends with (the rate
  // limiter's RateLimit fields): the respond step sends them, so a later stage that replaces `response`
  // does not drop them. Written verbatim: only for values the gateway formats itself.
  std::string response_lines;

  // For a stage that returned Flow::kPending: continue the pipeline with `flow` (on the connection's thread).
  void resume(Flow flow);

  // Replaces the request path (a pre_process hook rewrote it) and matches it again, so that the path
  // parameters and the wildcard tail follow the new path. Returns false and changes nothing when the
  // new path does not select the same route.
  bool replace_path(std::string path);

  void reset() override;
  void recycle(http::Response&& written) override;
  void release_memory() override;

 private:
  friend class GatewayHandler;
  friend class StageDriver;

  // Where the request is in the stage table (StageDriver's state).
  enum class Body : std::uint8_t {
    kComplete,     // handle() was called (or no head-stage run came first): every stage may run
    kHeadRun,      // inside before_body(): only the head stages, and an answer is sent at once
    kBeingRead,    // after before_body(): the connection reads the body; nothing beyond the head stages
    kHeadWaiting,  // before_body() returned with a head stage pending: the body is not asked for yet
  };
  struct Walk {
    std::uint8_t next = 0;  // index of the next stage; the table's size: respond
    Body body = Body::kComplete;
    bool pending = false;        // a stage returned kPending and has not resumed yet
    bool in_stage = false;       // a stage's run() is on the stack
    bool resumed_early = false;  // ... and it resumed before returning kPending
    Flow early_flow = Flow::kContinue;
  };

  GatewayHandler& handler_;
  std::shared_ptr<const Snapshot> snapshot_;
  const CompiledRoute* route_ = nullptr;
  router::RouteMatch match_;
  auth::Claims claims_;
  Walk walk_;
  bool begun_ = false;  // GatewayHandler::begin ran for this request
  std::string request_id_;
  std::chrono::steady_clock::time_point started_;
  RequestTrace trace_;
  UpstreamOutcome upstream_outcome_;
  std::string_view error_code_;  // of the response sent, when the gateway generated it (access log)
};

}  // namespace workgate::pipeline
