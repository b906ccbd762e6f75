#include "http/message.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <utility>

namespace workgate::http {
namespace {

TEST(ReasonPhrase, KnownStatuses) {
  EXPECT_EQ(reason_phrase(100), "Continue");
  EXPECT_EQ(reason_phrase(200), "OK");
  EXPECT_EQ(reason_phrase(201), "Created");
  EXPECT_EQ(reason_phrase(204), "No Content");
  EXPECT_EQ(reason_phrase(301), "Moved Permanently");
  EXPECT_EQ(reason_phrase(302), "Found");
  EXPECT_EQ(reason_phrase(304), "Not Modified");
  EXPECT_EQ(reason_phrase(308), "Permanent Redirect");
  EXPECT_EQ(reason_phrase(400), "Bad Request");
  EXPECT_EQ(reason_phrase(401), "Unauthorized");
  EXPECT_EQ(reason_phrase(403), "Forbidden");
  EXPECT_EQ(reason_phrase(404), "Not Found");
  EXPECT_EQ(reason_phrase(405), "Method Not Allowed");
  EXPECT_EQ(reason_phrase(408), "Request Timeout");
  EXPECT_EQ(reason_phrase(413), "Content Too Large");
  EXPECT_EQ(reason_phrase(418), "I'm a teapot");
  EXPECT_EQ(reason_phrase(422), "Unprocessable Content");
  EXPECT_EQ(reason_phrase(429), "Too Many Requests");
  EXPECT_EQ(reason_phrase(431), "Request Header Fields Too Large");
  EXPECT_EQ(reason_phrase(500), "Internal Server Error");
  EXPECT_EQ(reason_phrase(502), "Bad Gateway");
  EXPECT_EQ(reason_phrase(503), "Service Unavailable");
  EXPECT_EQ(reason_phrase(504), "Gateway Timeout");
  EXPECT_EQ(reason_phrase(505), "HTTP Version Not Supported");
}

TEST(ReasonPhrase, UnknownStatuses) {
  EXPECT_EQ(reason_phrase(0), "Unknown");
  EXPECT_EQ(reason_phrase(299), "Unknown");
  EXPECT_EQ(reason_phrase(599), "Unknown");
  EXPECT_EQ(reason_phrase(-1), "Unknown");
  EXPECT_EQ(reason_phrase(1000), "Unknown");
}

TEST(Response, Defaults) {
  Response r;
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "");
  EXPECT_TRUE(r.headers.empty());
  EXPECT_FALSE(r.close);
  EXPECT_EQ(r.fixed_lines, "");
  EXPECT_FALSE(r.keep_content_length);
  EXPECT_EQ(r.body_source, nullptr);
  EXPECT_EQ(r.body(), "");
}

TEST(Response, OwnedBody) {
  Response r;
  r.set_body("hello");
  EXPECT_EQ(r.body(), "hello");
  r.owned_body() += " world";
  EXPECT_EQ(r.body(), "hello world");
}

TEST(Response, ExternalBodyIsAViewNotACopy) {
  static const std::string kStorage = "external body bytes";
  Response r;
  r.set_body("owned first");
  r.set_external_body(kStorage);
  EXPECT_EQ(r.body(), kStorage);
  EXPECT_EQ(r.body().data(), kStorage.data());
  EXPECT_EQ(r.owned_body(), "");  // the previous owned body is released
}

TEST(Response, SwitchingBackToOwned) {
  static const std::string kStorage = "external";
  Response r;
  r.set_external_body(kStorage);
  r.set_body("owned");
  EXPECT_EQ(r.body(), "owned");
  EXPECT_NE(r.body().data(), kStorage.data());
  r.set_external_body("");
  EXPECT_EQ(r.body(), "");
  r.set_body("");
  EXPECT_EQ(r.body(), "");
}

TEST(Response, MovingKeepsOwnedBody) {
  for (std::string body : {std::string("short"), std::string(4096, 'x')}) {
    Response a;
    a.status = 201;
    a.headers.add("X-A", "1");
    a.set_body(body);
    Response b(std::move(a));
    EXPECT_EQ(b.status, 201);
    EXPECT_EQ(b.body(), body);
    EXPECT_EQ(b.headers.get("x-a"), "1");

    Response c;
    c.set_body("to be replaced");
    c = std::move(b);
    EXPECT_EQ(c.body(), body);
    // The moved-to body points at its own storage.
    EXPECT_EQ(c.body().data(), c.owned_body().data());
  }
}

TEST(Response, MovingKeepsExternalBody) {
  static const std::string kStorage = "snapshot body";
  Response a;
  a.set_external_body(kStorage);
  Response b(std::move(a));
  EXPECT_EQ(b.body(), kStorage);
  EXPECT_EQ(b.body().data(), kStorage.data());
}

TEST(Request, ClearResetsEverything) {
  Request r;
  r.method = "HEAD";
  EXPECT_TRUE(r.is_head());
  r.target = "/a?b";
  r.path = "/a";
  r.query = "b";
  r.has_query = true;
  r.version = 10;
  r.headers.add("A", "1");
  r.body = "body";
  r.content_length = 4;
  r.chunked = true;
  r.keep_alive = false;
  r.clear();
  EXPECT_EQ(r.method, "");
  EXPECT_FALSE(r.is_head());
  EXPECT_EQ(r.target, "");
  EXPECT_EQ(r.path, "");
  EXPECT_EQ(r.query, "");
  EXPECT_FALSE(r.has_query);
  EXPECT_EQ(r.version, 11u);
  EXPECT_TRUE(r.headers.empty());
  EXPECT_EQ(r.body, "");
  EXPECT_FALSE(r.content_length.has_value());
  EXPECT_FALSE(r.chunked);
  EXPECT_TRUE(r.keep_alive);
}

TEST(Request, IsHeadIsCaseSensitive) {
  Request r;
  r.method = "head";
  EXPECT_FALSE(r.is_head());
  r.method = "GET";
  EXPECT_FALSE(r.is_head());
}

TEST(Response, ResetForReuseKeepsSmallMemoryAndDropsLargeMemory) {
  Response response;
  response.status = 404;
  response.close = true;
  response.headers.add("X-Small", "1");
  response.set_body("small body");
  const std::size_t body_capacity = response.owned_body().capacity();
  response.reset_for_reuse();
  EXPECT_EQ(response.status, 200);
  EXPECT_FALSE(response.close);
  EXPECT_TRUE(response.headers.empty());
  EXPECT_TRUE(response.body().empty());
  EXPECT_EQ(response.owned_body().capacity(), body_capacity) << "small: kept for the next response";

  response.set_body(std::string(64 * 1024, 'x'));
  response.headers.add("X-Big", std::string(32 * 1024, 'y'));
  response.reset_for_reuse();
  EXPECT_TRUE(response.body().empty());
  EXPECT_LT(response.owned_body().capacity(), 64u * 1024) << "large: not held by an idle connection";
  response.headers.add("X-After", "2");
  EXPECT_EQ(response.headers.get("X-After"), "2");
  EXPECT_EQ(response.headers.size(), 1u);
}

}  // namespace
}  // namespace workgate::http
