// The series one event-loop thread counts into, and the registry that sums them when scraped.
//
// Request path: GatewayHandler indexes the series of a request's route by the route's index in the
// active snapshot (a vector of pointers remapped when the shard picks up a new snapshot), so counting is
// a few array increments: no lookup, no string, no lock, no atomic read-modify-write (see counter.hpp).
//
// Reload: series are keyed by the route pattern as written in the config (the `route` label), not by the
// route's index. When a shard swaps snapshots, remap() points each new index at the series of its pattern,
// creating the ones not seen before. Series of patterns no longer configured stay (their counters must not
// go backwards for Prometheus' rate()), so their number is bounded by the distinct patterns this process
// has loaded. Routes with the same pattern and different methods share a series (method is a label).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "metrics/counter.hpp"

namespace workgate::metrics {

// The `route` label of requests that matched no route.
inline constexpr std::string_view kUnmatchedRoute = "unmatched";

// The `method` label: the standard methods as themselves, anything else as "other" (bounded cardinality).
enum class Method : std::uint8_t {
  kGet,
  kHead,
  kPost,
  kPut,
  kDelete,
  kPatch,
  kOptions,
  kConnect,
  kTrace,
  kOther
};
inline constexpr std::size_t kMethodCount = 10;
Method method_of(std::string_view method);
std::string_view method_name(Method method);

class RouteSeries {
 public:
  explicit RouteSeries(std::string route) : route_(std::move(route)) {}

  const std::string& route() const { return route_; }

  // Owning thread only.
  void count(Method method, int status, std::uint64_t duration_ns, std::uint64_t request_bytes,
             std::uint64_t response_bytes);

  // Any thread: f(method, status, count) for every (method, status) seen; status 0 means "other" (more
  // distinct pairs than the table holds, counted together).
  void for_each_status(const std::function<void(Method, int, std::uint64_t)>& f) const;
  void read_duration(HistogramValues& out) const { duration_.read_into(out); }
  std::uint64_t request_bytes() const { return request_bytes_.value(); }
  std::uint64_t response_bytes() const { return response_bytes_.value(); }

 private:
  // An open-addressed table of (method, status) -> count, filled by the owning thread. A slot's key is
  // published (release) after its count was first incremented, so a reader that sees the key sees a count.
  struct Slot {
    std::atomic<std::uint32_t> key{0};  // 0: empty; else (method + 1) << 16 | status
    Counter count;
  };
  static constexpr std::size_t kSlots = 64;

  std::string route_;
  std::array<Slot, kSlots> slots_;
  Counter other_;
  Histogram duration_;
  Counter request_bytes_;
  Counter response_bytes_;
};

// Kinds of upstream failures (the `kind` label of workgate_upstream_errors_total).
enum class UpstreamErrorKind : std::uint8_t { kUnavailable, kTimeout, kBadResponse };
inline constexpr std::size_t kUpstreamErrorKinds = 3;
std::string_view upstream_error_kind_name(UpstreamErrorKind kind);

class UpstreamSeries {
 public:
  explicit UpstreamSeries(std::string server) : server_(std::move(server)) {}
  const std::string& server() const { return server_; }
  // Owning thread only.
  void observe(std::uint64_t duration_ns) {
    requests_.add();
    duration_.observe_ns(duration_ns);
  }
  void error(UpstreamErrorKind kind) { errors_[static_cast<std::size_t>(kind)].add(); }
  // Any thread.
  void read_duration(HistogramValues& out) const { duration_.read_into(out); }
  std::uint64_t errors(UpstreamErrorKind kind) const {
    return errors_[static_cast<std::size_t>(kind)].value();
  }

 private:
  std::string server_;
  Counter requests_;
  Histogram duration_;
  std::array<Counter, kUpstreamErrorKinds> errors_;
};

enum class AuthResult : std::uint8_t { kValid, kInvalid };

// One upstream pool of one thread, as last sampled by that thread (ShardMetrics::set_pools).
struct PoolGauges {
  std::string upstream;  // scheme://host:port
  std::int64_t open = 0;
  std::int64_t idle = 0;
  std::int64_t pending = 0;
  std::uint64_t retries = 0;  // since the thread started (a counter)
};

// Calls of one worker function (a service, service_binding or hook), by binding and function.
class WorkerSeries {
 public:
  WorkerSeries(std::string binding, std::string function)
      : binding_(std::move(binding)), function_(std::move(function)) {}
  const std::string& binding() const { return binding_; }
  const std::string& function() const { return function_; }
  // Owning thread only.
  void call(std::uint64_t duration_ns) {
    calls_.add();
    duration_.observe_ns(duration_ns);
  }
  void failure() { failures_.add(); }
  void timeout() { timeouts_.add(); }
  // Any thread.
  std::uint64_t calls() const { return calls_.value(); }
  std::uint64_t failures() const { return failures_.value(); }
  std::uint64_t timeouts() const { return timeouts_.value(); }
  void read_duration(HistogramValues& out) const { duration_.read_into(out); }

 private:
  std::string binding_;
  std::string function_;
  Counter calls_;
  Counter failures_;
  Counter timeouts_;
  Histogram duration_;
};

// What one route of a snapshot is counted as.
struct RouteLabels {
  std::string pattern;          // the route's path as written
  std::string upstream_server;  // the http_proxy server alias; empty for other integrations
};

class ShardMetrics {
 public:
  ShardMetrics();

