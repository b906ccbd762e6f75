#include "common/js_json.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <cmath>
#include <cstdint>
#include <limits>

namespace workgate {
namespace {

std::string number(double d) {
  std::string out;
  append_js_number(out, d);
  return out;
}

std::string stringify(std::string_view text) {
  return js_json(boost::json::parse(text));
}

// Expected values are what node 20 prints for String(x) / JSON.stringify(JSON.parse(text)).
TEST(JsNumber, LaysOutTheShortestDigitsAsNumberToString) {
  EXPECT_EQ(number(1.5), "1.5");
  EXPECT_EQ(number(1.0), "1");
  EXPECT_EQ(number(100.0), "100");
  EXPECT_EQ(number(-1.5), "-1.5");
  EXPECT_EQ(number(0.1), "0.1");
  EXPECT_EQ(number(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(number(1e20), "100000000000000000000");
  EXPECT_EQ(number(1e21), "1e+21");
  EXPECT_EQ(number(1.2345678901234568e20), "123456789012345680000");
  EXPECT_EQ(number(1.2345678901234568e29), "1.2345678901234568e+29");
  EXPECT_EQ(number(1e-6), "0.000001");
  EXPECT_EQ(number(1.234e-6), "0.000001234");
  EXPECT_EQ(number(1e-7), "1e-7");
  EXPECT_EQ(number(1.234e-7), "1.234e-7");
  EXPECT_EQ(number(-2.5e-10), "-2.5e-10");
  EXPECT_EQ(number(5e-324), "5e-324");
  EXPECT_EQ(number(1.7976931348623157e308), "1.7976931348623157e+308");
  EXPECT_EQ(number(123.456), "123.456");
}

TEST(JsNumber, ZeroAndTheNonFiniteValues) {
  EXPECT_EQ(number(0.0), "0");
  EXPECT_EQ(number(-0.0), "0");
  EXPECT_EQ(number(std::numeric_limits<double>::quiet_NaN()), "NaN");
  EXPECT_EQ(number(std::numeric_limits<double>::infinity()), "Infinity");
  EXPECT_EQ(number(-std::numeric_limits<double>::infinity()), "-Infinity");
}

TEST(JsJson, IntegersKeepAllTheirDigits) {
  EXPECT_EQ(stringify("[0,-42,9007199254740993,-9223372036854775808,18446744073709551615]"),
            "[0,-42,9007199254740993,-9223372036854775808,18446744073709551615]");
}

TEST(JsString, EscapesQuotesBackslashesAndControlCharactersOnly) {
  std::string out;
  constexpr char kText[] = "a\"b\\c\b\t\n\f\r\x01\x1f\x7f/\xc3\xa9\xe2\x80\xa8";
  append_js_string(out, std::string_view(kText, sizeof(kText) - 1));
  EXPECT_EQ(out, "\"a\\\"b\\\\c\\b\\t\\n\\f\\r\\u0001\\u001f\x7f/\xc3\xa9\xe2\x80\xa8\"");
  out.clear();
  append_js_string(out, std::string_view("\0x", 2));
  EXPECT_EQ(out, "\"\\u0000x\"");
  out.clear();
  append_js_string(out, "");
  EXPECT_EQ(out, "\"\"");
}

// Every byte value at every position of strings up to three words long: the word-at-a-time test and its
// padded tail agree with the byte rule.
TEST(JsString, NeedsEscapingAgreesWithTheByteRuleAtEveryPositionAndLength) {
  for (std::size_t length = 1; length <= 24; ++length) {
    for (std::size_t at = 0; at < length; ++at) {
      for (int byte = 0; byte < 256; ++byte) {
        std::string text(length, 'a');
        text[at] = static_cast<char>(byte);
        bool expected = byte < 0x20 || byte == '"' || byte == '\\';
        ASSERT_EQ(js_needs_escaping(text), expected)
            << "length " << length << " at " << at << " byte " << byte;
      }
    }
  }
  EXPECT_FALSE(js_needs_escaping(""));
  EXPECT_FALSE(js_needs_escaping("\x7f\xff\xc3\xa9 ~"));  // DEL and non-ASCII go as they are
}

TEST(JsArrayIndex, OnlyCanonicalIndexesBelowTwoToTheThirtyTwoMinusOne) {
  std::uint32_t index = 0;
  EXPECT_TRUE(js_array_index("0", index));
  EXPECT_EQ(index, 0u);
  EXPECT_TRUE(js_array_index("4294967294", index));
  EXPECT_EQ(index, 4294967294u);
  for (const char* key : {"", "01", "-1", "1.0", "4294967295", "99999999999", " 1", "1a"})
    EXPECT_FALSE(js_array_index(key, index)) << key;
}

TEST(JsJson, StringifiesWhatParseMadeLikeJavaScript) {
  EXPECT_EQ(stringify(R"( { "a" : [ 1.0, 1.5, -0, 1e400, -1e400, true, null, "x" ] } )"),
            R"({"a":[1,1.5,0,null,null,true,null,"x"]})");
  EXPECT_EQ(stringify(R"("caf\u00e9 \u2028 \/")"), "\"caf\xc3\xa9 \xe2\x80\xa8 /\"");
  EXPECT_EQ(stringify("[]"), "[]");
  EXPECT_EQ(stringify("{}"), "{}");
}

TEST(JsJson, ListsIntegerLikeKeysFirstAscendingThenTheRestInOrder) {
  EXPECT_EQ(stringify(R"({"b":1,"2":2,"a":3,"1":4,"01":5,"4294967295":6,"4294967294":7,"-1":8})"),
            R"({"1":4,"2":2,"4294967294":7,"b":1,"a":3,"01":5,"4294967295":6,"-1":8})");
  // At every depth, also inside arrays.
  EXPECT_EQ(stringify(R"({"x":[{"10":1,"9":2}],"y":{"z":{"1":0,"0":1}}})"),
            R"({"x":[{"9":2,"10":1}],"y":{"z":{"0":1,"1":0}}})");
}

TEST(JsJson, ADuplicateKeyKeepsTheLastValueAtTheFirstPlace) {
  EXPECT_EQ(stringify(R"({"a":1,"b":2,"a":3})"), R"({"a":3,"b":2})");
}

TEST(JsJson, LeavesOutTheMembersAskedFor) {
  boost::json::value v = boost::json::parse(R"({"keep":1,"drop":2,"3":3,"4":{"drop":5}})");
  std::string out;
  append_js_json(out, v.get_object(), [](std::string_view key) { return key == "drop" || key == "3"; });
  EXPECT_EQ(out, R"({"4":{"drop":5},"keep":1})");
}

}  // namespace
}  // namespace workgate
