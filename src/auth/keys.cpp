#include "auth/keys.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <array>
#include <atomic>
#include <climits>
#include <cstdint>
#include <new>
#include <stdexcept>
#include <utility>

#include "auth/openssl_handles.hpp"

namespace workgate::auth {
namespace {

namespace ossl = openssl;

const unsigned char* bytes_of(std::string_view text) {
  return reinterpret_cast<const unsigned char*>(text.data());
}

KeyResult refuse(std::string reason) {
  return {nullptr, std::move(reason)};
}

// Fetched once: OpenSSL 3 otherwise looks the digest up by name, under a lock, on every verification.
// Deliberately never freed: the process needs them until it exits.
struct Digests {
  const EVP_MD* sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  const EVP_MD* sha384 = EVP_MD_fetch(nullptr, "SHA384", nullptr);
  const EVP_MD* sha512 = EVP_MD_fetch(nullptr, "SHA512", nullptr);
};

const Digests& digests() {
  static const Digests fetched;
  return fetched;
}

EVP_MAC* hmac() {
  static EVP_MAC* const fetched = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  return fetched;
}

// The hash of an HS/RS/PS/ES algorithm; nullptr for EdDSA, which hashes internally.
const EVP_MD* digest_for(Algorithm algorithm) {
  switch (algorithm) {
    case Algorithm::kHS256:
    case Algorithm::kRS256:
    case Algorithm::kPS256:
    case Algorithm::kES256:
      return digests().sha256;
    case Algorithm::kHS384:
    case Algorithm::kRS384:
    case Algorithm::kPS384:
    case Algorithm::kES384:
      return digests().sha384;
    case Algorithm::kHS512:
    case Algorithm::kRS512:
    case Algorithm::kPS512:
    case Algorithm::kES512:
      return digests().sha512;
    case Algorithm::kEdDSA:
      return nullptr;
  }
  return nullptr;
}

// One-shot EVP_DigestVerify: EdDSA (which hashes internally) only.
bool digest_verify(EVP_PKEY* key, Algorithm algorithm, std::string_view signing_input,
                   std::string_view signature) {
  ossl::ErrorQueueScope error_scope;
  ossl::MdCtxPtr context(EVP_MD_CTX_new());
  if (!context || EVP_DigestVerifyInit(context.get(), nullptr, digest_for(algorithm), nullptr, key) != 1) {
    return false;
  }
  return EVP_DigestVerify(context.get(), bytes_of(signature), signature.size(), bytes_of(signing_input),
                          signing_input.size()) == 1;
}

std::uint64_t next_key_identity() {
  static std::atomic<std::uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

namespace detail {

// What EVP_DigestVerifyInit does on every call (fetch the signature implementation by name under a lock,
// build an EVP_PKEY_CTX and its provider context, duplicate it again in EVP_DigestVerifyFinal) is done once
// per thread, key and algorithm here: the hash goes through this thread's reused EVP_MD_CTX and the
// signature check through a cached, verify-initialised EVP_PKEY_CTX (what `openssl speed` measures).
// Nothing of a verification stays in either context: EVP_DigestInit_ex2 restarts the hash and
// EVP_PKEY_verify keeps no state between calls, whatever the previous call's outcome.
class VerifyContextCache {
 public:
  static VerifyContextCache& for_this_thread() {
    thread_local VerifyContextCache cache;
    return cache;
  }

  // The verify context for `key` (identified by `key_identity`, never reused) and `algorithm`; nullptr when
  // OpenSSL refuses to set one up.
  EVP_PKEY_CTX* context(std::uint64_t key_identity, EVP_PKEY* key, Algorithm algorithm) {
    for (Entry& entry : entries_) {
      if (entry.key_identity == key_identity && entry.algorithm == algorithm) return entry.context.get();
    }
    ossl::PkeyCtxPtr created = make_context(key, algorithm);
    if (!created) return nullptr;
    Entry& slot = entries_[next_slot_];
    next_slot_ = (next_slot_ + 1) % entries_.size();
    slot = Entry{key_identity, algorithm, std::move(created)};
    ++contexts_created_;
    return slot.context.get();
  }

  // The hash of `data`; false when OpenSSL fails (the context is set up afresh by the next call).
  bool hash(const EVP_MD* digest, std::string_view data, std::array<unsigned char, EVP_MAX_MD_SIZE>& out,
            unsigned int& out_size) {
    if (!digest_context_) digest_context_.reset(EVP_MD_CTX_new());
    if (!digest_context_) return false;
    if (EVP_DigestInit_ex2(digest_context_.get(), digest, nullptr) == 1 &&
        EVP_DigestUpdate(digest_context_.get(), data.data(), data.size()) == 1 &&
        EVP_DigestFinal_ex(digest_context_.get(), out.data(), &out_size) == 1) {
      return true;
    }
    EVP_MD_CTX_reset(digest_context_.get());
    return false;
  }

  std::uint64_t contexts_created() const { return contexts_created_; }

 private:
  struct Entry {
    std::uint64_t key_identity = 0;  // 0: empty
    Algorithm algorithm = Algorithm::kRS256;
    ossl::PkeyCtxPtr context;  // holds a reference to the key: an evicted or outlived entry is still safe
  };

  static ossl::PkeyCtxPtr make_context(EVP_PKEY* key, Algorithm algorithm) {
    const EVP_MD* digest = digest_for(algorithm);
    ossl::PkeyCtxPtr context(EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr));
    if (!context || digest == nullptr || EVP_PKEY_verify_init(context.get()) != 1) return nullptr;
    switch (algorithm_family(algorithm)) {
      case AlgorithmFamily::kRsaPkcs1:
        if (EVP_PKEY_CTX_set_rsa_padding(context.get(), RSA_PKCS1_PADDING) != 1) return nullptr;
        break;
      case AlgorithmFamily::kRsaPss:
        // RFC 7518 §3.5: MGF1 with the message digest, salt as long as the digest.
        if (EVP_PKEY_CTX_set_rsa_padding(context.get(), RSA_PKCS1_PSS_PADDING) != 1 ||
            EVP_PKEY_CTX_set_rsa_pss_saltlen(context.get(), RSA_PSS_SALTLEN_DIGEST) != 1 ||
            EVP_PKEY_CTX_set_rsa_mgf1_md(context.get(), digest) != 1) {
          return nullptr;
        }
        break;
      case AlgorithmFamily::kEcdsa:
        break;
      case AlgorithmFamily::kHmac:
      case AlgorithmFamily::kEdDSA:
        return nullptr;
    }
    if (EVP_PKEY_CTX_set_signature_md(context.get(), digest) != 1) return nullptr;
    return context;
  }

  // Few keys are live at once (a JWKS has one to three); more only cost a context set-up per verification.
  std::array<Entry, 16> entries_{};
  std::size_t next_slot_ = 0;
  std::uint64_t contexts_created_ = 0;
  ossl::MdCtxPtr digest_context_;
};

std::uint64_t verify_contexts_created_on_this_thread() {
  return VerifyContextCache::for_this_thread().contexts_created();
}

}  // namespace detail

namespace {

// RSA (PKCS#1 v1.5 and PSS) and ECDSA (DER signature): hash, then check against the cached context.
bool cached_verify(std::uint64_t key_identity, EVP_PKEY* key, Algorithm algorithm,
                   std::string_view signing_input, std::string_view signature) {
  ossl::ErrorQueueScope error_scope;
  detail::VerifyContextCache& cache = detail::VerifyContextCache::for_this_thread();
  std::array<unsigned char, EVP_MAX_MD_SIZE> hash{};
  unsigned int hash_size = 0;
  EVP_PKEY_CTX* context = cache.context(key_identity, key, algorithm);
  if (context == nullptr || !cache.hash(digest_for(algorithm), signing_input, hash, hash_size)) return false;
  return EVP_PKEY_verify(context, bytes_of(signature), signature.size(), hash.data(), hash_size) == 1;
}

class HmacKey final : public VerificationKey {
 public:
  HmacKey(std::string_view secret, KeyMetadata metadata) : VerificationKey(std::move(metadata)) {
    if (secret.empty()) return;
    keyed_[0] = keyed_context(secret, "SHA256");
    keyed_[1] = keyed_context(secret, "SHA384");
    keyed_[2] = keyed_context(secret, "SHA512");
  }

