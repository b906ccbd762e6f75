#include "http/cluster.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

namespace workgate::http {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::shared_ptr<Cluster> make_cluster(std::vector<std::uint32_t> weights, BalanceKind balance) {
  std::vector<std::shared_ptr<const UpstreamTarget>> targets;
  for (std::size_t i = 0; i < weights.size(); ++i) {
    auto t = std::make_shared<UpstreamTarget>();
    t->host = "10.0.0." + std::to_string(i + 1);
    t->port = 8080;
    t->authority = t->host + ":8080";
    t->pool_key = "http://" + t->authority;
    targets.push_back(std::move(t));
  }
  auto cluster = std::make_shared<Cluster>("api", std::move(targets), std::move(weights));
  cluster->balance = balance;
  return cluster;
}

const Clock::time_point kStart = Clock::time_point() + std::chrono::hours(1);

// ------------------------------------------------------------------------------------------------------
// round robin

TEST(ClusterRoundRobin, WeightsAreExactOverEveryCycle) {
  auto cluster = make_cluster({5, 1, 1}, BalanceKind::kRoundRobin);
  ClusterShard shard(*cluster);
  for (int cycle = 0; cycle < 10; ++cycle) {
    std::map<std::size_t, int> counts;
    std::vector<std::size_t> order;
    for (int i = 0; i < 7; ++i) {
      std::size_t m = shard.pick("", kStart);
      ++counts[m];
      order.push_back(m);
    }
    EXPECT_EQ(counts[0], 5);
    EXPECT_EQ(counts[1], 1);
    EXPECT_EQ(counts[2], 1);
    // Smooth: the heavy target is never picked more than 3 times in a row (nginx's a a b a c a a).
    EXPECT_EQ(order, (std::vector<std::size_t>{0, 0, 1, 0, 2, 0, 0}));
  }
}

TEST(ClusterRoundRobin, EqualWeightsAlternate) {
  auto cluster = make_cluster({1, 1}, BalanceKind::kRoundRobin);
  ClusterShard shard(*cluster);
  std::size_t first = shard.pick("", kStart);
  for (int i = 0; i < 100; ++i)
    EXPECT_EQ(shard.pick("", kStart), i % 2 == 0 ? 1 - first : first);
}

TEST(ClusterRoundRobin, SkipsUnhealthyAndExcluded) {
  auto cluster = make_cluster({1, 1, 1}, BalanceKind::kRoundRobin);
  ClusterShard shard(*cluster);
  cluster->member(1).healthy.store(false);
  for (int i = 0; i < 30; ++i)
    EXPECT_NE(shard.pick("", kStart), 1u);
  for (int i = 0; i < 30; ++i) {
    std::size_t m = shard.pick("", kStart, 0);
    EXPECT_EQ(m, 2u);  // 0 excluded, 1 unhealthy
  }
}

TEST(ClusterRoundRobin, NoneAvailableUsesEveryTarget) {
  auto cluster = make_cluster({1, 1}, BalanceKind::kRoundRobin);
  ClusterShard shard(*cluster);
  cluster->member(0).healthy.store(false);
  cluster->member(1).healthy.store(false);
  std::set<std::size_t> seen;
  for (int i = 0; i < 4; ++i)
    seen.insert(shard.pick("", kStart));
  EXPECT_EQ(seen, (std::set<std::size_t>{0, 1}));
  // With the only other one excluded, the one left is tried.
  EXPECT_EQ(shard.pick("", kStart, 0), 1u);
  // A single target that is excluded: nothing to pick.
  auto single = make_cluster({1}, BalanceKind::kRoundRobin);
  ClusterShard one(*single);
  EXPECT_EQ(one.pick("", kStart, 0), ClusterShard::kNone);
  EXPECT_EQ(one.pick("", kStart), 0u);
}

// ------------------------------------------------------------------------------------------------------
// least request (power of two choices)

TEST(ClusterLeastRequest, TwoTargetsPicksTheLessLoaded) {
  auto cluster = make_cluster({1, 1}, BalanceKind::kLeastRequest);
  ClusterShard shard(*cluster);
  shard.started(0);
  shard.started(0);
  shard.started(1);
  for (int i = 0; i < 50; ++i)
    EXPECT_EQ(shard.pick("", kStart), 1u);  // with two targets both are always the two choices
  shard.finished(0);
  shard.finished(0);
  for (int i = 0; i < 50; ++i)
    EXPECT_EQ(shard.pick("", kStart), 0u);
  EXPECT_EQ(shard.total_active(), 1u);
}

TEST(ClusterLeastRequest, NeverPicksTheMostLoadedOfMany) {
  auto cluster = make_cluster({1, 1, 1, 1}, BalanceKind::kLeastRequest);
  ClusterShard shard(*cluster);
  for (int i = 0; i < 10; ++i)
    shard.started(3);
  std::map<std::size_t, int> counts;
  for (int i = 0; i < 4000; ++i)
    ++counts[shard.pick("", kStart)];
  // Target 3 only wins a comparison it is not part of: never. The others share the rest roughly evenly.
  EXPECT_EQ(counts[3], 0);
  for (std::size_t m = 0; m < 3; ++m) {
    EXPECT_GT(counts[m], 1000) << m;
    EXPECT_LT(counts[m], 1700) << m;
  }
}

TEST(ClusterLeastRequest, WeightScalesTheLoad) {
  auto cluster = make_cluster({4, 1}, BalanceKind::kLeastRequest);
  ClusterShard shard(*cluster);
  for (int i = 0; i < 3; ++i)
    shard.started(0);  // 3/4 < 1/1
  shard.started(1);
  EXPECT_EQ(shard.pick("", kStart), 0u);
  shard.started(0);
  shard.started(0);  // 5/4 > 1/1
  EXPECT_EQ(shard.pick("", kStart), 1u);
}

// ------------------------------------------------------------------------------------------------------
// hash

TEST(ClusterHash, SameKeySameTargetAcrossThreadsAndOrders) {
  auto cluster = make_cluster({1, 1, 1}, BalanceKind::kHash);
  ClusterShard a(*cluster, 1), b(*cluster, 2);
  std::map<std::size_t, int> counts;
  for (int k = 0; k < 3000; ++k) {
    std::string key = "user-" + std::to_string(k);
    std::size_t m = a.pick(key, kStart);
    EXPECT_EQ(b.pick(key, kStart), m);
    EXPECT_EQ(a.pick(key, kStart), m);
    ++counts[m];
  }
  for (std::size_t m = 0; m < 3; ++m) {
    EXPECT_GT(counts[m], 800) << m;
    EXPECT_LT(counts[m], 1200) << m;
  }
  // The targets listed in another order: each key still goes to the same host.
  std::vector<std::shared_ptr<const UpstreamTarget>> reversed;
  for (std::size_t i = cluster->size(); i-- > 0;)
    reversed.push_back(cluster->member(i).target);
  Cluster other("api", reversed, {1, 1, 1});
  other.balance = BalanceKind::kHash;
  ClusterShard c(other);
  for (int k = 0; k < 300; ++k) {
    std::string key = "user-" + std::to_string(k);
    EXPECT_EQ(other.member(c.pick(key, kStart)).target, cluster->member(a.pick(key, kStart)).target);
  }
}

TEST(ClusterHash, AnUnavailableTargetMovesOnlyItsKeys) {
  auto cluster = make_cluster({1, 1, 1}, BalanceKind::kHash);
  ClusterShard shard(*cluster);
  std::vector<std::size_t> before;
  for (int k = 0; k < 1000; ++k)
    before.push_back(shard.pick("k" + std::to_string(k), kStart));
  cluster->member(2).healthy.store(false);
  for (int k = 0; k < 1000; ++k) {
    std::size_t now = shard.pick("k" + std::to_string(k), kStart);
    EXPECT_NE(now, 2u);
    if (before[static_cast<std::size_t>(k)] != 2) {
      EXPECT_EQ(now, before[static_cast<std::size_t>(k)]);
    }
  }
  // The retry of a key skips its own target and goes to the key's second choice, the same each time.
  std::size_t first = shard.pick("retry-key", kStart);
  std::size_t second = shard.pick("retry-key", kStart, first);
  EXPECT_NE(second, first);
  EXPECT_EQ(shard.pick("retry-key", kStart, first), second);
}

TEST(ClusterHash, KeyHashIsStable) {
  // FNV-1a 64 test vectors: the hash must not change between builds (fleets share it).
  EXPECT_EQ(hash_key_value(""), 0xcbf29ce484222325ULL);
  EXPECT_EQ(hash_key_value("a"), 0xaf63dc4c8601ec8cULL);
  EXPECT_EQ(hash_key_value("foobar"), 0x85944171f73967e8ULL);
}

// ------------------------------------------------------------------------------------------------------
// outlier ejection

OutlierPolicy policy(std::uint32_t connect_failures, std::uint32_t five_xx, int base_ms, int max_ms) {
  OutlierPolicy p;
  p.consecutive_connect_failures = connect_failures;
  p.consecutive_5xx = five_xx;
  p.base_ejection = milliseconds(base_ms);
  p.max_ejection = milliseconds(max_ms);
  p.max_ejection_percent = 100;
  return p;
}

TEST(OutlierState, ConsecutiveFailuresEjectAndSuccessResets) {
  OutlierPolicy p = policy(3, 2, 1000, 10000);
  OutlierState s;
  EXPECT_FALSE(s.record(OutlierState::Event::kConnectFailure, p));
  EXPECT_FALSE(s.record(OutlierState::Event::kConnectFailure, p));
  EXPECT_FALSE(s.record(OutlierState::Event::kSuccess, p));  // resets
  EXPECT_FALSE(s.record(OutlierState::Event::kConnectFailure, p));
  EXPECT_FALSE(s.record(OutlierState::Event::kConnectFailure, p));
  EXPECT_TRUE(s.record(OutlierState::Event::kConnectFailure, p));
  EXPECT_FALSE(s.record(OutlierState::Event::kServerError, p));
  EXPECT_TRUE(s.record(OutlierState::Event::kServerError, p));
  OutlierPolicy off = policy(0, 0, 1000, 10000);
  OutlierState t;
  for (int i = 0; i < 100; ++i)
    EXPECT_FALSE(t.record(OutlierState::Event::kConnectFailure, off));
}

TEST(OutlierState, EjectionGrowsForRepeatOffendersUpToTheMaxAndDecays) {
  OutlierPolicy p = policy(1, 1, 1000, 2500);
  OutlierState s;
  Clock::time_point now = kStart;
  s.eject(p, now);
  EXPECT_TRUE(s.ejected(now + milliseconds(999)));
  EXPECT_FALSE(s.ejected(now + milliseconds(1000)));
  now += milliseconds(1000);
  s.eject(p, now);  // second: 2 x base
  EXPECT_EQ(s.times_ejected(), 2u);
  EXPECT_TRUE(s.ejected(now + milliseconds(1999)));
  EXPECT_FALSE(s.ejected(now + milliseconds(2000)));
  now += milliseconds(2000);
  s.eject(p, now);  // third: 3 x base, capped at 2500
  EXPECT_TRUE(s.ejected(now + milliseconds(2499)));
  EXPECT_FALSE(s.ejected(now + milliseconds(2500)));
  // Well-behaved for longer than max_ejection after it ended: the count starts again.
  now += milliseconds(2500) + milliseconds(2501);
  s.eject(p, now);
  EXPECT_EQ(s.times_ejected(), 1u);
  EXPECT_FALSE(s.ejected(now + milliseconds(1000)));
}

TEST(ClusterOutlier, EjectsThenReadmitsAfterThePeriod) {
  auto cluster = make_cluster({1, 1}, BalanceKind::kRoundRobin);
  cluster->outlier = policy(2, 5, 1000, 10000);
  ClusterShard shard(*cluster);
  EXPECT_FALSE(shard.record(0, OutlierState::Event::kConnectFailure, kStart));
  EXPECT_TRUE(shard.record(0, OutlierState::Event::kConnectFailure, kStart));
  EXPECT_EQ(cluster->member(0).ejections.load(), 1u);
  EXPECT_FALSE(shard.available(0, kStart + milliseconds(500)));
  for (int i = 0; i < 10; ++i)
    EXPECT_EQ(shard.pick("", kStart + milliseconds(500)), 1u);
  EXPECT_TRUE(shard.available(0, kStart + milliseconds(1000)));
  std::set<std::size_t> seen;
  for (int i = 0; i < 4; ++i)
    seen.insert(shard.pick("", kStart + milliseconds(1000)));
  EXPECT_EQ(seen.size(), 2u);
}

TEST(ClusterOutlier, TheSharedEjectionEndIsTheLatestOfEveryThread) {
  auto cluster = make_cluster({1, 1, 1}, BalanceKind::kRoundRobin);
  cluster->outlier = policy(1, 5, 1000, 10000);
  ClusterShard a(*cluster);
  ClusterShard b(*cluster);
  EXPECT_FALSE(cluster->member(0).ejected(kStart));
  EXPECT_TRUE(b.record(0, OutlierState::Event::kConnectFailure, kStart + milliseconds(300)));
  EXPECT_TRUE(a.record(0, OutlierState::Event::kConnectFailure, kStart));
  const Cluster::Member& m = cluster->member(0);
  EXPECT_TRUE(m.ejected(kStart + milliseconds(1200)));  // b's ejection (to 1300 ms) outlasts a's
  EXPECT_FALSE(m.ejected(kStart + milliseconds(1300)));
  EXPECT_FALSE(cluster->member(1).ejected(kStart + milliseconds(500)));
}

TEST(ClusterBreaker, OpenWhileItRejectedWithinTheWindow) {
  auto cluster = make_cluster({1}, BalanceKind::kRoundRobin);
  const auto now = Clock::now();
  EXPECT_FALSE(cluster->breaker_open(now));
  cluster->count_breaker_rejection();
  EXPECT_EQ(cluster->breaker_rejections(), 1u);
  EXPECT_TRUE(cluster->breaker_open(Clock::now()));
  EXPECT_FALSE(cluster->breaker_open(Clock::now() + Cluster::kBreakerOpenWindow));
}

TEST(ClusterOutlier, NeverEjectsTheLastAvailableTargetUnlessConfigured) {
  auto cluster = make_cluster({1, 1}, BalanceKind::kRoundRobin);
  cluster->outlier = policy(1, 1, 1000, 10000);
  ClusterShard shard(*cluster);
  EXPECT_TRUE(shard.record(0, OutlierState::Event::kConnectFailure, kStart));
  EXPECT_FALSE(shard.record(1, OutlierState::Event::kConnectFailure, kStart));  // the last one
  EXPECT_TRUE(shard.available(1, kStart));
  // An unhealthy (health-checked) target does not count as available either.
  auto checked = make_cluster({1, 1}, BalanceKind::kRoundRobin);
  checked->outlier = policy(1, 1, 1000, 10000);
  checked->member(1).healthy.store(false);
  ClusterShard s2(*checked);
  EXPECT_FALSE(s2.record(0, OutlierState::Event::kServerError, kStart));
  // eject_last: both may go.
  auto all = make_cluster({1, 1}, BalanceKind::kRoundRobin);
  all->outlier = policy(1, 1, 1000, 10000);
  all->outlier->eject_last = true;
  ClusterShard s3(*all);
  EXPECT_TRUE(s3.record(0, OutlierState::Event::kConnectFailure, kStart));
  EXPECT_TRUE(s3.record(1, OutlierState::Event::kConnectFailure, kStart));
}

TEST(ClusterOutlier, MaxEjectionPercent) {
  auto cluster = make_cluster({1, 1, 1, 1}, BalanceKind::kRoundRobin);
  cluster->outlier = policy(1, 1, 1000, 10000);
  cluster->outlier->max_ejection_percent = 50;
  ClusterShard shard(*cluster);
  EXPECT_TRUE(shard.record(0, OutlierState::Event::kConnectFailure, kStart));
  EXPECT_TRUE(shard.record(1, OutlierState::Event::kConnectFailure, kStart));
  EXPECT_FALSE(shard.record(2, OutlierState::Event::kConnectFailure, kStart));  // would be 75%
  // Once the first ejections end, another may be ejected.
  EXPECT_TRUE(shard.record(2, OutlierState::Event::kConnectFailure, kStart + milliseconds(1000)));
  cluster->outlier->max_ejection_percent = 0;
  ClusterShard none(*cluster);
  EXPECT_FALSE(none.record(0, OutlierState::Event::kConnectFailure, kStart));
}

// ------------------------------------------------------------------------------------------------------
// ClusterCall: requests in flight and the retry

TEST(ClusterCall, CountsInFlightAndMovesOnRetry) {
  auto cluster = make_cluster({1, 1, 1}, BalanceKind::kRoundRobin);
  auto shard = std::make_shared<ClusterShard>(*cluster);
  {
    ClusterCall call(cluster, shard, 0, "");
    EXPECT_EQ(shard->active(0), 1u);
    EXPECT_EQ(call.target(), cluster->member(0).target);
    auto next = call.retry_target(kStart);
    ASSERT_NE(next, nullptr);
    EXPECT_NE(next, cluster->member(0).target);
    EXPECT_EQ(shard->active(0), 0u);
    EXPECT_EQ(shard->total_active(), 1u);
  }
  EXPECT_EQ(shard->total_active(), 0u);
  auto single = make_cluster({1}, BalanceKind::kRoundRobin);
  auto one = std::make_shared<ClusterShard>(*single);
  ClusterCall call(single, one, 0, "");
  EXPECT_EQ(call.retry_target(kStart), nullptr);
  EXPECT_EQ(one->active(0), 1u);
}

}  // namespace
}  // namespace workgate::http
