#include "config/loader.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

namespace workgate::config {

// gtest prints failing ConfigError values with this.
void PrintTo(const ConfigError& e, std::ostream* os) {
  *os << e.to_string();
}

namespace {

using ::testing::AllOf;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;

namespace json = boost::json;

// A ConfigError at exactly `pointer` whose message contains `message`.
::testing::Matcher<const ConfigError&> Problem(const std::string& pointer, const std::string& message) {
  return AllOf(Field(&ConfigError::pointer, pointer), Field(&ConfigError::message, HasSubstr(message)));
}

::testing::Matcher<const ConfigError&> At(const std::string& pointer) {
  return Field(&ConfigError::pointer, pointer);
}

LoadResult load(std::string_view text, const Environment& env = Environment{},
                const std::filesystem::path& base_dir = "/etc/workgate") {
  return load_config_text(text, env, base_dir);
}

std::vector<std::string> to_strings(const std::vector<ConfigError>& errors) {
  std::vector<std::string> out;
  for (const auto& e : errors)
    out.push_back(e.to_string());
  return out;
}

// A config that is valid on its own; tests splice extra top-level members in with `extra`.
std::string with_paths(std::string_view paths, std::string_view extra = "") {
  std::string text = R"({"servers":[{"alias":"api","url":"http://127.0.0.1:9000"}],"paths":)";
  text += paths;
  if (!extra.empty()) {
    text += ",";
    text += extra;
  }
  text += "}";
  return text;
}

constexpr std::string_view kJwtAuthorizer =
    R"("authorizer":{"type":"jwt","secret":"s3cret","algorithm":"HS256","audience":"aud","issuer":"iss"})";

// ---------------------------------------------------------------------------------------------------------
// Valid documents

TEST(LoadConfigText, MinimalValidConfig) {
  auto r = load(R"({
    "title": "demo",
    "servers": [{"alias": "api", "url": "https://api.example.com:8443/base/"}],
    "paths": [{"method": "GET", "path": "/items/{id}", "integration": {"type": "http_proxy", "server": "api"}}]
  })");
  ASSERT_THAT(to_strings(r.errors), IsEmpty());
  EXPECT_THAT(to_strings(r.warnings), IsEmpty());
  ASSERT_TRUE(r.config.has_value());
  const Config& cfg = *r.config;
  EXPECT_EQ(cfg.title, "demo");
  EXPECT_EQ(cfg.base_dir, std::filesystem::path("/etc/workgate"));
  ASSERT_EQ(cfg.servers.size(), 1u);
  const ServerEntry& s = cfg.servers[0];
  EXPECT_EQ(s.alias, "api");
  EXPECT_TRUE(s.tls);
  EXPECT_EQ(s.host, "api.example.com");
  EXPECT_EQ(s.port, 8443);
  EXPECT_EQ(s.base_path, "/base");
  ASSERT_EQ(cfg.paths.size(), 1u);
  const Route& route = cfg.paths[0];
  EXPECT_EQ(route.index, 0u);
  EXPECT_EQ(route.method, "GET");
  EXPECT_EQ(route.path, "/items/{id}");
  EXPECT_FALSE(route.auth);
  ASSERT_TRUE(route.integration.has_value());
  EXPECT_EQ(route.integration->type, IntegrationType::kHttpProxy);
  EXPECT_EQ(route.integration->server, "api");
  EXPECT_FALSE(route.response.has_value());
  EXPECT_EQ(cfg.find_server("api"), &cfg.servers[0]);
  EXPECT_EQ(cfg.find_server("nope"), nullptr);
}

TEST(LoadConfigText, EmptyPathsIsValidButPathsIsRequired) {
  auto ok = load(R"({"paths": []})");
  EXPECT_THAT(to_strings(ok.errors), IsEmpty());
  ASSERT_TRUE(ok.config.has_value());
  EXPECT_TRUE(ok.config->paths.empty());
  // Defaults of the gateway block.
  EXPECT_TRUE(ok.config->gateway.identity_header);
  EXPECT_EQ(ok.config->gateway.max_body_bytes, 10u * 1024 * 1024);

  auto missing = load(R"({})");
  EXPECT_FALSE(missing.config.has_value());
  EXPECT_THAT(missing.errors, ElementsAre(Problem("/paths", "is required")));
}

TEST(LoadConfigText, ServerUrlDefaults) {
  auto r = load(R"({"servers":[{"alias":"a","url":"http://h"},{"alias":"b","url":"https://h/"},
                               {"alias":"c","url":"http://[::1]:81/x/y//"}],"paths":[]})");
  ASSERT_THAT(to_strings(r.errors), IsEmpty());
  const auto& s = r.config->servers;
  EXPECT_EQ(s[0].port, 80);
  EXPECT_FALSE(s[0].tls);
  EXPECT_EQ(s[0].base_path, "");
  EXPECT_EQ(s[1].port, 443);
  EXPECT_TRUE(s[1].tls);
  EXPECT_EQ(s[1].base_path, "");
  EXPECT_EQ(s[2].host, "[::1]");
  EXPECT_EQ(s[2].port, 81);
  EXPECT_EQ(s[2].base_path, "/x/y");
}

TEST(LoadConfigText, StaticRouteKeepsResponseAndVariables) {
  auto r = load(R"({"variables":{"g":1},"paths":[
      {"method":"ANY","path":"/s","response":{"ok":true},"variables":{"v":"x"}},
      {"method":"GET","path":"/null","response":null}]})");
  ASSERT_THAT(to_strings(r.errors), IsEmpty());
  const auto& paths = r.config->paths;
  ASSERT_TRUE(paths[0].response.has_value());
  EXPECT_EQ(json::serialize(*paths[0].response), R"({"ok":true})");
  EXPECT_EQ(json::serialize(paths[0].variables), R"({"v":"x"})");
  ASSERT_TRUE(paths[1].response.has_value());
  EXPECT_TRUE(paths[1].response->is_null());
  EXPECT_EQ(json::serialize(r.config->variables), R"({"g":1})");
}

// ---------------------------------------------------------------------------------------------------------
// JSON syntax

TEST(LoadConfigText, InvalidJsonReportsLineAndColumn) {
  auto r = load("{\n  \"paths\": [,\n]}");
  EXPECT_FALSE(r.config.has_value());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].pointer, "");
  EXPECT_THAT(r.errors[0].message, StartsWith("invalid JSON at line 2, column 13: "));
  EXPECT_THAT(r.errors[0].to_string(), StartsWith("(root): invalid JSON"));
}

TEST(LoadConfigText, InvalidJsonOnFirstLineAndTruncatedDocument) {
  auto first = load("{\"paths\" []}");
  ASSERT_EQ(first.errors.size(), 1u);
  EXPECT_THAT(first.errors[0].message, StartsWith("invalid JSON at line 1, column 10: "));

  auto truncated = load("{\n\"paths\": [\n");
  ASSERT_EQ(truncated.errors.size(), 1u);
  EXPECT_THAT(truncated.errors[0].message, StartsWith("invalid JSON at line 3, column 1: "));

  auto empty = load("");
  ASSERT_EQ(empty.errors.size(), 1u);
  EXPECT_THAT(empty.errors[0].message, StartsWith("invalid JSON at line 1, column 1: "));
}

TEST(LoadConfigText, DocumentMustBeAnObject) {
  auto r = load("[1, 2]");
  EXPECT_FALSE(r.config.has_value());
  EXPECT_THAT(r.errors, ElementsAre(Problem("", "the config must be a JSON object")));
}

// ---------------------------------------------------------------------------------------------------------
// Errors, all collected in one pass

