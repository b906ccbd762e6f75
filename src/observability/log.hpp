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
// --log-format: every line the process writes (logs on stderr, the access log on stdout) in one shape.
//   text: "TIME LEVEL MESSAGE[ request_id=ID]"; access lines "TIME CLIENT \"METHOD PATH\" STATUS ..."
//   json: one object per line: {"time":"...","level":"info","msg":"...","request_id":"..."}; access lines
//         carry "msg":"access" and their fields (AccessLog::record).
enum class LogFormat { kText, kJson };

void init_logging(LogLevel level, LogFormat format = LogFormat::kText);
bool parse_log_level(std::string_view name, LogLevel& level);
bool parse_log_format(std::string_view name, LogFormat& format);
LogFormat log_format();

// The request the calling thread is working on while this is alive (the stage driver sets it while a
// stage runs): log lines written meanwhile carry its id. Nests; ids must outlive the scope.
class RequestLogScope {
 public:
  explicit RequestLogScope(std::string_view request_id);
  ~RequestLogScope();
  RequestLogScope(const RequestLogScope&) = delete;
  RequestLogScope& operator=(const RequestLogScope&) = delete;

 private:
  std::string_view previous_;
};

// A JSON string literal (with its quotes): control characters, quote and backslash escaped, bytes
// beyond ASCII as \u00XX, so that any input makes a valid line.
void append_json_string(std::string& out, std::string_view s);
// "2026-12-02T04:40:36.123Z"
void append_utc_time_ms(std::string& out, std::chrono::system_clock::time_point when);

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

// One request's access log line. Never the query string, a token or a header value.
struct AccessRecord {
  std::string_view client;    // peer address
  std::string_view listener;  // the listener's address as configured ("public": the --listen one)
  std::string_view protocol;  // "HTTP/1.0", "HTTP/1.1", "HTTP/2"
  std::string_view method;
  std::string_view route;  // the route pattern; empty: no route matched
  std::string_view path;   // without the query
  int status = 0;
  std::uint64_t bytes_in = 0;   // request body
  std::uint64_t bytes_out = 0;  // response body
  double duration_ms = 0;
  std::string_view request_id;
  std::string_view trace_id;         // 32 hex digits
  std::string_view upstream;         // http_proxy server alias; empty: no upstream call
  double upstream_duration_ms = -1;  // < 0: none
  std::string_view error;            // the gateway's error code; empty: none
};

// One per event-loop thread. Lines are buffered and flushed to stdout when the buffer fills or flush()
// is called (the connection sweep calls it periodically).
//   text: TIME CLIENT "METHOD PATH" STATUS BYTES_OUT DURATIONus REQUEST_ID TRACE_ID [upstream=S Nus]
//   [error=E] json:
//   {"time":..,"level":"info","msg":"access","request_id":..,"trace_id":..,"client":..,"listener":..,
//          "protocol":..,"method":..,"route":..,"path":..,"status":..,"bytes_in":..,"bytes_out":..,
//          "duration_ms":..,"upstream":..,"upstream_duration_ms":..,"error":..} (absent ones omitted)
class AccessLog {
 public:
  explicit AccessLog(LogFormat format = log_format()) : format_(format) {}
  void record(const AccessRecord& r);
  // The line as it would be written (tests).
  void format(const AccessRecord& r, std::chrono::system_clock::time_point when, std::string& out) const;
  void flush();
  ~AccessLog() { flush(); }

 private:
  LogFormat format_;
  std::string buffer_;
};

}  // namespace workgate::observability
