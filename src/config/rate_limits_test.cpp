// The rate-limit sections of the config: every bad input is an error at its JSON pointer.
#include "config/rate_limits.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/loader.hpp"

namespace workgate::config {
namespace {

using ::testing::AllOf;
using ::testing::Contains;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

::testing::Matcher<const ConfigError&> Problem(const std::string& pointer, const std::string& message) {
  return AllOf(Field(&ConfigError::pointer, pointer), Field(&ConfigError::message, HasSubstr(message)));
}

std::string errors_of(const LoadResult& r) {
  std::string out;
  for (const auto& e : r.errors)
    out += e.to_string() + "\n";
  return out;
}

LoadResult load(const std::string& extra, const std::string& route_extra = R"("rate_limit": "per-user")") {
  std::string route = R"({"method": "GET", "path": "/a", "response": {})" +
                      (route_extra.empty() ? "" : ", " + route_extra) + "}";
  std::string text = R"({"paths": [)" + route + "]" + (extra.empty() ? "" : ", " + extra) + "}";
  Environment env;
  env.set("REDIS_PASSWORD", "s3cret");
  return load_config_text(text, env, ".");
}

const std::string kPolicy =
    R"("rate_limits": [{"name": "per-user", "key": "$request.jwt.sub", "rate": 100, "period_seconds": 60, "burst": 20}])";

TEST(RateLimitConfig, AValidLocalPolicy) {
  LoadResult r = load(kPolicy);
  ASSERT_THAT(r.errors, IsEmpty()) << errors_of(r);
  ASSERT_EQ(r.config->rate_limits.size(), 1u);
  const RateLimitPolicy& p = r.config->rate_limits[0];
  EXPECT_EQ(p.name, "per-user");
  EXPECT_EQ(p.key, "$request.jwt.sub");
  EXPECT_EQ(p.rate, 100);
  EXPECT_EQ(p.period_seconds, 60);
  EXPECT_EQ(p.burst, 20);
  EXPECT_EQ(p.store, RateLimitStore::kLocal);
  EXPECT_TRUE(p.fail_open);
  EXPECT_EQ(r.config->paths[0].rate_limits, std::vector<std::string>{"per-user"});
}

TEST(RateLimitConfig, BurstDefaultsToRate) {
  LoadResult r = load(R"("rate_limits": [{"name": "per-user", "rate": 7, "period_seconds": 1}])");
  ASSERT_THAT(r.errors, IsEmpty()) << errors_of(r);
  EXPECT_EQ(r.config->rate_limits[0].burst, 7);
  EXPECT_EQ(r.config->rate_limits[0].key, "");
}

TEST(RateLimitConfig, ARouteNamesAListOfPolicies) {
  LoadResult r = load(R"("rate_limits": [{"name": "a", "rate": 1, "period_seconds": 1},
                                          {"name": "b", "rate": 2, "period_seconds": 1}])",
                      R"("rate_limit": ["a", "b"])");
  ASSERT_THAT(r.errors, IsEmpty()) << errors_of(r);
  EXPECT_EQ(r.config->paths[0].rate_limits, (std::vector<std::string>{"a", "b"}));
}

TEST(RateLimitConfig, UnknownPolicyName) {
  LoadResult r = load(kPolicy, R"("rate_limit": "per-usr")");
  EXPECT_THAT(r.errors, Contains(Problem("/paths/0/rate_limit", "unknown rate limit policy \"per-usr\"")));
  r = load(kPolicy, R"("rate_limit": ["per-user", "nope", 3, "per-user"])");
  EXPECT_THAT(r.errors, Contains(Problem("/paths/0/rate_limit/1", "unknown rate limit policy \"nope\"")));
  EXPECT_THAT(r.errors, Contains(Problem("/paths/0/rate_limit/2", "must be a policy name")));
  EXPECT_THAT(r.errors, Contains(Problem("/paths/0/rate_limit/3", "named twice")));
  r = load(kPolicy, R"("rate_limit": {"name": "per-user"})");
  EXPECT_THAT(r.errors, Contains(Problem("/paths/0/rate_limit", "must be a policy name or a list")));
}

