#include "app/validate.hpp"

#include <algorithm>

#include "config/buildable.hpp"
#include "config/loader.hpp"
#include "runtime/builder.hpp"
#include "workers/attach.hpp"

namespace workgate::app {

namespace {

bool same(const config::ConfigError& a, const config::ConfigError& b) {
  return a.pointer == b.pointer && a.message == b.message;
}

bool contains(const std::vector<config::ConfigError>& list, std::size_t end, const config::ConfigError& e) {
  return std::any_of(list.begin(), list.begin() + static_cast<std::ptrdiff_t>(end),
                     [&](const config::ConfigError& x) { return same(x, e); });
}

}  // namespace

void ProblemList::add_stage(const std::vector<config::ConfigError>& errors,
                            const std::vector<config::ConfigError>& warnings) {
  const std::size_t earlier = errors_.size();
  for (const config::ConfigError& e : errors) {
    if (contains(errors_, errors_.size(), e)) continue;
    bool related = std::any_of(errors_.begin(), errors_.begin() + static_cast<std::ptrdiff_t>(earlier),
                               [&](const config::ConfigError& x) {
                                 return config::pointer_within(e.pointer, x.pointer) ||
                                        config::pointer_within(x.pointer, e.pointer);
                               });
    if (!related) errors_.push_back(e);
  }
  for (const config::ConfigError& w : warnings) {
    if (!contains(warnings_, warnings_.size(), w)) warnings_.push_back(w);
  }
}

std::vector<ValidationCheck> validation_checks() {
  return {
      // JavaScript workers: one workerd process, the checks serve makes at load (workers/attach.hpp).
      [](const ValidationContext& context, std::vector<config::ConfigError>& errors,
         std::vector<config::ConfigError>&) {
        workers::check_js_workers(context.config, context.environment, errors);
      },
  };
}

ValidationReport validate_config(const std::optional<std::filesystem::path>& path,
                                 const config::Environment& environment,
                                 const std::vector<std::string>& ca_files,
                                 const std::vector<ValidationCheck>& checks) {
  ValidationReport report;
  config::LoadResult loaded = config::load_gateway_config(path, environment, report.source);
  report.problems.add_stage(loaded.errors, loaded.warnings);
  const bool complete = loaded.config.has_value();
  std::optional<config::Config>& document = complete ? loaded.config : loaded.partial;
  if (!document) return report;  // not JSON, not an object, not readable: nothing more to check
  report.routes = document->paths.size();

  runtime::BuildOptions options;
  options.environment = &environment;
  options.connect = false;
  options.ca_files = ca_files;
  // The build consumes its config; the checks after it read the snapshot's copy (or this one).
  std::optional<config::Config> kept;
  if (!checks.empty()) kept = *document;
  runtime::BuildResult built = runtime::build_snapshot(std::move(*document), options);
  report.problems.add_stage(built.errors, built.warnings);

  if (checks.empty()) return report;
  const config::Config& cfg = built.snapshot ? built.snapshot->config : *kept;
  for (const ValidationCheck& check : checks) {
    std::vector<config::ConfigError> errors, warnings;
    check(ValidationContext{cfg, complete, built.snapshot.get(), environment}, errors, warnings);
    report.problems.add_stage(errors, warnings);
  }
  return report;
}

}  // namespace workgate::app
