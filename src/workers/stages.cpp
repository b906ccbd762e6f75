#include "workers/stages.hpp"

#include "observability/log.hpp"
#include "pipeline/errors.hpp"
#include "pipeline/gateway_handler.hpp"
#include "workers/js_call.hpp"
#include "workers/results.hpp"

namespace workgate::workers {
namespace {

using pipeline::Flow;
using pipeline::RequestContext;

// A worker's message for the log: bounded, one line, control characters escaped.
std::string loggable(std::string_view message) {
  return message.empty() ? std::string("no message") : loggable_text(message, 300);
}

std::string_view request_id_of(void* exchange) {
  return static_cast<RequestContext*>(exchange)->request_id();
}

}  // namespace

WorkerStage::WorkerStage(Role role, std::uint32_t call_kind, std::vector<BoundFunction> functions,
                         std::string variables_json)
    : role_(role),
      call_kind_(call_kind),
      functions_(std::move(functions)),
      variables_json_(std::move(variables_json)) {}

Flow WorkerStage::run(RequestContext& exchange) {
  return run_from(exchange, 0);
}

bool WorkerStage::streams_request_body() const {
  return role_ == Role::kIntegration && functions_.size() == 1 && functions_.front().js != nullptr;
}

Flow WorkerStage::run_from(RequestContext& exchange, std::size_t index) {
  exchange.handler().propagate_trace_to_worker(exchange);  // traceparent: the gateway's server span
  for (; index < functions_.size(); ++index) {
    CallInput input;
    input.kind = call_kind_;
    input.request = &exchange.request();
    input.route_path = exchange.route().config->path;
    input.params = exchange.match().params;
    input.claims = exchange.claims().get();
    input.variables_json = variables_json_;
    input.request_id = &request_id_of;
    input.request_id_arg = &exchange;
    if (role_ == Role::kPostProcess) input.response = &exchange.response;
    const config::GatewaySettings& gateway = exchange.snapshot().config.gateway;
    input.limits.max_body_bytes = gateway.max_body_bytes;
    input.limits.max_header_bytes = gateway.max_header_bytes;
    input.limits.max_headers = gateway.max_headers;

    const auto started = std::chrono::steady_clock::now();
    if (functions_[index].js) return run_js(exchange, index, input, started);
    Invocation invocation = invoke(functions_[index], input);
    if (invocation.pending) {
      // The snapshot (and so this stage) stays alive while the exchange waits: the exchange pins it.
      auto keep = exchange.retain();
      auto waiting = arm(invocation.pending, exchange.handler().shard().io(), functions_[index].timeout(),
                         [this, keep = std::move(keep), index, started](Outcome outcome) {
                           auto& ex = static_cast<RequestContext&>(*keep);
                           observability::RequestLogScope log_scope(ex.request_id());
                           Flow flow = apply(ex, index, std::move(outcome), started);
                           if (flow == Flow::kContinue && index + 1 < functions_.size())
                             flow = run_from(ex, index + 1);
                           if (flow != Flow::kPending) ex.resume(flow);
                         });
      exchange.set_pending(std::move(waiting));
      return Flow::kPending;
    }
    Flow flow = apply(exchange, index, std::move(*invocation.done), started);
    if (flow != Flow::kContinue) return flow;
  }
  return Flow::kContinue;
}

Flow WorkerStage::run_js(RequestContext& exchange, std::size_t index, const CallInput& call,
                         std::chrono::steady_clock::time_point started) {
  const BoundFunction& fn = functions_[index];
  js::JsCallInput input;
  switch (role_) {
    case Role::kIntegration:
      input.kind = call_kind_ == WG_CALL_SERVICE ? js::CallKind::kService : js::CallKind::kBinding;
      break;
    case Role::kPreProcess:
      input.kind = js::CallKind::kPreProcess;
      break;
    case Role::kPostProcess:
      input.kind = js::CallKind::kPostProcess;
      break;
  }
  input.function = fn.name;
  input.request = call.request;
  input.route_index = exchange.route().config->index;
  input.route_path = call.route_path;
  input.params = call.params;
  input.claims = call.claims;
  input.response = call.response;
  input.shard = exchange.handler().shard().index();
  input.timeout = fn.timeout();
  input.limits = call.limits;
  // BodyMode::kStream (GatewayHandler::body_mode): the body is still being read; it goes to workerd as it
  // arrives.
  if (role_ == Role::kIntegration && !exchange.body_complete()) input.body = exchange.body_source();
  auto keep = exchange.retain();
  auto waiting = js::start_call(exchange.handler().shard().io(), *fn.js, input,
                                [this, keep = std::move(keep), index, started](Outcome outcome) {
                                  auto& ex = static_cast<RequestContext&>(*keep);
                                  Flow flow = apply(ex, index, std::move(outcome), started);
                                  if (flow == Flow::kContinue && index + 1 < functions_.size())
                                    flow = run_from(ex, index + 1);
                                  if (flow != Flow::kPending) ex.resume(flow);
                                });
  exchange.set_pending(std::move(waiting));
  return Flow::kPending;
}

Flow WorkerStage::fail(RequestContext& exchange, std::size_t index, std::string_view message) {
  const BoundFunction& fn = functions_[index];
  if (metrics::ShardMetrics* m = exchange.handler().metrics())
    m->worker(&fn, fn.binding(), fn.name).failure();
  observability::log_error("worker {}.{} failed: {}", fn.binding(), fn.name, loggable(message));
  exchange.response = pipeline::error_response(pipeline::ErrorKind::kInternal);
  return Flow::kRespond;
}

Flow WorkerStage::apply(RequestContext& exchange, std::size_t index, Outcome outcome,
                        std::chrono::steady_clock::time_point started) {
  const BoundFunction& fn = functions_[index];
  if (metrics::ShardMetrics* m = exchange.handler().metrics()) {
    metrics::WorkerSeries& series = m->worker(&fn, fn.binding(), fn.name);
    series.call(static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - started)
            .count()));
    if (outcome.status == Outcome::Status::kTimeout) series.timeout();
  }
  if (outcome.status == Outcome::Status::kTimeout) {
    observability::log_warn("worker {}.{} timed out after {} ms", fn.binding(), fn.name,
                            fn.timeout().count());
    exchange.response = pipeline::error_response(pipeline::ErrorKind::kWorkerTimeout);
    return Flow::kRespond;
  }
  if (outcome.status == Outcome::Status::kUnavailable) {
    if (metrics::ShardMetrics* m = exchange.handler().metrics())
      m->worker(&fn, fn.binding(), fn.name).failure();
    observability::log_warn("worker {}.{} unavailable: {}", fn.binding(), fn.name,
                            loggable(outcome.result.value));
    exchange.response = pipeline::error_response(pipeline::ErrorKind::kWorkerUnavailable);
    return Flow::kRespond;
  }
  if (outcome.status == Outcome::Status::kError) return fail(exchange, index, outcome.result.value);
  if (outcome.status == Outcome::Status::kRequestBody) {
    // The client's fault, not the worker's (the connection closes after this answer: the body is unread).
    exchange.response = pipeline::error_response(pipeline::error_kind(outcome.body_error));
    return Flow::kRespond;
  }

  ResultData& result = outcome.result;
  std::string error;
  switch (role_) {
    case Role::kIntegration: {
      bool built = build_response(result, exchange.response, /*edit=*/false, error);
      recycle_result_text(result.value);
      if (!built) return fail(exchange, index, error);
      return Flow::kContinue;
    }

    case Role::kPreProcess: {
      if (result.kind != ResultData::Kind::kNone) {
        if (!build_response(result, exchange.response, /*edit=*/false, error))
          return fail(exchange, index, error);
        return Flow::kRespond;  // short-circuit through the response stage
      }
      if (!result.changes_request()) return Flow::kContinue;
      http::Request& request = exchange.request();
      bool target_changed = result.path.has_value() || result.query.has_value();
      if (result.path) {
        if (!valid_path(*result.path)) return fail(exchange, index, "pre_process set an invalid path");
        if (!exchange.replace_path(std::move(*result.path))) {
          return fail(exchange, index, "pre_process set a path the route does not match");
        }
      }
      if (!apply_request_changes(result, request, error)) return fail(exchange, index, error);
      if (target_changed) {
        request.target = request.path;
        if (request.has_query) request.target.append("?").append(request.query);
      }
      return Flow::kContinue;
    }

    case Role::kPostProcess:
      if (result.kind == ResultData::Kind::kNone) return Flow::kContinue;
      if (!build_response(result, exchange.response, /*edit=*/true, error))
        return fail(exchange, index, error);
      return Flow::kContinue;
  }
  return Flow::kContinue;
}

}  // namespace workgate::workers
