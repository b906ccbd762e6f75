// A worker's JSON result: the one-pass envelope (workers/envelope.hpp) must answer exactly as the general
// path (a boost::json DOM) does, and invalid JSON must be an error on both.
#include <boost/json/parse.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "workers/results.hpp"

namespace workers = workgate::workers;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  workgate::http::Response fast;
  std::string fast_error;
  bool fast_ok = workers::wrap_json_text(text, fast, fast_error);
  boost::system::error_code ec;
  boost::json::value value = boost::json::parse(text, ec);
  if (ec) {
    if (fast_ok) std::abort();  // invalid JSON answered
    return 0;
  }
  workgate::http::Response general;
  std::string general_error;
  bool general_ok = workers::wrap_value(value, general, general_error);
  if (fast_ok != general_ok || fast_error != general_error) std::abort();
  if (fast_ok && (fast.status != general.status || fast.body() != general.body())) std::abort();
  return 0;
}
