#include "http/slab.hpp"

#include <gtest/gtest.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <set>
#include <vector>

namespace workgate::http {
namespace {

TEST(SlabPool, BlocksAreDistinctAlignedAndWritable) {
  SlabPool pool;
  std::vector<void*> blocks;
  std::set<std::uintptr_t> seen;
  for (int i = 0; i < 5000; ++i) {
    void* p = pool.allocate(368, alignof(std::max_align_t));
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % 64, 0u);
    std::memset(p, i & 0xff, 368);
    EXPECT_TRUE(seen.insert(reinterpret_cast<std::uintptr_t>(p)).second);
    blocks.push_back(p);
  }
  // No two blocks overlap: each still holds what was written into it.
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    auto* bytes = static_cast<unsigned char*>(blocks[i]);
    EXPECT_EQ(bytes[0], i & 0xff);
    EXPECT_EQ(bytes[367], i & 0xff);
  }
  // 384-byte blocks, 170 to a 64 KiB chunk (one granule is the chunk's header).
  EXPECT_EQ(pool.chunks(), (5000 + 169) / 170);
  for (void* p : blocks)
    pool.deallocate(p, 368, alignof(std::max_align_t));
  // Empty, kept until a release finds them unused since the release before.
  EXPECT_EQ(pool.chunks(), (5000 + 169) / 170);
  EXPECT_EQ(pool.empty_chunks(), pool.chunks());
  pool.release_unused();  // the first call only starts watching
  EXPECT_EQ(pool.chunks(), (5000 + 169) / 170);
  pool.release_unused();
  EXPECT_EQ(pool.chunks(), 0u);
  EXPECT_EQ(pool.empty_chunks(), 0u);
}

TEST(SlabPool, FreedBlocksAreReusedBeforeNewChunks) {
  SlabPool pool;
  std::vector<void*> blocks;
  for (int i = 0; i < 1000; ++i)
    blocks.push_back(pool.allocate(100, 8));
  std::size_t chunks = pool.chunks();
  for (int round = 0; round < 10; ++round) {
    for (std::size_t i = 0; i < blocks.size(); i += 2) {
      pool.deallocate(blocks[i], 100, 8);
      blocks[i] = nullptr;
    }
    for (std::size_t i = 0; i < blocks.size(); i += 2)
      blocks[i] = pool.allocate(100, 8);
    EXPECT_EQ(pool.chunks(), chunks);
  }
  for (void* p : blocks)
    pool.deallocate(p, 100, 8);
}

TEST(SlabPool, SizeClassesDoNotShareChunks) {
  SlabPool pool;
  void* small = pool.allocate(64, 8);
  void* large = pool.allocate(65, 8);
  auto chunk_of = [](void* p) { return reinterpret_cast<std::uintptr_t>(p) & ~(SlabPool::kChunkBytes - 1); };
  EXPECT_NE(chunk_of(small), chunk_of(large));
  EXPECT_EQ(pool.chunks(), 2u);
  pool.deallocate(small, 64, 8);
  pool.deallocate(large, 65, 8);
}

TEST(SlabPool, EmptyChunksGoBackOnlyWhenUnusedForAWholeInterval) {
  SlabPool pool;
  std::vector<void*> blocks;
  for (int i = 0; i < 64 * 10; ++i)  // 1 KiB blocks: 63 to a chunk
    blocks.push_back(pool.allocate(1024, 8));
  EXPECT_EQ(pool.chunks(), 11u);
  std::reverse(blocks.begin(), blocks.end());
  for (void* p : blocks)
    pool.deallocate(p, 1024, 8);
  EXPECT_EQ(pool.chunks(), 11u);
  EXPECT_EQ(pool.empty_chunks(), 11u);
  pool.release_unused();
  EXPECT_EQ(pool.chunks(), 11u);

  // In the next interval, 3 empty chunks are taken again (by another class: an empty chunk serves any)
  // and given back: at the lowest there were 8 empty, so 8 go and the 3 the load used stay.
  std::vector<void*> small;
  for (int i = 0; i < 3 * 1000; ++i)  // 64-byte blocks: 1023 to a chunk
    small.push_back(pool.allocate(64, 8));
  EXPECT_EQ(pool.chunks(), 11u);
  EXPECT_EQ(pool.empty_chunks(), 8u);
  for (void* p : small)
    pool.deallocate(p, 64, 8);
  EXPECT_EQ(pool.empty_chunks(), 11u);
  pool.release_unused();
  EXPECT_EQ(pool.chunks(), 3u);
  pool.release_unused();
  EXPECT_EQ(pool.chunks(), 0u);
}

