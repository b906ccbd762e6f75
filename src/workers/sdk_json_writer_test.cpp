// The worker SDK's JSON writer (include/workgate/worker/json_writer.hpp), which workers and the gateway's
// JSON log lines use.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <string>
#include <workgate/worker.hpp>

namespace workgate {
namespace {

std::string as_json_string(std::string_view s) {
  std::string out;
  append_json_string(out, s);
  return out;
}

// What one byte becomes inside a JSON string when it stands alone (a lone byte >= 0x80 is never UTF-8).
std::string escaped_byte(unsigned char c) {
  static const char* const kHex = "0123456789abcdef";
  switch (c) {
    case '"':
      return "\\\"";
    case '\\':
      return "\\\\";
    case '\n':
      return "\\n";
    case '\r':
      return "\\r";
    case '\t':
      return "\\t";
    case '\b':
      return "\\b";
    case '\f':
      return "\\f";
    default:
      break;
  }
  if (c < 0x20) return std::string("\\u00") + kHex[c >> 4] + kHex[c & 15];
  if (c >= 0x80) return "\xEF\xBF\xBD";
  return std::string(1, static_cast<char>(c));
}

// Every byte value at every position of strings up to three words long: the word-at-a-time run and the
// byte-at-a-time rest agree with the rule for one byte.
// copy_bytes copies exactly [src, src + n) to [dst, dst + n) at every length and alignment: the guard
// bytes on both sides stay as they were.
TEST(CopyBytes, EveryLengthAtEveryAlignmentAndNothingOutside) {
  std::string source(64, '\0');
  for (std::size_t i = 0; i < source.size(); ++i)
    source[i] = static_cast<char>('A' + i % 26 + (i / 26) * 32);
  for (std::size_t n = 0; n <= 40; ++n) {
    for (std::size_t from = 0; from < 8; ++from) {
      for (std::size_t to = 0; to < 8; ++to) {
        std::string target(64, '#');
        detail::copy_bytes(target.data() + 8 + to, source.data() + from, n);
        std::string want(64, '#');
        want.replace(8 + to, n, source, from, n);
        ASSERT_EQ(target, want) << "n " << n << " from " << from << " to " << to;
      }
    }
  }
}

TEST(JsonString, EveryByteAtEveryPositionAndLength) {
  for (std::size_t length = 1; length <= 24; ++length) {
    for (std::size_t at = 0; at < length; ++at) {
      for (int byte = 0; byte < 256; ++byte) {
        std::string text(length, 'a');
        text[at] = static_cast<char>(byte);
        std::string expected = "\"" + std::string(at, 'a') + escaped_byte(static_cast<unsigned char>(byte)) +
                               std::string(length - at - 1, 'a') + "\"";
        ASSERT_EQ(as_json_string(text), expected) << "length " << length << " at " << at << " byte " << byte;
      }
    }
  }
  EXPECT_EQ(as_json_string(""), "\"\"");
}

// UTF-8 sequences at every position: valid ones are copied, each byte of an invalid one becomes U+FFFD.
TEST(JsonString, Utf8SequencesAtEveryPosition) {
  const std::string kReplacement = "\xEF\xBF\xBD";
  struct Case {
    std::string bytes;
    std::string expected;
  };
  const Case cases[] = {
      {"\xC3\xA9", "\xC3\xA9"},                                      // U+00E9
      {"\xE2\x82\xAC", "\xE2\x82\xAC"},                              // U+20AC
      {"\xF0\x9F\x98\x80", "\xF0\x9F\x98\x80"},                      // U+1F600
      {"\xF4\x8F\xBF\xBF", "\xF4\x8F\xBF\xBF"},                      // U+10FFFF
      {"\xC0\xAF", kReplacement + kReplacement},                     // overlong '/'
      {"\xE0\x80\xAF", kReplacement + kReplacement + kReplacement},  // overlong, three bytes
      {"\xED\xA0\x80", kReplacement + kReplacement + kReplacement},  // a surrogate
      {"\xF4\x90\x80\x80", kReplacement + kReplacement + kReplacement + kReplacement},  // > U+10FFFF
      {"\xE2\x82", kReplacement + kReplacement},                                        // cut short
  };
  for (const Case& c : cases) {
    for (std::size_t before = 0; before <= 17; ++before) {
      for (std::size_t after : {0, 1, 9}) {
        std::string text = std::string(before, 'b') + c.bytes + std::string(after, 'a');
        std::string expected = "\"" + std::string(before, 'b') + c.expected + std::string(after, 'a') + "\"";
        ASSERT_EQ(as_json_string(text), expected) << "before " << before << " after " << after;
      }
    }
  }
}

// The has-items state of the innermost 64 containers is a word, deeper ones a vector: commas are right on
// both sides of the boundary, in arrays and in objects.
TEST(JsonWriter, CommasAtEveryDepthAlsoBeyondSixtyFourLevels) {
  for (int depth : {1, 2, 63, 64, 65, 66, 130}) {
    JsonWriter arrays;
    JsonWriter objects;
    std::string want_arrays;
    std::string want_objects;
    for (int level = 0; level < depth; ++level) {
      if (level > 0) {
        objects.key("in");
        want_arrays += ",";
        want_objects += ",\"in\":";
      }
      arrays.begin_array().value(level);
      objects.begin_object().field("n", level);
      want_arrays += "[" + std::to_string(level);
      want_objects += "{\"n\":" + std::to_string(level);
    }
    for (int level = depth - 1; level >= 0; --level) {
      arrays.end_array();
      objects.end_object();
      want_arrays += "]";
      want_objects += "}";
      if (level > 0) {
        arrays.value("x");
        objects.field("after", level - 1);
        want_arrays += ",\"x\"";
        want_objects += ",\"after\":" + std::to_string(level - 1);
      }
    }
    std::string arrays_text = arrays.take();
    std::string objects_text = objects.take();
    EXPECT_EQ(arrays_text, want_arrays) << "depth " << depth;
    EXPECT_EQ(objects_text, want_objects) << "depth " << depth;
    boost::json::parse_options deep;
    deep.max_depth = 1000;
    EXPECT_NO_THROW(boost::json::parse(arrays_text, {}, deep));
    EXPECT_NO_THROW(boost::json::parse(objects_text, {}, deep));
  }
}

// Closing more containers than were opened writes the bracket and is otherwise ignored.
TEST(JsonWriter, ExtraClosesDoNotUnderflow) {
  JsonWriter w;
  w.end_object().end_array().begin_array().value(1).value(2).end_array();
  EXPECT_EQ(w.take(), "}][1,2]");
}

}  // namespace
}  // namespace workgate
