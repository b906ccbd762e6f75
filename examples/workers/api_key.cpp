// Example pre_process hook: lets a request through only when it carries the API key.
//
//   {"binding": "API_KEY", "module": ".../libworkgate-example-api-key.so",
//    "env": ["EXAMPLE_API_KEY"], "config": {"header": "x-api-key"}}
//
// The key comes from the gateway's environment, and the worker sees it only because its declaration lists
// EXAMPLE_API_KEY in `env`. `config.header` names the request header to check (default x-api-key).
#include <boost/json.hpp>
#include <string>
#include <workgate/worker.hpp>

namespace {

using workgate::Call;
using workgate::Result;

// Compares in time independent of where the first difference is.
bool same_secret(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

class ApiKey {
 public:
  explicit ApiKey(const workgate::Init& init) {
    boost::json::value config = boost::json::parse(init.config_json());
    if (const auto* obj = config.if_object()) {
      if (const auto* header = obj->if_contains("header"); header && header->is_string()) {
        header_ = std::string(header->get_string());
      }
    }
    if (auto key = init.env().get("EXAMPLE_API_KEY"); key && !key->empty()) {
      key_ = std::string(*key);
    } else {
      init.log(workgate::LogLevel::kWarn,
               "EXAMPLE_API_KEY is not set: the api-key hook refuses every request");
    }
  }

  Result check(Call& call) {
    auto presented = call.request().header(header_);
    if (presented && !key_.empty() && same_secret(*presented, key_)) {
      return Result::next().remove_request_header(header_);  // the service does not need the key
    }
    return Result::json_response(401, R"({"error":"Missing or invalid API key","code":"INVALID_API_KEY"})");
  }

 private:
  std::string header_ = "x-api-key";
  std::string key_;
};

}  // namespace

WORKGATE_WORKER(ApiKey, WORKGATE_METHOD(check))
