#include "http/slab.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <utility>

// Under AddressSanitizer the free blocks are poisoned, so a use after free of a Connection is still
// reported (until its block is reused), as it would be for operator new's memory.
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define WG_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define WG_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define WG_POISON(p, n) ((void)(p), (void)(n))
#define WG_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace workgate::http {

// At the start of each chunk (chunks are aligned to their size: a block's chunk is its address masked).
struct SlabPool::Chunk {
  Chunk* prev;
  Chunk* next;
  FreeBlock* free;
  std::uint32_t bump;  // offset of the first never-used block
  std::uint32_t live;
  std::uint16_t cls;
  bool full;  // on full_, not on partial_[cls]
};

namespace {

constexpr std::size_t kHeader = SlabPool::kGranule;  // the Chunk header, rounded to a granule

std::size_t block_size(std::size_t cls) {
  return (cls + 1) * SlabPool::kGranule;
}

}  // namespace

SlabPool::~SlabPool() {
  for (Chunk*& head : partial_) {
    while (head != nullptr)
      release_chunk(std::exchange(head, head->next));
  }
  while (empty_ != nullptr)
    release_chunk(std::exchange(empty_, empty_->next));
  while (full_ != nullptr)
    release_chunk(std::exchange(full_, full_->next));
}

void SlabPool::unlink(Chunk*& head, Chunk* chunk) {
  if (chunk->prev != nullptr) {
    chunk->prev->next = chunk->next;
  } else {
    head = chunk->next;
  }
  if (chunk->next != nullptr) chunk->next->prev = chunk->prev;
  chunk->prev = chunk->next = nullptr;
}

void SlabPool::push(Chunk*& head, Chunk* chunk) {
  chunk->prev = nullptr;
  chunk->next = head;
  if (head != nullptr) head->prev = chunk;
  head = chunk;
}

// mmap'd, not malloc'd: the chunks stay out of malloc's heap (which malloc_trim can then shrink), and
// an unused empty one goes straight back to the OS. Twice the size is mapped and the unaligned ends unmapped.
SlabPool::Chunk* SlabPool::new_chunk(std::size_t cls) {
  static_assert(sizeof(Chunk) <= kHeader && sizeof(FreeBlock) <= kGranule);
  void* raw = ::mmap(nullptr, 2 * kChunkBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) throw std::bad_alloc();
  auto start = reinterpret_cast<std::uintptr_t>(raw);
  std::uintptr_t aligned = (start + kChunkBytes - 1) & ~(std::uintptr_t{kChunkBytes} - 1);
  if (aligned > start) ::munmap(raw, aligned - start);
  std::uintptr_t end = start + 2 * kChunkBytes;
  if (end > aligned + kChunkBytes)
    ::munmap(reinterpret_cast<void*>(aligned + kChunkBytes), end - aligned - kChunkBytes);
  auto* chunk = new (reinterpret_cast<void*>(aligned)) Chunk{};
  WG_POISON(reinterpret_cast<char*>(chunk) + kHeader, kChunkBytes - kHeader);
  chunk->bump = kHeader;
  chunk->cls = static_cast<std::uint16_t>(cls);
  ++chunks_;
  ++mapped_ever_;
  return chunk;
}

// Unpoisoned first: AddressSanitizer's shadow of an unmapped range stays as it was, and whatever the kernel
// maps there next (a thread's stack and TLS, say) would be reported as used after poisoning.
void SlabPool::release_chunk(Chunk* chunk) {
  --chunks_;
  WG_UNPOISON(chunk, kChunkBytes);
  ::munmap(chunk, kChunkBytes);
}

void* SlabPool::allocate(std::size_t bytes, std::size_t alignment) {
  if (!pooled(bytes, alignment)) return ::operator new (bytes, std::align_val_t{alignment});
  std::size_t cls = class_of(bytes);
  Chunk* chunk = partial_[cls];
  if (chunk == nullptr) {
    if (empty_ != nullptr) {
      chunk = empty_;
      unlink(empty_, chunk);
      empty_low_ = std::min(empty_low_, --empty_count_);
      chunk->cls = static_cast<std::uint16_t>(cls);
    } else {
      chunk = new_chunk(cls);
    }
    push(partial_[cls], chunk);
  }
  void* block;
  if (chunk->free != nullptr) {
    block = chunk->free;
    WG_UNPOISON(block, block_size(cls));
    chunk->free = chunk->free->next;
  } else {
    block = reinterpret_cast<char*>(chunk) + chunk->bump;
    WG_UNPOISON(block, block_size(cls));
    chunk->bump += static_cast<std::uint32_t>(block_size(cls));
  }
  ++chunk->live;
  ++blocks_in_use_;
  if (chunk->free == nullptr && chunk->bump + block_size(cls) > kChunkBytes) {
    unlink(partial_[cls], chunk);
    push(full_, chunk);
    chunk->full = true;
  }
  return block;
}

void SlabPool::deallocate(void* p, std::size_t bytes, std::size_t alignment) noexcept {
  if (p == nullptr) return;
  if (!pooled(bytes, alignment)) {
    ::operator delete (p, std::align_val_t{alignment});
    return;
  }
  auto* chunk =
      reinterpret_cast<Chunk*>(reinterpret_cast<std::uintptr_t>(p) & ~(std::uintptr_t{kChunkBytes} - 1));
  std::size_t cls = chunk->cls;
  auto* block = static_cast<FreeBlock*>(p);
  block->next = chunk->free;
  chunk->free = block;
  WG_POISON(block, block_size(cls));
  --chunk->live;
  --blocks_in_use_;
  if (chunk->full) {
    unlink(full_, chunk);
    push(partial_[cls], chunk);
    chunk->full = false;
  }
  if (chunk->live == 0) {
    // Kept empty: its blocks start again from the beginning, for whichever class needs a chunk next.
    unlink(partial_[cls], chunk);
    chunk->free = nullptr;
    chunk->bump = kHeader;
    push(empty_, chunk);
    ++empty_count_;
  }
}

void SlabPool::release_unused() {
  for (; empty_low_ > 0 && empty_ != nullptr; --empty_low_, --empty_count_)
    release_chunk(std::exchange(empty_, empty_->next));
  if (empty_ != nullptr) empty_->prev = nullptr;
  empty_low_ = empty_count_;
}

}  // namespace workgate::http
