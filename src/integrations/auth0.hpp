// The Auth0 flows: auth0_callback (code -> tokens), auth0_userinfo, auth0_callback_redirect (to the
// /authorize page) and auth0_refresh, talking to https://{authorizer.domain}/ as the original does.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "auth/verifier.hpp"
#include "config/config.hpp"
#include "pipeline/snapshot.hpp"

namespace workgate::integrations {

// `domain` as host[:port] (a bracketed IPv6 address allowed); nullopt when it is anything else (a URL, a
// path, user info).
struct Auth0Origin {
  std::string host;  // IPv6 without brackets
  std::uint16_t port = 443;
};
std::optional<Auth0Origin> parse_auth0_domain(const std::string& domain);

// The authorize URL auth0_callback_redirect sends the browser to, every parameter URL-encoded.
std::string auth0_authorize_url(const config::Authorizer& authorizer, const std::string& state);

// The stage of an auth0_* route. `verifier` is the snapshot's (the auth0 authorizer's); errors carry
// pointers under /authorizer. Returns null on errors.
std::unique_ptr<pipeline::Stage> make_auth0_integration(const config::Route& route,
                                                        const config::Config& config,
                                                        const auth::Verifier* verifier,
                                                        const std::vector<std::string>& ca_files,
                                                        std::vector<config::ConfigError>& errors);

}  // namespace workgate::integrations
