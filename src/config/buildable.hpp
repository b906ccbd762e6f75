// What of an invalid config can still be compiled: `workgate validate` builds it to report the build
// stage's errors (worker modules, certificates, upstream TLS settings, key templates...) in the same run as
// the loader's, instead of only once the loader's are fixed.
#pragma once

#include <string_view>
#include <vector>

#include "config/config.hpp"

namespace workgate::config {

// Whether `pointer` is `entry` or lies inside it ("/paths/1/x" is in "/paths/1", "/paths/10" is not).
bool pointer_within(std::string_view pointer, std::string_view entry);

// `cfg` (what the loader read of a document with `errors`) with every entry that has an error, and every
// use of one, left out, so that building it reports other causes only. Indices are kept (pointers into the
// document stay right): a route with an error becomes a static route on a placeholder path, an authorizer,
// CORS policy or listener TLS block with an error is removed, and hooks or integrations that name a
// service binding with an error (or an auth0 authorizer that was removed) are removed from their route.
// Never served: only `workgate validate` builds it.
Config buildable_part(Config cfg, const std::vector<ConfigError>& errors);

}  // namespace workgate::config
