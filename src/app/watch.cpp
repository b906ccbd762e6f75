#include "app/watch.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "observability/log.hpp"

namespace workgate::app {
namespace fs = std::filesystem;

namespace {

// What changes a file in a directory: written and closed, created, renamed in or out, deleted, its
// attributes (a `touch`), and a Kubernetes ConfigMap's `..data` symlink renamed into place.
constexpr std::uint32_t kDirectoryEvents =
    IN_CLOSE_WRITE | IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_ATTRIB | IN_MODIFY;

}  // namespace

ConfigWatcher::ConfigWatcher(std::vector<fs::path> files, std::chrono::milliseconds debounce,
                             std::function<void()> on_change)
    : files_(std::move(files)), debounce_(debounce), on_change_(std::move(on_change)) {}

ConfigWatcher::~ConfigWatcher() {
  if (thread_.joinable()) {
    std::uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(stop_, &one, sizeof(one));
    thread_.join();
  }
  if (inotify_ >= 0) ::close(inotify_);
  if (stop_ >= 0) ::close(stop_);
}

bool ConfigWatcher::start() {
  inotify_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  stop_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (inotify_ < 0 || stop_ < 0) {
    observability::log_error("--watch: inotify is not available: {}", std::strerror(errno));
    return false;
  }
  add_watches();
  thread_ = std::thread([this] { run(); });
  return true;
}

// Watches the directory of each file as given and of the file it resolves to (a symlink into a ConfigMap's
// `..data` directory, say); called again after every change, as the resolved path moves with each swap.
void ConfigWatcher::add_watches() {
  auto watch = [this](const fs::path& file) {
    fs::path dir = file.parent_path();
    if (dir.empty()) dir = ".";
    int wd = ::inotify_add_watch(inotify_, dir.c_str(), kDirectoryEvents);
    if (wd < 0) {
      observability::log_warn("--watch: cannot watch {}: {}", dir.string(), std::strerror(errno));
      return;
    }
    for (auto& [existing, names] : watches_) {
      if (existing == wd) {
        names.insert(file.filename().string());
        return;
      }
    }
    watches_.push_back({wd, {file.filename().string(), "..data"}});
  };
  for (const fs::path& file : files_) {
    fs::path absolute = fs::absolute(file);
    watch(absolute);
    std::error_code ec;
    fs::path resolved = fs::canonical(absolute, ec);
    if (!ec && resolved != absolute) watch(resolved);
  }
}

bool ConfigWatcher::concerns(int wd, const std::string& name) const {
  for (const auto& [existing, names] : watches_) {
    if (existing == wd) return name.empty() || names.count(name) > 0;
  }
  return false;
}

void ConfigWatcher::run() {
  alignas(inotify_event) std::array<char, 16 * 1024> buffer{};
  bool pending = false;
  while (true) {
    std::array<pollfd, 2> fds{pollfd{inotify_, POLLIN, 0}, pollfd{stop_, POLLIN, 0}};
    // Debounced: once something changed, wait until nothing more has for `debounce`.
    int timeout = pending ? static_cast<int>(debounce_.count()) : -1;
    int ready = ::poll(fds.data(), fds.size(), timeout);
    if (ready < 0) {
      if (errno == EINTR) continue;
      observability::log_error("--watch: poll failed: {}", std::strerror(errno));
      return;
    }
    if (fds[1].revents != 0) return;
    if (ready == 0) {
      pending = false;
      add_watches();
      on_change_();
      continue;
    }
    while (true) {
      ssize_t n = ::read(inotify_, buffer.data(), buffer.size());
      if (n <= 0) break;
      for (ssize_t at = 0; at < n;) {
        const auto* event = reinterpret_cast<const inotify_event*>(buffer.data() + at);
        std::string name = event->len > 0 ? std::string(event->name) : std::string();
        if ((event->mask & IN_Q_OVERFLOW) != 0) {
          pending = true;
        } else if ((event->mask & IN_IGNORED) == 0 && concerns(event->wd, name)) {
          pending = true;
        }
        at += static_cast<ssize_t>(sizeof(inotify_event) + event->len);
      }
    }
  }
}

}  // namespace workgate::app
