#include "admin/endpoints.hpp"

#include <boost/json.hpp>
#include <ctime>

#include "admin/dashboard.hpp"
#include "http/cluster.hpp"
#include "metrics/exposition.hpp"
#include "metrics/process.hpp"
#include "observability/spans.hpp"

namespace workgate::admin {
namespace json = boost::json;

namespace {

std::string iso_time(std::int64_t unix_ms) {
  std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buf[40];
  std::size_t n = std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof(buf) - n, ".%03dZ", static_cast<int>(unix_ms % 1000));
  return buf;
}

AdminResponse json_response(int status, const json::value& body) {
  AdminResponse r;
  r.status = status;
  r.body = json::serialize(body);
  r.body.push_back('\n');
  return r;
}

json::value hook_json(const std::optional<config::HookRef>& hook) {
  if (!hook) return nullptr;
  return json::object{{"binding", hook->binding}, {"function", hook->function}};
}

std::string_view match_class(const std::string& path) {
  if (path.ends_with("{.+}")) return "wildcard";
  if (path.find('{') != std::string::npos) return "parameter";
  return "exact";
}

}  // namespace

AdminResponse readyz(const AdminState& state) {
  json::array reasons;
  auto snapshot = state.snapshot();
  auto config = state.config();
  if (!snapshot || !config) reasons.emplace_back("config not loaded");
  json::array key_sets;
  if (snapshot) {
    for (const auto& jwks : snapshot->remote_key_sets) {
      bool fetched = jwks->fetched_once();
      key_sets.push_back(json::object{{"uri", jwks->log_uri()}, {"fetched", fetched}});
      if (!fetched) reasons.emplace_back("JWKS " + jwks->log_uri() + " not fetched yet");
    }
  }
  if (state.draining()) reasons.emplace_back("draining");
  json::object body;
  body["status"] = reasons.empty() ? "ready" : "not ready";
  body["reasons"] = std::move(reasons);
  if (config) {
    body["config"] = json::object{{"generation", config->generation},
                                  {"sha256", config->sha256},
                                  {"source", config->source},
                                  {"loaded_at", iso_time(config->loaded_unix_ms)}};
  } else {
    body["config"] = nullptr;
  }
  auto reloads = state.reloads();
  auto reload_json = [](const ReloadRecord& r) {
    return json::object{
        {"time", iso_time(r.unix_ms)}, {"result", r.ok ? "ok" : "failed"}, {"message", r.message}};
  };
  if (reloads.empty()) {
    body["last_reload"] = nullptr;
  } else {
    body["last_reload"] = reload_json(reloads.back());
  }
  json::array history;
  for (const ReloadRecord& r : reloads)
    history.push_back(reload_json(r));
  body["reloads"] = std::move(history);  // oldest first, the last 20
  json::array listeners;
  for (const ListenerInfo& l : state.listeners())
    listeners.push_back(json::object{{"name", l.name}, {"url", l.url}});
  body["listeners"] = std::move(listeners);
  body["jwks"] = std::move(key_sets);
  body["draining"] = state.draining();
  return json_response(body.at("status") == "ready" ? 200 : 503, body);
}

std::string routes_json(const pipeline::Snapshot& snapshot, std::uint64_t generation,
                        const std::vector<ListenerInfo>& listeners) {
  json::array served;
  for (const ListenerInfo& l : listeners) {
    if (l.admin) continue;
    served.push_back(json::object{
        {"name", l.name}, {"url", l.url}, {"origin", l.origin}, {"tls", l.tls}, {"http2", l.http2}});
  }
  json::array routes;
  std::size_t priority = 0;
  for (std::size_t index : snapshot.router.priority_order()) {
    const config::Route& route = snapshot.config.paths[index];
    json::object r;
    r["priority"] = ++priority;
    r["index"] = index;
    r["method"] = route.method;
    r["path"] = route.path;
    r["match"] = match_class(route.path);
    r["auth"] = route.auth;
    if (route.integration) {
      json::object integration{{"type", config::integration_type_name(route.integration->type)}};
      if (!route.integration->server.empty()) integration["server"] = route.integration->server;
      if (!route.integration->binding.empty()) integration["binding"] = route.integration->binding;
      if (!route.integration->function.empty()) integration["function"] = route.integration->function;
      r["integration"] = std::move(integration);
    } else {
      r["integration"] = json::object{{"type", "static"}};
    }
    r["pre_process"] = hook_json(route.pre_process);
    std::optional<config::HookRef> post = route.post_process;
    if (!post && route.integration) post = route.integration->post_process;
    r["post_process"] = hook_json(post);
    routes.push_back(std::move(r));
  }
  return json::serialize(json::object{
             {"generation", generation}, {"listeners", std::move(served)}, {"routes", std::move(routes)}}) +
         "\n";
}

namespace {

std::string_view target_state(const http::Cluster::Member& m, std::chrono::steady_clock::time_point now) {
  if (!m.healthy.load(std::memory_order_relaxed)) return "unhealthy";
  if (m.ejected(now)) return "ejected";
  return "healthy";
}

std::string_view balance_name(http::BalanceKind kind) {
  switch (kind) {
    case http::BalanceKind::kRoundRobin:
      return "round_robin";
    case http::BalanceKind::kLeastRequest:
      return "least_request";
    case http::BalanceKind::kHash:
      return "hash";
  }
  return "round_robin";
}

}  // namespace

