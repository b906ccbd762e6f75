#include "http/headers.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/test_support.hpp"

namespace workgate::http {
namespace {

using test_support::Fields;
using test_support::fields;

TEST(IEquals, AsciiCaseInsensitive) {
  EXPECT_TRUE(iequals("", ""));
  EXPECT_TRUE(iequals("Content-Type", "content-type"));
  EXPECT_TRUE(iequals("X-FORWARDED-FOR", "x-forwarded-for"));
  EXPECT_TRUE(iequals("a1-_", "A1-_"));
  EXPECT_FALSE(iequals("Content-Type", "Content-Typ"));
  EXPECT_FALSE(iequals("abc", "abd"));
  EXPECT_FALSE(iequals("a", ""));
}

TEST(IEquals, OnlyLettersFoldCase) {
  // These pairs differ only in bit 0x20 but are not letters.
  EXPECT_FALSE(iequals("@", "`"));
  EXPECT_FALSE(iequals("[", "{"));
  EXPECT_FALSE(iequals("]", "}"));
  EXPECT_FALSE(iequals("^", "~"));
  EXPECT_FALSE(iequals("\x01", "!"));
  EXPECT_FALSE(iequals("0", "\x10"));
  // Bytes above ASCII compare exactly.
  EXPECT_TRUE(iequals("\xC3\xA9", "\xC3\xA9"));
  EXPECT_FALSE(iequals("\xC3\xA9", "\xC3\x89"));
}

// Every pair of bytes at every position of a word, in names long enough for the word-at-a-time path
// (8, 9 and 16 bytes: aligned, overlapping tail) and short ones: the answer is the byte-by-byte rule's.
TEST(IEquals, WordAtATimeAgreesWithTheByteRuleForEveryBytePair) {
  auto expected = [](unsigned char x, unsigned char y) {
    auto lower = [](unsigned char c) {
      return c >= 'A' && c <= 'Z' ? static_cast<unsigned char>(c + 32) : c;
    };
    return lower(x) == lower(y);
  };
  for (std::size_t size : {3u, 8u, 9u, 16u}) {
    for (std::size_t at = 0; at < size; ++at) {
      std::string a(size, 'k'), b(size, 'K');
      for (int x = 0; x < 256; ++x) {
        for (int y = 0; y < 256; ++y) {
          a[at] = static_cast<char>(x);
          b[at] = static_cast<char>(y);
          ASSERT_EQ(iequals(a, b), expected(x, y)) << "size " << size << " at " << at << " " << x << "/" << y;
        }
      }
    }
  }
}

TEST(HeaderList, EmptyList) {
  HeaderList h;
  EXPECT_TRUE(h.empty());
  EXPECT_EQ(h.size(), 0u);
  EXPECT_FALSE(h.get("A").has_value());
  EXPECT_FALSE(h.contains("A"));
  EXPECT_EQ(h.remove("A"), 0u);
  EXPECT_TRUE(fields(h).empty());
}

TEST(HeaderList, AddAndCaseInsensitiveGet) {
  HeaderList h;
  h.add("Content-Type", "text/plain");
  h.add("X-Multi", "one");
  h.add("x-multi", "two");
  h.add("Empty", "");
  EXPECT_EQ(h.size(), 4u);
  EXPECT_FALSE(h.empty());
  EXPECT_EQ(h.get("content-type"), "text/plain");
  EXPECT_EQ(h.get("CONTENT-TYPE"), "text/plain");
  EXPECT_EQ(h.get("X-MULTI"), "one");  // the first value
  ASSERT_TRUE(h.get("empty").has_value());
  EXPECT_EQ(*h.get("empty"), "");
  EXPECT_TRUE(h.contains("Empty"));
  EXPECT_FALSE(h.contains("Content"));
  EXPECT_FALSE(h.contains("Content-Type2"));
  // Names and values keep their bytes as added.
  EXPECT_EQ(fields(h),
            (Fields{{"Content-Type", "text/plain"}, {"X-Multi", "one"}, {"x-multi", "two"}, {"Empty", ""}}));
}

TEST(HeaderList, SetReplacesAllFieldsOfTheName) {
  HeaderList h;
  h.add("A", "1");
  h.add("Set-Cookie", "a=1");
  h.add("B", "2");
  h.add("set-cookie", "b=2");
  h.set("SET-COOKIE", "c=3");
  EXPECT_EQ(h.size(), 3u);
  EXPECT_EQ(h.get("set-cookie"), "c=3");
  EXPECT_EQ(fields(h), (Fields{{"A", "1"}, {"B", "2"}, {"SET-COOKIE", "c=3"}}));
}

TEST(HeaderList, SetAppendsWhenAbsent) {
  HeaderList h;
  h.set("A", "1");
  h.set("B", "2");
  h.set("a", "3");
  EXPECT_EQ(fields(h), (Fields{{"B", "2"}, {"a", "3"}}));
}

TEST(HeaderList, RemoveReturnsCountAndKeepsOrder) {
  HeaderList h;
  h.add("A", "1");
  h.add("X", "x1");
  h.add("B", "2");
  h.add("x", "x2");
  h.add("C", "3");
  EXPECT_EQ(h.remove("X"), 2u);
  EXPECT_EQ(h.remove("X"), 0u);
  EXPECT_EQ(h.size(), 3u);
  EXPECT_FALSE(h.contains("x"));
  EXPECT_EQ(fields(h), (Fields{{"A", "1"}, {"B", "2"}, {"C", "3"}}));
  h.add("X", "x3");
  EXPECT_EQ(h.get("x"), "x3");
  EXPECT_EQ(fields(h), (Fields{{"A", "1"}, {"B", "2"}, {"C", "3"}, {"X", "x3"}}));
  EXPECT_EQ(h.remove("A"), 1u);
  EXPECT_EQ(h.remove("B"), 1u);
  EXPECT_EQ(h.remove("C"), 1u);
  EXPECT_EQ(h.remove("X"), 1u);
  EXPECT_TRUE(h.empty());
}

TEST(HeaderList, ClearKeepsWorking) {
  HeaderList h;
  h.reserve(16, 2);
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 50; ++i)
      h.add("Name-" + std::to_string(i), std::string(40, static_cast<char>('a' + i % 26)));
    EXPECT_EQ(h.size(), 50u);
    EXPECT_EQ(h.get("name-49"), std::string(40, static_cast<char>('a' + 49 % 26)));
    h.remove("Name-0");
    EXPECT_EQ(h.size(), 49u);
    h.clear();
    EXPECT_TRUE(h.empty());
    EXPECT_FALSE(h.contains("Name-1"));
    h.add("Fresh", "v");
    EXPECT_EQ(fields(h), (Fields{{"Fresh", "v"}}));
    h.clear();
  }
}

