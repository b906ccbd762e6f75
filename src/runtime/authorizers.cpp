#include "runtime/authorizers.hpp"

#include <algorithm>
#include <charconv>

#include "auth/jwk.hpp"
#include "auth/jwt.hpp"
#include "auth/remote_jwks.hpp"

namespace workgate::runtime {
namespace {

std::vector<auth::Algorithm> parse_algorithms(const std::vector<std::string>& names,
                                              const std::string& pointer,
                                              std::vector<config::ConfigError>& errors) {
  std::vector<auth::Algorithm> out;
  for (const auto& name : names) {
    if (auto alg = auth::parse_algorithm(name)) {
      out.push_back(*alg);
    } else {
      errors.push_back({pointer, "unsupported algorithm \"" + name + "\""});
    }
  }
  return out;
}

// Tuning knobs for the remote JWKS cache, read from the gateway's environment (mainly for tests).
bool seconds_from_env(const BuildOptions& options, std::string_view name, std::int64_t min, std::int64_t max,
                      std::chrono::milliseconds& out, std::vector<config::ConfigError>& errors) {
  if (options.environment == nullptr) return true;
  auto text = options.environment->get(name);
  if (!text) return true;
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (ec != std::errc() || end != text->data() + text->size() || value < min || value > max) {
    errors.push_back({"/authorizer/jwks_uri", "environment variable " + std::string(name) +
                                                  " must be an integer from " + std::to_string(min) + " to " +
                                                  std::to_string(max)});
    return false;
  }
  out = std::chrono::seconds(value);
  return true;
}

std::shared_ptr<const auth::KeySource> remote_key_source(const std::string& uri, const BuildOptions& options,
                                                         pipeline::Snapshot& snapshot,
                                                         std::vector<config::ConfigError>& errors) {
  auth::RemoteJwksOptions jwks;
  jwks.uri = uri;
  jwks.ca_files = options.ca_files;
  bool ok = seconds_from_env(options, "WORKGATE_JWKS_MIN_CACHE_SECONDS", 1, 86400, jwks.min_ttl, errors);
  ok = seconds_from_env(options, "WORKGATE_JWKS_REFETCH_INTERVAL_SECONDS", 1, 3600, jwks.unknown_kid_interval,
                        errors) &&
       ok;
  if (!ok) return nullptr;
  if (!options.connect) {
    // `workgate validate` / `routes`: no network; the snapshot is never served.
    auto placeholder = std::make_shared<auth::SwappableKeySource>();
    snapshot.keep_alive.push_back(placeholder);
    return placeholder;
  }
  jwks.retry_initial = std::min(jwks.retry_initial, jwks.min_ttl);
  std::string error;
  auto source = auth::RemoteJwks::start(std::move(jwks), error);
  if (!source) {
    errors.push_back({"/authorizer/jwks_uri", error});
    return nullptr;
  }
  snapshot.keep_alive.push_back(source);
  snapshot.remote_key_sets.push_back(source);
  return source;
}

// RFC 7518 §3.2: an HMAC key at least as long as the hash. Shorter secrets keep working (the original
// accepted them) but can be guessed offline from any token, so they are a warning.
void check_hmac_secret(std::string_view secret, const std::vector<auth::Algorithm>& algorithms,
                       const std::string& pointer, std::vector<config::ConfigError>& warnings) {
  std::size_t needed = 0;
  for (auth::Algorithm algorithm : algorithms) {
    if (algorithm == auth::Algorithm::kHS256) needed = std::max<std::size_t>(needed, 32);
    if (algorithm == auth::Algorithm::kHS384) needed = std::max<std::size_t>(needed, 48);
    if (algorithm == auth::Algorithm::kHS512) needed = std::max<std::size_t>(needed, 64);
  }
  if (!secret.empty() && secret.size() < needed) {
    warnings.push_back(
        {pointer, "is shorter than " + std::to_string(needed) +
                      " bytes, the size of the hash (RFC 7518 section 3.2): tokens signed with "
                      "it can be used to guess it offline"});
  }
}

// An inline JWK set: refused keys and a set without a usable key are warnings (the gateway still starts;
// tokens needing a refused key are refused).
std::shared_ptr<const auth::KeySource> inline_key_source(const std::string& jwks_json,
                                                         pipeline::Snapshot& snapshot,
                                                         std::vector<config::ConfigError>& errors,
                                                         std::vector<config::ConfigError>& warnings) {
  auth::JwksResult jwks = auth::parse_jwks(jwks_json);
  if (!jwks.key_set) {
    errors.push_back({"/authorizer/jwks", "JWKS configuration is not valid: " + jwks.error});
    return nullptr;
  }
  for (const std::string& line : jwks.skipped)
    warnings.push_back({"/authorizer/jwks", "key skipped: " + line});
  for (const std::string& line : jwks.warnings)
    warnings.push_back({"/authorizer/jwks", line});
  if (jwks.key_set->keys().empty()) {
    warnings.push_back({"/authorizer/jwks", "the JWK set has no usable key: every token will be refused"});
  }
  auto source = std::make_shared<auth::SwappableKeySource>(jwks.key_set);
  snapshot.keep_alive.push_back(source);
  return source;
}

}  // namespace

std::unique_ptr<auth::Verifier> make_verifier(const config::Authorizer& authorizer,
                                              const BuildOptions& build_options, pipeline::Snapshot& snapshot,
                                              std::vector<config::ConfigError>& errors,
                                              std::vector<config::ConfigError>& warnings) {
  auth::JwtVerifierOptions options;
  options.issuer = authorizer.issuer;
  options.audiences = authorizer.audiences;
  options.leeway_seconds = authorizer.leeway_seconds;
  switch (authorizer.type) {
    case config::AuthorizerType::kJwt:
      options.algorithms = parse_algorithms(authorizer.algorithms, "/authorizer/algorithm", errors);
      options.key = auth::make_hmac_key(authorizer.secret);
      options.error_style = auth::ErrorStyle::kJose;
      check_hmac_secret(authorizer.secret, options.algorithms, "/authorizer/secret", warnings);
      break;
    case config::AuthorizerType::kSupabase:
      options.algorithms = {auth::Algorithm::kHS256};
      options.key = auth::make_hmac_key(authorizer.jwt_secret);
      options.error_style = auth::ErrorStyle::kJsonWebToken;
      check_hmac_secret(authorizer.jwt_secret, options.algorithms, "/authorizer/jwt_secret", warnings);
      break;
    case config::AuthorizerType::kAuth0: {
      options.algorithms = parse_algorithms(authorizer.algorithms, "/authorizer/algorithms", errors);
      options.error_style = auth::ErrorStyle::kJose;
      if (authorizer.jwks) {
        auto source = inline_key_source(*authorizer.jwks, snapshot, errors, warnings);
        if (!source) return nullptr;
        options.key = std::move(source);
      } else if (authorizer.jwks_uri) {
        auto source = remote_key_source(*authorizer.jwks_uri, build_options, snapshot, errors);
        if (!source) return nullptr;
        options.key = std::move(source);
      } else {
        errors.push_back({"/authorizer", "No JWKS source configured."});
        return nullptr;
      }
      break;
    }
  }
  if (options.algorithms.empty()) return nullptr;
  return std::make_unique<auth::JwtVerifier>(std::move(options));
}

}  // namespace workgate::runtime
