// JSON Web Keys (RFC 7517, RFC 7518 §6, RFC 8037 §2) and JWK sets -> verification keys.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "auth/key_set.hpp"
#include "auth/keys.hpp"

namespace workgate::auth {

// One public JWK: kty "RSA" (n, e), "EC" (crv P-256/P-384/P-521, x, y), "OKP" (crv Ed25519, x) or "oct" (k),
// with the optional kid, alg, use and key_ops. Private members are ignored.
KeyResult parse_jwk(const boost::json::object& jwk);

struct JwksResult {
  std::shared_ptr<const KeySet> key_set;  // null when the document is not a JWK set
  std::string error;                      // why key_set is null
  // One line per key left out: "keys[i] (kid \"...\"): reason". Never key material.
  std::vector<std::string> skipped;
  std::vector<std::string> warnings;  // about the keys kept (several keys a token would select alike)
};

// {"keys": [...]}: keys that cannot be used are left out and listed in `skipped`; a document that is not
// JSON, not an object, has no "keys" array, or has a member of "keys" that is not an object is an error.
// Left out besides what parse_jwk refuses: `oct` keys (jose never uses them from a set; a public set must
// not hold secrets), keys with private members (d, p, q, dp, dq, qi, oth), `use` other than "sig",
// `key_ops` without "verify", and an `alg` that is unknown or does not fit the key's type or curve.
JwksResult parse_jwks(std::string_view json);
JwksResult parse_jwks_value(const boost::json::value& document);

// `text` for a log line or message: printable ASCII is kept, anything else (and the quote and backslash)
// becomes \xNN, cut after `max_length` characters. For names from documents (kid, use, alg), never for key
// material.
std::string printable(std::string_view text, std::size_t max_length = 64);

}  // namespace workgate::auth
