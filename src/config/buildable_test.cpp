#include "config/buildable.hpp"

#include <gtest/gtest.h>

#include "config/loader.hpp"

namespace workgate::config {
namespace {

LoadResult load(std::string_view text) {
  return load_config_text(text, Environment{}, "/etc/workgate");
}

TEST(PointerWithin, MatchesTheEntryAndWhatIsInsideItOnly) {
  EXPECT_TRUE(pointer_within("/paths/1", "/paths/1"));
  EXPECT_TRUE(pointer_within("/paths/1/integration/server", "/paths/1"));
  EXPECT_FALSE(pointer_within("/paths/10", "/paths/1"));
  EXPECT_FALSE(pointer_within("/paths", "/paths/1"));
  EXPECT_TRUE(pointer_within("/anything", ""));
}

TEST(Buildable, AValidDocumentHasNoPartialConfig) {
  LoadResult r = load(R"({"paths":[{"method":"GET","path":"/a","response":{}}]})");
  ASSERT_TRUE(r.errors.empty());
  EXPECT_TRUE(r.config.has_value());
  EXPECT_FALSE(r.partial.has_value());
}

TEST(Buildable, NotAnObjectHasNothingToBuild) {
  for (std::string_view text : {"[1]", "{", "\"x\""}) {
    LoadResult r = load(text);
    EXPECT_FALSE(r.errors.empty()) << text;
    EXPECT_FALSE(r.partial.has_value()) << text;
  }
}

TEST(Buildable, ARouteWithAnErrorBecomesAStaticPlaceholderAndKeepsItsIndex) {
  LoadResult r = load(R"({
    "servers":[{"alias":"api","url":"http://127.0.0.1:9000"}],
    "serviceBindings":[{"alias":"b","binding":"W"}],
    "workers":[{"binding":"W","module":"w.so"}],
    "rate_limits":[{"name":"p","rate":1,"period_seconds":1}],
    "paths":[
      {"method":"BREW","path":"/a","integration":{"type":"http_proxy","server":"api"},
       "mapping":{"headers":{"x":"1"}},"pre_process":{"binding":"b","function":"f"},"rate_limit":"p"},
      {"method":"GET","path":"/b","integration":{"type":"http_proxy","server":"api"},
       "pre_process":{"binding":"b","function":"f"},"rate_limit":"p"}]})");
  ASSERT_EQ(r.errors.size(), 1u) << r.errors[0].to_string();
  ASSERT_TRUE(r.partial.has_value());
  ASSERT_EQ(r.partial->paths.size(), 2u);
  const Route& bad = r.partial->paths[0];
  EXPECT_EQ(bad.index, 0u);
  EXPECT_EQ(bad.method, "GET");
  EXPECT_TRUE(bad.path.starts_with("/"));
  EXPECT_FALSE(bad.integration.has_value());
  EXPECT_FALSE(bad.pre_process.has_value());
  EXPECT_TRUE(bad.mapping.headers.empty());
  EXPECT_TRUE(bad.rate_limits.empty());
  const Route& good = r.partial->paths[1];
  EXPECT_EQ(good.path, "/b");
  EXPECT_TRUE(good.integration.has_value());
  EXPECT_TRUE(good.pre_process.has_value());
  EXPECT_EQ(good.rate_limits.size(), 1u);
}

TEST(Buildable, UsesOfABrokenServiceBindingAreRemoved) {
  LoadResult r = load(R"({
    "serviceBindings":[{"alias":"b","binding":"NOT_DECLARED"},{"alias":"ok","binding":"W"}],
    "workers":[{"binding":"W","module":"w.so"}],
    "paths":[
      {"method":"GET","path":"/a","integration":{"type":"service_binding","binding":"b","function":"f"}},
      {"method":"GET","path":"/b","pre_process":{"binding":"b","function":"f"},"response":{},
       "post_process":{"binding":"ok","function":"g"}}]})");
  ASSERT_FALSE(r.errors.empty());
  EXPECT_EQ(r.errors[0].pointer, "/serviceBindings/0/binding");
  ASSERT_TRUE(r.partial.has_value());
  EXPECT_FALSE(r.partial->paths[0].integration.has_value());
  EXPECT_FALSE(r.partial->paths[1].pre_process.has_value());
  EXPECT_TRUE(r.partial->paths[1].post_process.has_value());
}

TEST(Buildable, AnAuthorizerWithAnErrorIsRemovedWithTheAuth0FlowsThatNeedIt) {
  LoadResult r = load(R"({
    "authorizer":{"type":"auth0","domain":"t.example.com","client_id":"c","client_secret":"s",
                  "redirect_uri":"https://app/cb","scope":"openid","jwks":"{}","algorithms":["HS256"]},
    "paths":[{"method":"GET","path":"/cb","integration":{"type":"auth0_callback"}},
             {"method":"GET","path":"/x","auth":true,"response":{}}]})");
  ASSERT_FALSE(r.errors.empty());
  EXPECT_EQ(r.errors[0].pointer, "/authorizer/algorithms/0");
  ASSERT_TRUE(r.partial.has_value());
  EXPECT_FALSE(r.partial->authorizer.has_value());
  EXPECT_FALSE(r.partial->paths[0].integration.has_value());
}

TEST(Buildable, AListenerWithAnErrorLosesItsTlsBlockOnly) {
  LoadResult r = load(R"({"paths":[],"gateway":{"listeners":[
    {"address":"127.0.0.1:8443","tls":{"certificates":[{"cert_file":"a.pem","key_file":"a.key"}],
                                       "min_version":"1.1"}},
    {"address":"127.0.0.1:9443","tls":{"certificates":[{"cert_file":"b.pem","key_file":"b.key"}]}}]}})");
  ASSERT_EQ(r.errors.size(), 1u);
  ASSERT_TRUE(r.partial.has_value());
  ASSERT_EQ(r.partial->gateway.listeners.size(), 2u);
  EXPECT_FALSE(r.partial->gateway.listeners[0].tls.has_value());
  EXPECT_TRUE(r.partial->gateway.listeners[1].tls.has_value());
}

}  // namespace
}  // namespace workgate::config
