// Arbitrary mapping templates and query strings.
#include <boost/json/object.hpp>
#include <cstddef>
#include <cstdint>
#include <string>

#include "integrations/mapping.hpp"

namespace integrations = workgate::integrations;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto bar = input.find('|');
  std::string_view text = input.substr(0, bar);
  std::string query(bar == std::string_view::npos ? std::string_view() : input.substr(bar + 1));
  boost::json::object route_vars{{"tenant", "t1"}};
  boost::json::object global_vars{{"region", "eu"}};
  std::string error;
  auto compiled = integrations::ValueTemplate::compile(text, route_vars, global_vars, error);
  workgate::http::Request request;
  request.query = query;
  request.has_query = true;
  request.headers.add("X-Test", "value");
  workgate::auth::Claims claims =
      std::make_shared<const boost::json::object>(boost::json::object{{"sub", "u1"}});
  workgate::router::RouteMatch match;
  if (compiled) compiled->resolve({request, claims, match});
  integrations::query_parameter(query, "a");
  integrations::set_query_parameter(query, "a", std::string(text));
  integrations::set_query_parameter(query, "b", std::nullopt);
  integrations::form_decode(integrations::form_encode(text));
  return 0;
}