std::string upstreams_json(const pipeline::Snapshot& snapshot, std::uint64_t generation,
                           std::chrono::steady_clock::time_point now) {
  json::array servers;
  for (const auto& cluster : snapshot.clusters) {
    json::array targets;
    for (std::size_t i = 0; i < cluster->size(); ++i) {
      const http::Cluster::Member& m = cluster->member(i);
      targets.push_back(
          json::object{{"target", m.label},
                       {"weight", m.weight},
                       {"state", target_state(m, now)},
                       {"healthy", m.healthy.load(std::memory_order_relaxed)},
                       {"ejected", m.ejected(now)},
                       {"ejections", m.ejections.load(std::memory_order_relaxed)},
                       {"health_checks", m.health_checks.load(std::memory_order_relaxed)},
                       {"health_check_failures", m.health_check_failures.load(std::memory_order_relaxed)}});
    }
    servers.push_back(json::object{{"server", cluster->name()},
                                   {"balance", balance_name(cluster->balance)},
                                   {"health_check", cluster->health_check.has_value()},
                                   {"outlier", cluster->outlier.has_value()},
                                   {"max_requests", cluster->max_requests},
                                   {"max_pending", cluster->max_pending},
                                   {"breaker", cluster->breaker_open(now) ? "open" : "closed"},
                                   {"breaker_rejections", cluster->breaker_rejections()},
                                   {"targets", std::move(targets)}});
  }
  return json::serialize(json::object{{"generation", generation}, {"servers", std::move(servers)}}) + "\n";
}

// Servers with `targets` (src/http/cluster.hpp): the atomics their threads and health checker update.
static void write_cluster_metrics(const pipeline::Snapshot* snapshot, metrics::TextWriter& out) {
  const auto now = std::chrono::steady_clock::now();
  auto each_target = [&](auto&& visit) {
    if (!snapshot) return;
    for (const auto& cluster : snapshot->clusters) {
      for (std::size_t i = 0; i < cluster->size(); ++i)
        visit(*cluster, cluster->member(i));
    }
  };
  out.family("workgate_upstream_target_healthy", "gauge",
             "1 when the target passes its active health checks (or has none), by server and target.");
  each_target([&](const http::Cluster& c, const http::Cluster::Member& m) {
    out.sample("workgate_upstream_target_healthy", {{"server", c.name()}, {"target", m.label}},
               m.healthy.load(std::memory_order_relaxed) ? 1.0 : 0.0);
  });
  out.family("workgate_upstream_target_ejected", "gauge",
             "1 while a thread has the target ejected by passive outlier detection, by server and target.");
  each_target([&](const http::Cluster& c, const http::Cluster::Member& m) {
    out.sample("workgate_upstream_target_ejected", {{"server", c.name()}, {"target", m.label}},
               m.ejected(now) ? 1.0 : 0.0);
  });
  out.family("workgate_upstream_target_ejections_total", "counter",
             "Passive outlier ejections of a target (by any thread), by server and target.");
  each_target([&](const http::Cluster& c, const http::Cluster::Member& m) {
    out.sample("workgate_upstream_target_ejections_total", {{"server", c.name()}, {"target", m.label}},
               m.ejections.load(std::memory_order_relaxed));
  });
  out.family("workgate_upstream_target_health_check_failures_total", "counter",
             "Failed active health checks of a target, by server and target.");
  each_target([&](const http::Cluster& c, const http::Cluster::Member& m) {
    out.sample("workgate_upstream_target_health_check_failures_total",
               {{"server", c.name()}, {"target", m.label}},
               m.health_check_failures.load(std::memory_order_relaxed));
  });
  out.family("workgate_upstream_breaker_rejections_total", "counter",
             "Requests answered 503 UPSTREAM_OVERLOADED by the server's circuit breaker, by server.");
  if (snapshot) {
    for (const auto& cluster : snapshot->clusters)
      out.sample("workgate_upstream_breaker_rejections_total", {{"server", cluster->name()}},
                 cluster->breaker_rejections());
  }
  out.family("workgate_upstream_breaker_open", "gauge",
             "1 while the server's circuit breaker rejects requests (one rejected in the last second).");
  if (snapshot) {
    for (const auto& cluster : snapshot->clusters)
      out.sample("workgate_upstream_breaker_open", {{"server", cluster->name()}},
                 cluster->breaker_open(now) ? 1.0 : 0.0);
  }
}

