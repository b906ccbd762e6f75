#include "auth/base64url.hpp"

#include <gtest/gtest.h>

#include <string>

#include "auth/algorithm.hpp"

namespace workgate::auth {
namespace {

TEST(Base64Url, EncodesRfc4648VectorsWithoutPadding) {
  EXPECT_EQ(base64url_encode(""), "");
  EXPECT_EQ(base64url_encode("f"), "Zg");
  EXPECT_EQ(base64url_encode("fo"), "Zm8");
  EXPECT_EQ(base64url_encode("foo"), "Zm9v");
  EXPECT_EQ(base64url_encode("foob"), "Zm9vYg");
  EXPECT_EQ(base64url_encode("fooba"), "Zm9vYmE");
  EXPECT_EQ(base64url_encode("foobar"), "Zm9vYmFy");
}

TEST(Base64Url, UsesTheUrlSafeAlphabet) {
  EXPECT_EQ(base64url_encode("\xfb\xff\xbf"), "-_-_");
  EXPECT_EQ(base64url_decode("-_-_"), std::string("\xfb\xff\xbf"));
}

TEST(Base64Url, DecodesRfc4648Vectors) {
  EXPECT_EQ(base64url_decode(""), "");
  EXPECT_EQ(base64url_decode("Zg"), "f");
  EXPECT_EQ(base64url_decode("Zm8"), "fo");
  EXPECT_EQ(base64url_decode("Zm9v"), "foo");
  EXPECT_EQ(base64url_decode("Zm9vYmFy"), "foobar");
}

TEST(Base64Url, RoundTripsEveryByteValueAtEveryLength) {
  std::string bytes;
  for (int i = 0; i < 300; ++i) {
    bytes += static_cast<char>((i * 37 + 11) & 0xFF);
    EXPECT_EQ(base64url_decode(base64url_encode(bytes)), bytes) << "length " << bytes.size();
  }
}

TEST(Base64Url, RefusesPadding) {
  EXPECT_FALSE(base64url_decode("Zg=="));
  EXPECT_FALSE(base64url_decode("Zm8="));
  EXPECT_FALSE(base64url_decode("===="));
}

TEST(Base64Url, RefusesCharactersOutsideTheAlphabet) {
  EXPECT_FALSE(base64url_decode("Zm9+"));  // standard base64, not base64url
  EXPECT_FALSE(base64url_decode("Zm9/"));
  EXPECT_FALSE(base64url_decode("Zm 9v"));
  EXPECT_FALSE(base64url_decode("Zm9v\n"));
  EXPECT_FALSE(base64url_decode("Zm9.v"));
  EXPECT_FALSE(base64url_decode(std::string("Zm\0v", 4)));
  EXPECT_FALSE(base64url_decode("Zm\xc3\xa9"));
}

TEST(Base64Url, RefusesImpossibleLengths) {
  EXPECT_FALSE(base64url_decode("Z"));
  EXPECT_FALSE(base64url_decode("Zm9vY"));
}

TEST(Base64Url, RefusesNonZeroTrailingBits) {
  EXPECT_FALSE(base64url_decode("Zh"));   // "Zg" is the only encoding of "f"
  EXPECT_FALSE(base64url_decode("Zm9"));  // "Zm8" is the only encoding of "fo"
}

TEST(Base64Url, ChecksTheAlphabetAlone) {
  EXPECT_TRUE(is_base64url_alphabet("azAZ09-_"));
  EXPECT_TRUE(is_base64url_alphabet(""));
  EXPECT_FALSE(is_base64url_alphabet("ab="));
  EXPECT_FALSE(is_base64url_alphabet("a+b"));
}

TEST(Algorithm, ParsesEveryNameCaseSensitively) {
  for (Algorithm algorithm : all_algorithms()) {
    EXPECT_EQ(parse_algorithm(algorithm_name(algorithm)), algorithm);
  }
  EXPECT_EQ(all_algorithms().size(), 13U);
  EXPECT_EQ(parse_algorithm("HS256"), Algorithm::kHS256);
  EXPECT_EQ(parse_algorithm("EdDSA"), Algorithm::kEdDSA);
  EXPECT_FALSE(parse_algorithm("hs256"));
  EXPECT_FALSE(parse_algorithm("EDDSA"));
  EXPECT_FALSE(parse_algorithm("HS256 "));
  EXPECT_FALSE(parse_algorithm(""));
}

TEST(Algorithm, NoneIsNeverAnAlgorithm) {
  EXPECT_FALSE(parse_algorithm("none"));
  EXPECT_FALSE(parse_algorithm("None"));
  EXPECT_FALSE(parse_algorithm("NONE"));
}

TEST(Algorithm, KnowsFamilies) {
  EXPECT_EQ(algorithm_family(Algorithm::kHS384), AlgorithmFamily::kHmac);
  EXPECT_EQ(algorithm_family(Algorithm::kRS512), AlgorithmFamily::kRsaPkcs1);
  EXPECT_EQ(algorithm_family(Algorithm::kPS256), AlgorithmFamily::kRsaPss);
  EXPECT_EQ(algorithm_family(Algorithm::kES512), AlgorithmFamily::kEcdsa);
  EXPECT_EQ(algorithm_family(Algorithm::kEdDSA), AlgorithmFamily::kEdDSA);
}

}  // namespace
}  // namespace workgate::auth
