#include <gtest/gtest.h>

#include <memory>

#include "pipeline/gateway_handler.hpp"

namespace workgate::pipeline {
namespace {

TEST(SnapshotSource, ReplacedSnapshotsLiveUntilNobodyHoldsThemThenCollectDestroysThem) {
  SnapshotSource source;
  auto first = std::make_shared<const Snapshot>();
  std::weak_ptr<const Snapshot> first_weak = first;
  source.publish(std::move(first));
  std::uint64_t generation = source.generation();

  auto pinned = source.current();  // a shard (or an exchange in flight) holds the first snapshot
  source.publish(std::make_shared<const Snapshot>());
  EXPECT_GT(source.generation(), generation);
  EXPECT_NE(source.current(), pinned);

  EXPECT_EQ(source.collect(), 1u);  // still held: kept
  EXPECT_FALSE(first_weak.expired());

  pinned.reset();  // the holder lets go: it never runs the destructor itself
  EXPECT_FALSE(first_weak.expired()) << "the last reference is the source's, not the event loop's";
  EXPECT_EQ(source.collect(), 0u);
  EXPECT_TRUE(first_weak.expired()) << "collect() destroys it on its caller's thread";
}

TEST(SnapshotSource, TheCurrentSnapshotIsNeverCollected) {
  SnapshotSource source;
  source.publish(std::make_shared<const Snapshot>());
  std::weak_ptr<const Snapshot> current = source.current();
  EXPECT_EQ(source.collect(), 0u);
  EXPECT_FALSE(current.expired());
}

}  // namespace
}  // namespace workgate::pipeline