TEST(HeaderList, ViewsStayValidUntilTheListChanges) {
  HeaderList h;
  h.add("A", "alpha");
  auto v = h.get("A");
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(*v, "alpha");
}

TEST(HeaderList, SetWithViewsIntoTheListItself) {
  HeaderList h;
  h.reserve(0, 0);
  h.add("Source", "a-value-long-enough-to-defeat-small-string-optimisation");
  h.add("Target", "old");
  // Value taken from the list: set() must copy it before the arena can grow.
  for (int i = 0; i < 20; ++i) {
    std::string_view value = *h.get("Source");
    h.set("Copy-" + std::to_string(i), value);
  }
  for (int i = 0; i < 20; ++i)
    EXPECT_EQ(h.get("Copy-" + std::to_string(i)), "a-value-long-enough-to-defeat-small-string-optimisation");

  // Value of the very field being replaced.
  std::string_view own = *h.get("Target");
  h.set("Target", own);
  EXPECT_EQ(h.get("Target"), "old");
  EXPECT_EQ(h.size(), 22u);

  // Name taken from the list (and the value too).
  std::string_view name;
  h.for_each([&](const HeaderList::Field& f) {
    if (f.name == "Source") name = f.name;
  });
  h.set(name, *h.get("Copy-3"));
  EXPECT_EQ(h.get("source"), "a-value-long-enough-to-defeat-small-string-optimisation");
  EXPECT_EQ(h.size(), 22u);
  int sources = 0;
  h.for_each([&](const HeaderList::Field& f) {
    if (iequals(f.name, "Source")) {
      ++sources;
      EXPECT_EQ(f.name, "Source");
    }
  });
  EXPECT_EQ(sources, 1);
}

TEST(HeaderList, SetWithEmptyValue) {
  HeaderList h;
  h.add("A", "x");
  h.set("A", "");
  ASSERT_TRUE(h.get("A").has_value());
  EXPECT_EQ(*h.get("A"), "");
  EXPECT_EQ(h.size(), 1u);
}

TEST(ListElements, TrimmedEmptyOnesSkippedAndTheVisitCanStop) {
  std::vector<std::string> seen;
  auto collect = [&](std::string_view e) {
    seen.emplace_back(e);
    return true;
  };
  EXPECT_FALSE(for_each_list_element(" a ,, \tb\t,c,  ,", collect));
  EXPECT_EQ(seen, (std::vector<std::string>{"a", "b", "c"}));
  seen.clear();
  EXPECT_FALSE(for_each_list_element("", collect));
  EXPECT_FALSE(for_each_list_element(" , ,", collect));
  EXPECT_TRUE(seen.empty());
  EXPECT_TRUE(for_each_list_element("x, stop, y", [&](std::string_view e) {
    seen.emplace_back(e);
    return e != "stop";
  }));
  EXPECT_EQ(seen, (std::vector<std::string>{"x", "stop"}));
}

}  // namespace
}  // namespace workgate::http
