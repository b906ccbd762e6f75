// Module loading, config attachment and invocation (sync, async, timeouts, late completions) against
// the worker modules built for these tests (src/workers/testdata) and the sidecar.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>
#include <chrono>
#include <filesystem>
#include <optional>
#include <thread>

#include "config/loader.hpp"
#include "workers/attach.hpp"
#include "workers/host.hpp"
#include "workers/module.hpp"
#include "workers/results.hpp"
#include "workers/stages.hpp"
#include "workers/test_support.hpp"

namespace workgate::workers {
namespace {

using namespace std::chrono_literals;

using test_support::function;
using test_support::load;

// A request and everything else a call needs.
struct Fixture {
  http::Request request;
  std::vector<router::PathParam> params;
  CallInput input;
  Fixture() {
    request.method = "POST";
    request.path = "/items/42";
    request.query = "delay=10";
    request.has_query = true;
    request.headers.add("Content-Type", "application/json");
    request.headers.add("X-Drop", "1");
    request.body = R"({"k":"v"})";
    params.push_back({"id", "42"});
    input.request = &request;
    input.route_path = "/items/{id}";
    input.params = params;
    input.variables_json = R"({"region":"eu"})";
    input.request_id = [](void*) -> std::string_view { return "req-1"; };
  }
};

int release_parked() {
  void* handle = dlopen(WG_TEST_WORKER, RTLD_NOW | RTLD_NOLOAD);
  EXPECT_NE(handle, nullptr);
  auto fn = reinterpret_cast<int (*)()>(dlsym(handle, "workgate_test_release_parked"));
  EXPECT_NE(fn, nullptr);
  int n = fn();
  dlclose(handle);
  return n;
}

Outcome run_sync(const BoundFunction& fn, const CallInput& input) {
  Invocation inv = invoke(fn, input);
  EXPECT_FALSE(inv.pending);
  EXPECT_TRUE(inv.done);
  return inv.done ? std::move(*inv.done) : Outcome{};
}

// Runs `io` until `done` or `limit`.
void run_until(boost::asio::io_context& io, const bool& done, std::chrono::milliseconds limit = 3000ms) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  io.restart();
  while (!done && std::chrono::steady_clock::now() < deadline) {
    io.run_for(5ms);
    io.restart();
  }
}

// ----------------------------------------------------------------------------------------- modules

TEST(Module, LoadsAndFindsFunctions) {
  std::string error;
  auto module = Module::open(WG_TEST_SIDECAR, error);
  ASSERT_TRUE(module) << error;
  EXPECT_EQ(module->descriptor().abi_version, WORKGATE_ABI_VERSION);
  EXPECT_NE(module->find("run"), nullptr);
  EXPECT_NE(module->find("fetch"), nullptr);
  EXPECT_EQ(module->find("nope"), nullptr);
}

TEST(Module, RefusesAnotherAbiVersion) {
  std::string error;
  auto module = Module::open(WG_TEST_ABI_MISMATCH, error);
  EXPECT_FALSE(module);
  EXPECT_NE(error.find("built for worker ABI version " + std::to_string(WORKGATE_ABI_VERSION + 41)),
            std::string::npos)
      << error;
  EXPECT_NE(error.find("this gateway supports version " + std::to_string(WORKGATE_ABI_VERSION)),
            std::string::npos)
      << error;
}

TEST(Module, RefusesASharedObjectWithoutEntryPoint) {
  std::string error;
  EXPECT_FALSE(Module::open(WG_TEST_NO_ENTRY, error));
  EXPECT_NE(error.find("is not a workgate worker"), std::string::npos) << error;
}

TEST(Module, ReportsDlerror) {
  std::string error;
  EXPECT_FALSE(Module::open("/nonexistent/libnope.so", error));
  EXPECT_NE(error.find("cannot load worker module"), std::string::npos) << error;
  EXPECT_NE(error.find("No such file"), std::string::npos) << error;
}

TEST(Module, DescriptorChecks) {
  EXPECT_NE(check_descriptor(nullptr), "");
  wg_function fns[] = {{"f", nullptr}};
  wg_module m{WORKGATE_ABI_VERSION, sizeof(wg_module), "m", nullptr, nullptr, fns, 1};
  EXPECT_NE(check_descriptor(&m), "");
  m.function_count = 0;
  EXPECT_EQ(check_descriptor(&m), "");
  m.size = 8;
  EXPECT_NE(check_descriptor(&m), "");
}

TEST(Module, InitFailureAndInstances) {
  std::string error;
  auto module = Module::open(WG_TEST_WORKER, error);
  ASSERT_TRUE(module) << error;
  WorkerInstance::Options failing;
  failing.binding = "F";
  failing.config_json = R"({"fail":true})";
  EXPECT_FALSE(WorkerInstance::create(module, failing, error));
  EXPECT_EQ(error, "configured to fail");
  failing.initialise = false;  // validate: no init
  EXPECT_TRUE(WorkerInstance::create(module, failing, error));
}

// ------------------------------------------------------------------------------------------ invoke

TEST(Invoke, SeesRequestContextAndOnlyDeclaredEnv) {
  WorkerInstance::Options options;
  options.env = {{"GREETING", "hello"}};  // what attach builds from the declaration
  options.config_json = R"({"c":1})";
  auto worker = load(WG_TEST_WORKER, options);
  Fixture f;
  auto claims = boost::json::parse(R"({"sub":"user-1","n":2})").as_object();
  f.input.claims = &claims;
  Outcome o = run_sync(function(worker, "describe"), f.input);
  ASSERT_EQ(o.status, Outcome::Status::kOk) << o.result.value;
  ASSERT_EQ(o.result.kind, ResultData::Kind::kResponse);
  auto v = boost::json::parse(*o.result.response_body).as_object();
  EXPECT_EQ(v["method"], "POST");
  EXPECT_EQ(v["path"], "/items/42");
  EXPECT_EQ(v["query"], "delay=10");
  EXPECT_EQ(v["body"], R"({"k":"v"})");
  EXPECT_EQ(v["route"], "/items/{id}");
  EXPECT_EQ(v["request_id"], "req-1");
  EXPECT_EQ(v["params"], boost::json::parse(R"({"id":"42"})"));
  EXPECT_EQ(v["env"], boost::json::parse(R"({"GREETING":"hello"})"));
  EXPECT_EQ(v["claims"], boost::json::parse(R"({"sub":"user-1","n":2})"));
  EXPECT_EQ(v["sub"], "user-1");
  EXPECT_EQ(v["variables"], boost::json::parse(R"({"region":"eu"})"));
  EXPECT_EQ(v["config"], boost::json::parse(R"({"c":1})"));
  EXPECT_EQ(v["headers"].as_array().size(), 2u);
}

TEST(Invoke, ResultsAndFailures) {
  auto worker = load(WG_TEST_WORKER);
  Fixture f;
  Outcome o = run_sync(function(worker, "value"), f.input);
  EXPECT_EQ(o.status, Outcome::Status::kOk);
  EXPECT_EQ(o.result.kind, ResultData::Kind::kJson);
  EXPECT_EQ(o.result.value, R"({"k":"v"})");

  o = run_sync(function(worker, "nothing"), f.input);
  EXPECT_EQ(o.status, Outcome::Status::kOk);
  EXPECT_EQ(o.result.kind, ResultData::Kind::kNone);

  o = run_sync(function(worker, "fail"), f.input);
  EXPECT_EQ(o.status, Outcome::Status::kError);
  EXPECT_EQ(o.result.value, "failed on purpose");

  o = run_sync(function(worker, "throws"), f.input);
  EXPECT_EQ(o.status, Outcome::Status::kError);
  EXPECT_EQ(o.result.value, "thrown on purpose");

  o = run_sync(function(worker, "pending_without_defer"), f.input);
  EXPECT_EQ(o.status, Outcome::Status::kError);
  EXPECT_NE(o.result.value.find("without calling defer"), std::string::npos);

  o = run_sync(function(worker, "edit"), f.input);
  EXPECT_EQ(o.status, Outcome::Status::kOk);
  EXPECT_EQ(o.result.kind, ResultData::Kind::kNone);
  ASSERT_EQ(o.result.request_ops.size(), 2u);
  EXPECT_EQ(o.result.request_ops[0].name, "x-edited");
  EXPECT_EQ(o.result.request_ops[1].type, HeaderOp::kRemove);
}

TEST(Invoke, PostProcessSeesTheResponse) {
  auto worker = load(WG_TEST_WORKER);
  Fixture f;
  http::Response response;
  response.status = 201;
  response.content_type = "application/json";
  response.set_body("{}");
  f.input.kind = WG_CALL_POST_PROCESS;
  f.input.response = &response;
  Outcome o = run_sync(function(worker, "decorate"), f.input);
  ASSERT_EQ(o.status, Outcome::Status::kOk);
  std::string error;
  ASSERT_TRUE(build_response(o.result, response, /*edit=*/true, error)) << error;
  EXPECT_EQ(response.status, 299);
  EXPECT_EQ(response.headers.get("x-status-seen").value_or(""), "201");
  EXPECT_EQ(response.headers.get("x-body-seen").value_or(""), "{}");
  EXPECT_EQ(response.body(), "{}");
}

// Arms a pending call on `io` and runs the loop until its outcome arrives: the outcome, or nullopt when
// none came. Checks what holds for every delivery: once, on the loop's thread, never from inside arm().
std::optional<Outcome> await(const std::shared_ptr<AsyncState>& pending, boost::asio::io_context& io,
                             std::chrono::milliseconds timeout = 2000ms) {
  bool done = false;
  bool arming = true;
  Outcome got;
  auto loop_thread = std::this_thread::get_id();
  arm(pending, io, timeout, [&](Outcome o) {
    EXPECT_EQ(std::this_thread::get_id(), loop_thread);
    EXPECT_FALSE(arming) << "delivered from inside arm()";
    EXPECT_FALSE(done) << "delivered twice";
    got = std::move(o);
    done = true;
  });
  arming = false;
  run_until(io, done);
  if (!done) return std::nullopt;
  return got;
}

TEST(Invoke, AsyncCompletionIsDeliveredOnTheLoop) {
  auto worker = load(WG_TEST_WORKER);
  Fixture f;
  boost::asio::io_context io;
  Invocation inv = invoke(function(worker, "later"), f.input);
  ASSERT_TRUE(inv.pending);
  std::optional<Outcome> got = await(inv.pending, io);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->status, Outcome::Status::kOk);
  EXPECT_EQ(got->result.kind, ResultData::Kind::kJson);
  EXPECT_EQ(got->result.value, R"({"k":"v"})");
}