TEST(LoadConfigText, CollectsEveryErrorAtOnce) {
  auto r = load(R"({
    "bogus": 1,
    "servers": [{"alias": "api", "url": "ftp://x"}, {"alias": "api", "url": "http://u:p@h"}],
    "cors": {"allow_origins": ["*", "*"], "allow_methods": ["FETCH"], "allow_headers": [],
             "expose_headers": [], "allow_credentials": false, "max_age": 0},
    "paths": [
      {"method": "GET", "path": "/a", "integration": {"type": "lambda"}},
      {"method": "GET", "path": "/b", "integration": {"type": "http", "server": "nope"}},
      {"method": "GET", "path": "/c", "auth": true},
      {"method": "get", "path": "/d"},
      {"method": "GET", "path": "e"},
      {"method": "GET", "path": "/{.+}/f"},
      {"method": "GET", "path": "/c"}
    ]
  })");
  EXPECT_FALSE(r.config.has_value());
  EXPECT_THAT(r.errors, Contains(Problem("/bogus", "unknown key")));
  EXPECT_THAT(r.errors, Contains(Problem("/servers/0/url", "scheme must be http or https")));
  EXPECT_THAT(r.errors, Contains(Problem("/servers/1/alias", "duplicate server alias \"api\"")));
  EXPECT_THAT(r.errors, Contains(Problem("/servers/1/url", "credentials in the URL are not supported")));
  EXPECT_THAT(r.errors, Contains(Problem("/cors/allow_origins/1", "duplicate item \"*\"")));
  EXPECT_THAT(r.errors, Contains(Problem("/cors/allow_methods/0", "must be one of")));
  EXPECT_THAT(r.errors,
              Contains(Problem("/paths/0/integration/type", "unknown integration type \"lambda\"")));
  EXPECT_THAT(r.errors, Contains(Problem("/paths/1/integration/server", "unknown server alias \"nope\"")));
  EXPECT_THAT(r.errors, Contains(Problem("/paths/2/auth", "no authorizer")));
  EXPECT_THAT(r.errors, Contains(Problem("/paths/3/method", "(got \"get\")")));
  EXPECT_THAT(r.errors, Contains(Problem("/paths/4/path", "must start with /")));
  EXPECT_THAT(r.errors, Contains(Problem("/paths/5/path", "{.+} is only allowed as the last segment")));
  EXPECT_THAT(r.errors, Contains(Problem("/paths/6/path", "duplicate of route 2")));
}

TEST(LoadConfigText, UnknownTopLevelKey) {
  auto r = load(R"({"paths": [], "extra": {}, "a/b": 1})");
  EXPECT_FALSE(r.config.has_value());
  EXPECT_THAT(r.errors, ElementsAre(Problem("/extra", "unknown key"), Problem("/a~1b", "unknown key")));
}

TEST(LoadConfigText, KnownTopLevelKeysAccepted) {
  auto r = load(R"({"$schema":"x","title":"t","description":"d","variables":{},"paths":[]})");
  EXPECT_THAT(to_strings(r.errors), IsEmpty());
  auto bad = load(R"({"title": 5, "paths": []})");
  EXPECT_THAT(bad.errors, ElementsAre(Problem("/title", "must be a string")));
}

TEST(LoadConfigText, UnknownIntegrationType) {
  auto r = load(with_paths(R"([{"method":"GET","path":"/a","integration":{"type":"lambda"}}])"));
  EXPECT_THAT(to_strings(r.errors),
              ElementsAre("/paths/0/integration/type: unknown integration type \"lambda\""));
}

TEST(LoadConfigText, HttpIsNormalizedToHttpProxy) {
  auto r = load(with_paths(R"([{"method":"GET","path":"/a","integration":{"type":"http","server":"api"}}])"));
  ASSERT_THAT(to_strings(r.errors), IsEmpty());
  ASSERT_TRUE(r.config->paths[0].integration.has_value());
  EXPECT_EQ(r.config->paths[0].integration->type, IntegrationType::kHttpProxy);
  EXPECT_EQ(integration_type_name(r.config->paths[0].integration->type), "http_proxy");
}

TEST(LoadConfigText, UnknownServerAlias) {
  auto r =
      load(R"({"paths":[{"method":"GET","path":"/a","integration":{"type":"http_proxy","server":"api"}}]})");
  EXPECT_THAT(to_strings(r.errors), ElementsAre("/paths/0/integration/server: unknown server alias \"api\""));
}

TEST(LoadConfigText, HttpProxyNeedsServer) {
  auto r = load(with_paths(R"([{"method":"GET","path":"/a","integration":{"type":"http_proxy"}}])"));
  EXPECT_THAT(r.errors, ElementsAre(Problem("/paths/0/integration/server", "is required")));
}

TEST(LoadConfigText, AuthWithoutAuthorizer) {
  auto r = load(with_paths(R"([{"method":"GET","path":"/a","auth":true}])"));
  EXPECT_THAT(r.errors,
              ElementsAre(Problem("/paths/0/auth", "auth is true but no authorizer is configured")));

  auto with_authorizer = load(with_paths(R"([{"method":"GET","path":"/a","auth":true}])", kJwtAuthorizer));
  EXPECT_THAT(to_strings(with_authorizer.errors), IsEmpty());
  ASSERT_TRUE(with_authorizer.config.has_value());
  EXPECT_TRUE(with_authorizer.config->paths[0].auth);

  auto null_auth = load(with_paths(R"([{"method":"GET","path":"/a","auth":null}])"));
  EXPECT_THAT(to_strings(null_auth.errors), IsEmpty());
  auto bad = load(with_paths(R"([{"method":"GET","path":"/a","auth":"yes"}])"));
  EXPECT_THAT(bad.errors, ElementsAre(Problem("/paths/0/auth", "must be a boolean or null")));
}

TEST(LoadConfigText, AuthorizerTypeIsCaseSensitive) {
  auto r = load(with_paths("[]", R"("authorizer":{"type":"JWT","secret":"s"})"));
  EXPECT_THAT(
      to_strings(r.errors),
      ElementsAre("/authorizer/type: must be exactly \"jwt\", \"auth0\" or \"supabase\" (got \"JWT\")"));
}

TEST(LoadConfigText, JwtAuthorizerValid) {
  auto r = load(with_paths("[]", kJwtAuthorizer));
  ASSERT_THAT(to_strings(r.errors), IsEmpty());
  ASSERT_TRUE(r.config->authorizer.has_value());
  const Authorizer& a = *r.config->authorizer;
  EXPECT_EQ(a.type, AuthorizerType::kJwt);
  EXPECT_EQ(a.secret, "s3cret");
  EXPECT_THAT(a.algorithms, ElementsAre("HS256"));
  EXPECT_THAT(a.audiences, ElementsAre("aud"));
  EXPECT_EQ(a.issuer, "iss");
  EXPECT_EQ(a.leeway_seconds, 30);

  auto list = load(with_paths(
      "[]",
      R"("authorizer":{"type":"jwt","secret":"s","algorithm":"HS512","audience":["a","b"],"issuer":"i"})"));
  ASSERT_THAT(to_strings(list.errors), IsEmpty());
  EXPECT_THAT(list.config->authorizer->audiences, ElementsAre("a", "b"));
  EXPECT_THAT(list.config->authorizer->algorithms, ElementsAre("HS512"));
}

TEST(LoadConfigText, JwtAuthorizerMissingFields) {
  auto r = load(with_paths("[]", R"("authorizer":{"type":"jwt"})"));
  EXPECT_FALSE(r.config.has_value());
  EXPECT_THAT(r.errors, Contains(Problem("/authorizer/secret", "is required")));
  EXPECT_THAT(r.errors, Contains(Problem("/authorizer/algorithm", "is required")));
  EXPECT_THAT(r.errors, Contains(Problem("/authorizer/audience", "is required")));
  EXPECT_THAT(r.errors, Contains(Problem("/authorizer/issuer", "is required")));
  EXPECT_EQ(r.errors.size(), 4u) << ::testing::PrintToString(to_strings(r.errors));
}

TEST(LoadConfigText, JwtAuthorizerRefusesAsymmetricAlgorithm) {
  auto r = load(with_paths(
      "[]", R"("authorizer":{"type":"jwt","secret":"s","algorithm":"RS256","audience":"a","issuer":"i"})"));
  EXPECT_THAT(r.errors, ElementsAre(Problem("/authorizer/algorithm", "must be HS256, HS384 or HS512")));
}

TEST(LoadConfigText, JwtAuthorizerUnknownKeyAndEmptySecret) {
  auto r = load(with_paths(
      "[]",
      R"("authorizer":{"type":"jwt","secret":"","algorithm":"HS256","audience":[],"issuer":"i","jwks":"x"})"));
  EXPECT_THAT(r.errors, Contains(Problem("/authorizer/jwks", "unknown key")));
  EXPECT_THAT(r.errors, Contains(Problem("/authorizer/secret", "must not be empty")));
  EXPECT_THAT(r.errors, Contains(Problem("/authorizer/audience", "non-empty array")));
}

TEST(LoadConfigText, FullMatchWildcardMustBeLast) {
  auto r = load(with_paths(R"([{"method":"GET","path":"/a/{.+}/b"}])"));
  EXPECT_THAT(r.errors, ElementsAre(Problem("/paths/0/path", "{.+} is only allowed as the last segment")));
}

TEST(LoadConfigText, DuplicateMethodAndPath) {
  auto r = load(with_paths(R"([{"method":"GET","path":"/a"},{"method":"POST","path":"/a"},
                              {"method":"GET","path":"/a"}])"));
  EXPECT_THAT(r.errors, ElementsAre(Problem("/paths/2/path", "duplicate of route 0")));
}

TEST(LoadConfigText, EquivalentPatternIsAWarning) {
  auto r = load(with_paths(R"([{"method":"GET","path":"/x/{a}"},{"method":"GET","path":"/x/{b}"}])"));
  EXPECT_THAT(to_strings(r.errors), IsEmpty());
  EXPECT_THAT(r.warnings, ElementsAre(Problem("/paths/1/path", "can never match")));
  EXPECT_TRUE(r.config.has_value());
}

