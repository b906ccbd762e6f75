// The upstream HTTP/1.1 client of one event-loop thread: keep-alive pools per origin, non-blocking DNS
// with a cache, TLS with SNI and certificate verification, coarse deadlines enforced by tick(), a bound on
// connections per origin with queuing, and one retry of a request that raced a stale pooled connection
// when that is safe (RFC 9110 §9.2.2).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/inline_function.hpp"
#include "http/headers.hpp"
#include "http/message.hpp"

namespace workgate::http {

class Cluster;
class ClusterShard;
class SlabPool;

// Where requests go: immutable, shared by every thread (built once per config load).
struct UpstreamTarget {
  bool tls = false;
  std::string host;  // DNS name or IP address (IPv6 without brackets)
  std::uint16_t port = 0;
  std::string authority;  // Host header value
  std::string pool_key;   // origin + trust settings: requests with the same key share connections
  std::shared_ptr<boost::asio::ssl::context> tls_context;
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds timeout{30000};  // request sent -> response head, and between body reads
  std::chrono::milliseconds idle_timeout{60000};
  std::size_t max_connections = 256;
};

// Builds a target; `ca_files` are added to the system trust store for TLS. Returns null and sets `error`
// when a CA file cannot be loaded.
std::shared_ptr<UpstreamTarget> make_upstream_target(bool tls, std::string host, std::uint16_t port,
                                                     const std::vector<std::string>& ca_files,
                                                     std::string& error);

struct UpstreamRequest {
  std::string head;  // request line and header fields, ending with the empty line
  std::string body;  // a body known in full (may be empty)
  // When set, the rest of the body (after `body`) is pulled from here while it is sent: chunked if
  // `chunked_body`, else as is (the head then carries its Content-Length). An error it reports ends the
  // call (see request_body_error) with the upstream connection closed.
  std::shared_ptr<BodySource> body_source;
  bool chunked_body = false;
  bool idempotent = false;  // may be replayed on a fresh connection after a stale one failed
  bool head_request = false;
  // The head asks for an Upgrade (Connection: upgrade): a 101 with an Upgrade field switches protocols
  // (UpstreamResponse::upgraded), and the connection never goes back to the pool, whatever the answer.
  bool upgrade = false;
};

enum class UpstreamError {
  kNone,
  kUnavailable,  // DNS, connect, TLS or the connection failed before a response began
  kTimeout,      // connect (including DNS) or response deadline
  kBadResponse,  // malformed, oversized or unexpected (an unrequested 101) response
  // The request body streamed from the client failed; the upstream connection was closed, so the upstream
  // never sees a truncated body as complete. The client is at fault, not the upstream.
  kRequestBodyTooLarge,  // grew past gateway.max_body_bytes (413)
  kRequestBodyInvalid,   // chunked framing error (400)
  kRequestBodyTimeout,   // stalled or too slow (408)
  kClientGone,           // the client closed its connection
};

struct UpstreamResponse {
  int status = 0;
  HeaderList headers;
  std::optional<std::uint64_t> content_length;
  // The whole body when `complete`, else the rest of the body comes from `stream`.
  std::string body;
  bool complete = false;
  std::shared_ptr<BodySource> stream;
  // A 101 to an upgrade request: the connection, out of the pool now, as one side of a tunnel (tunnel.hpp),
  // with the bytes the upstream sent after the 101 head.
  std::shared_ptr<TunnelSide> upgraded;
  // Who answered (or, with an error, the last target tried): the target given to send(), for a cluster
  // the one its balancer picked or the one the request moved to. `resends`: how many times the request
  // was sent again (a replay after a stale pooled connection, a move to another target).
  std::shared_ptr<const UpstreamTarget> target;
  std::uint32_t resends = 0;
};

class UpstreamClient {
 public:
  // Held inside the call (no allocation per request): captures up to kCallbackCapacity bytes.
  static constexpr std::size_t kCallbackCapacity = 192;
  using Callback = InlineFunction<void(UpstreamError, UpstreamResponse&&), kCallbackCapacity>;

  using Now = std::function<std::chrono::steady_clock::time_point()>;
  // `now` replaces the steady clock for deadlines (tests advance time by hand and call tick()). `slab`:
  // where calls are allocated (the shard's, which outlives every handler that may hold a call); null:
  // the heap.
  explicit UpstreamClient(boost::asio::io_context& io, Now now = nullptr, SlabPool* slab = nullptr);
  ~UpstreamClient();
  UpstreamClient(const UpstreamClient&) = delete;
  UpstreamClient& operator=(const UpstreamClient&) = delete;

  // Sends the request; `callback` runs once on this thread with the response head (and body, see
  // UpstreamResponse) or an error. With `buffer_limit` > 0 the whole body is read first (responses larger
  // than the limit fail with kBadResponse). The returned handle cancels the call (Exchange::set_pending):
  // a queued call leaves its pool's queue; a call in flight closes its connection (never reused), and the
  // callback does not run.
  std::weak_ptr<Cancellable> send(std::shared_ptr<const UpstreamTarget> target, UpstreamRequest request,
                                  Callback callback, std::size_t buffer_limit = 0);

  // Sends to one target of `cluster` (docs/proxy.md): picked by its balance policy (`hash_key`: the
  // resolved key of "hash"), counted by its circuit breaker and outlier ejection, and retried once on
  // another target after a connect failure (any method) or a reset before any response byte (idempotent
  // methods), unless part of a streamed body was sent. The head's first Host field names the first
  // target's authority; it is rewritten for the target picked. nullopt: the breaker is open (max_requests or
  // max_pending reached on this thread) and the callback does not run.
  std::optional<std::weak_ptr<Cancellable>> send(const std::shared_ptr<const Cluster>& cluster,
                                                 std::string_view hash_key, UpstreamRequest request,
                                                 Callback callback, std::size_t buffer_limit = 0);
  // A string for the next request's head (UpstreamRequest::head), cleared, with the capacity of one a
  // finished call gave back: building heads allocates nothing in steady state.
  std::string take_head_buffer();

  // This thread's state of a cluster (made on first use; the thread that first sees a cluster with
  // health checks runs them).
  const std::shared_ptr<ClusterShard>& cluster_state(const std::shared_ptr<const Cluster>& cluster);

  // Enforces deadlines, runs due health checks; call every ~100 ms.
  void tick();

  // The state of each pool (for metrics), on this client's thread.
  struct PoolState {
    const UpstreamTarget* target = nullptr;
    std::size_t open = 0;       // connections counted against max_connections (busy + idle)
    std::size_t idle = 0;       // of which idle
    std::size_t waiting = 0;    // calls queued for a connection
    std::uint64_t replays = 0;  // requests replayed on a fresh connection after a stale pooled one failed
  };
  void for_each_pool(const std::function<void(const PoolState&)>& visit) const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace workgate::http
