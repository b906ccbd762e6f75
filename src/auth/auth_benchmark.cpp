// Verification cost per algorithm for a typical Auth0-style access token, and the token-cache hit path.
#include <benchmark/benchmark.h>
#include <openssl/rsa.h>

#include <array>
#include <boost/json.hpp>
#include <memory>
#include <string>
#include <vector>

#include "auth/base64url.hpp"
#include "auth/jwk.hpp"
#include "auth/jwt.hpp"
#include "auth/test_signing.hpp"
#include "auth/token_cache.hpp"

namespace workgate::auth {
namespace {

namespace json = boost::json;

constexpr std::int64_t kNow = 1'700'000'000;
constexpr std::string_view kSecret = "a-benchmark-secret-of-32-bytes!!";
constexpr std::string_view kIssuer = "https://tenant.auth0.com/";

std::string typical_claims(std::string_view subject = "auth0|64f1c2d3e4b5a6978899aabb") {
  return json::serialize(json::object{
      {"iss", kIssuer},
      {"sub", subject},
      {"aud", json::array{"https://api.example.com", "https://tenant.auth0.com/userinfo"}},
      {"iat", kNow - 60},
      {"exp", kNow + 3600},
      {"azp", "Xk3f9Qm2LpRt7VbN1cZy"},
      {"scope", "openid profile email read:messages write:messages"},
      {"permissions", json::array{"read:messages", "write:messages"}},
  });
}

JwtVerifierOptions typical_options(KeyBinding key) {
  JwtVerifierOptions options;
  options.algorithms = {all_algorithms().begin(), all_algorithms().end()};
  options.key = std::move(key);
  options.issuer = std::string(kIssuer);
  options.audiences = {"https://api.example.com"};
  return options;
}

struct AsymmetricCase {
  std::unique_ptr<JwtVerifier> verifier;
  std::string token;
};

// A key set of two keys of the kind `algorithm` needs (so selection by kid does real work).
AsymmetricCase asymmetric_case(Algorithm algorithm, const char* type, const char* curve = nullptr) {
  const openssl::PkeyPtr signing_key = testing::generate_key(type, 2048, curve);
  const openssl::PkeyPtr other_key = testing::generate_key(type, 2048, curve);
  json::object signing_jwk = testing::public_jwk(signing_key.get());
  signing_jwk["kid"] = "current";
  json::object other_jwk = testing::public_jwk(other_key.get());
  other_jwk["kid"] = "previous";
  const JwksResult jwks = parse_jwks_value(json::object{{"keys", json::array{other_jwk, signing_jwk}}});
  const std::string header =
      json::serialize(json::object{{"alg", algorithm_name(algorithm)}, {"typ", "JWT"}, {"kid", "current"}});
  return {std::make_unique<JwtVerifier>(typical_options(std::make_shared<SwappableKeySource>(jwks.key_set))),
          testing::key_token(signing_key.get(), algorithm, header, typical_claims())};
}

void run(benchmark::State& state, const Verifier& verifier, const std::string& token) {
  if (!verifier.verify(token, kNow).ok()) state.SkipWithError("token does not verify");
  for (auto _ : state) {
    benchmark::DoNotOptimize(verifier.verify(token, kNow));
  }
}

void BM_VerifyHS256(benchmark::State& state) {
  static const JwtVerifier verifier(typical_options(make_hmac_key(kSecret)));
  static const std::string token =
      testing::hmac_token(kSecret, Algorithm::kHS256, R"({"alg":"HS256","typ":"JWT"})", typical_claims());
  run(state, verifier, token);
}
BENCHMARK(BM_VerifyHS256)->ThreadRange(1, 2)->UseRealTime();

void BM_VerifyRS256(benchmark::State& state) {
  static const AsymmetricCase rs256 = asymmetric_case(Algorithm::kRS256, "RSA");
  run(state, *rs256.verifier, rs256.token);
}
BENCHMARK(BM_VerifyRS256)->ThreadRange(1, 2)->UseRealTime();

// The parts of an uncached RS256 verification, against the floor `openssl speed rsa2048` measures (an
// EVP_PKEY_verify of a precomputed SHA-256 on a context set up once). bench/rs256_vs_openssl.py runs these
// beside `openssl speed` itself.
struct Rs256Parts {
  openssl::PkeyPtr private_key = testing::generate_rsa();
  std::shared_ptr<const VerificationKey> key = parse_jwk(testing::public_jwk(private_key.get())).key;
  std::string input = testing::key_token(private_key.get(), Algorithm::kRS256,
                                         R"({"alg":"RS256","typ":"JWT","kid":"current"})", typical_claims());
  std::string signature;

