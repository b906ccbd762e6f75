// Example post_process hook: adds the headers listed in the worker's config to every response it sees.
//
//   {"binding": "HEADERS", "module": ".../libworkgate-example-response-headers.so",
//    "config": {"headers": {"Cache-Control": "no-store", "X-Served-By": "workgate-example"}}}
#include <boost/json.hpp>
#include <string>
#include <utility>
#include <vector>
#include <workgate/worker.hpp>

namespace {

using workgate::Call;
using workgate::Result;

class ResponseHeaders {
 public:
  explicit ResponseHeaders(const workgate::Init& init) {
    boost::json::value config = boost::json::parse(init.config_json());
    const auto* obj = config.if_object();
    const auto* headers = obj ? obj->if_contains("headers") : nullptr;
    if (headers == nullptr || !headers->is_object())
      throw std::runtime_error("config.headers must be an object");
    for (const auto& kv : headers->get_object()) {
      if (!kv.value().is_string()) throw std::runtime_error("config.headers values must be strings");
      headers_.emplace_back(std::string(kv.key()), std::string(kv.value().get_string()));
    }
  }

  // Keeps the integration's response; only adds headers.
  Result add(Call&) {
    Result result = Result::next();
    for (const auto& [name, value] : headers_)
      result.set_header(name, value);
    return result;
  }

 private:
  std::vector<std::pair<std::string, std::string>> headers_;
};

}  // namespace

WORKGATE_WORKER(ResponseHeaders, WORKGATE_METHOD(add))
