// An out-of-tree worker: `hello` greets with the worker's config and the caller's path parameter;
// `slow` answers asynchronously from another thread.
#include <chrono>
#include <string>
#include <thread>
#include <workgate/worker.hpp>

class Hello {
 public:
  // `config` is handed over once, as JSON text; this worker only needs it verbatim.
  explicit Hello(const workgate::Init& init) : config_(init.config_json()), binding_(init.binding()) {}

  workgate::Result hello(workgate::Call& call) {
    auto name = call.context().param("name").value_or("world");
    return workgate::Result::json(workgate::JsonWriter()
                                      .begin_object()
                                      .field("message", "hello " + std::string(name))
                                      .field("binding", binding_)
                                      .raw_field("config", config_)
                                      .field("cplusplus", static_cast<long>(__cplusplus))
                                      .end_object()
                                      .take());
  }

  workgate::Result slow(workgate::Call& call) {
    std::string path(call.request().path());  // views die when this function returns: copy
    std::thread([done = call.defer(), path]() mutable {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      done(workgate::Result::string("slow answer for " + path));
    }).detach();
    return workgate::Result::pending();
  }

 private:
  std::string config_;
  std::string binding_;
};

WORKGATE_WORKER(Hello, WORKGATE_METHOD(hello), WORKGATE_METHOD(slow))
