#include "observability/log.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <unistd.h>

#include <algorithm>
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

void RepeatFilter::summary(const Entry& e, std::uint64_t count, std::vector<Line>& out) {
  out.push_back(
      {e.level, e.message + " (repeated " + std::to_string(count) + (count == 1 ? " time)" : " times)")});
}

void RepeatFilter::log(spdlog::level::level_enum level, std::string_view message, Clock::time_point now,
                       std::vector<Line>& out) {
  for (auto& e : entries_) {
    if (e.level != level || e.message != message) continue;
    if (now - e.since < window_) {
      ++e.repeats;
    } else {
      // The window has passed: this occurrence is written with the count it closes and opens a new one.
      summary(e, e.repeats + 1, out);
      e.since = now;
      e.repeats = 0;
    }
    return;
  }
  flush(now, out);
  if (entries_.size() >= capacity_) {
    auto oldest = std::min_element(entries_.begin(), entries_.end(),
                                   [](const Entry& a, const Entry& b) { return a.since < b.since; });
    if (oldest->repeats > 0) summary(*oldest, oldest->repeats, out);
    entries_.erase(oldest);
  }
  out.push_back({level, std::string(message)});
  entries_.push_back({level, std::string(message), now, 0});
}

void RepeatFilter::flush(Clock::time_point now, std::vector<Line>& out, bool all) {
  std::size_t kept = 0;
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    Entry& e = entries_[i];
    if (all || now - e.since >= window_) {
      if (e.repeats > 0) summary(e, e.repeats, out);
      continue;
    }
    if (kept != i) entries_[kept] = std::move(e);
    ++kept;
  }
  entries_.resize(kept);
}

namespace {
struct ThreadRepeats {
  RepeatFilter filter;
  std::vector<RepeatFilter::Line> out;

  void write() {
    for (auto& line : out)
      spdlog::default_logger_raw()->log(line.level, "{}", line.text);
    out.clear();
  }
  ~ThreadRepeats() {
    // A thread that exits writes what it still counted.
    try {
      filter.flush(RepeatFilter::Clock::now(), out, /*all=*/true);
      if (spdlog::default_logger_raw() != nullptr) write();
    } catch (...) {
    }
  }
};

ThreadRepeats& thread_repeats() {
  thread_local ThreadRepeats state;
  return state;
}
}  // namespace

namespace detail {
void log_limited(spdlog::level::level_enum level, std::string message) {
  ThreadRepeats& t = thread_repeats();
  t.filter.log(level, message, RepeatFilter::Clock::now(), t.out);
  t.write();
}
}  // namespace detail

void flush_repeated() {
  ThreadRepeats& t = thread_repeats();
  if (t.filter.empty()) return;
  t.filter.flush(RepeatFilter::Clock::now(), t.out);
  t.write();
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
