#include "workers/reaper.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

namespace workgate::workers {
namespace {

using namespace std::chrono_literals;

// What the tasks saw, in order (tasks run on the reaper thread).
struct Log {
  std::mutex mutex;
  std::vector<int> order;
  std::vector<std::thread::id> threads;
  void add(int n) {
    std::lock_guard lock(mutex);
    order.push_back(n);
    threads.push_back(std::this_thread::get_id());
  }
};

// A deadlock guard, not a timing assertion: `f` must be ready long before this.
constexpr auto kHang = 30s;

TEST(Reaper, RetireReturnsWhileAnEarlierTaskStillRuns) {
  Reaper reaper;
  Log log;
  std::promise<void> started, release;
  std::shared_future<void> released = release.get_future().share();
  reaper.retire("blocked", [&] {
    started.set_value();
    released.wait();  // a workerd engine that takes long to stop
    log.add(1);
  });
  ASSERT_EQ(started.get_future().wait_for(kHang), std::future_status::ready);
  // The reaper thread is busy: handing it another task must not wait for it (a shard calls this).
  auto second = std::async(std::launch::async, [&] { reaper.retire("second", [&] { log.add(2); }); });
  ASSERT_EQ(second.wait_for(kHang), std::future_status::ready) << "retire() waited for the running task";
  EXPECT_EQ(reaper.stats().pending, 2u);
  EXPECT_EQ(reaper.stats().done, 0u);
  release.set_value();
  reaper.shutdown();
  EXPECT_EQ(log.order, (std::vector<int>{1, 2}));  // one at a time, in order
  for (auto id : log.threads)
    EXPECT_NE(id, std::this_thread::get_id());
  EXPECT_EQ(log.threads[0], log.threads[1]);  // one thread
  EXPECT_EQ(reaper.stats().pending, 0u);
  EXPECT_EQ(reaper.stats().done, 2u);
}

TEST(Reaper, ShutdownRunsWhatIsQueuedThenJoins) {
  Reaper reaper;
  std::atomic<int> ran{0};
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  reaper.retire("first", [&] {
    released.wait();
    ++ran;
  });
  for (int i = 0; i < 5; ++i)
    reaper.retire("more", [&] { ++ran; });
  release.set_value();
  reaper.shutdown();  // returns once every task has run and the thread is joined
  EXPECT_EQ(ran.load(), 6);
  EXPECT_EQ(reaper.stats().done, 6u);
  reaper.shutdown();  // idempotent
}

TEST(Reaper, AfterShutdownATaskRunsOnTheCaller) {
  Reaper reaper;
  Log log;
  reaper.retire("before", [&] { log.add(1); });
  reaper.shutdown();
  reaper.retire("after", [&] { log.add(2); });  // the process is exiting: nothing to hand it to
  ASSERT_EQ(log.order, (std::vector<int>{1, 2}));
  EXPECT_NE(log.threads[0], std::this_thread::get_id());
  EXPECT_EQ(log.threads[1], std::this_thread::get_id());
  EXPECT_EQ(reaper.stats().done, 2u);
}

TEST(Reaper, NoThreadUntilTheFirstTask) {
  Reaper reaper;
  EXPECT_FALSE(reaper.stats().thread_started);
  reaper.shutdown();
  EXPECT_FALSE(reaper.stats().thread_started);
  bool ran = false;
  reaper.retire("inline", [&] { ran = true; });
  EXPECT_TRUE(ran);
}

TEST(Reaper, ATaskThatThrowsDoesNotStopTheOthers) {
  Reaper reaper;
  std::atomic<int> ran{0};
  reaper.retire("throws", [] { throw std::runtime_error("cannot remove the runtime directory"); });
  reaper.retire("throws anything", [] { throw 42; });
  reaper.retire("after", [&] { ++ran; });
  reaper.shutdown();
  EXPECT_EQ(ran.load(), 1);
  EXPECT_EQ(reaper.stats().done, 3u);
}

TEST(Reaper, TasksAreTimedWithTheInjectedClock) {
  // Each reading of the clock is 7 ms after the previous one: a task (read before and after) takes 7 ms.
  std::atomic<int> readings{0};
  Reaper reaper([&] { return std::chrono::steady_clock::time_point(7ms * readings.fetch_add(1)); });
  for (int i = 0; i < 3; ++i)
    reaper.retire("engine", [] {});
  reaper.shutdown();
  Reaper::Stats stats = reaper.stats();
  EXPECT_EQ(stats.done, 3u);
  EXPECT_EQ(stats.longest, 7ms);
  EXPECT_EQ(stats.total, 21ms);
  EXPECT_EQ(readings.load(), 6);
}

TEST(Reaper, TheDestructorJoins) {
  std::atomic<int> ran{0};
  {
    Reaper reaper;
    for (int i = 0; i < 4; ++i)
      reaper.retire("task", [&] { ++ran; });
  }
  EXPECT_EQ(ran.load(), 4);
}

TEST(Reaper, ManyThreadsRetireConcurrently) {
  Reaper reaper;
  std::atomic<int> ran{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 250; ++i)
        reaper.retire("task", [&] { ++ran; });
    });
  }
  for (auto& t : threads)
    t.join();
  reaper.shutdown();
  EXPECT_EQ(ran.load(), 1000);
  EXPECT_EQ(reaper.stats().pending, 0u);
}

TEST(Reaper, ARetireDuringShutdownIsNotLost) {
  Reaper reaper;
  std::atomic<int> ran{0};
  std::promise<void> started, release;
  std::shared_future<void> released = release.get_future().share();
  reaper.retire("first", [&] {
    started.set_value();
    released.wait();
    ++ran;
  });
  ASSERT_EQ(started.get_future().wait_for(kHang), std::future_status::ready);
  std::thread closer([&] { reaper.shutdown(); });
  // Whether shutdown() has begun or not, the task runs (queued, or on this thread once stopped).
  reaper.retire("late", [&] { ++ran; });
  release.set_value();
  closer.join();
  reaper.shutdown();
  EXPECT_EQ(ran.load(), 2);
}

}  // namespace
}  // namespace workgate::workers
