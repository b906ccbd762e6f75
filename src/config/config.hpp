// The gateway configuration as typed, validated values. Produced once per load by load_config();
// everything downstream (router, pipeline, integrations) reads these structures, never raw JSON.
#pragma once

#include <array>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace workgate::config {

// A config problem located by a JSON pointer into the config document ("" is the whole document).
struct ConfigError {
  std::string pointer;
  std::string message;
  std::string to_string() const { return (pointer.empty() ? "(root)" : pointer) + ": " + message; }
};

// `servers[].targets[]` (extension): one origin of a server with several (same scheme and base path).
struct ServerTarget {
  std::string url;  // as written
  std::string host;
  std::uint16_t port = 0;
  std::uint32_t weight = 1;
};

enum class BalancePolicy { kRoundRobin, kLeastRequest, kHash };

// `servers[].health_check` (extension): active checks of every target (docs/proxy.md).
struct HealthCheck {
  std::string path = "/";
  std::chrono::milliseconds interval{5000};
  std::chrono::milliseconds timeout{1000};
  std::uint32_t healthy_threshold = 2;
  std::uint32_t unhealthy_threshold = 2;
};

// `servers[].outlier` (extension): passive ejection of failing targets.
struct OutlierSettings {
  std::uint32_t consecutive_connect_failures = 3;
  std::uint32_t consecutive_5xx = 5;
  std::chrono::milliseconds base_ejection{10000};
  std::chrono::milliseconds max_ejection{300000};
  std::uint32_t max_ejection_percent = 50;  // of the targets, rounded down (at least one when allowed)
  bool eject_last = false;                  // may the last available target be ejected
};

struct ServerEntry {
  std::string alias;
  std::string url;  // as written
  // Parsed from url.
  bool tls = false;
  std::string host;
  std::uint16_t port = 0;
  std::string base_path;  // path of url without trailing '/', "" for none
  // Extensions (workgate schema).
  std::optional<std::string> ca_file;
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds timeout{30000};       // whole upstream response head wait
  std::chrono::milliseconds idle_timeout{60000};  // pooled connection idle lifetime
  std::size_t max_connections = 256;              // per event-loop thread
  // Load balancing (extension). `targets` is empty when the server has a single `url` (host/port above);
  // with `targets`, host/port/base_path/tls come from the first target.
  std::vector<ServerTarget> targets;
  BalancePolicy balance = BalancePolicy::kRoundRobin;
  std::string hash_key;  // balance "hash": a key template (the rate-limit key syntax)
  std::optional<HealthCheck> health_check;
  std::optional<OutlierSettings> outlier;
  std::size_t max_requests = 0;  // circuit breaker, per event-loop thread; 0 = unlimited
  std::size_t max_pending = 0;   // calls queued for a connection, per event-loop thread; 0 = unlimited
};

struct ServiceEntry {
  std::string alias;
  std::string entrypoint;
};

struct ServiceBindingEntry {
  std::string alias;
  std::string binding;
  std::string pointer;  // "/serviceBindings/N" or "/servicesBindings/N"
};

struct WorkerEntry {
  std::string binding;
  std::string module;  // resolved against the config file's directory; empty for a JavaScript worker
  // A JavaScript worker (docs/workers.md, "JavaScript workers"): its ES module (.js/.mjs) or TypeScript
  // file (.ts/.mts, bundled with esbuild at load), resolved like `module`; the WorkerEntrypoint class to
  // call ("" = the default export) and the workerd compatibility date ("" = the pinned default).
  std::string script;
  std::string entrypoint;
  std::string compatibility_date;
  std::vector<std::string> env;
  boost::json::value config;
  std::chrono::milliseconds timeout{5000};
  std::string pointer;  // "/workers/N"
};

struct CorsPolicy {
  std::vector<std::string> allow_origins;
  std::vector<std::string> allow_methods;
  std::vector<std::string> allow_headers;
  std::vector<std::string> expose_headers;
  bool allow_credentials = false;
  std::int64_t max_age = 0;
};

enum class AuthorizerType { kJwt, kAuth0, kSupabase };

