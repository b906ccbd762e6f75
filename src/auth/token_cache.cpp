#include "auth/token_cache.hpp"

#include <algorithm>
#include <functional>

namespace workgate::auth {

std::size_t TokenCache::KeyHash::operator()(const KeyView& key) const {
  return std::hash<std::string_view>{}(key.token) ^ (key.verifier_identity * 0x9E3779B97F4A7C15ULL);
}

TokenCache::TokenCache(TokenCacheOptions options) : options_(options) {}

VerifyResult TokenCache::verify(const Verifier& verifier, std::string_view token, std::int64_t now) {
  if (std::optional<VerifyResult> cached = find(verifier, token, now)) return std::move(*cached);
  VerifyResult result = verifier.verify(token, now);
  insert(verifier, token, result, now);
  return result;
}

std::optional<VerifyResult> TokenCache::find(const Verifier& verifier, std::string_view token,
                                             std::int64_t now) {
  const auto entry = token.size() <= options_.max_token_length
                         ? entries_.find(KeyView{verifier.identity(), token})
                         : entries_.end();
  if (entry == entries_.end()) {
    ++stats_.misses;
    return std::nullopt;
  }
  if (now >= entry->second.expires_at) {
    erase(entry);
    ++stats_.misses;
    return std::nullopt;
  }
  if (entry->second.key_generation != verifier.key_generation()) {
    erase(entry);
    ++stats_.stale;
    ++stats_.misses;
    return std::nullopt;
  }
  recency_.splice(recency_.begin(), recency_, entry->second.recency);
  ++stats_.hits;
  return VerifyResult{entry->second.claims, std::nullopt, entry->second.valid_until,
                      entry->second.key_generation};
}

void TokenCache::insert(const Verifier& verifier, std::string_view token, const VerifyResult& result,
                        std::int64_t now) {
  if (!result.ok() || token.size() > options_.max_token_length || options_.max_entries == 0) return;
  const std::int64_t ttl_end =
      now > INT64_MAX - options_.max_ttl_seconds ? INT64_MAX : now + options_.max_ttl_seconds;
  const std::int64_t expires_at = std::min(result.valid_until, ttl_end);
  if (expires_at <= now) return;

  if (const auto existing = entries_.find(KeyView{verifier.identity(), token}); existing != entries_.end()) {
    existing->second.claims = result.claims;
    existing->second.valid_until = result.valid_until;
    existing->second.expires_at = expires_at;
    existing->second.key_generation = result.key_generation;
    recency_.splice(recency_.begin(), recency_, existing->second.recency);
    return;
  }
  if (entries_.size() >= options_.max_entries) {
    const Key& oldest = *recency_.back();
    erase(entries_.find(KeyView{oldest.verifier_identity, oldest.token}));
    ++stats_.evictions;
  }
  const auto inserted =
      entries_
          .emplace(Key{verifier.identity(), std::string(token)},
                   Entry{result.claims, result.valid_until, expires_at, result.key_generation, {}})
          .first;
  try {
    recency_.push_front(&inserted->first);
  } catch (...) {
    entries_.erase(inserted);
    throw;
  }
  inserted->second.recency = recency_.begin();
}

void TokenCache::clear() {
  entries_.clear();
  recency_.clear();
}

void TokenCache::erase(Entries::iterator entry) {
  recency_.erase(entry->second.recency);
  entries_.erase(entry);
}

}  // namespace workgate::auth