  Rs256Parts() {
    const std::size_t dot = input.rfind('.');
    signature = *base64url_decode(std::string_view(input).substr(dot + 1));
    input.resize(dot);
  }
};

const Rs256Parts& rs256_parts() {
  static const Rs256Parts parts;
  return parts;
}

void BM_KeyVerifyRS256(benchmark::State& state) {
  const Rs256Parts& parts = rs256_parts();
  if (!parts.key || !parts.key->verify(Algorithm::kRS256, parts.input, parts.signature)) {
    state.SkipWithError("signature does not verify");
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize(parts.key->verify(Algorithm::kRS256, parts.input, parts.signature));
  }
}
BENCHMARK(BM_KeyVerifyRS256);

void BM_OpenSslFloorRS256(benchmark::State& state) {
  const Rs256Parts& parts = rs256_parts();
  std::array<unsigned char, 32> hash{};
  unsigned int hash_size = 0;
  EVP_Digest(parts.input.data(), parts.input.size(), hash.data(), &hash_size, EVP_sha256(), nullptr);
  const openssl::PkeyCtxPtr context(EVP_PKEY_CTX_new_from_pkey(nullptr, parts.private_key.get(), nullptr));
  if (!context || EVP_PKEY_verify_init(context.get()) != 1 ||
      EVP_PKEY_CTX_set_rsa_padding(context.get(), RSA_PKCS1_PADDING) != 1 ||
      EVP_PKEY_CTX_set_signature_md(context.get(), EVP_sha256()) != 1) {
    state.SkipWithError("OpenSSL set-up failed");
    return;
  }
  const auto* signature = reinterpret_cast<const unsigned char*>(parts.signature.data());
  if (EVP_PKEY_verify(context.get(), signature, parts.signature.size(), hash.data(), hash_size) != 1) {
    state.SkipWithError("signature does not verify");
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        EVP_PKEY_verify(context.get(), signature, parts.signature.size(), hash.data(), hash_size));
  }
}
BENCHMARK(BM_OpenSslFloorRS256);

void BM_VerifyPS256(benchmark::State& state) {
  static const AsymmetricCase ps256 = asymmetric_case(Algorithm::kPS256, "RSA");
  run(state, *ps256.verifier, ps256.token);
}
BENCHMARK(BM_VerifyPS256);

void BM_VerifyES256(benchmark::State& state) {
  static const AsymmetricCase es256 = asymmetric_case(Algorithm::kES256, "EC", "P-256");
  run(state, *es256.verifier, es256.token);
}
BENCHMARK(BM_VerifyES256);

void BM_VerifyEdDSA(benchmark::State& state) {
  static const AsymmetricCase eddsa = asymmetric_case(Algorithm::kEdDSA, "ED25519");
  run(state, *eddsa.verifier, eddsa.token);
}
BENCHMARK(BM_VerifyEdDSA);

// A hit in a full cache (4096 distinct tokens), cycling through the tokens; with a fixed key or with a key
// source (whose key-set generation every hit checks).
void BM_TokenCacheHit(benchmark::State& state) {
  const bool key_source = state.range(0) != 0;
  const std::shared_ptr<const KeySource> source =
      std::make_shared<SwappableKeySource>(std::make_shared<const KeySet>(
          std::vector<std::shared_ptr<const VerificationKey>>{make_hmac_key(kSecret)}));
  const JwtVerifier verifier(
      typical_options(key_source ? KeyBinding(source) : KeyBinding(make_hmac_key(kSecret))));
  std::vector<std::string> tokens;
  TokenCache cache;
  for (int i = 0; i < 4096; ++i) {
    tokens.push_back(testing::hmac_token(kSecret, Algorithm::kHS256, R"({"alg":"HS256","typ":"JWT"})",
                                         typical_claims("user-" + std::to_string(i))));
    cache.verify(verifier, tokens.back(), kNow);
  }
  std::size_t next = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(cache.verify(verifier, tokens[next], kNow));
    next = (next + 1) % tokens.size();
  }
  if (cache.stats().misses != tokens.size()) state.SkipWithError("unexpected cache misses");
}
BENCHMARK(BM_TokenCacheHit)->Arg(0)->Arg(1);

}  // namespace
}  // namespace workgate::auth

BENCHMARK_MAIN();