  bool supports(Algorithm algorithm) const override { return keyed_for(algorithm) != nullptr; }

  bool verify(Algorithm algorithm, std::string_view signing_input,
              std::string_view signature) const override {
    const EVP_MAC_CTX* keyed = keyed_for(algorithm);
    if (keyed == nullptr) return false;
    ossl::ErrorQueueScope error_scope;
    ossl::MacCtxPtr context(EVP_MAC_CTX_dup(keyed));
    std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
    std::size_t mac_size = 0;
    if (!context || EVP_MAC_update(context.get(), bytes_of(signing_input), signing_input.size()) != 1 ||
        EVP_MAC_final(context.get(), mac.data(), &mac_size, mac.size()) != 1) {
      return false;
    }
    return signature.size() == mac_size && CRYPTO_memcmp(mac.data(), signature.data(), mac_size) == 0;
  }

 private:
  static ossl::MacCtxPtr keyed_context(std::string_view secret, const char* digest_name) {
    ossl::ErrorQueueScope error_scope;
    ossl::MacCtxPtr context(EVP_MAC_CTX_new(hmac()));
    const std::array<OSSL_PARAM, 2> params{
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>(digest_name), 0),
        OSSL_PARAM_construct_end()};
    if (!context || EVP_MAC_init(context.get(), bytes_of(secret), secret.size(), params.data()) != 1) {
      throw std::runtime_error("OpenSSL cannot set up HMAC");
    }
    return context;
  }

