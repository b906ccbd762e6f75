// The variables `$env.NAME` / `$secret.NAME` / `$secrets.NAME` resolve against: the process environment,
// with an optional env file filling in names the process environment does not set.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace workgate::config {

class Environment {
 public:
  // A snapshot of the process environment (environ).
  static Environment from_process();

  // Reads KEY=VALUE lines (blank lines and '#' comments ignored, optional leading "export ", values may be
  // wrapped in single or double quotes; double-quoted values understand \n \t \" \\). A name already set is
  // kept. Returns false and fills `errors` (with line numbers, never values) when the file cannot be read or
  // a line is malformed.
  bool merge_env_file(const std::string& path, std::vector<std::string>& errors);

  void set(std::string name, std::string value);
  std::optional<std::string_view> get(std::string_view name) const;

 private:
  std::unordered_map<std::string, std::string> vars_;
};

}  // namespace workgate::config
