#include "workers/results.hpp"

#include <algorithm>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cmath>
#include <cstdint>
#include <vector>

#include "pipeline/errors.hpp"

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

// A canonical array index ("0", "17"; not "01", "-1", "4294967295"): JavaScript lists these keys first.
bool array_index(std::string_view key, std::uint64_t& index) {
  if (key.empty() || key.size() > 10 || (key.size() > 1 && key[0] == '0')) return false;
  std::uint64_t n = 0;
  for (char c : key) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (n >= 4294967295ULL) return false;
  index = n;
  return true;
}

void js_order(json::value& v);

// Reorders an object's keys like a JavaScript object (integer-like keys ascending, then insertion order).
void js_order_object(json::object& obj) {
  bool has_index = false;
  std::uint64_t index = 0;
  for (auto& kv : obj) {
    js_order(kv.value());
    if (array_index(kv.key(), index)) has_index = true;
  }
  if (!has_index) return;
  std::vector<std::pair<std::uint64_t, json::key_value_pair*>> indexed;
  std::vector<json::key_value_pair*> named;
  for (auto& kv : obj) {
    if (array_index(kv.key(), index)) {
      indexed.emplace_back(index, &kv);
    } else {
      named.push_back(&kv);
    }
  }
  std::stable_sort(indexed.begin(), indexed.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  json::object ordered(obj.storage());
  ordered.reserve(obj.size());
  for (auto& [i, kv] : indexed)
    ordered.emplace(kv->key(), std::move(kv->value()));
  for (auto* kv : named)
    ordered.emplace(kv->key(), std::move(kv->value()));
  obj = std::move(ordered);
}

void js_order(json::value& v) {
  if (v.is_object()) {
    js_order_object(v.get_object());
  } else if (v.is_array()) {
    for (auto& e : v.get_array())
      js_order(e);
  }
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

void json_response(http::Response& out, int status, std::string body) {
  out = http::Response();
  out.status = status;
  out.content_type = pipeline::kJsonContentType;
  out.set_body(std::move(body));
}

bool envelope(json::object& in, http::Response& out, std::string& error) {
  json::value status_code, err, message;
  bool has_status = false;
  json::object data(in.storage());
  data.reserve(in.size());
  for (auto& kv : in) {
    std::string_view key = kv.key();
    if (key == "statusCode") {
      status_code = std::move(kv.value());
      has_status = true;
    } else if (key == "error") {
      err = std::move(kv.value());
    } else if (key == "message") {
      message = std::move(kv.value());
    } else {
      data.emplace(key, std::move(kv.value()));
    }
  }
  bool is_error = truthy(err);
  int status = is_error ? 500 : 200;
  if (has_status && !status_code.is_null() && !status_of(status_code, status)) {
    error = "statusCode is not a number from 200 to 599";
    return false;
  }
  json::object body(in.storage());
  body.reserve(3);
  body.emplace("status", is_error ? "error" : "success");
  if (truthy(message)) {
    js_order(message);
    body.emplace("message", std::move(message));
  } else {
    body.emplace("message", is_error ? "An error occurred." : "Operation completed successfully.");
  }
  if (is_error) {
    js_order(err);
    body.emplace("error", std::move(err));
  } else {
    js_order_object(data);
    body.emplace("data", std::move(data));
  }
  json_response(out, status, json::serialize(body));
  return true;
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

bool wrap_value(json::value value, http::Response& out, std::string& error) {
  switch (value.kind()) {
    case json::kind::null:
      json_response(out, 200, {});
      return true;
    case json::kind::string:
      json_response(out, 200, std::string(value.get_string()));
      return true;
    case json::kind::object:
      return envelope(value.get_object(), out, error);
    case json::kind::array: {
      json::object indexed(value.storage());
      auto& arr = value.get_array();
      indexed.reserve(arr.size());
      for (std::size_t i = 0; i < arr.size(); ++i)
        indexed.emplace(std::to_string(i), std::move(arr[i]));
      return envelope(indexed, out, error);
    }
    default:
      out = undefined_response();
      return true;
  }
}

bool wrap_json_text(std::string_view text, http::Response& out, std::string& error) {
  // Results are small: parse and rebuild them in one stack arena instead of a malloc per node.
  unsigned char arena[8192];
  json::monotonic_resource resource(arena, sizeof(arena));
  boost::system::error_code ec;
  json::value value = json::parse(text, ec, json::storage_ptr(&resource));
  if (ec) {
    error = "the returned value is not valid JSON (" + ec.message() + ")";
    return false;
  }
  return wrap_value(std::move(value), out, error);
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
      json_response(response, 200, std::move(result.value));
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
