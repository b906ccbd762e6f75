// Test-only helpers (tests and benchmarks): generate keys and mint compact JWS tokens with OpenSSL, and
// export public keys as JWK or PEM. Header-only so both test binaries can use it; never linked into wg_auth.
#pragma once

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <array>
#include <boost/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>

#include "auth/algorithm.hpp"
#include "auth/base64url.hpp"
#include "auth/openssl_handles.hpp"

namespace workgate::auth::testing {

inline void require(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("OpenSSL test helper failed: ") + what);
}

inline const unsigned char* bytes_of(std::string_view text) {
  return reinterpret_cast<const unsigned char*>(text.data());
}

// type "RSA" (with rsa_bits), "EC" (with ec_curve such as "P-256") or "ED25519".
inline openssl::PkeyPtr generate_key(const char* type, int rsa_bits = 2048, const char* ec_curve = nullptr) {
  openssl::PkeyCtxPtr context(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  require(context && EVP_PKEY_keygen_init(context.get()) == 1, "keygen init");
  if (std::string_view(type) == "RSA")
    require(EVP_PKEY_CTX_set_rsa_keygen_bits(context.get(), rsa_bits) == 1, "bits");
  if (ec_curve != nullptr) require(EVP_PKEY_CTX_set_group_name(context.get(), ec_curve) == 1, "curve");
  EVP_PKEY* key = nullptr;
  require(EVP_PKEY_keygen(context.get(), &key) == 1, "keygen");
  return openssl::PkeyPtr(key);
}

inline openssl::PkeyPtr generate_rsa(int bits = 2048) {
  return generate_key("RSA", bits);
}
inline openssl::PkeyPtr generate_ec(const char* curve) {
  return generate_key("EC", 0, curve);
}
inline openssl::PkeyPtr generate_ed25519() {
  return generate_key("ED25519");
}

inline const EVP_MD* test_digest(Algorithm algorithm) {
  switch (algorithm) {
    case Algorithm::kHS256:
    case Algorithm::kRS256:
    case Algorithm::kPS256:
    case Algorithm::kES256:
      return EVP_sha256();
    case Algorithm::kHS384:
    case Algorithm::kRS384:
    case Algorithm::kPS384:
    case Algorithm::kES384:
      return EVP_sha384();
    case Algorithm::kHS512:
    case Algorithm::kRS512:
    case Algorithm::kPS512:
    case Algorithm::kES512:
      return EVP_sha512();
    case Algorithm::kEdDSA:
      return nullptr;
  }
  return nullptr;
}

inline std::string hmac_sign(std::string_view secret, Algorithm algorithm, std::string_view input) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  std::size_t size = 0;
  require(
      EVP_Q_mac(nullptr, "HMAC", nullptr, EVP_MD_get0_name(test_digest(algorithm)), nullptr, secret.data(),
                secret.size(), bytes_of(input), input.size(), mac.data(), mac.size(), &size) != nullptr,
      "hmac");
  return std::string(reinterpret_cast<const char*>(mac.data()), size);
}

