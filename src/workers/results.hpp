// Turning what a worker function returned into the gateway's response or request: the JSON envelope of
// the original gateway's generateJsonResponse (spec §2.10), responses, response edits and request edits.
#pragma once

#include <boost/json/value.hpp>
#include <string>
#include <string_view>

#include "http/message.hpp"
#include "workers/host.hpp"

namespace workgate::workers {

inline constexpr std::string_view kDefaultTextContentType = "text/plain;charset=UTF-8";

// generateJsonResponse for a value:
//   object -> {"status":"success"|"error","message":...,"data"|"error":...}; status = statusCode (removed
//             from data) else 200 / 500 with a truthy `error`;
//   array  -> the same with data {"0":...,"1":...};
//   string -> the string as the body; null -> empty body (both 200);
//   number / boolean -> 400 empty body.
// Content-Type application/json. Written as JSON.stringify writes it (common/js_json.hpp): JavaScript's key
// order (integer-like keys first, ascending) and number formatting.
// False (and `error`) when statusCode is not a number from 200 to 599.
bool wrap_value(const boost::json::value& value, http::Response& out, std::string& error);

// wrap_value of the JSON text `json`; false when it is not JSON.
bool wrap_json_text(std::string_view json, http::Response& out, std::string& error);

// The response for a function that returned nothing (JavaScript undefined): 400, empty, application/json.
http::Response undefined_response();

// Builds the response of a result of kind kResponse, kJson or kString into `response`. With `edit` true
// and a kResponse result that did not call respond(), the changes apply to `response` as it is
// (post_process); otherwise `response` is replaced. False (and `error`) for an invalid status, header
// name or value, or invalid JSON.
bool build_response(ResultData& result, http::Response& response, bool edit, std::string& error);

// Applies a pre_process result's header, query and body changes to `request` (the path is the caller's:
// it has to match the route again). False (and `error`) when a change is invalid; nothing is applied then.
bool apply_request_changes(ResultData& result, http::Request& request, std::string& error);

// A path a pre_process hook may set: starts with '/', no '?', '#', spaces or control characters.
bool valid_path(std::string_view path);
bool valid_query(std::string_view query);
bool valid_header_name(std::string_view name);
bool valid_header_value(std::string_view value);

}  // namespace workgate::workers
