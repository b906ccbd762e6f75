#include "observability/request_id.hpp"

#include <gtest/gtest.h>

#include <set>

namespace workgate::observability {
namespace {

TEST(RequestId, WellFormed) {
  EXPECT_TRUE(valid_request_id("a"));
  EXPECT_TRUE(valid_request_id("3f2c1a9e-1b2c-4d5e-8f90-0123456789ab"));
  EXPECT_TRUE(valid_request_id("trace.id_01-X"));
  EXPECT_TRUE(valid_request_id(std::string(128, 'x')));
  EXPECT_FALSE(valid_request_id(""));
  EXPECT_FALSE(valid_request_id(std::string(129, 'x')));
  EXPECT_FALSE(valid_request_id("a b"));
  EXPECT_FALSE(valid_request_id("a\r\nX-Evil: 1"));
  EXPECT_FALSE(valid_request_id("caf\xc3\xa9"));
  EXPECT_FALSE(valid_request_id("a\"b"));
}

TEST(RequestId, GeneratedIdsAreHexAndDistinct) {
  RequestIdGenerator a(1), b(2);
  std::set<std::string> seen;
  std::string id;
  for (int i = 0; i < 1000; ++i) {
    a.next(id);
    ASSERT_EQ(id.size(), 32u);
    ASSERT_TRUE(valid_request_id(id));
    ASSERT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos);
    seen.insert(id);
    b.next(id);
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 2000u);
  RequestIdGenerator c(1);
  std::string first_a, first_c;
  RequestIdGenerator(1).next(first_a);
  c.next(first_c);
  EXPECT_EQ(first_a, first_c);  // deterministic for a seed
}

}  // namespace
}  // namespace workgate::observability
