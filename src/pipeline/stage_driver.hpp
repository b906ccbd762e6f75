// The one driver of a stage table (stage_table.hpp): runs the stages of an exchange in order under the
// three-valued contract (kContinue / kRespond / kPending + RequestContext::resume), then the respond step.
//
// With "Expect: 100-continue" the head stages run from before_body(), before the body is read. A head
// stage that answers at once (kRespond) is sent at once, so a 404 or 401 costs no upload. One that goes
// pending holds the upload too: before_body() returns BodyWait::kWait, and when the stage resumes the
// driver either answers at once (the body is never read) or, once the head stages are through, asks the
// connection for the body (Exchange::continue_body: "100 Continue"); handle() then goes on with the rest.
#pragma once

#include "http/request_handler.hpp"
#include "pipeline/request_context.hpp"

namespace workgate::pipeline {

struct StageTable;

class StageDriver {
 public:
  // before_body(): the head stages only; kWait when one of them is pending.
  static http::BodyWait run_head(RequestContext& exchange);
  // handle(): the body is complete; goes on from where the exchange is (the start, or after the head stages).
  static void run(RequestContext& exchange);
  // The pending stage finished with `flow` (kContinue or kRespond).
  static void resume(RequestContext& exchange, Flow flow);

 private:
  static void drive(RequestContext& exchange);
  static void advance(RequestContext& exchange, const StageTable& table, Flow flow);
};

}  // namespace workgate::pipeline
