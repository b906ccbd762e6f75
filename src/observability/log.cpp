#include "observability/log.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <unistd.h>

#include <charconv>
#include <ctime>

namespace workgate::observability {

void init_logging(LogLevel level) {
  auto logger = spdlog::stderr_logger_mt("workgate");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ %v", spdlog::pattern_time_type::utc);
  switch (level) {
    case LogLevel::kDebug:
      logger->set_level(spdlog::level::debug);
      break;
    case LogLevel::kInfo:
      logger->set_level(spdlog::level::info);
      break;
    case LogLevel::kWarn:
      logger->set_level(spdlog::level::warn);
      break;
    case LogLevel::kError:
      logger->set_level(spdlog::level::err);
      break;
  }
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(std::move(logger));
}

bool parse_log_level(std::string_view name, LogLevel& level) {
  if (name == "debug") {
    level = LogLevel::kDebug;
  } else if (name == "info") {
    level = LogLevel::kInfo;
  } else if (name == "warn") {
    level = LogLevel::kWarn;
  } else if (name == "error") {
    level = LogLevel::kError;
  } else {
    return false;
  }
  return true;
}

namespace {
void append_number(std::string& out, std::uint64_t n) {
  char digits[24];
  auto r = std::to_chars(digits, digits + sizeof(digits), n);
  out.append(digits, r.ptr);
}

// Request paths come from clients: keep the log line one line and printable.
void append_sanitized(std::string& out, std::string_view s) {
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    out.push_back(u < 0x20 || u == 0x7f || c == '"' ? '?' : c);
  }
}
}  // namespace

void AccessLog::record(std::string_view client, std::string_view method, std::string_view path, int status,
                       std::size_t bytes, double duration_ms, std::string_view request_id) {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char when[32];
  std::size_t n = std::strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
  buffer_.append(when, n).push_back(' ');
  buffer_.append(client.empty() ? "-" : client).append(" \"");
  append_sanitized(buffer_, method);
  buffer_.push_back(' ');
  append_sanitized(buffer_, path);
  buffer_.append("\" ");
  append_number(buffer_, static_cast<std::uint64_t>(status));
  buffer_.push_back(' ');
  append_number(buffer_, bytes);
  buffer_.push_back(' ');
  append_number(buffer_, static_cast<std::uint64_t>(duration_ms * 1000.0));
  buffer_.append("us ");
  buffer_.append(request_id.empty() ? "-" : request_id);
  buffer_.push_back('\n');
  if (buffer_.size() > 16 * 1024) flush();
}

void AccessLog::flush() {
  std::size_t done = 0;
  while (done < buffer_.size()) {
    ssize_t n = ::write(STDOUT_FILENO, buffer_.data() + done, buffer_.size() - done);
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  buffer_.clear();
}

}  // namespace workgate::observability
