// Differential fuzzer of the router: fuzzer-chosen routes and requests, every lookup compared with the
// plain reference implementation (src/router/route_reference.hpp) on route, class, parameters and tail.
//
// Input: lines. Up to 16 route lines "METHOD PATH", an empty line, then up to 64 request lines
// "METHOD PATH". Without a space a line is a path with method GET.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "router/route_reference.hpp"
#include "router/router.hpp"

namespace router = workgate::router;

namespace {

constexpr std::size_t kMaxRoutes = 16;
constexpr std::size_t kMaxRequests = 64;

std::pair<std::string_view, std::string_view> split_line(std::string_view line) {
  auto space = line.find(' ');
  if (space == std::string_view::npos) return {"GET", line};
  return {line.substr(0, space), line.substr(space + 1)};
}

[[noreturn]] void mismatch(const std::vector<router::RouteDefinition>& routes, std::string_view method,
                           std::string_view path, bool allow_any, const char* what) {
  std::fprintf(stderr, "router mismatch (%s) for %.*s %.*s (allow_any=%d); routes:\n", what,
               static_cast<int>(method.size()), method.data(), static_cast<int>(path.size()), path.data(),
               allow_any ? 1 : 0);
  for (std::size_t i = 0; i < routes.size(); ++i)
    std::fprintf(stderr, "  %zu: %s %s\n", i, routes[i].method.c_str(), routes[i].path.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<router::RouteDefinition> routes;
  std::vector<std::pair<std::string, std::string>> requests;
  bool in_requests = false;
  while (!input.empty()) {
    auto eol = input.find('\n');
    std::string_view line = input.substr(0, eol);
    input = eol == std::string_view::npos ? std::string_view() : input.substr(eol + 1);
    if (!in_requests && line.empty()) {
      in_requests = true;
      continue;
    }
    auto [method, path] = split_line(line);
    if (!in_requests) {
      if (routes.size() < kMaxRoutes) routes.push_back({std::string(method), std::string(path)});
    } else if (requests.size() < kMaxRequests) {
      requests.emplace_back(std::string(method), std::string(path));
    }
  }

  std::vector<router::CompileError> errors;
  std::vector<router::CompileError> warnings;
  router::Router compiled = router::Router::compile(routes, errors, &warnings);
  if (!errors.empty()) {
    // An empty router: nothing matches.
    router::RouteMatch m;
    for (const auto& [method, path] : requests) {
      if (compiled.match(method, path, m)) mismatch(routes, method, path, true, "rejected table matched");
    }
    return 0;
  }
  if (compiled.size() != routes.size()) std::abort();
  // priority_order is a permutation of the route indices.
  std::vector<std::size_t> order = compiled.priority_order();
  std::vector<bool> seen(routes.size(), false);
  if (order.size() != routes.size()) std::abort();
  for (std::size_t index : order) {
    if (index >= routes.size() || seen[index]) std::abort();
    seen[index] = true;
  }

  const router::reference::ReferenceRouter reference(routes);
  router::RouteMatch got;
  router::RouteMatch want;
  for (const auto& [method, path] : requests) {
    // The router only ever sees absolute paths (the connection rejects other targets).
    if (path.empty() || path[0] != '/') continue;
    for (bool allow_any : {true, false}) {
      const bool ok = compiled.match(method, path, got, allow_any);
      const bool ref_ok = reference.match(method, path, want, allow_any);
      if (ok != ref_ok) mismatch(routes, method, path, allow_any, ok ? "router only" : "reference only");
      if (!ok) {
        if (!got.params.empty() || !got.wildcard_tail.empty())
          mismatch(routes, method, path, allow_any, "state left");
        continue;
      }
      if (got.route != want.route) mismatch(routes, method, path, allow_any, "route");
      if (got.match_class != want.match_class) mismatch(routes, method, path, allow_any, "class");
      if (got.wildcard_tail != want.wildcard_tail) mismatch(routes, method, path, allow_any, "tail");
      if (got.params.size() != want.params.size()) mismatch(routes, method, path, allow_any, "param count");
      for (std::size_t i = 0; i < got.params.size(); ++i) {
        if (got.params[i].name != want.params[i].name || got.params[i].value != want.params[i].value)
          mismatch(routes, method, path, allow_any, "param");
      }
      // Captures point into the request path.
      for (const auto& p : got.params) {
        if (p.value.data() < path.data() || p.value.data() + p.value.size() > path.data() + path.size())
          mismatch(routes, method, path, allow_any, "param not in path");
      }
    }
  }
  return 0;
}
