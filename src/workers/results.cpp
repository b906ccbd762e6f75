#include "workers/results.hpp"

#include <algorithm>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <vector>

#include "common/js_json.hpp"
#include "pipeline/errors.hpp"
#include "workers/envelope.hpp"

namespace workgate::workers {
namespace json = boost::json;

namespace {

// JavaScript truthiness of a JSON value.
bool truthy(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null:
      return false;
    case json::kind::bool_:
      return v.get_bool();
    case json::kind::int64:
      return v.get_int64() != 0;
    case json::kind::uint64:
      return v.get_uint64() != 0;
    case json::kind::double_:
      return v.get_double() != 0 && !std::isnan(v.get_double());
    case json::kind::string:
      return !v.get_string().empty();
    case json::kind::array:
    case json::kind::object:
      return true;
  }
  return false;
}

bool status_in_range(std::int64_t status) {
  return status >= 200 && status <= 599;
}

bool status_of(const json::value& v, int& status) {
  std::int64_t n = 0;
  if (v.is_int64()) {
    n = v.get_int64();
  } else if (v.is_uint64()) {
    if (v.get_uint64() > 1000) return false;
    n = static_cast<std::int64_t>(v.get_uint64());
  } else if (v.is_double()) {
    double d = v.get_double();
    if (!(d >= 200 && d <= 599) || std::floor(d) != d) return false;
    n = static_cast<std::int64_t>(d);
  } else {
    return false;
  }
  if (!status_in_range(n)) return false;
  status = static_cast<int>(n);
  return true;
}

// Makes `out` an empty JSON response (keeping its memory) and returns its body to write.
std::string& start_json_response(http::Response& out, int status) {
  out.reset_for_reuse();
  out.status = status;
  out.content_type = pipeline::kJsonContentType;
  return out.owned_body();
}

void json_response(http::Response& out, int status, std::string_view body) {
  start_json_response(out, status).assign(body);
}

// {"status":...,"message":...,"data"|"error":...} from its parts, whichever path read them.
bool write_envelope(const EnvelopeParts& parts, http::Response& out, std::string& error) {
  int status = parts.error_truthy ? 500 : 200;
  if (!parts.status_code.is_null() && !status_of(parts.status_code, status)) {
    error = "statusCode is not a number from 200 to 599";
    return false;
  }
  std::string& body = start_json_response(out, status);
  body.reserve(parts.data.size() + parts.message.size() + parts.error.size() + 96);
  body += parts.error_truthy ? R"({"status":"error","message":)" : R"({"status":"success","message":)";
  if (parts.message_truthy) {
    body += parts.message;
  } else {
    body += parts.error_truthy ? R"("An error occurred.")" : R"("Operation completed successfully.")";
  }
  if (parts.error_truthy) {
    body += R"(,"error":)";
    body += parts.error;
  } else {
    body += R"(,"data":)";
    body += parts.data;
  }
  body.push_back('}');
  return true;
}

// The general path: the envelope from the parsed value.
bool dom_envelope(const json::object& in, http::Response& out, std::string& error) {
  EnvelopeParts parts;
  std::string data, message, error_text;
  for (const json::key_value_pair& kv : in) {
    const json::value& v = kv.value();
    switch (envelope_member(kv.key())) {
      case EnvelopeMember::kStatusCode:
        parts.status_code = v.is_number() || v.is_null() ? v : json::value(true);  // true: not a status
        break;
      case EnvelopeMember::kError:
        parts.error_truthy = truthy(v);
        if (parts.error_truthy) append_js_json(error_text, v);
        break;
      case EnvelopeMember::kMessage:
        parts.message_truthy = truthy(v);
        if (parts.message_truthy) append_js_json(message, v);
        break;
      case EnvelopeMember::kData:
        break;
    }
  }
  auto taken_out = [](std::string_view key) { return envelope_member(key) != EnvelopeMember::kData; };
  if (!parts.error_truthy) append_js_json(data, in, taken_out);
  parts.data = data;
  parts.message = message;
  parts.error = error_text;
  return write_envelope(parts, out, error);
}

bool is_framing_header(std::string_view name) {
  return http::iequals(name, "Content-Length") || http::iequals(name, "Transfer-Encoding") ||
         http::iequals(name, "Connection");
}

bool check_ops(const std::vector<HeaderOp>& ops, std::string& error) {
  for (const HeaderOp& op : ops) {
    if (!valid_header_name(op.name)) {
      error = "invalid header name";
      return false;
    }
    if (op.type != HeaderOp::kRemove && !valid_header_value(op.value)) {
      error = "invalid value for header " + op.name;
      return false;
    }
  }
  return true;
}

// Framing headers are the gateway's: changes to them are ignored.
void apply_ops(const std::vector<HeaderOp>& ops, http::HeaderList& headers) {
  for (const HeaderOp& op : ops) {
    if (is_framing_header(op.name)) continue;
    switch (op.type) {
      case HeaderOp::kSet:
        headers.set(op.name, op.value);
        break;
      case HeaderOp::kAdd:
        headers.add(op.name, op.value);
        break;
      case HeaderOp::kRemove:
        headers.remove(op.name);
        break;
    }
  }
}

bool touches_content_type(const std::vector<HeaderOp>& ops) {
  return std::any_of(ops.begin(), ops.end(),
                     [](const HeaderOp& op) { return http::iequals(op.name, "Content-Type"); });
}

}  // namespace

