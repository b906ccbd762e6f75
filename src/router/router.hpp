// Route matching: method + path -> the route that wins under the gateway's priority rules.
//
// Priority (docs/compatibility.md explains where this differs from the original):
//   1. match class: Exact (only literal segments) > Parameter (a {name} segment, no {.+}) > Wildcard ({.+});
//   2. within Wildcard: more prefix segments (the segments before {.+}) first;
//   3. a route whose method equals the request method before an ANY route;
//   4. config order (lower route index first).
// Semantics:
//   - paths are split on '/'; "/a/b" has segments "", "a", "b" (a leading empty segment like the original);
//   - a literal segment matches byte-for-byte (case-sensitive, percent-encoding not decoded);
//   - a segment that starts with '{' and ends with '}' and is not exactly "{.+}" is a parameter: it matches
//     any NON-EMPTY request segment and captures it raw;
//   - "{.+}" must be the last segment; "/p/{.+}" matches "/p", "/p/" and "/p/<anything>"; "/{.+}" matches
//     every path;
//   - otherwise the request must have exactly as many segments as the route.
// Method "ANY" matches every request method; other methods compare case-sensitively with the request's.
// The compiled structure is a segment trie: lookup cost depends on the path's depth, not the route count.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace workgate::router {

enum class MatchClass : std::uint8_t { kExact = 0, kParameter = 1, kWildcard = 2 };

struct RouteDefinition {
  std::string method;  // "GET", "POST", ..., "HEAD", or "ANY"
  std::string path;    // as written in the config, e.g. "/users/{id}" or "/files/{.+}"
};

// A problem with one route definition found by Router::compile.
struct CompileError {
  std::size_t route = 0;  // index into the definitions
  std::string message;    // e.g. "{.+} is only allowed as the last segment"
};

struct PathParam {
  std::string_view name;   // points into the Router's storage (valid as long as the Router lives)
  std::string_view value;  // points into the request path passed to match()
};

struct RouteMatch {
  std::size_t route = 0;  // index into the definitions passed to compile()
  MatchClass match_class = MatchClass::kExact;
  // Parameters in the order they appear in the route path. The vector is cleared and refilled by match();
  // callers reuse one RouteMatch so that its capacity is kept between requests.
  std::vector<PathParam> params;
  // For kWildcard: the part of the request path after the route's prefix segments, starting with '/'
  // ("" when the request path equals the bare prefix). Points into the request path.
  std::string_view wildcard_tail;
};

class Router {
 public:
  struct Compiled;  // implementation detail (trie)

  Router();
  Router(Router&&) noexcept;
  Router& operator=(Router&&) noexcept;
  ~Router();

  // Builds the matcher. Errors: a malformed pattern ({.+} not last, empty parameter name "{}", a parameter
  // name used twice in one path, a path not starting with '/'), an empty method, or an exact duplicate of an
  // earlier route's method + path. On any error `errors` is filled and an empty router is returned.
  // `warnings` receives routes that can never win (same method and a pattern equivalent to an earlier
  // route's, e.g. "/x/{a}" after "/x/{b}").
  static Router compile(std::span<const RouteDefinition> routes, std::vector<CompileError>& errors,
                        std::vector<CompileError>* warnings = nullptr);

  // Finds the winning route for `method` + `path` (path only: no query string). When `allow_any` is false,
  // ANY routes do not take part (used to find explicit OPTIONS routes for CORS preflight).
  bool match(std::string_view method, std::string_view path, RouteMatch& out, bool allow_any = true) const;

  std::size_t size() const;

  // The routes in the order the matcher prefers them when several match one request (class, prefix length,
  // method specificity, config order): for `workgate routes`. Each entry is a route index.
  std::vector<std::size_t> priority_order() const;

 private:
  std::unique_ptr<Compiled> compiled_;
};

}  // namespace workgate::router