TEST(LoadConfigText, BadMethod) {
  auto r = load(with_paths(R"([{"method":"FETCH","path":"/a"},{"method":"ANY","path":"/b"},{"path":"/c"}])"));
  EXPECT_THAT(
      r.errors,
      Contains(Problem("/paths/0/method",
                       "must be one of GET, POST, PUT, DELETE, OPTIONS, PATCH, HEAD, ANY (got \"FETCH\")")));
  EXPECT_THAT(r.errors, Contains(Problem("/paths/2/method", "is required")));
  EXPECT_THAT(r.errors, Not(Contains(At("/paths/1/method"))));
}

TEST(LoadConfigText, PathMustStartWithSlash) {
  auto r = load(with_paths(R"([{"method":"GET","path":"a/b"}])"));
  EXPECT_FALSE(r.config.has_value());
  ASSERT_FALSE(r.errors.empty());
  for (const auto& e : r.errors)
    EXPECT_EQ(e.pointer, "/paths/0/path");
  EXPECT_THAT(r.errors, Contains(Problem("/paths/0/path", "must start with /")));
}

TEST(LoadConfigText, UnknownRouteKeyIsAWarning) {
  auto r = load(with_paths(R"([{"method":"GET","path":"/a","summary":"s","colour":"red"}])"));
  EXPECT_THAT(to_strings(r.errors), IsEmpty());
  EXPECT_THAT(r.warnings, ElementsAre(Problem("/paths/0/colour", "unknown route key")));
}

// ---------------------------------------------------------------------------------------------------------
// cors

TEST(LoadConfigText, CorsValid) {
  auto r =
      load(with_paths("[]", R"("cors":{"allow_origins":["https://app.example.com","https://*.example.com"],
      "allow_methods":["GET","*"],"allow_headers":["Content-Type"],"expose_headers":[],
      "allow_credentials":true,"max_age":600})"));
  ASSERT_THAT(to_strings(r.errors), IsEmpty());
  EXPECT_THAT(to_strings(r.warnings), IsEmpty());
  ASSERT_TRUE(r.config->cors.has_value());
  const CorsPolicy& c = *r.config->cors;
  EXPECT_THAT(c.allow_origins, ElementsAre("https://app.example.com", "https://*.example.com"));
  EXPECT_THAT(c.allow_methods, ElementsAre("GET", "*"));
  EXPECT_THAT(c.allow_headers, ElementsAre("Content-Type"));
  EXPECT_THAT(c.expose_headers, IsEmpty());
  EXPECT_TRUE(c.allow_credentials);
  EXPECT_EQ(c.max_age, 600);
}

TEST(LoadConfigText, CorsMissingRequiredKeys) {
  auto r = load(with_paths("[]", R"("cors":{})"));
  EXPECT_FALSE(r.config.has_value());
  for (const char* key : {"allow_origins", "allow_methods", "allow_headers", "expose_headers",
                          "allow_credentials", "max_age"}) {
    EXPECT_THAT(r.errors, Contains(Problem(std::string("/cors/") + key, "is required"))) << key;
  }
  EXPECT_EQ(r.errors.size(), 6u);
}

TEST(LoadConfigText, CorsBadValues) {
  auto r = load(with_paths("[]", R"("cors":{"allow_origins":["https://a.com","https://a.com"],
      "allow_methods":["GET","get","CONNECT"],"allow_headers":[1],"expose_headers":"X",
      "allow_credentials":"true","max_age":-1,"origin":"x"})"));
  EXPECT_THAT(r.errors, Contains(Problem("/cors/allow_origins/1", "duplicate item \"https://a.com\"")));
  EXPECT_THAT(r.errors, Contains(Problem("/cors/allow_methods/1", "must be one of")));
  EXPECT_THAT(r.errors, Contains(Problem("/cors/allow_methods/2", "must be one of")));
  EXPECT_THAT(r.errors, Contains(Problem("/cors/allow_headers/0", "must be a string")));
  EXPECT_THAT(r.errors, Contains(Problem("/cors/expose_headers", "must be an array")));
  EXPECT_THAT(r.errors, Contains(Problem("/cors/allow_credentials", "must be a boolean")));
  EXPECT_THAT(r.errors, Contains(Problem("/cors/max_age", "must be between 0 and")));
  EXPECT_THAT(r.errors, Contains(Problem("/cors/origin", "unknown key")));
  EXPECT_THAT(r.errors, Not(Contains(At("/cors/allow_methods/0"))));
}

// A pattern problem is reported at the entry's own index even after a duplicate before it was dropped.
TEST(LoadConfigText, CorsOriginPointerAfterDuplicate) {
  auto r = load(with_paths("[]", R"("cors":{"allow_origins":["https://a.com","https://a.com","app.com"],
      "allow_methods":["GET","GET","FETCH"],"allow_headers":[],"expose_headers":[],"allow_credentials":false,
      "max_age":0})"));
  EXPECT_THAT(r.errors, Contains(Problem("/cors/allow_origins/1", "duplicate item")));
  EXPECT_THAT(r.errors, Contains(Problem("/cors/allow_origins/2", "must be \"*\" or an origin")));
  EXPECT_THAT(r.errors, Contains(Problem("/cors/allow_methods/1", "duplicate item")));
  EXPECT_THAT(r.errors, Contains(Problem("/cors/allow_methods/2", "must be one of")));
}

TEST(LoadConfigText, CorsOriginPatterns) {
  auto r = load(with_paths("[]", R"("cors":{"allow_origins":["*","https://a.com/path","https://","noscheme"],
      "allow_methods":["GET"],"allow_headers":[],"expose_headers":[],"allow_credentials":false,"max_age":0})"));
  EXPECT_THAT(r.warnings, ElementsAre(Problem("/cors/allow_origins/1", "never matches")));
  EXPECT_THAT(r.errors, Contains(Problem("/cors/allow_origins/2", "must name a host")));
  EXPECT_THAT(r.errors, Contains(Problem("/cors/allow_origins/3", "must be \"*\" or an origin")));
  EXPECT_THAT(r.errors, Not(Contains(At("/cors/allow_origins/0"))));
}

// ---------------------------------------------------------------------------------------------------------
// servers

TEST(LoadConfigText, ServerUrlMustBeHttp) {
  auto r = load(R"({"servers":[{"alias":"a","url":"ftp://h/"},{"alias":"b","url":"/relative"},
      {"alias":"c","url":"http://h:0"},{"alias":"d"},{"alias":"","url":"http://h"}],"paths":[]})");
  EXPECT_THAT(r.errors, Contains(Problem("/servers/0/url", "scheme must be http or https")));
  EXPECT_THAT(r.errors, Contains(Problem("/servers/1/url", "must be an absolute http:// or https:// URL")));
  EXPECT_THAT(r.errors, Contains(Problem("/servers/2/url", "port must be between 1 and 65535")));
  EXPECT_THAT(r.errors, Contains(Problem("/servers/3/url", "is required")));
  EXPECT_THAT(r.errors, Contains(Problem("/servers/4/alias", "must not be empty")));
}

