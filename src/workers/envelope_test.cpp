#include "workers/envelope.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <string>
#include <vector>

#include "workers/results.hpp"

namespace workgate::workers {
namespace {

struct Answer {
  bool ok = false;
  int status = 0;
  std::string body;
  std::string error;
};

// What the gateway answers for `text` (the one-pass path when it takes the text).
Answer answer(std::string_view text) {
  Answer a;
  http::Response response;
  a.ok = wrap_json_text(text, response, a.error);
  a.status = response.status;
  a.body = std::string(response.body());
  return a;
}

// What the general path answers: the DOM of `text`.
Answer dom_answer(std::string_view text) {
  Answer a;
  http::Response response;
  a.ok = wrap_value(boost::json::parse(text), response, a.error);
  a.status = response.status;
  a.body = std::string(response.body());
  return a;
}

// The gateway's answer to `text` is the general path's, byte for byte.
void expect_general_answer(std::string_view text) {
  Answer a = answer(text);
  Answer general = dom_answer(text);
  EXPECT_EQ(a.ok, general.ok) << text;
  EXPECT_EQ(a.error, general.error) << text;
  EXPECT_EQ(a.status, general.status) << text;
  EXPECT_EQ(a.body, general.body) << text;
}

bool scanned(std::string_view text) {
  EnvelopeParts parts;
  return scan_envelope(text, parts);
}

std::string members(int n) {
  std::string text = "{";
  for (int i = 0; i < n; ++i)
    text += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":" + std::to_string(i);
  return text + "}";
}

// Objects the one-pass path reads: its answer must be the general path's, byte for byte.
const std::vector<std::string> kScannable = {
    "{}",
    R"({"a":1})",
    R"( { "a" : [ 1 , 2.5 , -0 , 1e400 , true , false , null ] , "b" : { } } )",
    R"({"statusCode":201,"message":"ran","method":"GET","params":{"id":"42"},"body":null,"env_keys":["A","B"]})",
    R"({"statusCode":404.0,"message":"gone"})",
    R"({"statusCode":null,"x":1})",
    R"({"statusCode":"200"})",
    R"({"statusCode":true})",
    R"({"statusCode":{"code":200}})",
    R"({"statusCode":[200]})",
    R"({"statusCode":199})",
    R"({"statusCode":600})",
    R"({"statusCode":201.5})",
    R"({"statusCode":18446744073709551615})",
    R"({"statusCode":-9223372036854775808})",
    R"({"error":"boom","statusCode":418,"message":"teapot","extra":1})",
    R"({"error":{"detail":[1,{"x":"y"}]},"data":1})",
    R"({"error":"","message":"","v":0})",
    R"({"error":0,"message":0})",
    R"({"error":0.0,"message":-0.0})",
    R"({"error":false,"message":null})",
    R"({"error":[],"message":{}})",
    R"({"error":"first","error":""})",
    R"({"message":"first","message":"second","z":1})",
    R"({"message":{"nested":{"deep":[[],[{}]]}}})",
    R"({"statusCode":500,"statusCode":202})",
    R"({"s":"caf\u00e9 \" \\ \/ \b\f\n\r\t \u0001 \u001f \u007f \u2028 \ud83d\ude00"})",
    R"({"caf\u00e9":1,"a\"b":2,"\u0000":3})",
    R"({"esc\u0061ped":1,"escape":2})",
    R"({"status\u0043ode":201,"m\u0065ssage":"x\ny","\u0065rror":0,"statusCod\u0065s":1})",
    R"({"big":12345678901234567890,"neg":-9223372036854775808,"d":[1.5,1e21,1e-7,0.1,123.456e2]})",
    R"({"00":1,"-1":2,"1.0":3,"4294967295":4," 1":5})",
    R"({"a":{"x":1},"b":{"x":2}})",
    R"({"data":{"status":"inner"},"status":"shadow"})",
    members(kMaxScannedMembers),
};

// Objects left to the general path.
const std::vector<std::string> kGeneral = {
    R"({"1":"a","0":"b"})",
    R"({"a":{"b":[{"7":1}]}})",
    R"({"message":{"0":1}})",
    R"({"a":1,"b":2,"a":3})",
    R"({"a":{"x":1,"x":2}})",
    R"({"esc\u0061ped":1,"escaped":2})",
    members(kMaxScannedMembers + 1),
    R"([1,2])",
    R"("text")",
    "null",
    "42",
    "true",
};

TEST(ScanEnvelope, AnswersAsTheGeneralPathDoes) {
  for (const std::string& text : kScannable) {
    EXPECT_TRUE(scanned(text)) << text;
    expect_general_answer(text);
    Answer fast = answer(text);
    if (fast.ok) {
      EXPECT_NO_THROW(boost::json::parse(fast.body)) << fast.body;
    }
  }
}

TEST(ScanEnvelope, EscapesACharacterAtEveryPlaceInAWord) {
  // The escape check reads eight bytes at a time: put each character that needs escaping (and its
  // neighbours that do not) at every offset of a long string, in a key and in a value.
  const std::vector<std::pair<std::string, bool>> pieces = {
      {R"(\")", true},     {R"(\\)", true}, {R"(\n)", true},     {R"(\u0001)", true}, {R"(\u001f)", true},
      {R"(\u0000)", true}, {" ", false},    {"!", false},        {"#", false},        {"[", false},
      {"]", false},        {"\x7f", false}, {"\xc3\xa9", false}, {R"(\u2028)", false}};
  for (const auto& [piece, escaped] : pieces) {
    for (std::size_t at = 0; at < 18; ++at) {
      std::string body = std::string(at, 'a') + piece + std::string(17 - at, 'b');
      std::string text = R"({")" + body + R"(":")" + body + R"("})";
      ASSERT_TRUE(scanned(text)) << text;
      expect_general_answer(text);
      Answer fast = answer(text);
      ASSERT_TRUE(fast.ok) << text;
      EXPECT_EQ(fast.body.find('\\') != std::string::npos, escaped) << fast.body;
    }
  }
}

