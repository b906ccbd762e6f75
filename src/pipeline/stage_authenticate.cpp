// Stage "authenticate": routes with `auth` need a bearer token the snapshot's verifier accepts (through the
// thread's cache of verified tokens); its claims are kept for the later stages.
#include <ctime>

#include "pipeline/errors.hpp"
#include "pipeline/gateway_handler.hpp"
#include "pipeline/request_context.hpp"
#include "pipeline/stage_table.hpp"

namespace workgate::pipeline::stages {

Flow authenticate(RequestContext& exchange) {
  if (!exchange.route().config->auth) return Flow::kContinue;
  auto header = exchange.request().headers.get("Authorization");
  auto token = header ? auth::extract_bearer(*header) : std::nullopt;
  if (!token) {
    exchange.response = auth_error(auth::missing_token_failure());
    return Flow::kRespond;
  }
  auth::VerifyResult result =
      exchange.handler().verify_token(*exchange.snapshot().verifier, *token, std::time(nullptr));
  if (!result.ok()) {
    exchange.response = auth_error(result.failure);
    return Flow::kRespond;
  }
  exchange.set_claims(std::move(result.claims));
  return Flow::kContinue;
}

}  // namespace workgate::pipeline::stages
