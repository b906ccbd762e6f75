#include <gtest/gtest.h>

#include "integrations/auth0.hpp"
#include "integrations/auth_support.hpp"
#include "integrations/supabase.hpp"

namespace workgate::integrations {
namespace {

using auth_support::form_component;
using auth_support::query_parameter;
using auth_support::uri_component;

TEST(AuthSupport, FormComponentLikeUrlSearchParams) {
  EXPECT_EQ(form_component("abc-._*XYZ019"), "abc-._*XYZ019");
  EXPECT_EQ(form_component("a b&c=d+e/f?g~"), "a+b%26c%3Dd%2Be%2Ff%3Fg%7E");
  EXPECT_EQ(form_component("\xc3\xa9"), "%C3%A9");
  EXPECT_EQ(form_component(""), "");
}

TEST(AuthSupport, UriComponentKeepsOnlyUnreserved) {
  EXPECT_EQ(uri_component("openid profile email"), "openid%20profile%20email");
  EXPECT_EQ(uri_component("https://app.example.com/cb?x=1&y=2"),
            "https%3A%2F%2Fapp.example.com%2Fcb%3Fx%3D1%26y%3D2");
  EXPECT_EQ(uri_component("a-b_c.d~e"), "a-b_c.d~e");
}

TEST(AuthSupport, QueryParameterDecodes) {
  EXPECT_EQ(query_parameter("code=abc%20d%26e&state=s", "code"), "abc d&e");
  EXPECT_EQ(query_parameter("state=a+b", "state"), "a b");
  EXPECT_EQ(query_parameter("x=1&code=&y=2", "code"), "");
  EXPECT_EQ(query_parameter("code", "code"), "");
  EXPECT_EQ(query_parameter("code=1&code=2", "code"), "1");
  EXPECT_EQ(query_parameter("c%6Fde=yes", "code"), "yes");
  EXPECT_EQ(query_parameter("code=%zz%4", "code"), "%zz%4");
  EXPECT_FALSE(query_parameter("", "code"));
  EXPECT_FALSE(query_parameter("codes=1&xcode=2", "code"));
}

TEST(Auth0, DomainIsAHostWithAnOptionalPort) {
  auto plain = parse_auth0_domain("tenant.eu.auth0.com");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->host, "tenant.eu.auth0.com");
  EXPECT_EQ(plain->port, 443);
  auto local = parse_auth0_domain("localhost:8443");
  ASSERT_TRUE(local);
  EXPECT_EQ(local->host, "localhost");
  EXPECT_EQ(local->port, 8443);
  auto v6 = parse_auth0_domain("[::1]:9000");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 9000);
  for (const char* bad : {"https://tenant.auth0.com", "tenant.auth0.com/path", "user@tenant.auth0.com",
                          "host:", "host:0", "host:99999", "", "a b"}) {
    EXPECT_FALSE(parse_auth0_domain(bad)) << bad;
  }
}

TEST(Auth0, AuthorizeUrlEncodesEveryParameter) {
  config::Authorizer authorizer;
  authorizer.domain = "tenant.auth0.com";
  authorizer.client_id = "client id";
  authorizer.redirect_uri = "https://api.example.com/cb?a=1&b=2";
  authorizer.scope = "openid profile email";
  EXPECT_EQ(auth0_authorize_url(authorizer, "abc&x=y"),
            "https://tenant.auth0.com/authorize?response_type=code&client_id=client%20id"
            "&redirect_uri=https%3A%2F%2Fapi.example.com%2Fcb%3Fa%3D1%26b%3D2&scope=openid%20profile%20email"
            "&state=abc%26x%3Dy");
}

TEST(Supabase, ErrorMessagesLikeSupabaseJs) {
  EXPECT_EQ(supabase_error_message(400, R"({"code":400,"error_code":"x","msg":"Signups not allowed"})"),
            "Signups not allowed");
  EXPECT_EQ(supabase_error_message(401, R"({"message":"Invalid API key"})"), "Invalid API key");
  EXPECT_EQ(supabase_error_message(400, R"({"error":"invalid_grant","error_description":"Bad code"})"),
            "Bad code");
  EXPECT_EQ(supabase_error_message(400, R"({"error":"invalid_grant"})"), "invalid_grant");
  EXPECT_EQ(supabase_error_message(400, R"({"msg":"","other":1})"), R"({"msg":"","other":1})");
  EXPECT_EQ(supabase_error_message(400, R"({"msg":{"a":1}})"), R"({"a":1})");
  EXPECT_EQ(supabase_error_message(503, R"({"msg":"x"})"), "Supabase is unavailable (HTTP 503)");
  EXPECT_EQ(supabase_error_message(500, "<html>"), "Supabase returned HTTP 500");
}

TEST(Supabase, LongMessagesAreCutAtACharacterBoundary) {
  std::string long_message(298, 'x');
  long_message += "\xc3\xa9\xc3\xa9";  // two 2-byte characters across the 300-byte limit
  const std::string message = supabase_error_message(400, R"({"msg":")" + long_message + R"("})");
  EXPECT_EQ(message, std::string(298, 'x') + "\xc3\xa9...");
}

}  // namespace
}  // namespace workgate::integrations
