#include "pipeline/cors.hpp"

#include <gtest/gtest.h>

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace workgate::pipeline {
namespace {

config::CorsPolicy make_config(std::initializer_list<std::string> origins, bool credentials = false) {
  config::CorsPolicy c;
  c.allow_origins = origins;
  c.allow_methods = {"GET", "POST"};
  c.allow_headers = {"Content-Type", "Authorization"};
  c.expose_headers = {"X-Request-Id"};
  c.allow_credentials = credentials;
  c.max_age = 600;
  return c;
}

std::optional<std::string> allowed(const CompiledCors& policy, std::string_view origin) {
  auto v = policy.allow_origin_value(origin);
  if (!v) return std::nullopt;
  return std::string(*v);
}

using Fields = std::vector<std::pair<std::string, std::string>>;

Fields fields(const http::HeaderList& h) {
  Fields out;
  h.for_each(
      [&](const http::HeaderList::Field& f) { out.emplace_back(std::string(f.name), std::string(f.value)); });
  return out;
}

TEST(IsPlainOrigin, Valid) {
  EXPECT_TRUE(is_plain_origin("https://example.com"));
  EXPECT_TRUE(is_plain_origin("http://localhost"));
  EXPECT_TRUE(is_plain_origin("http://localhost:3000"));
  EXPECT_TRUE(is_plain_origin("https://a-b.c.example.com:443"));
  EXPECT_TRUE(is_plain_origin("http://127.0.0.1:8080"));
  EXPECT_TRUE(is_plain_origin("http://[::1]:8080"));
  EXPECT_TRUE(is_plain_origin("http://[::1]"));
  EXPECT_TRUE(is_plain_origin("http://[2001:db8::FFFF:1.2.3.4]"));
  EXPECT_TRUE(is_plain_origin("chrome-extension://abcdef"));
  EXPECT_TRUE(is_plain_origin("app+x.y://h:1"));
  EXPECT_TRUE(is_plain_origin("http://h:65535"));
  EXPECT_TRUE(is_plain_origin("http://h:99999"));  // at most 5 digits; the value is not range-checked
}

TEST(IsPlainOrigin, Invalid) {
  EXPECT_FALSE(is_plain_origin(""));
  EXPECT_FALSE(is_plain_origin("null"));
  EXPECT_FALSE(is_plain_origin("example.com"));
  EXPECT_FALSE(is_plain_origin("://example.com"));
  EXPECT_FALSE(is_plain_origin("1http://example.com"));
  EXPECT_FALSE(is_plain_origin("ht_tp://example.com"));
  EXPECT_FALSE(is_plain_origin("https://example.com/"));
  EXPECT_FALSE(is_plain_origin("https://example.com/path"));
  EXPECT_FALSE(is_plain_origin("https://example.com?q=1"));
  EXPECT_FALSE(is_plain_origin("https://example.com#f"));
  EXPECT_FALSE(is_plain_origin("https://user@example.com"));
  EXPECT_FALSE(is_plain_origin("https://user:pw@example.com"));
  EXPECT_FALSE(is_plain_origin("https://"));
  EXPECT_FALSE(is_plain_origin("https://:443"));
  EXPECT_FALSE(is_plain_origin("https://.example.com"));
  EXPECT_FALSE(is_plain_origin("https://-example.com"));
  EXPECT_FALSE(is_plain_origin("https://exa mple.com"));
  EXPECT_FALSE(is_plain_origin("https://example.com:"));
  EXPECT_FALSE(is_plain_origin("https://example.com:123456"));
  EXPECT_FALSE(is_plain_origin("https://example.com:80a"));
  EXPECT_FALSE(is_plain_origin("https://example.com:-1"));
  EXPECT_FALSE(is_plain_origin("https://example.com:80:81"));
  EXPECT_FALSE(is_plain_origin("http://[]"));
  EXPECT_FALSE(is_plain_origin("http://[::1"));
  EXPECT_FALSE(is_plain_origin("http://[::g]"));
  EXPECT_FALSE(is_plain_origin("http://[::1]x"));
  EXPECT_FALSE(is_plain_origin("http://[::1]/"));
  EXPECT_FALSE(is_plain_origin("https://example.com\r\nX: y"));
}

TEST(CompiledCors, ExactEntry) {
  CompiledCors p(make_config({"https://app.example.com", "http://localhost:3000"}));
  EXPECT_EQ(allowed(p, "https://app.example.com"), "https://app.example.com");
  EXPECT_EQ(allowed(p, "http://localhost:3000"), "http://localhost:3000");
  EXPECT_EQ(allowed(p, "https://APP.example.com"), std::nullopt);
  EXPECT_EQ(allowed(p, "http://app.example.com"), std::nullopt);
  EXPECT_EQ(allowed(p, "https://app.example.com:443"), std::nullopt);
  EXPECT_EQ(allowed(p, "http://localhost:3001"), std::nullopt);
  EXPECT_EQ(allowed(p, "https://app.example.com/"), std::nullopt);
  EXPECT_EQ(allowed(p, ""), std::nullopt);
  EXPECT_EQ(allowed(p, "null"), std::nullopt);
}

TEST(CompiledCors, AnyWithoutCredentials) {
  CompiledCors p(make_config({"*"}, false));
  EXPECT_EQ(allowed(p, "https://anything.test"), "*");
  EXPECT_EQ(allowed(p, "http://[::1]:8080"), "*");
  // Not a plain origin: no header at all.
  EXPECT_EQ(allowed(p, "null"), std::nullopt);
  EXPECT_EQ(allowed(p, "https://a.test/path"), std::nullopt);
}

TEST(CompiledCors, AnyWithCredentialsEchoesOrigin) {
  CompiledCors p(make_config({"*"}, true));
  EXPECT_EQ(allowed(p, "https://anything.test"), "https://anything.test");
  EXPECT_EQ(allowed(p, "null"), std::nullopt);
}

TEST(CompiledCors, FirstMatchingEntryDecides) {
  CompiledCors p(make_config({"https://a.test", "*"}, false));
  EXPECT_EQ(allowed(p, "https://a.test"), "https://a.test");
  EXPECT_EQ(allowed(p, "https://b.test"), "*");
}

TEST(CompiledCors, SubdomainWildcard) {
  CompiledCors p(make_config({"https://*.example.com"}));
  EXPECT_EQ(allowed(p, "https://a.example.com"), "https://a.example.com");
  EXPECT_EQ(allowed(p, "https://a.b.example.com"), "https://a.b.example.com");
  EXPECT_EQ(allowed(p, "https://x-y.example.com"), "https://x-y.example.com");
  EXPECT_EQ(allowed(p, "https://example.com"), std::nullopt);
  EXPECT_EQ(allowed(p, "https://.example.com"), std::nullopt);
  EXPECT_EQ(allowed(p, "https://attacker.net/.example.com"), std::nullopt);
  EXPECT_EQ(allowed(p, "https://x.example.com.evil.net"), std::nullopt);
  EXPECT_EQ(allowed(p, "http://a.example.com"), std::nullopt);
  EXPECT_EQ(allowed(p, "https://a.example.com:8443"), std::nullopt);
  EXPECT_EQ(allowed(p, "https://user@a.example.com"), std::nullopt);
  EXPECT_EQ(allowed(p, "https://a.example.comx"), std::nullopt);
  EXPECT_EQ(allowed(p, "https://aexample.com"), std::nullopt);
}

TEST(CompiledCors, SeveralStars) {
  CompiledCors two_labels(make_config({"https://*.*.example.com"}));
  EXPECT_EQ(allowed(two_labels, "https://a.b.example.com"), "https://a.b.example.com");
  EXPECT_EQ(allowed(two_labels, "https://a.b.c.example.com"), "https://a.b.c.example.com");
  EXPECT_EQ(allowed(two_labels, "https://a.example.com"), std::nullopt);

  // Needs backtracking: the first '*' must not swallow the last '-'.
  CompiledCors dashes(make_config({"https://*-*.example.com"}));
  EXPECT_EQ(allowed(dashes, "https://a-b-c.example.com"), "https://a-b-c.example.com");
  EXPECT_EQ(allowed(dashes, "https://a-b.example.com"), "https://a-b.example.com");
  EXPECT_EQ(allowed(dashes, "https://ab.example.com"), std::nullopt);
  EXPECT_EQ(allowed(dashes, "https://-b.example.com"), std::nullopt);

  CompiledCors host_and_port(make_config({"http://*:*"}));
  EXPECT_EQ(allowed(host_and_port, "http://h:80"), "http://h:80");
  EXPECT_EQ(allowed(host_and_port, "http://h"), std::nullopt);
  EXPECT_EQ(allowed(host_and_port, "https://h:80"), std::nullopt);
}

TEST(CompiledCors, PortWildcard) {
  CompiledCors p(make_config({"http://localhost:*"}));
  EXPECT_EQ(allowed(p, "http://localhost:3000"), "http://localhost:3000");
  EXPECT_EQ(allowed(p, "http://localhost:1"), "http://localhost:1");
  EXPECT_EQ(allowed(p, "http://localhost"), std::nullopt);
  EXPECT_EQ(allowed(p, "http://localhost:"), std::nullopt);
  EXPECT_EQ(allowed(p, "http://localhost.evil.net:3000"), std::nullopt);
  EXPECT_EQ(allowed(p, "https://localhost:3000"), std::nullopt);
}

TEST(CompiledCors, StarNeverMatchesPathOrUserinfoCharacters) {
  CompiledCors p(make_config({"https://*"}));
  EXPECT_EQ(allowed(p, "https://a.test"), "https://a.test");
  EXPECT_EQ(allowed(p, "https://a.test:8443"), std::nullopt);
  EXPECT_EQ(allowed(p, "https://a.test/x"), std::nullopt);
  EXPECT_EQ(allowed(p, "https://u@a.test"), std::nullopt);
}

TEST(CompiledCors, FixedLinesWithCredentials) {
  CompiledCors p(make_config({"*"}, true));
  EXPECT_EQ(p.fixed_lines(),
            "Access-Control-Allow-Methods: GET,POST\r\n"
            "Access-Control-Allow-Headers: Content-Type,Authorization\r\n"
            "Access-Control-Expose-Headers: X-Request-Id\r\n"
            "Access-Control-Allow-Credentials: true\r\n"
            "Access-Control-Max-Age: 600\r\n"
            "Vary: Origin\r\n");
}

TEST(CompiledCors, FixedLinesWithoutCredentials) {
  config::CorsPolicy c;
  c.allow_origins = {"*"};
  c.allow_methods = {"*"};
  c.allow_headers = {"X-A", "X-B", "X-C"};
  c.expose_headers = {"X-D", "X-E"};
  c.allow_credentials = false;
  c.max_age = 0;
  CompiledCors p(c);
  EXPECT_EQ(p.fixed_lines(),
            "Access-Control-Allow-Methods: *\r\n"
            "Access-Control-Allow-Headers: X-A,X-B,X-C\r\n"
            "Access-Control-Expose-Headers: X-D,X-E\r\n"
            "Access-Control-Allow-Credentials: false\r\n"
            "Access-Control-Max-Age: 0\r\n"
            "Vary: Origin\r\n");
}

TEST(CompiledCors, ApplyReplacesUpstreamCorsFields) {
  CompiledCors p(make_config({"https://app.test"}));
  http::Response r;
  r.headers.add("Access-Control-Allow-Origin", "*");
  r.headers.add("X-Keep", "1");
  r.headers.add("access-control-allow-methods", "DELETE");
  r.headers.add("Access-Control-Allow-Headers", "X");
  r.headers.add("Access-Control-Expose-Headers", "Y");
  r.headers.add("Access-Control-Allow-Credentials", "true");
  r.headers.add("ACCESS-CONTROL-MAX-AGE", "99");
  r.headers.add("Access-Control-Allow-Origin", "https://evil.test");
  r.headers.add("Vary", "Accept");
  p.apply(std::string_view("https://app.test"), r);
  EXPECT_EQ(
      fields(r.headers),
      (Fields{{"X-Keep", "1"}, {"Vary", "Accept"}, {"Access-Control-Allow-Origin", "https://app.test"}}));
}

TEST(CompiledCors, ApplyWithoutAllowedOriginAddsNothing) {
  CompiledCors p(make_config({"https://app.test"}));
  for (std::optional<std::string_view> origin :
       {std::optional<std::string_view>(), std::optional<std::string_view>("https://other.test"),
        std::optional<std::string_view>("null")}) {
    http::Response r;
    r.headers.add("Access-Control-Allow-Origin", "*");
    r.headers.add("Access-Control-Allow-Credentials", "true");
    r.headers.add("Content-Language", "en");
    p.apply(origin, r);
    EXPECT_EQ(fields(r.headers), (Fields{{"Content-Language", "en"}}));
  }
}

TEST(CompiledCors, ApplyOnEmptyHeaders) {
  CompiledCors p(make_config({"*"}));
  http::Response r;
  p.apply(std::string_view("https://x.test"), r);
  EXPECT_EQ(fields(r.headers), (Fields{{"Access-Control-Allow-Origin", "*"}}));
}

}  // namespace
}  // namespace workgate::pipeline
