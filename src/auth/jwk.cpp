#include "auth/jwk.hpp"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <cstdint>
#include <map>
#include <optional>
#include <utility>

#include "auth/base64url.hpp"

namespace workgate::auth {
namespace {

namespace json = boost::json;

KeyResult refuse(std::string reason) {
  return {nullptr, std::move(reason)};
}

std::optional<std::string> string_member(const json::object& object, std::string_view name) {
  const json::value* member = object.if_contains(name);
  if (member == nullptr || !member->is_string()) return std::nullopt;
  return std::string(member->get_string());
}

// A member holding base64url bytes, or nullopt when absent, not a string or not base64url.
std::optional<std::string> bytes_member(const json::object& object, std::string_view name) {
  const json::value* member = object.if_contains(name);
  if (member == nullptr || !member->is_string()) return std::nullopt;
  return base64url_decode(member->get_string());
}

// Members of the wrong JSON type are treated as absent, as jose's key selection does.
KeyMetadata metadata_of(const json::object& jwk) {
  KeyMetadata metadata{string_member(jwk, "kid"), string_member(jwk, "alg"), string_member(jwk, "use"), {}};
  if (const json::value* key_ops = jwk.if_contains("key_ops"); key_ops != nullptr && key_ops->is_array()) {
    metadata.key_ops.emplace();
    for (const json::value& operation : key_ops->get_array()) {
      if (operation.is_string()) metadata.key_ops->emplace_back(operation.get_string());
    }
  }
  return metadata;
}

KeyResult parse_rsa_jwk(const json::object& jwk, KeyMetadata metadata) {
  const std::optional<std::string> n = bytes_member(jwk, "n");
  const std::optional<std::string> e = bytes_member(jwk, "e");
  if (!n || !e || n->empty() || e->empty()) return refuse("RSA key needs base64url members n and e");
  return make_rsa_key(*n, *e, std::move(metadata));
}

KeyResult parse_ec_jwk(const json::object& jwk, KeyMetadata metadata) {
  const std::optional<std::string> crv = string_member(jwk, "crv");
  EcCurve curve{};
  if (crv == "P-256") {
    curve = EcCurve::kP256;
  } else if (crv == "P-384") {
    curve = EcCurve::kP384;
  } else if (crv == "P-521") {
    curve = EcCurve::kP521;
  } else {
    return refuse("EC crv is not P-256, P-384 or P-521");
  }
  const std::optional<std::string> x = bytes_member(jwk, "x");
  const std::optional<std::string> y = bytes_member(jwk, "y");
  if (!x || !y) return refuse("EC key needs base64url members x and y");
  return make_ec_key(curve, *x, *y, std::move(metadata));
}

KeyResult parse_okp_jwk(const json::object& jwk, KeyMetadata metadata) {
  if (string_member(jwk, "crv") != "Ed25519") return refuse("OKP crv is not Ed25519");
  const std::optional<std::string> x = bytes_member(jwk, "x");
  if (!x) return refuse("OKP key needs a base64url member x");
  return make_ed25519_key(*x, std::move(metadata));
}

KeyResult parse_oct_jwk(const json::object& jwk, KeyMetadata metadata) {
  const std::optional<std::string> k = bytes_member(jwk, "k");
  if (!k || k->empty()) return refuse("oct key needs a non-empty base64url member k");
  return {make_hmac_key(*k, std::move(metadata)), {}};
}

std::string describe_key(std::size_t index, const json::object& jwk) {
  std::string description = "keys[" + std::to_string(index) + "]";
  if (const std::optional<std::string> kid = string_member(jwk, "kid")) {
    description += " (kid \"" + printable(*kid) + "\")";
  }
  return description;
}

// Why a JWK must not be a member of the key set tokens are checked with (jose's LocalJWKSet rules, plus
// keys that could never be selected), or "" if it may. Runs before the key material is looked at.
std::string set_member_problem(const json::object& jwk, const KeyMetadata& metadata) {
  const std::optional<std::string> kty = string_member(jwk, "kty");
  // A JWK set is public: a secret in it is no secret, and jose never verifies HS* tokens with one.
  if (kty == "oct") return "symmetric (oct) keys are not used from a JWK set";
  if (kty == "RSA" || kty == "EC" || kty == "OKP") {
    for (std::string_view member : {"d", "p", "q", "dp", "dq", "qi", "oth"}) {
      // jose refuses such members too ("JSON Web Key Set members must be public keys"); a published
      // private key lets anyone sign tokens.
      if (jwk.contains(member))
        return "the JWK holds private key members; a JWK set must hold public keys only";
    }
  }
  if (metadata.use && *metadata.use != "sig")
    return "use is \"" + printable(*metadata.use) + "\", not \"sig\"";
  if (metadata.key_ops &&
      std::find(metadata.key_ops->begin(), metadata.key_ops->end(), "verify") == metadata.key_ops->end()) {
    return "key_ops do not include \"verify\"";
  }
  return {};
}

// Why a parsed key could never be selected for a token, or "" if it can.
std::string selectable_problem(const VerificationKey& key) {
  const KeyMetadata& metadata = key.metadata();
  if (!metadata.alg) return {};
  const std::optional<Algorithm> algorithm = parse_algorithm(*metadata.alg);
  if (!algorithm)
    return "alg \"" + printable(*metadata.alg) + "\" is not a signature algorithm of this gateway";
  if (!key.supports(*algorithm)) return "alg \"" + *metadata.alg + "\" does not fit the key's type or curve";
  return {};
}

// The algorithms a token may name to be checked with `key` (its type and its alg, if set).
std::uint32_t selectable_algorithms(const VerificationKey& key) {
  std::uint32_t mask = 0;
  for (Algorithm algorithm : all_algorithms()) {
    if (key.supports(algorithm) &&
        (!key.metadata().alg || *key.metadata().alg == algorithm_name(algorithm))) {
      mask |= 1U << static_cast<unsigned>(algorithm);
    }
  }
  return mask;
}

// One line per kid (or per "no kid") shared by keys a token could select alike: tokens naming that kid (or
// none) are refused with ERR_JWKS_MULTIPLE_MATCHING_KEYS, as jose does.
std::vector<std::string> ambiguity_warnings(const std::vector<std::shared_ptr<const VerificationKey>>& keys) {
  // Keys by kid (nullopt first), in set order within a kid; n log n for sets of any size.
  std::map<std::optional<std::string>, std::vector<std::uint32_t>> by_kid;
  for (const auto& key : keys)
    by_kid[key->metadata().kid].push_back(selectable_algorithms(*key));
  std::vector<std::pair<std::size_t, std::string>> warnings;  // (first key's index, line), to keep set order
  std::map<std::optional<std::string>, std::size_t> first_index;
  for (std::size_t i = 0; i < keys.size(); ++i)
    first_index.emplace(keys[i]->metadata().kid, i);
  for (const auto& [kid, masks] : by_kid) {
    // Keys a token could select alike: sharing an algorithm with the first key of a group.
    std::vector<bool> grouped(masks.size(), false);
    for (std::size_t i = 0; i < masks.size(); ++i) {
      if (grouped[i]) continue;
      std::size_t alike = 1;
      for (std::size_t j = i + 1; j < masks.size(); ++j) {
        if (!grouped[j] && (masks[j] & masks[i]) != 0) {
          grouped[j] = true;
          ++alike;
        }
      }
      if (alike < 2) continue;
      warnings.emplace_back(
          first_index[kid],
          std::to_string(alike) + " keys " +
              (kid ? "share the kid \"" + printable(*kid) + "\"" : std::string("have no kid")) +
              " and fit the same algorithms: tokens " +
              (kid ? std::string("with this kid") : std::string("without a kid")) +
              " are refused (ERR_JWKS_MULTIPLE_MATCHING_KEYS)");
    }
  }
  std::stable_sort(warnings.begin(), warnings.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string> lines;
  for (auto& warning : warnings)
    lines.push_back(std::move(warning.second));
  return lines;
}

}  // namespace

std::string printable(std::string_view text, std::size_t max_length) {
  constexpr std::string_view kHex = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (i == max_length) {
      out += "...";
      break;
    }
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

KeyResult parse_jwk(const json::object& jwk) {
  const std::optional<std::string> kty = string_member(jwk, "kty");
  if (!kty) return refuse("kty is missing");
  KeyMetadata metadata = metadata_of(jwk);
  if (*kty == "RSA") return parse_rsa_jwk(jwk, std::move(metadata));
  if (*kty == "EC") return parse_ec_jwk(jwk, std::move(metadata));
  if (*kty == "OKP") return parse_okp_jwk(jwk, std::move(metadata));
  if (*kty == "oct") return parse_oct_jwk(jwk, std::move(metadata));
  return refuse("kty \"" + *kty + "\" is not supported");
}

JwksResult parse_jwks(std::string_view json) {
  boost::system::error_code error;
  const json::value document = json::parse(json, error);
  if (error) return {nullptr, "JWKS is not valid JSON", {}, {}};
  return parse_jwks_value(document);
}

JwksResult parse_jwks_value(const json::value& document) {
  const json::value* keys = document.is_object() ? document.get_object().if_contains("keys") : nullptr;
  if (keys == nullptr || !keys->is_array()) return {nullptr, "JWKS has no \"keys\" array", {}, {}};
  JwksResult result;
  std::vector<std::shared_ptr<const VerificationKey>> usable;
  for (std::size_t index = 0; index < keys->get_array().size(); ++index) {
    const json::value& entry = keys->get_array()[index];
    if (!entry.is_object())
      return {nullptr, "JWKS keys[" + std::to_string(index) + "] is not an object", {}, {}};
    const json::object& jwk = entry.get_object();
    std::string problem = set_member_problem(jwk, metadata_of(jwk));
    if (problem.empty()) {
      KeyResult parsed = parse_jwk(jwk);
      problem = parsed.key ? selectable_problem(*parsed.key) : std::move(parsed.error);
      if (problem.empty()) usable.push_back(std::move(parsed.key));
    }
    if (!problem.empty()) result.skipped.push_back(describe_key(index, jwk) + ": " + problem);
  }
  result.warnings = ambiguity_warnings(usable);
  result.key_set = std::make_shared<const KeySet>(std::move(usable));
  return result;
}

}  // namespace workgate::auth