struct Authorizer {
  AuthorizerType type = AuthorizerType::kJwt;
  // jwt
  std::string secret;
  std::vector<std::string> algorithms;  // jwt: [algorithm]; auth0: extension, default ["RS256"]
  // jwt, supabase, auth0 (extension)
  std::optional<std::string> issuer;
  std::vector<std::string> audiences;
  // supabase
  std::string jwt_secret;
  // auth0
  std::string domain;
  std::string client_id;
  std::string client_secret;
  std::string redirect_uri;
  std::optional<std::string> callback_uri;
  std::string scope;
  std::optional<std::string> jwks;      // inline JWKS document
  std::optional<std::string> jwks_uri;  // remote JWKS
  std::int64_t leeway_seconds = 30;
};

enum class IntegrationType {
  kHttpProxy,
  kService,
  kServiceBinding,
  kAuth0Callback,
  kAuth0Userinfo,
  kAuth0CallbackRedirect,
  kAuth0Refresh,
  kSupabasePasswordlessAuth,
  kSupabasePasswordlessVerify,
  kSupabasePasswordlessAuthAlt,
};

std::string_view integration_type_name(IntegrationType type);

struct HookRef {
  std::string binding;  // a serviceBindings alias
  std::string function;
  std::string pointer;
};

struct Integration {
  IntegrationType type = IntegrationType::kHttpProxy;
  std::string server;    // http_proxy
  std::string binding;   // service, service_binding
  std::string function;  // service_binding
  std::optional<HookRef> post_process;
};

struct Mapping {
  std::vector<std::pair<std::string, std::string>> headers;  // name -> template, config order
  std::vector<std::pair<std::string, std::string>> query;
};

struct Route {
  std::size_t index = 0;
  std::string method;
  std::string path;
  bool auth = false;
  std::optional<Integration> integration;
  Mapping mapping;
  boost::json::object variables;
  std::optional<boost::json::value> response;  // nullopt: key absent (empty body)
  std::optional<HookRef> pre_process;
  std::optional<HookRef> post_process;   // route-level (extension)
  std::vector<std::string> rate_limits;  // `rate_limit` (extension): policy names, in order
};

// An IP network (`gateway.trusted_proxies`); IPv4 as IPv4-mapped IPv6 so one comparison serves both.
struct IpNetwork {
  std::array<std::uint8_t, 16> address{};
  unsigned prefix_bits = 128;
  bool contains(const std::array<std::uint8_t, 16>& candidate) const;
};

// `rate_limits[]` (extension, docs/rate-limits.md).
enum class RateLimitStore { kLocal, kRedis };

struct RateLimitPolicy {
  std::string name;
  std::string key;  // a template (docs/rate-limits.md); "" is one key shared by every request
  std::int64_t rate = 0;
  std::int64_t period_seconds = 0;
  std::int64_t burst = 0;  // requests admitted at once; defaults to rate
  RateLimitStore store = RateLimitStore::kLocal;
  bool fail_open = true;              // redis: admit when Redis does not answer in time
  std::size_t local_slots = 1 << 18;  // local: size of the key table
  std::string pointer;                // "/rate_limits/N"
};

// `redis` (extension): the store of `"store": "redis"` policies.
struct RedisSettings {
  std::string url;   // as written
  std::string host;  // TCP (an IP literal or a name resolved when the config is built)
  std::uint16_t port = 6379;
  std::string unix_path;  // set for unix:/path
  std::int64_t database = 0;
  std::string password;  // "" = no AUTH; never logged
  std::chrono::milliseconds timeout{20};
};

// One entry of gateway.listeners: an address served by every shard, plain HTTP or TLS.
struct ListenerTls {
  struct Certificate {
    std::string cert_file;  // resolved against the config file's directory
    std::string key_file;
  };
  std::vector<Certificate> certificates;  // the first one is the default (no SNI, unknown name)
  int min_version = 12;                   // 12 (TLS 1.2 and 1.3) or 13 (TLS 1.3 only)
};

struct ListenerEntry {
  std::string address;  // as written: "0.0.0.0:8443", "[::]:8443"
  std::string host;
  std::uint16_t port = 0;
  std::optional<ListenerTls> tls;
  bool http2 = false;  // TLS: ALPN offers h2; plain: prior-knowledge h2c beside HTTP/1.1
  std::string pointer;
  // `name` (extension): the listener's name in metrics (`listener` label), the access log and /readyz;
  // "" = by position ("public" for the first listener served, "listener N" for the others).
  std::string name;
};

