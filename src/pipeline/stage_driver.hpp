// The one driver of a stage table (stage_table.hpp): runs the stages of an exchange in order under the
// three-valued contract (kContinue / kRespond / kPending + RequestContext::resume), then the respond step.
//
// With "Expect: 100-continue" the head stages run from before_body(), before the body is read. A head
// stage that answers at once (kRespond) is sent at once, so a 404 or 401 costs no upload. One that goes
// pending is waited for: the connection reads the body meanwhile (it sends "100 Continue" as soon as
// before_body() returns), and the exchange goes on, to the rest of the stages or to respond, only once
// both the stage has resumed and the body is complete (handle()).
#pragma once

#include "pipeline/request_context.hpp"

namespace workgate::pipeline {

struct StageTable;

class StageDriver {
 public:
  // before_body(): the head stages only.
  static void run_head(RequestContext& exchange);
  // handle(): the body is complete; goes on from where the exchange is (the start, or after the head stages).
  static void run(RequestContext& exchange);
  // The pending stage finished with `flow` (kContinue or kRespond).
  static void resume(RequestContext& exchange, Flow flow);

 private:
  static void drive(RequestContext& exchange);
  static void advance(RequestContext& exchange, const StageTable& table, Flow flow);
};

}  // namespace workgate::pipeline
