#include <benchmark/benchmark.h>

#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "router/router.hpp"

namespace {

using workgate::router::CompileError;
using workgate::router::RouteDefinition;
using workgate::router::RouteMatch;
using workgate::router::Router;

// Ten routes per resource, shaped like a typical REST API; `routes` / 10 resources.
std::vector<RouteDefinition> make_routes(std::size_t routes) {
  std::vector<RouteDefinition> defs;
  for (std::size_t r = 0; defs.size() < routes; ++r) {
    const std::string base = "/api/v1/res" + std::to_string(r);
    for (RouteDefinition def : std::vector<RouteDefinition>{
             {"GET", base},
             {"POST", base},
             {"GET", base + "/search"},
             {"GET", base + "/{id}"},
             {"PUT", base + "/{id}"},
             {"DELETE", base + "/{id}"},
             {"GET", base + "/{id}/items"},
             {"GET", base + "/{id}/items/{itemId}"},
             {"PATCH", base + "/{id}/items/{itemId}"},
             {"ANY", "/static/res" + std::to_string(r) + "/{.+}"},
         }) {
      if (defs.size() < routes) defs.push_back(std::move(def));
    }
  }
  return defs;
}

enum class Case { kExact, kParameter, kWildcard, kMiss };

void BM_Match(benchmark::State& state, std::size_t routes, Case c) {
  const std::vector<RouteDefinition> defs = make_routes(routes);
  std::vector<CompileError> errors;
  const Router router = Router::compile(defs, errors);
  if (!errors.empty()) {
    state.SkipWithError(errors.front().message.c_str());
    return;
  }
  const std::string last = std::to_string(routes / 10 - 1);  // the last resource in config order
  const std::string path = c == Case::kExact       ? "/api/v1/res" + last + "/search"
                           : c == Case::kParameter ? "/api/v1/res" + last + "/42/items/7"
                           : c == Case::kWildcard  ? "/static/res" + last + "/css/site.css"
                                                   : "/api/v1/res" + last + "/42/unknown";
  RouteMatch match;
  if (router.match("GET", path, match) != (c != Case::kMiss)) {
    state.SkipWithError("unexpected match result");
    return;
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize(router.match("GET", path, match));
    benchmark::DoNotOptimize(match);
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK_CAPTURE(BM_Match, exact_10, 10, Case::kExact);
BENCHMARK_CAPTURE(BM_Match, param_10, 10, Case::kParameter);
BENCHMARK_CAPTURE(BM_Match, wildcard_10, 10, Case::kWildcard);
BENCHMARK_CAPTURE(BM_Match, miss_10, 10, Case::kMiss);
BENCHMARK_CAPTURE(BM_Match, exact_10000, 10000, Case::kExact);
BENCHMARK_CAPTURE(BM_Match, param_10000, 10000, Case::kParameter);
BENCHMARK_CAPTURE(BM_Match, wildcard_10000, 10000, Case::kWildcard);
BENCHMARK_CAPTURE(BM_Match, miss_10000, 10000, Case::kMiss);

}  // namespace

BENCHMARK_MAIN();
