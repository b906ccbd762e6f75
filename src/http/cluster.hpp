// A server with several targets (`servers[].targets`, docs/proxy.md): the shared, immutable description and
// its few shared atomics (`Cluster`), and what each event-loop thread keeps of it (`ClusterShard`: the
// balancer's state, requests in flight per target, passive outlier ejection). Nothing here takes a lock:
// a thread reads the health the checking thread publishes (one relaxed atomic per target) and keeps
// everything else to itself.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/upstream.hpp"

namespace workgate::http {

enum class BalanceKind { kRoundRobin, kLeastRequest, kHash };

struct HealthCheckPolicy {
  std::string path = "/";
  std::chrono::milliseconds interval{5000};
  std::chrono::milliseconds timeout{1000};
  std::uint32_t healthy_threshold = 2;
  std::uint32_t unhealthy_threshold = 2;
};

struct OutlierPolicy {
  std::uint32_t consecutive_connect_failures = 3;  // 0: not counted
  std::uint32_t consecutive_5xx = 5;               // 0: not counted
  std::chrono::milliseconds base_ejection{10000};
  std::chrono::milliseconds max_ejection{300000};
  std::uint32_t max_ejection_percent = 50;
  bool eject_last = false;
};

// Built once per config load, shared by every thread. The atomics are the only mutable state: health
// (written by the one thread that runs the checks), and counters for metrics.
class Cluster {
 public:
  struct Member {
    std::shared_ptr<const UpstreamTarget> target;
    std::uint32_t weight = 1;
    std::uint64_t hash_seed = 0;  // from the target's host:port, so that `hash` does not depend on order
    std::string label;            // "http://10.0.0.1:8080" (metrics)
    mutable std::atomic<bool> healthy{true};
    mutable std::atomic<std::uint64_t> ejections{0};
    mutable std::atomic<std::uint64_t> health_checks{0};  // completed
    mutable std::atomic<std::uint64_t> health_check_failures{0};
    // Outlier ejection is per thread; this is the latest end (steady clock, ns since its epoch) of an
    // ejection on any thread, written when a thread ejects the target (rare), read by the admin listener.
    mutable std::atomic<std::int64_t> ejected_until_ns{0};
    // Ejected on at least one thread at `now`.
    bool ejected(std::chrono::steady_clock::time_point now) const {
      return now.time_since_epoch().count() < ejected_until_ns.load(std::memory_order_relaxed);
    }
  };

  Cluster(std::string name, std::vector<std::shared_ptr<const UpstreamTarget>> targets,
          std::vector<std::uint32_t> weights);

  const std::string& name() const { return name_; }
  std::size_t size() const { return size_; }
  const Member& member(std::size_t i) const { return members_[i]; }
  std::uint64_t id() const { return id_; }

  BalanceKind balance = BalanceKind::kRoundRobin;
  std::optional<HealthCheckPolicy> health_check;
  std::optional<OutlierPolicy> outlier;
  std::size_t max_requests = 0;  // per thread; 0 = unlimited
  std::size_t max_pending = 0;   // per thread; 0 = unlimited

  // The first thread to claim a cluster runs its health checks (see ClusterRegistry).
  bool claim_checks() const { return !checks_claimed_.exchange(true, std::memory_order_acq_rel); }
  void count_breaker_rejection() const {
    breaker_rejections_.fetch_add(1, std::memory_order_relaxed);
    last_rejection_ns_.store(std::chrono::steady_clock::now().time_since_epoch().count(),
                             std::memory_order_relaxed);
  }
  std::uint64_t breaker_rejections() const { return breaker_rejections_.load(std::memory_order_relaxed); }
  // The breaker is open (at max_requests or max_pending on some thread) when it rejected a request less
  // than `window` before `now`.
  static constexpr std::chrono::seconds kBreakerOpenWindow{1};
  bool breaker_open(std::chrono::steady_clock::time_point now) const {
    const std::int64_t last = last_rejection_ns_.load(std::memory_order_relaxed);
    return last != kNever &&
           now.time_since_epoch().count() - last <
               std::chrono::duration_cast<std::chrono::steady_clock::duration>(kBreakerOpenWindow).count();
  }

 private:
  std::string name_;
  std::size_t size_ = 0;
  std::unique_ptr<Member[]> members_;
  std::uint64_t id_;
  mutable std::atomic<bool> checks_claimed_{false};
  mutable std::atomic<std::uint64_t> breaker_rejections_{0};
  static constexpr std::int64_t kNever = std::numeric_limits<std::int64_t>::min();
  mutable std::atomic<std::int64_t> last_rejection_ns_{kNever};
};

// The stable hash of a `hash` key (FNV-1a, 64 bits): the same in every process and build.
std::uint64_t hash_key_value(std::string_view key);

// One target's passive ejection on one thread: a pure state machine on injected time.
class OutlierState {
 public:
  using Clock = std::chrono::steady_clock;
  enum class Event { kSuccess, kConnectFailure, kServerError };

