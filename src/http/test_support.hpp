// Helpers shared by the http module's tests (not part of the library).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "http/headers.hpp"

namespace workgate::http::test_support {

using Fields = std::vector<std::pair<std::string, std::string>>;

// The fields of a header list as (name, value) pairs, in order.
inline Fields fields(const HeaderList& h) {
  Fields out;
  h.for_each(
      [&](const HeaderList::Field& f) { out.emplace_back(std::string(f.name), std::string(f.value)); });
  return out;
}

}  // namespace workgate::http::test_support
