#include "auth/keys.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>

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

TEST(Jwks, ParsesUsableKeysAndListsTheOthers) {
  const JwksResult result = parse_jwks(
      std::string(R"({"keys":[)") + std::string(rfc::kA2Jwk) + "," +
      R"({"kty":"EC","crv":"secp256k1","kid":"k1","x":"AA","y":"AA"},)" + std::string(rfc::kA3Jwk) + "," +
      R"({"kty":"foo"},)" + std::string(rfc::kEd25519Jwk) + "," + R"({"kty":"oct","k":"c2VjcmV0"}]})");
  ASSERT_TRUE(result.key_set) << result.error;
  EXPECT_EQ(result.key_set->keys().size(), 4U);
  EXPECT_EQ(result.skipped,
            (std::vector<std::string>{"keys[1] (kid \"k1\"): EC crv is not P-256, P-384 or P-521",
                                      "keys[3]: kty \"foo\" is not supported"}));
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

std::shared_ptr<const KeySet> key_set(std::string_view jwks_json) {
  JwksResult result = parse_jwks(jwks_json);
  EXPECT_TRUE(result.key_set) << result.error;
  EXPECT_TRUE(result.skipped.empty());
  return result.key_set;
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
  source.replace(first);
  EXPECT_EQ(source.current(), first);
  source.replace(second);
  EXPECT_EQ(source.current(), second);
}

}  // namespace
}  // namespace workgate::auth
