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

struct Split {
  json::object meta;
  std::string rest;
};

Split split(const std::string& payload) {
  auto nl = payload.find('\n');
  EXPECT_NE(nl, std::string::npos);
  return {json::parse(payload.substr(0, nl)).as_object(), payload.substr(nl + 1)};
}

TEST(JsCall, EncodesRequestContextEnvAndBody) {
  http::Request request = sample_request();
  JsFunction fn;
  fn.env_json = R"({"GREETING":"hi"})";
  auto context = std::make_shared<ContextData>();
  context->api_config = redacted_document(
      R"({"authorizer":{"type":"jwt","secret":"$secret.S"},"paths":[{"path":"/items/{id}","k":"$env.X"}]})",
      context->route_configs);
  fn.context = context;
  std::vector<router::PathParam> params{{"id", "42"}};
  JsCallInput input;
  input.kind = CallKind::kBinding;
  input.function = "run";
  input.request = &request;
  input.route_index = 0;
  input.route_path = "/items/{id}";
  input.params = params;

  Split s = split(encode_call(fn, input));
  EXPECT_EQ(s.meta.at("fn").as_string(), "run");
  EXPECT_EQ(s.meta.at("kind").as_string(), "binding");
  EXPECT_EQ(s.meta.at("method").as_string(), "POST");
  EXPECT_EQ(s.meta.at("url").as_string(), "http://api.example.com/items/42?a=1");
  // Framing fields are the gateway's.
  for (const auto& h : s.meta.at("headers").as_array())
    EXPECT_NE(h.as_array()[0].as_string(), "Content-Length");
  std::size_t ctx_len = s.meta.at("ctx").as_int64();
  std::size_t env_len = s.meta.at("env").as_int64();
  std::string ctx = s.rest.substr(0, ctx_len);
  EXPECT_EQ(s.rest.substr(ctx_len, env_len), fn.env_json);
  EXPECT_EQ(s.rest.substr(ctx_len + env_len), "hello");

  json::object c = json::parse(ctx).as_object();
  EXPECT_EQ(c.at("requestUrl").as_string(), "http://api.example.com/items/42?a=1");
  EXPECT_TRUE(c.at("jwtPayload").is_null());
  const auto& matched = c.at("matchedPath").as_object();
  EXPECT_EQ(matched.at("config").as_object().at("path").as_string(), "/items/{id}");
  EXPECT_FALSE(matched.at("config").as_object().contains("k"));  // a $env. placeholder is dropped
  EXPECT_EQ(matched.at("matchResult").as_object().at("params").as_object().at("id").as_string(), "42");
  EXPECT_FALSE(c.at("apiConfig").as_object().at("authorizer").as_object().contains("secret"));
  EXPECT_EQ(ctx.find("$secret"), std::string::npos);
}

TEST(JsCall, GetBodyIsNotSent) {
  http::Request request = sample_request();
  request.method = "GET";
  JsFunction fn;
  JsCallInput input;
  input.request = &request;
  Split s = split(encode_call(fn, input));
  EXPECT_EQ(s.meta.at("body").as_int64(), 0);
}

// A streamed body is not part of the encoded call: the prefix ends after envJson, and meta says the body
// follows it.
TEST(JsCall, StreamedBodyFollowsThePrefix) {
  struct Pending final : http::BodySource {
    std::optional<std::uint64_t> length() const override { return 1 << 20; }
    void pull(Handler) override {}
    void cancel() override {}
  };
  http::Request request = sample_request();
  request.body = "a piece the connection is reading";  // scratch while streaming: never sent as the body
  JsFunction fn;
  fn.env_json = R"({"E":"v"})";
  JsCallInput input;
  input.request = &request;
  input.body = std::make_shared<Pending>();
  Split s = split(encode_call(fn, input));
  EXPECT_TRUE(s.meta.at("stream").as_bool());
  EXPECT_EQ(s.meta.at("body").as_int64(), 0);
  EXPECT_TRUE(s.rest.ends_with(R"({"E":"v"})")) << s.rest;
  EXPECT_EQ(s.rest.find("a piece"), std::string::npos);

  input.body = nullptr;
  Split whole = split(encode_call(fn, input));
  EXPECT_FALSE(whole.meta.contains("stream"));
  EXPECT_TRUE(whole.rest.ends_with("a piece the connection is reading"));
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
  Split s = split(encode_call(fn, input));
  const auto& r = s.meta.at("response").as_object();
  EXPECT_EQ(r.at("status").as_int64(), 201);
  EXPECT_EQ(r.at("body").as_int64(), 2);
  EXPECT_EQ(r.at("headers").as_array()[0].as_array()[1].as_string(), "application/json");
  EXPECT_TRUE(s.rest.ends_with("hello{}"));
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
