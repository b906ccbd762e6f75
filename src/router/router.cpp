#include "router/router.hpp"

#include <algorithm>
#include <array>
#include <functional>
#include <limits>
#include <map>
#include <numeric>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace workgate::router {
namespace {

constexpr std::uint32_t kNone = std::numeric_limits<std::uint32_t>::max();
constexpr std::string_view kWildcard = "{.+}";
constexpr std::string_view kAny = "ANY";
constexpr std::array<std::string_view, 7> kKnownMethods = {"GET",     "POST",  "PUT", "DELETE",
                                                           "OPTIONS", "PATCH", "HEAD"};

bool is_param(std::string_view segment) {
  return segment.size() >= 2 && segment.front() == '{' && segment.back() == '}' && segment != kWildcard;
}

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> segments;
  for (std::size_t pos = 0;;) {
    const std::size_t slash = path.find('/', pos);
    segments.push_back(path.substr(pos, slash - pos));
    if (slash == std::string_view::npos) return segments;
    pos = slash + 1;
  }
}

// Where the segment starting at `pos` ends: the next '/' or the end of the path. A plain loop beats a
// memchr call on typical (short) segments.
std::size_t segment_end(std::string_view path, std::size_t pos) {
  while (pos < path.size() && path[pos] != '/')
    ++pos;
  return pos;
}

struct SegmentHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

// Lower is better; the order of MatchClass already encodes Exact > Parameter > Wildcard.
auto priority_key(MatchClass match_class, std::uint32_t segments, bool any, std::size_t route) {
  return std::tuple(match_class, -static_cast<std::int64_t>(segments), any, route);
}

}  // namespace

struct Router::Compiled {
  struct Node {
    std::unordered_map<std::string, std::uint32_t, SegmentHash, std::equal_to<>> literals;
    std::uint32_t param = kNone;     // child node for any non-empty segment
    std::uint32_t exact = kNone;     // terminal of routes ending here
    std::uint32_t wildcard = kNone;  // terminal of routes whose {.+} follows this node
  };
  struct Route {
    MatchClass match_class = MatchClass::kExact;
    bool any = false;
    std::uint32_t segments = 0;  // for wildcard routes: the prefix segments
    std::uint32_t params_begin = 0;
    std::uint32_t params_end = 0;
  };
  struct Param {
    std::string_view name;  // into `paths`
    std::uint32_t segment = 0;
  };

  // Method ids: kKnownMethods, then `extra_methods` (custom methods seen in the config); the last slot of
  // a terminal is ANY. A request method without an id can only match ANY routes.
  std::uint32_t method_id(std::string_view method) const {
    for (std::size_t i = 0; i < kKnownMethods.size(); ++i) {
      if (kKnownMethods[i] == method) return static_cast<std::uint32_t>(i);
    }
    for (std::size_t i = 0; i < extra_methods.size(); ++i) {
      if (extra_methods[i] == method) return static_cast<std::uint32_t>(kKnownMethods.size() + i);
    }
    return kNone;
  }
  std::uint32_t any_slot() const { return static_cast<std::uint32_t>(stride - 1); }

  std::uint32_t child(std::uint32_t node, std::string_view segment) {
    const bool param = is_param(segment);
    if (param && nodes[node].param != kNone) return nodes[node].param;
    if (!param) {
      if (auto it = nodes[node].literals.find(segment); it != nodes[node].literals.end()) return it->second;
    }
    const auto id = static_cast<std::uint32_t>(nodes.size());
    nodes.emplace_back();  // invalidates references into `nodes`
    if (param) {
      nodes[node].param = id;
    } else {
      nodes[node].literals.emplace(segment, id);
    }
    return id;
  }

  std::vector<std::string> paths;  // owns the parameter names
  std::vector<std::string> extra_methods;
  std::size_t stride = 0;  // slots per terminal: one per method id plus ANY
  std::vector<Node> nodes;
  std::vector<std::uint32_t> terminals;  // stride slots each: lowest route index per method id, kNone if none
  std::vector<Route> routes;
  std::vector<Param> params;
};

