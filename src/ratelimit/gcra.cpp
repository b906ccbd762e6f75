#include "ratelimit/gcra.hpp"

#include <algorithm>

namespace workgate::ratelimit {

GcraParams GcraParams::from(std::int64_t rate, std::int64_t period_seconds, std::int64_t burst) {
  GcraParams p;
  const std::int64_t period_us = period_seconds * 1000000;
  p.interval_us = std::max<std::int64_t>(1, (period_us + rate - 1) / rate);  // rounded up: never more
  p.burst = std::max<std::int64_t>(1, burst);
  p.tolerance_us = (p.burst - 1) * p.interval_us;
  return p;
}

std::optional<std::int64_t> admit(const GcraParams& params, std::int64_t now, std::int64_t tat) {
  const std::int64_t start = std::max(tat, now);
  if (start - now > params.tolerance_us) return std::nullopt;
  return start + params.interval_us;
}

Verdict verdict(const GcraParams& params, bool admitted, std::int64_t ahead_us) {
  Verdict v;
  v.admitted = admitted;
  ahead_us = std::max<std::int64_t>(0, ahead_us);
  v.reset_us = ahead_us;
  if (admitted) {
    // Another request passes now while TAT + k * interval - now <= tolerance + interval.
    std::int64_t slack = params.tolerance_us + params.interval_us - ahead_us;
    v.remaining = slack < 0 ? 0 : slack / params.interval_us;
  } else {
    v.retry_after_us = std::max<std::int64_t>(0, ahead_us - params.tolerance_us);
  }
  return v;
}

std::int64_t ceil_seconds(std::int64_t us) {
  return us <= 0 ? 0 : (us + 999999) / 1000000;
}

}  // namespace workgate::ratelimit
