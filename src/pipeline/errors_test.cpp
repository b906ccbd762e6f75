#include "pipeline/errors.hpp"

#include <gtest/gtest.h>

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <set>
#include <string>
#include <string_view>

namespace workgate::pipeline {
namespace {

struct Expected {
  ErrorKind kind;
  int status;
  std::string_view code;
  std::string_view body;
};

// Every kind with the status and body the conformance suites, the e2e tests and docs/compatibility.md
// expect. A kind added to ErrorKind without a row here fails EveryKindIsListed.
const Expected kExpected[] = {
    {ErrorKind::kNoMatch, 404, "", R"({"message":"No match found."})"},
    {ErrorKind::kInternal, 500, "", R"({"message":"Internal server error"})"},
    {ErrorKind::kBadRequest, 400, "BAD_REQUEST", R"({"error":"Bad request","code":"BAD_REQUEST"})"},
    {ErrorKind::kRequestTimeout, 408, "REQUEST_TIMEOUT",
     R"({"error":"Request timeout","code":"REQUEST_TIMEOUT"})"},
    {ErrorKind::kPayloadTooLarge, 413, "PAYLOAD_TOO_LARGE",
     R"({"error":"Payload too large","code":"PAYLOAD_TOO_LARGE"})"},
    {ErrorKind::kHeadersTooLarge, 431, "HEADERS_TOO_LARGE",
     R"({"error":"Request header fields too large","code":"HEADERS_TOO_LARGE"})"},
    {ErrorKind::kVersionNotSupported, 505, "HTTP_VERSION_NOT_SUPPORTED",
     R"({"error":"HTTP version not supported","code":"HTTP_VERSION_NOT_SUPPORTED"})"},
    {ErrorKind::kNotImplemented, 501, "NOT_IMPLEMENTED",
     R"({"error":"Not implemented","code":"NOT_IMPLEMENTED"})"},
    {ErrorKind::kUpstreamUnavailable, 502, "UPSTREAM_UNAVAILABLE",
     R"({"error":"Upstream unavailable","code":"UPSTREAM_UNAVAILABLE"})"},
    {ErrorKind::kUpstreamTimeout, 504, "UPSTREAM_TIMEOUT",
     R"({"error":"Upstream timed out","code":"UPSTREAM_TIMEOUT"})"},
    {ErrorKind::kUpstreamBadResponse, 502, "UPSTREAM_BAD_RESPONSE",
     R"({"error":"Invalid response from upstream","code":"UPSTREAM_BAD_RESPONSE"})"},
    {ErrorKind::kWorkerTimeout, 504, "WORKER_TIMEOUT",
     R"({"error":"Worker timed out","code":"WORKER_TIMEOUT"})"},
    {ErrorKind::kWorkerUnavailable, 502, "WORKER_UNAVAILABLE",
     R"({"error":"Worker unavailable","code":"WORKER_UNAVAILABLE"})"},
    {ErrorKind::kJwtVerificationFailed, 401, "AUTH_ERROR",
     R"({"error":"JWT verification failed","code":"AUTH_ERROR"})"},
    {ErrorKind::kAuth0MissingCode, 400, "missing_code",
     R"({"error":"Missing authorization code","code":"missing_code"})"},
    {ErrorKind::kAuth0MissingState, 400, "missing_state",
     R"({"error":"Missing state","code":"missing_state"})"},
    {ErrorKind::kAuth0MissingAccessToken, 401, "missing_access_token",
     R"({"error":"Missing bearer token","code":"missing_access_token"})"},
    {ErrorKind::kAuth0MissingRefreshToken, 400, "missing_refresh_token",
     R"({"error":"Missing refresh token","code":"missing_refresh_token"})"},
    {ErrorKind::kAuth0Network, 502, "AUTH0_NETWORK_ERROR",
     R"({"error":"Auth0 request failed","code":"AUTH0_NETWORK_ERROR"})"},
    {ErrorKind::kAuth0Upstream, 502, "AUTH0_UPSTREAM_ERROR",
     R"({"error":"Auth0 call failed","code":"AUTH0_UPSTREAM_ERROR"})"},
    {ErrorKind::kAuth0Internal, 500, "AUTH0_ERROR",
     R"({"error":"Internal Server Error","code":"AUTH0_ERROR"})"},
    {ErrorKind::kSupabaseInvalidJson, 400, "invalid_json",
     R"({"error":"Invalid JSON body","code":"invalid_json"})"},
    {ErrorKind::kSupabaseMissingEmailOrPhone, 400, "missing_email_or_phone",
     R"({"error":"Missing email or phone","code":"missing_email_or_phone"})"},
    {ErrorKind::kSupabaseMissingTokenOrContact, 400, "missing_token_or_contact",
     R"({"error":"Missing token, email, or phone","code":"missing_token_or_contact"})"},
    {ErrorKind::kSupabaseMissingEmail, 400, "missing_email",
     R"({"error":"Missing email - alternative method only supports email","code":"missing_email"})"},
    {ErrorKind::kSupabaseEnvMissing, 500, "SUPABASE_ENV_MISSING",
     R"({"error":"Supabase environment is not configured.","code":"SUPABASE_ENV_MISSING"})"},
    {ErrorKind::kSupabaseEmailOtpFailed, 502, "SUPABASE_OTP_SEND_FAILED",
     R"({"error":"Failed to send OTP","code":"SUPABASE_OTP_SEND_FAILED"})"},
    {ErrorKind::kSupabasePhoneOtpFailed, 400, "SUPABASE_OTP_SEND_FAILED",
     R"({"error":"Phone OTP Error","code":"SUPABASE_OTP_SEND_FAILED"})"},
    {ErrorKind::kSupabaseVerifyFailed, 401, "SUPABASE_OTP_VERIFY_FAILED",
     R"({"error":"OTP Verification Error","code":"SUPABASE_OTP_VERIFY_FAILED"})"},
    {ErrorKind::kSupabaseAltRefused, 400, "SUPABASE_OTP_ALT_FAILED",
     R"({"error":"Alternative OTP method failed","code":"SUPABASE_OTP_ALT_FAILED"})"},
    {ErrorKind::kSupabaseAltUnanswered, 502, "SUPABASE_OTP_ALT_FAILED",
     R"({"error":"Alternative OTP method failed","code":"SUPABASE_OTP_ALT_FAILED"})"},
    {ErrorKind::kTooManyRequests, 429, "", R"({"message":"Too many requests"})"},
    {ErrorKind::kRateLimitUnavailable, 503, "", R"({"message":"Rate limit unavailable"})"},
    {ErrorKind::kUpstreamOverloaded, 503, "UPSTREAM_OVERLOADED",
     R"({"error":"Upstream overloaded","code":"UPSTREAM_OVERLOADED"})"},
};

TEST(ErrorTable, EveryKindIsListed) {
  std::set<ErrorKind> listed;
  for (const Expected& e : kExpected)
    listed.insert(e.kind);
  EXPECT_EQ(listed.size(), std::size(kExpected)) << "a kind listed twice";
  EXPECT_EQ(error_table().size(), std::size(kExpected));
  for (const ErrorSpec& spec : error_table())
    EXPECT_TRUE(listed.contains(spec.kind)) << spec.body;
}

TEST(ErrorTable, EveryKindHasItsStatusCodeAndBody) {
  for (const Expected& e : kExpected) {
    SCOPED_TRACE(e.body);
    EXPECT_EQ(error_spec(e.kind).status, e.status);
    EXPECT_EQ(error_spec(e.kind).code, e.code);
    http::Response r = error_response(e.kind);
    EXPECT_EQ(r.status, e.status);
    EXPECT_EQ(r.content_type, "application/json");
    EXPECT_EQ(r.body(), e.body);
    EXPECT_TRUE(r.headers.empty());
    EXPECT_FALSE(r.close);
    EXPECT_EQ(r.body_source, nullptr);
  }
}

// The serialized body of each row says what its message and code say.
TEST(ErrorTable, BodiesAreTheMessageAndCode) {
  for (const ErrorSpec& spec : error_table()) {
    SCOPED_TRACE(spec.body);
    boost::json::object body;
    if (spec.code.empty()) {
      body["message"] = spec.message;
    } else {
      body["error"] = spec.message;
      body["code"] = spec.code;
    }
    EXPECT_EQ(boost::json::serialize(body), spec.body);
    if (!spec.code.empty()) {
      EXPECT_EQ(error_response(spec.kind, spec.message).body(), spec.body);
    }
  }
}

TEST(ErrorKindOf, ProtocolErrors) {
  EXPECT_EQ(error_kind(http::ProtocolError::kBadRequest), ErrorKind::kBadRequest);
  EXPECT_EQ(error_kind(http::ProtocolError::kRequestTimeout), ErrorKind::kRequestTimeout);
  EXPECT_EQ(error_kind(http::ProtocolError::kPayloadTooLarge), ErrorKind::kPayloadTooLarge);
  EXPECT_EQ(error_kind(http::ProtocolError::kHeadersTooLarge), ErrorKind::kHeadersTooLarge);
  EXPECT_EQ(error_kind(http::ProtocolError::kVersionNotSupported), ErrorKind::kVersionNotSupported);
  EXPECT_EQ(error_kind(http::ProtocolError::kNotImplemented), ErrorKind::kNotImplemented);
}

TEST(ErrorResponse, BodySurvivesTheResponse) {
  std::string_view body;
  {
    http::Response r = error_response(ErrorKind::kNoMatch);
    body = r.body();
  }
  EXPECT_EQ(body, R"({"message":"No match found."})");
}

TEST(ErrorResponse, DynamicMessageKeepsTheKindsStatusAndCode) {
  http::Response r =
      error_response(ErrorKind::kSupabaseVerifyFailed, "OTP Verification Error: Token has expired");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.content_type, kJsonContentType);
  EXPECT_EQ(r.body(),
            R"({"error":"OTP Verification Error: Token has expired","code":"SUPABASE_OTP_VERIFY_FAILED"})");
}

TEST(ErrorResponse, DynamicMessageJsonEscaping) {
  http::Response r = error_response(ErrorKind::kSupabaseAltRefused, "say \"hi\" \\ back\nslash\t\x01\x1f");
  EXPECT_EQ(r.body(),
            R"({"error":"say \"hi\" \\ back\nslash\t\u0001\u001f","code":"SUPABASE_OTP_ALT_FAILED"})");
}

