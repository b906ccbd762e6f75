// A JWK set fetched from a URL (the auth0 authorizer's `jwks_uri`) and kept fresh in the background.
//
// - The first fetch happens in start(), before the gateway serves: without keys it does not start.
// - The set is kept for the response's Cache-Control max-age (minus Age), clamped to [min_ttl, max_ttl];
//   without max-age for default_ttl. It is refetched in the background after refresh_fraction of that time.
// - A failed refresh keeps the last good set and retries with exponential backoff. A set left without a
//   usable key (every key refused, see parse_jwks) is a failed fetch.
// - A refresh answering the same document keeps the current set (and its generation, so verdicts cached
//   with it stay valid); any other document replaces it, and cached verdicts are checked again.
// - Refused keys are logged with their index, kid and reason: as warnings the first time a document is
//   seen, then at debug level.
// - A token whose kid matches no key triggers one refetch, at most once per unknown_kid_interval and never
//   while a fetch is in flight (single flight across threads), with a shorter timeout. The request itself
//   is answered at once with the current set; the refetch helps the requests after it.
//
// All fetching runs on a thread of its own with its own io_context and upstream client; current() and
// on_unknown_kid() only touch atomics (and post to that thread), so event-loop threads never wait on it.
#pragma once

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "auth/key_set.hpp"
#include "http/upstream.hpp"

namespace workgate::auth {

struct RemoteJwksOptions {
  std::string uri;                    // absolute http:// or https:// URL
  std::vector<std::string> ca_files;  // trusted besides the system store
  std::chrono::milliseconds min_ttl{std::chrono::seconds(60)};
  std::chrono::milliseconds max_ttl{std::chrono::hours(24)};
  std::chrono::milliseconds default_ttl{std::chrono::minutes(10)};  // no usable max-age
  double refresh_fraction = 0.8;                                    // refetch after this part of the lifetime
  std::chrono::milliseconds unknown_kid_interval{std::chrono::seconds(30)};
  std::chrono::milliseconds fetch_timeout{std::chrono::seconds(5)};        // startup and routine refreshes
  std::chrono::milliseconds unknown_kid_timeout{std::chrono::seconds(2)};  // refetch for an unknown kid
  std::chrono::milliseconds retry_initial{std::chrono::seconds(1)};
  std::chrono::milliseconds retry_max{std::chrono::minutes(5)};
  std::size_t max_document_bytes = 1024 * 1024;
  // The schedule (refresh times, backoff, the unknown-kid interval) follows this clock; null: the steady
  // clock. Tests inject one they advance by hand. Network deadlines (fetch_timeout) stay on real time.
  std::function<std::chrono::steady_clock::time_point()> clock;
  // How often the refresh thread looks at its schedule (and expires the fetch connections' deadlines).
  std::chrono::milliseconds tick{100};
};

// ---- Pure policy functions (unit-tested) ----

// What a Cache-Control field value says about reuse: max-age in seconds when present and valid (a value
// beyond int64 saturates), and whether no-store / no-cache forbid reuse without revalidation.
struct CacheDirectives {
  std::optional<std::int64_t> max_age;
  bool no_store = false;
  bool no_cache = false;
};
CacheDirectives parse_cache_control(std::string_view value);

// How long a fetched set is considered fresh: max-age minus Age (RFC 9111 §4.2.3) clamped to
// [min_ttl, max_ttl]; no-store/no-cache -> min_ttl; no (valid) max-age -> default_ttl (also clamped).
std::chrono::milliseconds cache_lifetime(std::optional<std::string_view> cache_control,
                                         std::optional<std::string_view> age,
                                         const RemoteJwksOptions& options);

// When to refetch after a successful fetch with `lifetime`: refresh_fraction of it, at least 1 s.
std::chrono::milliseconds refresh_delay(std::chrono::milliseconds lifetime, const RemoteJwksOptions& options);

// The wait before retry number `attempt` (1 = first retry after a failure): retry_initial doubled per
// attempt, capped at retry_max.
std::chrono::milliseconds retry_delay(unsigned attempt, const RemoteJwksOptions& options);

// The URI as written in logs: scheme, authority and path (no query, no userinfo).
std::string redact_uri(std::string_view uri);

// ---- The key source ----

struct RemoteJwksStats {
  std::uint64_t fetches = 0;    // attempts started
  std::uint64_t successes = 0;  // attempts that brought a usable set (the same document counts)
  std::uint64_t failures = 0;   // attempts that failed
  std::uint64_t unknown_kid_fetches = 0;
};

class RemoteJwks final : public KeySource {
 public:
  // Fetches the set once (waiting up to fetch_timeout) and starts the refresh thread. Returns null and sets
  // `error` (no secrets, no key material) when the URI is unusable or the first fetch fails.
  static std::shared_ptr<RemoteJwks> start(RemoteJwksOptions options, std::string& error);

  ~RemoteJwks() override;
  RemoteJwks(const RemoteJwks&) = delete;
  RemoteJwks& operator=(const RemoteJwks&) = delete;

  std::shared_ptr<const KeySet> current() const override { return keys_.load(std::memory_order_acquire); }
  std::uint64_t generation() const override { return generation_.load(std::memory_order_acquire); }
  void on_unknown_kid(std::string_view kid) const override;

  RemoteJwksStats stats() const;

 private:
  enum class Reason { kInitial, kRoutine, kUnknownKid };
  struct Fetched;

  explicit RemoteJwks(RemoteJwksOptions options);
  bool prepare(std::string& error);
  void fetch(Reason reason);
  void on_fetched(Reason reason, Fetched result);
  void schedule_refresh(std::chrono::milliseconds delay);
  void schedule_tick();
  std::chrono::steady_clock::time_point now() const;
  std::int64_t now_ns() const;

  RemoteJwksOptions options_;
  std::string log_uri_;
  std::string request_head_;
  std::shared_ptr<const http::UpstreamTarget> target_;              // fetch_timeout
  std::shared_ptr<const http::UpstreamTarget> unknown_kid_target_;  // unknown_kid_timeout

  std::atomic<std::shared_ptr<const KeySet>> keys_;
  std::atomic<std::uint64_t> generation_{0};  // keys_'s; stored after it
  mutable std::atomic<bool> in_flight_{false};
  mutable std::atomic<std::int64_t> next_unknown_kid_fetch_ns_{0};
  std::atomic<std::uint64_t> fetches_{0};
  std::atomic<std::uint64_t> successes_{0};
  std::atomic<std::uint64_t> failures_{0};
  std::atomic<std::uint64_t> unknown_kid_fetches_{0};

  // Touched only on the refresh thread (and in start() before the thread runs anything else).
  unsigned failed_attempts_ = 0;
  std::chrono::steady_clock::time_point next_refresh_ = std::chrono::steady_clock::time_point::max();
  std::string loaded_document_;  // the body keys_ was parsed from: the same body again keeps keys_
  std::size_t seen_document_hash_ =
      0;  // of the last body parsed: its skipped keys are logged once as warnings
  std::function<void(bool ok, const std::string& error)> initial_done_;

  mutable boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::unique_ptr<http::UpstreamClient> upstream_;
  boost::asio::steady_timer tick_timer_;  // real time: it only paces the looks at the schedule
  std::thread thread_;
};

}  // namespace workgate::auth