TEST(LoadConfigText, ServerUrlWithCredentialsRefused) {
  auto r = load(R"({"servers":[{"alias":"a","url":"https://user:pw@h/"}],"paths":[]})");
  EXPECT_THAT(r.errors, ElementsAre(Problem("/servers/0/url", "credentials in the URL are not supported")));
  // The message never echoes the URL (it holds a password).
  EXPECT_THAT(r.errors[0].message, Not(HasSubstr("pw")));
}

TEST(LoadConfigText, ServerUrlQueryIsAWarning) {
  auto r = load(R"({"servers":[{"alias":"a","url":"http://h/base?x=1"}],"paths":[]})");
  EXPECT_THAT(to_strings(r.errors), IsEmpty());
  EXPECT_THAT(r.warnings, ElementsAre(Problem("/servers/0/url", "query string is discarded")));
  ASSERT_TRUE(r.config.has_value());
  EXPECT_EQ(r.config->servers[0].base_path, "/base");
}

TEST(LoadConfigText, ServerTargetsBalanceHealthOutlierBreaker) {
  auto r = load(R"({"servers":[{"alias":"a","targets":[{"url":"http://10.0.0.1:8080/v1","weight":2},
      {"url":"http://10.0.0.2:8080/v1/"}],"balance":"hash","hash_key":"$request.header.x-user",
      "health_check":{"path":"/healthz","interval_ms":500,"timeout_ms":200,"healthy_threshold":1,
      "unhealthy_threshold":3},"outlier":{"consecutive_connect_failures":2,"base_ejection_ms":1000,
      "max_ejection_percent":100,"eject_last":true},"max_requests":10,"max_pending":5}],"paths":[]})");
  EXPECT_THAT(to_strings(r.errors), IsEmpty());
  ASSERT_TRUE(r.config.has_value());
  const ServerEntry& s = r.config->servers[0];
  ASSERT_EQ(s.targets.size(), 2u);
  EXPECT_EQ(s.targets[0].host, "10.0.0.1");
  EXPECT_EQ(s.targets[0].port, 8080);
  EXPECT_EQ(s.targets[0].weight, 2u);
  EXPECT_EQ(s.targets[1].weight, 1u);
  EXPECT_EQ(s.base_path, "/v1");
  EXPECT_EQ(s.host, "10.0.0.1");
  EXPECT_EQ(s.balance, BalancePolicy::kHash);
  EXPECT_EQ(s.hash_key, "$request.header.x-user");
  ASSERT_TRUE(s.health_check.has_value());
  EXPECT_EQ(s.health_check->path, "/healthz");
  EXPECT_EQ(s.health_check->interval, std::chrono::milliseconds(500));
  EXPECT_EQ(s.health_check->unhealthy_threshold, 3u);
  ASSERT_TRUE(s.outlier.has_value());
  EXPECT_EQ(s.outlier->consecutive_connect_failures, 2u);
  EXPECT_EQ(s.outlier->consecutive_5xx, 5u);
  EXPECT_EQ(s.outlier->base_ejection, std::chrono::milliseconds(1000));
  EXPECT_TRUE(s.outlier->eject_last);
  EXPECT_EQ(s.max_requests, 10u);
  EXPECT_EQ(s.max_pending, 5u);
}

TEST(LoadConfigText, ServerTargetsErrorsHavePointers) {
  auto r = load(R"({"servers":[
      {"alias":"a","url":"http://h","targets":[{"url":"http://x"}]},
      {"alias":"b","targets":[]},
      {"alias":"c","targets":[{"url":"http://x/p"},{"url":"https://y/p"},{"url":"http://z/q"},
        {"url":"http://x/p"},{"weight":0,"url":"http://w/p"},{"url":"http://v/p","extra":1}]},
      {"alias":"d","url":"http://h","balance":"random"},
      {"alias":"e","url":"http://h","balance":"hash"},
      {"alias":"f","url":"http://h","hash_key":"$request.header.x"},
      {"alias":"g","url":"http://h","health_check":{"path":"nope","interval_ms":1},"outlier":{"x":1},
       "max_requests":0}]})");
  EXPECT_THAT(r.errors, Contains(Problem("/servers/0/targets", "use either url or targets")));
  EXPECT_THAT(r.errors, Contains(Problem("/servers/1/targets", "must not be empty")));
  EXPECT_THAT(r.errors, Contains(Problem("/servers/2/targets/1/url", "scheme and base path")));
  EXPECT_THAT(r.errors, Contains(Problem("/servers/2/targets/2/url", "scheme and base path")));
  EXPECT_THAT(r.errors, Contains(Problem("/servers/2/targets/3/url", "duplicate target")));
  EXPECT_THAT(r.errors, Contains(Problem("/servers/2/targets/4/weight", "must be between 1 and 1000")));
  EXPECT_THAT(r.errors, Contains(Problem("/servers/2/targets/5/extra", "unknown key")));
  EXPECT_THAT(r.errors, Contains(Problem("/servers/3/balance", "must be one of")));
  EXPECT_THAT(r.errors, Contains(Problem("/servers/4/hash_key", "is required")));
  EXPECT_THAT(r.errors, Contains(Problem("/servers/5/hash_key", "only used with")));
  EXPECT_THAT(r.errors, Contains(Problem("/servers/6/health_check/path", "absolute path")));
  EXPECT_THAT(r.errors, Contains(Problem("/servers/6/health_check/interval_ms", "must be between")));
  EXPECT_THAT(r.errors, Contains(Problem("/servers/6/outlier/x", "unknown key")));
  EXPECT_THAT(r.errors, Contains(Problem("/servers/6/max_requests", "must be between")));
}

// docs/configuration.md: "a query string is discarded and a fragment ignored (warnings)".
TEST(LoadConfigText, ServerUrlFragmentIsAWarning) {
  auto r = load(R"({"servers":[{"alias":"a","url":"http://h/base#frag"}],"paths":[]})");
  EXPECT_THAT(to_strings(r.errors), IsEmpty());
  EXPECT_THAT(r.warnings, ElementsAre(Problem("/servers/0/url", "fragment is ignored")));
  ASSERT_TRUE(r.config.has_value());
  EXPECT_EQ(r.config->servers[0].base_path, "/base");
}

TEST(LoadConfigText, DuplicateServerAlias) {
  auto r = load(R"({"servers":[{"alias":"a","url":"http://h"},{"alias":"a","url":"http://g"}],"paths":[]})");
  EXPECT_THAT(to_strings(r.errors), ElementsAre("/servers/1/alias: duplicate server alias \"a\""));
}

TEST(LoadConfigText, ServerExtensions) {
  auto r = load(R"({"servers":[{"alias":"a","url":"https://h","ca_file":"/ca.pem","connect_timeout_ms":100,
      "timeout_ms":2000,"idle_timeout_ms":3000,"max_connections":4}],"paths":[]})");
  ASSERT_THAT(to_strings(r.errors), IsEmpty());
  const ServerEntry& s = r.config->servers[0];
  EXPECT_EQ(s.ca_file, "/ca.pem");
  EXPECT_EQ(s.connect_timeout.count(), 100);
  EXPECT_EQ(s.timeout.count(), 2000);
  EXPECT_EQ(s.idle_timeout.count(), 3000);
  EXPECT_EQ(s.max_connections, 4u);

  auto bad = load(R"({"servers":[{"alias":"a","url":"https://h","timeout_ms":0,"max_connections":"4",
      "retries":1}],"paths":[]})");
  EXPECT_THAT(bad.errors, Contains(Problem("/servers/0/timeout_ms", "must be between 1 and")));
  EXPECT_THAT(bad.errors, Contains(Problem("/servers/0/max_connections", "must be an integer")));
  EXPECT_THAT(bad.errors, Contains(Problem("/servers/0/retries", "unknown key")));
}

// ---------------------------------------------------------------------------------------------------------
// service bindings and workers

constexpr std::string_view kWorker = R"("workers":[{"binding":"AUTH","module":"auth.so"}])";

TEST(LoadConfigText, ServicesBindingsMergedIntoServiceBindings) {
  auto r = load(R"({
    "serviceBindings": [{"alias": "a", "binding": "A1"}],
    "servicesBindings": [{"alias": "a", "binding": "A2"}, {"alias": "b", "binding": "B1"},
                         {"alias": "b", "binding": "B2"}],
    "paths": []
  })");
  ASSERT_THAT(to_strings(r.errors), IsEmpty());
  const auto& sb = r.config->service_bindings;
  ASSERT_EQ(sb.size(), 2u);
  EXPECT_EQ(sb[0].alias, "a");
  EXPECT_EQ(sb[0].binding, "A1");
  EXPECT_EQ(sb[1].alias, "b");
  EXPECT_EQ(sb[1].binding, "B1");
  EXPECT_EQ(r.config->find_service_binding("b"), &sb[1]);
}

TEST(LoadConfigText, DuplicateServiceBindingAliasInCurrentKeyIsAnError) {
  auto r =
      load(R"({"serviceBindings":[{"alias":"a","binding":"A"},{"alias":"a","binding":"B"}],"paths":[]})");
  EXPECT_THAT(r.errors, ElementsAre(Problem("/serviceBindings/1/alias", "duplicate service binding alias")));
}

TEST(LoadConfigText, ServiceBindingMustBeDeclaredInWorkers) {
  auto route = R"([{"method":"POST","path":"/a",
      "integration":{"type":"service_binding","binding":"auth","function":"login"}}])";
  auto r = load(with_paths(route, R"("serviceBindings":[{"alias":"auth","binding":"AUTH"}])"));
  EXPECT_THAT(to_strings(r.errors),
              ElementsAre("/serviceBindings/0/binding: binding \"AUTH\" is not declared in workers"));

  auto ok = load(with_paths(route, std::string(R"("serviceBindings":[{"alias":"auth","binding":"AUTH"}],)") +
                                       std::string(kWorker)));
  ASSERT_THAT(to_strings(ok.errors), IsEmpty());
  const Integration& in = *ok.config->paths[0].integration;
  EXPECT_EQ(in.type, IntegrationType::kServiceBinding);
  EXPECT_EQ(in.binding, "auth");
  EXPECT_EQ(in.function, "login");

  // An unused binding need not be declared.
  auto unused = load(with_paths("[]", R"("serviceBindings":[{"alias":"auth","binding":"AUTH"}])"));
  EXPECT_THAT(to_strings(unused.errors), IsEmpty());

  auto unknown = load(with_paths(route));
  EXPECT_THAT(unknown.errors,
              ElementsAre(Problem("/paths/0/integration/binding", "unknown service binding alias \"auth\"")));
}