namespace {

struct Candidate {
  std::uint32_t route = kNone;
  MatchClass match_class = MatchClass::kExact;
  bool any = false;
  std::uint32_t prefix = 0;  // wildcard only
  std::size_t tail = std::string_view::npos;

  auto key() const { return priority_key(match_class, prefix, any, route); }
};

// One lookup: a depth-first walk of the trie that keeps the best candidate seen so far.
class Search {
 public:
  Search(const Router::Compiled& compiled, std::string_view method, std::string_view path, bool allow_any)
      : c_(compiled), path_(path), method_(compiled.method_id(method)), allow_any_(allow_any) {}

  // `pos` is where the next request segment starts in the path, npos once all segments are consumed.
  // The recursion is as deep as the deepest matching route, not the request path, so any path depth works.
  void visit(std::uint32_t node_id, std::uint32_t depth, std::size_t pos, bool via_param) {
    const auto& node = c_.nodes[node_id];
    if (node.wildcard != kNone && (!found() || best_.match_class == MatchClass::kWildcard)) {
      consider(node.wildcard, MatchClass::kWildcard, depth, pos);
    }
    if (pos == std::string_view::npos) {
      if (node.exact != kNone) {
        consider(node.exact, via_param ? MatchClass::kParameter : MatchClass::kExact, depth, pos);
      }
      return;
    }
    const std::size_t end = segment_end(path_, pos);
    const std::string_view segment = path_.substr(pos, end - pos);
    const std::size_t next = end == path_.size() ? std::string_view::npos : end + 1;
    if (auto it = node.literals.find(segment); it != node.literals.end()) {
      visit(it->second, depth + 1, next, via_param);
      if (found() && best_.match_class == MatchClass::kExact) return;  // only one all-literal path exists
    }
    if (node.param != kNone && !segment.empty()) visit(node.param, depth + 1, next, true);
  }

  bool found() const { return best_.route != kNone; }
  const Candidate& best() const { return best_; }

 private:
  void consider(std::uint32_t terminal, MatchClass match_class, std::uint32_t depth, std::size_t pos) {
    const std::uint32_t* slots = &c_.terminals[terminal * c_.stride];
    Candidate candidate{
        .match_class = match_class, .prefix = match_class == MatchClass::kWildcard ? depth : 0, .tail = pos};
    if (method_ != kNone && slots[method_] != kNone) {
      candidate.route = slots[method_];
    } else if (allow_any_ && slots[c_.any_slot()] != kNone) {
      candidate.route = slots[c_.any_slot()];
      candidate.any = true;
    } else {
      return;
    }
    if (!found() || candidate.key() < best_.key()) best_ = candidate;
  }

  const Router::Compiled& c_;
  std::string_view path_;
  std::uint32_t method_;
  bool allow_any_;
  Candidate best_;
};

}  // namespace

Router::Router() = default;
Router::Router(Router&&) noexcept = default;
Router& Router::operator=(Router&&) noexcept = default;
Router::~Router() = default;

