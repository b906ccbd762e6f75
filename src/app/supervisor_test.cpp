#include "app/supervisor.hpp"

#include <gtest/gtest.h>

namespace workgate::app {
namespace {

using Clock = RestartBackoff::Clock;
using ms = std::chrono::milliseconds;

TEST(RestartBackoff, FirstDeathRestartsAtOnceThenDoublesUpToTheCap) {
  RestartBackoff backoff(ms(250), ms(4000), ms(10000));
  Clock::time_point t = Clock::time_point{} + std::chrono::hours(1);
  std::vector<long> delays;
  for (int i = 0; i < 8; ++i) {
    Clock::time_point started = t;
    t += ms(100);  // dies 100 ms after its start, every time
    delays.push_back(static_cast<long>(backoff.next(started, t).count()));
  }
  EXPECT_EQ(delays, (std::vector<long>{0, 250, 500, 1000, 2000, 4000, 4000, 4000}));
}

TEST(RestartBackoff, AProcessThatStayedUpResetsTheBackoff) {
  RestartBackoff backoff(ms(250), ms(4000), ms(10000));
  Clock::time_point t = Clock::time_point{} + std::chrono::hours(1);
  EXPECT_EQ(backoff.next(t, t + ms(10)).count(), 0);
  EXPECT_EQ(backoff.next(t, t + ms(20)).count(), 250);
  EXPECT_EQ(backoff.next(t, t + ms(30)).count(), 500);
  // Up for 9.999 s: still a quick death.
  EXPECT_EQ(backoff.next(t, t + ms(9999)).count(), 1000);
  // Up for 10 s: a fresh start.
  EXPECT_EQ(backoff.next(t, t + ms(10000)).count(), 0);
  EXPECT_EQ(backoff.next(t, t + ms(10)).count(), 250);
}

}  // namespace
}  // namespace workgate::app