std::string metrics_text(AdminState& state) {
  metrics::TextWriter out;
  metrics::write_shard_metrics(state.registry().shards(), out, state.registry().listeners());

  auto snapshot = state.snapshot();
  out.family("workgate_jwks_fetches_total", "counter",
             "Completed fetches of remote JWKS documents, by key set URI and result (success: a usable set, "
             "an unchanged document included; failure).");
  if (snapshot) {
    for (const auto& jwks : snapshot->remote_key_sets) {
      auto stats = jwks->stats();
      out.sample("workgate_jwks_fetches_total", {{"uri", jwks->log_uri()}, {"result", "success"}},
                 stats.successes);
      out.sample("workgate_jwks_fetches_total", {{"uri", jwks->log_uri()}, {"result", "failure"}},
                 stats.failures);
    }
  }
  out.family("workgate_jwks_key_set_age_seconds", "gauge",
             "Seconds since the key set was last fetched successfully, by URI.");
  if (snapshot) {
    for (const auto& jwks : snapshot->remote_key_sets) {
      if (!jwks->fetched_once()) continue;
      out.sample("workgate_jwks_key_set_age_seconds", {{"uri", jwks->log_uri()}},
                 static_cast<double>(jwks->since_last_success().count()) / 1e9);
    }
  }

  write_cluster_metrics(snapshot.get(), out);

  out.family("workgate_ratelimit_fail_open_total", "counter",
             "Requests admitted because Redis did not answer in time (fail_open), by policy (since the "
             "config was loaded).");
  if (snapshot) {
    for (const auto& [policy, admitted] : snapshot->rate_limit_fail_open)
      out.sample("workgate_ratelimit_fail_open_total", {{"policy", policy}},
                 admitted->load(std::memory_order_relaxed));
  }

  auto config = state.config();
  out.family("workgate_config_reloads_total", "counter", "Config reloads (SIGHUP), by result.");
  out.sample("workgate_config_reloads_total", {{"result", "ok"}}, state.reloads_ok());
  out.sample("workgate_config_reloads_total", {{"result", "failed"}}, state.reloads_failed());
  out.family("workgate_config_generation", "gauge",
             "How many configs this process has published (1: the first).");
  out.sample("workgate_config_generation", {}, config ? config->generation : std::uint64_t{0});
  out.family("workgate_config_last_load_timestamp_seconds", "gauge",
             "When the config being served was loaded, seconds since the epoch.");
  out.sample("workgate_config_last_load_timestamp_seconds", {},
             config ? static_cast<double>(config->loaded_unix_ms) / 1000.0 : 0.0);
  out.family("workgate_ready", "gauge", "1 when /readyz answers 200.");
  out.sample("workgate_ready", {}, readyz(state).status == 200 ? std::uint64_t{1} : std::uint64_t{0});
  const observability::SpanStats spans = observability::span_stats();
  out.family("workgate_tracing_spans_exported_total", "counter",
             "Spans the OTLP collector accepted (gateway.tracing).");
  out.sample("workgate_tracing_spans_exported_total", {}, spans.exported);
  out.family("workgate_tracing_spans_dropped_total", "counter",
             "Spans not exported: a full per-thread buffer or export queue, or a failed export.");
  out.sample("workgate_tracing_spans_dropped_total", {}, spans.dropped);
  out.family("workgate_build_info", "gauge", "Always 1; the labels describe the build.");
  const BuildInfo& build = state.build();
  out.sample("workgate_build_info",
             {{"version", build.version}, {"commit", build.commit}, {"abi", build.abi}}, std::uint64_t{1});
  metrics::write_process_metrics(out);
  return out.take();
}

AdminResponse handle_admin_request(AdminState& state, std::string_view method, std::string_view target) {
  std::string_view path = target.substr(0, target.find('?'));
  if (method != "GET" && method != "HEAD") {
    AdminResponse r = json_response(405, json::object{{"error", "method not allowed"}});
    r.allow = "GET, HEAD";
    return r;
  }
  if (path == "/" || path == "/dashboard") {
    AdminResponse r;
    r.content_type = "text/html; charset=utf-8";
    r.body = std::string(dashboard_html());
    return r;
  }
  if (path == "/livez") return json_response(200, json::object{{"status", "alive"}});
  if (path == "/readyz") return readyz(state);
  if (path == "/metrics") {
    AdminResponse r;
    r.content_type = std::string(metrics::kTextContentType);
    r.body = metrics_text(state);
    return r;
  }
  if (path == "/config") {
    auto config = state.config();
    if (!config) return json_response(503, json::object{{"error", "config not loaded"}});
    AdminResponse r;
    r.body = config->redacted_json + "\n";
    return r;
  }
  if (path == "/routes") {
    auto snapshot = state.snapshot();
    if (!snapshot) return json_response(503, json::object{{"error", "config not loaded"}});
    AdminResponse r;
    auto config = state.config();
    r.body = routes_json(*snapshot, config ? config->generation : 0, state.listeners());
    return r;
  }
  if (path == "/upstreams") {
    auto snapshot = state.snapshot();
    if (!snapshot) return json_response(503, json::object{{"error", "config not loaded"}});
    AdminResponse r;
    auto config = state.config();
    r.body = upstreams_json(*snapshot, config ? config->generation : 0, std::chrono::steady_clock::now());
    return r;
  }
  return json_response(404, json::object{{"error", "not found"},
                                         {"endpoints", json::array{"/", "/livez", "/readyz", "/metrics",
                                                                   "/config", "/routes", "/upstreams"}}});
}

}  // namespace workgate::admin
