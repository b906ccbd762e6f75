#include "workers/reaper.hpp"

#include <pthread.h>

#include <exception>
#include <system_error>
#include <utility>

#include "observability/log.hpp"

namespace workgate::workers {

Reaper::Reaper(Clock clock) : clock_(std::move(clock)) {}

Reaper::~Reaper() {
  shutdown();
}

Reaper& Reaper::process() {
  static Reaper reaper;  // constructed on first use (after logging is set up), joined at exit at the latest
  return reaper;
}

void Reaper::retire(std::string what, std::function<void()> task) {
  Task t{std::move(what), std::move(task)};
  {
    std::lock_guard lock(mutex_);
    if (!stopped_ && !stopping_) {
      if (!thread_.joinable()) {
        try {
          thread_ = std::thread([this] { loop(); });
          stats_.thread_started = true;
        } catch (const std::system_error&) {
          // No thread to be had: run it here rather than not at all (below).
        }
      }
      if (thread_.joinable()) {
        queue_.push_back(std::move(t));
        ++stats_.pending;
        wake_.notify_one();
        return;
      }
    } else if (stopping_ && !stopped_) {
      queue_.push_back(std::move(t));  // the thread drains the queue before it ends
      ++stats_.pending;
      wake_.notify_one();
      return;
    }
    ++stats_.pending;
  }
  run_one(t);
}

void Reaper::shutdown() {
  std::thread thread;
  {
    std::unique_lock lock(mutex_);
    stopping_ = true;
    if (!thread_.joinable()) {
      if (stats_.thread_started) {
        stopped_cv_.wait(lock, [this] { return stopped_; });  // another caller is joining it
      }
      stopped_ = true;
      return;
    }
    thread = std::move(thread_);
  }
  wake_.notify_all();
  if (thread.get_id() == std::this_thread::get_id()) {
    thread.detach();  // a task called shutdown(): the loop ends once the queue is empty
    return;
  }
  thread.join();
}

Reaper::Stats Reaper::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

void Reaper::loop() {
  ::pthread_setname_np(::pthread_self(), "wg-reaper");
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) {
      stopped_ = true;
      stopped_cv_.notify_all();
      return;
    }
    Task task = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    run_one(task);
    lock.lock();
  }
}

void Reaper::run_one(Task& task) {
  const auto begin = clock_();
  try {
    task.run();
  } catch (const std::exception& e) {
    observability::log_error("reaper: stopping {} failed: {}", task.what, e.what());
  } catch (...) {
    observability::log_error("reaper: stopping {} failed", task.what);
  }
  const auto took = std::chrono::duration_cast<std::chrono::nanoseconds>(clock_() - begin);
  {
    std::lock_guard lock(mutex_);
    ++stats_.done;
    --stats_.pending;
    stats_.total += took;
    if (took > stats_.longest) stats_.longest = took;
  }
  observability::log_debug("reaper: stopped {} in {:.1f} ms", task.what,
                           std::chrono::duration<double, std::milli>(took).count());
}

}  // namespace workgate::workers
