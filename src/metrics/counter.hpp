// Counting primitives for one writer thread and any number of readers (the scraper).
//
// Every series is owned by one event-loop thread, the only one that changes it. The value is still a
// std::atomic, so that the scraper on another thread never reads a torn or stale-forever value, but the
// writer uses a relaxed load and a relaxed store instead of a read-modify-write: on x86 that compiles to
// a plain `mov`/`add`/`mov`, no lock prefix, no shared cache line bouncing (nothing else writes it).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace workgate::metrics {

class Counter {
 public:
  // Single writer only (the owning thread).
  void add(std::uint64_t n = 1) {
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  // Any thread.
  std::uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

class Gauge {
 public:
  void set(std::int64_t v) { value_.store(v, std::memory_order_relaxed); }
  void add(std::int64_t n) {
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  std::int64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::int64_t> value_{0};
};

// Upper bounds (seconds) of the duration histograms, Prometheus client defaults plus sub-millisecond ones
// (a static route answers in tens of microseconds).
inline constexpr std::array<double, 14> kDurationBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                            0.1,    0.25,  0.5,    1,     2.5,  5,     10};

// The same bounds in nanoseconds, for the comparisons on the request path.
inline constexpr std::array<std::uint64_t, kDurationBuckets.size()> kDurationBucketsNs = [] {
  std::array<std::uint64_t, kDurationBuckets.size()> out{};
  for (std::size_t i = 0; i < out.size(); ++i)
    out[i] = static_cast<std::uint64_t>(kDurationBuckets[i] * 1e9 + 0.5);
  return out;
}();

// What a scrape reads of one or more histograms (summed): per-bucket counts (not cumulative; the last
// is +Inf), the sum in nanoseconds.
struct HistogramValues {
  std::array<std::uint64_t, kDurationBuckets.size() + 1> buckets{};
  std::uint64_t sum_ns = 0;

  std::uint64_t count() const {
    std::uint64_t n = 0;
    for (auto b : buckets)
      n += b;
    return n;
  }
  HistogramValues& operator+=(const HistogramValues& other) {
    for (std::size_t i = 0; i < buckets.size(); ++i)
      buckets[i] += other.buckets[i];
    sum_ns += other.sum_ns;
    return *this;
  }
};

// A duration histogram with the fixed kDurationBuckets; single writer like Counter. The count is the sum
// of the buckets, so a scrape never sees a count that disagrees with them.
class Histogram {
 public:
  void observe_ns(std::uint64_t ns) {
    std::size_t i = 0;
    while (i < kDurationBucketsNs.size() && ns > kDurationBucketsNs[i])
      ++i;
    buckets_[i].add();
    sum_ns_.add(ns);
  }
  void read_into(HistogramValues& out) const {
    for (std::size_t i = 0; i < buckets_.size(); ++i)
      out.buckets[i] += buckets_[i].value();
    out.sum_ns += sum_ns_.value();
  }

 private:
  std::array<Counter, kDurationBuckets.size() + 1> buckets_;
  Counter sum_ns_;
};

}  // namespace workgate::metrics
