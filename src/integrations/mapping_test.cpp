#include "integrations/mapping.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace workgate::integrations {
namespace {

namespace json = boost::json;
using Source = ValueTemplate::Source;

// A request, its claims and its route match; templates compile against `route_vars` / `global_vars`.
class MappingTest : public ::testing::Test {
 protected:
  MappingTest() {
    request_.method = "GET";
    request_.path = "/users/7/orders/x%20y";
    request_.headers.add("X-Token", "tok-123");
    request_.headers.add("Accept", "application/json");
    request_.has_query = true;
    request_.query = "q=hello%20world&plus=a+b&empty=&bare&n%61me=decoded&dup=1&dup=2";
    claims_ = std::make_shared<const json::object>(json::parse(R"({
      "sub": "user-1", "num": 42, "neg": -3, "float": 1.5, "whole": 2.0, "yes": true, "no": false,
      "arr": ["a", 1, true], "nested": ["a", ["b", "c"], null], "obj": {"k": "v", "n": [1]}, "nul": null,
      "str_empty": "", "sub-": "dash", "name": "N"
    })")
                                                       .as_object());
    match_.params.push_back({"id", "7"});
    match_.params.push_back({"order", "x%20y"});
    route_vars_ = json::parse(R"({"tenant": "route-t", "a.b": "route-dotted"})").as_object();
    global_vars_ =
        json::parse(R"({"tenant": "global-t", "region": "eu", "x.y.z": "dotted", "blank": "", "n": 3,
                        "flag": true, "list": ["p", "q"], "nothing": null})")
            .as_object();
  }

  ValueTemplate compile(std::string_view text) {
    std::string error;
    auto t = ValueTemplate::compile(text, route_vars_, global_vars_, error);
    EXPECT_TRUE(t.has_value()) << text << ": " << error;
    EXPECT_EQ(error, "");
    return t ? *t : ValueTemplate{};
  }

  std::string compile_error(std::string_view text) {
    std::string error;
    auto t = ValueTemplate::compile(text, route_vars_, global_vars_, error);
    EXPECT_FALSE(t.has_value()) << text;
    return error;
  }

  std::optional<std::string> resolve(std::string_view text) {
    return compile(text).resolve({request_, claims_, match_});
  }

  http::Request request_;
  auth::Claims claims_;
  router::RouteMatch match_;
  json::object route_vars_;
  json::object global_vars_;
};

// ---------------------------------------------------------------------------------------------------------
// Sources

TEST_F(MappingTest, HeaderIsCaseInsensitive) {
  EXPECT_EQ(resolve("$request.header.X-Token"), "tok-123");
  EXPECT_EQ(resolve("$request.header.x-token"), "tok-123");
  EXPECT_EQ(resolve("$request.header.X-TOKEN"), "tok-123");
  EXPECT_EQ(resolve("$request.header.X-Missing"), std::nullopt);
}

TEST_F(MappingTest, HeaderWithEmptyValueIsSet) {
  request_.headers.add("X-Empty", "");
  EXPECT_EQ(resolve("$request.header.X-Empty"), "");
}

TEST_F(MappingTest, QueryIsDecodedAndEmptyIsUnset) {
  EXPECT_EQ(resolve("$request.query.q"), "hello world");
  EXPECT_EQ(resolve("$request.query.plus"), "a b");
  EXPECT_EQ(resolve("$request.query.name"), "decoded");
  EXPECT_EQ(resolve("$request.query.dup"), "1");
  EXPECT_EQ(resolve("$request.query.empty"), std::nullopt);
  EXPECT_EQ(resolve("$request.query.bare"), std::nullopt);
  EXPECT_EQ(resolve("$request.query.missing"), std::nullopt);
  EXPECT_EQ(resolve("$request.query.Q"), std::nullopt);  // names are case-sensitive
}

TEST_F(MappingTest, QueryWithoutQueryString) {
  request_.has_query = false;
  request_.query.clear();
  EXPECT_EQ(resolve("$request.query.q"), std::nullopt);
}

TEST_F(MappingTest, JwtStrings) {
  EXPECT_EQ(resolve("$request.jwt.sub"), "user-1");
  EXPECT_EQ(resolve("$request.jwt.str_empty"), "");
  EXPECT_EQ(resolve("$request.jwt.missing"), std::nullopt);
}

