// Sets of verification keys (a parsed JWKS) and the sources a verifier reads them from.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <vector>

#include "auth/algorithm.hpp"
#include "auth/keys.hpp"

namespace workgate::auth {

class KeySet {
 public:
  explicit KeySet(std::vector<std::shared_ptr<const VerificationKey>> keys);

  const std::vector<std::shared_ptr<const VerificationKey>>& keys() const { return keys_; }
  // Unique among all key sets of the process (never 0): a verdict reached with this set is tied to it, so a
  // cached verdict is not reused once its source serves another set (a key may have been removed).
  std::uint64_t generation() const { return generation_; }

  struct Selection {
    const VerificationKey* key = nullptr;  // set when exactly one key matched
    std::size_t matches = 0;
  };

  // The keys a token may be checked with, by the rules of jose's LocalJWKSet: the key type (and curve) fits
  // `algorithm`; the kid equals `kid` when the token has one; the JWK alg, if set, equals the token's alg;
  // the JWK use, if set, is "sig"; the JWK key_ops, if set, include "verify".
  Selection select(Algorithm algorithm, std::optional<std::string_view> kid) const;

 private:
  std::vector<std::shared_ptr<const VerificationKey>> keys_;
  std::uint64_t generation_;
};

// Where a verifier gets its key set. A remote JWKS fetcher implements this. Both functions are called during
// verifications, from every event-loop thread at once: they must be thread-safe, cheap, and never block on
// I/O.
class KeySource {
 public:
  virtual ~KeySource() = default;
  // The keys to use now; nullptr while none are available (e.g. a remote JWKS not fetched yet), which refuses
  // tokens like a JWKS fetch error does.
  virtual std::shared_ptr<const KeySet> current() const = 0;
  // The generation of the set current() returns (0 while there is none). Called on every cached
  // verification, so implementations keep it in an atomic of its own; this default is correct but slow.
  virtual std::uint64_t generation() const {
    const std::shared_ptr<const KeySet> keys = current();
    return keys ? keys->generation() : 0;
  }
  // Told when no key matched a token; `kid` is the token's kid ("" without one). A remote source may refetch.
  virtual void on_unknown_kid(std::string_view /*kid*/) const {}
};

// A key set replaced as a whole at runtime (config reload, JWKS refresh) while other threads read it.
class SwappableKeySource final : public KeySource {
 public:
  explicit SwappableKeySource(std::shared_ptr<const KeySet> initial = nullptr)
      : generation_(initial ? initial->generation() : 0), keys_(std::move(initial)) {}

  std::shared_ptr<const KeySet> current() const override { return keys_.load(std::memory_order_acquire); }
  std::uint64_t generation() const override { return generation_.load(std::memory_order_acquire); }
  void replace(std::shared_ptr<const KeySet> keys) {
    const std::lock_guard lock(replace_mutex_);  // writers only: the set and its generation stay paired
    const std::uint64_t generation = keys ? keys->generation() : 0;
    keys_.store(std::move(keys), std::memory_order_release);
    generation_.store(generation, std::memory_order_release);
  }

 private:
  std::mutex replace_mutex_;
  std::atomic<std::uint64_t> generation_;
  std::atomic<std::shared_ptr<const KeySet>> keys_;
};

}  // namespace workgate::auth
