#include "pipeline/errors.hpp"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

namespace workgate::pipeline {
namespace {

struct Fixed {
  int status;
  std::string_view body;
};

Fixed fixed_error(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kNoMatch:
      return {404, R"({"message":"No match found."})"};
    case ErrorKind::kInternal:
      return {500, R"({"message":"Internal server error"})"};
    case ErrorKind::kBadRequest:
      return {400, R"({"error":"Bad request","code":"BAD_REQUEST"})"};
    case ErrorKind::kRequestTimeout:
      return {408, R"({"error":"Request timeout","code":"REQUEST_TIMEOUT"})"};
    case ErrorKind::kPayloadTooLarge:
      return {413, R"({"error":"Payload too large","code":"PAYLOAD_TOO_LARGE"})"};
    case ErrorKind::kHeadersTooLarge:
      return {431, R"({"error":"Request header fields too large","code":"HEADERS_TOO_LARGE"})"};
    case ErrorKind::kVersionNotSupported:
      return {505, R"({"error":"HTTP version not supported","code":"HTTP_VERSION_NOT_SUPPORTED"})"};
    case ErrorKind::kNotImplemented:
      return {501, R"({"error":"Not implemented","code":"NOT_IMPLEMENTED"})"};
    case ErrorKind::kUpstreamUnavailable:
      return {502, R"({"error":"Upstream unavailable","code":"UPSTREAM_UNAVAILABLE"})"};
    case ErrorKind::kUpstreamTimeout:
      return {504, R"({"error":"Upstream timed out","code":"UPSTREAM_TIMEOUT"})"};
    case ErrorKind::kUpstreamBadResponse:
      return {502, R"({"error":"Invalid response from upstream","code":"UPSTREAM_BAD_RESPONSE"})"};
    case ErrorKind::kWorkerTimeout:
      return {504, R"({"error":"Worker timed out","code":"WORKER_TIMEOUT"})"};
  }
  return {500, R"({"message":"Internal server error"})"};
}

}  // namespace

http::Response error_response(ErrorKind kind) {
  Fixed fixed = fixed_error(kind);
  http::Response response;
  response.status = fixed.status;
  response.content_type = kJsonContentType;
  response.set_external_body(fixed.body);
  return response;
}

http::Response coded_error(int status, std::string_view error, std::string_view code) {
  boost::json::object body;
  body["error"] = error;
  if (!code.empty()) body["code"] = code;
  http::Response response;
  response.status = status;
  response.content_type = kJsonContentType;
  response.set_body(boost::json::serialize(body));
  return response;
}

http::Response auth_error(const auth::AuthFailure& failure) {
  return coded_error(failure.status, failure.message, failure.code);
}

}  // namespace workgate::pipeline
