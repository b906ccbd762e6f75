// Logging: startup, warnings and errors through spdlog (stderr); an optional access log written by each
// event-loop thread from its own buffer with one write(2) per batch, so the request path takes no lock.
// Nothing logged here may contain a secret, a token or a query string.
#pragma once

#include <spdlog/spdlog.h>

#include <string>
#include <string_view>

namespace workgate::observability {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

void init_logging(LogLevel level);
bool parse_log_level(std::string_view name, LogLevel& level);

template <typename... Args>
void log_info(spdlog::format_string_t<Args...> fmt, Args&&... args) {
  spdlog::info(fmt, std::forward<Args>(args)...);
}
template <typename... Args>
void log_warn(spdlog::format_string_t<Args...> fmt, Args&&... args) {
  spdlog::warn(fmt, std::forward<Args>(args)...);
}
template <typename... Args>
void log_error(spdlog::format_string_t<Args...> fmt, Args&&... args) {
  spdlog::error(fmt, std::forward<Args>(args)...);
}
template <typename... Args>
void log_debug(spdlog::format_string_t<Args...> fmt, Args&&... args) {
  spdlog::debug(fmt, std::forward<Args>(args)...);
}

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
