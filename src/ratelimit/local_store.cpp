#include "ratelimit/local_store.hpp"

#include <bit>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <random>

namespace workgate::ratelimit {
namespace {

inline std::uint64_t mix(std::uint64_t a, std::uint64_t b) {
  __uint128_t product = static_cast<__uint128_t>(a) * b;
  return static_cast<std::uint64_t>(product) ^ static_cast<std::uint64_t>(product >> 64);
}

constexpr std::uint64_t kP0 = 0xa0761d6478bd642full;
constexpr std::uint64_t kP1 = 0xe7037ed1a0b428dbull;
constexpr std::uint64_t kP2 = 0x8ebc6af09c88c6e3ull;

std::uint64_t random_seed() {
  std::random_device device;
  return (static_cast<std::uint64_t>(device()) << 32) ^ device();
}

}  // namespace

std::uint64_t keyed_hash(std::string_view data, std::uint64_t seed) {
  std::uint64_t h = seed ^ kP0;
  const char* p = data.data();
  std::size_t n = data.size();
  while (n >= 16) {
    std::uint64_t a, b;
    std::memcpy(&a, p, 8);
    std::memcpy(&b, p + 8, 8);
    h = mix(a ^ kP1, b ^ h);
    p += 16;
    n -= 16;
  }
  std::uint64_t a = 0, b = 0;
  if (n >= 8) {
    std::memcpy(&a, p, 8);
    std::memcpy(&b, p + n - 8, 8);
  } else if (n > 0) {
    std::memcpy(&a, p, n);
  }
  h = mix(a ^ kP1, b ^ h ^ data.size());
  return mix(h ^ kP2, h);
}

LocalTable::LocalTable(std::size_t slots, std::uint64_t seed)
    : slots_(std::bit_ceil(std::max<std::size_t>(slots, 1))), seed_(seed), mask_(slots_.size() - 1) {
  for (auto& slot : slots_)
    slot.store(0, std::memory_order_relaxed);
}

std::size_t LocalTable::slot_of(std::string_view key) const {
  return static_cast<std::size_t>(keyed_hash(key, seed_)) & mask_;
}

Verdict LocalTable::decide(const GcraParams& params, std::string_view key, std::int64_t now_us) {
  std::atomic<std::int64_t>& slot = slots_[slot_of(key)];
  std::int64_t tat = slot.load(std::memory_order_relaxed);
  while (true) {
    std::optional<std::int64_t> next = admit(params, now_us, tat);
    if (!next) return verdict(params, false, tat - now_us);
    // On failure `tat` is reloaded with the value another thread stored, and the decision is made again.
    if (slot.compare_exchange_weak(tat, *next, std::memory_order_relaxed, std::memory_order_relaxed)) {
      return verdict(params, true, *next - now_us);
    }
  }
}

std::size_t LocalTable::live_slots(std::int64_t now_us) const {
  std::size_t n = 0;
  for (const auto& slot : slots_)
    n += slot.load(std::memory_order_relaxed) > now_us ? 1 : 0;
  return n;
}

std::int64_t local_now_us() {
  using namespace std::chrono;
  // Offset so that 0 (an empty slot) is always in the past.
  return duration_cast<microseconds>(steady_clock::now().time_since_epoch()).count() + 1;
}

std::shared_ptr<LocalTable> shared_local_table(const std::string& identity, std::size_t slots) {
  // Weak references: a table lives as long as a snapshot uses it; the one being replaced is still alive
  // while its successor is built, which is when the successor takes it over.
  static std::mutex mutex;
  static std::map<std::string, std::weak_ptr<LocalTable>> tables;
  std::lock_guard lock(mutex);
  for (auto it = tables.begin(); it != tables.end();) {
    it = it->second.expired() ? tables.erase(it) : std::next(it);
  }
  std::weak_ptr<LocalTable>& entry = tables[identity];
  if (auto table = entry.lock()) return table;
  auto table = std::make_shared<LocalTable>(slots, random_seed());
  entry = table;
  return table;
}

}  // namespace workgate::ratelimit
