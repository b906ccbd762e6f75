// Rate-limit keys: the policy's `key` template resolved for one request, and the client address it may use.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "integrations/mapping.hpp"

namespace workgate::ratelimit {

// The mapping template syntax (integrations/mapping.hpp) plus $request.client_ip and $route. A reference
// that resolves to nothing makes the whole key "" (one key shared by every such request).
class KeyTemplate {
 public:
  static std::optional<KeyTemplate> compile(std::string_view text, const config::Route& route,
                                            const config::Config& config, std::string& error);

  struct Context {
    const integrations::ValueTemplate::Context& request;
    const std::vector<config::IpNetwork>& trusted_proxies;
  };
  // Appends the key to `out` (cleared first).
  void resolve(const Context& context, std::string& out) const;

 private:
  enum class Kind { kTemplate, kClientIp, kRoute };
  struct Piece {
    Kind kind;
    std::optional<integrations::ValueTemplate> text;  // kTemplate
  };
  std::vector<Piece> pieces_;
  std::string route_name_;  // "GET /users/{id}"
};

// The client's address: the peer, or, when the peer is a trusted proxy, the first address from the right
// of X-Forwarded-For that is not a trusted proxy (every hop trusted: the leftmost). An X-Forwarded-For
// from an untrusted peer is ignored (it is whatever the client wrote). A malformed hop ends the walk at
// the last address that was believed.
std::string client_ip(const http::Request& request, const std::vector<config::IpNetwork>& trusted_proxies);

// The Redis key of a policy's key: "workgate:rl:<policy>:k:<key>" when the key is short and made of
// [A-Za-z0-9._@-], else "workgate:rl:<policy>:h:<sha-256 of the key, hex>", so that hostile bytes (CR LF,
// ':', NUL, megabytes) never reach Redis as they were sent.
std::string redis_key(std::string_view policy, std::string_view key);

}  // namespace workgate::ratelimit