bool valid_header_name(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

// RFC 9110 field-value: no control characters but HTAB (so no CR, LF or NUL to split the header block).
bool valid_header_value(std::string_view value) {
  return std::none_of(value.begin(), value.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && c != '\t') || u == 0x7f;
  });
}

namespace {
bool plain_target_char(char c) {
  auto u = static_cast<unsigned char>(c);
  return u > 0x20 && u != 0x7f && c != '#';
}
}  // namespace

bool valid_path(std::string_view path) {
  if (path.empty() || path[0] != '/') return false;
  return std::all_of(path.begin(), path.end(), [](char c) { return plain_target_char(c) && c != '?'; });
}

bool valid_query(std::string_view query) {
  return std::all_of(query.begin(), query.end(), plain_target_char);
}

http::Response undefined_response() {
  http::Response out;
  out.status = 400;
  out.content_type = pipeline::kJsonContentType;
  return out;
}

bool wrap_value(const json::value& value, http::Response& out, std::string& error) {
  switch (value.kind()) {
    case json::kind::null:
      json_response(out, 200, {});
      return true;
    case json::kind::string:
      json_response(out, 200, value.get_string());
      return true;
    case json::kind::object:
      return dom_envelope(value.get_object(), out, error);
    case json::kind::array: {
      // An array is wrapped as the object {"0": ..., "1": ...}; none of its keys is an envelope key.
      std::string& body = start_json_response(out, 200);
      body += R"({"status":"success","message":"Operation completed successfully.","data":{)";
      const json::array& elements = value.get_array();
      for (std::size_t i = 0; i < elements.size(); ++i) {
        if (i != 0) body.push_back(',');
        char digits[24];
        body.push_back('"');
        body.append(digits, std::to_chars(digits, digits + sizeof(digits), i).ptr);
        body += "\":";
        append_js_json(body, elements[i]);
      }
      body += "}}";
      return true;
    }
    default:
      out = undefined_response();
      return true;
  }
}

bool wrap_json_text(std::string_view text, http::Response& out, std::string& error) {
  EnvelopeParts parts;
  if (scan_envelope(text, parts)) return write_envelope(parts, out, error);
  // Not an object, or one JavaScript would reorder or merge, or not JSON: parse it (in one stack arena
  // instead of a malloc per node; results are small).
  unsigned char arena[8192];
  json::monotonic_resource resource(arena, sizeof(arena));
  boost::system::error_code ec;
  json::value value = json::parse(text, ec, json::storage_ptr(&resource));
  if (ec) {
    error = "the returned value is not valid JSON (" + ec.message() + ")";
    return false;
  }
  return wrap_value(value, out, error);
}

bool build_response(ResultData& result, http::Response& response, bool edit, std::string& error) {
  if (!check_ops(result.response_ops, error)) return false;
  if (result.status != 0 && !status_in_range(result.status)) {
    error = "invalid status " + std::to_string(result.status);
    return false;
  }
  bool fresh = false;
  switch (result.kind) {
    case ResultData::Kind::kJson:
      if (!wrap_json_text(result.value, response, error)) return false;
      break;
    case ResultData::Kind::kString:
      start_json_response(response, 200);
      response.swap_body(result.value);
      break;
    case ResultData::Kind::kResponse:
      if (result.replace || !edit) {
        response = http::Response();
        fresh = true;
      }
      break;
    case ResultData::Kind::kNone:
      if (!edit) response = undefined_response();
      return true;
    case ResultData::Kind::kError:
      error = result.value;
      return false;
  }
  if (result.status != 0) response.status = result.status;
  if (!response.content_type.empty() && touches_content_type(result.response_ops)) {
    response.headers.add("Content-Type", response.content_type);
    response.content_type = {};
  }
  apply_ops(result.response_ops, response.headers);
  if (result.response_body) {
    response.body_source.reset();  // a streamed integration body is replaced
    if (response.keep_content_length) {
      response.keep_content_length = false;
      response.headers.remove("Content-Length");
    }
    response.set_body(std::move(*result.response_body));
  }
  if (fresh && !response.body().empty() && response.content_type.empty() &&
      !response.headers.contains("Content-Type")) {
    response.content_type = kDefaultTextContentType;  // like new Response("text")
  }
  return true;
}

bool apply_request_changes(ResultData& result, http::Request& request, std::string& error) {
  if (!check_ops(result.request_ops, error)) return false;
  if (result.query && !valid_query(*result.query)) {
    error = "invalid query";
    return false;
  }
  apply_ops(result.request_ops, request.headers);
  if (result.query) {
    request.query = std::move(*result.query);
    request.has_query = result.has_query;
  }
  if (result.request_body) {
    request.body = std::move(*result.request_body);
    request.content_length = request.body.size();
    request.chunked = false;
    request.headers.remove("Transfer-Encoding");
    request.headers.set("Content-Length", std::to_string(request.body.size()));
  }
  return true;
}

}  // namespace workgate::workers