// gateway.http2: limits of HTTP/2 connections (see http::ConnectionLimits::Http2 for their meaning).
struct Http2Settings {
  std::uint32_t max_concurrent_streams = 100;
  std::uint32_t stream_window_bytes = 256 * 1024;
  std::uint32_t connection_window_bytes = 1024 * 1024;
  std::uint32_t reset_burst = 200;
  std::uint32_t resets_per_second = 100;
  std::uint32_t control_frame_burst = 1000;
  std::uint32_t control_frames_per_second = 200;
  std::uint32_t max_continuation_frames = 32;
};

// The `gateway` extension block: server behaviour.
// gateway.tracing: W3C Trace Context spans exported as OTLP/HTTP JSON. Off while otlp_endpoint is empty
// (traceparent is still propagated to upstreams).
struct TracingSettings {
  std::string otlp_endpoint;  // as written, e.g. "http://127.0.0.1:4318/v1/traces"
  std::string host;           // parsed from it (IPv6 without brackets)
  std::uint16_t port = 4318;
  std::string path = "/v1/traces";  // the URL's path; "/v1/traces" when it has none
  double sample_ratio = 1.0;        // 0..1, of traces (by trace id)
  std::string service_name = "workgate";
  bool enabled() const { return !otlp_endpoint.empty(); }
};

struct GatewaySettings {
  bool identity_header = true;  // X-Powered-By: workgate
  std::size_t max_body_bytes = 10 * 1024 * 1024;
  std::size_t max_header_bytes = 16 * 1024;
  std::size_t max_headers = 100;
  std::chrono::milliseconds header_timeout{10000};
  std::chrono::milliseconds body_timeout{30000};
  std::uint64_t min_body_rate = 1024;  // bytes/s a request body must average after body_timeout
  std::chrono::milliseconds idle_timeout{60000};
  std::chrono::milliseconds write_timeout{30000};
  std::chrono::milliseconds tls_handshake_timeout{10000};
  bool access_log = false;
  std::vector<ListenerEntry> listeners;    // empty: the --listen one only
  std::vector<IpNetwork> trusted_proxies;  // peers whose X-Forwarded-For is believed (rate-limit keys)
  std::string admin_listen;                // gateway.admin.listen, "HOST:PORT"; empty: no admin listener
  Http2Settings http2;
  // A proxied WebSocket (any Upgrade) tunnel is closed when nothing moved either way for this long.
  std::chrono::milliseconds websocket_idle_timeout{60000};
  TracingSettings tracing;
  // gateway.js_workers: how JavaScript workers run (workerd processes).
  struct JsWorkers {
    std::string workerd;                             // binary; "" = the project install or PATH
    std::string esbuild;                             // binary; "" = the project install or PATH
    unsigned processes = 0;                          // 0 = one per shard
    std::size_t heap_limit_mb = 0;                   // V8 old-space limit per process; 0 = V8's
    std::chrono::milliseconds health_timeout{1000};  // a process that does not answer is recycled
    std::chrono::milliseconds startup_timeout{30000};
  } js_workers;
};

// "HOST:PORT" or "[IPv6]:PORT" with an IP address (or localhost) and a port 0..65535.
bool parse_listen_address(std::string_view text, std::string& host, std::uint16_t& port);

struct Config {
  std::string title;
  std::vector<ServerEntry> servers;
  std::vector<ServiceEntry> services;
  std::vector<ServiceBindingEntry> service_bindings;  // servicesBindings merged in
  std::vector<WorkerEntry> workers;
  std::optional<CorsPolicy> cors;
  std::optional<Authorizer> authorizer;
  boost::json::object variables;
  std::vector<Route> paths;
  GatewaySettings gateway;
  std::vector<RateLimitPolicy> rate_limits;
  std::optional<RedisSettings> redis;
  std::filesystem::path base_dir;  // relative module paths resolve against it
  std::string document;            // the JSON document as loaded (JavaScript workers' ctxJson.apiConfig)

  const ServerEntry* find_server(std::string_view alias) const;
  const ServiceEntry* find_service(std::string_view alias) const;
  const ServiceBindingEntry* find_service_binding(std::string_view alias) const;
  const WorkerEntry* find_worker(std::string_view binding) const;
  const RateLimitPolicy* find_rate_limit(std::string_view name) const;
};

}  // namespace workgate::config
