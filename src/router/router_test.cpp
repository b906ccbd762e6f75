#include "router/router.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <initializer_list>
#include <iostream>
#include <new>
#include <optional>
#include <ostream>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "common/counting_new_test_support.hpp"
#include "router/route_reference.hpp"

using workgate::testing::g_allocations;

namespace workgate::router {

std::ostream& operator<<(std::ostream& os, MatchClass c) {
  constexpr const char* kNames[] = {"Exact", "Parameter", "Wildcard"};
  return os << kNames[static_cast<int>(c)];
}

namespace {

using Params = std::vector<std::pair<std::string, std::string>>;

struct Result {
  std::size_t route = 0;
  MatchClass match_class = MatchClass::kExact;
  Params params;
  std::string tail;
  bool operator==(const Result&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Result& r) {
  os << "{route " << r.route << ", " << r.match_class << ", params [";
  for (const auto& [name, value] : r.params)
    os << name << "=" << value << " ";
  return os << "], tail '" << r.tail << "'}";
}

Result to_result(const RouteMatch& m) {
  Result r{m.route, m.match_class, {}, std::string(m.wildcard_tail)};
  for (const auto& p : m.params)
    r.params.emplace_back(p.name, p.value);
  return r;
}

std::string describe(std::span<const RouteDefinition> defs) {
  std::ostringstream os;
  for (std::size_t i = 0; i < defs.size(); ++i)
    os << "  " << i << ": " << defs[i].method << " " << defs[i].path << "\n";
  return os.str();
}

// A compiled table that checks every lookup against the reference implementation too.
class Table {
 public:
  Table(std::initializer_list<RouteDefinition> defs) : Table(std::vector<RouteDefinition>(defs)) {}
  explicit Table(std::vector<RouteDefinition> defs) : defs_(std::move(defs)), reference_(defs_) {
    std::vector<CompileError> errors;
    router_ = Router::compile(defs_, errors, &warnings_);
    EXPECT_TRUE(errors.empty()) << errors.front().route << ": " << errors.front().message;
  }

  std::optional<Result> match(std::string_view method, std::string_view path, bool allow_any = true) const {
    RouteMatch got;
    RouteMatch want;
    const bool ok = router_.match(method, path, got, allow_any);
    const bool ref_ok = reference_.match(method, path, want, allow_any);
    EXPECT_EQ(ok, ref_ok) << method << " " << path << "\n" << describe(defs_);
    if (!ok) return std::nullopt;
    if (ref_ok) {
      EXPECT_EQ(to_result(got), to_result(want)) << method << " " << path << "\n" << describe(defs_);
    }
    return to_result(got);
  }
  std::optional<std::size_t> route(std::string_view method, std::string_view path,
                                   bool allow_any = true) const {
    auto m = match(method, path, allow_any);
    return m ? std::optional(m->route) : std::nullopt;
  }

  Table(const Table&) = delete;  // the reference views defs_
  Table& operator=(const Table&) = delete;

  const Router& router() const { return router_; }
  const std::vector<CompileError>& warnings() const { return warnings_; }

