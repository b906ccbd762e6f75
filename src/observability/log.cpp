#include "observability/log.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstdio>
#include <ctime>

namespace workgate::observability {
namespace {

std::atomic<LogFormat> g_format{LogFormat::kText};
thread_local std::string_view t_request_id;

// The one shape of every log line (spdlog's formatter): see LogFormat.
class LineFormatter final : public spdlog::formatter {
 public:
  explicit LineFormatter(LogFormat format) : format_(format) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    std::string line;
    line.reserve(msg.payload.size() + 96);
    auto level_name = spdlog::level::to_string_view(msg.level);
    std::string_view level(level_name.data(), level_name.size());
    std::string_view text(msg.payload.data(), msg.payload.size());
    if (format_ == LogFormat::kJson) {
      line.append("{\"time\":\"");
      append_utc_time_ms(line, msg.time);
      line.append("\",\"level\":");
      append_json_string(line, level);
      line.append(",\"msg\":");
      append_json_string(line, text);
      if (!t_request_id.empty()) {
        line.append(",\"request_id\":");
        append_json_string(line, t_request_id);
      }
      line.append("}\n");
    } else {
      append_utc_time_ms(line, msg.time);
      line.push_back(' ');
      line.append(level).push_back(' ');
      line.append(text);
      if (!t_request_id.empty()) line.append(" request_id=").append(t_request_id);
      line.push_back('\n');
    }
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<LineFormatter>(format_);
  }

 private:
  LogFormat format_;
};

}  // namespace

LogFormat log_format() {
  return g_format.load(std::memory_order_relaxed);
}

bool parse_log_format(std::string_view name, LogFormat& format) {
  if (name == "text") {
    format = LogFormat::kText;
  } else if (name == "json") {
    format = LogFormat::kJson;
  } else {
    return false;
  }
  return true;
}

RequestLogScope::RequestLogScope(std::string_view request_id) : previous_(t_request_id) {
  t_request_id = request_id;
}
RequestLogScope::~RequestLogScope() {
  t_request_id = previous_;
}

void append_json_string(std::string& out, std::string_view s) {
  constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out.append("\\n");
    } else if (c == '\t') {
      out.append("\\t");
    } else if (u < 0x20 || u >= 0x7f) {
      out.append("\\u00").push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 0xf]);
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
}

void append_utc_time_ms(std::string& out, std::chrono::system_clock::time_point when) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(when.time_since_epoch()).count();
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::size_t n = std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  n += static_cast<std::size_t>(
      std::snprintf(buf + n, sizeof(buf) - n, ".%03dZ", static_cast<int>(ms % 1000)));
  out.append(buf, n);
}

void init_logging(LogLevel level, LogFormat format) {
  g_format.store(format, std::memory_order_relaxed);
  auto logger = spdlog::get("workgate");
  if (!logger) logger = spdlog::stderr_logger_mt("workgate");
  logger->set_formatter(std::make_unique<LineFormatter>(format));
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

void append_ms(std::string& out, double ms) {
  // Milliseconds with microsecond precision: "12.345".
  auto us = static_cast<std::uint64_t>(ms < 0 ? 0 : ms * 1000.0 + 0.5);
  append_number(out, us / 1000);
  out.push_back('.');
  char frac[4] = {static_cast<char>('0' + us % 1000 / 100), static_cast<char>('0' + us % 100 / 10),
                  static_cast<char>('0' + us % 10), 0};
  out.append(frac, 3);
}

void json_field(std::string& out, std::string_view name, std::string_view value) {
  out.append(",\"").append(name).append("\":");
  append_json_string(out, value);
}
void json_number(std::string& out, std::string_view name, std::uint64_t value) {
  out.append(",\"").append(name).append("\":");
  append_number(out, value);
}
}  // namespace

void AccessLog::format(const AccessRecord& r, std::chrono::system_clock::time_point when,
                       std::string& out) const {
  if (format_ == LogFormat::kJson) {
    out.append("{\"time\":\"");
    append_utc_time_ms(out, when);
    out.append("\",\"level\":\"info\",\"msg\":\"access\"");
    json_field(out, "request_id", r.request_id);
    if (!r.trace_id.empty()) json_field(out, "trace_id", r.trace_id);
    json_field(out, "client", r.client);
    json_field(out, "listener", r.listener);
    json_field(out, "protocol", r.protocol);
    json_field(out, "method", r.method);
    if (!r.route.empty()) json_field(out, "route", r.route);
    json_field(out, "path", r.path);
    json_number(out, "status", static_cast<std::uint64_t>(r.status));
    json_number(out, "bytes_in", r.bytes_in);
    json_number(out, "bytes_out", r.bytes_out);
    out.append(",\"duration_ms\":");
    append_ms(out, r.duration_ms);
    if (!r.upstream.empty()) json_field(out, "upstream", r.upstream);
    if (r.upstream_duration_ms >= 0) {
      out.append(",\"upstream_duration_ms\":");
      append_ms(out, r.upstream_duration_ms);
    }
    if (!r.error.empty()) json_field(out, "error", r.error);
    out.append("}\n");
    return;
  }
  append_utc_time_ms(out, when);
  out.push_back(' ');
  out.append(r.client.empty() ? "-" : r.client).append(" \"");
  append_sanitized(out, r.method);
  out.push_back(' ');
  append_sanitized(out, r.path);
  out.append("\" ");
  append_number(out, static_cast<std::uint64_t>(r.status));
  out.push_back(' ');
  append_number(out, r.bytes_out);
  out.push_back(' ');
  append_number(out, static_cast<std::uint64_t>(r.duration_ms * 1000.0));
  out.append("us ");
  out.append(r.request_id.empty() ? "-" : r.request_id).push_back(' ');
  out.append(r.trace_id.empty() ? "-" : r.trace_id);
  if (!r.upstream.empty()) {
    out.append(" upstream=");
    append_sanitized(out, r.upstream);
    if (r.upstream_duration_ms >= 0) {
      out.push_back(' ');
      append_number(out, static_cast<std::uint64_t>(r.upstream_duration_ms * 1000.0));
      out.append("us");
    }
  }
  if (!r.error.empty()) out.append(" error=").append(r.error);
  out.push_back('\n');
}

void AccessLog::record(const AccessRecord& r) {
  format(r, std::chrono::system_clock::now(), buffer_);
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
