// One call of a JavaScript function: the gateway's side of the bridge protocol (workers/js/bridge.js),
// over a Unix socket to the shard's workerd process, asynchronous on the shard's event loop.
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "http/message.hpp"
#include "http/request_handler.hpp"
#include "router/router.hpp"
#include "workers/host.hpp"
#include "workers/js_engine.hpp"

namespace workgate::workers::js {

// A JavaScript function of one binding (or a service's fetch), resolved at config load.
struct JsFunction {
  std::shared_ptr<Engine> engine;
  std::size_t script = 0;
  std::string env_json = "{}";  // the declared variables that are set
  std::shared_ptr<const ContextData> context;
};

enum class CallKind { kBinding, kService, kPreProcess, kPostProcess };

// What the call sees (views valid until start_call returns: everything is copied into the call).
struct JsCallInput {
  CallKind kind = CallKind::kBinding;
  std::string_view function;
  const http::Request* request = nullptr;
  std::size_t route_index = 0;
  std::string_view route_path;
  std::span<const router::PathParam> params;
  const boost::json::object* claims = nullptr;
  const http::Response* response = nullptr;  // post_process
  unsigned shard = 0;
  std::chrono::milliseconds timeout{5000};
  ResultLimits limits;
  // The request body as it arrives from the client (an integration's call of a large or chunked body);
  // null: request->body is the whole body. Time spent waiting for the client's next piece does not count
  // against `timeout` (the connection's body_timeout bounds the client).
  std::shared_ptr<http::BodySource> body;
};

// What a call sends to the bridge (workers/js/bridge.js; exposed for tests):
// - `meta`: the value of its x-wg-call field, JSON in printable ASCII: {op, fn, kind, method, url, route,
//   a, b, config?, stream?, h?, body?, response?}. `a` and `b` are ctxJson's per-request parts (requestUrl
//   and jwtPayload; matchedPath.matchResult), which the bridge joins with the apiConfig and the route's
//   config from wg-context.js; `h` holds the client fields whose value is not plain text.
// - `fields`: the client's header fields as the call's own ("Name: value\r\n" lines, Host first), without
//   hop-by-hop and framing fields, Expect and x-wg-call.
// - the body: the client's (request_body: request->body, or with input.body set the stream that follows);
//   for post_process `owned_body`, the request body then the response body (meta.body is the first's size).
struct EncodedCall {
  std::string meta;
  // "METHOD absolute-URL HTTP/1.1\r\n": the client's own when the bridge can hand workerd's Request to the
  // function as it is (meta "d"), or a placeholder when it builds the function's Request from meta.
  std::string request_line;
  std::string fields;
  bool request_body = false;
  std::string owned_body;
};
EncodedCall encode_call(const JsFunction& fn, const JsCallInput& input);

// Turns the bridge's answer into an outcome (exposed for tests): `result` is bridge_result() of its reason
// phrase.
Outcome decode_answer(CallKind kind, const http::Request& request, int status, std::string_view result,
                      const std::vector<std::pair<std::string, std::string>>& headers, std::string body,
                      const ResultLimits& limits);

// The config document with every secret removed: values of secret-like keys and every
// $env./$secret./$secrets. placeholder are dropped.
std::string redacted_document(std::string_view document, std::vector<std::string>& route_configs);

// Starts the call on `io` (the calling shard's loop). `done` runs once on that loop with the outcome,
// unless the returned handle is cancelled first. A call that cannot reach workerd (process down,
// restarting, crashed mid-call) completes with Status::kUnavailable; one past input.timeout with
// kTimeout (the process is then probed, and recycled when it does not answer).
std::weak_ptr<http::Cancellable> start_call(boost::asio::io_context& io, const JsFunction& fn,
                                            const JsCallInput& input, std::function<void(Outcome)> done);

}  // namespace workgate::workers::js
