#include "admin/redact.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>

namespace workgate::admin {
namespace json = boost::json;

namespace {
bool contains_lower(std::string_view haystack, std::string_view needle) {
  auto it = std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end(),
                        [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; });
  return it != haystack.end();
}

bool from_environment(std::string_view s) {
  return s.starts_with("$env.") || s.starts_with("$secret.") || s.starts_with("$secrets.");
}

void redact(json::value& v) {
  if (v.is_string()) {
    if (from_environment(v.get_string())) v = json::string(kRedacted);
  } else if (v.is_object()) {
    for (auto& kv : v.get_object()) {
      if (is_secret_key(kv.key()) && !kv.value().is_null()) {
        kv.value() = json::string(kRedacted);
      } else {
        redact(kv.value());
      }
    }
  } else if (v.is_array()) {
    for (auto& item : v.get_array())
      redact(item);
  }
}
}  // namespace

bool is_secret_key(std::string_view key) {
  for (std::string_view word : {"secret", "password", "private_key", "api_key", "api-key", "apikey"}) {
    if (contains_lower(key, word)) return true;
  }
  return false;
}

std::optional<std::string> redact_config(std::string_view text) {
  json::error_code ec;
  json::value doc = json::parse(text, ec);
  if (ec) return std::nullopt;
  redact(doc);
  return json::serialize(doc);
}

}  // namespace workgate::admin
