// The gateway's side of the JavaScript bridge protocol: what a call sends, how answers become outcomes,
// the ctxJson shape with secrets removed, and the generated workerd config.
#include "workers/js_call.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

namespace workgate::workers::js {
namespace {

namespace json = boost::json;

http::Request sample_request() {
  http::Request r;
  r.method = "POST";
  r.path = "/items/42";
  r.query = "a=1";
  r.has_query = true;
  r.target = "/items/42?a=1";
  r.headers.add("Host", "api.example.com");
  r.headers.add("X-Keep", "same");
  r.headers.add("X-Drop", "gone");
  r.headers.add("Content-Length", "5");
  r.body = "hello";
  return r;
}

json::object meta_of(const EncodedCall& call) {
  for (unsigned char c : call.meta)
    EXPECT_TRUE(c >= 0x20 && c < 0x7f) << "x-wg-call must be printable ASCII";
  json::object wrapper = json::parse(call.meta).as_object();
  EXPECT_EQ(wrapper.size(), 1u);  // request.cf has the one property "wg"
  return wrapper.at("wg").as_object();
}

// What the bridge does with meta.a and meta.b (workers/js/bridge.js).
std::string bridge_context(const ContextData& context, const json::object& meta) {
  std::int64_t route = meta.at("route").as_int64();
  std::string config = route >= 0 ? context.route_configs.at(static_cast<std::size_t>(route))
                                  : std::string(meta.at("config").as_string());
  return "{\"apiConfig\":" + context.api_config + "," + std::string(meta.at("a").as_string()) +
         ",\"matchedPath\":{\"config\":" + config + "," + std::string(meta.at("b").as_string()) + "}}";
}

TEST(JsCall, EncodesRequestContextAndFields) {
  http::Request request = sample_request();
  request.headers.add("Expect", "100-continue");
  request.headers.add("X-WG-Call", "{\"op\":\"describe\"}");  // a client's forgery is dropped
  JsFunction fn;
  auto context = std::make_shared<ContextData>();
  context->api_config = redacted_document(
      R"({"authorizer":{"type":"jwt","secret":"$secret.S"},"paths":[{"path":"/items/{id}","k":"$env.X"}]})",
      context->route_configs);
  fn.context = context;
  std::vector<router::PathParam> params{{"id", "42"}};
  boost::json::object claims =
      json::parse(R"({"sub":"u1","big":12345678901234567890,"n":"caf\u00e9"})").as_object();
  JsCallInput input;
  input.kind = CallKind::kBinding;
  input.function = "run";
  input.request = &request;
  input.route_index = 0;
  input.route_path = "/items/{id}";
  input.params = params;
  input.claims = &claims;

  EncodedCall call = encode_call(fn, input);
  json::object meta = meta_of(call);
  EXPECT_EQ(meta.at("fn").as_string(), "run");
  EXPECT_EQ(meta.at("kind").as_string(), "binding");
  // A direct call: method and URL are the request line's, not repeated in the meta.
  EXPECT_EQ(call.request_line, "POST http://api.example.com/items/42?a=1 HTTP/1.1\r\n");
  EXPECT_FALSE(meta.contains("method"));
  EXPECT_FALSE(meta.contains("url"));
  EXPECT_TRUE(call.request_body);  // the body is the request's own, not copied
  EXPECT_TRUE(call.owned_body.empty());
  // The client's fields, Host first, without framing, Expect or a forged x-wg-call.
  EXPECT_TRUE(call.fields.starts_with("Host: api.example.com\r\n")) << call.fields;
  EXPECT_NE(call.fields.find("X-Keep: same\r\n"), std::string::npos);
  EXPECT_EQ(call.fields.find("Content-Length"), std::string::npos);
  EXPECT_EQ(call.fields.find("Expect"), std::string::npos);
  EXPECT_EQ(call.fields.find("X-WG-Call"), std::string::npos);

  std::string ctx = bridge_context(*context, meta);
  json::object c = json::parse(ctx).as_object();
  EXPECT_EQ(c.at("requestUrl").as_string(), "http://api.example.com/items/42?a=1");
  EXPECT_EQ(c.at("jwtPayload").as_object().at("sub").as_string(), "u1");
  EXPECT_NE(ctx.find("12345678901234567890"), std::string::npos);  // claims as text: no rounding
  EXPECT_EQ(c.at("jwtPayload").as_object().at("n").as_string(), "caf\u00e9");
  const auto& matched = c.at("matchedPath").as_object();
  EXPECT_EQ(matched.at("config").as_object().at("path").as_string(), "/items/{id}");
  EXPECT_FALSE(matched.at("config").as_object().contains("k"));  // a $env. placeholder is dropped
  EXPECT_EQ(matched.at("matchResult").as_object().at("params").as_object().at("id").as_string(), "42");
  EXPECT_FALSE(c.at("apiConfig").as_object().at("authorizer").as_object().contains("secret"));
  EXPECT_EQ(ctx.find("$secret"), std::string::npos);
}

TEST(JsCall, UnknownRouteCarriesItsPath) {
  http::Request request = sample_request();
  JsFunction fn;
  JsCallInput input;
  input.request = &request;
  input.route_path = "/x/{y}";
  json::object meta = meta_of(encode_call(fn, input));
  EXPECT_EQ(meta.at("route").as_int64(), -1);
  EXPECT_EQ(json::parse(bridge_context(ContextData{}, meta)).at("matchedPath").at("config").at("path"),
            "/x/{y}");
}

// Field values that are not plain text, non-ASCII params and invalid UTF-8 travel escaped inside x-wg-call.
TEST(JsCall, TextThatIsNotPlainAsciiIsEscaped) {
  http::Request request = sample_request();
  request.headers.add("X-Name", "Jos\xc3\xa9");
  request.headers.add("X-Bad",
                      "a\xff"
                      "b");
  JsFunction fn;
  std::vector<router::PathParam> params{{"id", "\xf0\x9f\x98\x80"}, {"raw", "\xe2\x82"}};
  JsCallInput input;
  input.request = &request;
  input.params = params;
  EncodedCall call = encode_call(fn, input);
  json::object meta = meta_of(call);
  EXPECT_EQ(call.fields.find("X-Name"), std::string::npos);
  const auto& h = meta.at("h").as_array();
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h[0].as_array()[1].as_string(), "Jos\xc3\xa9");
  EXPECT_EQ(h[1].as_array()[1].as_string(),
            "a\xef\xbf\xbd"
            "b");  // U+FFFD
  json::object b = json::parse("{" + std::string(meta.at("b").as_string()) + "}").as_object();
  const auto& p = b.at("matchResult").at("params").as_object();
  EXPECT_EQ(p.at("id").as_string(), "\xf0\x9f\x98\x80");  // a surrogate pair on the wire
  EXPECT_EQ(p.at("raw").as_string(), "\xef\xbf\xbd\xef\xbf\xbd");
}

TEST(JsCall, GetBodyIsNotSent) {
  http::Request request = sample_request();
  request.method = "GET";
  JsFunction fn;
  JsCallInput input;
  input.request = &request;
  EncodedCall call = encode_call(fn, input);
  EXPECT_FALSE(call.request_body);
  EXPECT_TRUE(call.owned_body.empty());
}

// A streamed body is not part of the encoded call: it follows the head as it arrives.
TEST(JsCall, StreamedBodyFollowsTheHead) {
  struct Pending final : http::BodySource {
    std::optional<std::uint64_t> length() const override { return 1 << 20; }
    void pull(Handler) override {}
    void cancel() override {}
  };
  http::Request request = sample_request();
  request.body = "a piece the connection is reading";  // scratch while streaming: never sent as the body
  JsFunction fn;
  JsCallInput input;
  input.request = &request;
  input.body = std::make_shared<Pending>();
  EncodedCall call = encode_call(fn, input);
  EXPECT_TRUE(meta_of(call).at("stream").as_bool());
  EXPECT_FALSE(call.request_body);
  EXPECT_TRUE(call.owned_body.empty());

  input.body = nullptr;
  EncodedCall whole = encode_call(fn, input);
  EXPECT_FALSE(meta_of(whole).contains("stream"));
  EXPECT_TRUE(whole.request_body);
}

// The call is the client's request line when workerd's Request can be the function's as it is; otherwise
// a placeholder line, and the bridge builds the function's Request from meta.
TEST(JsCall, RequestLineIsTheClientsWhenTheRequestCanBeUsedAsItIs) {
  JsFunction fn;
  JsCallInput input;
  auto line_of = [&](http::Request& request, CallKind kind = CallKind::kBinding) {
    input.request = &request;
    input.kind = kind;
    EncodedCall call = encode_call(fn, input);
    return std::pair(call.request_line, meta_of(call).contains("d"));
  };
  http::Request request = sample_request();
  EXPECT_EQ(line_of(request),
            std::pair(std::string("POST http://api.example.com/items/42?a=1 HTTP/1.1\r\n"), true));
  request.tls = true;
  for (const char* method : {"GET", "PUT", "PATCH", "DELETE", "OPTIONS"}) {
    request.method = method;
    EXPECT_EQ(line_of(request).first,
              std::string(method) + " https://api.example.com/items/42?a=1 HTTP/1.1\r\n");
  }
  EXPECT_TRUE(line_of(request, CallKind::kPreProcess).second);
  EXPECT_TRUE(line_of(request, CallKind::kService).second);

  // HEAD (workerd would drop the answer's body) and methods workerd does not know go as GET or POST.
  request.method = "HEAD";
  EXPECT_EQ(line_of(request), std::pair(std::string("GET / HTTP/1.1\r\n"), false));
  json::object copied = meta_of(encode_call(fn, input));  // the bridge builds the Request from these
  EXPECT_EQ(copied.at("method").as_string(), "HEAD");
  EXPECT_EQ(copied.at("url").as_string(), "https://api.example.com/items/42?a=1");
  request.method = "PROPFIND";
  EXPECT_EQ(line_of(request), std::pair(std::string("POST / HTTP/1.1\r\n"), false));
  request.body.clear();
  EXPECT_EQ(line_of(request).first, "GET / HTTP/1.1\r\n");

  // post_process (its body carries the response), escaped fields and a Host that is not one token.
  http::Request post = sample_request();
  http::Response response;
  input.response = &response;
  EXPECT_EQ(line_of(post, CallKind::kPostProcess), std::pair(std::string("POST / HTTP/1.1\r\n"), false));
  input.response = nullptr;
  http::Request escaped = sample_request();
  escaped.headers.add("X-Name", "Jos\xc3\xa9");
  EXPECT_FALSE(line_of(escaped).second);
  http::Request spaced = sample_request();
  spaced.headers.clear();
  spaced.headers.add("Host", "a b");
  EXPECT_EQ(line_of(spaced), std::pair(std::string("POST / HTTP/1.1\r\n"), false));
}

TEST(JsCall, PostProcessCarriesTheResponse) {
  http::Request request = sample_request();
  http::Response response;
  response.status = 201;
  response.content_type = "application/json";
  response.headers.add("X-A", "1");
  response.set_body("{}");
  JsFunction fn;
  JsCallInput input;
  input.kind = CallKind::kPostProcess;
  input.request = &request;
  input.response = &response;
  EncodedCall call = encode_call(fn, input);
  json::object meta = meta_of(call);
  const auto& r = meta.at("response").as_object();
  EXPECT_EQ(r.at("status").as_int64(), 201);
  EXPECT_EQ(r.at("body").as_int64(), 2);
  EXPECT_EQ(r.at("headers").as_array()[0].as_array()[1].as_string(), "application/json");
  EXPECT_EQ(meta.at("body").as_int64(), 5);
  EXPECT_EQ(call.owned_body, "hello{}");  // the request body, then the response body
  EXPECT_FALSE(call.request_body);
}

Outcome decode(CallKind kind, std::string_view result, std::string body,
               std::vector<std::pair<std::string, std::string>> headers = {}, int status = 200) {
  static const http::Request request = sample_request();
  return decode_answer(kind, request, status, result, headers, std::move(body), ResultLimits{});
}

TEST(JsCall, DecodesValues) {
  EXPECT_EQ(decode(CallKind::kBinding, "json", R"({"a":1})").result.kind, ResultData::Kind::kJson);
  EXPECT_EQ(decode(CallKind::kBinding, "string", "x").result.kind, ResultData::Kind::kString);
  auto null = decode(CallKind::kBinding, "null", "");
  EXPECT_EQ(null.result.kind, ResultData::Kind::kJson);
  EXPECT_EQ(null.result.value, "null");
  EXPECT_EQ(decode(CallKind::kBinding, "undefined", "").result.kind, ResultData::Kind::kNone);
  auto error = decode(CallKind::kBinding, "error", "Error: boom", {}, 500);
  EXPECT_EQ(error.status, Outcome::Status::kError);
  EXPECT_EQ(error.result.value, "Error: boom");
  EXPECT_EQ(decode(CallKind::kBinding, "surprise", "").status, Outcome::Status::kError);
}

TEST(JsCall, DecodesAResponseWithoutFramingFields) {
  auto o = decode(CallKind::kBinding, "response", "body",
                  {{"Content-Type", "text/plain"}, {"Content-Length", "4"}, {"x-from", "js"}}, 202);
  ASSERT_EQ(o.status, Outcome::Status::kOk);
  EXPECT_EQ(o.result.kind, ResultData::Kind::kResponse);
  EXPECT_TRUE(o.result.replace);
  EXPECT_EQ(o.result.status, 202);
  ASSERT_EQ(o.result.response_ops.size(), 2u);
  EXPECT_EQ(o.result.response_ops[1].name, "x-from");
  EXPECT_EQ(*o.result.response_body, "body");
}

TEST(JsCall, HookResults) {
  EXPECT_EQ(decode(CallKind::kPreProcess, "true", "").result.kind, ResultData::Kind::kNone);
  // The original: anything but true or a Response ends the request with an empty 200.
  auto other = decode(CallKind::kPreProcess, "other", "");
  EXPECT_EQ(other.result.kind, ResultData::Kind::kResponse);
  EXPECT_EQ(other.result.status, 200);
  // post_process: anything but a Response keeps the response.
  EXPECT_EQ(decode(CallKind::kPostProcess, "other", "").result.kind, ResultData::Kind::kNone);
}

TEST(JsCall, ReturnedRequestBecomesRequestChanges) {
  std::string body =
      R"({"method":"POST","url":"http://api.example.com/items/42?b=2","headers":[["host","api.example.com"],)"
      R"(["x-keep","same"],["x-new","yes"],["content-length","3"]]})"
      "\nnew";
  auto o = decode(CallKind::kPreProcess, "request", body);
  ASSERT_EQ(o.status, Outcome::Status::kOk) << o.result.value;
  EXPECT_EQ(o.result.kind, ResultData::Kind::kNone);
  EXPECT_FALSE(o.result.path.has_value());  // same path
  ASSERT_TRUE(o.result.query.has_value());
  EXPECT_EQ(*o.result.query, "b=2");
  EXPECT_EQ(*o.result.request_body, "new");
  bool added = false, dropped = false;
  for (const auto& op : o.result.request_ops) {
    EXPECT_NE(op.name, "x-keep");  // unchanged: no op
    EXPECT_NE(op.name, "content-length");
    if (op.name == "x-new" && op.type == HeaderOp::kSet) added = true;
    if (op.name == "x-drop" && op.type == HeaderOp::kRemove) dropped = true;
  }
  EXPECT_TRUE(added);
  EXPECT_TRUE(dropped);
  EXPECT_EQ(decode(CallKind::kPreProcess, "request", "no newline").status, Outcome::Status::kError);
  EXPECT_EQ(decode(CallKind::kPreProcess, "request", "{\"headers\":[[1]]}\n").status,
            Outcome::Status::kError);
}

TEST(JsCall, AnswerLargerThanTheLimitFails) {
  static const http::Request request = sample_request();
  ResultLimits limits;
  limits.max_body_bytes = 4;
  auto o = decode_answer(CallKind::kBinding, request, 200, "string", {}, "12345", limits);
  EXPECT_EQ(o.status, Outcome::Status::kError);
}

TEST(JsEngine, ConfigHasEverySocketBindingAndEscapedText) {
  std::vector<ScriptSpec> scripts(2);
  scripts[0].label = "HOOKS";
  scripts[0].entrypoint = "Hooks";
  scripts[0].env = {{"GREETING", "a \"quoted\"\nvalue"}};
  scripts[1].label = "svc";
  scripts[1].service = true;
  std::string c = capnp_config(scripts, "/run/wg", 3, 128);
  EXPECT_NE(c.find("address = \"unix:/run/wg/p3/0.sock\""), std::string::npos);
  EXPECT_NE(c.find("address = \"unix:/run/wg/p3/1.sock\""), std::string::npos);
  EXPECT_NE(c.find("address = \"unix:/run/wg/p3/health.sock\""), std::string::npos);
  EXPECT_NE(c.find("(name = \"HOOKS\", service = (name = \"w0\", entrypoint = \"Hooks\"))"),
            std::string::npos);
  EXPECT_NE(c.find("text = \"a \\\"quoted\\\"\\nvalue\""), std::string::npos);
  EXPECT_NE(c.find("--max-old-space-size=128"), std::string::npos);
  // A service sees no bindings of the JavaScript workers.
  auto svc = c.find("(name = \"w1\"");
  ASSERT_NE(svc, std::string::npos);
  EXPECT_EQ(c.find("name = \"HOOKS\", service", svc), std::string::npos);
}

TEST(JsEngine, BlockingCallToNothingFailsFast) {
  auto started = std::chrono::steady_clock::now();
  EXPECT_FALSE(blocking_call("/nonexistent/wg.sock", "x", std::chrono::milliseconds(500)).has_value());
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(400));
}

}  // namespace
}  // namespace workgate::workers::js
