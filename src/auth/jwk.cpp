#include "auth/jwk.hpp"

#include <boost/json/parse.hpp>
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
    description += " (kid \"" + *kid + "\")";
  }
  return description;
}

}  // namespace

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
  if (error) return {nullptr, "JWKS is not valid JSON", {}};
  return parse_jwks_value(document);
}

JwksResult parse_jwks_value(const json::value& document) {
  const json::value* keys = document.is_object() ? document.get_object().if_contains("keys") : nullptr;
  if (keys == nullptr || !keys->is_array()) return {nullptr, "JWKS has no \"keys\" array", {}};
  JwksResult result;
  std::vector<std::shared_ptr<const VerificationKey>> usable;
  for (std::size_t index = 0; index < keys->get_array().size(); ++index) {
    const json::value& entry = keys->get_array()[index];
    if (!entry.is_object()) return {nullptr, "JWKS keys[" + std::to_string(index) + "] is not an object", {}};
    KeyResult parsed = parse_jwk(entry.get_object());
    if (parsed.key) {
      usable.push_back(std::move(parsed.key));
    } else {
      result.skipped.push_back(describe_key(index, entry.get_object()) + ": " + parsed.error);
    }
  }
  result.key_set = std::make_shared<const KeySet>(std::move(usable));
  return result;
}

}  // namespace workgate::auth
