// `workgate validate`: every check in one pass. The stages run in order (the loader's checks, the snapshot
// build of what the loader could read, then the checks in validation_checks()) and each runs even when an
// earlier one found errors; every cause is reported once.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "config/environment.hpp"
#include "pipeline/snapshot.hpp"

namespace workgate::app {

// The problems of one validation run, stage by stage, each listed once.
class ProblemList {
 public:
  // Adds the problems one stage found. An error identical to one listed already is dropped, and so is one
  // at, inside or around the place of an error of an earlier stage: the later stage saw the entry as the
  // earlier one left it ("/servers/0: ..." from the build when the loader reported "/servers/0/url"), so
  // that is the same cause again. Warnings identical to a listed one are dropped.
  void add_stage(const std::vector<config::ConfigError>& errors,
                 const std::vector<config::ConfigError>& warnings);

  const std::vector<config::ConfigError>& errors() const { return errors_; }
  const std::vector<config::ConfigError>& warnings() const { return warnings_; }

 private:
  std::vector<config::ConfigError> errors_;
  std::vector<config::ConfigError> warnings_;
};

// What a check after the build sees.
struct ValidationContext {
  const config::Config& config;  // the document, or only its buildable part when `complete` is false
  bool complete = false;         // no loader error: `config` is the whole document
  // `config` compiled (the buildable part when `complete` is false); null when the build had errors.
  const pipeline::Snapshot* snapshot = nullptr;
  const config::Environment& environment;
};

// A check that runs after the build (its own stage: it runs whatever the earlier stages found).
using ValidationCheck = std::function<void(const ValidationContext&, std::vector<config::ConfigError>& errors,
                                           std::vector<config::ConfigError>& warnings)>;

// The checks `workgate validate` runs after the build; this list is where a new one is added. Today: the
// JavaScript workers (workers::check_js_workers: starts one workerd process, asks each script's bridge,
// stops it).
std::vector<ValidationCheck> validation_checks();

struct ValidationReport {
  std::string source;  // "api-config.json", "SAG_API_CONFIG_JSON"
  ProblemList problems;
  std::size_t routes = 0;  // in the document
};

// Loads the config (SAG_API_CONFIG_JSON or `path`), builds it without network (connect = false: worker
// modules are opened and checked, not initialised; no JWKS is fetched) and runs `checks`
// (validation_checks() for `workgate validate`).
ValidationReport validate_config(const std::optional<std::filesystem::path>& path,
                                 const config::Environment& environment,
                                 const std::vector<std::string>& ca_files,
                                 const std::vector<ValidationCheck>& checks);

}  // namespace workgate::app
