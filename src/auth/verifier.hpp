// JWT verification: the interface the request pipeline calls. Implementations are immutable after
// construction and safe to call from every event-loop thread at once.
#pragma once

#include <boost/json/object.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace workgate::auth {

// A refused request, rendered by the pipeline as {"error": message, "code": code} with `status`.
struct AuthFailure {
  int status = 401;
  std::string message;
  std::string code;
};

using Claims = std::shared_ptr<const boost::json::object>;

struct VerifyResult {
  Claims claims;                       // set on success
  std::optional<AuthFailure> failure;  // set on refusal
  // Seconds since the epoch from which a success must not be reused: the verifier would refuse the token at
  // any now >= valid_until (exp + leeway, rounded up), or INT64_MAX for a token without exp.
  std::int64_t valid_until = INT64_MAX;
  // The generation of the key set the success was reached with (KeySet::generation()); 0 for a fixed key.
  std::uint64_t key_generation = 0;
  bool ok() const { return failure.has_value() == false && claims != nullptr; }
};

// The token from an Authorization header value: scheme "Bearer" (case-insensitive), one or more spaces or
// tabs, then exactly one token68 (RFC 9110 §11.2: A-Z a-z 0-9 - . _ ~ + / then optional trailing '=').
// Whitespace around the whole value is ignored. Anything else (absent header, other scheme, empty or several
// tokens) -> nullopt.
std::optional<std::string_view> extract_bearer(std::string_view authorization);

// The failure for a missing or malformed Authorization header (same text for every authorizer type).
AuthFailure missing_token_failure();

class Verifier {
 public:
  Verifier();
  virtual ~Verifier() = default;
  Verifier(const Verifier&) = delete;
  Verifier& operator=(const Verifier&) = delete;

  // Verifies `token` (the compact JWS from the Authorization header) at time `now` (seconds since epoch).
  virtual VerifyResult verify(std::string_view token, std::int64_t now) const = 0;

  // Unique among all verifiers of the process, unlike an address (a reloaded config's verifier may reuse the
  // old one's): caches of verification results key on it.
  std::uint64_t identity() const { return identity_; }

  // The generation of the key set the verifier would use now (0 for a fixed key). A remembered success
  // whose key_generation differs is stale: the set changed since, and may no longer hold its key. Called
  // on every cache hit: cheap, thread-safe, never blocks.
  virtual std::uint64_t key_generation() const { return 0; }

 private:
  std::uint64_t identity_;
};

}  // namespace workgate::auth
