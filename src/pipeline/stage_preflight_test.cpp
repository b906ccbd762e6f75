// The preflight and route stages on a compiled snapshot: begin() matches the route once, and the preflight
// decides from that match (plus one lookup when an ANY route won) whether an OPTIONS request is a CORS
// preflight.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "http/shard.hpp"
#include "pipeline/gateway_handler.hpp"
#include "pipeline/request_context.hpp"
#include "pipeline/stage_table.hpp"

namespace workgate::pipeline {
namespace {

int g_responded_status = -1;

void record_respond(RequestContext& exchange) {
  g_responded_status = exchange.response.status;
}

// The real preflight and route stages, then a marker that the request got past them.
Flow past_routing(RequestContext& exchange) {
  exchange.response.status = exchange.has_route() ? 1000 + static_cast<int>(exchange.match().route) : 999;
  return Flow::kContinue;
}

constexpr StageSlot kRouting[] = {
    {"preflight", &stages::preflight}, {"route", &stages::route}, {"past_routing", &past_routing}};
constexpr StageTable kRoutingTable{kRouting, stages_through(kRouting, "route"), &record_respond};

class PreflightTest : public ::testing::Test {
 protected:
  // Routes: 0 ANY /a/b, 1 OPTIONS /a/{id}, 2 ANY /z, 3 GET /g.
  void publish(bool cors) {
    auto snapshot = std::make_shared<Snapshot>();
    const std::pair<const char*, const char*> routes[] = {
        {"ANY", "/a/b"}, {"OPTIONS", "/a/{id}"}, {"ANY", "/z"}, {"GET", "/g"}};
    std::vector<router::RouteDefinition> definitions;
    for (const auto& [method, path] : routes) {
      config::Route route;
      route.index = snapshot->config.paths.size();
      route.method = method;
      route.path = path;
      snapshot->config.paths.push_back(route);
      definitions.push_back({method, path});
    }
    std::vector<router::CompileError> errors;
    snapshot->router = router::Router::compile(definitions, errors);
    ASSERT_TRUE(errors.empty());
    for (const config::Route& route : snapshot->config.paths) {
      CompiledRoute compiled;
      compiled.config = &route;
      snapshot->routes.push_back(std::move(compiled));
    }
    if (cors) {
      config::CorsPolicy policy;
      policy.allow_origins = {"*"};
      snapshot->cors.emplace(policy);
    }
    source_.publish(std::move(snapshot));
    handler_ = std::make_unique<GatewayHandler>(shard_, source_, kRoutingTable);
    exchange_ = std::make_unique<RequestContext>(*handler_);
  }

  int status_of(const std::string& method, const std::string& path) {
    exchange_->reset();
    exchange_->request().method = method;
    exchange_->request().path = path;
    g_responded_status = -1;
    handler_->handle(*exchange_);
    return g_responded_status;
  }

  http::Shard shard_{0};
  SnapshotSource source_;
  std::unique_ptr<GatewayHandler> handler_;
  std::unique_ptr<RequestContext> exchange_;
};

TEST_F(PreflightTest, WithCorsOptionsWithoutAnExplicitOptionsRouteIsAnsweredHere) {
  publish(/*cors=*/true);
  EXPECT_EQ(status_of("OPTIONS", "/z"), 204) << "only an ANY route matches";
  EXPECT_EQ(status_of("OPTIONS", "/nothing"), 204) << "no route at all: a preflight, not a 404";
  EXPECT_EQ(status_of("OPTIONS", "/g"), 204) << "a GET route is no OPTIONS route";
}

TEST_F(PreflightTest, AnExplicitOptionsRouteIsRoutedLikeAnyRequest) {
  publish(/*cors=*/true);
  EXPECT_EQ(status_of("OPTIONS", "/a/c"), 1001) << "the explicit OPTIONS route won";
  // The ANY route wins the match (exact beats parameter), but an explicit OPTIONS route also matches the
  // path: not a preflight, and the request keeps the route that won.
  EXPECT_EQ(status_of("OPTIONS", "/a/b"), 1000);
}

TEST_F(PreflightTest, WithoutCorsOptionsIsRoutedLikeAnyRequest) {
  publish(/*cors=*/false);
  EXPECT_EQ(status_of("OPTIONS", "/z"), 1002);
  EXPECT_EQ(status_of("OPTIONS", "/nothing"), 404);
}

TEST_F(PreflightTest, RouteStageAnswers404AndHeadFallsBackToGet) {
  publish(/*cors=*/true);
  EXPECT_EQ(status_of("GET", "/nothing"), 404);
  EXPECT_EQ(status_of("GET", "/g"), 1003);
  EXPECT_EQ(status_of("HEAD", "/g"), 1003);
  EXPECT_EQ(status_of("POST", "/g"), 404);
}

}  // namespace
}  // namespace workgate::pipeline
