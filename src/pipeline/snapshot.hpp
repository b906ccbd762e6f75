// The compiled, immutable form of one config: what every request of that config reads. Built once per
// load (src/runtime/), shared by all event-loop threads, never modified; a reload builds a new one.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "auth/remote_jwks.hpp"
#include "auth/verifier.hpp"
#include "config/config.hpp"
#include "http/cluster.hpp"
#include "http/request_handler.hpp"
#include "observability/spans.hpp"
#include "pipeline/cors.hpp"
#include "router/router.hpp"

namespace workgate::pipeline {

class RequestContext;

enum class Flow {
  kContinue,  // go on with the next stage
  kRespond,   // exchange.response is final: skip to the response stage
  kPending,   // the stage completes later and calls RequestContext::resume()
};

// An integration (http_proxy, service_binding, ...) or a hook (pre_process, post_process) compiled for one
// route: what the table's integrate, pre_process and post_process stages (stage_table.hpp) run for it.
class Stage {
 public:
  virtual ~Stage() = default;
  // Reads the exchange's request (and, for post_process, its response) and sets exchange.response.
  virtual Flow run(RequestContext& exchange) = 0;
  // An integration that can take a large or chunked request body as a stream (Exchange::body_source)
  // instead of reading it whole first.
  virtual bool streams_request_body() const { return false; }
};

struct CompiledRoute {
  const config::Route* config = nullptr;
  std::string static_body;             // serialized `response` for routes without an integration
  std::unique_ptr<Stage> integration;  // null: static response
  std::unique_ptr<Stage> pre_process;
  std::unique_ptr<Stage> post_process;
  std::unique_ptr<Stage> rate_limit;  // null: the route names no rate-limit policy
};

struct Snapshot {
  std::uint64_t generation = 0;
  config::Config config;
  router::Router router;
  std::vector<CompiledRoute> routes;  // same order as config.paths
  std::optional<CompiledCors> cors;
  std::unique_ptr<auth::Verifier> verifier;  // set when an authorizer is configured
  http::ConnectionLimits limits;
  // The certificates of each TLS listener, by index in config.gateway.listeners (null: a plain one).
  std::vector<std::shared_ptr<const http::TlsContext>> listener_tls;
  std::string fixed_lines;  // CORS fixed lines + identity header
  // gateway.tracing's collector (null: spans are not recorded; traceparent is still propagated).
  std::shared_ptr<const observability::ExportTarget> trace_target;
  // The remote JWKS key sets the verifier uses (also in keep_alive): readiness and metrics read them.
  std::vector<std::shared_ptr<const auth::RemoteJwks>> remote_key_sets;
  // The servers with `targets` (src/http/cluster.hpp): each thread adopts them when it takes the snapshot
  // (one thread runs their health checks); metrics read their atomics.
  std::vector<std::shared_ptr<const http::Cluster>> clusters;
  // Per rate-limit policy: requests admitted because Redis did not answer (fail_open); metrics read them.
  std::vector<std::pair<std::string, std::shared_ptr<std::atomic<std::uint64_t>>>> rate_limit_fail_open;
  // Objects the compiled stages depend on (worker modules, key sources, ...) kept alive with the snapshot.
  std::vector<std::shared_ptr<void>> keep_alive;
};

}  // namespace workgate::pipeline
