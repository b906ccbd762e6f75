#include "config/environment.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace workgate::config {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;

class EnvFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("workgate-env-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string write(std::string_view text) {
    auto p = dir_ / ".env";
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
  }
  static std::optional<std::string> get(const Environment& env, std::string_view name) {
    auto v = env.get(name);
    if (!v) return std::nullopt;
    return std::string(*v);
  }

  std::filesystem::path dir_;
  Environment env_;
  std::vector<std::string> errors_;
};

TEST(Environment, SetAndGet) {
  Environment env;
  EXPECT_FALSE(env.get("A").has_value());
  env.set("A", "1");
  EXPECT_EQ(env.get("A"), "1");
  env.set("A", "2");
  EXPECT_EQ(env.get("A"), "2");
  env.set("EMPTY", "");
  ASSERT_TRUE(env.get("EMPTY").has_value());
  EXPECT_EQ(*env.get("EMPTY"), "");
  EXPECT_FALSE(env.get("a").has_value());  // names are case-sensitive
}

TEST(Environment, FromProcessSnapshotsEnviron) {
  ::setenv("WORKGATE_ENV_TEST_VAR", "from-process=x", 1);
  Environment env = Environment::from_process();
  ::unsetenv("WORKGATE_ENV_TEST_VAR");
  EXPECT_EQ(env.get("WORKGATE_ENV_TEST_VAR"), "from-process=x");
}

TEST_F(EnvFile, PlainLinesCommentsBlankLinesAndExport) {
  auto path = write(
      "# a comment\n"
      "\n"
      "   \n"
      "  # indented comment\n"
      "A=1\n"
      "export B=two\n"
      "export   C = spaced value  \n"
      "  D=x=y\n"
      "EMPTY=\n"
      "_under_9=ok\n");
  EXPECT_TRUE(env_.merge_env_file(path, errors_));
  EXPECT_THAT(errors_, IsEmpty());
  EXPECT_EQ(get(env_, "A"), "1");
  EXPECT_EQ(get(env_, "B"), "two");
  EXPECT_EQ(get(env_, "C"), "spaced value");
  EXPECT_EQ(get(env_, "D"), "x=y");
  EXPECT_EQ(get(env_, "EMPTY"), "");
  EXPECT_EQ(get(env_, "_under_9"), "ok");
  EXPECT_FALSE(env_.get("export B").has_value());
}

TEST_F(EnvFile, SingleQuotesAreLiteral) {
  auto path = write("A='hello world'\nB='a\\nb \"q\" # not a comment'\nC=''\n");
  EXPECT_TRUE(env_.merge_env_file(path, errors_));
  EXPECT_THAT(errors_, IsEmpty());
  EXPECT_EQ(get(env_, "A"), "hello world");
  EXPECT_EQ(get(env_, "B"), "a\\nb \"q\" # not a comment");
  EXPECT_EQ(get(env_, "C"), "");
}

TEST_F(EnvFile, DoubleQuotesUnderstandEscapes) {
  auto path = write(
      "A=\"line1\\nline2\"\n"
      "B=\"tab\\there\"\n"
      "C=\"say \\\"hi\\\"\"\n"
      "D=\"back\\\\slash\"\n"
      "E=\"keep # hash\"\n"
      "F=\"\"\n"
      "G=\"it's\"\n");
  EXPECT_TRUE(env_.merge_env_file(path, errors_));
  EXPECT_THAT(errors_, IsEmpty());
  EXPECT_EQ(get(env_, "A"), "line1\nline2");
  EXPECT_EQ(get(env_, "B"), "tab\there");
  EXPECT_EQ(get(env_, "C"), "say \"hi\"");
  EXPECT_EQ(get(env_, "D"), "back\\slash");
  EXPECT_EQ(get(env_, "E"), "keep # hash");
  EXPECT_EQ(get(env_, "F"), "");
  EXPECT_EQ(get(env_, "G"), "it's");
}

TEST_F(EnvFile, InlineCommentNeedsLeadingSpace) {
  auto path = write("A=value # comment\nB=value#not-a-comment\nC=a b  #  c # d\n");
  EXPECT_TRUE(env_.merge_env_file(path, errors_));
  EXPECT_THAT(errors_, IsEmpty());
  EXPECT_EQ(get(env_, "A"), "value");
  EXPECT_EQ(get(env_, "B"), "value#not-a-comment");
  EXPECT_EQ(get(env_, "C"), "a b");
}

