// Logging: startup, warnings and errors through spdlog (stderr); an optional access log written by each
// event-loop thread from its own buffer with one write(2) per batch, so the request path takes no lock.
// Nothing logged here may contain a secret, a token or a query string.
#pragma once

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace workgate::observability {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

void init_logging(LogLevel level);
bool parse_log_level(std::string_view name, LogLevel& level);

// Identical warnings and errors repeated within a window are rate-limited per thread (see RepeatFilter):
// the first one is written, the repeats are counted and summed up as "<message> (repeated N times)".
namespace detail {
void log_limited(spdlog::level::level_enum level, std::string message);
}

// Writes the summaries of the calling thread's expired repeat windows. Cheap when nothing is pending;
// event loops call it periodically (the shard sweep, the signal thread) and before they exit.
void flush_repeated();

template <typename... Args>
void log_info(spdlog::format_string_t<Args...> fmt, Args&&... args) {
  spdlog::info(fmt, std::forward<Args>(args)...);
}
template <typename... Args>
void log_warn(spdlog::format_string_t<Args...> fmt, Args&&... args) {
  if (!spdlog::default_logger_raw()->should_log(spdlog::level::warn)) return;
  detail::log_limited(spdlog::level::warn, spdlog::fmt_lib::format(fmt, std::forward<Args>(args)...));
}
template <typename... Args>
void log_error(spdlog::format_string_t<Args...> fmt, Args&&... args) {
  if (!spdlog::default_logger_raw()->should_log(spdlog::level::err)) return;
  detail::log_limited(spdlog::level::err, spdlog::fmt_lib::format(fmt, std::forward<Args>(args)...));
}
template <typename... Args>
void log_debug(spdlog::format_string_t<Args...> fmt, Args&&... args) {
  spdlog::debug(fmt, std::forward<Args>(args)...);
}

// The rate limiter behind log_warn/log_error, one per thread (no lock), with the time passed in.
// A message (same level, same text) not seen in the last `window` is written at once and opens a window;
// repeats inside the window are only counted. When the window has passed, the count is written as one
// line "<message> (repeated N times)": by flush() (called periodically), or by the next repeat, which then
// counts itself and opens the next window. Under a steady flood that is one line per window.
// At most `capacity` distinct messages are tracked; the oldest is summed up and dropped for a new one.
class RepeatFilter {
 public:
  using Clock = std::chrono::steady_clock;
  struct Line {
    spdlog::level::level_enum level;
    std::string text;
  };

  explicit RepeatFilter(Clock::duration window = std::chrono::seconds(1), std::size_t capacity = 16)
      : window_(window), capacity_(capacity) {}

  // Appends to `out` what to write now for one occurrence of `message`.
  void log(spdlog::level::level_enum level, std::string_view message, Clock::time_point now,
           std::vector<Line>& out);
  // Appends the summaries of the windows that have passed at `now` (all of them with `all`).
  void flush(Clock::time_point now, std::vector<Line>& out, bool all = false);
  bool empty() const { return entries_.empty(); }

 private:
  struct Entry {
    spdlog::level::level_enum level;
    std::string message;
    Clock::time_point since;
    std::uint64_t repeats = 0;
  };
  static void summary(const Entry& e, std::uint64_t count, std::vector<Line>& out);

  Clock::duration window_;
  std::size_t capacity_;
  std::vector<Entry> entries_;
};

// One per event-loop thread. Lines are buffered and flushed to stdout when the buffer fills or flush()
// is called (the connection sweep calls it periodically).
class AccessLog {
 public:
  void record(std::string_view client, std::string_view method, std::string_view path, int status,
              std::size_t bytes, double duration_ms, std::string_view request_id);
  void flush();
  ~AccessLog() { flush(); }

 private:
  std::string buffer_;
};

}  // namespace workgate::observability
