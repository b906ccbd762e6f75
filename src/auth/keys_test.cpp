#include "auth/keys.hpp"

#include <gtest/gtest.h>
#include <openssl/err.h>

#include <atomic>
#include <boost/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "auth/base64url.hpp"
#include "auth/jwk.hpp"
#include "auth/key_set.hpp"
#include "auth/rfc_vectors.hpp"
#include "auth/test_signing.hpp"

namespace workgate::auth {
namespace {

namespace json = boost::json;

struct SplitToken {
  std::string signing_input;
  std::string signature;
};

SplitToken split(std::string_view token) {
  const std::size_t last_dot = token.rfind('.');
  return {std::string(token.substr(0, last_dot)), *base64url_decode(token.substr(last_dot + 1))};
}

std::shared_ptr<const VerificationKey> jwk_key(std::string_view jwk_json) {
  KeyResult result = parse_jwk(json::parse(jwk_json).as_object());
  EXPECT_TRUE(result.key) << result.error;
  return result.key;
}

std::string flip_last_byte(std::string bytes) {
  bytes.back() = static_cast<char>(bytes.back() ^ 0x01);
  return bytes;
}

// Generating RSA keys is slow; every test shares these.
class GeneratedKeys : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    rsa_ = testing::generate_rsa().release();
    p256_ = testing::generate_ec("P-256").release();
    p384_ = testing::generate_ec("P-384").release();
    p521_ = testing::generate_ec("P-521").release();
    ed25519_ = testing::generate_ed25519().release();
  }
  static void TearDownTestSuite() {
    for (EVP_PKEY* key : {rsa_, p256_, p384_, p521_, ed25519_}) {
      EVP_PKEY_free(key);
    }
  }

  static EVP_PKEY* private_key_for(Algorithm algorithm) {
    switch (algorithm_family(algorithm)) {
      case AlgorithmFamily::kRsaPkcs1:
      case AlgorithmFamily::kRsaPss:
        return rsa_;
      case AlgorithmFamily::kEcdsa:
        return algorithm == Algorithm::kES256 ? p256_ : algorithm == Algorithm::kES384 ? p384_ : p521_;
      default:
        return ed25519_;
    }
  }

  static std::shared_ptr<const VerificationKey> public_key_for(Algorithm algorithm) {
    KeyResult result = parse_jwk(testing::public_jwk(private_key_for(algorithm)));
    EXPECT_TRUE(result.key) << result.error;
    return result.key;
  }

  static inline EVP_PKEY* rsa_ = nullptr;
  static inline EVP_PKEY* p256_ = nullptr;
  static inline EVP_PKEY* p384_ = nullptr;
  static inline EVP_PKEY* p521_ = nullptr;
  static inline EVP_PKEY* ed25519_ = nullptr;
};

TEST(RfcVectors, Rfc7515A1Hs256) {
  const auto key = jwk_key(rfc::kA1Jwk);
  const SplitToken token = split(rfc::kA1Token);
  EXPECT_TRUE(key->verify(Algorithm::kHS256, token.signing_input, token.signature));
  EXPECT_FALSE(key->verify(Algorithm::kHS256, token.signing_input + " ", token.signature));
  EXPECT_FALSE(key->verify(Algorithm::kHS256, token.signing_input, flip_last_byte(token.signature)));
  EXPECT_FALSE(key->verify(Algorithm::kHS384, token.signing_input, token.signature));
  EXPECT_FALSE(key->verify(Algorithm::kRS256, token.signing_input, token.signature));
}

TEST(RfcVectors, Rfc7515A2Rs256IgnoringPrivateMembers) {
  const auto key = jwk_key(rfc::kA2Jwk);
  const SplitToken token = split(rfc::kA2Token);
  EXPECT_TRUE(key->verify(Algorithm::kRS256, token.signing_input, token.signature));
  EXPECT_FALSE(key->verify(Algorithm::kRS256, token.signing_input, flip_last_byte(token.signature)));
  EXPECT_FALSE(key->verify(Algorithm::kRS384, token.signing_input, token.signature));
  EXPECT_FALSE(key->verify(Algorithm::kPS256, token.signing_input, token.signature));
}

TEST(RfcVectors, Rfc7515A3Es256) {
  const auto key = jwk_key(rfc::kA3Jwk);
  const SplitToken token = split(rfc::kA3Token);
  EXPECT_TRUE(key->verify(Algorithm::kES256, token.signing_input, token.signature));
  EXPECT_FALSE(key->verify(Algorithm::kES256, token.signing_input, flip_last_byte(token.signature)));
  EXPECT_FALSE(key->verify(Algorithm::kES384, token.signing_input, token.signature));
}

TEST(RfcVectors, Rfc7515A4Es512WithLeadingZeroInS) {
  const auto key = jwk_key(rfc::kA4Jwk);
  const SplitToken token = split(rfc::kA4Token);
  ASSERT_EQ(token.signature.size(), 132U);
  EXPECT_TRUE(key->verify(Algorithm::kES512, token.signing_input, token.signature));
  EXPECT_FALSE(key->verify(Algorithm::kES512, token.signing_input, flip_last_byte(token.signature)));
}

TEST(RfcVectors, Rfc8037A4Ed25519) {
  const auto key = jwk_key(rfc::kEd25519Jwk);
  const SplitToken token = split(rfc::kEd25519Token);
  EXPECT_TRUE(key->verify(Algorithm::kEdDSA, token.signing_input, token.signature));
  EXPECT_FALSE(key->verify(Algorithm::kEdDSA, token.signing_input, flip_last_byte(token.signature)));
  EXPECT_FALSE(key->verify(Algorithm::kEdDSA, token.signing_input + "x", token.signature));
}

