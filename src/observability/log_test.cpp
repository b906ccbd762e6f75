#include "observability/log.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace workgate::observability {
namespace {

using Clock = RepeatFilter::Clock;
using std::chrono::milliseconds;
using Lines = std::vector<std::string>;

class RepeatFilterTest : public ::testing::Test {
 protected:
  RepeatFilter filter{milliseconds(1000), 4};
  Clock::time_point t0 = Clock::time_point{} + std::chrono::hours(1);

  Lines log(std::string_view message, milliseconds at,
            spdlog::level::level_enum level = spdlog::level::warn) {
    std::vector<RepeatFilter::Line> out;
    filter.log(level, message, t0 + at, out);
    return texts(out);
  }
  Lines flush(milliseconds at, bool all = false) {
    std::vector<RepeatFilter::Line> out;
    filter.flush(t0 + at, out, all);
    return texts(out);
  }
  static Lines texts(const std::vector<RepeatFilter::Line>& out) {
    Lines lines;
    for (const auto& l : out)
      lines.push_back(l.text);
    return lines;
  }
};

TEST_F(RepeatFilterTest, FirstOccurrenceIsWrittenRepeatsInTheWindowAreCounted) {
  EXPECT_EQ(log("accept failed: Too many open files", milliseconds(0)),
            Lines{"accept failed: Too many open files"});
  for (int i = 1; i <= 19; ++i)
    EXPECT_EQ(log("accept failed: Too many open files", milliseconds(50 * i)), Lines{}) << i;
  EXPECT_EQ(flush(milliseconds(999)), Lines{});
  EXPECT_EQ(flush(milliseconds(1000)), Lines{"accept failed: Too many open files (repeated 19 times)"});
  EXPECT_TRUE(filter.empty());
  // After the summary the message is new again.
  EXPECT_EQ(log("accept failed: Too many open files", milliseconds(1200)),
            Lines{"accept failed: Too many open files"});
}

TEST_F(RepeatFilterTest, SteadyFloodWritesOneLinePerWindow) {
  std::vector<Lines> written;
  for (int i = 0; i < 60; ++i) {  // every 50 ms for 3 s
    Lines l = log("upstream api:80: connect failed: Connection refused", milliseconds(50 * i));
    if (!l.empty()) written.push_back(l);
  }
  ASSERT_EQ(written.size(), 3u);
  EXPECT_EQ(written[0], Lines{"upstream api:80: connect failed: Connection refused"});
  EXPECT_EQ(written[1], Lines{"upstream api:80: connect failed: Connection refused (repeated 20 times)"});
  EXPECT_EQ(written[2], Lines{"upstream api:80: connect failed: Connection refused (repeated 20 times)"});
  EXPECT_EQ(flush(milliseconds(3000)),
            Lines{"upstream api:80: connect failed: Connection refused (repeated 19 times)"});
}

TEST_F(RepeatFilterTest, DifferentTextOrLevelIsADifferentMessage) {
  EXPECT_EQ(log("a", milliseconds(0)), Lines{"a"});
  EXPECT_EQ(log("b", milliseconds(1)), Lines{"b"});
  EXPECT_EQ(log("a", milliseconds(2), spdlog::level::err), Lines{"a"});
  EXPECT_EQ(log("a", milliseconds(3)), Lines{});
  EXPECT_EQ(flush(milliseconds(1000)), Lines{"a (repeated 1 time)"});
  EXPECT_EQ(flush(milliseconds(5000)), Lines{});
}

TEST_F(RepeatFilterTest, OldestIsSummedUpWhenFull) {
  EXPECT_EQ(log("m0", milliseconds(0)), Lines{"m0"});
  EXPECT_EQ(log("m0", milliseconds(1)), Lines{});
  EXPECT_EQ(log("m1", milliseconds(2)), Lines{"m1"});
  EXPECT_EQ(log("m2", milliseconds(3)), Lines{"m2"});
  EXPECT_EQ(log("m3", milliseconds(4)), Lines{"m3"});
  EXPECT_EQ(log("m4", milliseconds(5)), (Lines{"m0 (repeated 1 time)", "m4"}));
  EXPECT_EQ(log("m0", milliseconds(6)), Lines{"m0"});  // m1 evicted silently (no repeats)
  EXPECT_EQ(flush(milliseconds(7), /*all=*/true), Lines{});
  EXPECT_TRUE(filter.empty());
}

TEST_F(RepeatFilterTest, ANewMessageAlsoWritesExpiredSummaries) {
  EXPECT_EQ(log("x", milliseconds(0)), Lines{"x"});
  EXPECT_EQ(log("x", milliseconds(10)), Lines{});
  EXPECT_EQ(log("y", milliseconds(1500)), (Lines{"x (repeated 1 time)", "y"}));
}

}  // namespace
}  // namespace workgate::observability
