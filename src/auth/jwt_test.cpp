#include "auth/jwt.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "auth/base64url.hpp"
#include "auth/jwk.hpp"
#include "auth/rfc_vectors.hpp"
#include "auth/test_signing.hpp"

namespace workgate::auth {
namespace {

namespace json = boost::json;

constexpr std::int64_t kNow = 1'700'000'000;
constexpr std::string_view kSecret = "a-test-secret-that-is-long-enough";
constexpr std::string_view kHs256Header = R"({"alg":"HS256","typ":"JWT"})";

std::string hs256(std::string_view payload_json, std::string_view header_json = kHs256Header,
                  std::string_view secret = kSecret) {
  return testing::hmac_token(secret, Algorithm::kHS256, header_json, payload_json);
}

// A token whose parts are given already encoded (or deliberately not), signed with kSecret.
std::string signed_parts(std::string_view header_part, std::string_view payload_part) {
  const std::string input = std::string(header_part) + "." + std::string(payload_part);
  return input + "." + base64url_encode(testing::hmac_sign(kSecret, Algorithm::kHS256, input));
}

std::string claims(std::string_view members) {
  return "{" + std::string(members) + "}";
}

std::string at(std::int64_t seconds) {
  return std::to_string(seconds);
}

::testing::AssertionResult Fails(const VerifyResult& result, std::string_view message,
                                 std::string_view code) {
  if (result.ok()) return ::testing::AssertionFailure() << "verification succeeded";
  if (!result.failure) return ::testing::AssertionFailure() << "neither claims nor a failure";
  const AuthFailure& failure = *result.failure;
  if (failure.status != 401 || failure.message != message || failure.code != code) {
    return ::testing::AssertionFailure()
           << failure.status << " \"" << failure.message << "\" " << failure.code;
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult Succeeds(const VerifyResult& result) {
  if (result.ok()) return ::testing::AssertionSuccess();
  if (!result.failure) return ::testing::AssertionFailure() << "neither claims nor a failure";
  return ::testing::AssertionFailure() << result.failure->message << " " << result.failure->code;
}

JwtVerifier hmac_verifier(ErrorStyle style = ErrorStyle::kJose,
                          std::vector<Algorithm> algorithms = {Algorithm::kHS256, Algorithm::kHS384,
                                                               Algorithm::kHS512}) {
  JwtVerifierOptions options;
  options.algorithms = std::move(algorithms);
  options.key = make_hmac_key(kSecret);
  options.error_style = style;
  return JwtVerifier(std::move(options));
}

JwtVerifier verifier_with(JwtVerifierOptions options) {
  if (options.algorithms.empty()) options.algorithms = {Algorithm::kHS256};
  if (std::visit([](const auto& key) { return key == nullptr; }, options.key)) {
    options.key = make_hmac_key(kSecret);
  }
  return JwtVerifier(std::move(options));
}

// ---------------------------------------------------------------------------------------------------------
// Jose style (jwt and auth0 authorizers)

TEST(JoseStyle, AcceptsAValidToken) {
  const JwtVerifier verifier = hmac_verifier();
  const VerifyResult result = verifier.verify(
      hs256(claims(R"("sub":"user-1","role":"admin","iat":)" + at(kNow) + R"(,"exp":)" + at(kNow + 3600))),
      kNow);
  ASSERT_TRUE(Succeeds(result));
  EXPECT_EQ(result.claims->at("sub").as_string(), "user-1");
  EXPECT_EQ(result.claims->at("role").as_string(), "admin");
  EXPECT_EQ(result.valid_until, kNow + 3600 + 30);
}

TEST(JoseStyle, TokensWithoutExpAreAcceptedAndNeverExpire) {
  const VerifyResult result = hmac_verifier().verify(hs256(R"({"sub":"user-1"})"), kNow);
  ASSERT_TRUE(Succeeds(result));
  EXPECT_EQ(result.valid_until, INT64_MAX);
}

TEST(JoseStyle, AcceptsEveryAllowedHmacHash) {
  const JwtVerifier verifier = hmac_verifier();
  for (auto [algorithm, header] : {std::pair{Algorithm::kHS384, R"({"alg":"HS384"})"},
                                   std::pair{Algorithm::kHS512, R"({"alg":"HS512"})"}}) {
    EXPECT_TRUE(Succeeds(verifier.verify(testing::hmac_token(kSecret, algorithm, header, "{}"), kNow)));
  }
}

TEST(JoseStyle, RefusesWhatIsNotThreeParts) {
  const JwtVerifier verifier = hmac_verifier();
  const std::string valid = hs256("{}");
  for (const std::string& token : {std::string("not-a-jwt"), std::string(""), std::string("a.b"),
                                   valid + ".extra", std::string("..."), valid.substr(0, valid.rfind('.'))}) {
    EXPECT_TRUE(Fails(verifier.verify(token, kNow), "Invalid JWS", "ERR_JWS_INVALID")) << token;
  }
}

TEST(JoseStyle, RefusesAnUnusableHeader) {
  const JwtVerifier verifier = hmac_verifier();
  const std::string payload = base64url_encode("{}");
  const std::vector<std::string> header_parts = {
      "",                                           // empty
      "eyJhbGciOiJIUzI1NiJ9=",                      // padded
      "eyJhbGci+iJIUzI1NiJ9",                       // outside the alphabet
      base64url_encode("not json"),                 //
      base64url_encode(R"(["HS256"])"),             // not an object
      base64url_encode(R"("HS256")"),               //
      base64url_encode(R"({"typ":"JWT"})"),         // no alg
      base64url_encode(R"({"alg":7})"),             // alg not a string
      base64url_encode(R"({"alg":""})"),            // empty alg
      base64url_encode("{\"alg\":\"HS256\"\xff}"),  // not UTF-8
  };
  for (const std::string& header : header_parts) {
    EXPECT_TRUE(Fails(verifier.verify(signed_parts(header, payload), kNow), "Invalid JWS", "ERR_JWS_INVALID"))
        << header;
  }
}

// A valid token of exactly `size` characters, if some padding claim gives one.
std::optional<std::string> token_of_size(std::size_t size) {
  for (std::size_t padding = (size - 120) * 3 / 4; padding < size; ++padding) {
    std::string token = hs256(R"({"pad":")" + std::string(padding, 'x') + R"("})");
    if (token.size() == size) return token;
    if (token.size() > size) break;
  }
  return std::nullopt;
}

TEST(JoseStyle, RefusesTokensLongerThan16KiB) {
  const JwtVerifier verifier = hmac_verifier();
  std::optional<std::string> largest_allowed;
  for (std::size_t size = kMaxTokenLength; !largest_allowed; --size) {
    largest_allowed = token_of_size(size);
  }
  std::optional<std::string> smallest_refused;
  for (std::size_t size = kMaxTokenLength + 1; !smallest_refused; ++size) {
    smallest_refused = token_of_size(size);
  }
  EXPECT_GE(largest_allowed->size(), kMaxTokenLength - 3);
  EXPECT_LE(smallest_refused->size(), kMaxTokenLength + 4);
  EXPECT_TRUE(Succeeds(verifier.verify(*largest_allowed, kNow)));
  EXPECT_TRUE(Fails(verifier.verify(*smallest_refused, kNow), "Invalid JWS", "ERR_JWS_INVALID"));
}

TEST(JoseStyle, RefusesUnsupportedCriticalExtensions) {
  const JwtVerifier verifier = hmac_verifier();
  EXPECT_TRUE(Fails(verifier.verify(hs256("{}", R"({"alg":"HS256","crit":["exp"],"exp":1})"), kNow),
                    "JWT verification failed", "AUTH_ERROR"));
  EXPECT_TRUE(
      Fails(verifier.verify(hs256("{}", R"({"alg":"HS256","crit":["b64","x"],"b64":true,"x":1})"), kNow),
            "JWT verification failed", "AUTH_ERROR"));
  // jose checks crit before alg.
  EXPECT_TRUE(Fails(verifier.verify(hs256("{}", R"({"crit":["x"],"x":1})"), kNow), "JWT verification failed",
                    "AUTH_ERROR"));
}

TEST(JoseStyle, RefusesMalformedCrit) {
  const JwtVerifier verifier = hmac_verifier();
  for (std::string_view header :
       {R"({"alg":"HS256","crit":[]})", R"({"alg":"HS256","crit":"b64","b64":true})",
        R"({"alg":"HS256","crit":[""]})", R"({"alg":"HS256","crit":[7]})",
        R"({"alg":"HS256","crit":["b64"]})", R"({"alg":"HS256","crit":["b64"],"b64":"false"})",
        R"({"alg":"HS256","crit":["b64"],"b64":null})"}) {
    EXPECT_TRUE(Fails(verifier.verify(hs256("{}", header), kNow), "Invalid JWS", "ERR_JWS_INVALID"))
        << header;
  }
}

TEST(JoseStyle, RefusesUnencodedPayloadsAfterCheckingTheSignature) {
  const JwtVerifier verifier = hmac_verifier();
  const std::string unencoded = hs256("{}", R"({"alg":"HS256","b64":false,"crit":["b64"]})");
  EXPECT_TRUE(Fails(verifier.verify(unencoded, kNow), "Invalid JWT", "ERR_JWT_INVALID"));
  EXPECT_TRUE(
      Fails(verifier.verify(hs256("{}", R"({"alg":"HS256","b64":false,"crit":["b64"]})", "other"), kNow),
            "Signature verification failed", "ERR_JWS_SIGNATURE_VERIFICATION_FAILED"));
}

TEST(JoseStyle, B64OutsideCritIsIgnoredLikeJoseDoes) {
  const JwtVerifier verifier = hmac_verifier();
  EXPECT_TRUE(Succeeds(verifier.verify(hs256("{}", R"({"alg":"HS256","b64":false})"), kNow)));
  EXPECT_TRUE(Succeeds(verifier.verify(hs256("{}", R"({"alg":"HS256","b64":true,"crit":["b64"]})"), kNow)));
}

TEST(JoseStyle, RefusesAlgNone) {
  const JwtVerifier verifier = hmac_verifier();
  const std::string unsigned_token =
      base64url_encode(R"({"alg":"none"})") + "." + base64url_encode("{}") + ".";
  EXPECT_TRUE(
      Fails(verifier.verify(unsigned_token, kNow), "Algorithm not allowed", "ERR_JOSE_ALG_NOT_ALLOWED"));
  EXPECT_TRUE(Fails(verifier.verify(hs256("{}", R"({"alg":"none"})"), kNow), "Algorithm not allowed",
                    "ERR_JOSE_ALG_NOT_ALLOWED"));
}

TEST(JoseStyle, RefusesAlgorithmsOutsideTheAllowList) {
  const JwtVerifier verifier = hmac_verifier(ErrorStyle::kJose, {Algorithm::kHS256});
  for (std::string_view header : {R"({"alg":"HS384"})", R"({"alg":"hs256"})", R"({"alg":"RS256"})",
                                  R"({"alg":"HS256 "})", R"({"alg":"Ed25519"})"}) {
    EXPECT_TRUE(Fails(verifier.verify(hs256("{}", header), kNow), "Algorithm not allowed",
                      "ERR_JOSE_ALG_NOT_ALLOWED"))
        << header;
  }
}

TEST(JoseStyle, EmptyHmacSecretFailsLikeAnUnimportableKey) {
  JwtVerifierOptions options;
  options.algorithms = {Algorithm::kHS256};
  options.key = make_hmac_key("");
  const JwtVerifier verifier(std::move(options));
  EXPECT_TRUE(
      Fails(verifier.verify(hs256("{}", kHs256Header, ""), kNow), "JWT verification failed", "AUTH_ERROR"));
}

TEST(JoseStyle, RefusesAnUndecodableSignature) {
  const JwtVerifier verifier = hmac_verifier();
  const std::string token = hs256("{}");
  EXPECT_TRUE(Fails(verifier.verify(token + "=", kNow), "Invalid JWS", "ERR_JWS_INVALID"));
  EXPECT_TRUE(Fails(verifier.verify(token.substr(0, token.size() - 1) + "+", kNow), "Invalid JWS",
                    "ERR_JWS_INVALID"));
  EXPECT_TRUE(
      Fails(verifier.verify(token + "AA", kNow), "Invalid JWS", "ERR_JWS_INVALID"));  // 4n+1 characters
}

TEST(JoseStyle, RefusesAWrongSignature) {
  const JwtVerifier verifier = hmac_verifier();
  const std::string token = hs256(R"({"sub":"user-1"})");
  const std::string signing_input = token.substr(0, token.rfind('.'));
  const std::string tampered = hs256(R"({"sub":"user-2"})");
  for (const std::string& bad :
       {hs256(R"({"sub":"user-1"})", kHs256Header, "another-secret"), signing_input + ".",
        tampered.substr(0, tampered.rfind('.')) + token.substr(token.rfind('.'))}) {
    EXPECT_TRUE(Fails(verifier.verify(bad, kNow), "Signature verification failed",
                      "ERR_JWS_SIGNATURE_VERIFICATION_FAILED"));
  }
}

TEST(JoseStyle, RefusesAPayloadThatIsNotAClaimsSet) {
  const JwtVerifier verifier = hmac_verifier();
  const std::string header = base64url_encode(kHs256Header);
  EXPECT_TRUE(Fails(verifier.verify(signed_parts(header, "e30="), kNow), "Invalid JWS", "ERR_JWS_INVALID"));
  EXPECT_TRUE(Fails(verifier.verify(signed_parts(header, "e3+9"), kNow), "Invalid JWS", "ERR_JWS_INVALID"));
  for (std::string_view payload : {"", "[]", "\"sub\"", "42", "null", "not json", "{\"sub\":"}) {
    EXPECT_TRUE(Fails(verifier.verify(signed_parts(header, base64url_encode(payload)), kNow), "Invalid JWT",
                      "ERR_JWT_INVALID"))
        << payload;
  }
}

TEST(JoseStyle, ChecksTheIssuer) {
  JwtVerifierOptions options;
  options.issuer = "https://tenant.auth0.com/";
  const JwtVerifier verifier = verifier_with(std::move(options));
  EXPECT_TRUE(Succeeds(verifier.verify(hs256(R"({"iss":"https://tenant.auth0.com/"})"), kNow)));
  for (std::string_view payload : {R"({})", R"({"iss":"https://tenant.auth0.com"})", R"({"iss":null})",
                                   R"({"iss":["https://tenant.auth0.com/"]})"}) {
    EXPECT_TRUE(Fails(verifier.verify(hs256(payload), kNow), "JWT claim validation failed",
                      "ERR_JWT_CLAIM_VALIDATION_FAILED"))
        << payload;
  }
}

TEST(JoseStyle, ChecksTheAudience) {
  JwtVerifierOptions options;
  options.audiences = {"api", "admin-api"};
  const JwtVerifier verifier = verifier_with(std::move(options));
  for (std::string_view payload : {R"({"aud":"api"})", R"({"aud":"admin-api"})", R"({"aud":["other","api"]})",
                                   R"({"aud":[7,"admin-api"]})"}) {
    EXPECT_TRUE(Succeeds(verifier.verify(hs256(payload), kNow))) << payload;
  }
  for (std::string_view payload : {R"({})", R"({"aud":"API"})", R"({"aud":["other"]})", R"({"aud":[]})",
                                   R"({"aud":7})", R"({"aud":null})"}) {
    EXPECT_TRUE(Fails(verifier.verify(hs256(payload), kNow), "JWT claim validation failed",
                      "ERR_JWT_CLAIM_VALIDATION_FAILED"))
        << payload;
  }
}

TEST(JoseStyle, UnconfiguredIssuerAndAudienceAreNotChecked) {
  EXPECT_TRUE(Succeeds(hmac_verifier().verify(hs256(R"({"iss":7,"aud":false})"), kNow)));
}

TEST(JoseStyle, IatMustBeANumber) {
  const JwtVerifier verifier = hmac_verifier();
  EXPECT_TRUE(Succeeds(verifier.verify(hs256(claims(R"("iat":)" + at(kNow + 86400))), kNow)));
  EXPECT_TRUE(Fails(verifier.verify(hs256(R"({"iat":"1700000000"})"), kNow), "JWT claim validation failed",
                    "ERR_JWT_CLAIM_VALIDATION_FAILED"));
}

TEST(JoseStyle, NotBeforeAllowsTheLeeway) {
  const JwtVerifier verifier = hmac_verifier();
  EXPECT_TRUE(Succeeds(verifier.verify(hs256(claims(R"("nbf":)" + at(kNow + 30))), kNow)));
  EXPECT_TRUE(Fails(verifier.verify(hs256(claims(R"("nbf":)" + at(kNow + 31))), kNow),
                    "JWT claim validation failed", "ERR_JWT_CLAIM_VALIDATION_FAILED"));
  EXPECT_TRUE(Fails(verifier.verify(hs256(R"({"nbf":"0"})"), kNow), "JWT claim validation failed",
                    "ERR_JWT_CLAIM_VALIDATION_FAILED"));
}

TEST(JoseStyle, ExpiryAllowsTheLeeway) {
  const JwtVerifier verifier = hmac_verifier();
  const VerifyResult last_second = verifier.verify(hs256(claims(R"("exp":)" + at(kNow - 29))), kNow);
  ASSERT_TRUE(Succeeds(last_second));
  EXPECT_EQ(last_second.valid_until, kNow + 1);
  EXPECT_TRUE(Fails(verifier.verify(hs256(claims(R"("exp":)" + at(kNow - 30))), kNow), "Token has expired.",
                    "ERR_JWT_EXPIRED"));
  EXPECT_TRUE(Fails(verifier.verify(hs256(R"({"exp":"2000000000"})"), kNow), "JWT claim validation failed",
                    "ERR_JWT_CLAIM_VALIDATION_FAILED"));
}

TEST(JoseStyle, FractionalAndHugeExpiries) {
  const JwtVerifier verifier = hmac_verifier();
  const VerifyResult fractional = verifier.verify(hs256(claims(R"("exp":)" + at(kNow - 30) + ".5")), kNow);
  ASSERT_TRUE(Succeeds(fractional));
  EXPECT_EQ(fractional.valid_until, kNow + 1);
  const VerifyResult huge = verifier.verify(hs256(R"({"exp":1e400})"), kNow);
  ASSERT_TRUE(Succeeds(huge));
  EXPECT_EQ(huge.valid_until, INT64_MAX);
}

TEST(JoseStyle, LeewayIsConfigurable) {
  JwtVerifierOptions options;
  options.leeway_seconds = 0;
  const JwtVerifier verifier = verifier_with(std::move(options));
  EXPECT_TRUE(Succeeds(verifier.verify(hs256(claims(R"("exp":)" + at(kNow + 1))), kNow)));
  EXPECT_TRUE(Fails(verifier.verify(hs256(claims(R"("exp":)" + at(kNow))), kNow), "Token has expired.",
                    "ERR_JWT_EXPIRED"));
  EXPECT_TRUE(Succeeds(verifier.verify(hs256(claims(R"("nbf":)" + at(kNow))), kNow)));
  EXPECT_TRUE(Fails(verifier.verify(hs256(claims(R"("nbf":)" + at(kNow + 1))), kNow),
                    "JWT claim validation failed", "ERR_JWT_CLAIM_VALIDATION_FAILED"));
}

TEST(JoseStyle, ClaimFailuresComeBeforeExpiry) {
  JwtVerifierOptions options;
  options.issuer = "issuer";
  const JwtVerifier verifier = verifier_with(std::move(options));
  const std::string expired = R"("exp":)" + at(kNow - 3600);
  EXPECT_TRUE(Fails(verifier.verify(hs256(claims(expired)), kNow), "JWT claim validation failed",
                    "ERR_JWT_CLAIM_VALIDATION_FAILED"));
  EXPECT_TRUE(Fails(
      verifier.verify(hs256(claims(R"("iss":"issuer","nbf":)" + at(kNow + 3600) + "," + expired)), kNow),
      "JWT claim validation failed", "ERR_JWT_CLAIM_VALIDATION_FAILED"));
  EXPECT_TRUE(Fails(verifier.verify(hs256(claims(R"("iss":"issuer",)" + expired)), kNow),
                    "Token has expired.", "ERR_JWT_EXPIRED"));
}

TEST(JoseStyle, SignatureIsCheckedBeforeClaims) {
  JwtVerifierOptions options;
  options.issuer = "issuer";
  const JwtVerifier verifier = verifier_with(std::move(options));
  EXPECT_TRUE(Fails(verifier.verify(hs256(claims(R"("exp":1)"), kHs256Header, "other"), kNow),
                    "Signature verification failed", "ERR_JWS_SIGNATURE_VERIFICATION_FAILED"));
}

TEST(JoseStyle, Rfc7515A1) {
  JwtVerifierOptions options;
  options.algorithms = {Algorithm::kHS256};
  options.key = parse_jwk(json::parse(rfc::kA1Jwk).as_object()).key;
  options.issuer = "joe";
  const JwtVerifier verifier(std::move(options));
  const VerifyResult result = verifier.verify(rfc::kA1Token, rfc::kBeforeRfc7515Exp);
  ASSERT_TRUE(Succeeds(result));
  EXPECT_EQ(result.claims->at("http://example.com/is_root"), json::value(true));
  EXPECT_EQ(result.valid_until, rfc::kRfc7515Exp + 30);
  EXPECT_TRUE(
      Fails(verifier.verify(rfc::kA1Token, rfc::kRfc7515Exp + 30), "Token has expired.", "ERR_JWT_EXPIRED"));
}

std::shared_ptr<const KeySource> source_of(std::string_view jwks_json) {
  JwksResult parsed = parse_jwks(jwks_json);
  EXPECT_TRUE(parsed.key_set) << parsed.error;
  return std::make_shared<SwappableKeySource>(parsed.key_set);
}

TEST(JoseStyle, Rfc7515A2AndA3ThroughAKeySet) {
  json::object a2 = json::parse(rfc::kA2Jwk).as_object();
  a2.erase("d");  // RFC 7515 prints the private key; a JWK set must not hold it
  JwtVerifierOptions options;
  options.algorithms = {all_algorithms().begin(), all_algorithms().end()};
  options.key =
      source_of(std::string(R"({"keys":[)") + json::serialize(a2) + "," + std::string(rfc::kA3Jwk) + "]}");
  const JwtVerifier verifier(std::move(options));
  EXPECT_TRUE(Succeeds(verifier.verify(rfc::kA2Token, rfc::kBeforeRfc7515Exp)));
  EXPECT_TRUE(Succeeds(verifier.verify(rfc::kA3Token, rfc::kBeforeRfc7515Exp)));
  EXPECT_TRUE(Fails(verifier.verify(rfc::kA3Token, kNow), "Token has expired.", "ERR_JWT_EXPIRED"));
}

TEST(JoseStyle, APrivateJwkInTheSetIsNeverUsed) {
  JwtVerifierOptions options;
  options.algorithms = {Algorithm::kRS256};
  options.key = source_of(std::string(R"({"keys":[)") + std::string(rfc::kA2Jwk) + "]}");
  const JwtVerifier verifier(std::move(options));
  EXPECT_TRUE(Fails(verifier.verify(rfc::kA2Token, rfc::kBeforeRfc7515Exp), "No matching key found in JWKS.",
                    "ERR_JWKS_NO_MATCHING_KEY"));
}

TEST(JoseStyle, RfcExamplesWhosePayloadIsNotAClaimsSet) {
  JwtVerifierOptions options;
  options.algorithms = {Algorithm::kES512, Algorithm::kEdDSA};
  options.key = source_of(std::string(R"({"keys":[)") + std::string(rfc::kA4Jwk) + "," +
                          std::string(rfc::kEd25519Jwk) + "]}");
  const JwtVerifier verifier(std::move(options));
  // The signatures verify, then the payloads ("Payload", "Example of Ed25519 signing") are refused.
  EXPECT_TRUE(Fails(verifier.verify(rfc::kA4Token, kNow), "Invalid JWT", "ERR_JWT_INVALID"));
  EXPECT_TRUE(Fails(verifier.verify(rfc::kEd25519Token, kNow), "Invalid JWT", "ERR_JWT_INVALID"));
  std::string tampered(rfc::kEd25519Token);
  tampered[tampered.size() - 2] = tampered[tampered.size() - 2] == 'A' ? 'B' : 'A';
  EXPECT_TRUE(Fails(verifier.verify(tampered, kNow), "Signature verification failed",
                    "ERR_JWS_SIGNATURE_VERIFICATION_FAILED"));
}

// ---------------------------------------------------------------------------------------------------------
// Key sets and asymmetric keys

class RecordingKeySource final : public KeySource {
 public:
  explicit RecordingKeySource(std::shared_ptr<const KeySet> keys) : keys_(std::move(keys)) {}
  std::shared_ptr<const KeySet> current() const override { return keys_; }
  void on_unknown_kid(std::string_view kid) const override { unknown_kids.emplace_back(kid); }

  mutable std::vector<std::string> unknown_kids;

 private:
  std::shared_ptr<const KeySet> keys_;
};

class WithGeneratedKeys : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    rsa_a_ = testing::generate_rsa().release();
    rsa_b_ = testing::generate_rsa().release();
    p256_ = testing::generate_ec("P-256").release();
    p384_ = testing::generate_ec("P-384").release();
    p521_ = testing::generate_ec("P-521").release();
    ed25519_ = testing::generate_ed25519().release();
  }
  static void TearDownTestSuite() {
    for (EVP_PKEY* key : {rsa_a_, rsa_b_, p256_, p384_, p521_, ed25519_}) {
      EVP_PKEY_free(key);
    }
  }

  static json::object jwk(EVP_PKEY* key, json::object members = {}) {
    json::object result = testing::public_jwk(key);
    for (const auto& member : members) {
      result[member.key()] = member.value();
    }
    return result;
  }

  static std::shared_ptr<const KeySet> key_set(std::initializer_list<json::object> jwks) {
    json::array keys;
    for (const json::object& key : jwks) {
      keys.push_back(key);
    }
    JwksResult parsed = parse_jwks_value(json::object{{"keys", keys}});
    EXPECT_TRUE(parsed.key_set) << parsed.error;
    EXPECT_TRUE(parsed.skipped.empty());
    return parsed.key_set;
  }

  static JwtVerifier verifier_for(std::shared_ptr<const KeySource> source,
                                  ErrorStyle style = ErrorStyle::kJose) {
    JwtVerifierOptions options;
    options.algorithms = {all_algorithms().begin(), all_algorithms().end()};
    options.key = std::move(source);
    options.error_style = style;
    return JwtVerifier(std::move(options));
  }

  static std::string token(EVP_PKEY* key, Algorithm algorithm, std::string_view kid = {}) {
    json::object header{{"alg", algorithm_name(algorithm)}};
    if (!kid.empty()) header["kid"] = kid;
    return testing::key_token(key, algorithm, json::serialize(header), R"({"sub":"user-1"})");
  }

  static inline EVP_PKEY* rsa_a_ = nullptr;
  static inline EVP_PKEY* rsa_b_ = nullptr;
  static inline EVP_PKEY* p256_ = nullptr;
  static inline EVP_PKEY* p384_ = nullptr;
  static inline EVP_PKEY* p521_ = nullptr;
  static inline EVP_PKEY* ed25519_ = nullptr;
};

TEST_F(WithGeneratedKeys, EveryAsymmetricAlgorithmThroughAKeySet) {
  const JwtVerifier verifier = verifier_for(std::make_shared<SwappableKeySource>(
      key_set({jwk(rsa_a_), jwk(p256_), jwk(p384_), jwk(p521_), jwk(ed25519_)})));
  for (Algorithm algorithm : all_algorithms()) {
    const AlgorithmFamily family = algorithm_family(algorithm);
    if (family == AlgorithmFamily::kHmac) continue;
    EVP_PKEY* key = family == AlgorithmFamily::kEdDSA ? ed25519_
                    : algorithm == Algorithm::kES256  ? p256_
                    : algorithm == Algorithm::kES384  ? p384_
                    : algorithm == Algorithm::kES512  ? p521_
                                                      : rsa_a_;
    EXPECT_TRUE(Succeeds(verifier.verify(token(key, algorithm), kNow))) << algorithm_name(algorithm);
  }
}

TEST_F(WithGeneratedKeys, SelectsTheKeyByKid) {
  const auto source = std::make_shared<RecordingKeySource>(
      key_set({jwk(rsa_a_, {{"kid", "a"}}), jwk(rsa_b_, {{"kid", "b"}})}));
  const JwtVerifier verifier = verifier_for(source);
  EXPECT_TRUE(Succeeds(verifier.verify(token(rsa_a_, Algorithm::kRS256, "a"), kNow)));
  EXPECT_TRUE(Succeeds(verifier.verify(token(rsa_b_, Algorithm::kRS256, "b"), kNow)));
  EXPECT_TRUE(Fails(verifier.verify(token(rsa_a_, Algorithm::kRS256, "b"), kNow),
                    "Signature verification failed", "ERR_JWS_SIGNATURE_VERIFICATION_FAILED"));
  EXPECT_TRUE(source->unknown_kids.empty());
}

TEST_F(WithGeneratedKeys, UnknownKidIsReportedToTheSource) {
  const auto source = std::make_shared<RecordingKeySource>(key_set({jwk(rsa_a_, {{"kid", "a"}})}));
  const JwtVerifier verifier = verifier_for(source);
  EXPECT_TRUE(Fails(verifier.verify(token(rsa_a_, Algorithm::kRS256, "rotated"), kNow),
                    "No matching key found in JWKS.", "ERR_JWKS_NO_MATCHING_KEY"));
  EXPECT_TRUE(Fails(verifier.verify(token(p256_, Algorithm::kES256), kNow), "No matching key found in JWKS.",
                    "ERR_JWKS_NO_MATCHING_KEY"));
  EXPECT_EQ(source->unknown_kids, (std::vector<std::string>{"rotated", ""}));
}

TEST_F(WithGeneratedKeys, RefusesAmbiguousKeySelection) {
  const JwtVerifier verifier =
      verifier_for(std::make_shared<SwappableKeySource>(key_set({jwk(rsa_a_), jwk(rsa_b_, {{"kid", "b"}})})));
  EXPECT_TRUE(Fails(verifier.verify(token(rsa_a_, Algorithm::kRS256), kNow),
                    "Multiple matching keys found in JWKS.", "ERR_JWKS_MULTIPLE_MATCHING_KEYS"));
  EXPECT_TRUE(Succeeds(verifier.verify(token(rsa_b_, Algorithm::kRS256, "b"), kNow)));
}

TEST_F(WithGeneratedKeys, IgnoresANonStringKidInTheToken) {
  const JwtVerifier verifier =
      verifier_for(std::make_shared<SwappableKeySource>(key_set({jwk(rsa_a_, {{"kid", "a"}})})));
  const std::string numeric_kid =
      testing::key_token(rsa_a_, Algorithm::kRS256, R"({"alg":"RS256","kid":7})", R"({"sub":"user-1"})");
  EXPECT_TRUE(Succeeds(verifier.verify(numeric_kid, kNow)));
}

TEST_F(WithGeneratedKeys, SkipsKeysForEncryptionOtherAlgorithmsOrOtherOperations) {
  const std::initializer_list<json::object> jwks = {
      jwk(rsa_a_, {{"kid", "enc"}, {"use", "enc"}}),
      jwk(rsa_a_, {{"kid", "ps256-only"}, {"alg", "PS256"}}),
      jwk(rsa_a_, {{"kid", "sign-only"}, {"key_ops", json::array{"sign"}}}),
      jwk(rsa_a_, {{"kid", "ok"}, {"use", "sig"}, {"alg", "RS256"}, {"key_ops", json::array{"verify"}}}),
  };
  // parse_jwks leaves such keys out of the set...
  json::array array;
  for (const json::object& key : jwks)
    array.push_back(key);
  const JwksResult parsed = parse_jwks_value(json::object{{"keys", array}});
  ASSERT_TRUE(parsed.key_set);
  EXPECT_EQ(parsed.key_set->keys().size(), 2U);
  EXPECT_EQ(parsed.skipped, (std::vector<std::string>{"keys[0] (kid \"enc\"): use is \"enc\", not \"sig\"",
                                                      "keys[2] (kid \"sign-only\"): key_ops do not include "
                                                      "\"verify\""}));
  // ...and selection never picks them from a set built otherwise.
  std::vector<std::shared_ptr<const VerificationKey>> keys;
  for (const json::object& key : jwks)
    keys.push_back(parse_jwk(key).key);
  const JwtVerifier verifier =
      verifier_for(std::make_shared<SwappableKeySource>(std::make_shared<const KeySet>(std::move(keys))));
  for (std::string_view kid : {"enc", "ps256-only", "sign-only"}) {
    EXPECT_TRUE(Fails(verifier.verify(token(rsa_a_, Algorithm::kRS256, kid), kNow),
                      "No matching key found in JWKS.", "ERR_JWKS_NO_MATCHING_KEY"))
        << kid;
  }
  EXPECT_TRUE(Succeeds(verifier.verify(token(rsa_a_, Algorithm::kPS256, "ps256-only"), kNow)));
  EXPECT_TRUE(Succeeds(verifier.verify(token(rsa_a_, Algorithm::kRS256, "ok"), kNow)));
}

TEST_F(WithGeneratedKeys, MissingKeySetFailsLikeAnUnreachableJwks) {
  const JwtVerifier verifier = verifier_for(std::make_shared<SwappableKeySource>());
  EXPECT_TRUE(Fails(verifier.verify(token(rsa_a_, Algorithm::kRS256), kNow), "JWT verification failed",
                    "AUTH_ERROR"));
}

TEST_F(WithGeneratedKeys, KeySetCanBeSwappedAtRuntime) {
  const auto source = std::make_shared<SwappableKeySource>(key_set({jwk(rsa_a_, {{"kid", "old"}})}));
  const JwtVerifier verifier = verifier_for(source);
  const std::string new_token = token(rsa_b_, Algorithm::kRS256, "new");
  EXPECT_TRUE(
      Fails(verifier.verify(new_token, kNow), "No matching key found in JWKS.", "ERR_JWKS_NO_MATCHING_KEY"));
  source->replace(key_set({jwk(rsa_b_, {{"kid", "new"}})}));
  EXPECT_TRUE(Succeeds(verifier.verify(new_token, kNow)));
}

TEST_F(WithGeneratedKeys, FixedKeyOfAnotherTypeIsRefused) {
  JwtVerifierOptions options;
  options.algorithms = {Algorithm::kHS256, Algorithm::kRS256};
  options.key = make_hmac_key(kSecret);
  const JwtVerifier verifier(std::move(options));
  EXPECT_TRUE(Fails(verifier.verify(token(rsa_a_, Algorithm::kRS256), kNow), "JWT verification failed",
                    "AUTH_ERROR"));
}

TEST_F(WithGeneratedKeys, HmacTokenSignedWithThePublicKeyIsRefused) {
  const std::string pem = testing::public_pem(rsa_a_);
  const std::string forged =
      testing::hmac_token(pem, Algorithm::kHS256, R"({"alg":"HS256"})", R"({"sub":"admin"})");
  JwtVerifierOptions options;
  options.algorithms = {Algorithm::kRS256, Algorithm::kHS256};
  options.key = parse_public_key_pem(pem).key;
  const JwtVerifier fixed_key(std::move(options));
  EXPECT_TRUE(Fails(fixed_key.verify(forged, kNow), "JWT verification failed", "AUTH_ERROR"));

  const JwtVerifier key_set_verifier =
      verifier_for(std::make_shared<SwappableKeySource>(key_set({jwk(rsa_a_)})));
  EXPECT_TRUE(Fails(key_set_verifier.verify(forged, kNow), "No matching key found in JWKS.",
                    "ERR_JWKS_NO_MATCHING_KEY"));
}

TEST_F(WithGeneratedKeys, ForgedTokenForASmallOrderEd25519KeyIsRefused) {
  std::string identity(32, '\0');
  identity[0] = 1;
  const json::object weak{
      {"kty", "OKP"}, {"crv", "Ed25519"}, {"kid", "weak"}, {"x", base64url_encode(identity)}};
  const JwksResult parsed =
      parse_jwks_value(json::object{{"keys", json::array{weak, jwk(ed25519_, {{"kid", "good"}})}}});
  ASSERT_TRUE(parsed.key_set);
  EXPECT_EQ(parsed.key_set->keys().size(), 1U);
  EXPECT_EQ(parsed.skipped,
            std::vector<std::string>{"keys[0] (kid \"weak\"): Ed25519 public key is a point of "
                                     "small order (it would accept forged signatures)"});
  const JwtVerifier verifier = verifier_for(std::make_shared<SwappableKeySource>(parsed.key_set));
  // R = the identity, S = 0: what OpenSSL accepts for any message under the identity key.
  const std::string forged =
      testing::compact(R"({"alg":"EdDSA","kid":"weak"})", R"({"sub":"admin"})",
                       [&](std::string_view) { return identity + std::string(32, '\0'); });
  EXPECT_TRUE(
      Fails(verifier.verify(forged, kNow), "No matching key found in JWKS.", "ERR_JWKS_NO_MATCHING_KEY"));
  EXPECT_TRUE(Succeeds(verifier.verify(token(ed25519_, Algorithm::kEdDSA, "good"), kNow)));
}

TEST(KeySourceConcurrency, VerifiersReadWhileTheKeySetIsReplaced) {
  auto jwks = [](std::string_view kid) {
    return std::make_shared<const KeySet>(std::vector<std::shared_ptr<const VerificationKey>>{
        make_hmac_key(kSecret, KeyMetadata{std::string(kid), {}, {}, {}})});
  };
  const auto source = std::make_shared<SwappableKeySource>(jwks("k"));
  JwtVerifierOptions options;
  options.algorithms = {Algorithm::kHS256};
  options.key = source;
  const JwtVerifier verifier(std::move(options));
  const std::string token = hs256(R"({"sub":"user-1"})", R"({"alg":"HS256","kid":"k"})");

  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::vector<std::thread> readers;
  for (int i = 0; i < 2; ++i) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        if (!verifier.verify(token, kNow).ok()) ++failures;
      }
    });
  }
  for (int i = 0; i < 200; ++i) {
    source->replace(jwks("k"));
  }
  stop = true;
  for (std::thread& reader : readers) {
    reader.join();
  }
  EXPECT_EQ(failures.load(), 0);
}

// ---------------------------------------------------------------------------------------------------------
// jsonwebtoken style (supabase authorizer)

JwtVerifier supabase_verifier(std::vector<std::string> audiences = {"authenticated"}) {
  JwtVerifierOptions options;
  options.algorithms = {Algorithm::kHS256};
  options.key = make_hmac_key(kSecret);
  options.issuer = "https://project.supabase.co/auth/v1";
  options.audiences = std::move(audiences);
  options.error_style = ErrorStyle::kJsonWebToken;
  return JwtVerifier(std::move(options));
}

std::string supabase_claims(std::string_view extra = {}) {
  std::string members = R"("sub":"user-1","role":"authenticated","aud":"authenticated",)"
                        R"("iss":"https://project.supabase.co/auth/v1")";
  if (!extra.empty()) members += "," + std::string(extra);
  return claims(members);
}

constexpr std::string_view kInvalid = "JWT_INVALID";

TEST(JsonWebTokenStyle, AcceptsAValidToken) {
  const VerifyResult result =
      supabase_verifier().verify(hs256(supabase_claims(R"("exp":)" + at(kNow + 3600))), kNow);
  ASSERT_TRUE(Succeeds(result));
  EXPECT_EQ(result.claims->at("role").as_string(), "authenticated");
  EXPECT_EQ(result.valid_until, kNow + 3600 + 30);
}

TEST(JsonWebTokenStyle, MalformedTokens) {
  const JwtVerifier verifier = supabase_verifier();
  for (const std::string& token : {std::string("malformed.token"), std::string("not-a-jwt"), std::string(""),
                                   hs256(supabase_claims()) + ".x", std::string(kMaxTokenLength + 1, 'a')}) {
    EXPECT_TRUE(Fails(verifier.verify(token, kNow), "JWT verification failed: jwt malformed", kInvalid));
  }
}

TEST(JsonWebTokenStyle, UndecodableParts) {
  const JwtVerifier verifier = supabase_verifier();
  const std::string header = base64url_encode(kHs256Header);
  const std::string payload = base64url_encode(supabase_claims());
  for (const std::string& token :
       {signed_parts("", payload), signed_parts(base64url_encode("not json"), payload),
        signed_parts(base64url_encode("[]"), payload), signed_parts(header, ""),
        signed_parts(header, base64url_encode("not json")), signed_parts(header, base64url_encode("[1]")),
        signed_parts(header, "e30="), signed_parts(header, payload) + "="}) {
    EXPECT_TRUE(Fails(verifier.verify(token, kNow), "JWT verification failed: invalid token", kInvalid))
        << token;
  }
}

TEST(JsonWebTokenStyle, SignatureIsRequired) {
  const std::string token = hs256(supabase_claims());
  EXPECT_TRUE(Fails(supabase_verifier().verify(token.substr(0, token.rfind('.') + 1), kNow),
                    "JWT verification failed: jwt signature is required", kInvalid));
}

TEST(JsonWebTokenStyle, InvalidAlgorithm) {
  const JwtVerifier verifier = supabase_verifier();
  for (std::string_view header : {R"({"alg":"HS512"})", R"({"alg":"none"})", R"({"typ":"JWT"})",
                                  R"({"alg":7})", R"({"alg":"hs256"})"}) {
    EXPECT_TRUE(Fails(verifier.verify(hs256(supabase_claims(), header), kNow),
                      "JWT verification failed: invalid algorithm", kInvalid))
        << header;
  }
}

TEST(JsonWebTokenStyle, InvalidSignature) {
  const JwtVerifier verifier = supabase_verifier();
  const std::string token = hs256(supabase_claims());
  for (const std::string& bad : {hs256(supabase_claims(), kHs256Header, "another-secret"), token + "A",
                                 token.substr(0, token.size() - 1) + (token.back() == 'A' ? "B" : "A")}) {
    EXPECT_TRUE(Fails(verifier.verify(bad, kNow), "JWT verification failed: invalid signature", kInvalid));
  }
}

TEST(JsonWebTokenStyle, IgnoresCritLikeJsonWebTokenDoes) {
  EXPECT_TRUE(Succeeds(supabase_verifier().verify(
      hs256(supabase_claims(), R"({"alg":"HS256","crit":["exp"],"exp":1})"), kNow)));
}

TEST(JsonWebTokenStyle, NotBefore) {
  const JwtVerifier verifier = supabase_verifier();
  EXPECT_TRUE(Succeeds(verifier.verify(hs256(supabase_claims(R"("nbf":)" + at(kNow + 30))), kNow)));
  EXPECT_TRUE(Fails(verifier.verify(hs256(supabase_claims(R"("nbf":)" + at(kNow + 31))), kNow),
                    "Token not active yet (nbf)", "JWT_NOT_ACTIVE"));
  EXPECT_TRUE(Fails(verifier.verify(hs256(supabase_claims(R"("nbf":"soon")")), kNow),
                    "JWT verification failed: invalid nbf value", kInvalid));
  EXPECT_TRUE(Fails(verifier.verify(hs256(supabase_claims(R"("nbf":null)")), kNow),
                    "JWT verification failed: invalid nbf value", kInvalid));
}

TEST(JsonWebTokenStyle, Expiry) {
  const JwtVerifier verifier = supabase_verifier();
  EXPECT_TRUE(Succeeds(verifier.verify(hs256(supabase_claims(R"("exp":)" + at(kNow - 29))), kNow)));
  EXPECT_TRUE(Fails(verifier.verify(hs256(supabase_claims(R"("exp":)" + at(kNow - 30))), kNow),
                    "Token has expired.", "JWT_EXPIRED"));
  EXPECT_TRUE(Fails(verifier.verify(hs256(supabase_claims(R"("exp":"later")")), kNow),
                    "JWT verification failed: invalid exp value", kInvalid));
}

TEST(JsonWebTokenStyle, Audience) {
  EXPECT_TRUE(
      Fails(supabase_verifier({"authenticated", "service"})
                .verify(hs256(claims(R"("aud":"anon","iss":"https://project.supabase.co/auth/v1")")), kNow),
            "JWT verification failed: jwt audience invalid. expected: authenticated or service", kInvalid));
  EXPECT_TRUE(
      Fails(supabase_verifier().verify(hs256(claims(R"("iss":"https://project.supabase.co/auth/v1")")), kNow),
            "JWT verification failed: jwt audience invalid. expected: authenticated", kInvalid));
  EXPECT_TRUE(Succeeds(supabase_verifier().verify(
      hs256(claims(R"("aud":["x","authenticated"],"iss":"https://project.supabase.co/auth/v1")")), kNow)));
}

TEST(JsonWebTokenStyle, Issuer) {
  EXPECT_TRUE(
      Fails(supabase_verifier().verify(hs256(claims(R"("aud":"authenticated","iss":"other")")), kNow),
            "JWT verification failed: jwt issuer invalid. expected: https://project.supabase.co/auth/v1",
            kInvalid));
  EXPECT_TRUE(
      Fails(supabase_verifier().verify(hs256(claims(R"("aud":"authenticated")")), kNow),
            "JWT verification failed: jwt issuer invalid. expected: https://project.supabase.co/auth/v1",
            kInvalid));
}

TEST(JsonWebTokenStyle, ChecksInJsonWebTokensOrder) {
  const JwtVerifier verifier = supabase_verifier();
  const std::string expired = R"("exp":)" + at(kNow - 3600);
  // nbf before exp, exp before aud, aud before iss.
  EXPECT_TRUE(Fails(verifier.verify(hs256(claims(R"("nbf":)" + at(kNow + 3600) + "," + expired)), kNow),
                    "Token not active yet (nbf)", "JWT_NOT_ACTIVE"));
  EXPECT_TRUE(Fails(verifier.verify(hs256(claims(expired)), kNow), "Token has expired.", "JWT_EXPIRED"));
  EXPECT_TRUE(Fails(verifier.verify(hs256(claims(R"("iss":"other")")), kNow),
                    "JWT verification failed: jwt audience invalid. expected: authenticated", kInvalid));
  // Undecodable beats a bad algorithm, which beats a bad signature.
  EXPECT_TRUE(Fails(verifier.verify(signed_parts(base64url_encode(R"({"alg":"HS512"})"), "e30="), kNow),
                    "JWT verification failed: invalid token", kInvalid));
  EXPECT_TRUE(Fails(verifier.verify(hs256("{}", R"({"alg":"HS512"})", "other"), kNow),
                    "JWT verification failed: invalid algorithm", kInvalid));
}

TEST_F(WithGeneratedKeys, JsonWebTokenStyleWithAKeyOfAnotherType) {
  JwtVerifierOptions options;
  options.algorithms = {Algorithm::kHS256, Algorithm::kRS256};
  options.key = parse_public_key_pem(testing::public_pem(rsa_a_)).key;
  options.error_style = ErrorStyle::kJsonWebToken;
  const JwtVerifier rsa_verifier(std::move(options));
  EXPECT_TRUE(Fails(rsa_verifier.verify(hs256("{}"), kNow),
                    "JWT verification failed: secretOrPublicKey must be a symmetric key when using HS256",
                    kInvalid));
  EXPECT_TRUE(Succeeds(rsa_verifier.verify(token(rsa_a_, Algorithm::kRS256), kNow)));

  JwtVerifierOptions hmac_options;
  hmac_options.algorithms = {Algorithm::kHS256, Algorithm::kRS256};
  hmac_options.key = make_hmac_key(kSecret);
  hmac_options.error_style = ErrorStyle::kJsonWebToken;
  const JwtVerifier hmac(std::move(hmac_options));
  EXPECT_TRUE(Fails(hmac.verify(token(rsa_a_, Algorithm::kRS256), kNow),
                    "JWT verification failed: secretOrPublicKey must be an asymmetric key when using RS256",
                    kInvalid));
}

TEST_F(WithGeneratedKeys, JsonWebTokenStyleWithoutAMatchingKey) {
  const JwtVerifier verifier =
      verifier_for(std::make_shared<SwappableKeySource>(key_set({jwk(rsa_a_, {{"kid", "a"}})})),
                   ErrorStyle::kJsonWebToken);
  EXPECT_TRUE(Fails(verifier.verify(token(rsa_a_, Algorithm::kRS256, "b"), kNow),
                    "JWT verification failed: secret or public key must be provided", kInvalid));
}

// ---------------------------------------------------------------------------------------------------------

TEST(JwtVerifierOptions, RefusesIncompleteConfigurations) {
  JwtVerifierOptions no_algorithms;
  no_algorithms.key = make_hmac_key(kSecret);
  EXPECT_THROW(JwtVerifier{std::move(no_algorithms)}, std::invalid_argument);

  JwtVerifierOptions no_key;
  no_key.algorithms = {Algorithm::kHS256};
  EXPECT_THROW(JwtVerifier{no_key}, std::invalid_argument);
  no_key.key = std::shared_ptr<const KeySource>();
  EXPECT_THROW(JwtVerifier{no_key}, std::invalid_argument);

  JwtVerifierOptions negative_leeway;
  negative_leeway.algorithms = {Algorithm::kHS256};
  negative_leeway.key = make_hmac_key(kSecret);
  negative_leeway.leeway_seconds = -1;
  EXPECT_THROW(JwtVerifier{std::move(negative_leeway)}, std::invalid_argument);
}

TEST(JwtVerifier, FailuresNeverEchoTheTokenOrTheSecret) {
  const JwtVerifier verifier = supabase_verifier();
  const std::string token = hs256(supabase_claims(R"("exp":1)"), kHs256Header, "another-secret");
  for (const VerifyResult& result : {verifier.verify(token, kNow), hmac_verifier().verify(token, kNow)}) {
    ASSERT_TRUE(result.failure);
    EXPECT_EQ(result.failure->message.find(token.substr(0, 20)), std::string::npos);
    EXPECT_EQ(result.failure->message.find(kSecret), std::string::npos);
  }
}

}  // namespace
}  // namespace workgate::auth