TEST_F(GeneratedKeys, EveryAsymmetricAlgorithmVerifiesItsOwnSignatures) {
  const std::string input = "eyJhbGciOiJ4In0.eyJzdWIiOiJ1c2VyIn0";
  for (Algorithm algorithm : all_algorithms()) {
    if (algorithm_family(algorithm) == AlgorithmFamily::kHmac) continue;
    SCOPED_TRACE(std::string(algorithm_name(algorithm)));
    const auto key = public_key_for(algorithm);
    const std::string signature = testing::key_sign(private_key_for(algorithm), algorithm, input);
    EXPECT_TRUE(key->supports(algorithm));
    EXPECT_TRUE(key->verify(algorithm, input, signature));
    EXPECT_FALSE(key->verify(algorithm, input + "x", signature));
    EXPECT_FALSE(key->verify(algorithm, input, flip_last_byte(signature)));
    EXPECT_FALSE(key->verify(algorithm, input, ""));
  }
}

TEST(HmacKey, VerifiesEveryHashAndNothingElse) {
  const auto key = make_hmac_key("a-shared-secret");
  for (Algorithm algorithm : {Algorithm::kHS256, Algorithm::kHS384, Algorithm::kHS512}) {
    const std::string signature = testing::hmac_sign("a-shared-secret", algorithm, "input");
    EXPECT_TRUE(key->supports(algorithm));
    EXPECT_TRUE(key->verify(algorithm, "input", signature));
    EXPECT_FALSE(key->verify(algorithm, "input", signature.substr(1)));
    EXPECT_FALSE(key->verify(algorithm, "input", testing::hmac_sign("another-secret", algorithm, "input")));
  }
  for (Algorithm algorithm : {Algorithm::kRS256, Algorithm::kPS256, Algorithm::kES256, Algorithm::kEdDSA}) {
    EXPECT_FALSE(key->supports(algorithm));
  }
}

TEST(HmacKey, EmptySecretSupportsNothing) {
  const auto key = make_hmac_key("");
  EXPECT_FALSE(key->supports(Algorithm::kHS256));
  EXPECT_FALSE(key->verify(Algorithm::kHS256, "input", testing::hmac_sign("", Algorithm::kHS256, "input")));
}

TEST_F(GeneratedKeys, KeysSupportOnlyTheirOwnFamilyAndCurve) {
  const auto rsa = public_key_for(Algorithm::kRS256);
  const auto p256 = public_key_for(Algorithm::kES256);
  const auto p384 = public_key_for(Algorithm::kES384);
  const auto p521 = public_key_for(Algorithm::kES512);
  const auto ed25519 = public_key_for(Algorithm::kEdDSA);
  for (Algorithm algorithm : all_algorithms()) {
    const AlgorithmFamily family = algorithm_family(algorithm);
    EXPECT_EQ(rsa->supports(algorithm),
              family == AlgorithmFamily::kRsaPkcs1 || family == AlgorithmFamily::kRsaPss);
    EXPECT_EQ(p256->supports(algorithm), algorithm == Algorithm::kES256);
    EXPECT_EQ(p384->supports(algorithm), algorithm == Algorithm::kES384);
    EXPECT_EQ(p521->supports(algorithm), algorithm == Algorithm::kES512);
    EXPECT_EQ(ed25519->supports(algorithm), algorithm == Algorithm::kEdDSA);
  }
}

TEST_F(GeneratedKeys, PssRequiresSaltAsLongAsTheDigest) {
  const auto key = public_key_for(Algorithm::kPS256);
  const std::string input = "header.payload";
  EXPECT_TRUE(key->verify(Algorithm::kPS256, input, testing::key_sign(rsa_, Algorithm::kPS256, input, 32)));
  EXPECT_FALSE(key->verify(Algorithm::kPS256, input, testing::key_sign(rsa_, Algorithm::kPS256, input, 20)));
  EXPECT_FALSE(key->verify(Algorithm::kPS256, input,
                           testing::key_sign(rsa_, Algorithm::kPS256, input, RSA_PSS_SALTLEN_MAX)));
}

TEST_F(GeneratedKeys, PkcsAndPssSignaturesAreNotInterchangeable) {
  const auto key = public_key_for(Algorithm::kRS256);
  const std::string input = "header.payload";
  EXPECT_FALSE(key->verify(Algorithm::kPS256, input, testing::key_sign(rsa_, Algorithm::kRS256, input)));
  EXPECT_FALSE(key->verify(Algorithm::kRS256, input, testing::key_sign(rsa_, Algorithm::kPS256, input)));
}

TEST_F(GeneratedKeys, EcdsaAcceptsOnlyRawSignaturesOfTheCurveSize) {
  const std::string input = "header.payload";
  for (Algorithm algorithm : {Algorithm::kES256, Algorithm::kES384, Algorithm::kES512}) {
    SCOPED_TRACE(std::string(algorithm_name(algorithm)));
    const auto key = public_key_for(algorithm);
    // Many signatures, so R and S with high bits set and with leading zero bytes both occur.
    for (int i = 0; i < 48; ++i) {
      const std::string raw = testing::key_sign(private_key_for(algorithm), algorithm, input);
      ASSERT_TRUE(key->verify(algorithm, input, raw));
      EXPECT_FALSE(key->verify(algorithm, input, raw.substr(1)));
      EXPECT_FALSE(key->verify(algorithm, input, raw + '\0'));
      EXPECT_FALSE(key->verify(algorithm, input, '\0' + raw));
    }
    EXPECT_FALSE(key->verify(algorithm, input, std::string(2 * testing::ec_field_size(algorithm), '\0')));
  }
}

