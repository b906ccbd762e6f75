#include "metrics/process.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "metrics/exposition.hpp"

namespace workgate::metrics {

std::optional<ProcessStats> parse_proc_stat(std::string_view stat, long ticks_per_second, long page_size,
                                            std::uint64_t boot_time) {
  // The command name (field 2) is in parentheses and may itself contain spaces and parentheses: the
  // fields after it start after the last ')'.
  auto close = stat.rfind(')');
  if (close == std::string_view::npos || ticks_per_second <= 0) return std::nullopt;
  std::string_view rest = stat.substr(close + 1);
  // Fields from 3 (state) on; we need 14 utime, 15 stime, 22 starttime, 23 vsize, 24 rss.
  std::uint64_t fields[25] = {};
  int index = 2;
  std::size_t pos = 0;
  while (index < 24 && pos < rest.size()) {
    while (pos < rest.size() && rest[pos] == ' ')
      ++pos;
    std::size_t end = rest.find(' ', pos);
    if (end == std::string_view::npos) end = rest.size();
    ++index;
    std::string_view field = rest.substr(pos, end - pos);
    if (index >= 14) {
      std::int64_t v = 0;
      auto r = std::from_chars(field.data(), field.data() + field.size(), v);
      if (r.ec != std::errc() || r.ptr != field.data() + field.size()) return std::nullopt;
      fields[index] = v < 0 ? 0 : static_cast<std::uint64_t>(v);
    }
    pos = end;
  }
  if (index < 24) return std::nullopt;
  ProcessStats out;
  out.cpu_seconds = static_cast<double>(fields[14] + fields[15]) / static_cast<double>(ticks_per_second);
  out.start_time_seconds = static_cast<double>(boot_time) +
                           static_cast<double>(fields[22]) / static_cast<double>(ticks_per_second);
  out.virtual_bytes = fields[23];
  out.resident_bytes = fields[24] * static_cast<std::uint64_t>(page_size);
  return out;
}

namespace {
std::string read_small_file(const char* path) {
  std::ifstream in(path, std::ios::binary);
  std::string text;
  char buf[4096];
  while (in && text.size() < 64 * 1024) {
    in.read(buf, sizeof(buf));
    text.append(buf, static_cast<std::size_t>(in.gcount()));
  }
  return text;
}

std::uint64_t boot_time() {
  static const std::uint64_t value = [] {
    std::string stat = read_small_file("/proc/stat");
    auto pos = stat.find("\nbtime ");
    if (pos == std::string::npos) return std::uint64_t{0};
    std::uint64_t v = 0;
    const char* begin = stat.data() + pos + 7;
    std::from_chars(begin, stat.data() + stat.size(), v);
    return v;
  }();
  return value;
}
}  // namespace

void write_process_metrics(TextWriter& out) {
  auto stats = parse_proc_stat(read_small_file("/proc/self/stat"), ::sysconf(_SC_CLK_TCK),
                               ::sysconf(_SC_PAGESIZE), boot_time());
  if (stats) {
    out.family("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.");
    out.sample("process_cpu_seconds_total", {}, stats->cpu_seconds);
    out.family("process_start_time_seconds", "gauge",
               "Start time of the process since unix epoch in seconds.");
    out.sample("process_start_time_seconds", {}, stats->start_time_seconds);
    out.family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
    out.sample("process_resident_memory_bytes", {}, stats->resident_bytes);
    out.family("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
    out.sample("process_virtual_memory_bytes", {}, stats->virtual_bytes);
  }
  std::error_code ec;
  std::uint64_t fds = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
    ++fds;
  if (!ec) {
    // The directory iterator's own descriptor is counted too, as in the Go and Python clients.
    out.family("process_open_fds", "gauge", "Number of open file descriptors.");
    out.sample("process_open_fds", {}, fds);
  }
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    out.family("process_max_fds", "gauge", "Maximum number of open file descriptors.");
    out.sample("process_max_fds", {}, static_cast<std::uint64_t>(limit.rlim_cur));
  }
}

}  // namespace workgate::metrics