 private:
  std::vector<RouteDefinition> defs_;
  reference::ReferenceRouter reference_;
  Router router_;
  std::vector<CompileError> warnings_;
};

TEST(Router, ExactBeatsParameter) {
  for (bool exact_first : {true, false}) {
    Table t = exact_first ? Table({{"GET", "/users/me"}, {"GET", "/users/{id}"}})
                          : Table({{"GET", "/users/{id}"}, {"GET", "/users/me"}});
    const std::size_t exact = exact_first ? 0 : 1;
    EXPECT_EQ(t.match("GET", "/users/me"), (Result{exact, MatchClass::kExact, {}, ""}));
    EXPECT_EQ(t.match("GET", "/users/42"), (Result{1 - exact, MatchClass::kParameter, {{"id", "42"}}, ""}));
  }
}

TEST(Router, ParameterBeatsWildcardWhateverTheOrder) {
  for (bool param_first : {true, false}) {
    Table t = param_first ? Table({{"GET", "/items/{id}"}, {"GET", "/items/{.+}"}})
                          : Table({{"GET", "/items/{.+}"}, {"GET", "/items/{id}"}});
    const std::size_t param = param_first ? 0 : 1;
    EXPECT_EQ(t.route("GET", "/items/123"), param);
    EXPECT_EQ(t.match("GET", "/items/1/2"), (Result{1 - param, MatchClass::kWildcard, {}, "/1/2"}));
    EXPECT_EQ(t.match("GET", "/items"), (Result{1 - param, MatchClass::kWildcard, {}, ""}));
    EXPECT_EQ(t.match("GET", "/items/"), (Result{1 - param, MatchClass::kWildcard, {}, "/"}));
  }
}

TEST(Router, WildcardMatchesBarePrefixAndDeeperPaths) {
  Table t({{"GET", "/a/{.+}"}});
  EXPECT_EQ(t.match("GET", "/a"), (Result{0, MatchClass::kWildcard, {}, ""}));
  EXPECT_EQ(t.match("GET", "/a/"), (Result{0, MatchClass::kWildcard, {}, "/"}));
  EXPECT_EQ(t.match("GET", "/a/b/c"), (Result{0, MatchClass::kWildcard, {}, "/b/c"}));
  EXPECT_EQ(t.match("GET", "/a//"), (Result{0, MatchClass::kWildcard, {}, "//"}));
  EXPECT_EQ(t.match("GET", "/ab"), std::nullopt);
  EXPECT_EQ(t.match("GET", "/"), std::nullopt);
  EXPECT_EQ(t.match("GET", "a/b"), std::nullopt);
}

TEST(Router, RootWildcardMatchesEverything) {
  Table t({{"ANY", "/{.+}"}});
  EXPECT_EQ(t.match("GET", "/"), (Result{0, MatchClass::kWildcard, {}, "/"}));
  EXPECT_EQ(t.match("GET", "/x/y"), (Result{0, MatchClass::kWildcard, {}, "/x/y"}));
  EXPECT_EQ(t.match("GET", ""), (Result{0, MatchClass::kWildcard, {}, ""}));
  EXPECT_EQ(t.match("GET", "no-slash"), std::nullopt);
}

TEST(Router, LongerWildcardPrefixWins) {
  for (bool root_first : {true, false}) {
    Table t = root_first ? Table({{"ANY", "/{.+}"}, {"ANY", "/api/{.+}"}})
                         : Table({{"ANY", "/api/{.+}"}, {"ANY", "/{.+}"}});
    const std::size_t api = root_first ? 1 : 0;
    EXPECT_EQ(t.match("GET", "/api/x/y"), (Result{api, MatchClass::kWildcard, {}, "/x/y"}));
    EXPECT_EQ(t.match("GET", "/api"), (Result{api, MatchClass::kWildcard, {}, ""}));
    EXPECT_EQ(t.match("GET", "/other/x"), (Result{1 - api, MatchClass::kWildcard, {}, "/other/x"}));
  }
  // The prefix length decides before the method: ANY /api/{.+} beats GET /{.+}.
  Table t({{"GET", "/{.+}"}, {"ANY", "/api/{.+}"}});
  EXPECT_EQ(t.route("GET", "/api/x"), 1u);
}

TEST(Router, WildcardPrefixWithParameter) {
  Table t({{"GET", "/u/{id}/{.+}"}, {"GET", "/u/{.+}"}});
  EXPECT_EQ(t.match("GET", "/u/7/files/a.txt"),
            (Result{0, MatchClass::kWildcard, {{"id", "7"}}, "/files/a.txt"}));
  EXPECT_EQ(t.match("GET", "/u/7"), (Result{0, MatchClass::kWildcard, {{"id", "7"}}, ""}));
  EXPECT_EQ(t.match("GET", "/u//x"), (Result{1, MatchClass::kWildcard, {}, "//x"}));
}

TEST(Router, ParametersBeatWildcardAtAnyDepth) {
  Table t({{"GET", "/api/{.+}"}, {"GET", "/api/{x}/{y}"}});
  EXPECT_EQ(t.match("GET", "/api/a/b"), (Result{1, MatchClass::kParameter, {{"x", "a"}, {"y", "b"}}, ""}));
  EXPECT_EQ(t.match("GET", "/api/a/b/c"), (Result{0, MatchClass::kWildcard, {}, "/a/b/c"}));
  EXPECT_EQ(t.match("GET", "/api/a/"), (Result{0, MatchClass::kWildcard, {}, "/a/"}));
}

TEST(Router, SpecificMethodBeatsAnyInEitherOrder) {
  for (bool any_first : {true, false}) {
    Table t = any_first ? Table({{"ANY", "/x"}, {"GET", "/x"}}) : Table({{"GET", "/x"}, {"ANY", "/x"}});
    const std::size_t get = any_first ? 1 : 0;
    EXPECT_EQ(t.route("GET", "/x"), get);
    EXPECT_EQ(t.route("POST", "/x"), 1 - get);
    EXPECT_TRUE(t.warnings().empty());
  }
  // Within one class the method decides before config order, across different patterns too.
  Table t({{"ANY", "/x/{a}"}, {"GET", "/{b}/y"}});
  EXPECT_EQ(t.route("GET", "/x/y"), 1u);
  EXPECT_EQ(t.route("PUT", "/x/y"), 0u);
}

TEST(Router, FirstListedWinsBetweenEquivalentPatterns) {
  Table t({{"GET", "/x/{p}"}, {"GET", "/x/{q}"}});
  EXPECT_EQ(t.match("GET", "/x/1"), (Result{0, MatchClass::kParameter, {{"p", "1"}}, ""}));
  ASSERT_EQ(t.warnings().size(), 1u);
  EXPECT_EQ(t.warnings()[0].route, 1u);
  EXPECT_NE(t.warnings()[0].message.find("route 0"), std::string::npos) << t.warnings()[0].message;
}

TEST(Router, ConfigOrderDecidesBetweenOverlappingParameters) {
  Table t({{"GET", "/{a}/x"}, {"GET", "/y/{b}"}});
  EXPECT_EQ(t.route("GET", "/y/x"), 0u);
  Table u({{"GET", "/y/{b}"}, {"GET", "/{a}/x"}});
  EXPECT_EQ(u.route("GET", "/y/x"), 0u);
  EXPECT_TRUE(t.warnings().empty());
}

TEST(Router, ParameterNeverMatchesEmptySegment) {
  Table t({{"GET", "/a/{id}"}});
  EXPECT_EQ(t.route("GET", "/a/"), std::nullopt);
  EXPECT_EQ(t.route("GET", "/a"), std::nullopt);
  EXPECT_EQ(t.route("GET", "/a/1"), 0u);
  Table u({{"GET", "/{x}/b"}});
  EXPECT_EQ(u.route("GET", "//b"), std::nullopt);
}

TEST(Router, TrailingSlashIsSignificant) {
  Table t({{"GET", "/health"}, {"GET", "/health/"}});
  EXPECT_EQ(t.route("GET", "/health"), 0u);
  EXPECT_EQ(t.route("GET", "/health/"), 1u);
  Table only({{"GET", "/health"}});
  EXPECT_EQ(only.route("GET", "/health/"), std::nullopt);
}

TEST(Router, PathsAndMethodsAreCaseSensitive) {
  Table t({{"GET", "/Users"}, {"ANY", "/users"}});
  EXPECT_EQ(t.route("GET", "/Users"), 0u);
  EXPECT_EQ(t.route("GET", "/users"), 1u);
  EXPECT_EQ(t.route("get", "/Users"), std::nullopt);
  EXPECT_EQ(t.route("get", "/users"), 1u);
  EXPECT_EQ(t.route("GET", "/USERS"), std::nullopt);
}

TEST(Router, CustomMethodsCompareExactly) {
  Table t({{"PURGE", "/c"}, {"get", "/c"}, {"ANY", "/c"}});
  EXPECT_EQ(t.route("PURGE", "/c"), 0u);
  EXPECT_EQ(t.route("get", "/c"), 1u);
  EXPECT_EQ(t.route("GET", "/c"), 2u);
  EXPECT_EQ(t.route("purge", "/c"), 2u);
  EXPECT_EQ(t.route("ANY", "/c"), 2u);
}

TEST(Router, EveryKnownMethod) {
  const std::vector<std::string> methods = {"GET", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "HEAD"};
  std::vector<RouteDefinition> defs;
  for (const auto& m : methods)
    defs.push_back({m, "/r"});
  Table t(defs);
  for (std::size_t i = 0; i < methods.size(); ++i)
    EXPECT_EQ(t.route(methods[i], "/r"), i);
  EXPECT_EQ(t.route("TRACE", "/r"), std::nullopt);
}

TEST(Router, PercentEncodedSegmentsAreRaw) {
  Table t({{"GET", "/users/{id}"}, {"GET", "/files/a%20b"}});
  EXPECT_EQ(t.match("GET", "/users/a%20b%2Fc"),
            (Result{0, MatchClass::kParameter, {{"id", "a%20b%2Fc"}}, ""}));
  EXPECT_EQ(t.route("GET", "/files/a%20b"), 1u);
  EXPECT_EQ(t.route("GET", "/files/a b"), std::nullopt);
  EXPECT_EQ(t.route("GET", "/users/a/b"), std::nullopt);
}

TEST(Router, SegmentCountMustMatch) {
  Table t({{"GET", "/a/{x}/c"}, {"GET", "/a/b"}});
  EXPECT_EQ(t.route("GET", "/a/b/c/d"), std::nullopt);
  EXPECT_EQ(t.route("GET", "/a/b/c"), 0u);
  EXPECT_EQ(t.route("GET", "/a"), std::nullopt);
  EXPECT_EQ(t.route("GET", "/a/b/"), std::nullopt);
}

TEST(Router, EmptySegments) {
  Table t({{"GET", "/a//b"}, {"GET", "/a/{x}/b"}});
  EXPECT_EQ(t.match("GET", "/a//b"), (Result{0, MatchClass::kExact, {}, ""}));
  EXPECT_EQ(t.route("GET", "/a/b"), std::nullopt);
  EXPECT_EQ(t.match("GET", "/a/z/b"), (Result{1, MatchClass::kParameter, {{"x", "z"}}, ""}));
  Table root({{"GET", "/"}, {"GET", "//"}});
  EXPECT_EQ(root.route("GET", "/"), 0u);
  EXPECT_EQ(root.route("GET", "//"), 1u);
  EXPECT_EQ(root.route("GET", ""), std::nullopt);
}

TEST(Router, ParamsInRouteOrderPointingIntoRequest) {
  Table t({{"GET", "/o/{org}/r/{repo}/i/{n}"}});
  EXPECT_EQ(t.match("GET", "/o/acme/r/gate/i/12"),
            (Result{0, MatchClass::kParameter, {{"org", "acme"}, {"repo", "gate"}, {"n", "12"}}, ""}));
  const std::string path = "/o/acme/r/gate/i/12";
  RouteMatch m;
  ASSERT_TRUE(t.router().match("GET", path, m));
  for (const auto& p : m.params) {
    EXPECT_GE(p.value.data(), path.data());
    EXPECT_LE(p.value.data() + p.value.size(), path.data() + path.size());
  }
}

TEST(Router, AllowAnyFalseExcludesAnyRoutes) {
  Table t({{"ANY", "/p"}, {"OPTIONS", "/q"}, {"ANY", "/q"}, {"ANY", "/{.+}"}});
  EXPECT_EQ(t.route("OPTIONS", "/p", false), std::nullopt);
  EXPECT_EQ(t.route("OPTIONS", "/p", true), 0u);
  EXPECT_EQ(t.route("OPTIONS", "/q", false), 1u);
  EXPECT_EQ(t.route("OPTIONS", "/z", false), std::nullopt);
}

TEST(Router, ReusedMatchIsResetAndDoesNotAllocate) {
  Table t({{"GET", "/u/{a}/{b}/{.+}"}, {"GET", "/x"}, {"GET", "/v/{id}"}});
  RouteMatch m;
  ASSERT_TRUE(t.router().match("GET", "/u/1/2/rest", m));
  EXPECT_EQ(m.params.size(), 2u);
  EXPECT_EQ(m.wildcard_tail, "/rest");
  ASSERT_TRUE(t.router().match("GET", "/x", m));
  EXPECT_TRUE(m.params.empty());
  EXPECT_EQ(m.wildcard_tail, "");
  EXPECT_EQ(m.match_class, MatchClass::kExact);
  EXPECT_FALSE(t.router().match("GET", "/u/1/2/rest/../more", m) && m.params.empty());
  EXPECT_FALSE(t.router().match("GET", "/nope", m));
  EXPECT_TRUE(m.params.empty());

  const std::size_t before = g_allocations.load();
  for (int i = 0; i < 100; ++i) {
    t.router().match("GET", "/u/1/2/rest", m);
    t.router().match("GET", "/v/9", m);
    t.router().match("GET", "/x", m);
    t.router().match("DELETE", "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t/u/v/w/x/y/z", m);
  }
  EXPECT_EQ(g_allocations.load(), before);
}

TEST(Router, VeryDeepRequestPaths) {
  Table t({{"ANY", "/{.+}"}, {"GET", "/a/{.+}"}});
  std::string deep;
  for (int i = 0; i < 10000; ++i)
    deep += "/a";
  EXPECT_EQ(t.match("GET", deep), (Result{1, MatchClass::kWildcard, {}, deep.substr(2)}));
  EXPECT_EQ(t.route("POST", deep), 0u);
}

TEST(Router, EmptyRouter) {
  Router empty;
  RouteMatch m;
  EXPECT_FALSE(empty.match("GET", "/", m));
  EXPECT_EQ(empty.size(), 0u);
  EXPECT_TRUE(empty.priority_order().empty());
  Table none(std::vector<RouteDefinition>{});
  EXPECT_EQ(none.route("GET", "/"), std::nullopt);

  const std::vector<RouteDefinition> defs = {{"GET", "/x"}};
  std::vector<CompileError> errors;
  Router router = Router::compile(defs, errors);
  Router moved = std::move(router);
  EXPECT_TRUE(moved.match("GET", "/x", m));
  EXPECT_EQ(moved.size(), 1u);
  router = std::move(moved);
  EXPECT_TRUE(router.match("GET", "/x", m));
}

TEST(RouterCompile, Errors) {
  const std::vector<RouteDefinition> defs = {
      {"", "/a"},             // 0 empty method
      {"GET", "a/b"},         // 1 no leading slash
      {"GET", ""},            // 2 no leading slash
      {"GET", "/a/{.+}/b"},   // 3 wildcard not last
      {"GET", "/{}"},         // 4 empty parameter name
      {"GET", "/{x}/y/{x}"},  // 5 parameter used twice
      {"GET", "/ok/{x}"},     // 6 fine
      {"GET", "/ok/{x}"},     // 7 duplicate of 6
      {"ANY", "/ok/{x}"},     // 8 fine: another method
      {"GET", "/{.+}/{.+}"},  // 9 wildcard not last
      {"GET", "/{x}/{.+}"},   // 10 fine
  };
  std::vector<CompileError> errors;
  std::vector<CompileError> warnings;
  Router router = Router::compile(defs, errors, &warnings);
  EXPECT_EQ(router.size(), 0u);
  RouteMatch m;
  EXPECT_FALSE(router.match("GET", "/ok/1", m));

  std::vector<std::pair<std::size_t, std::string>> got;
  for (const auto& e : errors)
    got.emplace_back(e.route, e.message);
  const std::vector<std::pair<std::size_t, std::string>> want = {
      {0, "empty method"},
      {1, "path must start with '/'"},
      {2, "path must start with '/'"},
      {3, "{.+} is only allowed as the last segment"},
      {4, "empty parameter name {}"},
      {5, "parameter name 'x' used twice"},
      {7, "duplicate of route 6"},
      {9, "{.+} is only allowed as the last segment"},
  };
  EXPECT_EQ(got, want);
}

TEST(RouterCompile, ErrorsAreReplacedNotAppended) {
  std::vector<CompileError> errors = {{99, "stale"}};
  std::vector<CompileError> warnings = {{99, "stale"}};
  const std::vector<RouteDefinition> defs = {{"GET", "/a"}};
  Router router = Router::compile(defs, errors, &warnings);
  EXPECT_TRUE(errors.empty());
  EXPECT_TRUE(warnings.empty());
  EXPECT_EQ(router.size(), 1u);
}

TEST(RouterCompile, SegmentsThatAreNotParameters) {
  // Only "{...}" with both braces is a parameter; "{.+}" exactly is the wildcard.
  Table t({{"GET", "/{a"}, {"GET", "/b}"}, {"GET", "/{.*}"}, {"GET", "/x{y}"}, {"GET", "/p/{.+}x"}});
  EXPECT_EQ(t.route("GET", "/{a"), 0u);
  EXPECT_EQ(t.route("GET", "/b}"), 1u);
  EXPECT_EQ(t.match("GET", "/zz"), (Result{2, MatchClass::kParameter, {{".*", "zz"}}, ""}));
  EXPECT_EQ(t.route("GET", "/x{y}"), 3u);
  EXPECT_EQ(t.route("GET", "/p/{.+}x"), 4u);
  EXPECT_EQ(t.route("GET", "/p/q"), std::nullopt);
}

TEST(RouterCompile, Warnings) {
  const std::vector<RouteDefinition> defs = {
      {"GET", "/x/{a}"},       // 0
      {"GET", "/x/{b}"},       // 1 shadowed by 0
      {"POST", "/x/{b}"},      // 2 fine: other method
      {"ANY", "/x/{c}"},       // 3 fine
      {"ANY", "/x/{d}"},       // 4 shadowed by 3
      {"GET", "/w/{p}/{.+}"},  // 5
      {"GET", "/w/{q}/{.+}"},  // 6 shadowed by 5
      {"GET", "/w/{q}"},       // 7 fine: other shape
  };
  std::vector<CompileError> errors;
  std::vector<CompileError> warnings;
  Router router = Router::compile(defs, errors, &warnings);
  EXPECT_TRUE(errors.empty());
  EXPECT_EQ(router.size(), defs.size());
  ASSERT_EQ(warnings.size(), 3u);
  EXPECT_EQ(warnings[0].route, 1u);
  EXPECT_EQ(warnings[1].route, 4u);
  EXPECT_EQ(warnings[2].route, 6u);
  EXPECT_EQ(warnings[2].message, "can never match: same method and pattern as route 5");
  Router quiet = Router::compile(defs, errors);  // warnings are optional
  EXPECT_EQ(quiet.size(), defs.size());
}

TEST(Router, PriorityOrder) {
  const std::vector<RouteDefinition> defs = {
      {"ANY", "/{.+}"},       // 0 wildcard, prefix 1
      {"GET", "/a/{id}"},     // 1 parameter, 3 segments
      {"ANY", "/a/b"},        // 2 exact, ANY
      {"GET", "/a/b"},        // 3 exact
      {"GET", "/api/{.+}"},   // 4 wildcard, prefix 2
      {"GET", "/a/{x}/{y}"},  // 5 parameter, 4 segments
      {"GET", "/z"},          // 6 exact, 2 segments
      {"ANY", "/api/{.+}"},   // 7 wildcard, prefix 2, ANY
  };
  std::vector<CompileError> errors;
  Router router = Router::compile(defs, errors);
  ASSERT_TRUE(errors.empty());
  EXPECT_EQ(router.priority_order(), (std::vector<std::size_t>{3, 2, 6, 5, 1, 4, 7, 0}));
}

// ---- Randomized comparison with the reference implementation ----

struct Generator {
  std::mt19937 rng;

