#include "common/inline_function.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>

namespace workgate {
namespace {

using Fn = InlineFunction<int(int), 64>;

TEST(InlineFunction, CallsItsTarget) {
  int base = 40;
  Fn f = [base](int x) { return base + x; };
  ASSERT_TRUE(f);
  EXPECT_EQ(f(2), 42);
}

TEST(InlineFunction, EmptyAndNull) {
  Fn empty;
  EXPECT_FALSE(empty);
  EXPECT_TRUE(empty == nullptr);
  Fn f = [](int x) { return x; };
  f = nullptr;
  EXPECT_FALSE(f);
}

TEST(InlineFunction, MovingTransfersTheTargetAndItsCaptures) {
  auto owned = std::make_shared<int>(7);
  std::weak_ptr<int> watch = owned;
  Fn f = [p = std::move(owned)](int x) { return *p * x; };
  Fn g = std::move(f);
  EXPECT_FALSE(f);  // NOLINT(bugprone-use-after-move): moved-from is empty by contract
  EXPECT_EQ(g(6), 42);
  EXPECT_FALSE(watch.expired());
  Fn h;
  h = std::move(g);
  EXPECT_EQ(h(1), 7);
  h = nullptr;
  EXPECT_TRUE(watch.expired()) << "clearing destroys the captures";
}

TEST(InlineFunction, DestructionDestroysTheCaptures) {
  auto owned = std::make_shared<int>(1);
  std::weak_ptr<int> watch = owned;
  {
    Fn f = [p = std::move(owned)](int) { return *p; };
  }
  EXPECT_TRUE(watch.expired());
}

TEST(InlineFunction, MoveOnlyCapturesAndReferenceArguments) {
  InlineFunction<void(std::string &&), 32> f = [p = std::make_unique<int>(3)](std::string&& s) {
    s.append(static_cast<std::size_t>(*p), '!');
  };
  std::string s = "hi";
  f(std::move(s));
  EXPECT_EQ(s, "hi!!!");  // NOLINT(bugprone-use-after-move): an rvalue reference, not moved from
}

TEST(InlineFunction, IsCalledAfterBeingMovedToALocal) {
  // As a completion callback does: moved to a local first, then called.
  int calls = 0;
  Fn f = [&calls](int x) { return ++calls + x; };
  Fn local = std::move(f);
  EXPECT_EQ(local(1), 2);
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace workgate
