// Request mapping for http_proxy routes: header and query values built from templates such as
// "$request.jwt.sub", "Bearer $request.header.X-Token" or "$request.jwt.sub:$config.tenant".
// Templates are compiled when the config loads; resolving one reads the request without allocating
// beyond the result string.
#pragma once

#include <boost/json/object.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/verifier.hpp"
#include "http/message.hpp"
#include "router/router.hpp"

namespace workgate::integrations {

class ValueTemplate {
 public:
  enum class Source { kLiteral, kHeader, kQuery, kJwt, kPath, kMissing };
  struct Part {
    Source source;
    std::string text;  // the literal text, or the name looked up
  };

  // Sources: $request.header.NAME, $request.query.NAME, $request.jwt.NAME, $request.path.NAME and
  // $config.NAME (route variables over global variables, resolved here, at compile time). NAME is the
  // longest run of [A-Za-z0-9_.-]. Text around and between references is kept literally. Returns nullopt
  // with `error` set for an unknown $request.* source or an empty name.
  static std::optional<ValueTemplate> compile(std::string_view text,
                                              const boost::json::object& route_variables,
                                              const boost::json::object& global_variables,
                                              std::string& error);

  struct Context {
    const http::Request& request;
    const auth::Claims& claims;
    const router::RouteMatch& match;
  };

  // The value, or nullopt when any reference resolves to nothing (the header or parameter is then left
  // unset).
  std::optional<std::string> resolve(const Context& context) const;

  const std::vector<Part>& parts() const { return parts_; }

 private:
  std::vector<Part> parts_;
};

// The first value of `name` in a raw query string (names and values form-decoded); nullopt when absent.
std::optional<std::string> query_parameter(std::string_view query, std::string_view name);

// application/x-www-form-urlencoded encoding, as URLSearchParams serializes.
std::string form_encode(std::string_view text);
std::string form_decode(std::string_view text);

// URLSearchParams.set on a raw query: replaces the first `name` in place, drops later ones, appends when
// absent; other pairs keep their bytes as sent. A nullopt value removes every `name`.
void set_query_parameter(std::string& query, std::string_view name, const std::optional<std::string>& value);

// A JSON value as the original stringifies it into a header (strings as is, arrays joined with ',').
std::optional<std::string> json_to_text(const boost::json::value& value);

}  // namespace workgate::integrations
