// glibc malloc's trim and mmap thresholds, fixed for a server whose memory comes in bursts of connections.
//
// glibc's defaults are dynamic: freeing a block that was mmap'd raises the mmap threshold to its size and
// the trim threshold to twice that (up to 32 and 64 MiB). The trim threshold is all that ever returns the
// free memory at the top of a thread's heap: malloc_trim() gives back free pages inside a heap but never
// its top for any arena but the main one. One large transient block (the serving process frees a 1.3 MB
// one at start) so left every shard's heap free to keep up to 2.6 MB of a closed burst resident, in one
// burst of 10,000 connections in three, depending only on the order the connections went away.
//
// Fixed thresholds (which glibc then no longer moves) bound that to `kTrimThreshold` plus glibc's top pad
// (128 KiB) per heap. Blocks below the mmap threshold come from the heap and are reused without page faults;
// larger ones (request bodies buffered whole, past 1 MiB) are mapped and unmapped, as glibc does for any
// block above 128 KiB until it has seen one freed. An operator's own choice (GLIBC_TUNABLES
// glibc.malloc.trim_threshold / mmap_threshold, MALLOC_TRIM_THRESHOLD_ / MALLOC_MMAP_THRESHOLD_) wins.
#pragma once

#include <cstddef>

namespace workgate::http {

inline constexpr std::size_t kTrimThreshold = 1024 * 1024;
inline constexpr std::size_t kMmapThreshold = 1024 * 1024;

// Whether the environment already sets either threshold (then tune_malloc_for_bursts leaves both alone).
// `tunables` is GLIBC_TUNABLES' value (a colon-separated list of name=value), the others the legacy
// variables' (null when unset).
bool malloc_thresholds_set_by_environment(const char* tunables, const char* trim_threshold,
                                          const char* mmap_threshold);

// The same for this process's environment.
bool environment_sets_malloc_thresholds();

// Sets both thresholds once per process (later calls do nothing); returns whether they are ours now. A
// no-op under a sanitizer's allocator.
bool tune_malloc_for_bursts();

}  // namespace workgate::http
