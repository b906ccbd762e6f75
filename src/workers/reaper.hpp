// The reaper: one process-wide thread that runs slow clean-ups handed to it, off the threads that serve.
//
// A config reload replaces the JavaScript engine (js_engine.hpp): the old workerd processes must be
// stopped (the engine's supervisor thread joined, each process killed and waited for, the runtime
// directory removed), which takes tens of milliseconds. The last reference to the old engine can go on
// whatever thread drops it last: the main thread collecting the old snapshot, or a shard's event loop
// finishing the last call that held it. Engine::start hands its engines to Reaper::process() through the
// shared_ptr's deleter, so that thread only queues the engine (a lock, a push, a notify) and the reaper
// thread stops it.
//
// Tasks run one at a time, in the order they were retired. The thread starts on the first retire() (a
// process that never replaces an engine has none) and is joined by shutdown(), which runs what is still
// queued first: `workgate` calls it when a command ends, after the last snapshot is gone. A task retired
// after shutdown() runs on the caller's thread (the process is exiting; nothing serves any more).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace workgate::workers {

class Reaper {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  // `clock` times each task (stats(), the debug log line); tests inject one.
  explicit Reaper(Clock clock = &std::chrono::steady_clock::now);
  ~Reaper();  // shutdown()
  Reaper(const Reaper&) = delete;
  Reaper& operator=(const Reaper&) = delete;

  // Queues `task` and returns without waiting for it. `what` names it in the log ("workerd engine").
  void retire(std::string what, std::function<void()> task);

  // Runs the queued tasks, then joins the thread. Idempotent; later retire() calls run inline.
  void shutdown();

  struct Stats {
    std::uint64_t done = 0;   // tasks run (a task that threw counts too)
    std::size_t pending = 0;  // queued or running
    std::chrono::nanoseconds longest{0};
    std::chrono::nanoseconds total{0};
    bool thread_started = false;
  };
  Stats stats() const;

  // The process-wide reaper (JavaScript engines). Never destroyed before main returns.
  static Reaper& process();

 private:
  struct Task {
    std::string what;
    std::function<void()> run;
  };
  void loop();
  void run_one(Task& task);

  Clock clock_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;        // the thread: a task or shutdown
  std::condition_variable stopped_cv_;  // a second shutdown() caller: the thread has drained the queue
  std::deque<Task> queue_;
  bool stopping_ = false;
  bool stopped_ = false;
  Stats stats_;
  std::thread thread_;
};

}  // namespace workgate::workers