TEST_F(GeneratedKeys, EcdsaRefusesDerSignatures) {
  const auto key = public_key_for(Algorithm::kES256);
  const std::string input = "header.payload";
  openssl::MdCtxPtr context(EVP_MD_CTX_new());
  ASSERT_EQ(EVP_DigestSignInit(context.get(), nullptr, EVP_sha256(), nullptr, p256_), 1);
  std::string der(80, '\0');
  std::size_t size = der.size();
  ASSERT_EQ(EVP_DigestSign(context.get(), reinterpret_cast<unsigned char*>(der.data()), &size,
                           testing::bytes_of(input), input.size()),
            1);
  der.resize(size);
  EXPECT_FALSE(key->verify(Algorithm::kES256, input, der));
}

// RSA and EC keys verify through per-thread contexts that outlive each call: no outcome may leak into the
// next.
TEST_F(GeneratedKeys, ReusedVerifyContextsKeepNoStateFromFailedVerifications) {
  const std::string input = "eyJhbGciOiJ4In0.eyJzdWIiOiJ1c2VyIn0";
  for (Algorithm algorithm : all_algorithms()) {
    const AlgorithmFamily family = algorithm_family(algorithm);
    if (family == AlgorithmFamily::kHmac || family == AlgorithmFamily::kEdDSA) continue;
    SCOPED_TRACE(std::string(algorithm_name(algorithm)));
    const auto key = public_key_for(algorithm);
    const std::string good = testing::key_sign(private_key_for(algorithm), algorithm, input);
    ASSERT_TRUE(key->verify(algorithm, input, good));
    const std::uint64_t created = detail::verify_contexts_created_on_this_thread();
    for (int round = 0; round < 3; ++round) {
      // Every kind of failure on the reused context, each followed by a good signature, and the reverse.
      EXPECT_FALSE(key->verify(algorithm, input, flip_last_byte(good)));
      EXPECT_TRUE(key->verify(algorithm, input, good));
      EXPECT_FALSE(key->verify(algorithm, input, ""));
      EXPECT_TRUE(key->verify(algorithm, input, good));
      EXPECT_FALSE(key->verify(algorithm, input, good + good));
      EXPECT_TRUE(key->verify(algorithm, input, good));
      EXPECT_FALSE(key->verify(algorithm, input, std::string(good.size(), '\xff')));
      EXPECT_TRUE(key->verify(algorithm, input, good));
      EXPECT_FALSE(key->verify(algorithm, input + "x", good));
      EXPECT_FALSE(key->verify(algorithm, "", good));
    }
    // The failures left nothing on the thread's OpenSSL error queue, and the context was set up once.
    EXPECT_EQ(ERR_peek_error(), 0UL);
    EXPECT_EQ(detail::verify_contexts_created_on_this_thread(), created);
  }
}

TEST_F(GeneratedKeys, VerifyContextsAreKeptPerKeyAndAlgorithm) {
  const std::string input = "header.payload";
  const auto rsa = public_key_for(Algorithm::kRS256);
  const auto same_rsa_again = public_key_for(Algorithm::kRS256);  // another key object: its own contexts
  const std::string rs256 = testing::key_sign(rsa_, Algorithm::kRS256, input);
  const std::string rs512 = testing::key_sign(rsa_, Algorithm::kRS512, input);
  const std::string ps256 = testing::key_sign(rsa_, Algorithm::kPS256, input);
  for (int round = 0; round < 2; ++round) {
    EXPECT_TRUE(rsa->verify(Algorithm::kRS256, input, rs256));
    EXPECT_FALSE(rsa->verify(Algorithm::kRS512, input, rs256));
    EXPECT_TRUE(rsa->verify(Algorithm::kRS512, input, rs512));
    EXPECT_FALSE(rsa->verify(Algorithm::kPS256, input, rs256));
    EXPECT_TRUE(rsa->verify(Algorithm::kPS256, input, ps256));
    EXPECT_FALSE(rsa->verify(Algorithm::kRS256, input, ps256));
    EXPECT_TRUE(same_rsa_again->verify(Algorithm::kRS256, input, rs256));
  }
  const std::uint64_t created = detail::verify_contexts_created_on_this_thread();
  EXPECT_TRUE(rsa->verify(Algorithm::kRS256, input, rs256));
  EXPECT_TRUE(same_rsa_again->verify(Algorithm::kRS256, input, rs256));
  EXPECT_EQ(detail::verify_contexts_created_on_this_thread(), created);
}

TEST_F(GeneratedKeys, MoreKeysThanCachedContextsStillVerify) {
  const std::string input = "header.payload";
  const std::string signature = testing::key_sign(rsa_, Algorithm::kRS256, input);
  std::vector<std::shared_ptr<const VerificationKey>> keys;
  for (int i = 0; i < 40; ++i) {
    keys.push_back(public_key_for(Algorithm::kRS256));
  }
  for (int round = 0; round < 2; ++round) {
    for (const auto& key : keys) {
      EXPECT_TRUE(key->verify(Algorithm::kRS256, input, signature));
      EXPECT_FALSE(key->verify(Algorithm::kRS256, input, flip_last_byte(signature)));
    }
  }
  // A key released while its context is cached: the context holds its own reference to the OpenSSL key.
  const std::shared_ptr<const VerificationKey> survivor = keys.back();
  keys.clear();
  EXPECT_TRUE(survivor->verify(Algorithm::kRS256, input, signature));
}

