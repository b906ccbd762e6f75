// The cost of calling worker functions in process (no HTTP): a pre_process hook that continues, one that
// changes a request header, a post_process that adds a header, and service_binding results through the
// JSON envelope. Uses the bundled sidecar worker.
#include <benchmark/benchmark.h>

#include "workers/host.hpp"
#include "workers/module.hpp"
#include "workers/results.hpp"

namespace workgate::workers {
namespace {

struct Sidecar {
  std::shared_ptr<WorkerInstance> worker;
  Sidecar() {
    std::string error;
    auto module = Module::open(WG_BENCH_SIDECAR, error);
    if (!module) throw std::runtime_error(error);
    WorkerInstance::Options options;
    options.binding = "TARGET";
    options.env = {{"GREETING", "hello"}};
    worker = WorkerInstance::create(module, options, error);
    if (!worker) throw std::runtime_error(error);
  }
  BoundFunction fn(const char* name) const {
    return BoundFunction{worker, name, worker->module().find(name)};
  }
};

struct Request {
  http::Request request;
  std::vector<router::PathParam> params{{"id", "42"}};
  CallInput input;
  explicit Request(std::string query) {
    request.method = "GET";
    request.path = "/svc/items/42";
    request.query = std::move(query);
    request.has_query = !request.query.empty();
    request.headers.add("Host", "127.0.0.1:8080");
    request.headers.add("User-Agent", "wrk");
    request.headers.add("Accept", "*/*");
    request.headers.add("X-Block", "no");
    input.request = &request;
    input.route_path = "/svc/items/{id}";
    input.params = params;
    input.request_id = [](void*) -> std::string_view { return "wg0-1"; };
  }
};

void apply(benchmark::State& state, const char* function, std::string query, bool respond,
           bool post = false) {
  static Sidecar sidecar;
  BoundFunction fn = sidecar.fn(function);
  Request r(std::move(query));
  http::Response base;
  base.status = 200;
  base.content_type = "application/json";
  base.set_body(R"({"ok":true})");
  if (post) r.input.response = &base;
  for (auto _ : state) {
    Invocation inv = invoke(fn, r.input);
    if (respond || post) {
      http::Response response = base;
      std::string error;
      build_response(inv.done->result, response, post, error);
      benchmark::DoNotOptimize(response);
    }
    benchmark::DoNotOptimize(inv);
  }
}

void BM_PreProcessContinue(benchmark::State& s) {
  apply(s, "before", "", false);
}
void BM_PostProcessAddHeader(benchmark::State& s) {
  apply(s, "after", "", false, true);
}
void BM_ServiceBindingString(benchmark::State& s) {
  apply(s, "run", "mode=string", true);
}
void BM_ServiceBindingObjectEnvelope(benchmark::State& s) {
  apply(s, "run", "mode=object", true);
}
void BM_ServiceFetch(benchmark::State& s) {
  apply(s, "fetch", "", true);
}

BENCHMARK(BM_PreProcessContinue);
BENCHMARK(BM_PostProcessAddHeader);
BENCHMARK(BM_ServiceBindingString);
BENCHMARK(BM_ServiceBindingObjectEnvelope);
BENCHMARK(BM_ServiceFetch);

}  // namespace
}  // namespace workgate::workers

BENCHMARK_MAIN();
