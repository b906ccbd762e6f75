#include "http/cluster.hpp"

#include <algorithm>
#include <cmath>

#include "observability/log.hpp"

namespace workgate::http {
namespace {

std::atomic<std::uint64_t> next_cluster_id{1};

std::uint64_t mix(std::uint64_t x) {  // splitmix64's finalizer
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

}  // namespace

std::uint64_t hash_key_value(std::string_view key) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : key) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

Cluster::Cluster(std::string name, std::vector<std::shared_ptr<const UpstreamTarget>> targets,
                 std::vector<std::uint32_t> weights)
    : name_(std::move(name)),
      size_(targets.size()),
      members_(std::make_unique<Member[]>(targets.size())),
      id_(next_cluster_id.fetch_add(1, std::memory_order_relaxed)) {
  for (std::size_t i = 0; i < size_; ++i) {
    Member& m = members_[i];
    m.target = std::move(targets[i]);
    m.weight = i < weights.size() && weights[i] > 0 ? weights[i] : 1;
    m.label = std::string(m.target->tls ? "https://" : "http://") + m.target->authority;
    m.hash_seed = mix(hash_key_value(m.target->host + ":" + std::to_string(m.target->port)));
  }
}

// --- OutlierState

bool OutlierState::record(Event event, const OutlierPolicy& policy) {
  switch (event) {
    case Event::kSuccess:
      connect_failures_ = 0;
      server_errors_ = 0;
      return false;
    case Event::kConnectFailure:
      ++connect_failures_;
      return policy.consecutive_connect_failures > 0 &&
             connect_failures_ >= policy.consecutive_connect_failures;
    case Event::kServerError:
      ++server_errors_;
      return policy.consecutive_5xx > 0 && server_errors_ >= policy.consecutive_5xx;
  }
  return false;
}

void OutlierState::eject(const OutlierPolicy& policy, Clock::time_point now) {
  if (times_ejected_ > 0 && now - until_ > policy.max_ejection) times_ejected_ = 0;
  ++times_ejected_;
  auto period = policy.base_ejection * static_cast<std::int64_t>(times_ejected_);
  if (period > policy.max_ejection || period < policy.base_ejection) period = policy.max_ejection;
  until_ = now + period;
  connect_failures_ = 0;
  server_errors_ = 0;
}

// --- ClusterShard

ClusterShard::ClusterShard(const Cluster& cluster, std::uint64_t seed)
    : cluster_(cluster),
      current_weight_(cluster.size(), 0),
      active_(cluster.size(), 0),
      outliers_(cluster.size()),
      rng_(seed | 1) {
  scratch_.reserve(cluster.size());
}

bool ClusterShard::available(std::size_t member, Clock::time_point now) const {
  return cluster_.member(member).healthy.load(std::memory_order_relaxed) && !outliers_[member].ejected(now);
}

std::size_t ClusterShard::pick(std::string_view key, Clock::time_point now, std::size_t exclude) {
  std::size_t n = cluster_.size();
  if (n == 0 || (n == 1 && exclude == 0)) return kNone;
  bool any = false;
  for (std::size_t i = 0; i < n && !any; ++i)
    any = candidate(i, now, exclude, false);
  // None available: every target (but `exclude`) is tried rather than none (Envoy's "panic" mode).
  bool all = !any;
  switch (cluster_.balance) {
    case BalanceKind::kRoundRobin:
      return pick_round_robin(now, exclude, all);
    case BalanceKind::kLeastRequest:
      return pick_least_request(now, exclude, all);
    case BalanceKind::kHash:
      return pick_hash(key, now, exclude, all);
  }
  return kNone;
}

// nginx's smooth weighted round robin: over any sum-of-weights consecutive picks among the same candidates,
// each target is picked exactly `weight` times, interleaved.
std::size_t ClusterShard::pick_round_robin(Clock::time_point now, std::size_t exclude, bool all) {
  std::int64_t total = 0;
  std::size_t best = kNone;
  for (std::size_t i = 0; i < cluster_.size(); ++i) {
    if (!candidate(i, now, exclude, all)) continue;
    auto w = static_cast<std::int64_t>(cluster_.member(i).weight);
    current_weight_[i] += w;
    total += w;
    if (best == kNone || current_weight_[i] > current_weight_[best]) best = i;
  }
  if (best != kNone) current_weight_[best] -= total;
  return best;
}

// Power of two choices: two distinct random candidates, the one with fewer requests in flight on this
// thread relative to its weight.
std::size_t ClusterShard::pick_least_request(Clock::time_point now, std::size_t exclude, bool all) {
  scratch_.clear();
  for (std::size_t i = 0; i < cluster_.size(); ++i) {
    if (candidate(i, now, exclude, all)) scratch_.push_back(i);
  }
  if (scratch_.empty()) return kNone;
  if (scratch_.size() == 1) return scratch_[0];
  std::uint64_t r = next_random();
  std::size_t count = scratch_.size();
  std::size_t a = static_cast<std::size_t>(r % count);
  std::size_t b = static_cast<std::size_t>((r >> 32) % (count - 1));
  if (b >= a) ++b;
  std::size_t x = scratch_[a], y = scratch_[b];
  // active[x] / weight[x] <= active[y] / weight[y], without division.
  auto lx = static_cast<std::uint64_t>(active_[x]) * cluster_.member(y).weight;
  auto ly = static_cast<std::uint64_t>(active_[y]) * cluster_.member(x).weight;
  return lx <= ly ? x : y;
}

// Weighted rendezvous hashing: each candidate scores -weight / ln(u), u uniform in (0,1) from the key and
// the target; the highest wins. A key keeps its target while that target is available, and a target that
// leaves moves only its own keys.
std::size_t ClusterShard::pick_hash(std::string_view key, Clock::time_point now, std::size_t exclude,
                                    bool all) {
  std::uint64_t h = hash_key_value(key);
  std::size_t best = kNone;
  double best_score = 0;
  for (std::size_t i = 0; i < cluster_.size(); ++i) {
    if (!candidate(i, now, exclude, all)) continue;
    std::uint64_t x = mix(h ^ cluster_.member(i).hash_seed);
    double u = (static_cast<double>(x >> 11) + 0.5) * (1.0 / 9007199254740992.0);  // (0, 1)
    double score = -static_cast<double>(cluster_.member(i).weight) / std::log(u);
    if (best == kNone || score > best_score) {
      best = i;
      best_score = score;
    }
  }
  return best;
}

std::uint64_t ClusterShard::next_random() {  // xorshift64*
  rng_ ^= rng_ >> 12;
  rng_ ^= rng_ << 25;
  rng_ ^= rng_ >> 27;
  return rng_ * 0x2545F4914F6CDD1DULL;
}

bool ClusterShard::record(std::size_t member, OutlierState::Event event, Clock::time_point now) {
  if (!cluster_.outlier) return false;
  const OutlierPolicy& policy = *cluster_.outlier;
  OutlierState& state = outliers_[member];
  if (!state.record(event, policy) || state.ejected(now)) return false;
  // The guards: at most max_ejection_percent of the targets (at least one when it is not 0), and never
  // the last available one unless eject_last.
  std::size_t n = cluster_.size();
  std::size_t ejected = 0, others_available = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (outliers_[i].ejected(now)) ++ejected;
    if (i != member && available(i, now)) ++others_available;
  }
  std::size_t allowed =
      policy.max_ejection_percent == 0 ? 0 : std::max<std::size_t>(1, n * policy.max_ejection_percent / 100);
  if (ejected + 1 > allowed) return false;
  if (others_available == 0 && !policy.eject_last) return false;
  state.eject(policy, now);
  const Cluster::Member& m = cluster_.member(member);
  m.ejections.fetch_add(1, std::memory_order_relaxed);
  const std::int64_t until = state.ejected_until().time_since_epoch().count();
  std::int64_t seen = m.ejected_until_ns.load(std::memory_order_relaxed);
  while (seen < until && !m.ejected_until_ns.compare_exchange_weak(seen, until, std::memory_order_relaxed)) {
  }
  observability::log_warn(
      "server {}: target {} ejected for {} ms ({} consecutive {})", cluster_.name(), m.label,
      std::chrono::duration_cast<std::chrono::milliseconds>(state.ejected_until() - now).count(),
      event == OutlierState::Event::kConnectFailure ? policy.consecutive_connect_failures
                                                    : policy.consecutive_5xx,
      event == OutlierState::Event::kConnectFailure ? "connect failures" : "5xx responses");
  return true;
}

