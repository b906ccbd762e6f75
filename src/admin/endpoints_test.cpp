#include "admin/endpoints.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "admin/admin_server.hpp"

namespace workgate::admin {
namespace {
namespace json = boost::json;

class EndpointsTest : public ::testing::Test {
 protected:
  metrics::Registry registry;
  AdminState state{registry, {"1.2.3", "abc123", "1"}};
  pipeline::SnapshotSource source;

  json::value body(const AdminResponse& r) { return json::parse(r.body); }

  void load(std::string_view text) {
    source.publish(std::make_shared<pipeline::Snapshot>());
    state.set_source(&source);
    state.publish_config(text, "test");
  }
};

TEST_F(EndpointsTest, NotReadyUntilLoadedThenReadyThenDraining) {
  AdminResponse r = handle_admin_request(state, "GET", "/readyz");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(body(r).at("reasons").as_array().at(0), "config not loaded");
  EXPECT_EQ(handle_admin_request(state, "GET", "/livez").status, 200);
  EXPECT_EQ(handle_admin_request(state, "GET", "/config").status, 503);
  EXPECT_EQ(handle_admin_request(state, "GET", "/routes").status, 503);

  load(R"({"paths":[]})");
  r = handle_admin_request(state, "GET", "/readyz?verbose=1");
  EXPECT_EQ(r.status, 200) << r.body;
  json::value b = body(r);
  EXPECT_EQ(b.at("status"), "ready");
  EXPECT_EQ(b.at("config").at("generation"), 1);
  EXPECT_EQ(std::string(b.at("config").at("sha256").as_string()), sha256_hex(R"({"paths":[]})"));
  EXPECT_TRUE(b.at("last_reload").is_null());

  state.record_reload(false, "the config has errors");
  b = body(handle_admin_request(state, "GET", "/readyz"));
  EXPECT_EQ(b.at("last_reload").at("result"), "failed");
  EXPECT_EQ(b.at("status"), "ready");  // a failed reload keeps the running config

  state.set_draining();
  r = handle_admin_request(state, "GET", "/readyz");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(body(r).at("reasons").as_array().at(0), "draining");
  EXPECT_EQ(handle_admin_request(state, "GET", "/livez").status, 200);
}

TEST_F(EndpointsTest, ConfigIsRedacted) {
  load(
      R"({"authorizer":{"type":"jwt","secret":"s3cr3t-literal"},"servers":[{"alias":"a","url":"$env.URL"}]})");
  AdminResponse r = handle_admin_request(state, "GET", "/config");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body.find("s3cr3t-literal"), std::string::npos);
  EXPECT_EQ(r.body.find("$env.URL"), std::string::npos);
  EXPECT_EQ(body(r).at("authorizer").at("secret"), "[redacted]");
}

TEST_F(EndpointsTest, MetricsCarryBuildInfoAndReloads) {
  load("{}");
  state.record_reload(true, "ok");
  auto shard = std::make_shared<metrics::ShardMetrics>();
  registry.add(shard);
  shard->unmatched().count(metrics::Method::kGet, 404, 1000, 0, 10);
  AdminResponse r = handle_admin_request(state, "GET", "/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(r.body.find("workgate_build_info{version=\"1.2.3\",commit=\"abc123\",abi=\"1\"} 1\n"),
            std::string::npos);
  EXPECT_NE(r.body.find("workgate_config_reloads_total{result=\"ok\"} 1\n"), std::string::npos);
  EXPECT_NE(r.body.find("workgate_http_requests_total{route=\"unmatched\",method=\"GET\",code=\"404\"} 1\n"),
            std::string::npos);
  EXPECT_NE(r.body.find("workgate_ready 1\n"), std::string::npos);
  EXPECT_NE(r.body.find("process_open_fds "), std::string::npos);
}

TEST_F(EndpointsTest, MethodsAndUnknownPaths) {
  AdminResponse r = handle_admin_request(state, "POST", "/livez");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.allow, "GET, HEAD");
  EXPECT_EQ(handle_admin_request(state, "GET", "/nope").status, 404);
  EXPECT_EQ(handle_admin_request(state, "HEAD", "/livez").status, 200);
}

}  // namespace
}  // namespace workgate::admin
