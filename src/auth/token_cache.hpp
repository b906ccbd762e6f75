// Remembers successful verifications so a token seen again skips the signature check. One cache per
// event-loop thread: NOT thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "auth/verifier.hpp"

namespace workgate::auth {

struct TokenCacheOptions {
  std::size_t max_entries = 4096;       // least recently used entries are evicted beyond this
  std::int64_t max_ttl_seconds = 300;   // an entry is reused at most this long after it was stored
  std::size_t max_token_length = 4096;  // longer tokens are verified every time (bounds memory per entry)
};

struct TokenCacheStats {
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::uint64_t evictions = 0;  // entries dropped to make room (not counting expired ones)
  std::uint64_t stale = 0;      // entries dropped because the verifier's key set changed since (also misses)
};

class TokenCache {
 public:
  explicit TokenCache(TokenCacheOptions options = {});

  // The remembered success for `token` under `verifier`, else verifier.verify(token, now); successes are
  // remembered, failures never.
  VerifyResult verify(const Verifier& verifier, std::string_view token, std::int64_t now);

  // The remembered success, if one was stored under the same verifier, is still valid at `now`, and was
  // reached with the key set the verifier uses now (verifier.key_generation()): once a refresh or reload
  // replaces the set, every success reached with the old one is verified again, so a token whose key was
  // removed is refused at once instead of up to max_ttl_seconds later.
  std::optional<VerifyResult> find(const Verifier& verifier, std::string_view token, std::int64_t now);
  // Remembers `result` until min(result.valid_until, now + max_ttl_seconds); ignores failures.
  void insert(const Verifier& verifier, std::string_view token, const VerifyResult& result, std::int64_t now);

  std::size_t size() const { return entries_.size(); }
  const TokenCacheStats& stats() const { return stats_; }
  void clear();

 private:
  struct Key {
    std::uint64_t verifier_identity;
    std::string token;  // the full token, so equal hashes never mix up two tokens
  };
  struct KeyView {
    std::uint64_t verifier_identity;
    std::string_view token;
  };
  struct KeyHash {
    using is_transparent = void;
    std::size_t operator()(const Key& key) const {
      return (*this)(KeyView{key.verifier_identity, key.token});
    }
    std::size_t operator()(const KeyView& key) const;
  };
  struct KeyEqual {
    using is_transparent = void;
    template <class A, class B>
    bool operator()(const A& a, const B& b) const {
      return a.verifier_identity == b.verifier_identity &&
             std::string_view(a.token) == std::string_view(b.token);
    }
  };
  using RecencyList = std::list<const Key*>;  // most recently used first
  struct Entry {
    Claims claims;
    std::int64_t valid_until;      // the verification result's
    std::int64_t expires_at;       // reusable while now < expires_at
    std::uint64_t key_generation;  // the verification result's
    RecencyList::iterator recency;
  };
  using Entries = std::unordered_map<Key, Entry, KeyHash, KeyEqual>;

  void erase(Entries::iterator entry);

  TokenCacheOptions options_;
  Entries entries_;
  RecencyList recency_;
  TokenCacheStats stats_;
};

}  // namespace workgate::auth
