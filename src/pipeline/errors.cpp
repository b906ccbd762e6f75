#include "pipeline/errors.hpp"

#include <array>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

namespace workgate::pipeline {
namespace {

using K = ErrorKind;

// One row per kind. The statuses and bodies are the ones docs/compatibility.md promises (the original's where
// it had one). Auth flows answer 502 for "no usable answer" whatever the cause, timeouts included, as their
// codes (AUTH0_NETWORK_ERROR, SUPABASE_*_FAILED) always did; only the proxy's upstream has its own 504.
constexpr std::array kTable{
    ErrorSpec{K::kNoMatch, 404, "", "No match found.", R"({"message":"No match found."})"},
    ErrorSpec{K::kInternal, 500, "", "Internal server error", R"({"message":"Internal server error"})"},
    ErrorSpec{K::kBadRequest, 400, "BAD_REQUEST", "Bad request",
              R"({"error":"Bad request","code":"BAD_REQUEST"})"},
    ErrorSpec{K::kRequestTimeout, 408, "REQUEST_TIMEOUT", "Request timeout",
              R"({"error":"Request timeout","code":"REQUEST_TIMEOUT"})"},
    ErrorSpec{K::kPayloadTooLarge, 413, "PAYLOAD_TOO_LARGE", "Payload too large",
              R"({"error":"Payload too large","code":"PAYLOAD_TOO_LARGE"})"},
    ErrorSpec{K::kHeadersTooLarge, 431, "HEADERS_TOO_LARGE", "Request header fields too large",
              R"({"error":"Request header fields too large","code":"HEADERS_TOO_LARGE"})"},
    ErrorSpec{K::kVersionNotSupported, 505, "HTTP_VERSION_NOT_SUPPORTED", "HTTP version not supported",
              R"({"error":"HTTP version not supported","code":"HTTP_VERSION_NOT_SUPPORTED"})"},
    ErrorSpec{K::kNotImplemented, 501, "NOT_IMPLEMENTED", "Not implemented",
              R"({"error":"Not implemented","code":"NOT_IMPLEMENTED"})"},
    ErrorSpec{K::kUpstreamUnavailable, 502, "UPSTREAM_UNAVAILABLE", "Upstream unavailable",
              R"({"error":"Upstream unavailable","code":"UPSTREAM_UNAVAILABLE"})"},
    ErrorSpec{K::kUpstreamTimeout, 504, "UPSTREAM_TIMEOUT", "Upstream timed out",
              R"({"error":"Upstream timed out","code":"UPSTREAM_TIMEOUT"})"},
    ErrorSpec{K::kUpstreamBadResponse, 502, "UPSTREAM_BAD_RESPONSE", "Invalid response from upstream",
              R"({"error":"Invalid response from upstream","code":"UPSTREAM_BAD_RESPONSE"})"},
    ErrorSpec{K::kWorkerTimeout, 504, "WORKER_TIMEOUT", "Worker timed out",
              R"({"error":"Worker timed out","code":"WORKER_TIMEOUT"})"},
    ErrorSpec{K::kWorkerUnavailable, 502, "WORKER_UNAVAILABLE", "Worker unavailable",
              R"({"error":"Worker unavailable","code":"WORKER_UNAVAILABLE"})"},
    ErrorSpec{K::kJwtVerificationFailed, 401, "AUTH_ERROR", "JWT verification failed",
              R"({"error":"JWT verification failed","code":"AUTH_ERROR"})"},
    ErrorSpec{K::kAuth0MissingCode, 400, "missing_code", "Missing authorization code",
              R"({"error":"Missing authorization code","code":"missing_code"})"},
    ErrorSpec{K::kAuth0MissingState, 400, "missing_state", "Missing state",
              R"({"error":"Missing state","code":"missing_state"})"},
    ErrorSpec{K::kAuth0MissingAccessToken, 401, "missing_access_token", "Missing bearer token",
              R"({"error":"Missing bearer token","code":"missing_access_token"})"},
    ErrorSpec{K::kAuth0MissingRefreshToken, 400, "missing_refresh_token", "Missing refresh token",
              R"({"error":"Missing refresh token","code":"missing_refresh_token"})"},
    ErrorSpec{K::kAuth0Network, 502, "AUTH0_NETWORK_ERROR", "Auth0 request failed",
              R"({"error":"Auth0 request failed","code":"AUTH0_NETWORK_ERROR"})"},
    ErrorSpec{K::kAuth0Upstream, 502, "AUTH0_UPSTREAM_ERROR", "Auth0 call failed",
              R"({"error":"Auth0 call failed","code":"AUTH0_UPSTREAM_ERROR"})"},
    ErrorSpec{K::kAuth0Internal, 500, "AUTH0_ERROR", "Internal Server Error",
              R"({"error":"Internal Server Error","code":"AUTH0_ERROR"})"},
    ErrorSpec{K::kSupabaseInvalidJson, 400, "invalid_json", "Invalid JSON body",
              R"({"error":"Invalid JSON body","code":"invalid_json"})"},
    ErrorSpec{K::kSupabaseMissingEmailOrPhone, 400, "missing_email_or_phone", "Missing email or phone",
              R"({"error":"Missing email or phone","code":"missing_email_or_phone"})"},
    ErrorSpec{K::kSupabaseMissingTokenOrContact, 400, "missing_token_or_contact",
              "Missing token, email, or phone",
              R"({"error":"Missing token, email, or phone","code":"missing_token_or_contact"})"},
    ErrorSpec{K::kSupabaseMissingEmail, 400, "missing_email",
              "Missing email - alternative method only supports email",
              R"({"error":"Missing email - alternative method only supports email","code":"missing_email"})"},
    ErrorSpec{K::kSupabaseEnvMissing, 500, "SUPABASE_ENV_MISSING", "Supabase environment is not configured.",
              R"({"error":"Supabase environment is not configured.","code":"SUPABASE_ENV_MISSING"})"},
    ErrorSpec{K::kSupabaseEmailOtpFailed, 502, "SUPABASE_OTP_SEND_FAILED", "Failed to send OTP",
              R"({"error":"Failed to send OTP","code":"SUPABASE_OTP_SEND_FAILED"})"},
    ErrorSpec{K::kSupabasePhoneOtpFailed, 400, "SUPABASE_OTP_SEND_FAILED", "Phone OTP Error",
              R"({"error":"Phone OTP Error","code":"SUPABASE_OTP_SEND_FAILED"})"},
    ErrorSpec{K::kSupabaseVerifyFailed, 401, "SUPABASE_OTP_VERIFY_FAILED", "OTP Verification Error",
              R"({"error":"OTP Verification Error","code":"SUPABASE_OTP_VERIFY_FAILED"})"},
    ErrorSpec{K::kSupabaseAltRefused, 400, "SUPABASE_OTP_ALT_FAILED", "Alternative OTP method failed",
              R"({"error":"Alternative OTP method failed","code":"SUPABASE_OTP_ALT_FAILED"})"},
    ErrorSpec{K::kSupabaseAltUnanswered, 502, "SUPABASE_OTP_ALT_FAILED", "Alternative OTP method failed",
              R"({"error":"Alternative OTP method failed","code":"SUPABASE_OTP_ALT_FAILED"})"},
    ErrorSpec{K::kTooManyRequests, 429, "", "Too many requests", R"({"message":"Too many requests"})"},
    ErrorSpec{K::kRateLimitUnavailable, 503, "", "Rate limit unavailable",
              R"({"message":"Rate limit unavailable"})"},
    ErrorSpec{K::kUpstreamOverloaded, 503, "UPSTREAM_OVERLOADED", "Upstream overloaded",
              R"({"error":"Upstream overloaded","code":"UPSTREAM_OVERLOADED"})"},
};

constexpr bool rows_in_kind_order() {
  for (std::size_t i = 0; i < kTable.size(); ++i) {
    if (static_cast<std::size_t>(kTable[i].kind) != i) return false;
  }
  return true;
}
static_assert(rows_in_kind_order(), "kTable must list every ErrorKind once, in declaration order");
static_assert(static_cast<std::size_t>(K::kUpstreamOverloaded) + 1 == kTable.size(),
              "a kind without a row in kTable");

// The code the access log names a gateway-generated response by: the row's, or for the rows whose body
// has none (the original's plain {"message"} bodies) one spelled the same way.
std::string_view log_code(const ErrorSpec& spec) {
  if (!spec.code.empty()) return spec.code;
  switch (spec.kind) {
    case K::kNoMatch:
      return "NO_MATCH";
    case K::kTooManyRequests:
      return "TOO_MANY_REQUESTS";
    case K::kRateLimitUnavailable:
      return "RATE_LIMIT_UNAVAILABLE";
    default:
      return "INTERNAL";
  }
}

http::Response json_error(int status, std::string_view message, std::string_view code) {
  boost::json::object body;
  body["error"] = message;
  if (!code.empty()) body["code"] = code;
  http::Response response;
  response.status = status;
  response.content_type = kJsonContentType;
  response.set_body(boost::json::serialize(body));
  return response;
}

}  // namespace

std::span<const ErrorSpec> error_table() {
  return kTable;
}

const ErrorSpec& error_spec(ErrorKind kind) {
  return kTable[static_cast<std::size_t>(kind)];
}

ErrorKind error_kind(http::ProtocolError error) {
  switch (error) {
    case http::ProtocolError::kBadRequest:
      return ErrorKind::kBadRequest;
    case http::ProtocolError::kRequestTimeout:
      return ErrorKind::kRequestTimeout;
    case http::ProtocolError::kPayloadTooLarge:
      return ErrorKind::kPayloadTooLarge;
    case http::ProtocolError::kHeadersTooLarge:
      return ErrorKind::kHeadersTooLarge;
    case http::ProtocolError::kVersionNotSupported:
      return ErrorKind::kVersionNotSupported;
    case http::ProtocolError::kNotImplemented:
      return ErrorKind::kNotImplemented;
  }
  return ErrorKind::kBadRequest;
}

http::Response error_response(ErrorKind kind) {
  const ErrorSpec& spec = error_spec(kind);
  http::Response response;
  response.status = spec.status;
  response.content_type = kJsonContentType;
  response.set_external_body(spec.body);
  response.error_code = log_code(spec);
  return response;
}

http::Response error_response(ErrorKind kind, std::string_view message) {
  const ErrorSpec& spec = error_spec(kind);
  http::Response response = json_error(spec.status, message, spec.code);
  response.error_code = log_code(spec);
  return response;
}

http::Response relayed_error_response(ErrorKind kind, int provider_status, std::string_view message) {
  const ErrorSpec& spec = error_spec(kind);
  const int status = provider_status >= 400 && provider_status <= 599 ? provider_status : spec.status;
  http::Response response = json_error(status, message, spec.code);
  response.error_code = log_code(spec);
  return response;
}

http::Response auth_error(const auth::AuthFailure& failure) {
  http::Response response = json_error(failure.status, failure.message, failure.code);
  response.error_code =
      log_code(error_spec(ErrorKind::kJwtVerificationFailed));  // failure.code is not static
  return response;
}

http::Response auth_error(const std::optional<auth::AuthFailure>& failure) {
  if (!failure) return error_response(ErrorKind::kJwtVerificationFailed);
  return auth_error(*failure);
}

}  // namespace workgate::pipeline
