#include "runtime/authorizers.hpp"

#include "auth/jwk.hpp"
#include "auth/jwt.hpp"

namespace workgate::runtime {
namespace {

std::vector<auth::Algorithm> parse_algorithms(const std::vector<std::string>& names, const std::string& pointer,
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

}  // namespace

std::unique_ptr<auth::Verifier> make_verifier(const config::Authorizer& authorizer, const BuildOptions& /*options*/,
                                              pipeline::Snapshot& snapshot, std::vector<config::ConfigError>& errors) {
  auth::JwtVerifierOptions options;
  options.issuer = authorizer.issuer;
  options.audiences = authorizer.audiences;
  options.leeway_seconds = authorizer.leeway_seconds;
  switch (authorizer.type) {
    case config::AuthorizerType::kJwt:
      options.algorithms = parse_algorithms(authorizer.algorithms, "/authorizer/algorithm", errors);
      options.key = auth::make_hmac_key(authorizer.secret);
      options.error_style = auth::ErrorStyle::kJose;
      break;
    case config::AuthorizerType::kSupabase:
      options.algorithms = {auth::Algorithm::kHS256};
      options.key = auth::make_hmac_key(authorizer.jwt_secret);
      options.error_style = auth::ErrorStyle::kJsonWebToken;
      break;
    case config::AuthorizerType::kAuth0: {
      options.algorithms = parse_algorithms(authorizer.algorithms, "/authorizer/algorithms", errors);
      options.error_style = auth::ErrorStyle::kJose;
      if (authorizer.jwks) {
        auth::JwksResult jwks = auth::parse_jwks(*authorizer.jwks);
        if (!jwks.key_set) {
          errors.push_back({"/authorizer/jwks", "JWKS configuration is not valid: " + jwks.error});
          return nullptr;
        }
        auto source = std::make_shared<auth::SwappableKeySource>(jwks.key_set);
        snapshot.keep_alive.push_back(source);
        options.key = std::shared_ptr<const auth::KeySource>(source);
      } else {
        errors.push_back({"/authorizer/jwks_uri", "remote JWKS (jwks_uri) is not available in this build"});
        return nullptr;
      }
      break;
    }
  }
  if (options.algorithms.empty()) return nullptr;
  return std::make_unique<auth::JwtVerifier>(std::move(options));
}

}  // namespace workgate::runtime
