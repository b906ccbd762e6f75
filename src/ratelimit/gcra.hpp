// The generic cell rate algorithm (GCRA), the arithmetic every store shares. State is one number per key,
// the theoretical arrival time (TAT): when the key's allowance would be back to empty. A request at `now`
// conforms when TAT - now <= tolerance, and then moves TAT to max(TAT, now) + interval, where
//   interval  = period / rate          (time one request "costs")
//   tolerance = (burst - 1) * interval (how far ahead of now TAT may run)
// so at most `burst` requests pass at once, and over any window of length L at most burst + L / interval
// = burst + rate x L / period pass (docs/rate-limits.md, "Exactness"). A TAT at or before now is the same
// as no state, which is why stores can forget keys whose TAT has passed.
//
// Times are integers in microseconds (the unit of Redis' TIME); interval is rounded up, which can only
// admit less, never more.
#pragma once

#include <cstdint>
#include <optional>

namespace workgate::ratelimit {

struct GcraParams {
  std::int64_t interval_us = 1;
  std::int64_t tolerance_us = 0;
  std::int64_t burst = 1;

  static GcraParams from(std::int64_t rate, std::int64_t period_seconds, std::int64_t burst);
};

// What a decision tells the client (RateLimit and Retry-After fields).
struct Verdict {
  bool admitted = false;
  std::int64_t remaining = 0;       // requests that would pass right now after this one
  std::int64_t retry_after_us = 0;  // denied: until the next request conforms
  std::int64_t reset_us = 0;        // until the allowance is full again (TAT - now)
};

// The new TAT when a request at `now` conforms to a key whose stored TAT is `tat` (any value at or before
// now means "no state"); nullopt when it is over the limit (the state is then left as it is).
std::optional<std::int64_t> admit(const GcraParams& params, std::int64_t now, std::int64_t tat);

// The verdict from the key's TAT after the decision, relative to now (`ahead_us` = TAT - now, <= 0 for
// no state). Redis replies carry exactly these two values.
Verdict verdict(const GcraParams& params, bool admitted, std::int64_t ahead_us);

// Whole seconds, rounded up (Retry-After, the RateLimit `t` parameter).
std::int64_t ceil_seconds(std::int64_t us);

}  // namespace workgate::ratelimit