TEST(Invoke, CompletionBeforeReturnIsDelivered) {
  auto worker = load(WG_TEST_WORKER);
  Fixture f;
  boost::asio::io_context io;
  Invocation inv = invoke(function(worker, "early"), f.input);
  ASSERT_TRUE(inv.pending);
  std::optional<Outcome> got = await(inv.pending, io);  // never re-entrant: delivered through the loop
  ASSERT_TRUE(got);
  EXPECT_EQ(got->result.kind, ResultData::Kind::kString);
  EXPECT_EQ(got->result.value, "early");
}

TEST(Invoke, DroppedCompletionIsAnError) {
  auto worker = load(WG_TEST_WORKER);
  Fixture f;
  boost::asio::io_context io;
  Invocation inv = invoke(function(worker, "drop"), f.input);
  ASSERT_TRUE(inv.pending);
  std::optional<Outcome> got = await(inv.pending, io);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->status, Outcome::Status::kError);
  EXPECT_NE(got->result.value.find("dropped"), std::string::npos);
}

TEST(Invoke, TimeoutThenLateCompletionIsIgnored) {
  auto worker = load(WG_TEST_WORKER);
  Fixture f;
  f.request.query = "delay=300";
  boost::asio::io_context io;
  Invocation inv = invoke(function(worker, "later"), f.input);
  ASSERT_TRUE(inv.pending);
  std::weak_ptr<AsyncState> state = inv.pending;
  int calls = 0;
  Outcome got;
  bool done = false;
  auto started = std::chrono::steady_clock::now();
  arm(inv.pending, io, 50ms, [&](Outcome o) {
    ++calls;
    got = std::move(o);
    done = true;
  });
  inv.pending.reset();
  run_until(io, done);
  ASSERT_TRUE(done);
  EXPECT_EQ(got.status, Outcome::Status::kTimeout);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 280ms);
  // The worker completes ~250 ms later: dropped, and the shared state is freed.
  bool never = false;
  run_until(io, never, 600ms);
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(state.expired());
}