  bool ejected(Clock::time_point now) const { return now < until_; }
  // Counts the event; true when it reaches a threshold (the caller decides whether it may eject).
  bool record(Event event, const OutlierPolicy& policy);
  // Ejects now: for base_ejection x the number of recent ejections (at most max_ejection). An ejection
  // that comes more than max_ejection after the previous one ended starts the count again.
  void eject(const OutlierPolicy& policy, Clock::time_point now);
  std::uint32_t times_ejected() const { return times_ejected_; }
  Clock::time_point ejected_until() const { return until_; }

 private:
  std::uint32_t connect_failures_ = 0;
  std::uint32_t server_errors_ = 0;
  std::uint32_t times_ejected_ = 0;
  Clock::time_point until_{};
};

// What one thread keeps of one cluster.
class ClusterShard {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::size_t kNone = std::numeric_limits<std::size_t>::max();

  // `cluster` outlives this object: whoever uses it holds the cluster too (the registry checks its weak
  // reference first; a call holds a shared one).
  explicit ClusterShard(const Cluster& cluster, std::uint64_t seed = 0x9e3779b97f4a7c15ULL);

  const Cluster& cluster() const { return cluster_; }

  // Healthy (active checks) and not ejected (passive) at `now`.
  bool available(std::size_t member, Clock::time_point now) const;
  // The target for a request: among the available ones (every target when none is), never `exclude`
  // (kNone when there is nothing else to pick). `key`: the resolved hash_key of a `hash` cluster.
  std::size_t pick(std::string_view key, Clock::time_point now, std::size_t exclude = kNone);

  // Requests in flight on this thread (the circuit breaker and least_request read these).
  void started(std::size_t member) {
    ++active_[member];
    ++total_active_;
  }
  void finished(std::size_t member) {
    if (active_[member] > 0) --active_[member];
    if (total_active_ > 0) --total_active_;
  }
  std::size_t active(std::size_t member) const { return active_[member]; }
  std::size_t total_active() const { return total_active_; }

  // An outcome of a request on `member`; may eject it (outlier policy, max_ejection_percent, eject_last).
  // Returns true when it did.
  bool record(std::size_t member, OutlierState::Event event, Clock::time_point now);
  const OutlierState& outlier(std::size_t member) const { return outliers_[member]; }

 private:
  std::size_t pick_round_robin(Clock::time_point now, std::size_t exclude, bool all);
  std::size_t pick_least_request(Clock::time_point now, std::size_t exclude, bool all);
  std::size_t pick_hash(std::string_view key, Clock::time_point now, std::size_t exclude, bool all);
  bool candidate(std::size_t member, Clock::time_point now, std::size_t exclude, bool all) const {
    return member != exclude && (all || available(member, now));
  }
  std::uint64_t next_random();

  const Cluster& cluster_;
  std::vector<std::int64_t> current_weight_;  // smooth weighted round robin (nginx's)
  std::vector<std::size_t> active_;
  std::vector<OutlierState> outliers_;
  std::vector<std::size_t> scratch_;
  std::size_t total_active_ = 0;
  std::uint64_t rng_;
};

// One request's place in a cluster on this thread, held by its upstream call (src/http/upstream.cpp):
// counts the request in flight on its target until the call is destroyed, reports outcomes, and finds
// another target for the one retry.
class ClusterCall {
 public:
  using Clock = std::chrono::steady_clock;
  ClusterCall(std::shared_ptr<const Cluster> cluster, std::shared_ptr<ClusterShard> shard, std::size_t member,
              std::string key);
  ~ClusterCall();
  ClusterCall(const ClusterCall&) = delete;
  ClusterCall& operator=(const ClusterCall&) = delete;

  const std::shared_ptr<const UpstreamTarget>& target() const { return cluster_->member(member_).target; }
  // Moves the request to another target after a failure on this one; null when there is none.
  std::shared_ptr<const UpstreamTarget> retry_target(Clock::time_point now);
  void record(OutlierState::Event event, Clock::time_point now);

 private:
  std::shared_ptr<const Cluster> cluster_;
  std::shared_ptr<ClusterShard> shard_;
  std::size_t member_;
  std::string key_;
};

class UpstreamClient;

// The clusters one thread knows (its UpstreamClient owns this): their ClusterShard and, for the clusters
// whose checks this thread claimed, the active health checks, run from tick() on this thread's loop
// without blocking (each check is an ordinary upstream call with the check's timeout).
class ClusterRegistry {
 public:
  using Clock = std::chrono::steady_clock;
  ClusterRegistry();
  ~ClusterRegistry();
  ClusterRegistry(const ClusterRegistry&) = delete;
  ClusterRegistry& operator=(const ClusterRegistry&) = delete;

  // The thread's state of `cluster`, made on first use (and the checks claimed then, if unclaimed).
  const std::shared_ptr<ClusterShard>& shard(const std::shared_ptr<const Cluster>& cluster);
  // Starts due health checks, forgets clusters no snapshot holds any more.
  void tick(UpstreamClient& client, Clock::time_point now);

  struct Checks;

 private:
  struct Entry;
  std::vector<std::unique_ptr<Entry>> entries_;
};

}  // namespace workgate::http