// The error must point at the entry that declared the binding, which for a legacy-only binding is under
// /servicesBindings.
TEST(LoadConfigText, UndeclaredWorkerPointerNamesLegacyKey) {
  auto r = load(with_paths(R"([{"method":"POST","path":"/a",
      "integration":{"type":"service_binding","binding":"auth","function":"login"}}])",
                           R"("servicesBindings":[{"alias":"auth","binding":"AUTH"}])"));
  EXPECT_THAT(to_strings(r.errors),
              ElementsAre("/servicesBindings/0/binding: binding \"AUTH\" is not declared in workers"));
}

TEST(LoadConfigText, PreProcessOnStaticRouteIsAWarning) {
  auto r = load(with_paths(
      R"([{"method":"GET","path":"/s","response":{},
      "pre_process":{"binding":"auth","function":"check"}}])",
      std::string(R"("serviceBindings":[{"alias":"auth","binding":"AUTH"}],)") + std::string(kWorker)));
  EXPECT_THAT(to_strings(r.errors), IsEmpty());
  EXPECT_THAT(r.warnings, ElementsAre(Problem("/paths/0/pre_process", "ignored")));
  ASSERT_TRUE(r.config.has_value());
  ASSERT_TRUE(r.config->paths[0].pre_process.has_value());
  EXPECT_EQ(r.config->paths[0].pre_process->binding, "auth");
  EXPECT_EQ(r.config->paths[0].pre_process->function, "check");
  EXPECT_EQ(r.config->paths[0].pre_process->pointer, "/paths/0/pre_process");
}

TEST(LoadConfigText, HookErrors) {
  auto r = load(with_paths(R"([{"method":"GET","path":"/s","pre_process":{"binding":"nope","function":""},
      "post_process":{"binding":"nope","function":"f","type":"service_binding"}}])"));
  EXPECT_THAT(r.errors, Contains(Problem("/paths/0/pre_process/function", "must not be empty")));
  EXPECT_THAT(r.errors, Contains(Problem("/paths/0/post_process/type", "unknown key")));
  EXPECT_THAT(r.errors, Contains(Problem("/paths/0/post_process/binding", "unknown service binding alias")));
}

TEST(LoadConfigText, WorkersEntries) {
  auto r = load(R"({"workers":[
      {"binding":"A","module":"mods/../w/a.so","env":["API_KEY","_x1"],"config":{"k":[1]},"timeout_ms":250},
      {"binding":"B","module":"/opt/b.so"}],"paths":[]})",
                Environment{}, "/etc/gw");
  ASSERT_THAT(to_strings(r.errors), IsEmpty());
  const auto& w = r.config->workers;
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[0].binding, "A");
  EXPECT_EQ(w[0].module, "/etc/gw/w/a.so");
  EXPECT_THAT(w[0].env, ElementsAre("API_KEY", "_x1"));
  EXPECT_EQ(json::serialize(w[0].config), R"({"k":[1]})");
  EXPECT_EQ(w[0].timeout.count(), 250);
  EXPECT_EQ(w[0].pointer, "/workers/0");
  EXPECT_EQ(w[1].module, "/opt/b.so");
  EXPECT_EQ(w[1].timeout.count(), 5000);
  EXPECT_TRUE(w[1].env.empty());
  EXPECT_EQ(r.config->find_worker("B"), &w[1]);
  EXPECT_EQ(r.config->find_worker("C"), nullptr);
}

TEST(LoadConfigText, WorkersErrors) {
  auto r = load(R"({"workers":[
      {"binding":"A","module":"a.so","env":["1BAD","GOOD","A-B","GOOD",""]},
      {"binding":"A","module":"b.so"},
      {"binding":"C"},
      {"module":"d.so","timeout_ms":0,"extra":true},
      "e"],"paths":[]})");
  EXPECT_FALSE(r.config.has_value());
  EXPECT_THAT(r.errors, Contains(Problem("/workers/0/env/0", "not a valid environment variable name")));
  EXPECT_THAT(r.errors, Contains(Problem("/workers/0/env/3", "duplicate item \"GOOD\"")));
  EXPECT_THAT(r.errors, Contains(Problem("/workers/1/binding", "duplicate worker binding \"A\"")));
  EXPECT_THAT(r.errors, Contains(Problem("/workers/2/module", "is required")));
  EXPECT_THAT(r.errors, Contains(Problem("/workers/3/binding", "is required")));
  EXPECT_THAT(r.errors, Contains(Problem("/workers/3/timeout_ms", "must be between 1 and")));
  EXPECT_THAT(r.errors, Contains(Problem("/workers/3/extra", "unknown key")));
  EXPECT_THAT(r.errors, Contains(Problem("/workers/4", "must be an object")));
}

TEST(LoadConfigText, JavaScriptWorkerEntries) {
  auto r = load(R"({"workers":[
      {"binding":"A","script":"js/hooks.ts","entrypoint":"Hooks","compatibility_date":"2025-01-02","env":["X"]},
      {"binding":"B","script":"/opt/b.mjs","timeout_ms":100}],
      "gateway":{"js_workers":{"processes":2,"heap_limit_mb":64,"health_timeout_ms":300}},"paths":[]})",
                Environment{}, "/etc/gw");
  ASSERT_THAT(to_strings(r.errors), IsEmpty());
  const auto& w = r.config->workers;
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[0].script, "/etc/gw/js/hooks.ts");
  EXPECT_TRUE(w[0].module.empty());
  EXPECT_EQ(w[0].entrypoint, "Hooks");
  EXPECT_EQ(w[0].compatibility_date, "2025-01-02");
  EXPECT_EQ(w[1].script, "/opt/b.mjs");
  EXPECT_EQ(w[1].entrypoint, "");
  EXPECT_EQ(w[1].timeout.count(), 100);
  EXPECT_EQ(r.config->gateway.js_workers.processes, 2u);
  EXPECT_EQ(r.config->gateway.js_workers.heap_limit_mb, 64u);
  EXPECT_EQ(r.config->gateway.js_workers.health_timeout.count(), 300);
  EXPECT_FALSE(r.config->document.empty());
}

TEST(LoadConfigText, JavaScriptWorkerErrors) {
  auto r = load(R"({"workers":[
      {"binding":"A","script":"a.py"},
      {"binding":"B","script":"b.js","module":"b.so"},
      {"binding":"C","script":"c.js","entrypoint":"not-a-name","compatibility_date":"yesterday"},
      {"binding":"D","module":"d.so","entrypoint":"X"},
      {"binding":"E","script":""}],
      "gateway":{"js_workers":{"processes":-1,"nope":1}},"paths":[]})");
  EXPECT_FALSE(r.config.has_value());
  EXPECT_THAT(r.errors, Contains(Problem("/workers/0/script", "must name a .js, .mjs, .ts or .mts file")));
  EXPECT_THAT(r.errors, Contains(Problem("/workers/1/script", "not both")));
  EXPECT_THAT(r.errors, Contains(Problem("/workers/2/entrypoint", "must be the name of an exported class")));
  EXPECT_THAT(r.errors, Contains(Problem("/workers/2/compatibility_date", "must be a date YYYY-MM-DD")));
  EXPECT_THAT(r.errors, Contains(Problem("/workers/3/entrypoint", "only for a JavaScript worker")));
  EXPECT_THAT(r.errors, Contains(Problem("/workers/4/script", "must not be empty")));
  EXPECT_THAT(r.errors, Contains(Problem("/gateway/js_workers/processes", "must be between")));
  EXPECT_THAT(r.errors, Contains(Problem("/gateway/js_workers/nope", "unknown key")));
}

// Worker env names are reported by their own position even after a duplicate was dropped from the list.
TEST(LoadConfigText, WorkerEnvNamePointerAfterDuplicate) {
  auto r = load(R"({"workers":[{"binding":"A","module":"a.so","env":["X","X","1BAD"]}],"paths":[]})");
  EXPECT_THAT(r.errors, Contains(Problem("/workers/0/env/1", "duplicate item")));
  EXPECT_THAT(r.errors, Contains(Problem("/workers/0/env/2", "not a valid environment variable name")));
}

// ---------------------------------------------------------------------------------------------------------
// gateway block

