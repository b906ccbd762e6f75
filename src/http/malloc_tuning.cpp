#include "http/malloc_tuning.hpp"

#include <malloc.h>

#include <cstdlib>
#include <mutex>
#include <string_view>

namespace workgate::http {

bool malloc_thresholds_set_by_environment(const char* tunables, const char* trim_threshold,
                                          const char* mmap_threshold) {
  if (trim_threshold != nullptr || mmap_threshold != nullptr) return true;
  if (tunables == nullptr) return false;
  std::string_view list(tunables);
  while (!list.empty()) {
    std::size_t end = list.find(':');
    std::string_view item = list.substr(0, end);
    std::string_view name = item.substr(0, item.find('='));
    if (name == "glibc.malloc.trim_threshold" || name == "glibc.malloc.mmap_threshold") return true;
    if (end == std::string_view::npos) break;
    list.remove_prefix(end + 1);
  }
  return false;
}

bool environment_sets_malloc_thresholds() {
  return malloc_thresholds_set_by_environment(std::getenv("GLIBC_TUNABLES"),
                                              std::getenv("MALLOC_TRIM_THRESHOLD_"),
                                              std::getenv("MALLOC_MMAP_THRESHOLD_"));
}

bool tune_malloc_for_bursts() {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  return false;  // the sanitizer's allocator ignores glibc's thresholds
#else
  static std::once_flag once;
  static bool tuned = false;
  std::call_once(once, [] {
    if (environment_sets_malloc_thresholds()) return;
    // Setting either makes glibc stop moving both; the mmap one is set too, or it would stay at 128 KiB.
    tuned = mallopt(M_MMAP_THRESHOLD, static_cast<int>(kMmapThreshold)) == 1 &&
            mallopt(M_TRIM_THRESHOLD, static_cast<int>(kTrimThreshold)) == 1;
  });
  return tuned;
#endif
}

}  // namespace workgate::http
