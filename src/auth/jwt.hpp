// JWT (compact JWS) verification for the gateway's authorizers, reproducing the checks and error bodies of
// the original: jose's jwtVerify for the `jwt` and `auth0` authorizers, jsonwebtoken's verify for `supabase`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "auth/algorithm.hpp"
#include "auth/key_set.hpp"
#include "auth/keys.hpp"
#include "auth/verifier.hpp"

namespace workgate::auth {

enum class ErrorStyle : std::uint8_t {
  kJose,          // checks in jose's order, errors as the jwt/auth0 authorizers map jose's errors
  kJsonWebToken,  // checks in jsonwebtoken's order, errors as the supabase authorizer maps them
};

// Either one fixed key, used whatever the token's kid (jose's behaviour for a key object), or a key source
// whose current set is searched like jose's LocalJWKSet.
using KeyBinding = std::variant<std::shared_ptr<const VerificationKey>, std::shared_ptr<const KeySource>>;

struct JwtVerifierOptions {
  std::vector<Algorithm> algorithms;   // the `alg` values accepted; must not be empty
  KeyBinding key;                      // must not be null
  std::optional<std::string> issuer;   // when set, `iss` must equal it
  std::vector<std::string> audiences;  // when not empty, `aud` (string or array) must contain one of them
  std::int64_t leeway_seconds = 30;    // clock tolerance for exp and nbf; must not be negative
  ErrorStyle error_style = ErrorStyle::kJose;
};

// Longer tokens are refused before any decoding.
inline constexpr std::size_t kMaxTokenLength = 16 * 1024;

class JwtVerifier final : public Verifier {
 public:
  // Throws std::invalid_argument for an empty algorithm list, a null key or a negative leeway.
  explicit JwtVerifier(JwtVerifierOptions options);

  VerifyResult verify(std::string_view token, std::int64_t now) const override;
  std::uint64_t key_generation() const override {
    return key_source_ != nullptr ? key_source_->generation() : 0;
  }

 private:
  enum class KeyLookup : std::uint8_t { kFound, kWrongKeyType, kNoMatch, kSeveralMatch, kUnavailable };
  struct ResolvedKey {
    KeyLookup outcome;
    const VerificationKey* key = nullptr;
    std::shared_ptr<const KeySet> key_set;  // keeps `key` alive when it came from a key source
  };

  VerifyResult verify_jose(std::string_view token, std::int64_t now) const;
  VerifyResult verify_jsonwebtoken(std::string_view token, std::int64_t now) const;
  VerifyResult check_claims_jose(boost::json::object claims, std::int64_t now) const;
  VerifyResult check_claims_jsonwebtoken(boost::json::object claims, std::int64_t now) const;
  bool allows(Algorithm algorithm) const;
  ResolvedKey resolve_key(Algorithm algorithm, const boost::json::object& header) const;
  VerifyResult success(boost::json::object claims) const;

  JwtVerifierOptions options_;
  const KeySource* key_source_ = nullptr;  // the source in options_.key, if that is one
  std::uint32_t allowed_algorithms_ = 0;   // bit per Algorithm value
};

}  // namespace workgate::auth
