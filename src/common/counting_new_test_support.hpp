// Counts heap allocations, so that a test can check that a path does not allocate. It replaces the global
// operator new and delete: include it from exactly one source file of a test binary.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <new>

namespace workgate::testing {
inline std::atomic<std::size_t> g_allocations{0};
}  // namespace workgate::testing

// GCC flags free() here once it inlines these replacements into new/delete pairs (a false positive).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t size) {
  workgate::testing::g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
#pragma GCC diagnostic pop
