// What the admin endpoints report about the serving process, written by the CLI (config loads, reloads,
// drain) and read by the admin thread. Nothing here is touched on the request path.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "metrics/shard_metrics.hpp"
#include "pipeline/gateway_handler.hpp"

namespace workgate::admin {

struct BuildInfo {
  std::string version;
  std::string commit;
  std::string abi;  // worker ABI version
};

struct ReloadRecord {
  std::int64_t unix_ms = 0;
  bool ok = false;
  std::string message;  // no secrets: the CLI's summary line
};

// A listener of this process, as /readyz, /routes and the dashboard show it.
struct ListenerInfo {
  std::string name;    // "public", "listener N", gateway.listeners[].name; "admin"
  std::string url;     // "http://HOST:PORT" with the bound port
  std::string origin;  // "--listen", "default" or the config pointer ("/gateway/listeners/0"); "" for admin
  bool tls = false;
  bool http2 = false;  // ALPN h2 over TLS, prior-knowledge h2c on a plain listener
  bool admin = false;  // the admin listener (not in /routes)
};

// The config being served, as the admin endpoints show it.
struct LoadedConfig {
  std::uint64_t generation = 0;
  std::string source;         // "file PATH" / "SAG_API_CONFIG_JSON"
  std::string sha256;         // of the document's bytes, lowercase hex
  std::string redacted_json;  // admin/redact.hpp
  std::int64_t loaded_unix_ms = 0;
};

class AdminState {
 public:
  AdminState(metrics::Registry& registry, BuildInfo build);

  // The snapshot source the gateway serves from (set once, before the first publish_config).
  void set_source(const pipeline::SnapshotSource* source) {
    source_.store(source, std::memory_order_release);
  }
  // A config was published (startup or reload): `text` is the document's bytes.
  void publish_config(std::string_view text, std::string source);
  // A reload finished (ok or not), with a one-line message.
  void record_reload(bool ok, std::string message);
  void set_draining() { draining_.store(true, std::memory_order_release); }
  // A listener the dashboard, /readyz and (but for the admin one) /routes list, in the startup log's order.
  void add_listener(ListenerInfo listener);

  // For the endpoints (admin thread).
  metrics::Registry& registry() { return registry_; }
  const BuildInfo& build() const { return build_; }
  bool draining() const { return draining_.load(std::memory_order_acquire); }
  std::shared_ptr<const pipeline::Snapshot> snapshot() const;
  std::optional<LoadedConfig> config() const;
  std::deque<ReloadRecord> reloads() const;
  std::vector<ListenerInfo> listeners() const;
  std::uint64_t reloads_ok() const { return reloads_ok_.load(std::memory_order_relaxed); }
  std::uint64_t reloads_failed() const { return reloads_failed_.load(std::memory_order_relaxed); }

  static std::int64_t now_unix_ms();

 private:
  static constexpr std::size_t kReloadHistory = 20;

  metrics::Registry& registry_;
  BuildInfo build_;
  std::atomic<const pipeline::SnapshotSource*> source_{nullptr};
  std::atomic<bool> draining_{false};
  std::atomic<std::uint64_t> reloads_ok_{0};
  std::atomic<std::uint64_t> reloads_failed_{0};
  mutable std::mutex mutex_;
  std::optional<LoadedConfig> config_;
  std::deque<ReloadRecord> reloads_;  // newest last, at most kReloadHistory
  std::vector<ListenerInfo> listeners_;
  std::uint64_t publications_ = 0;
};

// Lowercase hex SHA-256 of `data`.
std::string sha256_hex(std::string_view data);

}  // namespace workgate::admin
