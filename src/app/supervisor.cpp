#include "app/supervisor.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>

#include "observability/log.hpp"

namespace workgate::app {

RestartBackoff::ms RestartBackoff::next(Clock::time_point started, Clock::time_point died) {
  if (died - started >= stable_) quick_deaths_ = 0;
  ms delay{0};
  if (quick_deaths_ > 0) {
    delay = first_;
    for (unsigned i = 1; i < quick_deaths_ && delay < max_; ++i)
      delay *= 2;
    delay = std::min(delay, max_);
  }
  if (quick_deaths_ < 1000) ++quick_deaths_;
  return delay;
}

namespace {
using Clock = std::chrono::steady_clock;

std::string describe(int status) {
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    const char* name = ::strsignal(sig);
    std::string text = "killed by signal " + std::to_string(sig) + " (" + (name ? name : "unknown") + ")";
    if (WCOREDUMP(status)) text += ", core dumped";
    return text;
  }
  return "exited with status " + std::to_string(WEXITSTATUS(status));
}

int exit_code(int status) {
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

class Supervisor {
 public:
  Supervisor(const std::vector<std::string>& child_args, const std::vector<std::vector<int>>& groups) {
    args_ = child_args;
    std::string list;
    for (const auto& group : groups) {
      if (!list.empty()) list += ';';
      for (std::size_t i = 0; i < group.size(); ++i)
        list += (i == 0 ? "" : ",") + std::to_string(group[i]);
      fds_.insert(fds_.end(), group.begin(), group.end());
    }
    args_.push_back("--listen-fds");
    args_.push_back(list);
  }

  int run() {
    sigset_t set;
    sigemptyset(&set);
    for (int sig : {SIGCHLD, SIGTERM, SIGINT, SIGHUP})
      sigaddset(&set, sig);
    sigprocmask(SIG_BLOCK, &set, &old_mask_);
    int sfd = ::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd < 0) {
      observability::log_error("supervisor: signalfd failed: {}", std::strerror(errno));
      return 1;
    }
    spawn();
    while (!done_) {
      int timeout = -1;
      if (restart_at_) {
        auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(*restart_at_ - Clock::now()).count();
        timeout = static_cast<int>(std::max<long long>(0, left));
      }
      pollfd pfd[2] = {{sfd, POLLIN, 0}, {ready_fd_, POLLIN, 0}};
      int n = poll(pfd, ready_fd_ >= 0 ? 2 : 1, timeout);
      if (n < 0 && errno != EINTR) {
        observability::log_error("supervisor: poll failed: {}", std::strerror(errno));
        break;
      }
      // Readiness first: a process that became ready and then died counts as having been ready.
      if (ready_fd_ >= 0 && pfd[1].revents != 0) read_ready();
      if (pfd[0].revents & POLLIN) {
        signalfd_siginfo si;
        while (::read(sfd, &si, sizeof(si)) == static_cast<ssize_t>(sizeof(si)))
          on_signal(static_cast<int>(si.ssi_signo));
      }
      if (!done_ && restart_at_ && Clock::now() >= *restart_at_) {
        restart_at_.reset();
        spawn();
      }
      observability::flush_repeated();
    }
    ::close(sfd);
    close_listeners();
    observability::flush_repeated();
    return code_;
  }

 private:
  void spawn() {
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK) != 0) {
      retry_later("pipe2", errno);
      return;
    }
    std::vector<std::string> args = {"workgate"};
    args.insert(args.end(), args_.begin(), args_.end());
    args.push_back("--ready-fd");
    args.push_back(std::to_string(pipe_fds[1]));
    std::vector<char*> argv;
    for (auto& a : args)
      argv.push_back(a.data());
    argv.push_back(nullptr);

