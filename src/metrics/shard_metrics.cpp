#include "metrics/shard_metrics.hpp"

#include <charconv>
#include <tuple>

#include "metrics/exposition.hpp"

namespace workgate::metrics {

Method method_of(std::string_view method) {
  // By length first: one or two comparisons for the common methods.
  switch (method.size()) {
    case 3:
      if (method == "GET") return Method::kGet;
      if (method == "PUT") return Method::kPut;
      break;
    case 4:
      if (method == "POST") return Method::kPost;
      if (method == "HEAD") return Method::kHead;
      break;
    case 5:
      if (method == "PATCH") return Method::kPatch;
      if (method == "TRACE") return Method::kTrace;
      break;
    case 6:
      if (method == "DELETE") return Method::kDelete;
      break;
    case 7:
      if (method == "OPTIONS") return Method::kOptions;
      if (method == "CONNECT") return Method::kConnect;
      break;
    default:
      break;
  }
  return Method::kOther;
}

std::string_view method_name(Method method) {
  constexpr std::string_view kNames[kMethodCount] = {"GET",   "HEAD",    "POST",    "PUT",   "DELETE",
                                                     "PATCH", "OPTIONS", "CONNECT", "TRACE", "other"};
  return kNames[static_cast<std::size_t>(method)];
}

std::string_view upstream_error_kind_name(UpstreamErrorKind kind) {
  switch (kind) {
    case UpstreamErrorKind::kUnavailable:
      return "unavailable";
    case UpstreamErrorKind::kTimeout:
      return "timeout";
    case UpstreamErrorKind::kBadResponse:
      return "bad_response";
  }
  return "unknown";
}

void RouteSeries::count(Method method, int status, std::uint64_t duration_ns, std::uint64_t request_bytes,
                        std::uint64_t response_bytes) {
  duration_.observe_ns(duration_ns);
  request_bytes_.add(request_bytes);
  response_bytes_.add(response_bytes);
  if (status < 0 || status > 0xffff) status = 0;
  const std::uint32_t key =
      (static_cast<std::uint32_t>(method) + 1) << 16 | static_cast<std::uint32_t>(status);
  std::size_t i = (key * 0x9E3779B1u) >> 26;  // top 6 bits: kSlots == 64
  for (std::size_t probes = 0; probes < kSlots; ++probes, i = (i + 1) % kSlots) {
    Slot& slot = slots_[i];
    std::uint32_t seen = slot.key.load(std::memory_order_relaxed);  // only this thread stores keys
    if (seen == key) {
      slot.count.add();
      return;
    }
    if (seen == 0) {
      slot.count.add();
      slot.key.store(key, std::memory_order_release);
      return;
    }
  }
  other_.add();
}

void RouteSeries::for_each_status(const std::function<void(Method, int, std::uint64_t)>& f) const {
  for (const Slot& slot : slots_) {
    std::uint32_t key = slot.key.load(std::memory_order_acquire);
    if (key == 0) continue;
    f(static_cast<Method>((key >> 16) - 1), static_cast<int>(key & 0xffff), slot.count.value());
  }
  if (std::uint64_t other = other_.value()) f(Method::kOther, 0, other);
}

ShardMetrics::ShardMetrics() {
  auto unmatched = std::make_unique<RouteSeries>(std::string(kUnmatchedRoute));
  unmatched_ = unmatched.get();
  routes_.emplace(std::string(kUnmatchedRoute), std::move(unmatched));
}

void ShardMetrics::remap(const std::vector<RouteLabels>& routes) {
  std::lock_guard lock(mutex_);
  by_index_.clear();
  upstream_by_index_.clear();
  for (const RouteLabels& labels : routes) {
    auto it = routes_.find(labels.pattern);
    if (it == routes_.end())
      it = routes_.emplace(labels.pattern, std::make_unique<RouteSeries>(labels.pattern)).first;
    by_index_.push_back(it->second.get());
    UpstreamSeries* upstream = nullptr;
    if (!labels.upstream_server.empty()) {
      auto u = upstreams_.find(labels.upstream_server);
      if (u == upstreams_.end())
        u = upstreams_
                .emplace(labels.upstream_server, std::make_unique<UpstreamSeries>(labels.upstream_server))
                .first;
      upstream = u->second.get();
    }
    upstream_by_index_.push_back(upstream);
  }
}

RouteSeries& ShardMetrics::route_by_pattern(std::string_view pattern) {
  std::lock_guard lock(mutex_);
  auto it = routes_.find(pattern);
  if (it == routes_.end())
    it = routes_.emplace(std::string(pattern), std::make_unique<RouteSeries>(std::string(pattern))).first;
  return *it->second;
}

void ShardMetrics::set_pools(const std::vector<PoolGauges>& pools) {
  std::lock_guard lock(mutex_);
  pools_ = pools;
}

WorkerSeries& ShardMetrics::worker(const void* key, std::string_view binding, std::string_view function) {
  auto hit = worker_by_key_.find(key);
  if (hit != worker_by_key_.end() && hit->second->binding() == binding && hit->second->function() == function)
    return *hit->second;
  WorkerSeries* series = nullptr;
  {
    std::lock_guard lock(mutex_);
    auto& slot = workers_[{std::string(binding), std::string(function)}];
    if (!slot) slot = std::make_unique<WorkerSeries>(std::string(binding), std::string(function));
    series = slot.get();
  }
  // Bounded like the route series: one entry per function object this thread has called.
  if (worker_by_key_.size() > 4096) worker_by_key_.clear();
  worker_by_key_[key] = series;
  return *series;
}

void ShardMetrics::for_each_pool(const std::function<void(const PoolGauges&)>& f) const {
  std::lock_guard lock(mutex_);
  for (const auto& pool : pools_)
    f(pool);
}

void ShardMetrics::for_each_worker(const std::function<void(const WorkerSeries&)>& f) const {
  std::lock_guard lock(mutex_);
  for (const auto& [key, series] : workers_)
    f(*series);
}

void ShardMetrics::for_each_route(const std::function<void(const RouteSeries&)>& f) const {
  std::lock_guard lock(mutex_);
  for (const auto& [pattern, series] : routes_)
    f(*series);
}

void ShardMetrics::for_each_upstream(const std::function<void(const UpstreamSeries&)>& f) const {
  std::lock_guard lock(mutex_);
  for (const auto& [server, series] : upstreams_)
    f(*series);
}

void Registry::add(std::shared_ptr<const ShardMetrics> shard) {
  std::lock_guard lock(mutex_);
  shards_.push_back(std::move(shard));
}

std::vector<std::shared_ptr<const ShardMetrics>> Registry::shards() const {
  std::lock_guard lock(mutex_);
  return shards_;
}

void Registry::set_listeners(std::vector<ListenerLabel> listeners) {
  std::lock_guard lock(mutex_);
  listeners_ = std::move(listeners);
}

std::vector<ListenerLabel> Registry::listeners() const {
  std::lock_guard lock(mutex_);
  return listeners_;
}

namespace {
struct RouteTotals {
  std::map<std::tuple<Method, int>, std::uint64_t> requests;
  HistogramValues duration;
  std::uint64_t request_bytes = 0;
  std::uint64_t response_bytes = 0;
};
struct UpstreamTotals {
  HistogramValues duration;
  std::array<std::uint64_t, kUpstreamErrorKinds> errors{};
};
struct WorkerTotals {
  std::uint64_t calls = 0, failures = 0, timeouts = 0;
  HistogramValues duration;
};
}  // namespace

void write_shard_metrics(const std::vector<std::shared_ptr<const ShardMetrics>>& shards, TextWriter& out,
                         const std::vector<ListenerLabel>& listeners) {
  std::map<std::string, RouteTotals, std::less<>> routes;
  std::map<std::string, UpstreamTotals, std::less<>> upstreams;
  std::uint64_t auth_valid = 0, auth_invalid = 0, cache_hits = 0;
  std::vector<std::int64_t> connections(listeners.size());
  std::vector<std::int64_t> http2_connections(listeners.size());
  std::map<std::string, PoolGauges, std::less<>> pools;
  std::map<std::pair<std::string, std::string>, WorkerTotals> workers;
  for (const auto& shard : shards) {
    shard->for_each_pool([&](const PoolGauges& p) {
      PoolGauges& total = pools[p.upstream];
      total.open += p.open;
      total.idle += p.idle;
      total.pending += p.pending;
      total.retries += p.retries;
    });
    shard->for_each_worker([&](const WorkerSeries& w) {
      WorkerTotals& total = workers[{w.binding(), w.function()}];
      total.calls += w.calls();
      total.failures += w.failures();
      total.timeouts += w.timeouts();
      w.read_duration(total.duration);
    });
    shard->for_each_route([&](const RouteSeries& series) {
      RouteTotals& totals = routes[series.route()];
      series.for_each_status([&](Method m, int status, std::uint64_t n) {
        totals.requests[{m, status}] += n;
      });
      series.read_duration(totals.duration);
      totals.request_bytes += series.request_bytes();
      totals.response_bytes += series.response_bytes();
    });
    shard->for_each_upstream([&](const UpstreamSeries& series) {
      UpstreamTotals& totals = upstreams[series.server()];
      series.read_duration(totals.duration);
      for (std::size_t k = 0; k < kUpstreamErrorKinds; ++k)
        totals.errors[k] += series.errors(static_cast<UpstreamErrorKind>(k));
    });
    auth_valid += shard->auth_count(AuthResult::kValid);
    auth_invalid += shard->auth_count(AuthResult::kInvalid);
    cache_hits += shard->token_cache_hits();
    const std::size_t listener_count = shard->listener_count();
    if (listener_count > connections.size()) {
      connections.resize(listener_count);
      http2_connections.resize(listener_count);
    }
    for (std::size_t l = 0; l < listener_count; ++l) {
      connections[l] += shard->connections(l);
      http2_connections[l] += shard->http2_connections(l);
    }
  }

  out.family("workgate_http_requests_total", "counter",
             "HTTP requests answered, by route pattern (\"unmatched\": no route), method and status code.");
  char code[8];
  for (const auto& [route, totals] : routes) {
    for (const auto& [key, n] : totals.requests) {
      auto [method, status] = key;
      std::string_view code_text = "other";
      if (status != 0) {
        auto r = std::to_chars(code, code + sizeof(code), status);
        code_text = std::string_view(code, static_cast<std::size_t>(r.ptr - code));
      }
      out.sample("workgate_http_requests_total",
                 {{"route", route}, {"method", method_name(method)}, {"code", code_text}}, n);
    }
  }
  out.family("workgate_http_request_duration_seconds", "histogram",
             "Time from the request head read to the response written, by route.");
  for (const auto& [route, totals] : routes)
    out.histogram("workgate_http_request_duration_seconds", {{"route", route}}, totals.duration);
  out.family("workgate_http_request_size_bytes_total", "counter", "Request body bytes received, by route.");
  for (const auto& [route, totals] : routes)
    out.sample("workgate_http_request_size_bytes_total", {{"route", route}}, totals.request_bytes);
  out.family("workgate_http_response_size_bytes_total", "counter", "Response body bytes sent, by route.");
  for (const auto& [route, totals] : routes)
    out.sample("workgate_http_response_size_bytes_total", {{"route", route}}, totals.response_bytes);
  out.family("workgate_http_connections_open", "gauge",
             "Open client connections, by listener and protocol (sampled by each thread every 100 ms).");
  if (connections.empty()) {
    connections.resize(1);
    http2_connections.resize(1);
  }
  for (std::size_t l = 0; l < connections.size(); ++l) {
    std::string name = l < listeners.size() ? listeners[l].name
                       : l == 0             ? "public"
                                            : "listener " + std::to_string(l);
    out.sample("workgate_http_connections_open", {{"listener", name}, {"protocol", "http/1.1"}},
               static_cast<double>(connections[l] - http2_connections[l]));
    // Without names (a test) every listener has both; with names, only those that speak HTTP/2 (or did).
    if (l >= listeners.size() || listeners[l].http2 || http2_connections[l] != 0)
      out.sample("workgate_http_connections_open", {{"listener", name}, {"protocol", "h2"}},
                 static_cast<double>(http2_connections[l]));
  }

  out.family(
      "workgate_upstream_request_duration_seconds", "histogram",
      "Time from a proxied request handed to the upstream client to its response head, by server alias.");
  for (const auto& [server, totals] : upstreams)
    out.histogram("workgate_upstream_request_duration_seconds", {{"server", server}}, totals.duration);
  out.family("workgate_upstream_errors_total", "counter",
             "Proxied requests that got no usable response, by server alias and kind.");
  for (const auto& [server, totals] : upstreams) {
    for (std::size_t k = 0; k < kUpstreamErrorKinds; ++k)
      out.sample("workgate_upstream_errors_total",
                 {{"server", server}, {"kind", upstream_error_kind_name(static_cast<UpstreamErrorKind>(k))}},
                 totals.errors[k]);
  }

  out.family("workgate_upstream_connections", "gauge",
             "Upstream connections by upstream origin and state: open (busy + idle, counted against "
             "max_connections), idle, pending (calls queued for a connection). Sampled every 100 ms.");
  for (const auto& [upstream, p] : pools) {
    out.sample("workgate_upstream_connections", {{"upstream", upstream}, {"state", "open"}},
               static_cast<double>(p.open));
    out.sample("workgate_upstream_connections", {{"upstream", upstream}, {"state", "idle"}},
               static_cast<double>(p.idle));
    out.sample("workgate_upstream_connections", {{"upstream", upstream}, {"state", "pending"}},
               static_cast<double>(p.pending));
  }

  out.family("workgate_upstream_retries_total", "counter",
             "Requests replayed once on a fresh connection after a pooled connection the upstream had closed "
             "failed (idempotent, nothing of the response received), by upstream origin.");
  for (const auto& [upstream, p] : pools)
    out.sample("workgate_upstream_retries_total", {{"upstream", upstream}}, p.retries);

  out.family("workgate_worker_calls_total", "counter", "Worker function calls, by binding and function.");
  for (const auto& [key, w] : workers)
    out.sample("workgate_worker_calls_total", {{"binding", key.first}, {"function", key.second}}, w.calls);
  out.family(
      "workgate_worker_failures_total", "counter",
      "Worker calls that failed (an error, a crash contained, an invalid result), by binding and function.");
  for (const auto& [key, w] : workers)
    out.sample("workgate_worker_failures_total", {{"binding", key.first}, {"function", key.second}},
               w.failures);
  out.family("workgate_worker_timeouts_total", "counter",
             "Worker calls that timed out, by binding and function.");
  for (const auto& [key, w] : workers)
    out.sample("workgate_worker_timeouts_total", {{"binding", key.first}, {"function", key.second}},
               w.timeouts);
  out.family("workgate_worker_duration_seconds", "histogram",
             "Worker call duration, by binding and function.");
  for (const auto& [key, w] : workers)
    out.histogram("workgate_worker_duration_seconds", {{"binding", key.first}, {"function", key.second}},
                  w.duration);

  out.family("workgate_auth_verifications_total", "counter", "Bearer token verifications, by result.");
  out.sample("workgate_auth_verifications_total", {{"result", "valid"}}, auth_valid);
  out.sample("workgate_auth_verifications_total", {{"result", "invalid"}}, auth_invalid);
  out.family("workgate_auth_token_cache_hits_total", "counter",
             "Verifications answered from the per-thread cache of verified tokens.");
  out.sample("workgate_auth_token_cache_hits_total", {}, cache_hits);
}

}  // namespace workgate::metrics