TEST_F(GeneratedKeys, EveryThreadVerifiesWithItsOwnContexts) {
  const std::string input = "header.payload";
  const auto key = public_key_for(Algorithm::kRS256);
  const std::string signature = testing::key_sign(rsa_, Algorithm::kRS256, input);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        if (!key->verify(Algorithm::kRS256, input, signature)) ++failures;
        if (key->verify(Algorithm::kRS256, input, flip_last_byte(signature))) ++failures;
      }
      if (detail::verify_contexts_created_on_this_thread() != 1) ++failures;
    });
  }
  for (std::thread& thread : threads) {
    thread.join();
  }
  EXPECT_EQ(failures.load(), 0);
}

TEST(RsaKey, RefusesModulusBelow2048Bits) {
  const openssl::PkeyPtr small = testing::generate_rsa(1024);
  const json::object jwk = testing::public_jwk(small.get());
  EXPECT_EQ(parse_jwk(jwk).error, "RSA modulus is shorter than 2048 bits");
  EXPECT_EQ(parse_public_key_pem(testing::public_pem(small.get())).error,
            "RSA modulus is shorter than 2048 bits");
}

TEST_F(GeneratedKeys, RsaRefusesDegenerateExponents) {
  const std::string modulus = testing::bignum_param(rsa_, OSSL_PKEY_PARAM_RSA_N);
  EXPECT_TRUE(make_rsa_key(modulus, std::string("\x01\x00\x01", 3)).key);
  EXPECT_TRUE(make_rsa_key(modulus, "\x03").key);
  EXPECT_FALSE(make_rsa_key(modulus, "\x01").key);
  EXPECT_FALSE(make_rsa_key(modulus, std::string("\x01\x00\x00", 3)).key);
  EXPECT_FALSE(make_rsa_key(modulus, std::string(1, '\0')).key);
}

TEST_F(GeneratedKeys, RsaRefusesExponentsAbove64Bits) {
  const std::string modulus = testing::bignum_param(rsa_, OSSL_PKEY_PARAM_RSA_N);
  EXPECT_TRUE(make_rsa_key(modulus, std::string("\xff\xff\xff\xff\xff\xff\xff\xff", 8)).key);
  EXPECT_EQ(make_rsa_key(modulus, std::string("\x01\x00\x00\x00\x00\x00\x00\x00\x01", 9)).error,
            "RSA public exponent is larger than 64 bits");
}

TEST_F(GeneratedKeys, RsaRefusesModuliThatAreNotAProductOfLargePrimes) {
  const std::string e("\x01\x00\x01", 3);
  const std::string modulus = testing::bignum_param(rsa_, OSSL_PKEY_PARAM_RSA_N);
  const std::string reason = "RSA modulus is not a product of large primes (OpenSSL public key check)";
  std::string even = modulus;
  even.back() = static_cast<char>(even.back() ^ 0x01);
  EXPECT_EQ(make_rsa_key(even, e).error, reason);
  // n * 3: odd, long enough, with a small factor.
  const openssl::BignumPtr n(
      BN_bin2bn(testing::bytes_of(modulus), static_cast<int>(modulus.size()), nullptr));
  ASSERT_TRUE(n && BN_mul_word(n.get(), 3) == 1);
  std::string tripled(static_cast<std::size_t>(BN_num_bytes(n.get())), '\0');
  BN_bn2bin(n.get(), reinterpret_cast<unsigned char*>(tripled.data()));
  EXPECT_EQ(make_rsa_key(tripled, e).error, reason);
  // A prime modulus: anyone can compute the private exponent.
  const openssl::BignumPtr prime(BN_new());
  ASSERT_TRUE(prime && BN_generate_prime_ex(prime.get(), 2048, 0, nullptr, nullptr, nullptr) == 1);
  std::string prime_bytes(static_cast<std::size_t>(BN_num_bytes(prime.get())), '\0');
  BN_bn2bin(prime.get(), reinterpret_cast<unsigned char*>(prime_bytes.data()));
  EXPECT_EQ(make_rsa_key(prime_bytes, e).error, reason);
}

TEST(RsaKey, RefusesModulusAbove16384Bits) {
  EXPECT_EQ(make_rsa_key(std::string(2049, '\xff'), std::string("\x01\x00\x01", 3)).error,
            "RSA modulus is longer than 16384 bits");
}

// The 32-byte encodings of the 8 points of small order: canonical ones, the non-canonical y = p and
// y = p + 1, each with both values of the sign bit.
std::vector<std::string> small_order_ed25519_encodings() {
  std::vector<std::string> out;
  std::string zero(32, '\0');
  std::string one = zero;
  one[0] = 1;
  const std::string order8a(
      "\x26\xe8\x95\x8f\xc2\xb2\x27\xb0\x45\xc3\xf4\x89\xf2\xef\x98\xf0"
      "\xd5\xdf\xac\x05\xd3\xc6\x33\x39\xb1\x38\x02\x88\x6d\x53\xfc\x05",
      32);
  const std::string order8b(
      "\xc7\x17\x6a\x70\x3d\x4d\xd8\x4f\xba\x3c\x0b\x76\x0d\x10\x67\x0f"
      "\x2a\x20\x53\xfa\x2c\x39\xcc\xc6\x4e\xc7\xfd\x77\x92\xac\x03\x7a",
      32);
  auto all_ones_but_first = [](unsigned char first) {
    std::string value(32, '\xff');
    value[0] = static_cast<char>(first);
    value[31] = '\x7f';
    return value;
  };
  for (std::string value : {zero, one, order8a, order8b, all_ones_but_first(0xec), all_ones_but_first(0xed),
                            all_ones_but_first(0xee)}) {
    out.push_back(value);
    value[31] = static_cast<char>(value[31] | 0x80);
    out.push_back(value);
  }
  return out;
}