    pid_t parent = ::getpid();
    pid_t pid = ::fork();
    if (pid == 0) {
      // The child: only async-signal-safe calls until execv. It dies with the supervisor, lives in its
      // own process group (a terminal's Ctrl-C reaches the supervisor, which forwards it once) and
      // inherits the listening sockets and the write end of the readiness pipe.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
      ::setpgid(0, 0);
      for (int fd : fds_)
        ::fcntl(fd, F_SETFD, 0);
      ::fcntl(pipe_fds[1], F_SETFD, 0);
      ::signal(SIGPIPE, SIG_DFL);
      ::sigprocmask(SIG_SETMASK, &old_mask_, nullptr);
      ::execv("/proc/self/exe", argv.data());
      ::_exit(127);
    }
    ::close(pipe_fds[1]);
    if (pid < 0) {
      ::close(pipe_fds[0]);
      retry_later("fork", errno);
      return;
    }
    child_ = pid;
    ready_fd_ = pipe_fds[0];
    ready_ = false;
    started_ = Clock::now();
    if (restarts_ > 0) {
      observability::log_info("started serving process {} (restart {})", pid, restarts_);
    } else {
      observability::log_debug("started serving process {}", pid);
    }
  }

  void retry_later(const char* what, int err) {
    auto delay = backoff_.next(Clock::now(), Clock::now());
    observability::log_error("supervisor: {} failed: {}; retrying in {} ms", what, std::strerror(err),
                             delay.count());
    restart_at_ = Clock::now() + std::max(delay, std::chrono::milliseconds(100));
  }

  void read_ready() {
    char c;
    ssize_t n = ::read(ready_fd_, &c, 1);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n == 1) {
      ready_ = true;
      ever_ready_ = true;
      if (pending_hup_ && child_ > 0) ::kill(child_, SIGHUP);
      pending_hup_ = false;
    }
    ::close(ready_fd_);  // after the byte or at EOF (the process is gone)
    ready_fd_ = -1;
  }

  void on_signal(int sig) {
    if (sig == SIGCHLD) {
      int status = 0;
      pid_t pid;
      while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
        if (pid == child_) on_child_exit(status);
      }
    } else if (sig == SIGHUP) {
      if (child_ > 0 && ready_) {
        ::kill(child_, SIGHUP);
      } else if (child_ > 0) {
        pending_hup_ = true;  // the serving process installs its handler when it is ready
      }
    } else {  // SIGTERM, SIGINT
      if (!stopping_) {
        stopping_ = true;
        restart_at_.reset();
        // New connections are refused once the serving process closes its copies (it does so when it
        // starts draining), as without the supervisor.
        close_listeners();
      }
      if (child_ > 0) {
        ::kill(child_, sig);
      } else {
        done_ = true;
        code_ = 0;
      }
    }
  }

  void on_child_exit(int status) {
    pid_t pid = child_;
    child_ = -1;
    if (ready_fd_ >= 0) read_ready();
    bool was_ready = ready_;
    ready_ = false;
    pending_hup_ = false;
    if (stopping_) {
      finish(status);
      return;
    }
    if (!was_ready && (WIFEXITED(status) || !ever_ready_)) {
      // A startup failure (the serving process printed why): starting again would fail the same way.
      if (ever_ready_ || WIFSIGNALED(status))
        observability::log_error("serving process {} {} while starting; stopping", pid, describe(status));
      finish(status);
      return;
    }
    if (was_ready && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
      observability::log_info("serving process {} exited with status 0; stopping", pid);
      finish(status);
      return;
    }
    auto now = Clock::now();
    auto delay = backoff_.next(started_, now);
    observability::log_error("serving process {} {}; restarting in {} ms", pid, describe(status),
                             delay.count());
    ++restarts_;
    restart_at_ = now + delay;
  }

  void finish(int status) {
    done_ = true;
    code_ = exit_code(status);
  }

  void close_listeners() {
    for (int fd : fds_)
      ::close(fd);
    fds_.clear();
  }

  std::vector<int> fds_;
  std::vector<std::string> args_;
  sigset_t old_mask_{};
  pid_t child_ = -1;
  int ready_fd_ = -1;
  bool ready_ = false;
  bool ever_ready_ = false;
  bool pending_hup_ = false;
  bool stopping_ = false;
  bool done_ = false;
  int code_ = 0;
  unsigned restarts_ = 0;
  Clock::time_point started_;
  std::optional<Clock::time_point> restart_at_;
  RestartBackoff backoff_;
};

}  // namespace

int run_supervisor(const std::vector<std::string>& child_args,
                   const std::vector<std::vector<int>>& listen_fds) {
  ::signal(SIGPIPE, SIG_IGN);
  Supervisor supervisor(child_args, listen_fds);
  return supervisor.run();
}

}  // namespace workgate::app
