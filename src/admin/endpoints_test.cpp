#include "admin/endpoints.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "admin/admin_server.hpp"
#include "http/cluster.hpp"

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

TEST_F(EndpointsTest, RoutesListTheServedListenersBeforeTheRoutes) {
  load(R"({"paths":[]})");
  state.add_listener({"admin", "http://127.0.0.1:9901", "", false, false, true});
  state.add_listener({"public", "http://127.0.0.1:8787", "--listen", false, false, false});
  state.add_listener({"edge", "https://0.0.0.0:8443", "/gateway/listeners/0", true, true, false});
  AdminResponse r = handle_admin_request(state, "GET", "/routes");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_LT(r.body.find("\"listeners\""), r.body.find("\"routes\""));
  const json::value parsed = body(r);
  const json::array& listeners = parsed.at("listeners").as_array();
  ASSERT_EQ(listeners.size(), 2u) << r.body;  // not the admin listener
  EXPECT_EQ(listeners[0], (json::object{{"name", "public"},
                                        {"url", "http://127.0.0.1:8787"},
                                        {"origin", "--listen"},
                                        {"tls", false},
                                        {"http2", false}}));
  EXPECT_EQ(listeners[1].at("name"), "edge");
  EXPECT_EQ(listeners[1].at("tls"), true);
  EXPECT_EQ(listeners[1].at("http2"), true);
  // /readyz lists every listener, the admin one too.
  EXPECT_EQ(body(handle_admin_request(state, "GET", "/readyz")).at("listeners").as_array().size(), 3u);
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

std::shared_ptr<http::Cluster> three_targets() {
  std::vector<std::shared_ptr<const http::UpstreamTarget>> targets;
  for (int i = 1; i <= 3; ++i) {
    auto t = std::make_shared<http::UpstreamTarget>();
    t->host = "10.0.0." + std::to_string(i);
    t->port = 8080;
    t->authority = t->host + ":8080";
    targets.push_back(std::move(t));
  }
  auto cluster =
      std::make_shared<http::Cluster>("api", std::move(targets), std::vector<std::uint32_t>{1, 2, 1});
  cluster->outlier = http::OutlierPolicy{
      1, 5, std::chrono::milliseconds(10000), std::chrono::milliseconds(60000), 100, false};
  cluster->max_requests = 8;
  return cluster;
}

TEST_F(EndpointsTest, UpstreamsShowEachTargetsStateAndTheBreaker) {
  EXPECT_EQ(handle_admin_request(state, "GET", "/upstreams").status, 503);
  auto cluster = three_targets();
  auto snapshot = std::make_shared<pipeline::Snapshot>();
  snapshot->clusters.push_back(cluster);
  source.publish(snapshot);
  state.set_source(&source);
  state.publish_config("{}", "test");

  json::value b = body(handle_admin_request(state, "GET", "/upstreams"));
  const json::object& api = b.at("servers").at(0).as_object();
  EXPECT_EQ(api.at("server"), "api");
  EXPECT_EQ(api.at("breaker"), "closed");
  for (const auto& t : api.at("targets").as_array())
    EXPECT_EQ(t.at("state"), "healthy") << t;

  cluster->member(1).healthy.store(false);
  http::ClusterShard thread(*cluster);
  const auto now = std::chrono::steady_clock::now();
  ASSERT_TRUE(thread.record(2, http::OutlierState::Event::kConnectFailure, now));
  cluster->count_breaker_rejection();

  b = body(handle_admin_request(state, "GET", "/upstreams"));
  const json::object& after = b.at("servers").at(0).as_object();
  EXPECT_EQ(after.at("breaker"), "open");
  EXPECT_EQ(after.at("breaker_rejections"), 1);
  EXPECT_EQ(after.at("max_requests"), 8);
  const json::array& targets = after.at("targets").as_array();
  ASSERT_EQ(targets.size(), 3u);
  EXPECT_EQ(targets[0].at("state"), "healthy");
  EXPECT_EQ(targets[1].at("state"), "unhealthy");
  EXPECT_EQ(targets[1].at("weight"), 2);
  EXPECT_EQ(targets[2].at("state"), "ejected");
  EXPECT_EQ(targets[2].at("ejections"), 1);
  // After the ejection and the breaker's window: healthy and closed again.
  json::value later = json::parse(upstreams_json(*snapshot, 1, now + std::chrono::seconds(11)));
  EXPECT_EQ(later.at("servers").at(0).at("targets").at(2).at("state"), "healthy");
  EXPECT_EQ(later.at("servers").at(0).at("breaker"), "closed");

  std::string text = metrics_text(state);
  EXPECT_NE(text.find("workgate_upstream_target_ejected{server=\"api\",target=\""), std::string::npos)
      << text;
  EXPECT_NE(text.find("workgate_upstream_breaker_open{server=\"api\"} 1\n"), std::string::npos);
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