TEST(LoadConfigText, GatewayValues) {
  auto r = load(with_paths("[]", R"("gateway":{"identity_header":false,"max_body_bytes":0,
      "max_header_bytes":1024,"max_headers":10000,"header_timeout_ms":1,"body_timeout_ms":2.0,
      "idle_timeout_ms":86400000,"write_timeout_ms":40,"access_log":true})"));
  ASSERT_THAT(to_strings(r.errors), IsEmpty());
  const GatewaySettings& g = r.config->gateway;
  EXPECT_FALSE(g.identity_header);
  EXPECT_EQ(g.max_body_bytes, 0u);
  EXPECT_EQ(g.max_header_bytes, 1024u);
  EXPECT_EQ(g.max_headers, 10000u);
  EXPECT_EQ(g.header_timeout.count(), 1);
  EXPECT_EQ(g.body_timeout.count(), 2);
  EXPECT_EQ(g.idle_timeout.count(), 86400000);
  EXPECT_EQ(g.write_timeout.count(), 40);
  EXPECT_TRUE(g.access_log);
}

TEST(LoadConfigText, Http2Limits) {
  auto r =
      load(with_paths("[]", R"("gateway":{"http2":{"max_concurrent_streams":50,"stream_window_bytes":65535,
      "reset_burst":10,"resets_per_second":5,"max_continuation_frames":4}})"));
  ASSERT_THAT(to_strings(r.errors), IsEmpty());
  const Http2Settings& h2 = r.config->gateway.http2;
  EXPECT_EQ(h2.max_concurrent_streams, 50u);
  EXPECT_EQ(h2.stream_window_bytes, 65535u);
  EXPECT_EQ(h2.connection_window_bytes, 1024u * 1024u);  // default kept
  EXPECT_EQ(h2.reset_burst, 10u);
  EXPECT_EQ(h2.resets_per_second, 5u);
  EXPECT_EQ(h2.max_continuation_frames, 4u);

  auto bad =
      load(with_paths("[]", R"("gateway":{"http2":{"max_concurrent_streams":0,"stream_window_bytes":100,
      "connection_window_bytes":4294967295,"resets":1}})"));
  EXPECT_THAT(to_strings(bad.errors),
              UnorderedElementsAre(HasSubstr("/gateway/http2/max_concurrent_streams"),
                                   HasSubstr("/gateway/http2/stream_window_bytes"),
                                   HasSubstr("/gateway/http2/connection_window_bytes"),
                                   HasSubstr("/gateway/http2/resets")));
}

TEST(LoadConfigText, OneLinePerCauseAndOperatorWarnings) {
  auto r = load(with_paths(R"([{"method":"GET","path":"noslash","response":{}},
      {"method":"GET","path":"/s","response":{},"mapping":{"headers":{"x-a":"$request.path"}}}])",
                           R"("cors":{"allow_origins":["https://a.example"],"allow_methods":["GET"],
      "allow_headers":["*"],"expose_headers":[],"allow_credentials":true,"max_age":0})"));
  EXPECT_EQ(to_strings(r.errors), std::vector<std::string>{"/paths/0/path: must start with /"});
  EXPECT_THAT(r.warnings, ::testing::Contains(At("/cors/allow_headers")));
  EXPECT_THAT(r.warnings, ::testing::Contains(At("/paths/1/mapping")));
}

TEST(LoadConfigText, Tracing) {
  auto r = load(with_paths("[]", R"("gateway":{"tracing":{"otlp_endpoint":"http://[::1]:4318",
      "sample_ratio":0.25,"service_name":"edge"}})"));
  ASSERT_THAT(to_strings(r.errors), IsEmpty());
  const TracingSettings& t = r.config->gateway.tracing;
  EXPECT_TRUE(t.enabled());
  EXPECT_EQ(t.host, "::1");
  EXPECT_EQ(t.port, 4318);
  EXPECT_EQ(t.path, "/v1/traces");  // none given: the OTLP default
  EXPECT_DOUBLE_EQ(t.sample_ratio, 0.25);
  EXPECT_EQ(t.service_name, "edge");

  auto full =
      load(with_paths("[]", R"("gateway":{"tracing":{"otlp_endpoint":"http://collector/otlp/traces"}})"));
  ASSERT_THAT(to_strings(full.errors), IsEmpty());
  EXPECT_EQ(full.config->gateway.tracing.path, "/otlp/traces");
  EXPECT_EQ(full.config->gateway.tracing.port, 4318);
  EXPECT_DOUBLE_EQ(full.config->gateway.tracing.sample_ratio, 1.0);
  EXPECT_EQ(full.config->gateway.tracing.service_name, "workgate");
  EXPECT_FALSE(load(with_paths("[]")).config->gateway.tracing.enabled());

  auto bad = load(with_paths("[]", R"("gateway":{"tracing":{"otlp_endpoint":"https://c:4318?k=v",
      "sample_ratio":1.5,"service_name":"","extra":1}})"));
  EXPECT_THAT(bad.errors, ::testing::UnorderedElementsAre(
                              At("/gateway/tracing/otlp_endpoint"), At("/gateway/tracing/sample_ratio"),
                              At("/gateway/tracing/service_name"), At("/gateway/tracing/extra")));
  auto missing = load(with_paths("[]", R"("gateway":{"tracing":{"sample_ratio":"1"}})"));
  EXPECT_THAT(missing.errors, ::testing::UnorderedElementsAre(At("/gateway/tracing/otlp_endpoint"),
                                                              At("/gateway/tracing/sample_ratio")));
}

TEST(LoadConfigText, Listeners) {
  auto r = load(with_paths("[]", R"("gateway":{"tls_handshake_timeout_ms":2500,"listeners":[
      {"address":"0.0.0.0:8443","tls":{"certificates":[{"cert_file":"certs/a.pem","key_file":"/keys/a.key"},
                                                      {"cert_file":"b.pem","key_file":"b.key"}],
                                       "min_version":"1.3"}},
      {"address":"[::1]:8080","http2":false},
      {"address":"localhost:0"}]})"));
  ASSERT_THAT(to_strings(r.errors), IsEmpty());
  const GatewaySettings& g = r.config->gateway;
  EXPECT_EQ(g.tls_handshake_timeout.count(), 2500);
  ASSERT_EQ(g.listeners.size(), 3u);
  EXPECT_EQ(g.listeners[0].host, "0.0.0.0");
  EXPECT_EQ(g.listeners[0].port, 8443);
  EXPECT_EQ(g.listeners[0].pointer, "/gateway/listeners/0");
  ASSERT_TRUE(g.listeners[0].tls.has_value());
  EXPECT_EQ(g.listeners[0].tls->min_version, 13);
  ASSERT_EQ(g.listeners[0].tls->certificates.size(), 2u);
  // Relative paths resolve against the config file's directory.
  EXPECT_EQ(g.listeners[0].tls->certificates[0].cert_file, "/etc/workgate/certs/a.pem");
  EXPECT_EQ(g.listeners[0].tls->certificates[0].key_file, "/keys/a.key");
  EXPECT_EQ(g.listeners[0].tls->certificates[1].key_file, "/etc/workgate/b.key");
  EXPECT_EQ(g.listeners[1].host, "::1");
  EXPECT_EQ(g.listeners[1].port, 8080);
  EXPECT_FALSE(g.listeners[1].tls.has_value());
  EXPECT_EQ(g.listeners[2].host, "localhost");
  EXPECT_EQ(g.listeners[2].port, 0);
  EXPECT_THAT(r.warnings, IsEmpty());

  // Defaults: no listener (the --listen one), TLS 1.2 minimum, 10 s handshake timeout.
  auto d = load(with_paths("[]", R"("gateway":{"listeners":[{"address":"127.0.0.1:1",
      "tls":{"certificates":[{"cert_file":"a","key_file":"b"}]}}]})"));
  ASSERT_THAT(to_strings(d.errors), IsEmpty());
  EXPECT_EQ(d.config->gateway.listeners[0].tls->min_version, 12);
  EXPECT_EQ(d.config->gateway.tls_handshake_timeout.count(), 10000);
  EXPECT_TRUE(load(with_paths("[]")).config->gateway.listeners.empty());
}

