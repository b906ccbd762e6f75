#include "http/malloc_tuning.hpp"

#include <gtest/gtest.h>
#include <malloc.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

namespace workgate::http {
namespace {

TEST(MallocThresholds, TheOperatorsTunablesOrVariablesWin) {
  EXPECT_FALSE(malloc_thresholds_set_by_environment(nullptr, nullptr, nullptr));
  EXPECT_FALSE(malloc_thresholds_set_by_environment("", nullptr, nullptr));
  EXPECT_FALSE(malloc_thresholds_set_by_environment("glibc.malloc.arena_max=2", nullptr, nullptr));
  EXPECT_FALSE(malloc_thresholds_set_by_environment("glibc.malloc.trim_threshold_x=1", nullptr, nullptr));
  EXPECT_FALSE(malloc_thresholds_set_by_environment("x.glibc.malloc.trim_threshold=1", nullptr, nullptr));
  EXPECT_TRUE(malloc_thresholds_set_by_environment("glibc.malloc.trim_threshold=131072", nullptr, nullptr));
  EXPECT_TRUE(malloc_thresholds_set_by_environment("glibc.malloc.arena_max=2:glibc.malloc.mmap_threshold=1",
                                                   nullptr, nullptr));
  EXPECT_TRUE(malloc_thresholds_set_by_environment("glibc.malloc.trim_threshold", nullptr, nullptr));
  EXPECT_TRUE(malloc_thresholds_set_by_environment(nullptr, "65536", nullptr));
  EXPECT_TRUE(malloc_thresholds_set_by_environment(nullptr, nullptr, "65536"));
}

[[maybe_unused]] std::size_t resident_kib() {  // unused under a sanitizer
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long size = 0, resident = 0;
  int got = std::fscanf(f, "%lu %lu", &size, &resident);
  std::fclose(f);
  return got == 2 ? resident * static_cast<std::size_t>(sysconf(_SC_PAGESIZE)) / 1024 : 0;
}

// A shard's burst: a thread fills its heap with connection-sized blocks and frees them from the top down,
// so that every free grows the heap's free top. With glibc's dynamic thresholds, the large transient block
// before it (mapped, then freed) raises the trim threshold to 6 MB, and everything below that stays resident
// whatever malloc_trim does; with the fixed thresholds, at most about kTrimThreshold plus the top pad does.
TEST(MallocThresholds, ABurstFreedFromTheTopOfAThreadHeapGoesBackToTheOs) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "the sanitizer's allocator has its own thresholds";
#else
  if (environment_sets_malloc_thresholds()) GTEST_SKIP() << "the environment sets malloc's thresholds";
  ASSERT_TRUE(tune_malloc_for_bursts());
  {
    constexpr std::size_t kTransient = 3 * 1024 * 1024;
    char* block = static_cast<char*>(std::malloc(kTransient));
    ASSERT_NE(block, nullptr);
    std::memset(block, 1, kTransient);
    asm volatile("" : : "r"(block) : "memory");
    std::free(block);
  }
  std::size_t before = resident_kib();
  std::thread([] {
    constexpr std::size_t kBlocks = 2048, kBlockBytes = 4000;  // 8 MB
    std::vector<char*> blocks(kBlocks);
    for (char*& b : blocks) {
      b = static_cast<char*>(std::malloc(kBlockBytes));
      std::memset(b, 1, kBlockBytes);
    }
    for (std::size_t i = kBlocks; i-- > 0;)
      std::free(blocks[i]);
  }).join();
  malloc_trim(0);
  std::size_t after = resident_kib();
  EXPECT_LT(after, before + (kTrimThreshold + 512 * 1024) / 1024) << "KiB resident before " << before;
#endif
}

}  // namespace
}  // namespace workgate::http
