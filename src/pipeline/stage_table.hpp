// The request pipeline: its stages, in order. This table is the one place that says what runs when; the
// driver (stage_driver.cpp) walks it and nothing else knows the order.
//
//   preflight -> route -> authenticate -> rate_limit | pre_process -> integrate -> post_process -> respond
//   `------------------ head stages -----------------'
//
// A stage returns Flow::kContinue (next stage), Flow::kRespond (exchange.response is final: go straight to
// respond) or Flow::kPending (it finishes asynchronously and calls RequestContext::resume()). The head
// stages need no request body: for "Expect: 100-continue" they run before the body is asked for.
//
// Adding a stage: write `Flow NAME(RequestContext&)` in its own file stage_NAME.cpp, declare it below and
// add its row to kGatewayStages.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

#include "pipeline/snapshot.hpp"

namespace workgate::pipeline {

class RequestContext;

using StageFn = Flow (*)(RequestContext&);

// One slot of a stage table.
struct StageSlot {
  std::string_view name;
  StageFn run;
};

// What the driver walks: the stages in order, how many of them (a prefix) run before the request body is
// read, and the step that sends the response, which ends every exchange.
struct StageTable {
  std::span<const StageSlot> stages;
  std::size_t head_stages = 0;
  void (*respond)(RequestContext&) = nullptr;
};

// The length of the prefix of `stages` that ends with the stage `name` (a compile error when absent).
consteval std::size_t stages_through(std::span<const StageSlot> stages, std::string_view name) {
  for (std::size_t i = 0; i < stages.size(); ++i) {
    if (stages[i].name == name) return i + 1;
  }
  throw "no stage of that name";
}

namespace stages {
Flow preflight(RequestContext& exchange);     // stage_preflight.cpp
Flow route(RequestContext& exchange);         // stage_route.cpp
Flow authenticate(RequestContext& exchange);  // stage_authenticate.cpp
Flow rate_limit(RequestContext& exchange);    // stage_rate_limit.cpp
Flow pre_process(RequestContext& exchange);   // stage_hooks.cpp
Flow integrate(RequestContext& exchange);     // stage_integrate.cpp
Flow post_process(RequestContext& exchange);  // stage_hooks.cpp
void respond(RequestContext& exchange);       // gateway_handler.cpp (GatewayHandler::send)
}  // namespace stages

inline constexpr StageSlot kGatewayStages[] = {
    {"preflight", &stages::preflight},        // CORS preflight answered before auth
    {"route", &stages::route},                // 404 when begin() matched no route
    {"authenticate", &stages::authenticate},  // bearer token of routes with auth
    {"rate_limit", &stages::rate_limit},      // the route's rate-limit policies (after auth: jwt keys)
    {"pre_process", &stages::pre_process},    // worker hook
    {"integrate", &stages::integrate},        // static response, http_proxy, service, auth flows
    {"post_process", &stages::post_process},  // worker hook on the integration's response
};

// The head stages end with rate_limit: a refused upload (401, 429) is never read, and a Redis decision holds
// the upload until it is made.
inline constexpr StageTable kGatewayTable{kGatewayStages, stages_through(kGatewayStages, "rate_limit"),
                                          &stages::respond};

}  // namespace workgate::pipeline