TEST(LoadConfigText, ListenerErrorsHavePointers) {
  auto r = load(with_paths("[]", R"("gateway":{"tls_handshake_timeout_ms":0,"listeners":[
      {"address":"example.com:443"},
      {"address":"1.2.3.4:99999"},
      {"address":"::1:80"},
      {"tls":{"certificates":[]},"port":1},
      {"address":"127.0.0.1:8443","tls":{"certificates":[{"cert_file":""}],"min_version":"1.1","ciphers":"x"}},
      {"address":"127.0.0.1:8443","http2":"yes"},
      "0.0.0.0:80",
      {"address":"127.0.0.1:9443","tls":{}}]})"));
  EXPECT_FALSE(r.config.has_value());
  EXPECT_THAT(r.errors, Contains(Problem("/gateway/tls_handshake_timeout_ms", "must be between 1")));
  EXPECT_THAT(r.errors, Contains(Problem("/gateway/listeners/0/address", "must be IP:PORT")));
  EXPECT_THAT(r.errors, Contains(Problem("/gateway/listeners/1/address", "must be IP:PORT")));
  EXPECT_THAT(r.errors, Contains(Problem("/gateway/listeners/2/address", "must be IP:PORT")));
  EXPECT_THAT(r.errors, Contains(Problem("/gateway/listeners/3/address", "is required")));
  EXPECT_THAT(r.errors, Contains(Problem("/gateway/listeners/3/port", "unknown key")));
  EXPECT_THAT(r.errors, Contains(Problem("/gateway/listeners/3/tls/certificates", "needs at least one")));
  EXPECT_THAT(r.errors,
              Contains(Problem("/gateway/listeners/4/tls/certificates/0/cert_file", "must not be empty")));
  EXPECT_THAT(r.errors, Contains(Problem("/gateway/listeners/4/tls/certificates/0/key_file", "is required")));
  EXPECT_THAT(r.errors,
              Contains(Problem("/gateway/listeners/4/tls/min_version", "must be \"1.2\" or \"1.3\"")));
  EXPECT_THAT(r.errors, Contains(Problem("/gateway/listeners/4/tls/ciphers", "unknown key")));
  EXPECT_THAT(r.errors,
              Contains(Problem("/gateway/listeners/5/address", "same address as /gateway/listeners/4")));
  EXPECT_THAT(r.errors, Contains(Problem("/gateway/listeners/5/http2", "must be a boolean")));
  EXPECT_THAT(r.errors, Contains(Problem("/gateway/listeners/6", "must be an object")));
  EXPECT_THAT(r.errors, Contains(Problem("/gateway/listeners/7/tls/certificates", "is required")));
}

TEST(LoadConfigText, ListenerNames) {
  auto r = load(with_paths("[]", R"("gateway":{"listeners":[{"address":"127.0.0.1:8443","name":"web-tls.1"},
      {"address":"127.0.0.1:8080"}]})"));
  ASSERT_THAT(to_strings(r.errors), IsEmpty());
  EXPECT_EQ(r.config->gateway.listeners[0].name, "web-tls.1");
  EXPECT_EQ(r.config->gateway.listeners[1].name, "");
  auto bad = load(with_paths("[]", R"("gateway":{"listeners":[{"address":"127.0.0.1:1","name":"a"},
      {"address":"127.0.0.1:2","name":"a"},{"address":"127.0.0.1:3","name":"public"},
      {"address":"127.0.0.1:4","name":"has space"},{"address":"127.0.0.1:5","name":""},
      {"address":"127.0.0.1:6","name":7},{"address":"127.0.0.1:7","name":"admin"}]})"));
  EXPECT_THAT(
      to_strings(bad.errors),
      ElementsAre("/gateway/listeners/1/name: same name as /gateway/listeners/0",
                  "/gateway/listeners/2/name: \"public\" is reserved (the --listen and admin listeners)",
                  HasSubstr("/gateway/listeners/3/name: must be 1 to 64 characters"),
                  HasSubstr("/gateway/listeners/4/name: must be 1 to 64 characters"),
                  "/gateway/listeners/5/name: must be a string",
                  HasSubstr("/gateway/listeners/6/name: \"admin\" is reserved")));
}

TEST(LoadConfigText, Http2OnAListener) {
  auto r = load(with_paths("[]", R"("gateway":{"listeners":[{"address":"127.0.0.1:8080","http2":true}]})"));
  ASSERT_THAT(to_strings(r.errors), IsEmpty());
  EXPECT_TRUE(r.config->gateway.listeners[0].http2);
  EXPECT_THAT(to_strings(r.warnings), IsEmpty());
  auto bad =
      load(with_paths("[]", R"("gateway":{"listeners":[{"address":"127.0.0.1:8080","http2":"yes"}]})"));
  EXPECT_THAT(to_strings(bad.errors), ElementsAre(HasSubstr("/gateway/listeners/0/http2")));
}

TEST(ParseListenAddress, Forms) {
  std::string host;
  std::uint16_t port = 1;
  EXPECT_TRUE(parse_listen_address("127.0.0.1:0", host, port));
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, 0);
  EXPECT_TRUE(parse_listen_address("[::]:443", host, port));
  EXPECT_EQ(host, "::");
  EXPECT_EQ(port, 443);
  EXPECT_TRUE(parse_listen_address("localhost:65535", host, port));
  for (std::string_view bad : {"", ":80", "127.0.0.1", "127.0.0.1:", "127.0.0.1:-1", "127.0.0.1:65536",
                               "127.0.0.1:8o", "[::1]80", "[::1:80", "::1:80", "host.example:80"}) {
    EXPECT_FALSE(parse_listen_address(bad, host, port)) << bad;
  }
}

TEST(LoadConfigText, NumbersOutsideTheInt64RangeAreRangeErrors) {
  // Doubles beyond int64 (a cast would be undefined behaviour), uint64 beyond int64, negative where the
  // value is unsigned and fractional where it is an integer: each a config error at its pointer.
  auto r = load(with_paths("[]", R"("gateway":{"max_body_bytes":1e300,"max_headers":-1e300,
      "header_timeout_ms":18446744073709551615,"body_timeout_ms":9223372036854775808.0,
      "idle_timeout_ms":-9.3e18,"write_timeout_ms":0.5,"max_header_bytes":-2048})"));
  EXPECT_FALSE(r.config.has_value());
  EXPECT_THAT(r.errors,
              Contains(Problem("/gateway/max_body_bytes", "must be between 0 and 9223372036854775807")));
  EXPECT_THAT(r.errors, Contains(Problem("/gateway/max_headers", "must be between 1 and 10000")));
  EXPECT_THAT(r.errors, Contains(Problem("/gateway/header_timeout_ms", "must be between 1 and 86400000")));
  EXPECT_THAT(r.errors, Contains(Problem("/gateway/body_timeout_ms", "must be between 1 and 86400000")));
  EXPECT_THAT(r.errors, Contains(Problem("/gateway/idle_timeout_ms", "must be between 1 and 86400000")));
  EXPECT_THAT(r.errors, Contains(Problem("/gateway/write_timeout_ms", "must be an integer")));
  EXPECT_THAT(r.errors, Contains(Problem("/gateway/max_header_bytes", "must be between 1024 and 1048576")));
  EXPECT_EQ(r.errors.size(), 7u) << ::testing::PrintToString(to_strings(r.errors));

  // The largest integral doubles inside the range still convert; 1e3 is 1000.
  auto ok = load(with_paths("[]", R"("gateway":{"max_body_bytes":9.2233720368547748e18,"max_headers":1e3})"));
  ASSERT_THAT(to_strings(ok.errors), IsEmpty());
  EXPECT_EQ(ok.config->gateway.max_body_bytes, 9223372036854774784u);
  EXPECT_EQ(ok.config->gateway.max_headers, 1000u);
}

TEST(LoadConfigText, GatewayRanges) {
  auto r = load(with_paths("[]", R"("gateway":{"identity_header":"yes","max_body_bytes":-1,
      "max_header_bytes":1023,"max_headers":0,"header_timeout_ms":0,"body_timeout_ms":1.5,
      "idle_timeout_ms":86400001,"write_timeout_ms":"10","access_log":1,"workers":4})"));
  EXPECT_FALSE(r.config.has_value());
  EXPECT_THAT(r.errors, Contains(Problem("/gateway/identity_header", "must be a boolean")));
  EXPECT_THAT(r.errors, Contains(Problem("/gateway/max_body_bytes", "must be between 0 and")));
  EXPECT_THAT(r.errors, Contains(Problem("/gateway/max_header_bytes", "must be between 1024 and 1048576")));
  EXPECT_THAT(r.errors, Contains(Problem("/gateway/max_headers", "must be between 1 and 10000")));
  EXPECT_THAT(r.errors, Contains(Problem("/gateway/header_timeout_ms", "must be between 1 and 86400000")));
  EXPECT_THAT(r.errors, Contains(Problem("/gateway/body_timeout_ms", "must be an integer")));
  EXPECT_THAT(r.errors, Contains(Problem("/gateway/idle_timeout_ms", "must be between 1 and 86400000")));
  EXPECT_THAT(r.errors, Contains(Problem("/gateway/write_timeout_ms", "must be an integer")));
  EXPECT_THAT(r.errors, Contains(Problem("/gateway/access_log", "must be a boolean")));
  EXPECT_THAT(r.errors, Contains(Problem("/gateway/workers", "unknown key")));
  EXPECT_EQ(r.errors.size(), 10u) << ::testing::PrintToString(to_strings(r.errors));

  auto not_object = load(with_paths("[]", R"("gateway":[])"));
  EXPECT_THAT(not_object.errors, ElementsAre(Problem("/gateway", "must be an object")));
}