  const EVP_MAC_CTX* keyed_for(Algorithm algorithm) const {
    switch (algorithm) {
      case Algorithm::kHS256:
        return keyed_[0].get();
      case Algorithm::kHS384:
        return keyed_[1].get();
      case Algorithm::kHS512:
        return keyed_[2].get();
      default:
        return nullptr;
    }
  }

  // Already keyed, one per hash: duplicating one skips the key schedule and the digest fetch per
  // verification.
  std::array<ossl::MacCtxPtr, 3> keyed_;
};

class RsaKey final : public VerificationKey {
 public:
  RsaKey(ossl::PkeyPtr key, KeyMetadata metadata)
      : VerificationKey(std::move(metadata)), key_(std::move(key)), identity_(next_key_identity()) {}

  bool supports(Algorithm algorithm) const override {
    const AlgorithmFamily family = algorithm_family(algorithm);
    return family == AlgorithmFamily::kRsaPkcs1 || family == AlgorithmFamily::kRsaPss;
  }

  bool verify(Algorithm algorithm, std::string_view signing_input,
              std::string_view signature) const override {
    return supports(algorithm) && cached_verify(identity_, key_.get(), algorithm, signing_input, signature);
  }

 private:
  ossl::PkeyPtr key_;
  std::uint64_t identity_;
};

struct CurveInfo {
  const char* openssl_name;
  Algorithm algorithm;
  std::size_t field_size;  // bytes of one coordinate, and of R and of S in a JOSE signature
};

CurveInfo curve_info(EcCurve curve) {
  switch (curve) {
    case EcCurve::kP256:
      return {"P-256", Algorithm::kES256, 32};
    case EcCurve::kP384:
      return {"P-384", Algorithm::kES384, 48};
    case EcCurve::kP521:
      return {"P-521", Algorithm::kES512, 66};
  }
  return {"P-256", Algorithm::kES256, 32};
}

// One DER INTEGER holding the unsigned big-endian `magnitude`.
void append_der_integer(std::string_view magnitude, std::string& der) {
  const std::size_t first_nonzero = magnitude.find_first_not_of('\0');
  magnitude.remove_prefix(first_nonzero == std::string_view::npos ? magnitude.size() : first_nonzero);
  const bool needs_sign_octet =
      magnitude.empty() || (static_cast<unsigned char>(magnitude.front()) & 0x80) != 0;
  der += '\x02';
  der += static_cast<char>(magnitude.size() + (needs_sign_octet ? 1 : 0));  // at most 67: short form
  if (needs_sign_octet) der += '\0';
  der += magnitude;
}

// JOSE carries ECDSA signatures as R||S, each left-padded to the field size (RFC 7518 §3.4); OpenSSL wants
// DER. Any other length is not a signature for this curve.
std::optional<std::string> ecdsa_signature_to_der(std::string_view raw, std::size_t field_size) {
  if (raw.size() != 2 * field_size) return std::nullopt;
  std::string integers;
  append_der_integer(raw.substr(0, field_size), integers);
  append_der_integer(raw.substr(field_size), integers);
  std::string der = "\x30";
  if (integers.size() >= 0x80)
    der += '\x81';  // P-521 needs the long form; no curve needs more than one octet
  der += static_cast<char>(integers.size());
  der += integers;
  return der;
}

class EcKey final : public VerificationKey {
 public:
  EcKey(ossl::PkeyPtr key, EcCurve curve, KeyMetadata metadata)
      : VerificationKey(std::move(metadata)),
        key_(std::move(key)),
        curve_(curve_info(curve)),
        identity_(next_key_identity()) {}

