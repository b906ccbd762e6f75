#include "pipeline/errors.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace workgate::pipeline {
namespace {

struct Expected {
  ErrorKind kind;
  int status;
  std::string_view body;
};

TEST(ErrorResponse, EveryKind) {
  const Expected cases[] = {
      {ErrorKind::kNoMatch, 404, R"({"message":"No match found."})"},
      {ErrorKind::kInternal, 500, R"({"message":"Internal server error"})"},
      {ErrorKind::kBadRequest, 400, R"({"error":"Bad request","code":"BAD_REQUEST"})"},
      {ErrorKind::kRequestTimeout, 408, R"({"error":"Request timeout","code":"REQUEST_TIMEOUT"})"},
      {ErrorKind::kPayloadTooLarge, 413, R"({"error":"Payload too large","code":"PAYLOAD_TOO_LARGE"})"},
      {ErrorKind::kHeadersTooLarge, 431,
       R"({"error":"Request header fields too large","code":"HEADERS_TOO_LARGE"})"},
      {ErrorKind::kVersionNotSupported, 505,
       R"({"error":"HTTP version not supported","code":"HTTP_VERSION_NOT_SUPPORTED"})"},
      {ErrorKind::kNotImplemented, 501, R"({"error":"Not implemented","code":"NOT_IMPLEMENTED"})"},
      {ErrorKind::kUpstreamUnavailable, 502,
       R"({"error":"Upstream unavailable","code":"UPSTREAM_UNAVAILABLE"})"},
      {ErrorKind::kUpstreamTimeout, 504, R"({"error":"Upstream timed out","code":"UPSTREAM_TIMEOUT"})"},
      {ErrorKind::kUpstreamBadResponse, 502,
       R"({"error":"Invalid response from upstream","code":"UPSTREAM_BAD_RESPONSE"})"},
      {ErrorKind::kWorkerTimeout, 504, R"({"error":"Worker timed out","code":"WORKER_TIMEOUT"})"},
  };
  for (const Expected& e : cases) {
    SCOPED_TRACE(e.body);
    http::Response r = error_response(e.kind);
    EXPECT_EQ(r.status, e.status);
    EXPECT_EQ(r.content_type, "application/json");
    EXPECT_EQ(r.body(), e.body);
    EXPECT_TRUE(r.headers.empty());
    EXPECT_FALSE(r.close);
    EXPECT_EQ(r.body_source, nullptr);
  }
}

TEST(ErrorResponse, BodySurvivesTheResponse) {
  std::string_view body;
  {
    http::Response r = error_response(ErrorKind::kNoMatch);
    body = r.body();
  }
  EXPECT_EQ(body, R"({"message":"No match found."})");
}

TEST(CodedError, Shape) {
  http::Response r = coded_error(401, "Unauthorized", "ERR_UNAUTHORIZED");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.content_type, kJsonContentType);
  EXPECT_EQ(r.body(), R"({"error":"Unauthorized","code":"ERR_UNAUTHORIZED"})");
}

TEST(CodedError, EmptyCodeOmitted) {
  http::Response r = coded_error(403, "Forbidden", "");
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.body(), R"({"error":"Forbidden"})");
}

TEST(CodedError, JsonEscaping) {
  http::Response r = coded_error(400, "say \"hi\" \\ back\nslash\t\x01\x1f", "C\"ODE");
  EXPECT_EQ(r.body(), R"({"error":"say \"hi\" \\ back\nslash\t\u0001\u001f","code":"C\"ODE"})");
}

TEST(CodedError, NonAsciiPassesThrough) {
  http::Response r = coded_error(400, "caf\xC3\xA9", "X");
  EXPECT_EQ(r.body(), "{\"error\":\"caf\xC3\xA9\",\"code\":\"X\"}");
}

TEST(CodedError, EmptyError) {
  http::Response r = coded_error(500, "", "");
  EXPECT_EQ(r.body(), R"({"error":""})");
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

}  // namespace
}  // namespace workgate::pipeline