TEST(RateLimitConfig, BadNumbers) {
  LoadResult r = load(R"("rate_limits": [{"name": "per-user", "rate": 0, "period_seconds": 60},
                                          {"name": "b", "rate": 1.5, "period_seconds": 60},
                                          {"name": "c", "rate": 10, "period_seconds": 0},
                                          {"name": "d", "rate": 10, "period_seconds": 60, "burst": 0},
                                          {"name": "e", "rate": "10", "period_seconds": 60},
                                          {"name": "f", "period_seconds": 60},
                                          {"name": "g", "rate": 10000000, "period_seconds": 1},
                                          {"name": "h", "rate": 1, "period_seconds": 1, "local_slots": 5}])",
                      "");
  EXPECT_THAT(r.errors, Contains(Problem("/rate_limits/0/rate", "must be between 1 and")));
  EXPECT_THAT(r.errors, Contains(Problem("/rate_limits/1/rate", "must be an integer")));
  EXPECT_THAT(r.errors, Contains(Problem("/rate_limits/2/period_seconds", "must be between 1 and")));
  EXPECT_THAT(r.errors, Contains(Problem("/rate_limits/3/burst", "must be between 1 and")));
  EXPECT_THAT(r.errors, Contains(Problem("/rate_limits/4/rate", "must be an integer")));
  EXPECT_THAT(r.errors, Contains(Problem("/rate_limits/5/rate", "is required")));
  EXPECT_THAT(r.errors, Contains(Problem("/rate_limits/6/rate", "must be between 1 and 1000000")));
  EXPECT_THAT(r.errors, Contains(Problem("/rate_limits/7/local_slots", "must be between 1024")));
}

TEST(RateLimitConfig, NamesStoresAndKeys) {
  LoadResult r = load(R"("rate_limits": [{"name": "per user", "rate": 1, "period_seconds": 1},
                                          {"name": "x", "rate": 1, "period_seconds": 1},
                                          {"name": "x", "rate": 1, "period_seconds": 1},
                                          {"name": "y", "rate": 1, "period_seconds": 1, "store": "memcached"},
                                          {"name": "z", "rate": 1, "period_seconds": 1, "fail_open": "yes"},
                                          {"name": "w", "rate": 1, "period_seconds": 1, "limit": 3},
                                          "per-user"])",
                      "");
  EXPECT_THAT(r.errors, Contains(Problem("/rate_limits/0/name", "must be 1-64 characters")));
  EXPECT_THAT(r.errors, Contains(Problem("/rate_limits/2/name", "duplicate policy name \"x\"")));
  EXPECT_THAT(r.errors, Contains(Problem("/rate_limits/3/store", "must be \"local\" or \"redis\"")));
  EXPECT_THAT(r.errors, Contains(Problem("/rate_limits/4/fail_open", "must be a boolean")));
  EXPECT_THAT(r.errors, Contains(Problem("/rate_limits/5/limit", "unknown key")));
  EXPECT_THAT(r.errors, Contains(Problem("/rate_limits/6", "must be an object")));
  r = load(R"("rate_limits": {"name": "x"})", "");
  EXPECT_THAT(r.errors, Contains(Problem("/rate_limits", "must be an array")));
}

TEST(RateLimitConfig, RedisStoreNeedsARedisSection) {
  LoadResult r =
      load(R"("rate_limits": [{"name": "per-user", "rate": 1, "period_seconds": 1, "store": "redis"}])");
  EXPECT_THAT(r.errors, Contains(Problem("/rate_limits/0/store", "needs a top-level \"redis\" section")));
}

