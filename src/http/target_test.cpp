#include "http/target.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "common/counting_new_test_support.hpp"

namespace workgate::http {
namespace {

struct Split {
  bool ok = false;
  std::string path;
  std::string query;
  bool has_query = false;
};

Split split(std::string_view target) {
  Split s;
  s.path = "stale";
  s.query = "stale";
  s.has_query = true;
  s.ok = split_target(target, s.path, s.query, s.has_query);
  return s;
}

std::string dots(std::string path) {
  remove_dot_segments(path);
  return path;
}

TEST(SplitTarget, OriginForm) {
  auto s = split("/a/b");
  ASSERT_TRUE(s.ok);
  EXPECT_EQ(s.path, "/a/b");
  EXPECT_FALSE(s.has_query);
  EXPECT_EQ(s.query, "");

  auto root = split("/");
  ASSERT_TRUE(root.ok);
  EXPECT_EQ(root.path, "/");
  EXPECT_FALSE(root.has_query);
}

TEST(SplitTarget, QueryWithAndWithoutQuestionMark) {
  auto s = split("/a?x=1&y=%20");
  ASSERT_TRUE(s.ok);
  EXPECT_EQ(s.path, "/a");
  EXPECT_TRUE(s.has_query);
  EXPECT_EQ(s.query, "x=1&y=%20");

  auto empty = split("/a?");
  ASSERT_TRUE(empty.ok);
  EXPECT_EQ(empty.path, "/a");
  EXPECT_TRUE(empty.has_query);
  EXPECT_EQ(empty.query, "");

  auto second = split("/a?b?c");
  ASSERT_TRUE(second.ok);
  EXPECT_EQ(second.path, "/a");
  EXPECT_EQ(second.query, "b?c");
}

TEST(SplitTarget, Fragment) {
  auto s = split("/a?x=1#frag");
  ASSERT_TRUE(s.ok);
  EXPECT_EQ(s.path, "/a");
  EXPECT_TRUE(s.has_query);
  EXPECT_EQ(s.query, "x=1");

  auto only_hash = split("/a?#frag");
  ASSERT_TRUE(only_hash.ok);
  EXPECT_TRUE(only_hash.has_query);
  EXPECT_EQ(only_hash.query, "");

  // A '#' in the path is not part of any request-target form.
  EXPECT_FALSE(split("/a#frag").ok);
}

TEST(SplitTarget, PathKeepsCaseAndPercentEncoding) {
  auto s = split("/A/b%2Fc/%7E?Q=%41");
  ASSERT_TRUE(s.ok);
  EXPECT_EQ(s.path, "/A/b%2Fc/%7E");
  EXPECT_EQ(s.query, "Q=%41");
}

TEST(SplitTarget, DotSegmentsResolvedInPathOnly) {
  auto s = split("/a/./b/../c?p=/../x");
  ASSERT_TRUE(s.ok);
  EXPECT_EQ(s.path, "/a/c");
  EXPECT_EQ(s.query, "p=/../x");

  auto escape = split("/../../etc/passwd");
  ASSERT_TRUE(escape.ok);
  EXPECT_EQ(escape.path, "/etc/passwd");

  auto encoded = split("/a/%2e%2E/b");
  ASSERT_TRUE(encoded.ok);
  EXPECT_EQ(encoded.path, "/b");
}

TEST(SplitTarget, AbsoluteForm) {
  auto s = split("http://example.com:8080/a/../b?q=1");
  ASSERT_TRUE(s.ok);
  EXPECT_EQ(s.path, "/b");
  EXPECT_TRUE(s.has_query);
  EXPECT_EQ(s.query, "q=1");

  auto no_path = split("https://example.com");
  ASSERT_TRUE(no_path.ok);
  EXPECT_EQ(no_path.path, "/");
  EXPECT_FALSE(no_path.has_query);
  EXPECT_EQ(no_path.query, "");

  auto query_only = split("http://example.com?x");
  ASSERT_TRUE(query_only.ok);
  EXPECT_EQ(query_only.path, "/");
  EXPECT_TRUE(query_only.has_query);
  EXPECT_EQ(query_only.query, "x");

  auto encoded = split("http://h/A%2Fb");
  ASSERT_TRUE(encoded.ok);
  EXPECT_EQ(encoded.path, "/A%2Fb");
}

TEST(SplitTarget, AbsoluteFormWithoutHostRefused) {
  EXPECT_FALSE(split("mailto:someone@example.com").ok);
  EXPECT_FALSE(split("http:/a").ok);
  EXPECT_FALSE(split("http:///a").ok);
}

TEST(SplitTarget, Asterisk) {
  auto s = split("*");
  ASSERT_TRUE(s.ok);
  EXPECT_EQ(s.path, "*");
  EXPECT_FALSE(s.has_query);
  EXPECT_EQ(s.query, "");
}

TEST(SplitTarget, EmptyAndNoLeadingSlashRefused) {
  EXPECT_FALSE(split("").ok);
  EXPECT_FALSE(split("a/b").ok);
  EXPECT_FALSE(split("example.com/a").ok);
  EXPECT_FALSE(split("?q").ok);
  EXPECT_FALSE(split("**").ok);
  EXPECT_FALSE(split(" /a").ok);
}

TEST(RemoveDotSegments, SingleDot) {
  EXPECT_EQ(dots("/a/./b"), "/a/b");
  EXPECT_EQ(dots("/./a"), "/a");
  EXPECT_EQ(dots("/a/././b"), "/a/b");
}

TEST(RemoveDotSegments, DoubleDot) {
  EXPECT_EQ(dots("/a/b/../c"), "/a/c");
  EXPECT_EQ(dots("/a/b/../../c"), "/c");
  EXPECT_EQ(dots("/a/../b/./../c"), "/c");
}

TEST(RemoveDotSegments, PercentEncodedDots) {
  EXPECT_EQ(dots("/a/%2e/b"), "/a/b");
  EXPECT_EQ(dots("/a/%2E/b"), "/a/b");
  EXPECT_EQ(dots("/a/b/%2e%2e/c"), "/a/c");
  EXPECT_EQ(dots("/a/b/%2E%2E/c"), "/a/c");
  EXPECT_EQ(dots("/a/b/.%2e/c"), "/a/c");
  EXPECT_EQ(dots("/a/b/%2e./c"), "/a/c");
  EXPECT_EQ(dots("/a/b/.%2E/c"), "/a/c");
  EXPECT_EQ(dots("/a/b/%2E%2e/c"), "/a/c");
}

TEST(RemoveDotSegments, Trailing) {
  EXPECT_EQ(dots("/a/b/."), "/a/b/");
  EXPECT_EQ(dots("/a/b/.."), "/a/");
  EXPECT_EQ(dots("/a/b/%2e"), "/a/b/");
  EXPECT_EQ(dots("/a/b/%2e%2e"), "/a/");
  EXPECT_EQ(dots("/."), "/");
  EXPECT_EQ(dots("/.."), "/");
}

TEST(RemoveDotSegments, LeadingDoubleDotCannotEscapeRoot) {
  EXPECT_EQ(dots("/../a"), "/a");
  EXPECT_EQ(dots("/../../a/b"), "/a/b");
  EXPECT_EQ(dots("/a/../../b"), "/b");
  EXPECT_EQ(dots("/%2e%2e/a"), "/a");
}

TEST(RemoveDotSegments, EmptySegmentsKept) {
  EXPECT_EQ(dots("/a//b/./c"), "/a//b/c");
  EXPECT_EQ(dots("//a/."), "//a/");
  EXPECT_EQ(dots("/a//../b"), "/a/b");
  EXPECT_EQ(dots("/a/b//"), "/a/b//");
}

TEST(RemoveDotSegments, NonDotSegmentsUntouched) {
  EXPECT_EQ(dots("/"), "/");
  EXPECT_EQ(dots("/a/b"), "/a/b");
  EXPECT_EQ(dots("/a/..b/c."), "/a/..b/c.");
  EXPECT_EQ(dots("/a/.../b"), "/a/.../b");
  EXPECT_EQ(dots("/file.txt"), "/file.txt");
  EXPECT_EQ(dots("/a/%2e%2e%2e/b"), "/a/%2e%2e%2e/b");
  EXPECT_EQ(dots("/a/%2ex/b"), "/a/%2ex/b");
  EXPECT_EQ(dots("/a/%2f/./b"), "/a/%2f/b");
  EXPECT_EQ(dots("/a%2F..%2Fb/./c%20d"), "/a%2F..%2Fb/c%20d");
  EXPECT_EQ(dots("/%2E%2E%2F/x"), "/%2E%2E%2F/x");
}

// RFC 3986 5.2.4 written plainly (a list of segments), against which the in-place version is checked on
// every path of up to five segments drawn from dot and non-dot pieces.
std::string reference_dots(std::string_view path) {
  auto lower = [](std::string_view s) {
    std::string l(s);
    for (char& c : l)
      c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
    return l;
  };
  std::vector<std::string> out;
  std::string_view rest = path.substr(1);
  while (true) {
    auto slash = rest.find('/');
    std::string segment = lower(rest.substr(0, slash));
    std::string original(rest.substr(0, slash));
    bool last = slash == std::string_view::npos;
    if (segment == ".." || segment == ".%2e" || segment == "%2e." || segment == "%2e%2e") {
      if (!out.empty()) out.pop_back();
      if (last) out.emplace_back();
    } else if (segment == "." || segment == "%2e") {
      if (last) out.emplace_back();
    } else {
      out.push_back(original);
    }
    if (last) break;
    rest.remove_prefix(slash + 1);
  }
  std::string result;
  for (const std::string& segment : out)
    result += "/" + segment;
  return result.empty() ? "/" : result;
}

TEST(RemoveDotSegments, DoesNotAllocate) {
  std::string with_dots = "/v1.2/a/./b/%2E%2e/c/x.json";
  std::string file = "/static/app.min.js";
  with_dots.reserve(64);
  const std::size_t before = workgate::testing::g_allocations.load();
  remove_dot_segments(with_dots);
  remove_dot_segments(file);
  EXPECT_EQ(workgate::testing::g_allocations.load(), before);
  EXPECT_EQ(with_dots, "/v1.2/a/c/x.json");
  EXPECT_EQ(file, "/static/app.min.js");
}

TEST(RemoveDotSegments, InPlaceAgreesWithThePlainAlgorithmOnEveryShortPath) {
  const std::vector<std::string> pieces = {"",  ".",    "..",     "%2E", "%2e.", ".%2E", "%2e%2E",
                                           "a", "v1.2", "x.json", "...", "%2ex", "%2f"};
  std::size_t checked = 0;
  std::vector<std::size_t> at;
  for (std::size_t count = 1; count <= 5; ++count) {
    at.assign(count, 0);
    while (true) {
      std::string path;
      for (std::size_t i : at)
        path += "/" + pieces[i];
      ASSERT_EQ(dots(path), reference_dots(path)) << path;
      ++checked;
      std::size_t k = 0;
      while (k < count && ++at[k] == pieces.size())
        at[k++] = 0;
      if (k == count) break;
    }
  }
  EXPECT_GT(checked, 370000u);
}

}  // namespace
}  // namespace workgate::http