TEST(ErrorResponse, DynamicMessageNonAsciiPassesThrough) {
  http::Response r = error_response(ErrorKind::kSupabaseAltRefused, "caf\xC3\xA9");
  EXPECT_EQ(r.body(), "{\"error\":\"caf\xC3\xA9\",\"code\":\"SUPABASE_OTP_ALT_FAILED\"}");
}

TEST(RelayedErrorResponse, ProviderStatusWhenItIsAnError) {
  for (int status : {400, 403, 429, 500, 503, 599}) {
    http::Response r = relayed_error_response(ErrorKind::kAuth0Upstream, status, "Auth0 userinfo failed");
    EXPECT_EQ(r.status, status);
    EXPECT_EQ(r.body(), R"({"error":"Auth0 userinfo failed","code":"AUTH0_UPSTREAM_ERROR"})");
  }
}

TEST(RelayedErrorResponse, StatusesAClientCouldMisreadBecomeTheTablesStatus) {
  for (int status : {100, 101, 200, 204, 301, 302, 399, 600, 0, -1}) {
    SCOPED_TRACE(status);
    EXPECT_EQ(relayed_error_response(ErrorKind::kAuth0Upstream, status, "x").status, 502);
  }
}

TEST(AuthError, UsesFailureFields) {
  auth::AuthFailure failure;
  failure.status = 403;
  failure.message = "Token \"expired\"";
  failure.code = "ERR_TOKEN_EXPIRED";
  http::Response r = auth_error(failure);
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(r.body(), R"({"error":"Token \"expired\"","code":"ERR_TOKEN_EXPIRED"})");

  auth::AuthFailure no_code;
  no_code.message = "m";
  EXPECT_EQ(auth_error(no_code).status, 401);
  EXPECT_EQ(auth_error(no_code).body(), R"({"error":"m"})");
}

TEST(AuthError, AVerificationWithoutAFailureIsAuthError) {
  http::Response r = auth_error(std::optional<auth::AuthFailure>());
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.body(), R"({"error":"JWT verification failed","code":"AUTH_ERROR"})");
  auth::AuthFailure failure{401, "Token has expired.", "JWT_EXPIRED"};
  EXPECT_EQ(auth_error(std::optional(failure)).body(),
            R"({"error":"Token has expired.","code":"JWT_EXPIRED"})");
}

}  // namespace
}  // namespace workgate::pipeline
