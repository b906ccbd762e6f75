// A deliberately plain implementation of the routing rules in router.hpp, for tests only: it checks every
// route against the request and keeps the best by (class, -prefix segments for wildcards, ANY, index).
// Assumes routes that Router::compile accepts. Header-only so that it stays out of the wg_router library.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <tuple>
#include <vector>

#include "router/router.hpp"

namespace workgate::router::reference {

inline std::vector<std::string_view> split(std::string_view path) {
  std::vector<std::string_view> segments;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '/') {
      segments.push_back(path.substr(start, i - start));
      start = i + 1;
    }
  }
  return segments;
}

inline bool is_param(std::string_view segment) {
  return segment.size() >= 2 && segment.front() == '{' && segment.back() == '}' && segment != "{.+}";
}

// The routes are split once up front; matching scans all of them.
class ReferenceRouter {
 public:
  explicit ReferenceRouter(std::span<const RouteDefinition> routes) : routes_(routes) {
    for (const auto& route : routes)
      patterns_.push_back(split(route.path));
  }

  bool match(std::string_view method, std::string_view path, RouteMatch& out, bool allow_any = true) const {
    const std::vector<std::string_view> request = split(path);
    bool found = false;
    std::tuple<MatchClass, std::int64_t, bool, std::size_t> best;
    for (std::size_t i = 0; i < routes_.size(); ++i) {
      const bool any = routes_[i].method == "ANY";
      if (any ? !allow_any : routes_[i].method != method) continue;

      std::span<const std::string_view> pattern = patterns_[i];
      const bool wildcard = pattern.back() == "{.+}";
      if (wildcard) pattern = pattern.first(pattern.size() - 1);
      if (wildcard ? request.size() < pattern.size() : request.size() != pattern.size()) continue;

      bool matches = true;
      bool has_param = false;
      for (std::size_t k = 0; k < pattern.size(); ++k) {
        if (is_param(pattern[k])) {
          has_param = true;
          if (request[k].empty()) matches = false;
        } else if (pattern[k] != request[k]) {
          matches = false;
        }
      }
      if (!matches) continue;

      const MatchClass match_class = wildcard    ? MatchClass::kWildcard
                                     : has_param ? MatchClass::kParameter
                                                 : MatchClass::kExact;
      const std::int64_t prefix = wildcard ? -static_cast<std::int64_t>(pattern.size()) : 0;
      const auto key = std::tuple(match_class, prefix, any, i);
      if (found && !(key < best)) continue;

      found = true;
      best = key;
      out.route = i;
      out.match_class = match_class;
      out.params.clear();
      for (std::size_t k = 0; k < pattern.size(); ++k) {
        if (is_param(pattern[k])) {
          out.params.push_back({pattern[k].substr(1, pattern[k].size() - 2), request[k]});
        }
      }
      out.wildcard_tail = {};
      if (wildcard && request.size() > pattern.size()) {
        const std::size_t offset = static_cast<std::size_t>(request[pattern.size()].data() - path.data());
        out.wildcard_tail = path.substr(offset - 1);
      }
    }
    if (!found) {
      out.params.clear();
      out.wildcard_tail = {};
    }
    return found;
  }

 private:
  std::span<const RouteDefinition> routes_;
  std::vector<std::vector<std::string_view>> patterns_;
};

}  // namespace workgate::router::reference
