#include "auth/verifier.hpp"

#include <gtest/gtest.h>

namespace workgate::auth {
namespace {

TEST(ExtractBearer, ReturnsTheToken) {
  EXPECT_EQ(extract_bearer("Bearer abc.def.ghi"), "abc.def.ghi");
  EXPECT_EQ(extract_bearer("Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig-_"), "eyJhbGciOiJIUzI1NiJ9.e30.sig-_");
}

TEST(ExtractBearer, SchemeIsCaseInsensitive) {
  EXPECT_EQ(extract_bearer("bearer abc"), "abc");
  EXPECT_EQ(extract_bearer("BEARER abc"), "abc");
  EXPECT_EQ(extract_bearer("bEaReR abc"), "abc");
}

TEST(ExtractBearer, AcceptsSpacesAndTabs) {
  EXPECT_EQ(extract_bearer("Bearer   abc"), "abc");
  EXPECT_EQ(extract_bearer("Bearer\tabc"), "abc");
  EXPECT_EQ(extract_bearer(" Bearer abc \t"), "abc");
}

TEST(ExtractBearer, AcceptsToken68Characters) {
  EXPECT_EQ(extract_bearer("Bearer aZ09-._~+/"), "aZ09-._~+/");
  EXPECT_EQ(extract_bearer("Bearer abc=="), "abc==");
}

TEST(ExtractBearer, RefusesEverythingElse) {
  EXPECT_FALSE(extract_bearer(""));
  EXPECT_FALSE(extract_bearer("Bearer"));
  EXPECT_FALSE(extract_bearer("Bearer "));
  EXPECT_FALSE(extract_bearer("Bearer \t "));
  EXPECT_FALSE(extract_bearer("Bearerabc"));
  EXPECT_FALSE(extract_bearer("Basic dXNlcjpwYXNz"));
  EXPECT_FALSE(extract_bearer("Token abc"));
  EXPECT_FALSE(extract_bearer("Bearer a b"));
  EXPECT_FALSE(extract_bearer("Bearer abc,def"));
  EXPECT_FALSE(extract_bearer("Bearer =abc"));
  EXPECT_FALSE(extract_bearer("Bearer ab=c"));
  EXPECT_FALSE(extract_bearer("Bearer abc\""));
  EXPECT_FALSE(extract_bearer("Bearer ab\xc3\xa9"));
  EXPECT_FALSE(extract_bearer("Bearer: abc"));
}

TEST(MissingTokenFailure, MatchesTheOriginal) {
  const AuthFailure failure = missing_token_failure();
  EXPECT_EQ(failure.status, 401);
  EXPECT_EQ(failure.message, "No token provided or token format is invalid.");
  EXPECT_EQ(failure.code, "AUTH_ERROR");
}

class NullVerifier final : public Verifier {
 public:
  VerifyResult verify(std::string_view, std::int64_t) const override { return {}; }
};

TEST(Verifier, IdentitiesAreNeverReused) {
  std::uint64_t previous = 0;
  for (int i = 0; i < 3; ++i) {
    const auto verifier = std::make_unique<NullVerifier>();
    EXPECT_NE(verifier->identity(), previous);
    EXPECT_GT(verifier->identity(), previous);
    previous = verifier->identity();
  }
}

}  // namespace
}  // namespace workgate::auth