TEST(Ed25519Key, OpenSslAloneAcceptsAForgeryWithTheIdentityKey) {
  // Why the blocklist exists: R = identity, S = 0 verifies any message under the identity key.
  std::string identity(32, '\0');
  identity[0] = 1;
  const openssl::PkeyPtr raw(
      EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, testing::bytes_of(identity), identity.size()));
  ASSERT_TRUE(raw);
  const std::string forged = identity + std::string(32, '\0');
  const std::string message = R"(eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhZG1pbiJ9)";
  const openssl::MdCtxPtr context(EVP_MD_CTX_new());
  ASSERT_EQ(EVP_DigestVerifyInit(context.get(), nullptr, nullptr, nullptr, raw.get()), 1);
  EXPECT_EQ(EVP_DigestVerify(context.get(), testing::bytes_of(forged), forged.size(),
                             testing::bytes_of(message), message.size()),
            1);
  EXPECT_EQ(make_ed25519_key(identity).error,
            "Ed25519 public key is a point of small order (it would accept forged signatures)");
}

TEST(Ed25519Key, RefusesEveryEncodingOfASmallOrderPoint) {
  const std::vector<std::string> encodings = small_order_ed25519_encodings();
  ASSERT_EQ(encodings.size(), 14U);
  for (const std::string& encoding : encodings) {
    SCOPED_TRACE(base64url_encode(encoding));
    const KeyResult result = make_ed25519_key(encoding);
    EXPECT_FALSE(result.key);
    EXPECT_EQ(result.error,
              "Ed25519 public key is a point of small order (it would accept forged signatures)");
    // The same through a JWK and a PEM SubjectPublicKeyInfo.
    EXPECT_EQ(
        parse_jwk(json::object{{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", base64url_encode(encoding)}}).error,
        result.error);
    const openssl::PkeyPtr raw(
        EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, testing::bytes_of(encoding), encoding.size()));
    ASSERT_TRUE(raw);
    EXPECT_EQ(parse_public_key_pem(testing::public_pem(raw.get())).error, result.error);
  }
}

TEST(Ed25519Key, RefusesOtherNonCanonicalEncodings) {
  for (unsigned first = 0xef; first <= 0xff; ++first) {
    for (unsigned char sign : {0x00, 0x80}) {
      std::string value(32, '\xff');
      value[0] = static_cast<char>(first);
      value[31] = static_cast<char>(0x7f | sign);
      EXPECT_EQ(make_ed25519_key(value).error, "Ed25519 public key is not canonically encoded") << first;
    }
  }
  // Just below p - 1 (y = p - 2) is canonical: not refused for its encoding.
  std::string below(32, '\xff');
  below[0] = '\xeb';
  below[31] = '\x7f';
  EXPECT_NE(make_ed25519_key(below).error, "Ed25519 public key is not canonically encoded");
}

TEST_F(GeneratedKeys, Ed25519KeysOfRealKeyPairsAreKept) {
  const json::object jwk = testing::public_jwk(ed25519_);
  EXPECT_TRUE(parse_jwk(jwk).key);
  EXPECT_TRUE(parse_public_key_pem(testing::public_pem(ed25519_)).key);
  EXPECT_TRUE(jwk_key(rfc::kEd25519Jwk));
}

TEST_F(GeneratedKeys, PemPublicKeysOfEveryType) {
  const std::string input = "header.payload";
  for (Algorithm algorithm :
       {Algorithm::kRS256, Algorithm::kES256, Algorithm::kES384, Algorithm::kES512, Algorithm::kEdDSA}) {
    SCOPED_TRACE(std::string(algorithm_name(algorithm)));
    EVP_PKEY* private_key = private_key_for(algorithm);
    KeyResult parsed =
        parse_public_key_pem(testing::public_pem(private_key), KeyMetadata{"pem-kid", {}, {}, {}});
    ASSERT_TRUE(parsed.key) << parsed.error;
    EXPECT_EQ(parsed.key->metadata().kid, "pem-kid");
    EXPECT_TRUE(parsed.key->verify(algorithm, input, testing::key_sign(private_key, algorithm, input)));
  }
}

TEST(PemKey, RefusesWhatIsNotASupportedPublicKey) {
  EXPECT_EQ(parse_public_key_pem("not a key").error, "not a PEM public key");
  EXPECT_EQ(parse_public_key_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n").error,
            "not a PEM public key");
  const openssl::PkeyPtr secp256k1 = testing::generate_ec("secp256k1");
  EXPECT_EQ(parse_public_key_pem(testing::public_pem(secp256k1.get())).error,
            "EC curve is not P-256, P-384 or P-521");
  const openssl::PkeyPtr x25519 = testing::generate_key("X25519");
  EXPECT_EQ(parse_public_key_pem(testing::public_pem(x25519.get())).error,
            "public key type is not RSA, EC or Ed25519");
}

TEST(Jwk, ReadsTheMetadataMembers) {
  const auto key = jwk_key(
      R"({"kty":"oct","k":"c2VjcmV0","kid":"k1","alg":"HS256","use":"sig","key_ops":["sign","verify",7]})");
  const KeyMetadata& metadata = key->metadata();
  EXPECT_EQ(metadata.kid, "k1");
  EXPECT_EQ(metadata.alg, "HS256");
  EXPECT_EQ(metadata.use, "sig");
  ASSERT_TRUE(metadata.key_ops);
  EXPECT_EQ(*metadata.key_ops, (std::vector<std::string>{"sign", "verify"}));
}

TEST(Jwk, TreatsMetadataOfTheWrongTypeAsAbsent) {
  const auto key =
      jwk_key(R"({"kty":"oct","k":"c2VjcmV0","kid":7,"alg":null,"use":["sig"],"key_ops":"verify"})");
  const KeyMetadata& metadata = key->metadata();
  EXPECT_FALSE(metadata.kid);
  EXPECT_FALSE(metadata.alg);
  EXPECT_FALSE(metadata.use);
  EXPECT_FALSE(metadata.key_ops);
}

TEST(Jwk, OctKeyUsesTheDecodedBytes) {
  const auto key = jwk_key(R"({"kty":"oct","k":"c2VjcmV0"})");
  EXPECT_TRUE(key->verify(Algorithm::kHS256, "x", testing::hmac_sign("secret", Algorithm::kHS256, "x")));
}

KeyResult parse(std::string_view jwk_json) {
  return parse_jwk(json::parse(jwk_json).as_object());
}

TEST(Jwk, RefusesUnsupportedKeyTypesAndCurves) {
  EXPECT_EQ(parse(R"({"k":"c2VjcmV0"})").error, "kty is missing");
  EXPECT_EQ(parse(R"({"kty":7})").error, "kty is missing");
  EXPECT_EQ(parse(R"({"kty":"AKP"})").error, "kty \"AKP\" is not supported");
  EXPECT_EQ(parse(R"({"kty":"rsa"})").error, "kty \"rsa\" is not supported");
  EXPECT_EQ(parse(R"({"kty":"EC","crv":"secp256k1","x":"AA","y":"AA"})").error,
            "EC crv is not P-256, P-384 or P-521");
  EXPECT_EQ(parse(R"({"kty":"EC","crv":"p-256","x":"AA","y":"AA"})").error,
            "EC crv is not P-256, P-384 or P-521");
  EXPECT_EQ(parse(R"({"kty":"OKP","crv":"X25519","x":"AA"})").error, "OKP crv is not Ed25519");
  EXPECT_EQ(parse(R"({"kty":"OKP","crv":"Ed448","x":"AA"})").error, "OKP crv is not Ed25519");
}

TEST(Jwk, RefusesMissingOrUndecodableMembers) {
  EXPECT_EQ(parse(R"({"kty":"oct"})").error, "oct key needs a non-empty base64url member k");
  EXPECT_EQ(parse(R"({"kty":"oct","k":""})").error, "oct key needs a non-empty base64url member k");
  EXPECT_EQ(parse(R"({"kty":"oct","k":"c2VjcmV0=="})").error, "oct key needs a non-empty base64url member k");
  EXPECT_EQ(parse(R"({"kty":"RSA","n":"AQAB"})").error, "RSA key needs base64url members n and e");
  EXPECT_EQ(parse(R"({"kty":"RSA","n":"ab+c","e":"AQAB"})").error, "RSA key needs base64url members n and e");
  EXPECT_EQ(parse(R"({"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"})").error,
            "EC key needs base64url members x and y");
  EXPECT_EQ(
      parse(R"({"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo="})").error,
      "OKP key needs a base64url member x");
}

TEST(Jwk, RefusesEcPointsOffTheCurve) {
  // RFC 7515 A.3's point with the last bit of y flipped.
  EXPECT_EQ(parse(R"({"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",)"
                  R"("y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a4"})")
                .error,
            "EC public key is not a point on the curve");
  EXPECT_EQ(parse(R"({"kty":"EC","crv":"P-256","x":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",)"
                  R"("y":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"})")
                .error,
            "EC public key is not a point on the curve");
}