TEST_F(MappingTest, JwtNumbersAndBooleans) {
  EXPECT_EQ(resolve("$request.jwt.num"), "42");
  EXPECT_EQ(resolve("$request.jwt.neg"), "-3");
  EXPECT_EQ(resolve("$request.jwt.float"), "1.5");
  EXPECT_EQ(resolve("$request.jwt.whole"), "2");
  EXPECT_EQ(resolve("$request.jwt.yes"), "true");
  EXPECT_EQ(resolve("$request.jwt.no"), "false");
}

TEST_F(MappingTest, JwtArraysObjectsAndNull) {
  EXPECT_EQ(resolve("$request.jwt.arr"), "a,1,true");
  EXPECT_EQ(resolve("$request.jwt.nested"), "a,b,c,");
  EXPECT_EQ(resolve("$request.jwt.obj"), R"({"k":"v","n":[1]})");
  EXPECT_EQ(resolve("$request.jwt.nul"), std::nullopt);
}

TEST_F(MappingTest, JwtWithoutClaims) {
  claims_.reset();
  EXPECT_EQ(resolve("$request.jwt.sub"), std::nullopt);
  EXPECT_EQ(resolve("x-$request.header.X-Token"), "x-tok-123");
}

TEST_F(MappingTest, JwtNestedNamesAreFlatKeys) {
  // "obj.k" is looked up as one claim name, not a path into "obj".
  EXPECT_EQ(resolve("$request.jwt.obj.k"), std::nullopt);
}

TEST_F(MappingTest, PathParams) {
  EXPECT_EQ(resolve("$request.path.id"), "7");
  EXPECT_EQ(resolve("$request.path.order"), "x%20y");  // raw, as captured
  EXPECT_EQ(resolve("$request.path.missing"), std::nullopt);
  match_.params.clear();
  EXPECT_EQ(resolve("$request.path.id"), std::nullopt);
}

TEST_F(MappingTest, ConfigRouteOverGlobal) {
  EXPECT_EQ(resolve("$config.tenant"), "route-t");
  EXPECT_EQ(resolve("$config.region"), "eu");
  EXPECT_EQ(resolve("$config.n"), "3");
  EXPECT_EQ(resolve("$config.flag"), "true");
  EXPECT_EQ(resolve("$config.list"), "p,q");
}

TEST_F(MappingTest, ConfigFlatDottedKeys) {
  EXPECT_EQ(resolve("$config.a.b"), "route-dotted");
  EXPECT_EQ(resolve("$config.x.y.z"), "dotted");
}

TEST_F(MappingTest, ConfigEmptyStringIsSet) {
  EXPECT_EQ(resolve("$config.blank"), "");
  EXPECT_EQ(resolve("[$config.blank]"), "[]");
}

TEST_F(MappingTest, ConfigMissingIsUnset) {
  EXPECT_EQ(resolve("$config.missing"), std::nullopt);
  EXPECT_EQ(resolve("$config.nothing"), std::nullopt);
  EXPECT_EQ(resolve("prefix-$config.missing"), std::nullopt);
}

TEST_F(MappingTest, ConfigIsResolvedAtCompileTime) {
  ValueTemplate t = compile("$config.region-$config.tenant");
  // "region-" is not a variable; the greedy name includes the '-'.
  ASSERT_EQ(t.parts().size(), 2u);
  EXPECT_EQ(t.parts()[0].source, Source::kMissing);
  EXPECT_EQ(t.parts()[0].text, "region-");
  EXPECT_EQ(t.parts()[1].source, Source::kLiteral);
  EXPECT_EQ(t.parts()[1].text, "route-t");

  ValueTemplate u = compile("$config.region:$config.tenant");
  ASSERT_EQ(u.parts().size(), 1u);
  EXPECT_EQ(u.parts()[0].source, Source::kLiteral);
  EXPECT_EQ(u.parts()[0].text, "eu:route-t");
}

// ---------------------------------------------------------------------------------------------------------
// Template shapes

