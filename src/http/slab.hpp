// Slabs for the few objects an idle connection keeps (the Connection itself, its pending readiness wait).
//
// Why not malloc: a connection's short-lived memory (read buffer, exchange, parser, response) is allocated
// right after the Connection and freed when it goes idle. In malloc's heap the two interleave, so
// thousands of idle connections leave a hole of a few KiB after each live object: pages that neither
// malloc_trim nor a later burst can give back (measured: ~570 B of holes per idle connection beside
// ~700 B in use). Kept apart in their own 64 KiB chunks, the long-lived objects are dense, and the
// short-lived memory they no longer interleave coalesces into free pages that malloc_trim returns.
//
// One pool per shard, used on the shard's thread only (no lock). Objects up to kMaxObject bytes, in
// classes of 64 bytes. A chunk whose last object is freed is kept empty (for any class) and goes back to
// the OS only when release_unused() finds it was not needed since the call before: giving it back at once
// made a steady load map, fault in and unmap a chunk every ~70 proxied requests (a call lives in the pool
// too), 3-4% of a request's CPU. The shard calls release_unused() from its sweep (every 100 ms), so RSS
// still comes back after the connections close.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <new>

namespace workgate::http {

class SlabPool {
 public:
  static constexpr std::size_t kChunkBytes = 64 * 1024;
  static constexpr std::size_t kGranule = 64;
  static constexpr std::size_t kMaxObject = 1024;

  SlabPool() = default;
  ~SlabPool();
  SlabPool(const SlabPool&) = delete;
  SlabPool& operator=(const SlabPool&) = delete;

  // Throws std::bad_alloc. Larger objects (and over-aligned ones) go to operator new.
  void* allocate(std::size_t bytes, std::size_t alignment);
  void deallocate(void* p, std::size_t bytes, std::size_t alignment) noexcept;

  // Returns to the OS the empty chunks that no allocation needed since the previous call (the fewest
  // there were at any moment in between), keeping the rest against churn.
  void release_unused();

  // Mapped chunks (empty ones included), blocks handed out from them, empty chunks kept; for tests.
  std::size_t chunks() const { return chunks_; }
  std::size_t empty_chunks() const { return empty_count_; }
  std::size_t chunks_mapped_ever() const { return mapped_ever_; }
  std::size_t blocks_in_use() const { return blocks_in_use_; }

 private:
  struct Chunk;
  struct FreeBlock {
    FreeBlock* next;
  };
  static constexpr std::size_t kClasses = kMaxObject / kGranule;
  static bool pooled(std::size_t bytes, std::size_t alignment) {
    return bytes <= kMaxObject && alignment <= kGranule;
  }
  static std::size_t class_of(std::size_t bytes) { return bytes == 0 ? 0 : (bytes - 1) / kGranule; }
  Chunk* new_chunk(std::size_t cls);
  void release_chunk(Chunk* chunk);
  static void unlink(Chunk*& head, Chunk* chunk);
  static void push(Chunk*& head, Chunk* chunk);

  // Per class: chunks with a free block (newest first).
  std::array<Chunk*, kClasses> partial_{};
  Chunk* full_ = nullptr;   // every chunk with no free block, any class (kept linked for ~SlabPool)
  Chunk* empty_ = nullptr;  // chunks with no live block, any class, newest first
  std::size_t empty_count_ = 0;
  std::size_t empty_low_ = 0;  // the fewest empty chunks since the last release_unused()
  std::size_t chunks_ = 0;
  std::size_t mapped_ever_ = 0;
  std::size_t blocks_in_use_ = 0;
};

// A standard allocator over a SlabPool (allocate_shared, asio::bind_allocator).
template <class T>
class SlabAllocator {
 public:
  using value_type = T;
  explicit SlabAllocator(SlabPool& pool) noexcept : pool_(&pool) {}
  template <class U>
  SlabAllocator(const SlabAllocator<U>& other) noexcept : pool_(other.pool()) {}  // NOLINT: rebinding
  T* allocate(std::size_t n) { return static_cast<T*>(pool_->allocate(n * sizeof(T), alignof(T))); }
  void deallocate(T* p, std::size_t n) noexcept { pool_->deallocate(p, n * sizeof(T), alignof(T)); }
  SlabPool* pool() const noexcept { return pool_; }
  template <class U>
  bool operator==(const SlabAllocator<U>& other) const noexcept {
    return pool_ == other.pool();
  }

 private:
  SlabPool* pool_;
};

}  // namespace workgate::http
