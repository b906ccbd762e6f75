// workgate worker SDK: decoding application/x-www-form-urlencoded query strings. Part of
// <workgate/worker.hpp>.
#ifndef WORKGATE_WORKER_QUERY_HPP
#define WORKGATE_WORKER_QUERY_HPP

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace workgate {

// application/x-www-form-urlencoded decoding ('+' is a space; a malformed %XX is kept as is).
inline std::string form_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2])));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// The first value of parameter `name` in a raw query string (without '?'), decoded; like
// URLSearchParams.get().
inline std::optional<std::string> query_param(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    std::size_t amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (part.empty()) continue;
    std::size_t eq = part.find('=');
    std::string_view key = part.substr(0, eq);
    std::string_view value = eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1);
    if (key == name || form_decode(key) == name) return form_decode(value);
  }
  return std::nullopt;
}

}  // namespace workgate

#endif  // WORKGATE_WORKER_QUERY_HPP
