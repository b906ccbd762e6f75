// The request pipeline: the order of the stages lives here and nowhere else.
//
//   preflight -> route -> authenticate -> pre_process -> integrate -> post_process -> respond
//
// A stage returns Flow::kContinue (next stage), Flow::kRespond (exchange.response is final: go straight to
// respond) or Flow::kPending (it finishes asynchronously and calls GatewayExchange::resume()).
#pragma once

#include "pipeline/exchange.hpp"

namespace workgate::pipeline {

class Pipeline {
 public:
  static void run(GatewayExchange& exchange);
  // Runs the stages that need no request body (preflight, route, authenticate); the pipeline continues
  // from there with run() once the body has been read.
  static void run_head_stages(GatewayExchange& exchange);
  // Finds the exchange's route (once; the route stage reuses it). False when nothing matches.
  static bool match_route(GatewayExchange& exchange);

 private:
  static Flow preflight(GatewayExchange& exchange);
  static Flow route(GatewayExchange& exchange);
  static Flow authenticate(GatewayExchange& exchange);
  static Flow pre_process(GatewayExchange& exchange);
  static Flow integrate(GatewayExchange& exchange);
  static Flow post_process(GatewayExchange& exchange);
};

}  // namespace workgate::pipeline