// ECDSA DER (what OpenSSL produces) -> JOSE R||S, each padded to the field size.
inline std::string ecdsa_der_to_raw(std::string_view der, std::size_t field_size) {
  const unsigned char* cursor = bytes_of(der);
  ECDSA_SIG* signature = d2i_ECDSA_SIG(nullptr, &cursor, static_cast<long>(der.size()));
  require(signature != nullptr, "ecdsa der");
  std::string raw(2 * field_size, '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  const bool ok =
      BN_bn2binpad(ECDSA_SIG_get0_r(signature), out, static_cast<int>(field_size)) > 0 &&
      BN_bn2binpad(ECDSA_SIG_get0_s(signature), out + field_size, static_cast<int>(field_size)) > 0;
  ECDSA_SIG_free(signature);
  require(ok, "ecdsa raw");
  return raw;
}

inline std::size_t ec_field_size(Algorithm algorithm) {
  return algorithm == Algorithm::kES256 ? 32 : algorithm == Algorithm::kES384 ? 48 : 66;
}

// `pss_salt_length` overrides RFC 7518's salt length (the digest length) to mint non-conforming PS* tokens.
inline std::string key_sign(EVP_PKEY* key, Algorithm algorithm, std::string_view input,
                            int pss_salt_length = RSA_PSS_SALTLEN_DIGEST) {
  openssl::MdCtxPtr context(EVP_MD_CTX_new());
  EVP_PKEY_CTX* key_context = nullptr;
  require(
      context && EVP_DigestSignInit(context.get(), &key_context, test_digest(algorithm), nullptr, key) == 1,
      "sign init");
  if (algorithm_family(algorithm) == AlgorithmFamily::kRsaPss) {
    require(EVP_PKEY_CTX_set_rsa_padding(key_context, RSA_PKCS1_PSS_PADDING) == 1 &&
                EVP_PKEY_CTX_set_rsa_pss_saltlen(key_context, pss_salt_length) == 1 &&
                EVP_PKEY_CTX_set_rsa_mgf1_md(key_context, test_digest(algorithm)) == 1,
            "pss");
  }
  std::size_t size = 0;
  require(EVP_DigestSign(context.get(), nullptr, &size, bytes_of(input), input.size()) == 1, "sign size");
  std::string signature(size, '\0');
  require(EVP_DigestSign(context.get(), reinterpret_cast<unsigned char*>(signature.data()), &size,
                         bytes_of(input), input.size()) == 1,
          "sign");
  signature.resize(size);
  if (algorithm_family(algorithm) == AlgorithmFamily::kEcdsa) {
    return ecdsa_der_to_raw(signature, ec_field_size(algorithm));
  }
  return signature;
}

// header.payload.signature with `sign` given the signing input.
template <class Sign>
std::string compact(std::string_view header_json, std::string_view payload_json, Sign&& sign) {
  std::string input = base64url_encode(header_json) + "." + base64url_encode(payload_json);
  const std::string signature = sign(std::string_view(input));
  return input + "." + base64url_encode(signature);
}

inline std::string hmac_token(std::string_view secret, Algorithm algorithm, std::string_view header_json,
                              std::string_view payload_json) {
  return compact(header_json, payload_json,
                 [&](std::string_view input) { return hmac_sign(secret, algorithm, input); });
}

inline std::string key_token(EVP_PKEY* key, Algorithm algorithm, std::string_view header_json,
                             std::string_view payload_json) {
  return compact(header_json, payload_json,
                 [&](std::string_view input) { return key_sign(key, algorithm, input); });
}

inline std::string bignum_param(const EVP_PKEY* key, const char* name, int padded_size = 0) {
  BIGNUM* number = nullptr;
  require(EVP_PKEY_get_bn_param(key, name, &number) == 1, name);
  const openssl::BignumPtr owned(number);
  const int size = padded_size > 0 ? padded_size : BN_num_bytes(number);
  std::string bytes(static_cast<std::size_t>(size), '\0');
  require(BN_bn2binpad(number, reinterpret_cast<unsigned char*>(bytes.data()), size) == size, "bn2bin");
  return bytes;
}

// The public JWK of an RSA, EC or Ed25519 key (no kid, alg, use or key_ops).
inline boost::json::object public_jwk(const EVP_PKEY* key) {
  if (EVP_PKEY_is_a(key, "RSA")) {
    return {{"kty", "RSA"},
            {"n", base64url_encode(bignum_param(key, OSSL_PKEY_PARAM_RSA_N))},
            {"e", base64url_encode(bignum_param(key, OSSL_PKEY_PARAM_RSA_E))}};
  }
  if (EVP_PKEY_is_a(key, "EC")) {
    std::array<char, 64> group{};
    std::size_t group_size = 0;
    require(EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group.data(), group.size(),
                                           &group_size) == 1,
            "group");
    const std::string_view group_name(group.data(), group_size);
    const char* crv = group_name == "prime256v1" ? "P-256" : group_name == "secp384r1" ? "P-384" : "P-521";
    const int field_size = group_name == "prime256v1" ? 32 : group_name == "secp384r1" ? 48 : 66;
    return {{"kty", "EC"},
            {"crv", crv},
            {"x", base64url_encode(bignum_param(key, OSSL_PKEY_PARAM_EC_PUB_X, field_size))},
            {"y", base64url_encode(bignum_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, field_size))}};
  }
  std::array<unsigned char, 32> raw{};
  std::size_t size = raw.size();
  require(EVP_PKEY_get_raw_public_key(key, raw.data(), &size) == 1, "raw public key");
  return {{"kty", "OKP"},
          {"crv", "Ed25519"},
          {"x", base64url_encode(std::string_view(reinterpret_cast<const char*>(raw.data()), size))}};
}

inline std::string public_pem(const EVP_PKEY* key) {
  openssl::BioPtr bio(BIO_new(BIO_s_mem()));
  require(bio && PEM_write_bio_PUBKEY(bio.get(), key) == 1, "pem");
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

}  // namespace workgate::auth::testing
