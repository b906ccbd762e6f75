// A worker for the unit tests of src/workers: synchronous and asynchronous results, late completions,
// environment and config views, request and response changes, failures.
#include <atomic>
#include <chrono>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>
#include <workgate/worker.hpp>

namespace {

using workgate::Call;
using workgate::Completion;
using workgate::JsonWriter;
using workgate::Result;

std::mutex g_mutex;
std::vector<Completion> g_parked;  // completions held until `release_parked`
std::atomic<int> g_instances{0};

class TestWorker {
 public:
  explicit TestWorker(const workgate::Init& init) : config_(init.config_json()) {
    if (config_.find("\"fail\"") != std::string::npos) throw std::runtime_error("configured to fail");
    ++g_instances;
  }
  ~TestWorker() { --g_instances; }

  // The request body is the JSON text of the result.
  Result value(Call& call) { return Result::json(std::string(call.request().body())); }
  Result string(Call& call) { return Result::string(std::string(call.request().body())); }
  Result nothing(Call&) { return Result::next(); }
  Result fail(Call&) { return Result::error("failed on purpose"); }
  Result throws(Call&) { throw std::runtime_error("thrown on purpose"); }

  // Everything the function can see.
  Result describe(Call& call) {
    auto r = call.request();
    auto c = call.context();
    JsonWriter w;
    w.begin_object();
    w.field("method", r.method())
        .field("path", r.path())
        .field("query", r.query())
        .field("has_query", r.has_query());
    w.field("body", r.body()).field("route", c.route_path()).field("request_id", c.request_id());
    w.key("headers").begin_array();
    for (auto h : r.headers())
      w.begin_array().value(h.name).value(h.value).end_array();
    w.end_array();
    w.key("params").begin_object();
    for (auto p : c.params())
      w.field(p.name, p.value);
    w.end_object();
    w.key("env").begin_object();
    for (auto e : call.env())
      w.field(e.name, e.value);
    w.end_object();
    w.raw_field("claims", c.claims_json()).field("sub", c.claim_string("sub"));
    w.raw_field("variables", c.variables_json()).raw_field("config", c.config_json());
    w.field("instances", g_instances.load());
    return Result::json_response(200, w.end_object().take());
  }

  // pre_process: change the request as the query says.
  Result edit(Call& call) {
    auto r = call.request();
    Result result = Result::next().set_request_header("x-edited", "1").remove_request_header("x-drop");
    if (auto p = r.query_param("path")) result.set_path(*p);
    if (auto b = r.query_param("body")) result.set_request_body(*b);
    if (r.query_param("clear")) result.clear_query();
    return result;
  }

  // post_process: edit the response.
  Result decorate(Call& call) {
    return Result::next()
        .set_header("x-status-seen", std::to_string(call.response().status()))
        .set_header("x-body-seen", call.response().body())
        .status(299);
  }
  Result bad_header(Call&) { return Result::response(200).set_header("bad name", "x"); }

  // Asynchronous: completes after `delay` ms (query) on another thread.
  Result later(Call& call) {
    int delay = std::stoi(call.request().query_param("delay").value_or("10"));
    std::string body(call.request().body());
    std::thread([done = call.defer(), delay, body]() mutable {
      std::this_thread::sleep_for(std::chrono::milliseconds(delay));
      done(Result::json(body));
    }).detach();
    return Result::pending();
  }
  // Completes before returning (still reported as pending).
  Result early(Call& call) {
    Completion done = call.defer();
    done(Result::string("early"));
    return Result::pending();
  }
  // Parks the completion until release_parked() (a test helper) or the process ends.
  Result park(Call& call) {
    std::lock_guard lock(g_mutex);
    g_parked.push_back(call.defer());
    return Result::pending();
  }
  Result drop(Call& call) {
    Completion done = call.defer();
    return Result::pending();  // destroyed here: completes with an error
  }
  Result pending_without_defer(Call&) { return Result::pending(); }
  Result defer_then_return(Call& call) {
    Completion done = call.defer();
    std::lock_guard lock(g_mutex);
    g_parked.push_back(std::move(done));
    return Result::string("sync");
  }

 private:
  std::string config_;
};

}  // namespace

// Completes every parked call with {"late":true}; returns how many.
extern "C" WORKGATE_EXPORT int workgate_test_release_parked(void) {
  std::vector<Completion> parked;
  {
    std::lock_guard lock(g_mutex);
    parked.swap(g_parked);
  }
  for (auto& done : parked)
    done(Result::json(R"({"late":true})"));
  return static_cast<int>(parked.size());
}

WORKGATE_WORKER(TestWorker, WORKGATE_METHOD(value), WORKGATE_METHOD(string), WORKGATE_METHOD(nothing),
                WORKGATE_METHOD(fail), WORKGATE_METHOD(throws), WORKGATE_METHOD(describe),
                WORKGATE_METHOD(edit), WORKGATE_METHOD(decorate), WORKGATE_METHOD(bad_header),
                WORKGATE_METHOD(later), WORKGATE_METHOD(early), WORKGATE_METHOD(park), WORKGATE_METHOD(drop),
                WORKGATE_METHOD(pending_without_defer), WORKGATE_METHOD(defer_then_return))