TEST(Invoke, ParkedCompletionAfterTimeoutIsSafe) {
  auto worker = load(WG_TEST_WORKER);
  Fixture f;
  release_parked();
  boost::asio::io_context io;
  Invocation inv = invoke(function(worker, "park"), f.input);
  ASSERT_TRUE(inv.pending);
  std::weak_ptr<AsyncState> state = inv.pending;
  int calls = 0;
  bool done = false;
  arm(inv.pending, io, 20ms, [&](Outcome o) {
    ++calls;
    EXPECT_EQ(o.status, Outcome::Status::kTimeout);
    done = true;
  });
  inv.pending.reset();
  run_until(io, done);
  EXPECT_TRUE(state.expired());  // freed at the timeout, though the worker still holds its handle
  std::uint64_t stale = stale_handle_uses();
  EXPECT_EQ(release_parked(), 1);  // late completion from this thread: return_json + complete, ignored
  EXPECT_GE(stale_handle_uses() - stale, 2u);
  bool never = false;
  run_until(io, never, 50ms);
  EXPECT_EQ(calls, 1);
}

TEST(Invoke, CompletionAfterTheLoopIsGoneIsSafe) {
  auto worker = load(WG_TEST_WORKER);
  Fixture f;
  release_parked();
  std::weak_ptr<AsyncState> state;
  int calls = 0;
  {
    boost::asio::io_context io;
    Invocation inv = invoke(function(worker, "park"), f.input);
    ASSERT_TRUE(inv.pending);
    state = inv.pending;
    arm(inv.pending, io, 5000ms, [&](Outcome) { ++calls; });
  }  // the loop is destroyed with the call pending: the call is abandoned and its state freed
  EXPECT_TRUE(state.expired());
  std::uint64_t stale = stale_handle_uses();
  EXPECT_EQ(release_parked(), 1);
  EXPECT_GE(stale_handle_uses() - stale, 2u);
  EXPECT_EQ(calls, 0);
}

