// Arbitrary bearer tokens against HS256 and JWKS-backed verifiers: a result, never a crash.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "auth/jwk.hpp"
#include "auth/jwt.hpp"

namespace auth = workgate::auth;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto hmac = [] {
    auth::JwtVerifierOptions options;
    options.algorithms = {auth::Algorithm::kHS256};
    options.key = auth::make_hmac_key("fuzz-secret");
    options.issuer = "https://issuer.test";
    options.audiences = {"clients"};
    return std::make_unique<auth::JwtVerifier>(std::move(options));
  }();
  static const auto supabase = [] {
    auth::JwtVerifierOptions options;
    options.algorithms = {auth::Algorithm::kHS256};
    options.key = auth::make_hmac_key("fuzz-secret");
    options.error_style = auth::ErrorStyle::kJsonWebToken;
    return std::make_unique<auth::JwtVerifier>(std::move(options));
  }();
  std::string_view token(reinterpret_cast<const char*>(data), size);
  for (const auto* verifier : {hmac.get(), supabase.get()}) {
    auto result = verifier->verify(token, 1700000000);
    if (result.ok() == result.failure.has_value()) __builtin_trap();
  }
  auth::extract_bearer(token);
  auth::parse_jwks(token);
  return 0;
}