Router Router::compile(std::span<const RouteDefinition> routes, std::vector<CompileError>& errors,
                       std::vector<CompileError>* warnings) {
  errors.clear();
  if (warnings != nullptr) warnings->clear();

  auto c = std::make_unique<Compiled>();
  c->paths.reserve(routes.size());
  for (const auto& route : routes) {
    c->paths.push_back(route.path);  // never resized again: parameter names view these strings
  }

  std::map<std::pair<std::string_view, std::string_view>, std::size_t> seen;
  for (std::size_t i = 0; i < routes.size(); ++i) {
    const auto error = [&](std::string message) { errors.push_back({i, std::move(message)}); };
    const auto& route = routes[i];
    if (route.method.empty()) error("empty method");
    if (!route.path.starts_with('/')) error("path must start with '/'");
    const auto segments = split_path(route.path);
    std::unordered_set<std::string_view> names;
    for (std::size_t k = 0; k < segments.size(); ++k) {
      if (segments[k] == kWildcard && k + 1 != segments.size()) {
        error("{.+} is only allowed as the last segment");
      } else if (is_param(segments[k])) {
        const auto name = segments[k].substr(1, segments[k].size() - 2);
        if (name.empty()) {
          error("empty parameter name {}");
        } else if (!names.insert(name).second) {
          error("parameter name '" + std::string(name) + "' used twice");
        }
      }
    }
    if (auto [it, inserted] = seen.try_emplace({route.method, route.path}, i); !inserted) {
      error("duplicate of route " + std::to_string(it->second));
    }
    if (route.method != kAny && c->method_id(route.method) == kNone) c->extra_methods.push_back(route.method);
  }
  if (!errors.empty()) return Router{};

  c->stride = kKnownMethods.size() + c->extra_methods.size() + 1;
  c->nodes.emplace_back();
  for (std::size_t i = 0; i < routes.size(); ++i) {
    auto segments = split_path(c->paths[i]);
    const bool wildcard = segments.back() == kWildcard;
    if (wildcard) segments.pop_back();

    Compiled::Route info{.any = routes[i].method == kAny,
                         .segments = static_cast<std::uint32_t>(segments.size()),
                         .params_begin = static_cast<std::uint32_t>(c->params.size())};
    std::uint32_t node = 0;
    for (std::size_t k = 0; k < segments.size(); ++k) {
      if (is_param(segments[k])) {
        c->params.push_back({segments[k].substr(1, segments[k].size() - 2), static_cast<std::uint32_t>(k)});
      }
      node = c->child(node, segments[k]);
    }
    info.params_end = static_cast<std::uint32_t>(c->params.size());
    info.match_class = wildcard                               ? MatchClass::kWildcard
                       : info.params_end != info.params_begin ? MatchClass::kParameter
                                                              : MatchClass::kExact;
    c->routes.push_back(info);

    std::uint32_t& terminal = wildcard ? c->nodes[node].wildcard : c->nodes[node].exact;
    if (terminal == kNone) {
      terminal = static_cast<std::uint32_t>(c->terminals.size() / c->stride);
      c->terminals.resize(c->terminals.size() + c->stride, kNone);
    }
    std::uint32_t& slot =
        c->terminals[terminal * c->stride + (info.any ? c->any_slot() : c->method_id(routes[i].method))];
    if (slot == kNone) {
      slot = static_cast<std::uint32_t>(i);
    } else if (warnings != nullptr) {
      warnings->push_back({i, "can never match: same method and pattern as route " + std::to_string(slot)});
    }
  }

  Router router;
  router.compiled_ = std::move(c);
  return router;
}

bool Router::match(std::string_view method, std::string_view path, RouteMatch& out, bool allow_any) const {
  out.params.clear();
  out.wildcard_tail = {};
  if (!compiled_) return false;
  Search search(*compiled_, method, path, allow_any);
  search.visit(0, 0, 0, false);
  if (!search.found()) return false;

  const auto& best = search.best();
  const auto& route = compiled_->routes[best.route];
  out.route = best.route;
  out.match_class = best.match_class;
  if (best.match_class == MatchClass::kWildcard && best.tail != std::string_view::npos) {
    out.wildcard_tail = path.substr(best.tail - 1);  // from the '/' before the first unmatched segment
  }
  std::size_t pos = 0;
  std::uint32_t segment = 0;
  for (std::uint32_t p = route.params_begin; p < route.params_end; ++p) {
    const auto& param = compiled_->params[p];
    for (; segment < param.segment; ++segment) {
      pos = segment_end(path, pos) + 1;
    }
    out.params.push_back({param.name, path.substr(pos, segment_end(path, pos) - pos)});
  }
  return true;
}

std::size_t Router::size() const {
  return compiled_ ? compiled_->routes.size() : 0;
}

std::vector<std::size_t> Router::priority_order() const {
  std::vector<std::size_t> order(size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::ranges::sort(order, [&](std::size_t a, std::size_t b) {
    const auto& ra = compiled_->routes[a];
    const auto& rb = compiled_->routes[b];
    return priority_key(ra.match_class, ra.segments, ra.any, a) <
           priority_key(rb.match_class, rb.segments, rb.any, b);
  });
  return order;
}

}  // namespace workgate::router
