#include "config/environment.hpp"

#include <fstream>

extern char** environ;

namespace workgate::config {
namespace {

bool valid_name(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (!(c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
      return false;
  }
  return !(name[0] >= '0' && name[0] <= '9');
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

std::optional<std::string> parse_value(std::string_view raw) {
  raw = trim(raw);
  if (raw.empty()) return std::string();
  if (raw.front() == '\'') {
    if (raw.size() < 2 || raw.back() != '\'') return std::nullopt;
    return std::string(raw.substr(1, raw.size() - 2));
  }
  if (raw.front() == '"') {
    if (raw.size() < 2 || raw.back() != '"') return std::nullopt;
    std::string out;
    for (std::size_t i = 1; i + 1 < raw.size(); ++i) {
      char c = raw[i];
      if (c == '\\' && i + 2 < raw.size()) {
        char n = raw[++i];
        out.push_back(n == 'n' ? '\n' : n == 't' ? '\t' : n == 'r' ? '\r' : n);
      } else {
        out.push_back(c);
      }
    }
    return out;
  }
  // Unquoted: an inline comment starts at " #" (or right away, after the spaces trimmed above).
  if (raw.front() == '#') return std::string();
  if (auto hash = raw.find(" #"); hash != std::string_view::npos) raw = trim(raw.substr(0, hash));
  return std::string(raw);
}

}  // namespace

Environment Environment::from_process() {
  Environment env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    std::string_view kv(*entry);
    auto eq = kv.find('=');
    if (eq == std::string_view::npos || eq == 0) continue;
    env.vars_.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
  }
  return env;
}

bool Environment::merge_env_file(const std::string& path, std::vector<std::string>& errors) {
  std::ifstream in(path);
  if (!in) {
    errors.push_back("env file " + path + ": cannot be read");
    return false;
  }
  std::string line;
  std::size_t number = 0;
  bool ok = true;
  while (std::getline(in, line)) {
    ++number;
    std::string_view text = trim(line);
    if (text.empty() || text.front() == '#') continue;
    if (text.starts_with("export ")) text = trim(text.substr(7));
    auto eq = text.find('=');
    std::string_view name = eq == std::string_view::npos ? text : trim(text.substr(0, eq));
    if (eq == std::string_view::npos || !valid_name(name)) {
      errors.push_back("env file " + path + ":" + std::to_string(number) + ": expected NAME=VALUE");
      ok = false;
      continue;
    }
    auto value = parse_value(text.substr(eq + 1));
    if (!value) {
      errors.push_back("env file " + path + ":" + std::to_string(number) + ": unterminated quoted value");
      ok = false;
      continue;
    }
    vars_.try_emplace(std::string(name), std::move(*value));
  }
  return ok;
}

void Environment::set(std::string name, std::string value) {
  vars_[std::move(name)] = std::move(value);
}

std::optional<std::string_view> Environment::get(std::string_view name) const {
  auto it = vars_.find(std::string(name));
  if (it == vars_.end()) return std::nullopt;
  return std::string_view(it->second);
}

}  // namespace workgate::config
