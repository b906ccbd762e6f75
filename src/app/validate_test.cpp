#include "app/validate.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <string>

namespace workgate::config {
void PrintTo(const ConfigError& e, std::ostream* os) {
  *os << e.to_string();
}
}  // namespace workgate::config

namespace workgate::app {
namespace {

using config::ConfigError;

std::vector<std::string> lines(const std::vector<ConfigError>& list) {
  std::vector<std::string> out;
  for (const auto& e : list)
    out.push_back(e.to_string());
  return out;
}

TEST(ProblemList, DropsRepeatsAndLaterStageErrorsAboutTheSamePlace) {
  ProblemList problems;
  problems.add_stage(
      {{"/servers/0/url", "must be an absolute URL"}, {"/paths/2/path", "duplicate of route 1"}},
      {{"/cors/allow_headers", "w"}});
  problems.add_stage({{"/servers/0", "no host"},                  // around an earlier error
                      {"/paths/2/path", "duplicate of route 1"},  // the same line
                      {"/paths/2/path/x", "inside"},              // inside an earlier error
                      {"/paths/20/path", "another route"},
                      {"/workers/0/module", "cannot load worker module"},
                      {"/workers/0/module", "cannot load worker module"}},
                     {{"/cors/allow_headers", "w"}, {"/authorizer/secret", "short"}});
  EXPECT_THAT(lines(problems.errors()),
              ::testing::ElementsAre("/servers/0/url: must be an absolute URL",
                                     "/paths/2/path: duplicate of route 1", "/paths/20/path: another route",
                                     "/workers/0/module: cannot load worker module"));
  EXPECT_THAT(lines(problems.warnings()),
              ::testing::ElementsAre("/cors/allow_headers: w", "/authorizer/secret: short"));
}

TEST(ProblemList, ErrorsOfOneStageAboutOnePlaceAreAllKept) {
  ProblemList problems;
  problems.add_stage({{"/paths/0", "a"}, {"/paths/0/path", "b"}}, {});
  EXPECT_EQ(problems.errors().size(), 2u);
}

class ValidateConfig : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/wg-validate-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path write(const std::string& text) {
    std::filesystem::path path = dir_ / "api-config.json";
    std::ofstream(path) << text;
    return path;
  }
  std::filesystem::path dir_;
};

TEST_F(ValidateConfig, ReportsLoaderAndBuildErrorsInOnePass) {
  // A loader error (/paths/0/method), a worker module that does not exist and a TLS certificate file that
  // does not exist (both found by the build), and a route whose integration names the broken worker's
  // binding through a valid service binding (no second line for the module).
  auto path = write(R"({
    "serviceBindings":[{"alias":"b","binding":"W"}],
    "workers":[{"binding":"W","module":"./no-such-module.so"}],
    "paths":[{"method":"BREW","path":"/a","response":{}},
             {"method":"GET","path":"/b","integration":{"type":"service_binding","binding":"b","function":"f"}}],
    "gateway":{"listeners":[{"address":"127.0.0.1:8443",
                             "tls":{"certificates":[{"cert_file":"missing.pem","key_file":"missing.key"}]}}]}})");
  config::Environment env;
  ValidationReport report = validate_config(path, env, {}, {});
  std::vector<std::string> errors = lines(report.problems.errors());
  ASSERT_EQ(errors.size(), 3u) << ::testing::PrintToString(errors);
  EXPECT_THAT(errors[0], ::testing::StartsWith("/paths/0/method: must be one of"));
  EXPECT_THAT(errors,
              ::testing::Contains(::testing::StartsWith("/workers/0/module: cannot load worker module")));
  EXPECT_THAT(errors, ::testing::Contains(::testing::StartsWith("/gateway/listeners/0/tls/certificates/0")));
  EXPECT_EQ(report.routes, 2u);
}

TEST_F(ValidateConfig, ChecksAfterTheBuildRunWhateverEarlierStagesFound) {
  auto path =
      write(R"({"paths":[{"method":"BREW","path":"/a","response":{}},{"method":"GET","path":"/b"}]})");
  config::Environment env;
  std::vector<std::string> seen;
  ValidationCheck check = [&](const ValidationContext& context, std::vector<ConfigError>& errors,
                              std::vector<ConfigError>& warnings) {
    EXPECT_FALSE(context.complete);
    EXPECT_NE(context.snapshot, nullptr);  // the buildable part built
    for (const auto& route : context.config.paths)
      seen.push_back(route.path);
    errors.push_back({"/paths/1", "from the check"});
    errors.push_back({"/paths/0/method", "the loader's place: dropped"});
    warnings.push_back({"/paths/1", "a warning"});
  };
  ValidationReport report = validate_config(path, env, {}, {check});
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1], "/b");
  EXPECT_THAT(lines(report.problems.errors()), ::testing::Contains("/paths/1: from the check"));
  EXPECT_THAT(lines(report.problems.errors()),
              ::testing::Not(::testing::Contains("/paths/0/method: the loader's place: dropped")));
  EXPECT_THAT(lines(report.problems.warnings()), ::testing::Contains("/paths/1: a warning"));
}

TEST_F(ValidateConfig, AValidConfigGivesTheChecksItsSnapshot) {
  auto path = write(R"({"paths":[{"method":"GET","path":"/b"}]})");
  config::Environment env;
  bool ran = false;
  ValidationReport report = validate_config(
      path, env, {},
      {[&](const ValidationContext& context, std::vector<ConfigError>&, std::vector<ConfigError>&) {
        ran = true;
        EXPECT_TRUE(context.complete);
        EXPECT_NE(context.snapshot, nullptr);
      }});
  EXPECT_TRUE(ran);
  EXPECT_TRUE(report.problems.errors().empty());
  EXPECT_EQ(report.source, (dir_ / "api-config.json").string());
}

TEST_F(ValidateConfig, TheJavaScriptCheckNeedsWorkerd) {
  std::ofstream(dir_ / "api.js") << "export class Api { hello() { return 1; } }\n";
  auto path = write(R"({
    "workers":[{"binding":"API","script":"./api.js","entrypoint":"Api"}],
    "serviceBindings":[{"alias":"api","binding":"API"}],
    "gateway":{"js_workers":{"workerd":"/nonexistent/workerd"}},
    "paths":[{"method":"BREW","path":"/a","response":{}},
             {"method":"GET","path":"/b","integration":{"type":"service_binding","binding":"api","function":"hello"}}]})");
  config::Environment env;
  ValidationReport report = validate_config(path, env, {}, validation_checks());
  std::vector<std::string> errors = lines(report.problems.errors());
  ASSERT_EQ(errors.size(), 2u) << ::testing::PrintToString(errors);
  EXPECT_THAT(errors[0], ::testing::StartsWith("/paths/0/method: must be one of"));
  EXPECT_EQ(
      errors[1],
      "/workers/0/script: workerd is not installed: gateway.js_workers.workerd \"/nonexistent/workerd\" is "
      "not an executable file; validate starts it to check that the JavaScript workers load");
}

TEST_F(ValidateConfig, AConfigWithoutJavaScriptWorkersNeedsNoWorkerd) {
  auto path = write(R"({"gateway":{"js_workers":{"workerd":"/nonexistent/workerd"}},
                        "paths":[{"method":"GET","path":"/b","response":{}}]})");
  config::Environment env;
  ValidationReport report = validate_config(path, env, {}, validation_checks());
  EXPECT_TRUE(report.problems.errors().empty()) << ::testing::PrintToString(lines(report.problems.errors()));
}

}  // namespace
}  // namespace workgate::app
