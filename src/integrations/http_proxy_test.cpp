#include "integrations/http_proxy.hpp"

#include <gtest/gtest.h>

#include <string>

namespace workgate::integrations {
namespace {

TEST(UpstreamPath, WildcardPrefixIsStripped) {
  EXPECT_EQ(upstream_path("/api/v1/proxy/{.+}", "/api/v1/proxy/orders/1", ""), "/orders/1");
  EXPECT_EQ(upstream_path("/api/v1/proxy/{.+}", "/api/v1/proxy/orders/1/", ""), "/orders/1/");
  EXPECT_EQ(upstream_path("/p/{.+}", "/p/x", "/base"), "/base/x");
}

TEST(UpstreamPath, ExactRouteForwardsWholePathUnderBase) {
  EXPECT_EQ(upstream_path("/api/v1/health", "/api/v1/health", "/base"), "/base/api/v1/health");
  EXPECT_EQ(upstream_path("/api/v1/health", "/api/v1/health", ""), "/api/v1/health");
}

TEST(UpstreamPath, RootWildcardForwardsEverything) {
  EXPECT_EQ(upstream_path("/{.+}", "/v1/items/2", "/prefix"), "/prefix/v1/items/2");
  EXPECT_EQ(upstream_path("/{.+}", "/v1/items/2", ""), "/v1/items/2");
  EXPECT_EQ(upstream_path("/{.+}", "/", ""), "/");
  EXPECT_EQ(upstream_path("/{.+}", "/", "/prefix"), "/prefix/");
}

TEST(UpstreamPath, BarePrefixForwardsSlash) {
  EXPECT_EQ(upstream_path("/prefix/{.+}", "/prefix", "/base"), "/base/");
  EXPECT_EQ(upstream_path("/prefix/{.+}", "/prefix", ""), "/");
  EXPECT_EQ(upstream_path("/prefix/{.+}", "/prefix/", "/base"), "/base/");
}

TEST(UpstreamPath, ParameterPrefixForwardsFullPath) {
  EXPECT_EQ(upstream_path("/a/{x}/{.+}", "/a/1/rest/of/it", ""), "/a/1/rest/of/it");
  EXPECT_EQ(upstream_path("/a/{x}/{.+}", "/a/1/rest", "/b"), "/b/a/1/rest");
}

TEST(UpstreamPath, ParameterRouteForwardsFullPath) {
  EXPECT_EQ(upstream_path("/users/{id}", "/users/42", "/base/"), "/base/users/42");
}

TEST(UpstreamPath, SlashRunsCollapse) {
  EXPECT_EQ(upstream_path("/api/{.+}", "/api//x//y", ""), "/x/y");
  EXPECT_EQ(upstream_path("/a", "/a", "/base/"), "/base/a");
  EXPECT_EQ(upstream_path("/a//b", "/a//b", ""), "/a/b");
  EXPECT_EQ(upstream_path("/{.+}", "//x", "//b//"), "/b/x");
}

TEST(UpstreamPath, SimilarPrefixNotStripped) {
  EXPECT_EQ(upstream_path("/prefix/{.+}", "/prefixed-not", ""), "/prefixed-not");
  EXPECT_EQ(upstream_path("/prefix/{.+}", "/prefixed-not", "/base"), "/base/prefixed-not");
  EXPECT_EQ(upstream_path("/prefix/{.+}", "/other/prefix/x", ""), "/other/prefix/x");
}

TEST(UpstreamPath, PercentEncodingKept) {
  EXPECT_EQ(upstream_path("/files/{.+}", "/files/a%2Fb/c%20d", "/s3"), "/s3/a%2Fb/c%20d");
}

}  // namespace
}  // namespace workgate::integrations
