// Reading, substituting, normalizing and validating an api-config document.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "config/environment.hpp"

namespace workgate::config {

struct LoadResult {
  std::optional<Config> config;     // set only when `errors` is empty
  std::vector<ConfigError> errors;  // every problem found, in document order
  std::vector<ConfigError> warnings;
  std::string text;  // the document as read (the admin listener's /config and its SHA-256)
  // When `errors` is not empty but the document is an object: its buildable part (config/buildable.hpp),
  // for `workgate validate` to run the build checks on in the same pass. Never served.
  std::optional<Config> partial;
};

// `text` is the JSON document; `base_dir` is where relative module paths resolve.
LoadResult load_config_text(std::string_view text, const Environment& env,
                            const std::filesystem::path& base_dir);

// Reads `path` and loads it; a file that cannot be read is an error with an empty pointer.
LoadResult load_config_file(const std::filesystem::path& path, const Environment& env);

// The config the gateway serves: SAG_API_CONFIG_JSON (inline JSON, when set and not blank) wins over
// `path`, as in the original. `source` receives a description ("file api-config.json" /
// "SAG_API_CONFIG_JSON").
LoadResult load_gateway_config(const std::optional<std::filesystem::path>& path, const Environment& env,
                               std::string& source);

// Escapes a key for use as one JSON pointer token.
std::string pointer_token(std::string_view key);

}  // namespace workgate::config