  std::size_t below(std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng); }
  bool chance(int percent) { return below(100) < static_cast<std::size_t>(percent); }
  template <typename T, std::size_t N>
  const T& pick(const T (&items)[N]) {
    return items[below(N)];
  }

  std::vector<RouteDefinition> table() {
    static const std::string kMethods[] = {"GET", "GET", "POST", "ANY", "ANY", "OPTIONS", "PURGE", "get"};
    static const std::string kLiterals[] = {"a", "b", "ab", ""};
    static const std::string kParams[] = {"{x}", "{y}", "{z}"};
    std::vector<RouteDefinition> defs(1 + below(60));
    for (auto& def : defs) {
      def.method = pick(kMethods);
      const std::size_t segments = below(5);
      for (std::size_t k = 0; k < segments; ++k)
        def.path += "/" + (chance(35) ? pick(kParams) : pick(kLiterals));
      if (chance(25)) def.path += "/{.+}";
      if (def.path.empty()) def.path = "/";
    }
    return defs;
  }

  std::string request_path(std::span<const RouteDefinition> defs) {
    static const std::string kSegments[] = {"a", "b", "ab", "", "c", "a%2F"};
    static const std::string kOdd[] = {"", "/", "//", "a", "*", "a/b"};
    std::string path;
    if (chance(5)) return pick(kOdd);
    if (chance(40)) {
      const std::size_t segments = below(6);
      for (std::size_t k = 0; k < segments; ++k)
        path += "/" + pick(kSegments);
      if (path.empty()) path = "/";
    } else {
      static const std::string kValues[] = {"a", "b", "v", "", "ab"};
      static const std::string kTails[] = {"", "/", "/a", "/a/b", "//", "/{.+}"};
      const auto pattern = reference::split(defs[below(defs.size())].path);
      for (auto segment : std::span(pattern).subspan(1)) {
        if (segment == "{.+}") {
          path += pick(kTails);
        } else {
          path += "/" + (reference::is_param(segment) ? pick(kValues) : std::string(segment));
        }
      }
    }
    if (chance(15)) path += "/";
    return path;
  }
};

TEST(RouterRandomized, AgreesWithReference) {
  constexpr std::uint32_t kSeed = 0x5eed2024;
  constexpr int kTables = 2000;
  constexpr int kRequests = 1000;
  static const std::string kMethods[] = {"GET", "POST", "PUT", "OPTIONS", "ANY", "get", "PURGE", "DELETE"};
  std::size_t by_class[3] = {};
  for (int table = 0; table < kTables; ++table) {
    const std::uint32_t seed = kSeed + static_cast<std::uint32_t>(table);
    Generator gen{std::mt19937(seed)};
    std::vector<RouteDefinition> defs = gen.table();

    // Drop the routes the generator made invalid (e.g. "{x}" twice, "{.+}" in the middle, duplicates).
    std::vector<CompileError> errors;
    Router::compile(defs, errors);
    for (auto it = errors.rbegin(); it != errors.rend(); ++it) {
      if (it->route < defs.size()) defs.erase(defs.begin() + static_cast<std::ptrdiff_t>(it->route));
    }
    if (defs.empty()) continue;
    const Router router = Router::compile(defs, errors);
    ASSERT_TRUE(errors.empty()) << "seed " << seed << "\n" << describe(defs);
    const reference::ReferenceRouter reference(defs);

    RouteMatch got;
    RouteMatch want;
    for (int r = 0; r < kRequests; ++r) {
      const std::string path = gen.request_path(defs);
      const std::string& method = gen.pick(kMethods);
      const bool allow_any = !gen.chance(10);
      const bool ok = router.match(method, path, got, allow_any);
      const bool ref_ok = reference.match(method, path, want, allow_any);
      if (ok) ++by_class[static_cast<int>(got.match_class)];
      ASSERT_EQ(ok, ref_ok) << "seed " << seed << ", request " << method << " " << path
                            << " allow_any=" << allow_any << "\n"
                            << describe(defs);
      if (ok) {
        ASSERT_EQ(to_result(got), to_result(want))
            << "seed " << seed << ", request " << method << " " << path << " allow_any=" << allow_any << "\n"
            << describe(defs);
      }
    }
  }
  // The generator must produce plenty of hits of every class for the comparison to mean something.
  for (std::size_t hits : by_class)
    EXPECT_GT(hits, static_cast<std::size_t>(kTables) * kRequests / 20);
  std::cout << "hits: exact " << by_class[0] << ", parameter " << by_class[1] << ", wildcard " << by_class[2]
            << " of " << kTables * kRequests << " requests\n";
}

}  // namespace
}  // namespace workgate::router
