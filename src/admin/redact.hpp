// The running config as the admin listener shows it: the document as loaded, with every value that came
// from the environment and every authorizer secret replaced by "[redacted]".
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace workgate::admin {

inline constexpr std::string_view kRedacted = "[redacted]";

// Whether a key names a secret: secret, jwt_secret, client_secret, and any key containing "secret",
// "password", "private_key", "api_key", "api-key" or "apikey" (case-insensitive), wherever it appears.
bool is_secret_key(std::string_view key);

// `text` (the config's JSON) with (1) every string value starting with $env., $secret. or $secrets.
// (the loader substitutes those from the environment) and (2) every value of a secret key replaced by
// "[redacted]", serialized as JSON. Null when `text` is not JSON (it was validated before, so this only
// happens for a config that was never loaded).
std::optional<std::string> redact_config(std::string_view text);

}  // namespace workgate::admin