TEST_F(MappingTest, LiteralOnly) {
  ValueTemplate t = compile("plain text $ $other.x $request");
  ASSERT_EQ(t.parts().size(), 1u);
  EXPECT_EQ(t.parts()[0].source, Source::kLiteral);
  EXPECT_EQ(resolve("plain text $ $other.x $request"), "plain text $ $other.x $request");
}

TEST_F(MappingTest, EmptyTemplate) {
  ValueTemplate t = compile("");
  EXPECT_TRUE(t.parts().empty());
  EXPECT_EQ(resolve(""), "");
}

TEST_F(MappingTest, EmbeddedReference) {
  EXPECT_EQ(resolve("Bearer $request.header.X-Token"), "Bearer tok-123");
  EXPECT_EQ(resolve("id=$request.path.id;"), "id=7;");
  EXPECT_EQ(resolve("($request.jwt.sub)"), "(user-1)");
  ValueTemplate t = compile("Bearer $request.header.X-Token!");
  ASSERT_EQ(t.parts().size(), 3u);
  EXPECT_EQ(t.parts()[0].source, Source::kLiteral);
  EXPECT_EQ(t.parts()[0].text, "Bearer ");
  EXPECT_EQ(t.parts()[1].source, Source::kHeader);
  EXPECT_EQ(t.parts()[1].text, "X-Token");
  EXPECT_EQ(t.parts()[2].source, Source::kLiteral);
  EXPECT_EQ(t.parts()[2].text, "!");
}

TEST_F(MappingTest, CombinedReferences) {
  EXPECT_EQ(resolve("$request.jwt.sub:$config.tenant"), "user-1:route-t");
  EXPECT_EQ(resolve("$request.path.id/$request.query.q/$request.header.accept"),
            "7/hello world/application/json");
  EXPECT_EQ(resolve("$request.jwt.sub$request.path.id"), "user-17");
  // Any unresolved reference leaves the whole value unset.
  EXPECT_EQ(resolve("$request.jwt.sub:$request.header.X-Missing"), std::nullopt);
  EXPECT_EQ(resolve("$request.query.empty:$request.jwt.sub"), std::nullopt);
}

TEST_F(MappingTest, GreedyNames) {
  ValueTemplate t = compile("$request.jwt.sub-$request.jwt.name");
  ASSERT_EQ(t.parts().size(), 2u);
  EXPECT_EQ(t.parts()[0].source, Source::kJwt);
  EXPECT_EQ(t.parts()[0].text, "sub-");
  EXPECT_EQ(t.parts()[1].source, Source::kJwt);
  EXPECT_EQ(t.parts()[1].text, "name");
  EXPECT_EQ(resolve("$request.jwt.sub-$request.jwt.name"), "dashN");

  ValueTemplate dot = compile("$request.header.X-Token.");
  ASSERT_EQ(dot.parts().size(), 1u);
  EXPECT_EQ(dot.parts()[0].text, "X-Token.");
}

TEST_F(MappingTest, UnknownRequestSourceIsAnError) {
  std::string error = compile_error("$request.body.x");
  EXPECT_NE(error.find("\"$request.body\""), std::string::npos) << error;
  EXPECT_NE(compile_error("prefix $request.cookie.session").find("$request.cookie"), std::string::npos);
  EXPECT_NE(compile_error("$request.headers.X").find("$request.headers"), std::string::npos);
}

TEST_F(MappingTest, EmptyNameIsAnError) {
  EXPECT_NE(compile_error("$request.header.").find("empty name"), std::string::npos);
  EXPECT_NE(compile_error("$request.query.&x").find("empty name"), std::string::npos);
  EXPECT_NE(compile_error("$request.jwt. ").find("empty name"), std::string::npos);
  EXPECT_NE(compile_error("$request.path./").find("empty name"), std::string::npos);
  EXPECT_NE(compile_error("a $config.").find("empty name"), std::string::npos);
  EXPECT_NE(compile_error("$request.header.").find("\"$request.header.\""), std::string::npos);
}

// ---------------------------------------------------------------------------------------------------------
// Query strings

