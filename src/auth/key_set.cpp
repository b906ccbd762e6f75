#include "auth/key_set.hpp"

#include <algorithm>
#include <atomic>

namespace workgate::auth {
namespace {

bool metadata_allows(const KeyMetadata& metadata, Algorithm algorithm, std::optional<std::string_view> kid) {
  if (kid && metadata.kid != *kid) return false;
  if (metadata.alg && *metadata.alg != algorithm_name(algorithm)) return false;
  if (metadata.use && *metadata.use != "sig") return false;
  if (metadata.key_ops &&
      std::find(metadata.key_ops->begin(), metadata.key_ops->end(), "verify") == metadata.key_ops->end()) {
    return false;
  }
  return true;
}

std::uint64_t next_generation() {
  static std::atomic<std::uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

KeySet::KeySet(std::vector<std::shared_ptr<const VerificationKey>> keys)
    : keys_(std::move(keys)), generation_(next_generation()) {}

KeySet::Selection KeySet::select(Algorithm algorithm, std::optional<std::string_view> kid) const {
  Selection selection;
  for (const auto& key : keys_) {
    if (!key->supports(algorithm) || !metadata_allows(key->metadata(), algorithm, kid)) continue;
    ++selection.matches;
    selection.key = selection.matches == 1 ? key.get() : nullptr;
  }
  return selection;
}

}  // namespace workgate::auth
