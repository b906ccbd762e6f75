// The one place where a gateway-generated failure becomes a status and a JSON body.
#pragma once

#include <string_view>

#include "auth/verifier.hpp"
#include "http/message.hpp"

namespace workgate::pipeline {

enum class ErrorKind {
  kNoMatch,              // 404 {"message":"No match found."}
  kInternal,             // 500 {"message":"Internal server error"}
  kBadRequest,           // 400
  kRequestTimeout,       // 408
  kPayloadTooLarge,      // 413
  kHeadersTooLarge,      // 431
  kVersionNotSupported,  // 505
  kNotImplemented,       // 501 (a transfer coding we do not decode)
  kUpstreamUnavailable,  // 502
  kUpstreamTimeout,      // 504
  kUpstreamBadResponse,  // 502
  kWorkerTimeout,        // 504
};

inline constexpr std::string_view kJsonContentType = "application/json";

http::Response error_response(ErrorKind kind);

// {"error": error, "code": code} with `status` (the original's AuthError/SAGError shape).
http::Response coded_error(int status, std::string_view error, std::string_view code);

http::Response auth_error(const auth::AuthFailure& failure);

}  // namespace workgate::pipeline