TEST(RateLimitConfig, RedisSection) {
  LoadResult r = load(R"("redis": {"url": "redis://:pw@10.1.2.3:6380/2", "timeout_ms": 50})", "");
  ASSERT_THAT(r.errors, IsEmpty()) << errors_of(r);
  const RedisSettings& redis = *r.config->redis;
  EXPECT_EQ(redis.host, "10.1.2.3");
  EXPECT_EQ(redis.port, 6380);
  EXPECT_EQ(redis.database, 2);
  EXPECT_EQ(redis.password, "pw");
  EXPECT_EQ(redis.timeout.count(), 50);

  r = load(R"("redis": {"url": "redis://127.0.0.1", "password": "$secret.REDIS_PASSWORD"})", "");
  ASSERT_THAT(r.errors, IsEmpty()) << errors_of(r);
  EXPECT_EQ(r.config->redis->password, "s3cret");
  EXPECT_EQ(r.config->redis->port, 6379);
  EXPECT_EQ(r.config->redis->timeout.count(), 20);

  r = load(R"("redis": {"url": "unix:/run/redis/redis.sock"})", "");
  ASSERT_THAT(r.errors, IsEmpty()) << errors_of(r);
  EXPECT_EQ(r.config->redis->unix_path, "/run/redis/redis.sock");
}

TEST(RateLimitConfig, BadRedisSections) {
  EXPECT_THAT(load(R"("redis": {"url": "http://127.0.0.1"})", "").errors,
              Contains(Problem("/redis/url", "must be redis://")));
  EXPECT_THAT(load(R"("redis": {"url": "rediss://127.0.0.1"})", "").errors,
              Contains(Problem("/redis/url", "TLS")));
  EXPECT_THAT(load(R"("redis": {"url": "redis://127.0.0.1/x"})", "").errors,
              Contains(Problem("/redis/url", "database number")));
  EXPECT_THAT(load(R"("redis": {"url": "unix:relative.sock"})", "").errors,
              Contains(Problem("/redis/url", "absolute path")));
  EXPECT_THAT(load(R"("redis": {})", "").errors, Contains(Problem("/redis/url", "is required")));
  EXPECT_THAT(load(R"("redis": {"url": "redis://h", "timeout_ms": 0})", "").errors,
              Contains(Problem("/redis/timeout_ms", "must be between 1 and 10000")));
  EXPECT_THAT(load(R"("redis": {"url": "redis://h", "tls": true})", "").errors,
              Contains(Problem("/redis/tls", "unknown key")));
  // The error text never shows the password.
  for (const auto& e : load(R"("redis": {"url": "redis://:hunter2@h/x"})", "").errors)
    EXPECT_EQ(e.message.find("hunter2"), std::string::npos) << e.message;
}

TEST(RateLimitConfig, TrustedProxies) {
  LoadResult r = load(R"("gateway": {"trusted_proxies": ["10.0.0.0/8", "::1", "192.168.1.7"]})", "");
  ASSERT_THAT(r.errors, IsEmpty()) << errors_of(r);
  EXPECT_EQ(r.config->gateway.trusted_proxies.size(), 3u);
  r = load(R"("gateway": {"trusted_proxies": ["10.0.0.0/33", "nope", 7, "fe80::/129"]})", "");
  EXPECT_THAT(r.errors, Contains(Problem("/gateway/trusted_proxies/0", "must be an IP address or CIDR")));
  EXPECT_THAT(r.errors, Contains(Problem("/gateway/trusted_proxies/1", "must be an IP address or CIDR")));
  EXPECT_THAT(r.errors, Contains(Problem("/gateway/trusted_proxies/2", "must be an IP address or CIDR")));
  EXPECT_THAT(r.errors, Contains(Problem("/gateway/trusted_proxies/3", "must be an IP address or CIDR")));
  EXPECT_THAT(load(R"("gateway": {"trusted_proxies": "10.0.0.0/8"})", "").errors,
              Contains(Problem("/gateway/trusted_proxies", "must be an array")));
}

TEST(IpNetwork, Contains) {
  auto net = parse_ip_network("10.1.2.3/8");
  ASSERT_TRUE(net);
  EXPECT_TRUE(net->contains(*parse_ip_address("10.200.0.1")));
  EXPECT_FALSE(net->contains(*parse_ip_address("11.0.0.1")));
  EXPECT_FALSE(net->contains(*parse_ip_address("::ffff:b00:1")));
  auto host = parse_ip_network("127.0.0.1");
  EXPECT_TRUE(host->contains(*parse_ip_address("127.0.0.1")));
  EXPECT_FALSE(host->contains(*parse_ip_address("127.0.0.2")));
  auto v6 = parse_ip_network("2001:db8::/32");
  EXPECT_TRUE(v6->contains(*parse_ip_address("2001:db8:1::5")));
  EXPECT_FALSE(v6->contains(*parse_ip_address("2001:db9::5")));
  auto odd = parse_ip_network("192.168.0.0/23");
  EXPECT_TRUE(odd->contains(*parse_ip_address("192.168.1.255")));
  EXPECT_FALSE(odd->contains(*parse_ip_address("192.168.2.0")));
  EXPECT_TRUE(parse_ip_network("0.0.0.0/0")->contains(*parse_ip_address("8.8.8.8")));
  EXPECT_FALSE(parse_ip_network("10.0.0.0/"));
  EXPECT_FALSE(parse_ip_network("10.0.0.0/x"));
}

}  // namespace
}  // namespace workgate::config