TEST(SlabPool, AChunkChurningUnderASteadyLoadIsNeitherMappedNorUnmapped) {
  // 64 concurrent 1 KiB objects straddle two chunks; as they come and go, one chunk or the other empties
  // again and again. Nothing goes back to the OS while the load needs it, however many intervals pass.
  SlabPool pool;
  std::vector<void*> live;
  for (int i = 0; i < 64; ++i)
    live.push_back(pool.allocate(1024, 8));
  std::size_t chunks = pool.chunks();
  for (int interval = 0; interval < 20; ++interval) {
    for (int round = 0; round < 50; ++round) {
      for (void* p : live)
        pool.deallocate(p, 1024, 8);
      for (void*& p : live)
        p = pool.allocate(1024, 8);
    }
    pool.release_unused();
    EXPECT_EQ(pool.chunks(), chunks);
  }
  EXPECT_EQ(pool.chunks_mapped_ever(), chunks);
  for (void* p : live)
    pool.deallocate(p, 1024, 8);
}

TEST(SlabPool, LargeAndOverAlignedObjectsUseOperatorNew) {
  SlabPool pool;
  void* big = pool.allocate(4096, 8);
  void* aligned = pool.allocate(64, 128);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(aligned) % 128, 0u);
  EXPECT_EQ(pool.chunks(), 0u);
  pool.deallocate(big, 4096, 8);
  pool.deallocate(aligned, 64, 128);
  pool.deallocate(nullptr, 64, 8);  // like delete of null
}

TEST(SlabPool, LiveBlocksAtDestructionAreReleasedWithTheirChunks) {
  // The pool owns its chunks: whatever is still allocated goes with it (ASan checks that nothing leaks).
  auto pool = std::make_unique<SlabPool>();
  for (int i = 0; i < 500; ++i)
    pool->allocate(200, 8);
  EXPECT_GT(pool->chunks(), 1u);
  pool.reset();
}

struct Tracked {
  explicit Tracked(int& count) : count(count) { ++count; }
  ~Tracked() { --count; }
  int& count;
  char payload[300];
};

TEST(SlabAllocator, WorksWithAllocateShared) {
  SlabPool pool;
  int live = 0;
  {
    std::vector<std::shared_ptr<Tracked>> objects;
    for (int i = 0; i < 300; ++i)
      objects.push_back(std::allocate_shared<Tracked>(SlabAllocator<Tracked>(pool), live));
    EXPECT_EQ(live, 300);
    EXPECT_GE(pool.chunks(), 1u);
  }
  EXPECT_EQ(live, 0);
  EXPECT_EQ(pool.blocks_in_use(), 0u);
  EXPECT_EQ(pool.empty_chunks(), pool.chunks());
}

#if defined(__SANITIZE_ADDRESS__)
// A chunk given back to the OS leaves no poison behind: the next mapping at its address (a new thread's
// stack, found so in the e2e suite) must not be reported as used after poisoning.
TEST(SlabPool, AChunkGoesBackToTheOsUnpoisoned) {
  SlabPool pool;
  void* block = pool.allocate(200, 8);
  auto chunk = reinterpret_cast<std::uintptr_t>(block) & ~(std::uintptr_t{SlabPool::kChunkBytes} - 1);
  pool.deallocate(block, 200, 8);
  ASSERT_NE(__asan_region_is_poisoned(reinterpret_cast<void*>(chunk), SlabPool::kChunkBytes), nullptr);
  pool.release_unused();
  pool.release_unused();
  ASSERT_EQ(pool.chunks(), 0u);
  EXPECT_EQ(__asan_region_is_poisoned(reinterpret_cast<void*>(chunk), SlabPool::kChunkBytes), nullptr);
}

TEST(SlabPoolDeathTest, UseAfterFreeIsReportedUnderAddressSanitizer) {
  SlabPool pool;
  auto* p = static_cast<volatile char*>(pool.allocate(200, 8));
  p[0] = 1;
  pool.deallocate(const_cast<char*>(p), 200, 8);
  EXPECT_DEATH(p[0] = 2, "use-after-poison");
}
#endif

}  // namespace
}  // namespace workgate::http
