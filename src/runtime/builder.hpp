// Compiling a validated Config into the immutable Snapshot the pipeline serves.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "config/environment.hpp"
#include "pipeline/snapshot.hpp"

namespace workgate::runtime {

struct BuildOptions {
  const config::Environment* environment = nullptr;  // for the variables workers declare
  // Fetch remote resources (JWKS) and load worker modules; `workgate validate` builds without network.
  bool connect = true;
  // Extra trusted CA files for every outgoing TLS connection (--ca-file).
  std::vector<std::string> ca_files;
};

struct BuildResult {
  std::shared_ptr<pipeline::Snapshot> snapshot;  // null when errors is not empty
  std::vector<config::ConfigError> errors;
  std::vector<config::ConfigError> warnings;
};

BuildResult build_snapshot(config::Config config, const BuildOptions& options);

}  // namespace workgate::runtime