// --- ClusterCall

ClusterCall::ClusterCall(std::shared_ptr<const Cluster> cluster, std::shared_ptr<ClusterShard> shard,
                         std::size_t member, std::string key)
    : cluster_(std::move(cluster)), shard_(std::move(shard)), member_(member), key_(std::move(key)) {
  shard_->started(member_);
}

ClusterCall::~ClusterCall() {
  shard_->finished(member_);
}

std::shared_ptr<const UpstreamTarget> ClusterCall::retry_target(Clock::time_point now) {
  std::size_t next = shard_->pick(key_, now, member_);
  if (next == ClusterShard::kNone) return nullptr;
  shard_->finished(member_);
  member_ = next;
  shard_->started(member_);
  return cluster_->member(member_).target;
}

void ClusterCall::record(OutlierState::Event event, Clock::time_point now) {
  shard_->record(member_, event, now);
}

// --- ClusterRegistry: health checks

struct ClusterRegistry::Checks {
  struct Target {
    std::shared_ptr<const UpstreamTarget> check_target;  // own pool, the check's timeout
    std::string head;
    std::uint32_t successes = 0;
    std::uint32_t failures = 0;
    Clock::time_point next{};
    bool in_flight = false;
  };
  std::vector<Target> targets;
};

struct ClusterRegistry::Entry {
  std::weak_ptr<const Cluster> cluster;
  std::uint64_t id = 0;
  std::shared_ptr<ClusterShard> shard;
  std::shared_ptr<Checks> checks;  // set on the thread that claimed them
};

