#include "admin/redact.hpp"

#include <gtest/gtest.h>

namespace workgate::admin {
namespace {

TEST(Redact, EnvironmentValuesAndSecretKeys) {
  std::string text = R"({
    "servers": [{"alias": "api", "url": "$env.API_URL"}],
    "authorizer": {"type": "auth0", "domain": "x.auth0.com", "client_id": "cid",
                   "client_secret": "literal-client-secret", "secret": "literal-jwt-secret"},
    "workers": [{"binding": "w", "env": {"DB_PASSWORD": "hunter2", "TOKEN": "$secret.TOKEN"}}],
    "paths": [{"method": "GET", "path": "/a", "response": {"jwt_secret": "s3", "note": "$secrets.NOTE",
               "keep": "plain $env.not-a-prefix"}}]
  })";
  auto out = redact_config(text);
  ASSERT_TRUE(out);
  for (std::string_view secret : {"$env.API_URL", "literal-client-secret", "literal-jwt-secret", "hunter2",
                                  "$secret.TOKEN", "\"s3\"", "$secrets.NOTE"})
    EXPECT_EQ(out->find(secret), std::string::npos) << secret << " in " << *out;
  EXPECT_NE(out->find("\"client_id\":\"cid\""), std::string::npos);
  EXPECT_NE(out->find("\"domain\":\"x.auth0.com\""), std::string::npos);
  EXPECT_NE(out->find("plain $env.not-a-prefix"), std::string::npos);  // only whole values are substituted
  EXPECT_NE(out->find("\"client_secret\":\"[redacted]\""), std::string::npos);
}

TEST(Redact, SecretKeyNames) {
  EXPECT_TRUE(is_secret_key("secret"));
  EXPECT_TRUE(is_secret_key("jwt_secret"));
  EXPECT_TRUE(is_secret_key("Client_Secret"));
  EXPECT_TRUE(is_secret_key("db_password"));
  EXPECT_TRUE(is_secret_key("X-Api-Key"));
  EXPECT_FALSE(is_secret_key("client_id"));
  EXPECT_FALSE(is_secret_key("issuer"));
  EXPECT_FALSE(redact_config("{not json"));
}

}  // namespace
}  // namespace workgate::admin
