#include "common/spare_list.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace workgate {
namespace {

TEST(SpareList, TakesTheMostRecentlyKeptFirstThenDefaults) {
  SpareList<std::string, 4> spares;
  std::string a = "a", b = "b";
  spares.keep(a);
  spares.keep(b);
  EXPECT_EQ(spares.take(), "b");
  EXPECT_EQ(spares.take(), "a");
  EXPECT_EQ(spares.take(), "");
}

TEST(SpareList, KeepsAtMostMaxAndLeavesTheRestToTheCaller) {
  SpareList<std::unique_ptr<int>, 2> spares;
  for (int i = 0; i < 2; ++i) {
    auto p = std::make_unique<int>(i);
    spares.keep(p);
    EXPECT_EQ(p, nullptr) << "kept: moved from";
  }
  EXPECT_TRUE(spares.full());
  auto extra = std::make_unique<int>(9);
  spares.keep(extra);
  ASSERT_NE(extra, nullptr) << "full: the caller still owns it (and frees it)";
  EXPECT_EQ(spares.size(), 2u);
  EXPECT_EQ(*spares.take(), 1);
  EXPECT_FALSE(spares.full());
}

}  // namespace
}  // namespace workgate