TEST(QueryParameter, FirstValueDecoded) {
  EXPECT_EQ(query_parameter("a=1&b=2&a=3", "a"), "1");
  EXPECT_EQ(query_parameter("a=1&b=2&a=3", "b"), "2");
  EXPECT_EQ(query_parameter("q=a%2Bb+c%zz", "q"), "a+b c%zz");
  EXPECT_EQ(query_parameter("na%6De=v", "name"), "v");
  EXPECT_EQ(query_parameter("a+b=1", "a b"), "1");
  EXPECT_EQ(query_parameter("x=1&&y=2", "y"), "2");
  EXPECT_EQ(query_parameter("k=v=w", "k"), "v=w");
}

TEST(QueryParameter, PresentWithoutValueIsEmpty) {
  EXPECT_EQ(query_parameter("flag", "flag"), "");
  EXPECT_EQ(query_parameter("flag=", "flag"), "");
  EXPECT_EQ(query_parameter("a=1&flag", "flag"), "");
}

TEST(QueryParameter, Absent) {
  EXPECT_EQ(query_parameter("", "a"), std::nullopt);
  EXPECT_EQ(query_parameter("b=1", "a"), std::nullopt);
  EXPECT_EQ(query_parameter("A=1", "a"), std::nullopt);
  EXPECT_EQ(query_parameter("ab=1", "a"), std::nullopt);
  EXPECT_EQ(query_parameter("&&", "a"), std::nullopt);
}

TEST(FormEncoding, Encode) {
  EXPECT_EQ(form_encode(""), "");
  EXPECT_EQ(form_encode("AZaz09*-._"), "AZaz09*-._");
  EXPECT_EQ(form_encode("a b"), "a+b");
  EXPECT_EQ(form_encode("a+b&c=d/e?f#g%h~i!j'k(l)"), "a%2Bb%26c%3Dd%2Fe%3Ff%23g%25h%7Ei%21j%27k%28l%29");
  EXPECT_EQ(form_encode("caf\xC3\xA9"), "caf%C3%A9");
  EXPECT_EQ(form_encode(std::string_view("\0\n", 2)), "%00%0A");
}

TEST(FormEncoding, Decode) {
  EXPECT_EQ(form_decode(""), "");
  EXPECT_EQ(form_decode("a+b%20c"), "a b c");
  EXPECT_EQ(form_decode("%2b%2B"), "++");
  EXPECT_EQ(form_decode("%C3%A9"), "\xC3\xA9");
  EXPECT_EQ(form_decode("%41"), "A");
  EXPECT_EQ(form_decode("x%41"), "xA");
  // Malformed escapes stay as they are.
  EXPECT_EQ(form_decode("%"), "%");
  EXPECT_EQ(form_decode("%4"), "%4");
  EXPECT_EQ(form_decode("a%4"), "a%4");
  EXPECT_EQ(form_decode("%zz%g1"), "%zz%g1");
  EXPECT_EQ(form_decode("%%41"), "%A");
  EXPECT_EQ(form_decode("%00"), std::string(1, '\0'));
}

TEST(FormEncoding, RoundTripEveryByte) {
  std::string all;
  for (int c = 0; c < 256; ++c)
    all.push_back(static_cast<char>(c));
  std::string encoded = form_encode(all);
  for (char c : encoded) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '*' ||
              c == '-' || c == '.' || c == '_' || c == '%' || c == '+';
    EXPECT_TRUE(ok) << "unexpected byte " << int(static_cast<unsigned char>(c));
  }
  EXPECT_EQ(form_decode(encoded), all);
  for (std::string_view s : {"hello world", "a=b&c=d", "100% sure+", "~user/path?x#y", "\xF0\x9F\x98\x80"})
    EXPECT_EQ(form_decode(form_encode(s)), s);
}

std::string set_param(std::string query, std::string_view name, std::optional<std::string> value) {
  set_query_parameter(query, name, value);
  return query;
}

TEST(SetQueryParameter, ReplacesFirstInPlaceAndDropsLaterDuplicates) {
  EXPECT_EQ(set_param("a=1&b=2&a=3", "a", "x y"), "a=x+y&b=2");
  EXPECT_EQ(set_param("b=2&a=1&c=3&a=4&a", "a", "9"), "b=2&a=9&c=3");
  EXPECT_EQ(set_param("a", "a", "1"), "a=1");
}

