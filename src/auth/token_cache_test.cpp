#include "auth/token_cache.hpp"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>

#include "auth/jwk.hpp"
#include "auth/jwt.hpp"
#include "auth/test_signing.hpp"

namespace workgate::auth {
namespace {

constexpr std::int64_t kNow = 1'700'000'000;

// Accepts tokens starting with "good" (valid until `valid_until`), refuses the rest; counts its calls.
class CountingVerifier final : public Verifier {
 public:
  explicit CountingVerifier(std::int64_t valid_until = INT64_MAX) : valid_until_(valid_until) {}

  VerifyResult verify(std::string_view token, std::int64_t) const override {
    ++calls;
    if (!token.starts_with("good")) return {nullptr, AuthFailure{401, "bad", "BAD"}};
    auto claims = std::make_shared<boost::json::object>();
    (*claims)["token"] = token;
    return {std::move(claims), std::nullopt, valid_until_};
  }

  mutable int calls = 0;

 private:
  std::int64_t valid_until_;
};

// Like CountingVerifier, but its successes carry the generation of a key set that tests change.
class GenerationalVerifier final : public Verifier {
 public:
  VerifyResult verify(std::string_view token, std::int64_t) const override {
    ++calls;
    if (!token.starts_with("good")) return {nullptr, AuthFailure{401, "bad", "BAD"}};
    auto claims = std::make_shared<boost::json::object>();
    (*claims)["token"] = token;
    return {std::move(claims), std::nullopt, INT64_MAX, verdict_generation};
  }
  std::uint64_t key_generation() const override { return current_generation; }