// ---------------------------------------------------------------------------------------------------------
// $env / $secret / $secrets substitution

TEST(Substitution, WholeStringValuesAreReplaced) {
  Environment env;
  env.set("API_URL", "http://10.0.0.1:8080");
  env.set("JWT_SECRET", "topsecret");
  env.set("AUD", "my-aud");
  auto r = load(R"({"servers":[{"alias":"api","url":"$env.API_URL"}],
      "authorizer":{"type":"jwt","secret":"$secret.JWT_SECRET","algorithm":"HS256","audience":"$secrets.AUD",
                    "issuer":"iss"},
      "paths":[]})",
                env);
  ASSERT_THAT(to_strings(r.errors), IsEmpty());
  EXPECT_EQ(r.config->servers[0].url, "http://10.0.0.1:8080");
  EXPECT_EQ(r.config->servers[0].host, "10.0.0.1");
  EXPECT_EQ(r.config->servers[0].port, 8080);
  EXPECT_EQ(r.config->authorizer->secret, "topsecret");
  EXPECT_THAT(r.config->authorizer->audiences, ElementsAre("my-aud"));
}

TEST(Substitution, NestedValuesReplacedKeysAndEmbeddedTextUntouched) {
  Environment env;
  env.set("X", "ex");
  env.set("EMPTY", "");
  auto r = load(R"({"variables":{"a":{"b":["$env.X",{"c":"$secret.X"}]},"$env.X":"key",
      "embedded":"pre $env.X","url":"https://$env.X/x","e":"$env.EMPTY","case":"$ENV.X","n":5},"paths":[]})",
                env);
  ASSERT_THAT(to_strings(r.errors), IsEmpty());
  EXPECT_EQ(json::serialize(r.config->variables),
            R"({"a":{"b":["ex",{"c":"ex"}]},"$env.X":"key","embedded":"pre $env.X","url":"https://$env.X/x",)"
            R"("e":"","case":"$ENV.X","n":5})");
}

TEST(Substitution, UnsetVariableIsAnErrorNamingItAndThePointer) {
  Environment env;
  auto r = load(R"({"variables":{"a/b~c":["x","$env.MISSING_ONE"]},
      "servers":[{"alias":"api","url":"$secrets.MISSING_URL"}],"paths":[]})",
                env);
  EXPECT_FALSE(r.config.has_value());
  EXPECT_THAT(r.errors,
              Contains(Problem("/variables/a~1b~0c/1", "environment variable \"MISSING_ONE\" is not set")));
  EXPECT_THAT(r.errors,
              Contains(Problem("/servers/0/url", "environment variable \"MISSING_URL\" is not set")));
}

// Everything after the prefix is the name (docs/configuration.md), so trailing text is part of it.
TEST(Substitution, NameIsEverythingAfterThePrefix) {
  Environment env;
  env.set("X", "ex");
  auto unset = load(R"({"variables":{"v":"$env.X post"},"paths":[]})", env);
  EXPECT_THAT(to_strings(unset.errors),
              ElementsAre("/variables/v: environment variable \"X post\" is not set"));
  env.set("X post", "spaced");
  auto set = load(R"({"variables":{"v":"$env.X post"},"paths":[]})", env);
  ASSERT_THAT(to_strings(set.errors), IsEmpty());
  EXPECT_EQ(json::serialize(set.config->variables), R"({"v":"spaced"})");
}

TEST(Substitution, ValueIsNotReSubstitutedOrParsed) {
  Environment env;
  env.set("A", "$env.B");
  env.set("B", "b");
  auto r = load(R"({"variables":{"v":"$env.A"},"paths":[]})", env);
  ASSERT_THAT(to_strings(r.errors), IsEmpty());
  EXPECT_EQ(json::serialize(r.config->variables), R"({"v":"$env.B"})");
}

// ---------------------------------------------------------------------------------------------------------
// pointer_token

TEST(PointerToken, Escapes) {
  EXPECT_EQ(pointer_token("plain"), "plain");
  EXPECT_EQ(pointer_token(""), "");
  EXPECT_EQ(pointer_token("a/b"), "a~1b");
  EXPECT_EQ(pointer_token("a~b"), "a~0b");
  EXPECT_EQ(pointer_token("~1"), "~01");
  EXPECT_EQ(pointer_token("/~"), "~1~0");
  EXPECT_EQ(pointer_token("~/~/"), "~0~1~0~1");
}

// ---------------------------------------------------------------------------------------------------------
// Files and SAG_API_CONFIG_JSON

class ConfigFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("workgate-loader-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::filesystem::path write(const std::string& name, std::string_view text) {
    auto p = dir_ / name;
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }
  std::filesystem::path dir_;
};

TEST_F(ConfigFiles, LoadConfigFileResolvesModulesAgainstItsDirectory) {
  auto p =
      write("api-config.json", R"({"title":"file","workers":[{"binding":"W","module":"w.so"}],"paths":[]})");
  auto r = load_config_file(p, Environment{});
  ASSERT_THAT(to_strings(r.errors), IsEmpty());
  EXPECT_EQ(r.config->title, "file");
  EXPECT_EQ(r.config->base_dir, dir_);
  EXPECT_EQ(r.config->workers[0].module, (dir_ / "w.so").string());
}

TEST_F(ConfigFiles, UnreadableFileIsAnErrorWithEmptyPointer) {
  auto r = load_config_file(dir_ / "missing.json", Environment{});
  EXPECT_FALSE(r.config.has_value());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].pointer, "");
  EXPECT_THAT(r.errors[0].message, HasSubstr("cannot read config file"));
}

TEST_F(ConfigFiles, InlineJsonWinsOverPath) {
  auto p = write("api-config.json", R"({"title":"file","paths":[]})");
  Environment env;
  env.set("SAG_API_CONFIG_JSON", R"({"title":"inline","paths":[]})");
  std::string source;
  auto r = load_gateway_config(p, env, source);
  ASSERT_THAT(to_strings(r.errors), IsEmpty());
  EXPECT_EQ(r.config->title, "inline");
  EXPECT_EQ(source, "SAG_API_CONFIG_JSON");

  // Also without any path.
  std::string source2;
  auto r2 = load_gateway_config(std::nullopt, env, source2);
  ASSERT_TRUE(r2.config.has_value());
  EXPECT_EQ(r2.config->title, "inline");
  EXPECT_EQ(source2, "SAG_API_CONFIG_JSON");
}

TEST_F(ConfigFiles, InlineJsonErrorsAreReportedNotSkipped) {
  Environment env;
  env.set("SAG_API_CONFIG_JSON", "{not json");
  auto p = write("api-config.json", R"({"title":"file","paths":[]})");
  std::string source;
  auto r = load_gateway_config(p, env, source);
  EXPECT_FALSE(r.config.has_value());
  EXPECT_EQ(source, "SAG_API_CONFIG_JSON");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_THAT(r.errors[0].message, StartsWith("invalid JSON"));
}

TEST_F(ConfigFiles, BlankInlineJsonIsIgnored) {
  auto p = write("api-config.json", R"({"title":"file","paths":[]})");
  for (const char* blank : {"", " ", " \t\r\n "}) {
    Environment env;
    env.set("SAG_API_CONFIG_JSON", blank);
    std::string source;
    auto r = load_gateway_config(p, env, source);
    ASSERT_THAT(to_strings(r.errors), IsEmpty()) << "blank=\"" << blank << "\"";
    EXPECT_EQ(r.config->title, "file");
    EXPECT_EQ(source, p.string());
  }
}

TEST_F(ConfigFiles, NoConfigAtAll) {
  Environment env;
  env.set("SAG_API_CONFIG_JSON", "  ");
  std::string source;
  auto r = load_gateway_config(std::nullopt, env, source);
  EXPECT_FALSE(r.config.has_value());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_THAT(r.errors[0].message, HasSubstr("SAG_API_CONFIG_JSON"));
}

TEST(LoadConfigText, WebsocketIdleTimeout) {
  EXPECT_EQ(load(with_paths("[]")).config->gateway.websocket_idle_timeout.count(), 60000);
  auto r = load(with_paths("[]", R"("gateway":{"websocket_idle_timeout_ms":2500})"));
  ASSERT_THAT(to_strings(r.errors), IsEmpty());
  EXPECT_EQ(r.config->gateway.websocket_idle_timeout.count(), 2500);
  for (const char* bad : {"0", "86400001", "\"60s\""}) {
    auto e = load(with_paths("[]", std::string(R"("gateway":{"websocket_idle_timeout_ms":)") + bad + "}"));
    EXPECT_FALSE(e.config.has_value()) << bad;
    EXPECT_THAT(e.errors, Contains(Problem("/gateway/websocket_idle_timeout_ms", ""))) << bad;
  }
}

}  // namespace
}  // namespace workgate::config