TEST(SetQueryParameter, AppendsWhenAbsent) {
  EXPECT_EQ(set_param("b=2", "a", "1"), "b=2&a=1");
  EXPECT_EQ(set_param("", "a", "1"), "a=1");
  EXPECT_EQ(set_param("", "a b", "c&d"), "a+b=c%26d");
  EXPECT_EQ(set_param("b=2", "a", ""), "b=2&a=");
}

TEST(SetQueryParameter, RemovesWhenNullopt) {
  EXPECT_EQ(set_param("a=1&b=2&a=3", "a", std::nullopt), "b=2");
  EXPECT_EQ(set_param("a=1", "a", std::nullopt), "");
  EXPECT_EQ(set_param("b=2", "a", std::nullopt), "b=2");
  EXPECT_EQ(set_param("", "a", std::nullopt), "");
}

TEST(SetQueryParameter, OtherPairsKeepTheirBytes) {
  EXPECT_EQ(set_param("x=%41%2b&y=a+b&z&w=%7e", "a", "1"), "x=%41%2b&y=a+b&z&w=%7e&a=1");
  EXPECT_EQ(set_param("x=%41&a=1&y=%zz", "a", "2"), "x=%41&a=2&y=%zz");
  EXPECT_EQ(set_param("x=%41&a=1&y=%zz", "a", std::nullopt), "x=%41&y=%zz");
}

TEST(SetQueryParameter, MatchesDecodedNames) {
  EXPECT_EQ(set_param("a%20b=1&c=2", "a b", "3"), "a+b=3&c=2");
  EXPECT_EQ(set_param("%61=1", "a", "2"), "a=2");
  EXPECT_EQ(set_param("A=1", "a", "2"), "A=1&a=2");
}

TEST(SetQueryParameter, EmptyPairsDropped) {
  EXPECT_EQ(set_param("a=1&&b=2&", "c", "3"), "a=1&b=2&c=3");
  EXPECT_EQ(set_param("&", "c", std::nullopt), "");
}

// ---------------------------------------------------------------------------------------------------------
// json_to_text

TEST(JsonToText, Scalars) {
  EXPECT_EQ(json_to_text(json::value(nullptr)), std::nullopt);
  EXPECT_EQ(json_to_text(json::value("text")), "text");
  EXPECT_EQ(json_to_text(json::value("")), "");
  EXPECT_EQ(json_to_text(json::value(true)), "true");
  EXPECT_EQ(json_to_text(json::value(false)), "false");
  EXPECT_EQ(json_to_text(json::value(std::int64_t{-5})), "-5");
  EXPECT_EQ(json_to_text(json::value(std::numeric_limits<std::uint64_t>::max())), "18446744073709551615");
  EXPECT_EQ(json_to_text(json::value(std::numeric_limits<std::int64_t>::min())), "-9223372036854775808");
}

TEST(JsonToText, Doubles) {
  EXPECT_EQ(json_to_text(json::value(1.5)), "1.5");
  EXPECT_EQ(json_to_text(json::value(-0.25)), "-0.25");
  EXPECT_EQ(json_to_text(json::value(2.0)), "2");
  EXPECT_EQ(json_to_text(json::value(-0.0)), "0");
  EXPECT_EQ(json_to_text(json::value(0.1)), "0.1");
  EXPECT_EQ(json_to_text(json::value(1e21)), "1e+21");
  EXPECT_EQ(json_to_text(json::parse("1e2")), "100");
}

TEST(JsonToText, ArraysAndObjects) {
  EXPECT_EQ(json_to_text(json::parse("[]")), "");
  EXPECT_EQ(json_to_text(json::parse(R"(["a",1,true,1.5])")), "a,1,true,1.5");
  EXPECT_EQ(json_to_text(json::parse(R"([null,"x",null])")), ",x,");
  EXPECT_EQ(json_to_text(json::parse(R"([["a","b"],["c"]])")), "a,b,c");
  EXPECT_EQ(json_to_text(json::parse(R"([{"k":1}])")), R"({"k":1})");
  EXPECT_EQ(json_to_text(json::parse(R"({})")), "{}");
  EXPECT_EQ(json_to_text(json::parse(R"({"a":[1,2],"b":"c\"d"})")), R"({"a":[1,2],"b":"c\"d"})");
}

}  // namespace
}  // namespace workgate::integrations