  bool supports(Algorithm algorithm) const override { return algorithm == curve_.algorithm; }

  bool verify(Algorithm algorithm, std::string_view signing_input,
              std::string_view signature) const override {
    if (!supports(algorithm)) return false;
    const std::optional<std::string> der = ecdsa_signature_to_der(signature, curve_.field_size);
    return der && cached_verify(identity_, key_.get(), algorithm, signing_input, *der);
  }

 private:
  ossl::PkeyPtr key_;
  CurveInfo curve_;
  std::uint64_t identity_;
};

class Ed25519Key final : public VerificationKey {
 public:
  Ed25519Key(ossl::PkeyPtr key, KeyMetadata metadata)
      : VerificationKey(std::move(metadata)), key_(std::move(key)) {}

  bool supports(Algorithm algorithm) const override { return algorithm == Algorithm::kEdDSA; }

  bool verify(Algorithm algorithm, std::string_view signing_input,
              std::string_view signature) const override {
    return supports(algorithm) && digest_verify(key_.get(), algorithm, signing_input, signature);
  }

 private:
  ossl::PkeyPtr key_;
};

ossl::PkeyPtr public_key_from_params(const char* type, const OSSL_PARAM* params) {
  ossl::PkeyCtxPtr context(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* key = nullptr;
  if (!context || EVP_PKEY_fromdata_init(context.get()) != 1 ||
      EVP_PKEY_fromdata(context.get(), &key, EVP_PKEY_PUBLIC_KEY, const_cast<OSSL_PARAM*>(params)) != 1) {
    return nullptr;
  }
  return ossl::PkeyPtr(key);
}

bool is_valid_public_key(EVP_PKEY* key) {
  ossl::PkeyCtxPtr context(EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr));
  return context && EVP_PKEY_public_check(context.get()) == 1;
}

// Why an RSA key must not be used, or "" if it may.
std::string rsa_key_problem(EVP_PKEY* key) {
  const int bits = EVP_PKEY_get_bits(key);
  if (bits < 2048) return "RSA modulus is shorter than 2048 bits";
  // OpenSSL refuses to verify with longer moduli; checking with one costs a lot of CPU.
  if (bits > OPENSSL_RSA_MAX_MODULUS_BITS) return "RSA modulus is longer than 16384 bits";
  BIGNUM* exponent = nullptr;
  if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &exponent) != 1) {
    return "RSA key has no public exponent";
  }
  const ossl::BignumPtr owned_exponent(exponent);
  // An exponent of 1 makes every message its own signature; an even one is not an RSA key. 3 and up are
  // safe for verification with OpenSSL's strict padding checks (RFC 8017 allows them), so they are kept.
  if (!BN_is_odd(exponent) || BN_is_one(exponent)) return "RSA public exponent is not an odd number above 1";
  // OpenSSL refuses exponents above 64 bits for moduli above 3072 bits; no real key has one.
  if (BN_num_bits(exponent) > 64) return "RSA public exponent is larger than 64 bits";
  // OpenSSL's SP 800-56B public key check: an odd modulus with no factor below 752 that is neither prime nor
  // a prime power (with a prime modulus anyone can compute the private key).
  if (!is_valid_public_key(key))
    return "RSA modulus is not a product of large primes (OpenSSL public key check)";
  return {};
}

