// The steady clock as of the last kernel tick, for deadlines.
#pragma once

#include <time.h>

#include <chrono>

namespace workgate {

// CLOCK_MONOTONIC_COARSE is std::chrono::steady_clock's time base (CLOCK_MONOTONIC) read without the TSC:
// ~6 ns from the vDSO here against ~26 ns, with a resolution of one tick (1-4 ms, never ahead of the
// precise clock). A proxied request reads the clock about eight times for its deadlines, which the shards'
// 100 ms sweeps enforce, so the tick does not matter there. Never for a latency or a rate measurement.
inline std::chrono::steady_clock::time_point coarse_steady_now() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return std::chrono::steady_clock::time_point(
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::seconds(ts.tv_sec) +
                                                                      std::chrono::nanoseconds(ts.tv_nsec)));
}

}  // namespace workgate
