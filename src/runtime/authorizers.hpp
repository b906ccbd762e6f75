// Building the verifier of the configured authorizer.
#pragma once

#include <memory>
#include <vector>

#include "auth/verifier.hpp"
#include "config/config.hpp"
#include "pipeline/snapshot.hpp"
#include "runtime/builder.hpp"

namespace workgate::runtime {

// Errors and warnings (refused inline JWKs, a JWK set without a usable key, an HMAC secret shorter than its
// hash) are reported with pointers into /authorizer. Objects the verifier needs beyond its own lifetime
// (key sources) are added to snapshot.keep_alive.
std::unique_ptr<auth::Verifier> make_verifier(const config::Authorizer& authorizer,
                                              const BuildOptions& options, pipeline::Snapshot& snapshot,
                                              std::vector<config::ConfigError>& errors,
                                              std::vector<config::ConfigError>& warnings);

}  // namespace workgate::runtime