// Ed25519 public keys that must never be used, by their 32-byte encoding without the sign bit of x (the
// top bit of the last byte), so both signs are covered. These are the curve's 8 points of small order
// (libsodium's and ed25519-dalek's blocklist), canonical and not: with such a key a signature R = a
// small-order point, S = 0 verifies for any message with probability 1/8 or (for the identity) always.
constexpr std::array<std::array<unsigned char, 32>, 7> kSmallOrderEd25519{{
    // 0 (y = 0: the two points of order 4)
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
     0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},
    // 1 (the identity, order 1)
    {0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
     0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},
    // order 8
    {0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98, 0xf0,
     0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05},
    // order 8
    {0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67, 0x0f,
     0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a},
    // p - 1 (y = -1, order 2)
    {0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
    // p (y = 0 again, not canonical)
    {0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
    // p + 1 (the identity again, not canonical)
    {0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
}};

// Why a 32-byte Ed25519 public key must not be used, or "" if it may. (OpenSSL accepts any 32 bytes and
// verifies the identity key's forged signatures.)
std::string ed25519_key_problem(std::string_view public_key) {
  std::array<unsigned char, 32> y{};
  for (std::size_t i = 0; i < y.size(); ++i)
    y[i] = static_cast<unsigned char>(public_key[i]);
  y[31] &= 0x7f;
  for (const auto& weak : kSmallOrderEd25519) {
    if (y == weak) return "Ed25519 public key is a point of small order (it would accept forged signatures)";
  }
  // y >= p = 2^255 - 19: no key generator writes this; the same points have canonical encodings.
  bool all_ones = y[31] == 0x7f && y[0] >= 0xed;
  for (std::size_t i = 1; i < 31 && all_ones; ++i)
    all_ones = y[i] == 0xff;
  if (all_ones) return "Ed25519 public key is not canonically encoded";
  return {};
}

KeyResult finish_ec_key(ossl::PkeyPtr key, EcCurve curve, KeyMetadata metadata) {
  if (!is_valid_public_key(key.get())) return refuse("EC public key is not a point on the curve");
  return {std::make_shared<EcKey>(std::move(key), curve, std::move(metadata)), {}};
}

std::optional<EcCurve> curve_from_openssl_group(std::string_view group) {
  if (group == "prime256v1" || group == "P-256") return EcCurve::kP256;
  if (group == "secp384r1" || group == "P-384") return EcCurve::kP384;
  if (group == "secp521r1" || group == "P-521") return EcCurve::kP521;
  return std::nullopt;
}

}  // namespace

std::shared_ptr<const VerificationKey> make_hmac_key(std::string_view secret, KeyMetadata metadata) {
  return std::make_shared<HmacKey>(secret, std::move(metadata));
}

KeyResult make_rsa_key(std::string_view modulus, std::string_view exponent, KeyMetadata metadata) {
  ossl::ErrorQueueScope error_scope;
  if (modulus.size() > INT_MAX || exponent.size() > INT_MAX) return refuse("RSA key is too large");
  const ossl::BignumPtr n(BN_bin2bn(bytes_of(modulus), static_cast<int>(modulus.size()), nullptr));
  const ossl::BignumPtr e(BN_bin2bn(bytes_of(exponent), static_cast<int>(exponent.size()), nullptr));
  const ossl::ParamBuildPtr build(OSSL_PARAM_BLD_new());
  if (!n || !e || !build) throw std::bad_alloc();
  if (OSSL_PARAM_BLD_push_BN(build.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(build.get(), OSSL_PKEY_PARAM_RSA_E, e.get()) != 1) {
    throw std::bad_alloc();
  }
  const ossl::ParamsPtr params(OSSL_PARAM_BLD_to_param(build.get()));
  ossl::PkeyPtr key = params ? public_key_from_params("RSA", params.get()) : nullptr;
  if (!key) return refuse("OpenSSL refused the RSA public key");
  if (std::string problem = rsa_key_problem(key.get()); !problem.empty()) return refuse(std::move(problem));
  return {std::make_shared<RsaKey>(std::move(key), std::move(metadata)), {}};
}

KeyResult make_ec_key(EcCurve curve, std::string_view x, std::string_view y, KeyMetadata metadata) {
  ossl::ErrorQueueScope error_scope;
  const CurveInfo info = curve_info(curve);
  if (x.size() != info.field_size || y.size() != info.field_size) {
    return refuse(std::string("EC coordinates have the wrong size for ") + info.openssl_name);
  }
  std::string uncompressed_point = "\x04";
  uncompressed_point.append(x).append(y);
  const ossl::ParamBuildPtr build(OSSL_PARAM_BLD_new());
  if (!build ||
      OSSL_PARAM_BLD_push_utf8_string(build.get(), OSSL_PKEY_PARAM_GROUP_NAME, info.openssl_name, 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(build.get(), OSSL_PKEY_PARAM_PUB_KEY, uncompressed_point.data(),
                                       uncompressed_point.size()) != 1) {
    throw std::bad_alloc();
  }
  const ossl::ParamsPtr params(OSSL_PARAM_BLD_to_param(build.get()));
  ossl::PkeyPtr key = params ? public_key_from_params("EC", params.get()) : nullptr;
  if (!key) return refuse("EC public key is not a point on the curve");
  return finish_ec_key(std::move(key), curve, std::move(metadata));
}

KeyResult make_ed25519_key(std::string_view public_key, KeyMetadata metadata) {
  ossl::ErrorQueueScope error_scope;
  if (public_key.size() != 32) return refuse("Ed25519 public key is not 32 bytes");
  if (std::string problem = ed25519_key_problem(public_key); !problem.empty())
    return refuse(std::move(problem));
  ossl::PkeyPtr key(
      EVP_PKEY_new_raw_public_key_ex(nullptr, "ED25519", nullptr, bytes_of(public_key), public_key.size()));
  if (!key) return refuse("OpenSSL refused the Ed25519 public key");
  return {std::make_shared<Ed25519Key>(std::move(key), std::move(metadata)), {}};
}

KeyResult parse_public_key_pem(std::string_view pem, KeyMetadata metadata) {
  ossl::ErrorQueueScope error_scope;
  if (pem.size() > INT_MAX) return refuse("PEM text is too large");
  const ossl::BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) throw std::bad_alloc();
  ossl::PkeyPtr key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  if (!key) return refuse("not a PEM public key");
  if (EVP_PKEY_is_a(key.get(), "RSA")) {
    if (std::string problem = rsa_key_problem(key.get()); !problem.empty()) return refuse(std::move(problem));
    return {std::make_shared<RsaKey>(std::move(key), std::move(metadata)), {}};
  }
  if (EVP_PKEY_is_a(key.get(), "EC")) {
    std::array<char, 64> group{};
    std::size_t group_length = 0;
    if (EVP_PKEY_get_utf8_string_param(key.get(), OSSL_PKEY_PARAM_GROUP_NAME, group.data(), group.size(),
                                       &group_length) != 1) {
      return refuse("EC public key has no named curve");
    }
    const std::optional<EcCurve> curve =
        curve_from_openssl_group(std::string_view(group.data(), group_length));
    if (!curve) return refuse("EC curve is not P-256, P-384 or P-521");
    return finish_ec_key(std::move(key), *curve, std::move(metadata));
  }
  if (EVP_PKEY_is_a(key.get(), "ED25519")) {
    std::array<char, 32> raw{};
    std::size_t raw_length = raw.size();
    if (EVP_PKEY_get_raw_public_key(key.get(), reinterpret_cast<unsigned char*>(raw.data()), &raw_length) !=
            1 ||
        raw_length != raw.size()) {
      return refuse("OpenSSL refused the Ed25519 public key");
    }
    if (std::string problem = ed25519_key_problem(std::string_view(raw.data(), raw.size()));
        !problem.empty()) {
      return refuse(std::move(problem));
    }
    return {std::make_shared<Ed25519Key>(std::move(key), std::move(metadata)), {}};
  }
  return refuse("public key type is not RSA, EC or Ed25519");
}

}  // namespace workgate::auth
