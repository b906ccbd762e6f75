#include "integrations/http_proxy.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace workgate::integrations {
namespace {

// The rule as first written (join, collapse runs of '/', then make it absolute), beside the one that
// appends in place: they agree on every combination of short pieces of '/', 'a' and '.', and what was in
// the output before stays as it was (a trailing '/' there does not swallow the path's first one).
std::string reference_upstream_path(std::string_view route_path, std::string_view request_path,
                                    std::string_view base_path) {
  std::string joined = std::string(base_path) + std::string(proxied_path(route_path, request_path));
  std::string out;
  for (char c : joined) {
    if (c == '/' && !out.empty() && out.back() == '/') continue;
    out.push_back(c);
  }
  if (out.empty() || out.front() != '/') out.insert(out.begin(), '/');
  return out;
}

TEST(UpstreamPath, AppendingAgreesWithTheJoinCollapseRuleEverywhere) {
  std::vector<std::string> pieces{""};
  for (std::size_t length = 1; length <= 4; ++length) {
    std::vector<std::string> longer;
    for (const std::string& p : pieces)
      if (p.size() == length - 1)
        for (char c : {'/', 'a', '.'})
          longer.push_back(p + c);
    pieces.insert(pieces.end(), longer.begin(), longer.end());
  }
  const std::vector<std::string> routes{"/x", "/{.+}", "/a/{.+}", "//{.+}", "/a/b/{.+}"};
  std::size_t checked = 0;
  for (const std::string& route : routes) {
    for (const std::string& base : pieces) {
      for (const std::string& path : pieces) {
        std::string want = reference_upstream_path(route, path, base);
        EXPECT_EQ(upstream_path(route, path, base), want) << route << " " << path << " " << base;
        std::string head = "GET /";
        append_upstream_path(head, route, path, base);
        EXPECT_EQ(head, "GET /" + want) << route << " " << path << " " << base;
        ++checked;
      }
    }
    for (const std::string& rest : pieces) {  // paths under the route's prefix
      std::string path = route.substr(0, route.size() - 5) + rest;
      EXPECT_EQ(upstream_path(route, path, "/b"), reference_upstream_path(route, path, "/b"))
          << route << path;
    }
  }
  EXPECT_EQ(checked, 5u * 121u * 121u);
}

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
