// The traffic-control sections of the config: `rate_limits`, `redis`, `gateway.trusted_proxies` and the
// routes' `rate_limit` (docs/rate-limits.md). Called by load_config_text once the routes are parsed.
#pragma once

#include <boost/json/object.hpp>
#include <vector>

#include "config/config.hpp"

namespace workgate::config {

void parse_rate_limit_sections(const boost::json::object& root, Config& config,
                               std::vector<ConfigError>& errors);

// "10.0.0.0/8", "::1", "2001:db8::/32" -> network; nullopt when malformed (bits set below the prefix are
// cleared: "10.1.2.3/8" is 10.0.0.0/8).
std::optional<IpNetwork> parse_ip_network(std::string_view text);
// An address as 16 bytes (IPv4 mapped into IPv6); nullopt when not an IP literal.
std::optional<std::array<std::uint8_t, 16>> parse_ip_address(std::string_view text);

}  // namespace workgate::config
