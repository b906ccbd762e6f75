#include "workers/results.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

namespace workgate::workers {
namespace {

struct Wrapped {
  bool ok = false;
  std::string error;
  http::Response response;
};

Wrapped wrap(std::string_view json) {
  Wrapped w;
  w.ok = wrap_json_text(json, w.response, w.error);
  return w;
}

std::string header(const http::Response& r, std::string_view name) {
  if (http::iequals(name, "Content-Type") && !r.content_type.empty()) return std::string(r.content_type);
  return std::string(r.headers.get(name).value_or("<absent>"));
}

TEST(Envelope, ObjectBecomesSuccessWithStatusCodeRemoved) {
  auto w = wrap(R"({"statusCode":201,"message":"ran","a":1,"b":{"c":null}})");
  ASSERT_TRUE(w.ok) << w.error;
  EXPECT_EQ(w.response.status, 201);
  EXPECT_EQ(w.response.content_type, "application/json");
  EXPECT_EQ(w.response.body(), R"({"status":"success","message":"ran","data":{"a":1,"b":{"c":null}}})");
}

TEST(Envelope, DefaultsWithoutStatusCodeOrMessage) {
  auto w = wrap(R"({"x":"y"})");
  ASSERT_TRUE(w.ok);
  EXPECT_EQ(w.response.status, 200);
  EXPECT_EQ(w.response.body(),
            R"({"status":"success","message":"Operation completed successfully.","data":{"x":"y"}})");
  w = wrap("{}");
  EXPECT_EQ(w.response.body(),
            R"({"status":"success","message":"Operation completed successfully.","data":{}})");
}

TEST(Envelope, TruthyErrorBecomesErrorEnvelope) {
  auto w = wrap(R"({"error":"boom","statusCode":418,"message":"teapot","extra":1})");
  ASSERT_TRUE(w.ok);
  EXPECT_EQ(w.response.status, 418);
  EXPECT_EQ(w.response.body(), R"({"status":"error","message":"teapot","error":"boom"})");
  w = wrap(R"({"error":{"detail":1}})");
  EXPECT_EQ(w.response.status, 500);
  EXPECT_EQ(w.response.body(), R"({"status":"error","message":"An error occurred.","error":{"detail":1}})");
}

TEST(Envelope, NumbersAreWrittenAsJavaScriptWritesThem) {
  // boost::json::serialize would write 1.5E0 and Infinity (not JSON).
  auto w = wrap(
      R"({"statusCode":200.0,"d":1.5,"one":1.0,"big":1e21,"tiny":1e-7,"inf":1e400,"id":12345678901234567890})");
  ASSERT_TRUE(w.ok) << w.error;
  EXPECT_EQ(w.response.status, 200);
  EXPECT_EQ(w.response.body(),
            R"({"status":"success","message":"Operation completed successfully.","data":)"
            R"({"d":1.5,"one":1,"big":1e+21,"tiny":1e-7,"inf":null,"id":12345678901234567890}})");
  w = wrap(R"([0.5,{"2":"b","1":"a"}])");
  ASSERT_TRUE(w.ok) << w.error;
  EXPECT_EQ(
      w.response.body(),
      R"({"status":"success","message":"Operation completed successfully.","data":{"0":0.5,"1":{"1":"a","2":"b"}}})");
}

TEST(Envelope, TheResponseItReplacesLeavesNothingBehind) {
  Wrapped w;
  w.response.status = 404;
  w.response.headers.add("X-Old", "1");
  w.response.set_body("old body that is longer than the new one");
  ASSERT_TRUE(wrap_json_text(R"({"a":1})", w.response, w.error));
  EXPECT_EQ(w.response.status, 200);
  EXPECT_EQ(header(w.response, "X-Old"), "<absent>");
  EXPECT_EQ(w.response.body(),
            R"({"status":"success","message":"Operation completed successfully.","data":{"a":1}})");
}

TEST(Envelope, FalsyErrorAndMessageFollowJavaScriptTruthiness) {
  auto w = wrap(R"({"error":"","message":"","v":0})");
  ASSERT_TRUE(w.ok);
  EXPECT_EQ(w.response.status, 200);
  EXPECT_EQ(w.response.body(),
            R"({"status":"success","message":"Operation completed successfully.","data":{"v":0}})");
  w = wrap(R"({"error":0,"message":false})");
  EXPECT_EQ(w.response.body(),
            R"({"status":"success","message":"Operation completed successfully.","data":{}})");
  w = wrap(R"({"message":["a"]})");
  EXPECT_EQ(w.response.body(), R"({"status":"success","message":["a"],"data":{}})");
}

TEST(Envelope, ArrayBecomesIndexedData) {
  auto w = wrap(R"([1,"two",{"three":3}])");
  ASSERT_TRUE(w.ok);
  EXPECT_EQ(w.response.status, 200);
  EXPECT_EQ(
      w.response.body(),
      R"({"status":"success","message":"Operation completed successfully.","data":{"0":1,"1":"two","2":{"three":3}}})");
}

TEST(Envelope, IntegerLikeKeysComeFirstLikeJavaScript) {
  auto w = wrap(R"({"b":1,"10":2,"2":3,"01":4,"a":{"z":1,"1":2}})");
  ASSERT_TRUE(w.ok);
  EXPECT_EQ(w.response.body(), R"({"status":"success","message":"Operation completed successfully.",)"
                               R"("data":{"2":3,"10":2,"b":1,"01":4,"a":{"1":2,"z":1}}})");
}

TEST(Envelope, StringNullAndOtherValues) {
  auto w = wrap(R"("{\"raw\":1}")");
  ASSERT_TRUE(w.ok);
  EXPECT_EQ(w.response.status, 200);
  EXPECT_EQ(w.response.content_type, "application/json");
  EXPECT_EQ(w.response.body(), R"({"raw":1})");
  w = wrap("null");
  EXPECT_EQ(w.response.status, 200);
  EXPECT_EQ(w.response.content_type, "application/json");
  EXPECT_EQ(w.response.body(), "");
  for (const char* other : {"42", "1.5", "true", "false"}) {
    w = wrap(other);
    ASSERT_TRUE(w.ok) << other;
    EXPECT_EQ(w.response.status, 400) << other;
    EXPECT_EQ(w.response.body(), "") << other;
    EXPECT_EQ(w.response.content_type, "application/json");
  }
}

TEST(Envelope, StatusCodeMustBeAValidStatus) {
  for (const char* bad : {R"({"statusCode":99})", R"({"statusCode":600})", R"({"statusCode":"201"})",
                          R"({"statusCode":201.5})", R"({"statusCode":-1})"}) {
    auto w = wrap(bad);
    EXPECT_FALSE(w.ok) << bad;
    EXPECT_NE(w.error.find("statusCode"), std::string::npos);
  }
  auto w = wrap(R"({"statusCode":null,"a":1})");
  ASSERT_TRUE(w.ok);
  EXPECT_EQ(w.response.status, 200);
  w = wrap(R"({"statusCode":202.0})");
  ASSERT_TRUE(w.ok);
  EXPECT_EQ(w.response.status, 202);
}

TEST(Envelope, InvalidJsonIsAnError) {
  auto w = wrap("{nope");
  EXPECT_FALSE(w.ok);
  EXPECT_NE(w.error.find("not valid JSON"), std::string::npos);
}

TEST(BuildResponse, NewResponseWithHeadersAndDefaultContentType) {
  ResultData d;
  d.kind = ResultData::Kind::kResponse;
  d.replace = true;
  d.status = 202;
  d.response_ops = {{HeaderOp::kAdd, "x-a", "1"},
                    {HeaderOp::kAdd, "x-a", "2"},
                    {HeaderOp::kSet, "x-b", "3"},
                    {HeaderOp::kAdd, "Content-Length", "999"}};
  d.response_body = "hello";
  http::Response r;
  r.status = 500;
  r.headers.add("x-old", "1");
  std::string error;
  ASSERT_TRUE(build_response(d, r, /*edit=*/true, error)) << error;
  EXPECT_EQ(r.status, 202);
  EXPECT_EQ(r.body(), "hello");
  EXPECT_EQ(r.content_type, kDefaultTextContentType);
  EXPECT_EQ(header(r, "x-old"), "<absent>");
  EXPECT_EQ(header(r, "x-b"), "3");
  EXPECT_EQ(header(r, "Content-Length"), "<absent>");  // framing is the gateway's
  EXPECT_EQ(r.headers.size(), 3u);
}

TEST(BuildResponse, EditKeepsTheResponse) {
  ResultData d;
  d.kind = ResultData::Kind::kResponse;
  d.response_ops = {{HeaderOp::kSet, "x-post", "yes"}, {HeaderOp::kSet, "content-type", "text/html"}};
  http::Response r;
  r.status = 201;
  r.content_type = "application/json";
  r.set_body("{}");
  std::string error;
  ASSERT_TRUE(build_response(d, r, /*edit=*/true, error)) << error;
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.body(), "{}");
  EXPECT_EQ(header(r, "x-post"), "yes");
  EXPECT_EQ(r.content_type, "");
  EXPECT_EQ(header(r, "Content-Type"), "text/html");
}

TEST(BuildResponse, JsonValueWithExtraHeaders) {
  ResultData d;
  d.kind = ResultData::Kind::kJson;
  d.value = R"({"a":1})";
  d.response_ops = {{HeaderOp::kSet, "x-extra", "1"}};
  http::Response r;
  std::string error;
  ASSERT_TRUE(build_response(d, r, false, error));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(header(r, "x-extra"), "1");
  EXPECT_EQ(r.body(), R"({"status":"success","message":"Operation completed successfully.","data":{"a":1}})");
}

TEST(BuildResponse, NothingIsUndefined) {
  ResultData d;
  http::Response r;
  std::string error;
  ASSERT_TRUE(build_response(d, r, false, error));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body(), "");
  EXPECT_EQ(r.content_type, "application/json");
}

TEST(BuildResponse, RejectsInvalidHeadersAndStatuses) {
  std::string error;
  http::Response r;
  ResultData bad_name;
  bad_name.kind = ResultData::Kind::kResponse;
  bad_name.response_ops = {{HeaderOp::kSet, "bad name", "x"}};
  EXPECT_FALSE(build_response(bad_name, r, false, error));
  ResultData bad_value = bad_name;
  bad_value.response_ops = {{HeaderOp::kSet, "x-split", "a\r\nSet-Cookie: x=1"}};
  EXPECT_FALSE(build_response(bad_value, r, false, error));
  ResultData bad_status;
  bad_status.kind = ResultData::Kind::kResponse;
  bad_status.status = 1000;
  EXPECT_FALSE(build_response(bad_status, r, false, error));
}

TEST(RequestChanges, HeadersQueryAndBody) {
  http::Request req;
  req.method = "POST";
  req.path = "/a";
  req.headers.add("x-drop", "1");
  req.headers.add("Transfer-Encoding", "chunked");
  req.chunked = true;
  req.body = "old";
  ResultData d;
  d.request_ops = {{HeaderOp::kSet, "x-new", "v"}, {HeaderOp::kRemove, "X-DROP", ""}};
  d.query = "a=1&b=2";
  d.has_query = true;
  d.request_body = "new body";
  std::string error;
  ASSERT_TRUE(apply_request_changes(d, req, error)) << error;
  EXPECT_EQ(req.headers.get("x-new").value_or(""), "v");
  EXPECT_FALSE(req.headers.contains("x-drop"));
  EXPECT_FALSE(req.headers.contains("Transfer-Encoding"));
  EXPECT_EQ(req.headers.get("Content-Length").value_or(""), "8");
  EXPECT_FALSE(req.chunked);
  EXPECT_EQ(req.query, "a=1&b=2");
  EXPECT_TRUE(req.has_query);
  EXPECT_EQ(req.body, "new body");
}

TEST(RequestChanges, InvalidChangesApplyNothing) {
  http::Request req;
  ResultData d;
  d.request_ops = {{HeaderOp::kSet, "x-ok", "1"}, {HeaderOp::kSet, "x-bad", "a\nb"}};
  std::string error;
  EXPECT_FALSE(apply_request_changes(d, req, error));
  EXPECT_FALSE(req.headers.contains("x-ok"));
  ResultData q;
  q.query = "a b";
  EXPECT_FALSE(apply_request_changes(q, req, error));
}

TEST(RequestChanges, PathValidation) {
  EXPECT_TRUE(valid_path("/a/b%20c"));
  EXPECT_FALSE(valid_path("a"));
  EXPECT_FALSE(valid_path(""));
  EXPECT_FALSE(valid_path("/a?b"));
  EXPECT_FALSE(valid_path("/a#b"));
  EXPECT_FALSE(valid_path("/a b"));
}

}  // namespace
}  // namespace workgate::workers
