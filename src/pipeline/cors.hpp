// CORS as the original applies it (spec §1.5, §2.3), with its origin-matching hole closed: an Origin
// must be a plain scheme://host[:port], and '*' inside a pattern matches only host characters.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "http/message.hpp"

namespace workgate::pipeline {

// scheme "://" host [":" port], nothing else (no path, query, credentials, or trailing slash).
bool is_plain_origin(std::string_view origin);

class CompiledCors {
 public:
  explicit CompiledCors(const config::CorsPolicy& config);

  // The Access-Control-Allow-Origin value for a request's Origin, or nullopt when it is not allowed.
  std::optional<std::string_view> allow_origin_value(std::string_view origin) const;

  // Lines every response carries while this policy is active (methods, headers, expose, credentials,
  // max-age, Vary: Origin).
  const std::string& fixed_lines() const { return fixed_lines_; }

  // Removes CORS fields an upstream or worker set, then adds the origin-dependent field.
  void apply(std::optional<std::string_view> request_origin, http::Response& response) const;

 private:
  struct Entry {
    std::string text;
    bool any = false;                 // "*"
    std::vector<std::string> pieces;  // text split at '*' (empty when the entry has no '*')
  };
  static bool glob_match(const std::vector<std::string>& pieces, std::string_view origin);

  std::vector<Entry> entries_;
  bool credentials_ = false;
  std::string fixed_lines_;
};

}  // namespace workgate::pipeline
