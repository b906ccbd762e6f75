#include <gtest/gtest.h>

#include <thread>

#include "metrics/exposition.hpp"
#include "metrics/process.hpp"
#include "metrics/shard_metrics.hpp"

namespace workgate::metrics {
namespace {

TEST(Exposition, EscapesLabelValues) {
  std::string out;
  append_label_value(out, "a\\b\"c\nd\te");
  EXPECT_EQ(out, "a\\\\b\\\"c\\nd\te");
  TextWriter w;
  w.family("x_total", "counter", "Help with \\ and\nnewline");
  w.sample("x_total", {{"route", "/a\"b"}, {"method", "GET"}}, std::uint64_t{3});
  EXPECT_EQ(w.text(),
            "# HELP x_total Help with \\\\ and\\nnewline\n# TYPE x_total counter\n"
            "x_total{route=\"/a\\\"b\",method=\"GET\"} 3\n");
}

TEST(Exposition, Values) {
  std::string out;
  append_value(out, 0.25);
  out += ' ';
  append_value(out, 1.0 / 0.0);
  out += ' ';
  append_value(out, 3);
  EXPECT_EQ(out, "0.25 +Inf 3");
}

TEST(Histogram, BucketsSumCount) {
  Histogram h;
  h.observe_ns(100'000);         // 0.1 ms -> le 0.0005
  h.observe_ns(500'000);         // exactly on the bound: le 0.0005 (le is inclusive)
  h.observe_ns(3'000'000);       // 3 ms -> le 0.005
  h.observe_ns(20'000'000'000);  // 20 s -> +Inf
  HistogramValues v;
  h.read_into(v);
  EXPECT_EQ(v.count(), 4u);
  TextWriter w;
  w.histogram("d_seconds", {{"route", "/x"}}, v);
  const std::string& t = w.text();
  EXPECT_NE(t.find("d_seconds_bucket{route=\"/x\",le=\"0.0005\"} 2\n"), std::string::npos) << t;
  EXPECT_NE(t.find("d_seconds_bucket{route=\"/x\",le=\"0.0025\"} 2\n"), std::string::npos) << t;
  EXPECT_NE(t.find("d_seconds_bucket{route=\"/x\",le=\"0.005\"} 3\n"), std::string::npos) << t;
  EXPECT_NE(t.find("d_seconds_bucket{route=\"/x\",le=\"10\"} 3\n"), std::string::npos) << t;
  EXPECT_NE(t.find("d_seconds_bucket{route=\"/x\",le=\"+Inf\"} 4\n"), std::string::npos) << t;
  EXPECT_NE(t.find("d_seconds_sum{route=\"/x\"} 20.0036\n"), std::string::npos) << t;
  EXPECT_NE(t.find("d_seconds_count{route=\"/x\"} 4\n"), std::string::npos) << t;
}

TEST(ShardMetrics, SumsShardsByPattern) {
  auto a = std::make_shared<ShardMetrics>();
  auto b = std::make_shared<ShardMetrics>();
  a->remap({{"/items/{id}", "api"}, {"/health", ""}});
  b->remap({{"/health", ""}, {"/items/{id}", "api"}});  // another order: same series by pattern
  a->route(0).count(Method::kGet, 200, 1000, 0, 10);
  b->route(1).count(Method::kGet, 200, 1000, 5, 10);
  b->route(1).count(Method::kPost, 201, 1000, 5, 10);
  a->route(1).count(Method::kGet, 200, 1000, 0, 2);
  a->unmatched().count(method_of("BREW"), 404, 1000, 0, 2);
  a->upstream(0)->observe(2'000'000);
  a->upstream(0)->error(UpstreamErrorKind::kTimeout);
  EXPECT_EQ(a->upstream(1), nullptr);
  a->auth(AuthResult::kValid);
  b->auth(AuthResult::kInvalid);
  b->token_cache_hit();
  TextWriter w;
  write_shard_metrics({a, b}, w);
  const std::string& t = w.text();
  EXPECT_NE(t.find("workgate_http_requests_total{route=\"/items/{id}\",method=\"GET\",code=\"200\"} 2\n"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("workgate_http_requests_total{route=\"/items/{id}\",method=\"POST\",code=\"201\"} 1\n"),
            std::string::npos);
  EXPECT_NE(t.find("workgate_http_requests_total{route=\"/health\",method=\"GET\",code=\"200\"} 1\n"),
            std::string::npos);
  EXPECT_NE(t.find("workgate_http_requests_total{route=\"unmatched\",method=\"other\",code=\"404\"} 1\n"),
            std::string::npos);
  EXPECT_NE(t.find("workgate_http_request_size_bytes_total{route=\"/items/{id}\"} 10\n"), std::string::npos);
  EXPECT_NE(t.find("workgate_http_response_size_bytes_total{route=\"/items/{id}\"} 30\n"), std::string::npos);
  EXPECT_NE(t.find("workgate_upstream_errors_total{server=\"api\",kind=\"timeout\"} 1\n"), std::string::npos);
  EXPECT_NE(t.find("workgate_upstream_request_duration_seconds_count{server=\"api\"} 1\n"),
            std::string::npos);
  EXPECT_NE(t.find("workgate_auth_verifications_total{result=\"valid\"} 1\n"), std::string::npos);
  EXPECT_NE(t.find("workgate_auth_verifications_total{result=\"invalid\"} 1\n"), std::string::npos);
  EXPECT_NE(t.find("workgate_auth_token_cache_hits_total 1\n"), std::string::npos);
}

TEST(ShardMetrics, PoolsAndWorkersSummed) {
  auto a = std::make_shared<ShardMetrics>();
  auto b = std::make_shared<ShardMetrics>();
  a->set_pools({{"http://u:80", 3, 2, 0, 5}});
  b->set_pools({{"http://u:80", 1, 0, 4, 1}});
  int key_a = 0, key_b = 0;
  a->worker(&key_a, "W", "run").call(1000);
  a->worker(&key_a, "W", "run").timeout();
  b->worker(&key_b, "W", "run").call(1000);
  b->worker(&key_b, "W", "run").failure();
  // The same address for another function (a reload reused it): another series.
  a->worker(&key_a, "W", "other").call(1000);
  TextWriter w;
  write_shard_metrics({a, b}, w);
  const std::string& t = w.text();
  EXPECT_NE(t.find("workgate_upstream_connections{upstream=\"http://u:80\",state=\"open\"} 4\n"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("workgate_upstream_connections{upstream=\"http://u:80\",state=\"idle\"} 2\n"),
            std::string::npos);
  EXPECT_NE(t.find("workgate_upstream_connections{upstream=\"http://u:80\",state=\"pending\"} 4\n"),
            std::string::npos);
  EXPECT_NE(t.find("workgate_upstream_retries_total{upstream=\"http://u:80\"} 6\n"), std::string::npos);
  EXPECT_NE(t.find("workgate_worker_calls_total{binding=\"W\",function=\"run\"} 2\n"), std::string::npos);
  EXPECT_NE(t.find("workgate_worker_calls_total{binding=\"W\",function=\"other\"} 1\n"), std::string::npos);
  EXPECT_NE(t.find("workgate_worker_timeouts_total{binding=\"W\",function=\"run\"} 1\n"), std::string::npos);
  EXPECT_NE(t.find("workgate_worker_failures_total{binding=\"W\",function=\"run\"} 1\n"), std::string::npos);
  EXPECT_NE(t.find("workgate_worker_duration_seconds_count{binding=\"W\",function=\"run\"} 2\n"),
            std::string::npos);
}

TEST(ShardMetrics, ReloadKeepsCountsOfAPattern) {
  ShardMetrics m;
  m.remap({{"/a", ""}, {"/b", ""}});
  m.route(1).count(Method::kGet, 200, 1, 0, 0);
  m.remap({{"/b", ""}});  // /a removed, /b moved to index 0
  m.route(0).count(Method::kGet, 200, 1, 0, 0);
  std::uint64_t b = 0;
  m.for_each_route([&](const RouteSeries& s) {
    if (s.route() == "/b") s.for_each_status([&](Method, int, std::uint64_t n) { b += n; });
  });
  EXPECT_EQ(b, 2u);
  EXPECT_EQ(&m.route(7), &m.unmatched());  // an index beyond the table counts as unmatched
}

TEST(ShardMetrics, FullStatusTableCountsAsOther) {
  RouteSeries s("/x");
  for (int status = 100; status < 200; ++status)
    s.count(Method::kGet, status, 1, 0, 0);
  std::uint64_t total = 0, other = 0;
  s.for_each_status([&](Method, int status, std::uint64_t n) {
    total += n;
    if (status == 0) other += n;
  });
  EXPECT_EQ(total, 100u);
  EXPECT_EQ(other, 36u);
}

TEST(ShardMetrics, ScrapeWhileCounting) {
  auto m = std::make_shared<ShardMetrics>();
  m->remap({{"/x", ""}});
  std::thread writer([&] {
    for (int i = 0; i < 100000; ++i)
      m->route(0).count(Method::kGet, 200 + i % 3, 10, 1, 1);
  });
  for (int i = 0; i < 50; ++i) {
    TextWriter w;
    write_shard_metrics({m}, w);
  }
  writer.join();
  std::uint64_t total = 0;
  m->for_each_route(
      [&](const RouteSeries& s) { s.for_each_status([&](Method, int, std::uint64_t n) { total += n; }); });
  EXPECT_EQ(total, 100000u);
}

TEST(Process, ParsesProcStat) {
  std::string stat =
      "1234 (work gate) (x)) S 1 1234 1234 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 3 0 1000 104857600 2560 "
      "18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 0 0 0 0 0 0";
  auto s = parse_proc_stat(stat, 100, 4096, 1700000000);
  ASSERT_TRUE(s);
  EXPECT_DOUBLE_EQ(s->cpu_seconds, 3.0);
  EXPECT_DOUBLE_EQ(s->start_time_seconds, 1700000010.0);
  EXPECT_EQ(s->resident_bytes, 2560u * 4096u);
  EXPECT_EQ(s->virtual_bytes, 104857600u);
  EXPECT_FALSE(parse_proc_stat("garbage", 100, 4096, 0));
  EXPECT_FALSE(parse_proc_stat("1 (x) S 1 2", 100, 4096, 0));
}

TEST(Process, WritesFromProc) {
  TextWriter w;
  write_process_metrics(w);
  EXPECT_NE(w.text().find("process_resident_memory_bytes "), std::string::npos);
  EXPECT_NE(w.text().find("process_open_fds "), std::string::npos);
  EXPECT_NE(w.text().find("process_cpu_seconds_total "), std::string::npos);
}

}  // namespace
TEST(ShardMetrics, ConnectionsAreSummedByListenerAndProtocol) {
  auto a = std::make_shared<ShardMetrics>();
  auto b = std::make_shared<ShardMetrics>();
  a->set_connections(0, 3, 0);
  a->set_connections(1, 5, 2);
  b->set_connections(1, 1, 1);
  b->set_connections(ShardMetrics::kMaxListeners, 9, 9);  // beyond the table: not counted
  {
    TextWriter w;
    write_shard_metrics({a, b}, w, {{"public", false}, {"web", true}, {"spare", false}});
    const std::string& t = w.text();
    EXPECT_NE(t.find("workgate_http_connections_open{listener=\"public\",protocol=\"http/1.1\"} 3\n"),
              std::string::npos)
        << t;
    EXPECT_EQ(t.find("workgate_http_connections_open{listener=\"public\",protocol=\"h2\"}"),
              std::string::npos);
    EXPECT_NE(t.find("workgate_http_connections_open{listener=\"web\",protocol=\"http/1.1\"} 3\n"),
              std::string::npos);
    EXPECT_NE(t.find("workgate_http_connections_open{listener=\"web\",protocol=\"h2\"} 3\n"),
              std::string::npos);
    // A listener no connection came to yet is listed at 0.
    EXPECT_NE(t.find("workgate_http_connections_open{listener=\"spare\",protocol=\"http/1.1\"} 0\n"),
              std::string::npos);
    EXPECT_EQ(t.find("listener 72"), std::string::npos);
  }
  TextWriter w;  // without names: by position
  write_shard_metrics({a, b}, w);
  EXPECT_NE(w.text().find("workgate_http_connections_open{listener=\"listener 1\",protocol=\"h2\"} 3\n"),
            std::string::npos)
      << w.text();
}

}  // namespace workgate::metrics
