#include "ratelimit/key.hpp"

#include <openssl/sha.h>

#include "config/rate_limits.hpp"

namespace workgate::ratelimit {
namespace {

constexpr std::string_view kClientIp = "$request.client_ip";
constexpr std::string_view kRoute = "$route";
constexpr std::size_t kMaxPlainKey = 64;

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
         c == '-';
}

// The position of the next $request.client_ip or $route reference (npos when none) and which one.
std::size_t find_special(std::string_view text, std::size_t from, std::size_t& length, bool& is_route) {
  for (std::size_t i = text.find('$', from); i != std::string_view::npos; i = text.find('$', i + 1)) {
    std::string_view rest = text.substr(i);
    for (std::string_view name : {kClientIp, kRoute}) {
      if (rest.starts_with(name) && (rest.size() == name.size() || !is_name_char(rest[name.size()]))) {
        length = name.size();
        is_route = name == kRoute;
        return i;
      }
    }
  }
  return std::string_view::npos;
}

bool trusted(const std::vector<config::IpNetwork>& networks, const std::array<std::uint8_t, 16>& address) {
  for (const auto& n : networks) {
    if (n.contains(address)) return true;
  }
  return false;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

}  // namespace

std::optional<KeyTemplate> KeyTemplate::compile(std::string_view text, const config::Route& route,
                                                const config::Config& config, std::string& error) {
  KeyTemplate t;
  t.route_name_ = route.method + " " + route.path;
  std::size_t at = 0;
  while (at <= text.size()) {
    std::size_t length = 0;
    bool is_route = false;
    std::size_t next = find_special(text, at, length, is_route);
    std::string_view literal =
        text.substr(at, next == std::string_view::npos ? std::string_view::npos : next - at);
    if (!literal.empty()) {
      auto compiled = integrations::ValueTemplate::compile(literal, route.variables, config.variables, error);
      if (!compiled) {
        if (error.starts_with("unknown template source"))
          error += "; a rate-limit key may also use $request.client_ip and $route";
        return std::nullopt;
      }
      t.pieces_.push_back({Kind::kTemplate, std::move(*compiled)});
    }
    if (next == std::string_view::npos) break;
    t.pieces_.push_back({is_route ? Kind::kRoute : Kind::kClientIp, std::nullopt});
    at = next + length;
  }
  return t;
}

void KeyTemplate::resolve(const Context& context, std::string& out) const {
  out.clear();
  for (const Piece& piece : pieces_) {
    switch (piece.kind) {
      case Kind::kTemplate: {
        auto value = piece.text->resolve(context.request);
        if (!value) {
          out.clear();
          return;
        }
        out += *value;
        break;
      }
      case Kind::kClientIp:
        out += client_ip(context.request.request, context.trusted_proxies);
        break;
      case Kind::kRoute:
        out += route_name_;
        break;
    }
  }
}

std::string client_ip(const http::Request& request, const std::vector<config::IpNetwork>& trusted_proxies) {
  std::string_view believed = request.client_address;
  if (trusted_proxies.empty()) return std::string(believed);
  auto peer = config::parse_ip_address(believed);
  if (!peer || !trusted(trusted_proxies, *peer)) return std::string(believed);
  // Every X-Forwarded-For field, in order, as one list; walked from the right.
  std::string forwarded;
  request.headers.for_each([&](const http::HeaderList::Field& f) {
    if (!http::iequals(f.name, "X-Forwarded-For")) return;
    if (!forwarded.empty()) forwarded.push_back(',');
    forwarded.append(f.value);
  });
  std::string_view rest = forwarded;
  while (!rest.empty()) {
    std::size_t comma = rest.rfind(',');
    std::string_view hop = trim(comma == std::string_view::npos ? rest : rest.substr(comma + 1));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(0, comma);
    if (hop.empty()) continue;
    auto address = config::parse_ip_address(hop);
    if (!address) break;  // not an address: stop at the last hop that was believed
    believed = hop;
    if (!trusted(trusted_proxies, *address)) break;
  }
  return std::string(believed);
}

std::string redis_key(std::string_view policy, std::string_view key) {
  std::string out = "workgate:rl:";
  out.append(policy);
  bool plain = key.size() <= kMaxPlainKey;
  for (char c : key) {
    if (!plain) break;
    plain = is_name_char(c) || c == '@';
  }
  if (plain) {
    out.append(":k:").append(key);
    return out;
  }
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(key.data()), key.size(), digest);
  static constexpr char kHex[] = "0123456789abcdef";
  out.append(":h:");
  for (unsigned char b : digest) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

}  // namespace workgate::ratelimit
