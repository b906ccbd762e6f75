// The one table of gateway-generated failures: each kind has its status, code and message here, and call
// sites name the kind. Failures the auth module reports (auth::AuthFailure: the jose/jsonwebtoken error
// mapping of src/auth/jwt.cpp) carry their own status and code and are rendered here too.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "auth/verifier.hpp"
#include "http/message.hpp"
#include "http/request_handler.hpp"

namespace workgate::pipeline {

enum class ErrorKind : std::uint8_t {
  // The gateway itself.
  kNoMatch,   // no route (or the original's {"message"} shape)
  kInternal,  // a worker failed, an invalid worker result
  // The client's request: protocol errors found by the connection, a streamed body that failed.
  kBadRequest,
  kRequestTimeout,
  kPayloadTooLarge,
  kHeadersTooLarge,
  kVersionNotSupported,
  kNotImplemented,  // a transfer coding we do not decode
  // Upstreams and workers.
  kUpstreamUnavailable,
  kUpstreamTimeout,
  kUpstreamBadResponse,
  kWorkerTimeout,
  kWorkerUnavailable,  // a JavaScript worker's workerd process is down or crashed during the call
  // Authentication: a verifier failure that names no status of its own.
  kJwtVerificationFailed,
  // Auth0 flows (src/integrations/auth0.cpp).
  kAuth0MissingCode,
  kAuth0MissingState,
  kAuth0MissingAccessToken,
  kAuth0MissingRefreshToken,
  kAuth0Network,   // no usable answer (network, TLS, timeout, broken HTTP); the message names the call
  kAuth0Upstream,  // Auth0 answered non-2xx: its status is relayed (see relayed_error_response)
  kAuth0Internal,  // a 2xx answer the gateway cannot use
  // Supabase flows (src/integrations/supabase.cpp); the *Failed messages carry Supabase's own text.
  kSupabaseInvalidJson,
  kSupabaseMissingEmailOrPhone,
  kSupabaseMissingTokenOrContact,
  kSupabaseMissingEmail,
  kSupabaseEnvMissing,
  kSupabaseEmailOtpFailed,  // signInWithOtp and the admin fallback both failed
  kSupabasePhoneOtpFailed,
  kSupabaseVerifyFailed,
  kSupabaseAltRefused,     // signUp answered with an error
  kSupabaseAltUnanswered,  // signUp got no answer
  // Rate limits (src/ratelimit/limiter.cpp).
  kTooManyRequests,       // a policy's limit is reached (429, with Retry-After)
  kRateLimitUnavailable,  // a fail_open: false policy's Redis did not answer in time (503)
  // Upstream clusters (src/http/cluster.cpp).
  kUpstreamOverloaded,  // the server's circuit breaker (max_requests, max_pending) is open (503)
};

struct ErrorSpec {
  ErrorKind kind;
  int status;
  std::string_view code;     // "" for the original's {"message": ...} bodies
  std::string_view message;  // the default message (a call site may pass its own text instead)
  std::string_view body;     // the serialized body with the default message
};

// Every kind, in the order of ErrorKind (checked at compile time in errors.cpp).
std::span<const ErrorSpec> error_table();

const ErrorSpec& error_spec(ErrorKind kind);

// The kind of a request the connection could not read.
ErrorKind error_kind(http::ProtocolError error);

inline constexpr std::string_view kJsonContentType = "application/json";

// The kind's status and body (no allocation: the body is the table's).
http::Response error_response(ErrorKind kind);
// The kind's status and code with a message of the call site's ({"error": message, "code": code}).
http::Response error_response(ErrorKind kind, std::string_view message);
// For kinds that relay a provider's status (kAuth0Upstream): `provider_status` when it is 400-599, else the
// table's status (a status the client could misread, such as 1xx or 3xx without a Location).
http::Response relayed_error_response(ErrorKind kind, int provider_status, std::string_view message);

// An auth module failure: {"error": message, "code": code} with its status.
http::Response auth_error(const auth::AuthFailure& failure);
// A failed verification: the verifier's failure, else kJwtVerificationFailed.
http::Response auth_error(const std::optional<auth::AuthFailure>& failure);

}  // namespace workgate::pipeline
