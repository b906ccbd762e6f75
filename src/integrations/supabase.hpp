// The Supabase passwordless flows (supabase_passwordless_auth, _verify, _auth_alt) as calls to the Supabase
// Auth REST API at SUPABASE_URL with the service role key (SUPABASE_SERVICE_ROLE_KEY), both read from the
// gateway's environment when the config is loaded.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "config/environment.hpp"
#include "pipeline/snapshot.hpp"

namespace workgate::integrations {

// The message supabase-js gives an Auth API error answer: msg, message, error_description or error of the
// JSON body (else the body's JSON text), a fixed text for 502/503/504 and non-JSON bodies; at most 300 bytes.
std::string supabase_error_message(int status, std::string_view body);

// The stage of a supabase_passwordless_* route. Missing environment variables are a warning (the route then
// answers 500 SUPABASE_ENV_MISSING); an unusable SUPABASE_URL or key is an error.
std::unique_ptr<pipeline::Stage> make_supabase_integration(const config::Route& route,
                                                           const config::Environment& environment,
                                                           const std::vector<std::string>& ca_files,
                                                           std::vector<config::ConfigError>& errors,
                                                           std::vector<config::ConfigError>& warnings);

}  // namespace workgate::integrations
