#include "workers/attach.hpp"

namespace workgate::workers {

void attach_worker_stages(pipeline::Snapshot& snapshot, const config::Environment& /*environment*/,
                          bool /*load_modules*/, std::vector<config::ConfigError>& errors) {
  const config::Config& cfg = snapshot.config;
  for (std::size_t i = 0; i < cfg.paths.size(); ++i) {
    const config::Route& route = cfg.paths[i];
    std::string ptr = "/paths/" + std::to_string(i);
    bool uses_worker = route.pre_process || route.post_process ||
                       (route.integration && (route.integration->type == config::IntegrationType::kService ||
                                              route.integration->type == config::IntegrationType::kServiceBinding ||
                                              route.integration->post_process));
    if (uses_worker) errors.push_back({ptr, "workers are not available in this build"});
  }
}

}  // namespace workgate::workers