TEST(Jwk, RefusesCoordinatesOfTheWrongSize) {
  const std::string coordinate31 = base64url_encode(std::string(31, '\x07'));
  const std::string coordinate32 = base64url_encode(std::string(32, '\x07'));
  auto ec_jwk = [](std::string_view crv, std::string_view x, std::string_view y) {
    return json::object{{"kty", "EC"}, {"crv", crv}, {"x", x}, {"y", y}};
  };
  EXPECT_EQ(parse_jwk(ec_jwk("P-256", coordinate31, coordinate32)).error,
            "EC coordinates have the wrong size for P-256");
  EXPECT_EQ(parse_jwk(ec_jwk("P-256", coordinate32, coordinate31)).error,
            "EC coordinates have the wrong size for P-256");
  EXPECT_EQ(parse_jwk(ec_jwk("P-384", coordinate32, coordinate32)).error,
            "EC coordinates have the wrong size for P-384");
  EXPECT_EQ(parse_jwk(json::object{{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", coordinate31}}).error,
            "Ed25519 public key is not 32 bytes");
}

// RFC 7515 A.2's JWK without its private members.
std::string public_a2_jwk() {
  json::object jwk = json::parse(rfc::kA2Jwk).as_object();
  for (const char* member : {"d", "p", "q", "dp", "dq", "qi"})
    jwk.erase(member);
  return json::serialize(jwk);
}

TEST(Jwks, ParsesUsableKeysAndListsTheOthers) {
  const JwksResult result = parse_jwks(
      std::string(R"({"keys":[)") + public_a2_jwk() + "," +
      R"({"kty":"EC","crv":"secp256k1","kid":"k1","x":"AA","y":"AA"},)" + std::string(rfc::kA3Jwk) + "," +
      R"({"kty":"foo"},)" + std::string(rfc::kEd25519Jwk) + "," + R"({"kty":"oct","k":"c2VjcmV0"}]})");
  ASSERT_TRUE(result.key_set) << result.error;
  EXPECT_EQ(result.key_set->keys().size(), 3U);
  EXPECT_EQ(result.skipped,
            (std::vector<std::string>{"keys[1] (kid \"k1\"): EC crv is not P-256, P-384 or P-521",
                                      "keys[3]: kty \"foo\" is not supported",
                                      "keys[5]: symmetric (oct) keys are not used from a JWK set"}));
  EXPECT_TRUE(result.warnings.empty());
}

// What a JWK set must not hold, though parse_jwk reads it; the reason names no key material.
TEST(Jwks, RefusesKeysASetMustNotHold) {
  const std::string ed25519_x = R"("crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")";
  const std::string p256_xy = R"("crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",)"
                              R"("y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0")";
  struct Case {
    std::string jwk;
    std::string reason;
  };
  const std::vector<Case> cases = {
      {R"({"kty":"oct","k":"c2VjcmV0LWtleS1tYXRlcmlhbC0zMi1ieXRlcyEh","alg":"HS256"})",
       "symmetric (oct) keys are not used from a JWK set"},
      {std::string(rfc::kA2Jwk), "the JWK holds private key members; a JWK set must hold public keys only"},
      {R"({"kty":"EC",)" + p256_xy + R"(,"d":"AAAA"})",
       "the JWK holds private key members; a JWK set must hold public keys only"},
      {R"({"kty":"OKP",)" + ed25519_x + R"(,"d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"})",
       "the JWK holds private key members; a JWK set must hold public keys only"},
      {R"({"kty":"OKP",)" + ed25519_x + R"(,"use":"enc"})", "use is \"enc\", not \"sig\""},
      {R"({"kty":"OKP",)" + ed25519_x + R"(,"key_ops":["sign"]})", "key_ops do not include \"verify\""},
      {R"({"kty":"OKP",)" + ed25519_x + R"(,"alg":"RSA-OAEP"})",
       "alg \"RSA-OAEP\" is not a signature algorithm of this gateway"},
      {R"({"kty":"OKP",)" + ed25519_x + R"(,"alg":"RS256"})",
       "alg \"RS256\" does not fit the key's type or curve"},
      {R"({"kty":"EC",)" + p256_xy + R"(,"alg":"ES384"})",
       "alg \"ES384\" does not fit the key's type or curve"},
      {public_a2_jwk().insert(1, R"("alg":"ES256",)"), "alg \"ES256\" does not fit the key's type or curve"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.jwk);
    const JwksResult result = parse_jwks(R"({"keys":[)" + c.jwk + "]}");
    ASSERT_TRUE(result.key_set) << result.error;
    EXPECT_TRUE(result.key_set->keys().empty());
    EXPECT_EQ(result.skipped, std::vector<std::string>{"keys[0]: " + c.reason});
  }
  // The same members that are allowed keep the key.
  const JwksResult fine = parse_jwks(R"({"keys":[{"kty":"OKP",)" + ed25519_x +
                                     R"(,"use":"sig","key_ops":["verify"],"alg":"EdDSA"}]})");
  ASSERT_TRUE(fine.key_set);
  EXPECT_EQ(fine.key_set->keys().size(), 1U);
  EXPECT_TRUE(fine.skipped.empty());
}

TEST(Jwks, WarnsAboutKeysATokenCannotTellApart) {
  const std::string a3 = std::string(rfc::kA3Jwk);
  auto with = [](std::string jwk, std::string_view members) { return jwk.insert(1, members); };
  const JwksResult result = parse_jwks(
      "{\"keys\":[" + with(a3, R"("kid":"dup",)") + "," + with(public_a2_jwk(), R"("kid":"dup",)") + "," +
      with(std::string(rfc::kEd25519Jwk), R"("kid":"dup",)") + "," + with(a3, R"("kid":"dup",)") + "," +
      with(a3, R"("kid":"other","alg":"ES256",)") + "," + with(a3, R"("kid":"other2",)") + "," +
      std::string(rfc::kEd25519Jwk) + "," + std::string(rfc::kEd25519Jwk) + "]}");
  ASSERT_TRUE(result.key_set) << result.error;
  EXPECT_EQ(result.key_set->keys().size(), 8U);  // kept: such tokens are refused, as jose refuses them
  EXPECT_EQ(result.warnings, (std::vector<std::string>{
                                 "2 keys share the kid \"dup\" and fit the same algorithms: tokens with this "
                                 "kid are refused (ERR_JWKS_MULTIPLE_MATCHING_KEYS)",
                                 "2 keys have no kid and fit the same algorithms: tokens without a kid are "
                                 "refused (ERR_JWKS_MULTIPLE_MATCHING_KEYS)"}));
}

TEST(Jwks, NamesFromTheDocumentArePrintableInMessages) {
  const JwksResult result = parse_jwks(
      R"({"keys":[{"kty":"foo","kid":"a\n\"b\\c\u00e9"},{"kty":"foo","kid":")" + std::string(100, 'k') +
      R"("},{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","use":"x\ty"}]})");
  ASSERT_TRUE(result.key_set);
  EXPECT_EQ(result.skipped,
            (std::vector<std::string>{
                "keys[0] (kid \"a\\x0a\\x22b\\x5cc\\xc3\\xa9\"): kty \"foo\" is not supported",
                "keys[1] (kid \"" + std::string(64, 'k') + "...\"): kty \"foo\" is not supported",
                "keys[2]: use is \"x\\x09y\", not \"sig\""}));
}

TEST(Jwks, AcceptsAnEmptySet) {
  const JwksResult result = parse_jwks(R"({"keys":[]})");
  ASSERT_TRUE(result.key_set);
  EXPECT_TRUE(result.key_set->keys().empty());
}

TEST(Jwks, RefusesWhatIsNotAKeySet) {
  EXPECT_EQ(parse_jwks("{invalid-json").error, "JWKS is not valid JSON");
  EXPECT_EQ(parse_jwks("").error, "JWKS is not valid JSON");
  EXPECT_EQ(parse_jwks("[]").error, "JWKS has no \"keys\" array");
  EXPECT_EQ(parse_jwks("{}").error, "JWKS has no \"keys\" array");
  EXPECT_EQ(parse_jwks(R"({"keys":{}})").error, "JWKS has no \"keys\" array");
  EXPECT_EQ(parse_jwks(R"({"keys":[{"kty":"oct","k":"c2VjcmV0"},"key"]})").error,
            "JWKS keys[1] is not an object");
  EXPECT_FALSE(parse_jwks("{}").key_set);
}

// A key set of the keys as parse_jwk reads them, without the JWK set rules of parse_jwks: select() must
// still honour the metadata of keys that reach a set some other way.
std::shared_ptr<const KeySet> key_set(std::string_view jwks_json) {
  std::vector<std::shared_ptr<const VerificationKey>> keys;
  const json::value document = json::parse(jwks_json);
  for (const json::value& jwk : document.at("keys").as_array()) {
    KeyResult parsed = parse_jwk(jwk.as_object());
    EXPECT_TRUE(parsed.key) << parsed.error;
    keys.push_back(std::move(parsed.key));
  }
  return std::make_shared<const KeySet>(std::move(keys));
}

TEST(KeySet, SelectsByKeyTypeAndKid) {
  const auto keys = key_set(
      R"({"keys":[{"kty":"oct","k":"YQ","kid":"a"},{"kty":"oct","k":"Yg","kid":"b"},{"kty":"oct","k":"Yw"}]})");
  EXPECT_EQ(keys->select(Algorithm::kHS256, "a").matches, 1U);
  EXPECT_EQ(keys->select(Algorithm::kHS256, "a").key, keys->keys()[0].get());
  EXPECT_EQ(keys->select(Algorithm::kHS256, "b").key, keys->keys()[1].get());
  EXPECT_EQ(keys->select(Algorithm::kHS256, "c").matches, 0U);
  EXPECT_EQ(keys->select(Algorithm::kHS256, std::nullopt).matches, 3U);
  EXPECT_EQ(keys->select(Algorithm::kHS256, std::nullopt).key, nullptr);
  EXPECT_EQ(keys->select(Algorithm::kRS256, "a").matches, 0U);
}

TEST(KeySet, SkipsKeysWhoseMetadataForbidsTheUse) {
  const auto keys = key_set(R"({"keys":[
      {"kty":"oct","k":"YQ","kid":"k","use":"enc"},
      {"kty":"oct","k":"Yg","kid":"k","alg":"HS512"},
      {"kty":"oct","k":"Yw","kid":"k","key_ops":["sign","encrypt"]},
      {"kty":"oct","k":"ZA","kid":"k","use":"sig","alg":"HS256","key_ops":["verify"]}]})");
  const KeySet::Selection hs256 = keys->select(Algorithm::kHS256, "k");
  EXPECT_EQ(hs256.matches, 1U);
  EXPECT_EQ(hs256.key, keys->keys()[3].get());
  const KeySet::Selection hs512 = keys->select(Algorithm::kHS512, "k");
  EXPECT_EQ(hs512.matches, 1U);
  EXPECT_EQ(hs512.key, keys->keys()[1].get());
}

TEST(KeySet, EcKeysMatchOnlyTheirCurve) {
  const auto keys =
      key_set(std::string(R"({"keys":[)") + std::string(rfc::kA3Jwk) + "," + std::string(rfc::kA4Jwk) + "]}");
  EXPECT_EQ(keys->select(Algorithm::kES256, std::nullopt).key, keys->keys()[0].get());
  EXPECT_EQ(keys->select(Algorithm::kES512, std::nullopt).key, keys->keys()[1].get());
  EXPECT_EQ(keys->select(Algorithm::kES384, std::nullopt).matches, 0U);
}

TEST(SwappableKeySource, ReplacesTheWholeSet) {
  const auto first = key_set(R"({"keys":[{"kty":"oct","k":"YQ"}]})");
  const auto second = key_set(R"({"keys":[{"kty":"oct","k":"Yg"}]})");
  SwappableKeySource source;
  EXPECT_EQ(source.current(), nullptr);
  EXPECT_EQ(source.generation(), 0U);
  source.replace(first);
  EXPECT_EQ(source.current(), first);
  EXPECT_EQ(source.generation(), first->generation());
  source.replace(second);
  EXPECT_EQ(source.current(), second);
  EXPECT_EQ(source.generation(), second->generation());
  source.replace(nullptr);
  EXPECT_EQ(source.generation(), 0U);
  EXPECT_EQ(SwappableKeySource(first).generation(), first->generation());
}

TEST(KeySet, EverySetHasAGenerationOfItsOwn) {
  const auto first = key_set(R"({"keys":[{"kty":"oct","k":"YQ"}]})");
  const auto same_keys = std::make_shared<const KeySet>(first->keys());
  EXPECT_NE(first->generation(), 0U);
  EXPECT_NE(same_keys->generation(), 0U);
  EXPECT_NE(first->generation(), same_keys->generation());
}

}  // namespace
}  // namespace workgate::auth
