#include "pipeline/stage_driver.hpp"

#include "observability/log.hpp"
#include "pipeline/gateway_handler.hpp"
#include "pipeline/stage_table.hpp"

namespace workgate::pipeline {

void RequestContext::resume(Flow flow) {
  StageDriver::resume(*this, flow);
}

http::BodyWait StageDriver::run_head(RequestContext& exchange) {
  RequestContext::Walk& walk = exchange.walk_;
  walk.body = RequestContext::Body::kHeadRun;
  drive(exchange);
  if (walk.body != RequestContext::Body::kHeadRun) return http::BodyWait::kProceed;  // answered
  if (walk.pending) {
    // The client's upload waits for the pending head stage: drive() asks for the body once the head
    // stages are through, or responds without it.
    walk.body = RequestContext::Body::kHeadWaiting;
    return http::BodyWait::kWait;
  }
  // The head stages are through: the connection reads the body now; handle() goes on from here.
  walk.body = RequestContext::Body::kBeingRead;
  return http::BodyWait::kProceed;
}

void StageDriver::run(RequestContext& exchange) {
  RequestContext::Walk& walk = exchange.walk_;
  walk.body = RequestContext::Body::kComplete;
  if (walk.pending) return;  // a head stage is still pending: its resume() goes on
  drive(exchange);
}

void StageDriver::resume(RequestContext& exchange, Flow flow) {
  RequestContext::Walk& walk = exchange.walk_;
  if (walk.in_stage) {
    // Resumed from inside its own run(), before returning kPending: drive() takes it from there.
    walk.resumed_early = true;
    walk.early_flow = flow;
    return;
  }
  walk.pending = false;
  advance(exchange, exchange.handler().stage_table(), flow);
  drive(exchange);
}

void StageDriver::advance(RequestContext& exchange, const StageTable& table, Flow flow) {
  RequestContext::Walk& walk = exchange.walk_;
  walk.next = flow == Flow::kRespond ? static_cast<std::uint8_t>(table.stages.size())
                                     : static_cast<std::uint8_t>(walk.next + 1);
}

void StageDriver::drive(RequestContext& exchange) {
  const StageTable& table = exchange.handler().stage_table();
  RequestContext::Walk& walk = exchange.walk_;
  observability::RequestLogScope log_scope(exchange.request_id());  // log lines of its stages name it
  while (true) {
    if (walk.next >= table.stages.size()) {
      // A head stage that answered after the body was asked for waits for it to be read; one that answered
      // while the body waited (kHeadWaiting) is sent at once, and the body is never read.
      if (walk.body == RequestContext::Body::kBeingRead) return;
      walk.body = RequestContext::Body::kComplete;
      table.respond(exchange);
      return;
    }
    if (walk.body != RequestContext::Body::kComplete && walk.next >= table.head_stages) {
      if (walk.body == RequestContext::Body::kHeadWaiting) {
        walk.body = RequestContext::Body::kBeingRead;
        exchange.continue_body();  // "100 Continue"; handle() goes on once the body is read
      }
      return;
    }
    walk.in_stage = true;
    Flow flow = table.stages[walk.next].run(exchange);
    walk.in_stage = false;
    if (walk.resumed_early) {
      walk.resumed_early = false;
      if (flow == Flow::kPending) flow = walk.early_flow;
    } else if (flow == Flow::kPending) {
      walk.pending = true;
      return;
    }
    advance(exchange, table, flow);
  }
}

}  // namespace workgate::pipeline