TEST(Invoke, CancelledCallNeverContinuesAndIsFreed) {
  auto worker = load(WG_TEST_WORKER);
  Fixture f;
  release_parked();
  boost::asio::io_context io;
  Invocation inv = invoke(function(worker, "park"), f.input);
  ASSERT_TRUE(inv.pending);
  std::weak_ptr<AsyncState> state = inv.pending;
  int calls = 0;
  auto held = std::make_shared<int>(7);  // stands for the exchange the continuation keeps alive
  std::weak_ptr<int> held_weak = held;
  std::weak_ptr<http::Cancellable> waiting =
      arm(inv.pending, io, 5000ms, [&calls, held = std::move(held)](Outcome) { ++calls; });
  inv.pending.reset();
  auto waiter = waiting.lock();
  ASSERT_TRUE(waiter);
  waiter->cancel();  // the client went away
  waiter.reset();
  EXPECT_TRUE(held_weak.expired()) << "the continuation (and what it holds) is released at once";
  bool never = false;
  run_until(io, never, 50ms);  // the cancelled timer's handler lets go of the waiter
  EXPECT_TRUE(state.expired()) << "the call's state is freed without waiting for timeout_ms";
  std::uint64_t stale = stale_handle_uses();
  EXPECT_EQ(release_parked(), 1);  // the worker completes later: a stale completion, ignored
  EXPECT_GE(stale_handle_uses() - stale, 1u);
  run_until(io, never, 50ms);
  EXPECT_EQ(calls, 0);
}

TEST(Invoke, DeferThenSynchronousReturnIgnoresTheDeferredResult) {
  auto worker = load(WG_TEST_WORKER);
  Fixture f;
  release_parked();
  Outcome o = run_sync(function(worker, "defer_then_return"), f.input);
  EXPECT_EQ(o.result.kind, ResultData::Kind::kString);
  EXPECT_EQ(o.result.value, "sync");
  EXPECT_EQ(release_parked(), 1);  // completing the abandoned result is harmless
}

TEST(Invoke, ConcurrentCallsFromManyThreads) {
  auto worker = load(WG_TEST_WORKER);
  auto fn = function(worker, "value");
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      Fixture f;
      for (int i = 0; i < 200; ++i) {
        Invocation inv = invoke(fn, f.input);
        if (inv.done && inv.done->result.value == R"({"k":"v"})") ++ok;
      }
    });
  }
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(ok.load(), 800);
}

// ------------------------------------------------------------------------------------------ attach

struct Attached {
  std::shared_ptr<pipeline::Snapshot> snapshot;
  std::vector<config::ConfigError> errors;
  std::shared_ptr<WorkerRegistry> registry;
};

