// The supervisor of `workgate serve`: a small single-threaded parent that owns the listening sockets and
// runs the serving process (the same binary, re-executed with the sockets and a readiness pipe). When
// the serving process dies (a worker module crashed it) it is started again at once (then with backoff
// if it keeps dying), and connections that arrive meanwhile wait in the listen backlog of the sockets the
// supervisor keeps open. SIGHUP/SIGTERM/SIGINT are forwarded; after SIGTERM/SIGINT the supervisor exits
// with the serving process's status. A serving process that exits with a status (not a signal) before it
// was ready ends the supervisor with that status: a startup failure (a config error) is not restarted.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace workgate::app {

// The delay before restarting a serving process that died: 0 for the first death, then doubling from
// `first` up to `max` while it keeps dying, back to 0 once a process stayed up for `stable`.
class RestartBackoff {
 public:
  using Clock = std::chrono::steady_clock;
  using ms = std::chrono::milliseconds;

  explicit RestartBackoff(ms first = ms(250), ms max = ms(4000), ms stable = ms(10000))
      : first_(first), max_(max), stable_(stable) {}

  // A serving process started at `started` died at `died`: how long to wait before the next one.
  ms next(Clock::time_point started, Clock::time_point died);

 private:
  ms first_;
  ms max_;
  ms stable_;
  unsigned quick_deaths_ = 0;
};

// Runs the supervisor. `child_args` are the `serve` arguments of the serving process (without the
// program name); the supervisor appends the inherited descriptors (`listen_fds`: per listener, the
// sockets bound by http::bind_listeners, not yet listening; passed as `--listen-fds 3,4;5,6`) and the
// readiness pipe. Returns the exit status.
int run_supervisor(const std::vector<std::string>& child_args,
                   const std::vector<std::vector<int>>& listen_fds);

}  // namespace workgate::app
