// The standard process_* metrics of Prometheus client libraries, read from /proc/self.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace workgate::metrics {

class TextWriter;

struct ProcessStats {
  double cpu_seconds = 0;         // user + system
  double start_time_seconds = 0;  // since the Unix epoch
  std::uint64_t resident_bytes = 0;
  std::uint64_t virtual_bytes = 0;
};

// Parses /proc/self/stat (`stat`) given the clock ticks per second, the page size and the boot time
// (the btime line of /proc/stat, seconds since the epoch). Null when the text is malformed.
std::optional<ProcessStats> parse_proc_stat(std::string_view stat, long ticks_per_second, long page_size,
                                            std::uint64_t boot_time);

// Writes process_cpu_seconds_total, process_start_time_seconds, process_resident_memory_bytes,
// process_virtual_memory_bytes, process_open_fds and process_max_fds (what /proc offers of them).
void write_process_metrics(TextWriter& out);

}  // namespace workgate::metrics