Attached attach(std::string text, const config::Environment& env, bool load_modules = true,
                std::filesystem::path base = std::filesystem::path(WG_TEST_WORKER).parent_path()) {
  auto replace = [&](std::string_view key, std::string_view value) {
    for (std::size_t at; (at = text.find(key)) != std::string::npos;)
      text.replace(at, key.size(), value);
  };
  replace("@WORKER@", WG_TEST_WORKER);
  replace("@ABI@", WG_TEST_ABI_MISMATCH);
  replace("@SIDECAR@", WG_TEST_SIDECAR);
  config::LoadResult loaded = config::load_config_text(text, env, base);
  Attached a;
  EXPECT_TRUE(loaded.errors.empty()) << (loaded.errors.empty() ? "" : loaded.errors[0].to_string());
  if (!loaded.config) return a;
  a.snapshot = std::make_shared<pipeline::Snapshot>();
  a.snapshot->config = std::move(*loaded.config);
  a.snapshot->routes.resize(a.snapshot->config.paths.size());
  for (std::size_t i = 0; i < a.snapshot->routes.size(); ++i)
    a.snapshot->routes[i].config = &a.snapshot->config.paths[i];
  a.registry = attach_worker_stages(*a.snapshot, env, load_modules, a.errors);
  return a;
}

std::vector<std::string> messages(const std::vector<config::ConfigError>& errors) {
  std::vector<std::string> out;
  for (const auto& e : errors)
    out.push_back(e.to_string());
  return out;
}

TEST(Attach, MissingFunctionIsReportedWithItsPointer) {
  config::Environment env;
  auto a = attach(R"({
    "workers": [{"binding": "TARGET", "module": "@WORKER@"}],
    "serviceBindings": [{"alias": "target", "binding": "TARGET"}],
    "paths": [
      {"method": "GET", "path": "/a", "integration": {"type": "service_binding", "binding": "target", "function": "value"}},
      {"method": "GET", "path": "/b", "integration": {"type": "service_binding", "binding": "target", "function": "nope"}},
      {"method": "GET", "path": "/c", "pre_process": {"binding": "target", "function": "missing"},
       "integration": {"type": "service_binding", "binding": "target", "function": "value",
                       "post_process": {"binding": "target", "function": "gone", "type": "service_binding"}},
       "post_process": {"binding": "target", "function": "absent"}}
    ]})",
                  env);
  EXPECT_EQ(
      messages(a.errors),
      (std::vector<std::string>{
          R"(/paths/1/integration/function: worker binding "TARGET" has no function "nope")",
          R"(/paths/2/pre_process/function: worker binding "TARGET" has no function "missing")",
          R"(/paths/2/integration/post_process/function: worker binding "TARGET" has no function "gone")",
          R"(/paths/2/post_process/function: worker binding "TARGET" has no function "absent")",
      }));
  ASSERT_TRUE(a.snapshot);
  EXPECT_TRUE(a.snapshot->routes[0].integration);
}

TEST(Attach, ModuleProblemsAreStartupErrors) {
  config::Environment env;
  auto a = attach(R"({
    "workers": [{"binding": "OLD", "module": "@ABI@"},
                {"binding": "MISSING", "module": "libdoes-not-exist.so"},
                {"binding": "FAILS", "module": "@WORKER@", "config": {"fail": true}}],
    "paths": [{"method": "GET", "path": "/", "response": "ok"}]})",
                  env);
  ASSERT_EQ(a.errors.size(), 3u);
  EXPECT_EQ(a.errors[0].pointer, "/workers/0/module");
  EXPECT_NE(a.errors[0].message.find("ABI version"), std::string::npos);
  EXPECT_EQ(a.errors[1].pointer, "/workers/1/module");
  EXPECT_NE(a.errors[1].message.find("libdoes-not-exist.so"), std::string::npos) << a.errors[1].message;
  EXPECT_EQ(a.errors[2].pointer, "/workers/2");
  EXPECT_EQ(a.errors[2].message, R"(worker "FAILS" failed to initialise: configured to fail)");

  // `workgate validate` opens and checks modules but does not initialise them.
  auto v = attach(R"({"workers": [{"binding": "FAILS", "module": "@WORKER@", "config": {"fail": true}}],
                      "paths": [{"method": "GET", "path": "/", "response": "ok"}]})",
                  env, /*load_modules=*/false);
  EXPECT_TRUE(v.errors.empty()) << messages(v.errors)[0];
}

