// The `sidecar` test worker of the conformance suite (see ../shared/conformance/README.md): bound twice,
// as HOOKS (before, after) and TARGET (run), and as the entry point of a `services` integration (fetch).
// Built with the public SDK only, like an out-of-tree worker.
#include <algorithm>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>
#include <workgate/worker.hpp>

namespace {

using workgate::Call;
using workgate::JsonWriter;
using workgate::Result;

class Sidecar {
 public:
  // pre_process: x-block "1" answers 403, "enrich" continues with x-enriched added, anything else continues.
  Result before(Call& call) {
    auto block = call.request().header("x-block");
    if (block == "1") {
      std::string body = JsonWriter()
                             .begin_object()
                             .field("blocked", true)
                             .field("by", "HOOKS.before")
                             .field("path", call.request().path())
                             .end_object()
                             .take();
      return Result::json_response(403, std::move(body)).set_header("x-hook", "blocked");
    }
    if (block == "enrich") return Result::next().set_request_header("x-enriched", "yes");
    return Result::next();
  }

  // post_process: keeps the response and adds x-post-processed.
  Result after(Call&) { return Result::next().set_header("x-post-processed", "yes"); }

  // service_binding: behaviour selected by the query parameter `mode`.
  Result run(Call& call) {
    auto request = call.request();
    std::string mode = request.query_param("mode").value_or("object");
    if (mode == "response") {
      return Result::text(202, "plain text from TARGET.run", "text/plain").set_header("x-from", "TARGET.run");
    }
    if (mode == "string") return Result::string(R"({"raw":"string from TARGET.run"})");
    if (mode == "null") return Result::null();
    // A small fixed object (the benchmark's minimal function: the gateway's cost, not the worker's).
    if (mode == "record")
      return Result::json(R"({"id":42,"name":"workgate","active":true,"tags":["a","b"]})");
    if (mode == "error") return Result::json(R"({"error":"boom","statusCode":418,"message":"teapot"})");
    if (mode == "throw") throw std::runtime_error("sidecar: mode=throw");
    return Result::json(describe(call));
  }

  // services entry point.
  Result fetch(Call&) { return Result::text(200, "Hello from sidecar fetch", "text/plain"); }

 private:
  static std::string describe(Call& call) {
    auto request = call.request();
    auto context = call.context();
    auto env = call.env();
    JsonWriter w;
    w.begin_object().field("statusCode", 201).field("message", "ran");
    w.field("method", request.method()).field("path", request.path()).field("search", request.search());
    if (request.body().empty()) {
      w.key("body").null();
    } else {
      w.field("body", request.body());
    }
    w.field("matched_path", context.route_path());
    w.key("params").begin_object();
    for (auto param : context.params())
      w.field(param.name, param.value);
    w.end_object();
    if (auto sub = context.claim_json("sub")) {
      w.raw_field("jwt_sub", *sub);
    } else {
      w.key("jwt_sub").null();
    }
    w.field("env_greeting", env.get("GREETING"));
    std::vector<std::string_view> keys = env.names();
    std::sort(keys.begin(), keys.end());
    w.key("env_keys").begin_array();
    for (std::string_view k : keys)
      w.value(k);
    w.end_array();
    w.field("enriched", request.header("x-enriched"));
    return w.end_object().take();
  }
};

}  // namespace

WORKGATE_WORKER(Sidecar, WORKGATE_METHOD(before), WORKGATE_METHOD(after), WORKGATE_METHOD(run),
                WORKGATE_METHOD(fetch))