  // ---- owning thread
  // Points the route indexes of a new snapshot at their series (see the file comment).
  void remap(const std::vector<RouteLabels>& routes);
  RouteSeries& route(std::size_t index) { return index < by_index_.size() ? *by_index_[index] : *unmatched_; }
  RouteSeries& unmatched() { return *unmatched_; }
  // The series of `pattern` (created when new); takes the structure lock, so not for every request.
  RouteSeries& route_by_pattern(std::string_view pattern);
  // The upstream series of a route's http_proxy server, or null.
  UpstreamSeries* upstream(std::size_t index) {
    return index < upstream_by_index_.size() ? upstream_by_index_[index] : nullptr;
  }
  void auth(AuthResult result) { auth_[static_cast<std::size_t>(result)].add(); }
  void token_cache_hit() { token_cache_hits_.add(); }
  // Open client connections of this shard on the listener with index `listener` (its place in the
  // server's list), and of those the ones speaking HTTP/2 (set by the owning thread on its tick).
  // Listeners from kMaxListeners on are not counted (the config allows 64 plus --listen).
  static constexpr std::size_t kMaxListeners = 72;
  void set_connections(std::size_t listener, std::int64_t open, std::int64_t http2) {
    if (listener >= kMaxListeners) return;
    listeners_[listener].open.set(open);
    listeners_[listener].http2.set(http2);
    if (listener >= listener_count_.load(std::memory_order_relaxed))
      listener_count_.store(listener + 1, std::memory_order_release);
  }
  // The pools' state (set by the owning thread on its tick; takes the structure lock, uncontended but
  // for a scrape: never per request).
  void set_pools(const std::vector<PoolGauges>& pools);
  // The series of a worker function. `key` identifies the function object cheaply (its address); the
  // labels are checked on every hit, so an address reused by another function after a reload still
  // finds the right series. Worker calls cost microseconds: one small hash lookup is noise there.
  WorkerSeries& worker(const void* key, std::string_view binding, std::string_view function);

  // ---- any thread
  void for_each_route(const std::function<void(const RouteSeries&)>& f) const;
  void for_each_upstream(const std::function<void(const UpstreamSeries&)>& f) const;
  void for_each_pool(const std::function<void(const PoolGauges&)>& f) const;
  void for_each_worker(const std::function<void(const WorkerSeries&)>& f) const;
  std::uint64_t auth_count(AuthResult result) const {
    return auth_[static_cast<std::size_t>(result)].value();
  }
  std::uint64_t token_cache_hits() const { return token_cache_hits_.value(); }
  // The listeners set so far (indexes below this).
  std::size_t listener_count() const { return listener_count_.load(std::memory_order_acquire); }
  std::int64_t connections(std::size_t listener) const {
    return listener < kMaxListeners ? listeners_[listener].open.value() : 0;
  }
  std::int64_t http2_connections(std::size_t listener) const {
    return listener < kMaxListeners ? listeners_[listener].http2.value() : 0;
  }

 private:
  // Guards the structure of the two maps: taken by remap() (on a snapshot swap) and by scrapes, never
  // per request. The series themselves are read without it (their values are atomics).
  mutable std::mutex mutex_;
  std::map<std::string, std::unique_ptr<RouteSeries>, std::less<>> routes_;
  std::map<std::string, std::unique_ptr<UpstreamSeries>, std::less<>> upstreams_;
  RouteSeries* unmatched_ = nullptr;
  std::map<std::pair<std::string, std::string>, std::unique_ptr<WorkerSeries>> workers_;
  std::vector<PoolGauges> pools_;
  std::vector<RouteSeries*> by_index_;                            // owning thread only
  std::unordered_map<const void*, WorkerSeries*> worker_by_key_;  // owning thread only
  std::vector<UpstreamSeries*> upstream_by_index_;                // owning thread only
  std::array<Counter, 2> auth_;
  Counter token_cache_hits_;
  struct ListenerGauges {
    Gauge open;
    Gauge http2;  // of open
  };
  std::array<ListenerGauges, kMaxListeners> listeners_;
  std::atomic<std::size_t> listener_count_{0};
};

// A listener as the `listener` label names it, by its index in the server's list.
struct ListenerLabel {
  std::string name;    // "public", "listener N" or the configured name
  bool http2 = false;  // speaks h2 (its h2 series is written even at 0)
};

// Every shard's metrics, summed on scrape. Shards register once when their handler is created.
class Registry {
 public:
  void add(std::shared_ptr<const ShardMetrics> shard);
  std::vector<std::shared_ptr<const ShardMetrics>> shards() const;
  // The listeners, by index (set once at startup: listeners do not change on a reload).
  void set_listeners(std::vector<ListenerLabel> listeners);
  std::vector<ListenerLabel> listeners() const;

 private:
  mutable std::mutex mutex_;
  std::vector<std::shared_ptr<const ShardMetrics>> shards_;
  std::vector<ListenerLabel> listeners_;
};

// The request and upstream families summed over `shards`, in the text format (see exposition.hpp).
// `listeners` names the listener indexes; one without a name is "public" (index 0) or "listener N".
class TextWriter;
void write_shard_metrics(const std::vector<std::shared_ptr<const ShardMetrics>>& shards, TextWriter& out,
                         const std::vector<ListenerLabel>& listeners = {});

}  // namespace workgate::metrics