// "NAME= # comment": the value is empty and " # comment" is an inline comment (the line has " #").
TEST_F(EnvFile, InlineCommentAfterEmptyValue) {
  auto path = write("D= # only a comment\n");
  EXPECT_TRUE(env_.merge_env_file(path, errors_));
  EXPECT_THAT(errors_, IsEmpty());
  EXPECT_EQ(get(env_, "D"), "");
}

TEST_F(EnvFile, CrLfLineEndings) {
  auto path = write("A=1\r\nB=\"two\"\r\n# c\r\n\r\n");
  EXPECT_TRUE(env_.merge_env_file(path, errors_));
  EXPECT_THAT(errors_, IsEmpty());
  EXPECT_EQ(get(env_, "A"), "1");
  EXPECT_EQ(get(env_, "B"), "two");
}

TEST_F(EnvFile, MalformedLinesReportedWithLineNumbersNeverValues) {
  auto path = write(
      "GOOD=1\n"
      "NO_EQUALS_SIGN\n"
      "1BAD=hunter2-a\n"
      "BAD-NAME=hunter2-b\n"
      "=hunter2-c\n"
      "UNTERMINATED=\"hunter2-d\n"
      "UNTERMINATED2='hunter2-e\n"
      "LONE=\"\n"
      "AFTER=2\n");
  EXPECT_FALSE(env_.merge_env_file(path, errors_));
  ASSERT_THAT(errors_, SizeIs(7));
  EXPECT_EQ(errors_[0], "env file " + path + ":2: expected NAME=VALUE");
  EXPECT_EQ(errors_[1], "env file " + path + ":3: expected NAME=VALUE");
  EXPECT_EQ(errors_[2], "env file " + path + ":4: expected NAME=VALUE");
  EXPECT_EQ(errors_[3], "env file " + path + ":5: expected NAME=VALUE");
  EXPECT_EQ(errors_[4], "env file " + path + ":6: unterminated quoted value");
  EXPECT_EQ(errors_[5], "env file " + path + ":7: unterminated quoted value");
  EXPECT_EQ(errors_[6], "env file " + path + ":8: unterminated quoted value");
  for (const auto& e : errors_)
    EXPECT_THAT(e, Not(HasSubstr("hunter2")));
  // Good lines around the bad ones still count.
  EXPECT_EQ(get(env_, "GOOD"), "1");
  EXPECT_EQ(get(env_, "AFTER"), "2");
  EXPECT_FALSE(env_.get("UNTERMINATED").has_value());
  EXPECT_FALSE(env_.get("NO_EQUALS_SIGN").has_value());
}

TEST_F(EnvFile, ExistingNamesAreKept) {
  env_.set("FROM_PROCESS", "process");
  env_.set("SET_EMPTY", "");
  auto path = write("FROM_PROCESS=file\nSET_EMPTY=file\nNEW=file\nNEW=second\n");
  EXPECT_TRUE(env_.merge_env_file(path, errors_));
  EXPECT_THAT(errors_, IsEmpty());
  EXPECT_EQ(get(env_, "FROM_PROCESS"), "process");
  EXPECT_EQ(get(env_, "SET_EMPTY"), "");
  EXPECT_EQ(get(env_, "NEW"), "file");  // the first line of the file wins too
}

TEST_F(EnvFile, UnreadableFile) {
  std::string path = (dir_ / "does-not-exist.env").string();
  EXPECT_FALSE(env_.merge_env_file(path, errors_));
  EXPECT_THAT(errors_, ElementsAre("env file " + path + ": cannot be read"));
}

TEST_F(EnvFile, EmptyFile) {
  auto path = write("");
  EXPECT_TRUE(env_.merge_env_file(path, errors_));
  EXPECT_THAT(errors_, IsEmpty());
}

TEST_F(EnvFile, ErrorsAreAppended) {
  errors_.push_back("earlier");
  auto path = write("BAD\n");
  EXPECT_FALSE(env_.merge_env_file(path, errors_));
  EXPECT_THAT(errors_, ElementsAre("earlier", "env file " + path + ":1: expected NAME=VALUE"));
}

}  // namespace
}  // namespace workgate::config
