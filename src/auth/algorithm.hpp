// JWS signature algorithms (RFC 7518 §3, RFC 8037 §3.1) this gateway verifies. "none" is never one of them.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace workgate::auth {

enum class Algorithm : std::uint8_t {
  kHS256,
  kHS384,
  kHS512,
  kRS256,
  kRS384,
  kRS512,
  kPS256,
  kPS384,
  kPS512,
  kES256,
  kES384,
  kES512,
  kEdDSA,  // Ed25519 only
};

enum class AlgorithmFamily : std::uint8_t { kHmac, kRsaPkcs1, kRsaPss, kEcdsa, kEdDSA };

// The `alg` header value -> algorithm; case-sensitive, nullopt for "none" and anything unknown.
std::optional<Algorithm> parse_algorithm(std::string_view name);
std::string_view algorithm_name(Algorithm algorithm);
AlgorithmFamily algorithm_family(Algorithm algorithm);
std::span<const Algorithm> all_algorithms();

}  // namespace workgate::auth