  mutable int calls = 0;
  std::uint64_t verdict_generation = 7;  // of the set verify() uses
  std::uint64_t current_generation = 7;  // of the set the verifier would use now
};

std::string token_in(const VerifyResult& result) {
  return std::string(result.claims->at("token").as_string());
}

TEST(TokenCache, VerifiesOnceThenHits) {
  TokenCache cache;
  const CountingVerifier verifier;
  const VerifyResult first = cache.verify(verifier, "good-1", kNow);
  const VerifyResult second = cache.verify(verifier, "good-1", kNow + 10);
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second.claims, first.claims);
  EXPECT_EQ(second.valid_until, INT64_MAX);
  EXPECT_EQ(verifier.calls, 1);
  EXPECT_EQ(cache.stats().hits, 1U);
  EXPECT_EQ(cache.stats().misses, 1U);
  EXPECT_EQ(cache.size(), 1U);
}

TEST(TokenCache, NeverRemembersFailures) {
  TokenCache cache;
  const CountingVerifier verifier;
  EXPECT_FALSE(cache.verify(verifier, "bad-1", kNow).ok());
  EXPECT_FALSE(cache.verify(verifier, "bad-1", kNow).ok());
  EXPECT_EQ(verifier.calls, 2);
  EXPECT_EQ(cache.size(), 0U);
}

TEST(TokenCache, KeepsTokensApart) {
  TokenCache cache;
  const CountingVerifier verifier;
  cache.verify(verifier, "good-1", kNow);
  cache.verify(verifier, "good-2", kNow);
  EXPECT_EQ(token_in(cache.verify(verifier, "good-1", kNow)), "good-1");
  EXPECT_EQ(token_in(cache.verify(verifier, "good-2", kNow)), "good-2");
  EXPECT_FALSE(cache.find(verifier, "good-", kNow));
  EXPECT_FALSE(cache.find(verifier, "good-10", kNow));
  EXPECT_EQ(verifier.calls, 2);
}

TEST(TokenCache, EntriesEndWhenTheTokenExpires) {
  TokenCache cache;
  const CountingVerifier verifier(kNow + 60);
  cache.verify(verifier, "good-1", kNow);
  const std::optional<VerifyResult> last_second = cache.find(verifier, "good-1", kNow + 59);
  ASSERT_TRUE(last_second);
  EXPECT_EQ(last_second->valid_until, kNow + 60);
  EXPECT_FALSE(cache.find(verifier, "good-1", kNow + 60));
  EXPECT_EQ(cache.size(), 0U);
}

TEST(TokenCache, EntriesEndAfterTheMaximumTtl) {
  TokenCache cache(TokenCacheOptions{.max_entries = 16, .max_ttl_seconds = 300});
  const CountingVerifier verifier;
  cache.verify(verifier, "good-1", kNow);
  EXPECT_TRUE(cache.find(verifier, "good-1", kNow + 299));
  EXPECT_FALSE(cache.find(verifier, "good-1", kNow + 300));
  cache.verify(verifier, "good-1", kNow + 300);
  EXPECT_EQ(verifier.calls, 2);
  EXPECT_TRUE(cache.find(verifier, "good-1", kNow + 599));
}

TEST(TokenCache, IgnoresResultsAlreadyExpired) {
  TokenCache cache;
  const CountingVerifier verifier(kNow);
  cache.verify(verifier, "good-1", kNow);
  EXPECT_EQ(cache.size(), 0U);
}

TEST(TokenCache, EvictsTheLeastRecentlyUsedEntry) {
  TokenCache cache(TokenCacheOptions{.max_entries = 2});
  const CountingVerifier verifier;
  cache.verify(verifier, "good-a", kNow);
  cache.verify(verifier, "good-b", kNow);
  EXPECT_TRUE(cache.find(verifier, "good-a", kNow));  // b is now the least recently used
  cache.verify(verifier, "good-c", kNow);
  EXPECT_EQ(cache.size(), 2U);
  EXPECT_EQ(cache.stats().evictions, 1U);
  EXPECT_TRUE(cache.find(verifier, "good-a", kNow));
  EXPECT_TRUE(cache.find(verifier, "good-c", kNow));
  EXPECT_FALSE(cache.find(verifier, "good-b", kNow));
}

TEST(TokenCache, StaysWithinItsBoundUnderChurn) {
  TokenCache cache(TokenCacheOptions{.max_entries = 64});
  const CountingVerifier verifier;
  for (int i = 0; i < 1000; ++i) {
    cache.verify(verifier, "good-" + std::to_string(i), kNow);
  }
  EXPECT_EQ(cache.size(), 64U);
  EXPECT_EQ(cache.stats().evictions, 1000U - 64U);
  EXPECT_TRUE(cache.find(verifier, "good-999", kNow));
  EXPECT_TRUE(cache.find(verifier, "good-936", kNow));
  EXPECT_FALSE(cache.find(verifier, "good-935", kNow));
}

TEST(TokenCache, EntriesBelongToTheVerifierThatMadeThem) {
  TokenCache cache;
  const CountingVerifier first;
  const CountingVerifier second;
  cache.verify(first, "good-1", kNow);
  EXPECT_FALSE(cache.find(second, "good-1", kNow));
  cache.verify(second, "good-1", kNow);
  EXPECT_EQ(second.calls, 1);
  EXPECT_EQ(cache.size(), 2U);
}

TEST(TokenCache, AReloadedVerifierNeverSeesTheOldEntries) {
  TokenCache cache;
  auto old_verifier = std::make_unique<CountingVerifier>();
  cache.verify(*old_verifier, "good-1", kNow);
  old_verifier.reset();
  // Likely allocated where the old one lived; the identity still differs.
  const auto new_verifier = std::make_unique<CountingVerifier>();
  EXPECT_FALSE(cache.find(*new_verifier, "good-1", kNow));
}

TEST(TokenCache, DoesNotRememberOverlongTokens) {
  TokenCache cache(TokenCacheOptions{.max_token_length = 8});
  const CountingVerifier verifier;
  cache.verify(verifier, "good-123", kNow);
  cache.verify(verifier, "good-1234", kNow);
  cache.verify(verifier, "good-1234", kNow);
  EXPECT_EQ(cache.size(), 1U);
  EXPECT_EQ(verifier.calls, 3);
}

TEST(TokenCache, ZeroCapacityRemembersNothing) {
  TokenCache cache(TokenCacheOptions{.max_entries = 0});
  const CountingVerifier verifier;
  cache.verify(verifier, "good-1", kNow);
  cache.verify(verifier, "good-1", kNow);
  EXPECT_EQ(verifier.calls, 2);
}

TEST(TokenCache, InsertReplacesAnEntry) {
  TokenCache cache;
  const CountingVerifier verifier;
  cache.verify(verifier, "good-1", kNow);
  const VerifyResult newer = CountingVerifier(kNow + 5).verify("good-1", kNow);
  cache.insert(verifier, "good-1", newer, kNow);
  EXPECT_EQ(cache.size(), 1U);
  EXPECT_EQ(cache.find(verifier, "good-1", kNow)->claims, newer.claims);
  EXPECT_FALSE(cache.find(verifier, "good-1", kNow + 5));
}

TEST(TokenCache, Clear) {
  TokenCache cache;
  const CountingVerifier verifier;
  cache.verify(verifier, "good-1", kNow);
  cache.clear();
  EXPECT_EQ(cache.size(), 0U);
  EXPECT_FALSE(cache.find(verifier, "good-1", kNow));
}

TEST(TokenCache, WorksWithJwtVerifier) {
  JwtVerifierOptions options;
  options.algorithms = {Algorithm::kHS256};
  options.key = make_hmac_key("secret");
  options.leeway_seconds = 0;
  const JwtVerifier verifier(std::move(options));
  const std::string token =
      testing::hmac_token("secret", Algorithm::kHS256, R"({"alg":"HS256"})",
                          R"({"sub":"user-1","exp":)" + std::to_string(kNow + 10) + "}");
  TokenCache cache;
  ASSERT_TRUE(cache.verify(verifier, token, kNow).ok());
  ASSERT_TRUE(cache.verify(verifier, token, kNow + 9).ok());
  EXPECT_EQ(cache.stats().hits, 1U);
  EXPECT_FALSE(cache.verify(verifier, token, kNow + 10).ok());
}

TEST(TokenCache, SuccessesOfAReplacedKeySetAreVerifiedAgain) {
  TokenCache cache;
  GenerationalVerifier verifier;
  ASSERT_TRUE(cache.verify(verifier, "good-1", kNow).ok());
  ASSERT_TRUE(cache.verify(verifier, "good-1", kNow).ok());
  EXPECT_EQ(verifier.calls, 1);
  EXPECT_EQ(cache.find(verifier, "good-1", kNow)->key_generation, 7U);

  verifier.current_generation = verifier.verdict_generation = 8;  // a refresh replaced the set
  EXPECT_FALSE(cache.find(verifier, "good-1", kNow));
  EXPECT_EQ(cache.stats().stale, 1U);
  EXPECT_EQ(cache.size(), 0U);
  ASSERT_TRUE(cache.verify(verifier, "good-1", kNow).ok());
  EXPECT_EQ(verifier.calls, 2);
  ASSERT_TRUE(cache.verify(verifier, "good-1", kNow).ok());
  EXPECT_EQ(verifier.calls, 2);  // remembered again, with the new generation
}

TEST(TokenCache, ASuccessReachedWithAnOlderSetIsNotReused) {
  // verify() ran on the old set while a refresh swapped it: the result carries the old generation.
  TokenCache cache;
  GenerationalVerifier verifier;
  verifier.current_generation = 9;
  ASSERT_TRUE(cache.verify(verifier, "good-1", kNow).ok());
  ASSERT_TRUE(cache.verify(verifier, "good-1", kNow).ok());
  EXPECT_EQ(verifier.calls, 2);
  EXPECT_EQ(cache.stats().hits, 0U);
}

TEST(TokenCache, OtherEntriesSurviveAStaleOne) {
  TokenCache cache;
  GenerationalVerifier verifier;
  CountingVerifier fixed_key;  // key_generation() 0, its results 0: never stale
  cache.verify(verifier, "good-1", kNow);
  cache.verify(fixed_key, "good-1", kNow);
  verifier.current_generation = 8;
  EXPECT_FALSE(cache.find(verifier, "good-1", kNow));
  EXPECT_TRUE(cache.find(fixed_key, "good-1", kNow));
  EXPECT_EQ(fixed_key.calls, 1);
}

// The issue: a token accepted (and remembered) with a key that a refresh then removes is refused at once,
// not for up to max_ttl_seconds more.
TEST(TokenCache, ATokenWhoseKeyWasRemovedIsRefusedRightAfterTheSwap) {
  const openssl::PkeyPtr signing = testing::generate_ed25519();
  const openssl::PkeyPtr other = testing::generate_ed25519();
  auto set_of = [](EVP_PKEY* key, const char* kid) {
    boost::json::object jwk = testing::public_jwk(key);
    jwk["kid"] = kid;
    JwksResult parsed = parse_jwks_value(boost::json::object{{"keys", boost::json::array{jwk}}});
    EXPECT_EQ(parsed.key_set->keys().size(), 1U);
    return parsed.key_set;
  };
  const auto source = std::make_shared<SwappableKeySource>(set_of(signing.get(), "a"));
  JwtVerifierOptions options;
  options.algorithms = {Algorithm::kEdDSA};
  options.key = std::shared_ptr<const KeySource>(source);
  const JwtVerifier verifier(std::move(options));
  const std::string token = testing::key_token(signing.get(), Algorithm::kEdDSA,
                                               R"({"alg":"EdDSA","kid":"a"})", R"({"sub":"user-1"})");
  TokenCache cache;
  ASSERT_TRUE(cache.verify(verifier, token, kNow).ok());
  ASSERT_TRUE(cache.verify(verifier, token, kNow + 1).ok());
  EXPECT_EQ(cache.stats().hits, 1U);

  source->replace(set_of(other.get(), "b"));  // key "a" rotated out
  const VerifyResult refused = cache.verify(verifier, token, kNow + 2);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.failure->code, "ERR_JWKS_NO_MATCHING_KEY");
  EXPECT_EQ(cache.stats().hits, 1U);
  EXPECT_EQ(cache.stats().stale, 1U);

  // A new set that still holds the key: verified once more, then remembered again.
  source->replace(set_of(signing.get(), "a"));
  ASSERT_TRUE(cache.verify(verifier, token, kNow + 3).ok());
  ASSERT_TRUE(cache.verify(verifier, token, kNow + 4).ok());
  EXPECT_EQ(cache.stats().hits, 2U);
}

}  // namespace
}  // namespace workgate::auth
