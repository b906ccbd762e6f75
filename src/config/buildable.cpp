#include "config/buildable.hpp"

#include <algorithm>
#include <string>

namespace workgate::config {

bool pointer_within(std::string_view pointer, std::string_view entry) {
  if (!pointer.starts_with(entry)) return false;
  return pointer.size() == entry.size() || pointer[entry.size()] == '/';
}

namespace {

bool is_auth0_flow(IntegrationType type) {
  return type == IntegrationType::kAuth0Callback || type == IntegrationType::kAuth0Userinfo ||
         type == IntegrationType::kAuth0CallbackRedirect || type == IntegrationType::kAuth0Refresh;
}

}  // namespace

Config buildable_part(Config cfg, const std::vector<ConfigError>& errors) {
  auto has_error = [&](std::string_view entry) {
    return std::any_of(errors.begin(), errors.end(),
                       [&](const ConfigError& e) { return pointer_within(e.pointer, entry); });
  };
  const bool authorizer_removed = cfg.authorizer && has_error("/authorizer");
  if (authorizer_removed) cfg.authorizer.reset();
  if (cfg.cors && has_error("/cors")) cfg.cors.reset();
  for (ListenerEntry& listener : cfg.gateway.listeners) {
    if (has_error(listener.pointer)) listener.tls.reset();
  }
  // A service binding with an error (or one that names no worker: reported at the binding).
  auto broken_binding = [&](const std::string& alias) {
    const ServiceBindingEntry* entry = cfg.find_service_binding(alias);
    return entry == nullptr || has_error(entry->pointer);
  };
  auto keep_hook = [&](std::optional<HookRef>& hook) {
    if (hook && broken_binding(hook->binding)) hook.reset();
  };
  for (Route& route : cfg.paths) {
    const std::string ptr = "/paths/" + std::to_string(route.index);
    if (has_error(ptr)) {
      route.method = "GET";
      route.path = "/.workgate-invalid-route/" + std::to_string(route.index);
      route.auth = false;
      route.integration.reset();
      route.mapping = {};
      route.pre_process.reset();
      route.post_process.reset();
      route.rate_limits.clear();
      continue;
    }
    keep_hook(route.pre_process);
    keep_hook(route.post_process);
    if (!route.integration) continue;
    Integration& in = *route.integration;
    keep_hook(in.post_process);
    if ((in.type == IntegrationType::kServiceBinding && broken_binding(in.binding)) ||
        (authorizer_removed && is_auth0_flow(in.type))) {
      route.integration.reset();
    }
  }
  return cfg;
}

}  // namespace workgate::config