TEST(ScanEnvelope, LeavesWhatJavaScriptReordersOrMergesToTheGeneralPath) {
  for (const std::string& text : kGeneral) {
    EXPECT_FALSE(scanned(text)) << text;
    expect_general_answer(text);
  }
  EXPECT_EQ(answer(R"({"1":"a","0":"b","x":{"3":0,"2":1}})").body,
            R"({"status":"success","message":"Operation completed successfully.","data":)"
            R"({"0":"b","1":"a","x":{"2":1,"3":0}}})");
  EXPECT_EQ(answer(R"({"a":1,"b":2,"a":3})").body,
            R"({"status":"success","message":"Operation completed successfully.","data":{"a":3,"b":2}})");
}

// A repeated key goes to the general path (which keeps the last value at the first place) at any key
// length, also where keys differ only in the middle (the same first and last bytes and length); the same
// key in different objects is no repetition.
TEST(ScanEnvelope, ARepeatedKeyOfAnyLengthIsFoundAndOnlyIt) {
  for (std::size_t length = 0; length <= 20; ++length) {
    std::string key(length, 'k');
    std::string other = key;
    if (length >= 3) other[length / 2] = 'm';
    for (const char* nest : {"", "\"in\":{"}) {
      std::string close = *nest != 0 ? "}" : "";
      std::string repeated =
          "{" + std::string(nest) + "\"" + key + "\":1,\"x\":2,\"" + key + "\":3" + close + "}";
      EXPECT_FALSE(scanned(repeated)) << repeated;
      expect_general_answer(repeated);
      if (length >= 3) {
        std::string different =
            "{" + std::string(nest) + "\"" + key + "\":1,\"x\":2,\"" + other + "\":3" + close + "}";
        EXPECT_TRUE(scanned(different)) << different;
        expect_general_answer(different);
      }
    }
    std::string apart = "{\"a\":{\"" + key + "\":1},\"b\":{\"" + key + "\":2}}";
    EXPECT_TRUE(scanned(apart)) << apart;
    expect_general_answer(apart);
  }
  // Keys that need escaping (written piece by piece), repeated or not, and written the other way, with an
  // escape the parser resolves to the same key.
  for (const char* escape : {R"(\")", R"(\\)", R"(\n)", R"(\u0001)"}) {
    std::string key = std::string("a") + escape + "b";
    std::string repeated = "{\"" + key + "\":1,\"x\":2,\"" + key + "\":3}";
    EXPECT_FALSE(scanned(repeated)) << repeated;
    expect_general_answer(repeated);
    std::string apart = "{\"" + key + "\":1,\"x\":{\"" + key + "\":3}}";
    EXPECT_TRUE(scanned(apart)) << apart;
    expect_general_answer(apart);
  }
  EXPECT_FALSE(scanned(R"({"ab":1,"a\u0062":2})"));
}

TEST(ScanEnvelope, InvalidJsonIsNotScannedAndIsAnError) {
  for (const char* text : {"", "{", R"({"a":})", R"({"a":1}x)", R"({"a":1} {})", R"({"a":"\x"})", "{'a':1}",
                           R"({"a":1,})", "{\"a\":\"\xff\"}", R"({"a":"\ud800"})", "{\"a\":\"\x01\"}"}) {
    EXPECT_FALSE(scanned(text)) << text;
    Answer a = answer(text);
    EXPECT_FALSE(a.ok) << text;
    EXPECT_NE(a.error.find("not valid JSON"), std::string::npos) << a.error;
  }
}

TEST(ScanEnvelope, NestingPastTheParsersDepthLimitIsAnError) {
  std::string deep = R"({"a":)" + std::string(200, '[') + std::string(200, ']') + "}";
  EXPECT_FALSE(scanned(deep));
  EXPECT_FALSE(answer(deep).ok);
}

TEST(ScanEnvelope, ThePartsOfAResult) {
  EnvelopeParts parts;
  ASSERT_TRUE(scan_envelope(R"({"statusCode":201,"message":"ran","a":[1,{"b":null}],"error":0})", parts));
  EXPECT_EQ(parts.data, R"({"a":[1,{"b":null}]})");
  EXPECT_EQ(parts.message, R"("ran")");
  EXPECT_TRUE(parts.message_truthy);
  EXPECT_EQ(parts.error, "0");
  EXPECT_FALSE(parts.error_truthy);
  EXPECT_EQ(parts.status_code, boost::json::value(201));
  // Reused: nothing of the previous result is left.
  ASSERT_TRUE(scan_envelope(R"({"x":true})", parts));
  EXPECT_EQ(parts.data, R"({"x":true})");
  EXPECT_TRUE(parts.message.empty());
  EXPECT_FALSE(parts.message_truthy);
  EXPECT_TRUE(parts.status_code.is_null());
}

TEST(ScanEnvelope, ALargeResultIsNotKeptByTheThread) {
  std::string text = R"({"blob":")" + std::string(1 << 20, 'x') + R"("})";
  Answer a = answer(text);
  ASSERT_TRUE(a.ok);
  EXPECT_EQ(a.body,
            R"({"status":"success","message":"Operation completed successfully.","data":)" + text + "}");
  // And the next one is answered as well (the thread's buffers let the large one go).
  EXPECT_EQ(answer(R"({"a":1})").body,
            R"({"status":"success","message":"Operation completed successfully.","data":{"a":1}})");
}

}  // namespace
}  // namespace workgate::workers
