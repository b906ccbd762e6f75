// `workgate serve --watch`: a thread that watches the config file, its env files and their directories
// with inotify and, once changes have settled (debounced), asks for the same reload a SIGHUP does.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace workgate::app {

class ConfigWatcher {
 public:
  // `files`: the config file and the env files. `on_change` runs on the watcher's thread once no event has
  // come for `debounce` after one that concerns them.
  ConfigWatcher(std::vector<std::filesystem::path> files, std::chrono::milliseconds debounce,
                std::function<void()> on_change);
  ~ConfigWatcher();
  ConfigWatcher(const ConfigWatcher&) = delete;
  ConfigWatcher& operator=(const ConfigWatcher&) = delete;

  // Starts watching (false, with a logged error, when inotify cannot be used).
  bool start();

 private:
  void run();
  void add_watches();
  bool concerns(int wd, const std::string& name) const;

  std::vector<std::filesystem::path> files_;
  std::chrono::milliseconds debounce_;
  std::function<void()> on_change_;
  int inotify_ = -1;
  int stop_ = -1;  // eventfd
  std::thread thread_;
  // Watched directories by watch descriptor, and the file names that matter in each.
  std::vector<std::pair<int, std::set<std::string>>> watches_;
};

}  // namespace workgate::app
