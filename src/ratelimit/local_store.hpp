// The `local` store: one limit per process, shared by every event-loop thread, without a lock.
//
// A fixed table of slots, each one std::atomic<int64_t> holding a TAT (gcra.hpp). A key's slot is chosen by
// a hash seeded per table (so a client cannot aim its keys at someone else's slot) and a decision is one
// compare-and-swap loop on that slot: every admission of every thread is ordered on the slot, so the
// GCRA bound holds exactly across shards. The table never grows: keys are not stored at all, only their
// TAT, and a slot whose TAT has passed is the same as an empty one, so keys "expire" by themselves. Two
// live keys that hash to the same slot share one allowance: they can only be admitted less, never more
// (docs/rate-limits.md, "Memory").
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ratelimit/gcra.hpp"

namespace workgate::ratelimit {

class LocalTable {
 public:
  LocalTable(std::size_t slots, std::uint64_t seed);
  LocalTable(const LocalTable&) = delete;
  LocalTable& operator=(const LocalTable&) = delete;

  // One decision for `key` at `now_us` (any monotonic microsecond clock, the same for every caller).
  Verdict decide(const GcraParams& params, std::string_view key, std::int64_t now_us);

  std::size_t slot_count() const { return slots_.size(); }
  std::size_t slot_of(std::string_view key) const;
  // Slots whose TAT is after now_us (for tests and diagnostics; not atomic as a whole).
  std::size_t live_slots(std::int64_t now_us) const;

 private:
  std::vector<std::atomic<std::int64_t>> slots_;
  std::uint64_t seed_;
  std::size_t mask_;
};

// The microsecond clock local decisions use (steady, process-wide).
std::int64_t local_now_us();

// The table of a local policy, shared with the previous config's snapshot when the policy is unchanged,
// so a reload (SIGHUP) does not reset anyone's limit. `identity` names what must be equal for state to be
// carried over (name, key template, rate, period, burst, slots). Called when a config is built, never on
// the request path (it takes a lock).
std::shared_ptr<LocalTable> shared_local_table(const std::string& identity, std::size_t slots);

// A 64-bit keyed hash of `data` (wyhash-style multiply-mix; not cryptographic, but unpredictable
// without the seed).
std::uint64_t keyed_hash(std::string_view data, std::uint64_t seed);

}  // namespace workgate::ratelimit