TEST(Attach, SameModuleTwiceGivesTwoInstancesWithTheirOwnEnvAndConfig) {
  config::Environment env;
  env.set("GREETING", "hi");
  env.set("SECRET", "s3cret");
  auto a = attach(R"({
    "workers": [{"binding": "ONE", "module": "@WORKER@", "env": ["GREETING"], "config": {"n": 1}},
                {"binding": "TWO", "module": "@WORKER@", "env": ["SECRET", "UNSET"], "config": {"n": 2}}],
    "paths": [{"method": "GET", "path": "/", "response": "ok"}]})",
                  env);
  ASSERT_TRUE(a.errors.empty());
  auto one = a.registry->worker("ONE");
  auto two = a.registry->worker("TWO");
  ASSERT_TRUE(one && two);
  EXPECT_NE(one->instance(), two->instance());
  ASSERT_EQ(one->env().size(), 1u);
  EXPECT_EQ(std::string_view(one->env()[0].name.data, one->env()[0].name.size), "GREETING");
  ASSERT_EQ(two->env().size(), 1u);  // UNSET is not set
  EXPECT_EQ(std::string_view(two->env()[0].value.data, two->env()[0].value.size), "s3cret");
  EXPECT_EQ(one->config_json(), R"({"n":1})");
  EXPECT_EQ(two->config_json(), R"({"n":2})");
}

TEST(Attach, ServiceEntrypointResolvesRelativeWithOrWithoutSo) {
  config::Environment env;
  std::filesystem::path sidecar(WG_TEST_SIDECAR);
  std::string stem = sidecar.filename().replace_extension("").string();
  std::string text =
      R"({"services": [{"alias": "a", "entrypoint": "STEM"}, {"alias": "b", "entrypoint": "STEM.so"},
                                      {"alias": "c", "entrypoint": "nowhere/libnope"}],
    "paths": [{"method": "GET", "path": "/a", "integration": {"type": "service", "binding": "a"}},
              {"method": "GET", "path": "/b", "integration": {"type": "service", "binding": "b"}},
              {"method": "GET", "path": "/c", "integration": {"type": "service", "binding": "c"}},
              {"method": "GET", "path": "/c2", "integration": {"type": "service", "binding": "c"}}]})";
  for (std::size_t at; (at = text.find("STEM")) != std::string::npos;)
    text.replace(at, 4, stem);
  auto a = attach(text, env, true, sidecar.parent_path());
  ASSERT_EQ(a.errors.size(), 1u) << messages(a.errors)[0];  // reported once for two routes
  EXPECT_EQ(a.errors[0].pointer, "/services/2/entrypoint");
  EXPECT_TRUE(a.snapshot->routes[0].integration);
  EXPECT_TRUE(a.snapshot->routes[1].integration);
  EXPECT_FALSE(a.snapshot->routes[2].integration);
}

TEST(Attach, ServiceWithoutFetch) {
  config::Environment env;
  auto a = attach(R"({"services": [{"alias": "t", "entrypoint": "@WORKER@"}],
    "paths": [{"method": "GET", "path": "/a", "integration": {"type": "service", "binding": "t"}}]})",
                  env);
  ASSERT_EQ(a.errors.size(), 1u);
  EXPECT_EQ(a.errors[0].pointer, "/services/0/entrypoint");
  EXPECT_NE(a.errors[0].message.find(R"(has no function "fetch")"), std::string::npos);
}

TEST(Attach, StagesAndVariables) {
  config::Environment env;
  auto a = attach(R"({
    "variables": {"g": 1, "shared": "global"},
    "workers": [{"binding": "T", "module": "@WORKER@"}],
    "serviceBindings": [{"alias": "t", "binding": "T"}],
    "paths": [{"method": "GET", "path": "/a", "variables": {"shared": "route"},
               "pre_process": {"binding": "t", "function": "edit"},
               "integration": {"type": "service_binding", "binding": "t", "function": "value",
                               "post_process": {"binding": "t", "function": "decorate"}},
               "post_process": {"binding": "t", "function": "nothing"}},
              {"method": "GET", "path": "/static", "response": 1, "post_process": {"binding": "t", "function": "decorate"}}]})",
                  env);
  ASSERT_TRUE(a.errors.empty()) << messages(a.errors)[0];
  const auto& route = a.snapshot->routes[0];
  ASSERT_TRUE(route.pre_process && route.integration && route.post_process);
  auto* post = dynamic_cast<WorkerStage*>(route.post_process.get());
  ASSERT_NE(post, nullptr);
  ASSERT_EQ(post->functions().size(), 2u);
  EXPECT_EQ(post->functions()[0].name, "decorate");
  EXPECT_EQ(post->functions()[1].name, "nothing");
  EXPECT_TRUE(a.snapshot->routes[1].post_process);
  EXPECT_EQ(variables_json(a.snapshot->config, a.snapshot->config.paths[0]), R"({"g":1,"shared":"route"})");
}

}  // namespace
}  // namespace workgate::workers