ClusterRegistry::ClusterRegistry() = default;
ClusterRegistry::~ClusterRegistry() = default;

const std::shared_ptr<ClusterShard>& ClusterRegistry::shard(const std::shared_ptr<const Cluster>& cluster) {
  for (const auto& entry : entries_) {
    if (entry->id == cluster->id()) return entry->shard;
  }
  auto entry = std::make_unique<Entry>();
  entry->cluster = cluster;
  entry->id = cluster->id();
  entry->shard =
      std::make_shared<ClusterShard>(*cluster, reinterpret_cast<std::uintptr_t>(entry.get()) ^ cluster->id());
  if (cluster->health_check && cluster->claim_checks()) {
    entry->checks = std::make_shared<Checks>();
    const HealthCheckPolicy& policy = *cluster->health_check;
    for (std::size_t i = 0; i < cluster->size(); ++i) {
      const UpstreamTarget& t = *cluster->member(i).target;
      auto check_target = std::make_shared<UpstreamTarget>(t);
      check_target->connect_timeout = policy.timeout;
      check_target->timeout = policy.timeout;
      check_target->max_connections = 1;
      check_target->pool_key += "|health-check";
      Checks::Target& ct = entry->checks->targets.emplace_back();
      ct.check_target = std::move(check_target);
      ct.head = "GET " + policy.path + " HTTP/1.1\r\nHost: " + t.authority +
                "\r\nUser-Agent: workgate-health-check\r\nConnection: close\r\n\r\n";
    }
  }
  entries_.push_back(std::move(entry));
  return entries_.back()->shard;
}

void ClusterRegistry::tick(UpstreamClient& client, Clock::time_point now) {
  for (std::size_t e = 0; e < entries_.size();) {
    auto cluster = entries_[e]->cluster.lock();
    if (!cluster) {  // no snapshot holds it any more (calls still running keep their ClusterShard)
      entries_[e] = std::move(entries_.back());
      entries_.pop_back();
      continue;
    }
    std::shared_ptr<Checks> checks = entries_[e]->checks;
    ++e;
    if (!checks) continue;
    const HealthCheckPolicy& policy = *cluster->health_check;
    for (std::size_t i = 0; i < checks->targets.size(); ++i) {
      Checks::Target& ct = checks->targets[i];
      if (ct.in_flight || now < ct.next) continue;
      ct.in_flight = true;
      ct.next = now + policy.interval;
      UpstreamRequest request;
      request.head = ct.head;
      std::weak_ptr<const Cluster> weak = cluster;
      client.send(
          ct.check_target, std::move(request),
          [weak, checks, i](UpstreamError error, UpstreamResponse&& response) {
            Checks::Target& target = checks->targets[i];
            target.in_flight = false;
            auto c = weak.lock();
            if (!c) return;
            const Cluster::Member& m = c->member(i);
            const HealthCheckPolicy& hc = *c->health_check;
            bool ok = error == UpstreamError::kNone && response.status >= 200 && response.status < 400;
            bool healthy = m.healthy.load(std::memory_order_relaxed);
            if (!ok) m.health_check_failures.fetch_add(1, std::memory_order_relaxed);
            m.health_checks.fetch_add(1, std::memory_order_relaxed);
            if (ok) {
              target.failures = 0;
              if (!healthy && ++target.successes >= hc.healthy_threshold) {
                m.healthy.store(true, std::memory_order_relaxed);
                observability::log_info("server {}: target {} is healthy again", c->name(), m.label);
              }
            } else {
              target.successes = 0;
              if (healthy && ++target.failures >= hc.unhealthy_threshold) {
                m.healthy.store(false, std::memory_order_relaxed);
                observability::log_warn("server {}: target {} failed {} health checks; unhealthy", c->name(),
                                        m.label, target.failures);
              }
            }
          },
          64 * 1024);
    }
  }
}

}  // namespace workgate::http
