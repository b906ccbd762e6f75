// Keys that check JWS signatures: HMAC secrets and RSA, EC and Ed25519 public keys on OpenSSL 3.
// Keys are immutable; verify() may run on every thread at once.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "auth/algorithm.hpp"

namespace workgate::auth {

// The JWK members that restrict what a key may be used for (RFC 7517 §4); each is optional.
struct KeyMetadata {
  std::optional<std::string> kid;
  std::optional<std::string> alg;
  std::optional<std::string> use;
  std::optional<std::vector<std::string>> key_ops;
};

enum class EcCurve : std::uint8_t { kP256, kP384, kP521 };

class VerificationKey {
 public:
  virtual ~VerificationKey() = default;
  VerificationKey(const VerificationKey&) = delete;
  VerificationKey& operator=(const VerificationKey&) = delete;

  // Whether this key's type (and curve) can check `algorithm` signatures. The metadata is not consulted.
  virtual bool supports(Algorithm algorithm) const = 0;
  // Checks a JOSE signature (for ES*, raw R||S) over `signing_input`; false for unsupported algorithms.
  virtual bool verify(Algorithm algorithm, std::string_view signing_input,
                      std::string_view signature) const = 0;

  const KeyMetadata& metadata() const { return metadata_; }

 protected:
  explicit VerificationKey(KeyMetadata metadata) : metadata_(std::move(metadata)) {}

 private:
  KeyMetadata metadata_;
};

// A key, or why none was built. The reason never contains key material.
struct KeyResult {
  std::shared_ptr<const VerificationKey> key;
  std::string error;
};

// HS256/384/512 keyed with the raw bytes of `secret`. An empty secret supports no algorithm (like a
// zero-length key in WebCrypto, which jose cannot import).
std::shared_ptr<const VerificationKey> make_hmac_key(std::string_view secret, KeyMetadata metadata = {});

// RS256/384/512 and PS256/384/512 from the big-endian modulus and public exponent. Refused: a modulus below
// 2048 or above 16384 bits or failing OpenSSL's public key check (even, small factors, prime); an even
// exponent, 1, or one above 64 bits.
KeyResult make_rsa_key(std::string_view modulus, std::string_view exponent, KeyMetadata metadata = {});

// ES256, ES384 or ES512 (the one matching `curve`) from the big-endian affine coordinates, each exactly the
// size of the curve's field; refused when the point is not on the curve.
KeyResult make_ec_key(EcCurve curve, std::string_view x, std::string_view y, KeyMetadata metadata = {});

// EdDSA from the 32-byte Ed25519 public key. Refused: the encodings of the 8 points of small order (either
// sign bit, canonical or not), with which forged signatures verify, and any other non-canonical encoding.
KeyResult make_ed25519_key(std::string_view public_key, KeyMetadata metadata = {});

// A PEM SubjectPublicKeyInfo ("-----BEGIN PUBLIC KEY-----") with an RSA, EC P-256/384/521 or Ed25519 key,
// refused for the same reasons as above.
KeyResult parse_public_key_pem(std::string_view pem, KeyMetadata metadata = {});

namespace detail {
// RSA and EC keys verify through per-thread contexts (one per key and algorithm, at most 16 kept per
// thread, set up on first use): how many this thread has set up so far. For tests and benchmarks.
std::uint64_t verify_contexts_created_on_this_thread();
}  // namespace detail

}  // namespace workgate::auth
