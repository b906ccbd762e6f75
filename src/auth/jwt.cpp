#include "auth/jwt.hpp"

#include <array>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <cmath>
#include <stdexcept>
#include <utility>

#include "auth/base64url.hpp"

namespace workgate::auth {
namespace {

namespace json = boost::json;

struct ErrorBody {
  std::string_view message;
  std::string_view code;
};

// jose error classes, as the jwt and auth0 authorizers render them.
constexpr ErrorBody kJwsInvalid{"Invalid JWS", "ERR_JWS_INVALID"};
constexpr ErrorBody kJwtInvalid{"Invalid JWT", "ERR_JWT_INVALID"};
constexpr ErrorBody kAlgNotAllowed{"Algorithm not allowed", "ERR_JOSE_ALG_NOT_ALLOWED"};
constexpr ErrorBody kNoMatchingKey{"No matching key found in JWKS.", "ERR_JWKS_NO_MATCHING_KEY"};
constexpr ErrorBody kMultipleMatchingKeys{"Multiple matching keys found in JWKS.",
                                          "ERR_JWKS_MULTIPLE_MATCHING_KEYS"};
constexpr ErrorBody kSignatureFailed{"Signature verification failed",
                                     "ERR_JWS_SIGNATURE_VERIFICATION_FAILED"};
constexpr ErrorBody kClaimFailed{"JWT claim validation failed", "ERR_JWT_CLAIM_VALIDATION_FAILED"};
constexpr ErrorBody kJoseExpired{"Token has expired.", "ERR_JWT_EXPIRED"};
// Anything else jose throws (unsupported crit, a key that cannot be used with the alg, an unreachable JWKS).
constexpr ErrorBody kJoseOther{"JWT verification failed", "AUTH_ERROR"};

// jsonwebtoken error classes, as the supabase authorizer renders them.
constexpr ErrorBody kJsonWebTokenExpired{"Token has expired.", "JWT_EXPIRED"};
constexpr ErrorBody kJsonWebTokenNotActive{"Token not active yet (nbf)", "JWT_NOT_ACTIVE"};

VerifyResult failure(ErrorBody body) {
  return {nullptr, AuthFailure{401, std::string(body.message), std::string(body.code)}};
}

// jsonwebtoken's JsonWebTokenError; `reason` is its message.
VerifyResult jsonwebtoken_invalid(std::string_view reason) {
  return {nullptr, AuthFailure{401, "JWT verification failed: " + std::string(reason), "JWT_INVALID"}};
}

struct CompactJws {
  std::string_view header;
  std::string_view payload;
  std::string_view signature;
  std::string_view signing_input;  // header '.' payload
};

std::optional<CompactJws> split_compact(std::string_view token) {
  const std::size_t first_dot = token.find('.');
  if (first_dot == std::string_view::npos) return std::nullopt;
  const std::size_t second_dot = token.find('.', first_dot + 1);
  if (second_dot == std::string_view::npos || token.find('.', second_dot + 1) != std::string_view::npos) {
    return std::nullopt;
  }
  return CompactJws{token.substr(0, first_dot), token.substr(first_dot + 1, second_dot - first_dot - 1),
                    token.substr(second_dot + 1), token.substr(0, second_dot)};
}

std::optional<json::object> parse_object(std::string_view text, json::storage_ptr storage = {}) {
  boost::system::error_code error;
  json::value value = json::parse(text, error, std::move(storage));
  if (error || !value.is_object()) return std::nullopt;
  return std::move(value.get_object());
}

std::optional<json::object> decode_object(std::string_view part, json::storage_ptr storage = {}) {
  const std::optional<std::string> bytes = base64url_decode(part);
  if (!bytes) return std::nullopt;
  return parse_object(*bytes, std::move(storage));
}

const json::string* string_member(const json::object& object, std::string_view name) {
  const json::value* member = object.if_contains(name);
  return member != nullptr && member->is_string() ? &member->get_string() : nullptr;
}

// jose's validateCrit with the one extension it recognises, b64 (RFC 7797).
enum class CriticalHeader : std::uint8_t {
  kAbsent,
  kUnencodedPayload,
  kEncodedPayload,
  kInvalid,
  kUnsupported
};

CriticalHeader check_critical_header(const json::object& header) {
  const json::value* crit = header.if_contains("crit");
  if (crit == nullptr) return CriticalHeader::kAbsent;
  if (!crit->is_array() || crit->get_array().empty()) return CriticalHeader::kInvalid;
  for (const json::value& name : crit->get_array()) {
    if (!name.is_string() || name.get_string().empty()) return CriticalHeader::kInvalid;
  }
  for (const json::value& name : crit->get_array()) {
    if (name.get_string() != "b64") return CriticalHeader::kUnsupported;
    if (!header.contains("b64")) return CriticalHeader::kInvalid;
  }
  const json::value& b64 = header.at("b64");
  if (!b64.is_bool()) return CriticalHeader::kInvalid;
  return b64.get_bool() ? CriticalHeader::kEncodedPayload : CriticalHeader::kUnencodedPayload;
}

// A numeric date claim: absent, present as a number, or present as something else.
struct NumericClaim {
  const json::value* value = nullptr;
  bool present() const { return value != nullptr; }
  bool is_number() const { return value != nullptr && value->is_number(); }
  double number() const { return value->to_number<double>(); }
};

NumericClaim numeric_claim(const json::object& claims, std::string_view name) {
  return {claims.if_contains(name)};
}

bool audience_matches(const json::object& claims, const std::vector<std::string>& audiences) {
  const json::value* aud = claims.if_contains("aud");
  auto configured = [&](const json::value& candidate) {
    if (!candidate.is_string()) return false;
    for (const std::string& audience : audiences) {
      if (candidate.get_string() == audience) return true;
    }
    return false;
  };
  if (aud == nullptr) return false;
  if (!aud->is_array()) return configured(*aud);
  for (const json::value& candidate : aud->get_array()) {
    if (configured(candidate)) return true;
  }
  return false;
}

bool issuer_matches(const json::object& claims, const std::string& issuer) {
  const json::string* iss = string_member(claims, "iss");
  return iss != nullptr && *iss == issuer;
}

std::int64_t saturating_ceil(double seconds) {
  constexpr double kLimit = 9.2e18;  // inside int64's range, far beyond any real date
  if (!(seconds < kLimit)) return INT64_MAX;
  if (seconds < -kLimit) return INT64_MIN;
  return static_cast<std::int64_t>(std::ceil(seconds));
}

// Enough for typical headers, so decoding one usually allocates nothing.
constexpr std::size_t kHeaderArenaSize = 1024;

}  // namespace

JwtVerifier::JwtVerifier(JwtVerifierOptions options) : options_(std::move(options)) {
  if (options_.algorithms.empty()) throw std::invalid_argument("JwtVerifier needs at least one algorithm");
  const bool has_key = std::visit([](const auto& key) { return key != nullptr; }, options_.key);
  if (!has_key) throw std::invalid_argument("JwtVerifier needs a key or a key source");
  if (options_.leeway_seconds < 0) throw std::invalid_argument("JwtVerifier leeway must not be negative");
  if (const auto* source = std::get_if<std::shared_ptr<const KeySource>>(&options_.key)) {
    key_source_ = source->get();
  }
  for (Algorithm algorithm : options_.algorithms) {
    allowed_algorithms_ |= 1U << static_cast<unsigned>(algorithm);
  }
}

VerifyResult JwtVerifier::verify(std::string_view token, std::int64_t now) const {
  return options_.error_style == ErrorStyle::kJose ? verify_jose(token, now)
                                                   : verify_jsonwebtoken(token, now);
}

bool JwtVerifier::allows(Algorithm algorithm) const {
  return (allowed_algorithms_ & (1U << static_cast<unsigned>(algorithm))) != 0;
}

JwtVerifier::ResolvedKey JwtVerifier::resolve_key(Algorithm algorithm, const json::object& header) const {
  if (const auto* fixed = std::get_if<std::shared_ptr<const VerificationKey>>(&options_.key)) {
    if (!(*fixed)->supports(algorithm)) return {KeyLookup::kWrongKeyType, nullptr, nullptr};
    return {KeyLookup::kFound, fixed->get(), nullptr};
  }
  const KeySource& source = *std::get<std::shared_ptr<const KeySource>>(options_.key);
  std::shared_ptr<const KeySet> key_set = source.current();
  if (!key_set) return {KeyLookup::kUnavailable, nullptr, nullptr};
  std::optional<std::string_view> kid;
  if (const json::string* header_kid = string_member(header, "kid")) kid = *header_kid;
  const KeySet::Selection selection = key_set->select(algorithm, kid);
  if (selection.matches == 0) {
    source.on_unknown_kid(kid.value_or(""));
    return {KeyLookup::kNoMatch, nullptr, nullptr};
  }
  if (selection.matches > 1) return {KeyLookup::kSeveralMatch, nullptr, nullptr};
  return {KeyLookup::kFound, selection.key, std::move(key_set)};
}

VerifyResult JwtVerifier::success(json::object claims) const {
  std::int64_t valid_until = INT64_MAX;
  if (const NumericClaim exp = numeric_claim(claims, "exp"); exp.present()) {
    valid_until = saturating_ceil(exp.number() + static_cast<double>(options_.leeway_seconds));
  }
  return {std::make_shared<const json::object>(std::move(claims)), std::nullopt, valid_until};
}

// jose's compactVerify, flattenedVerify and jwtVerify, in their order.
VerifyResult JwtVerifier::verify_jose(std::string_view token, std::int64_t now) const {
  if (token.size() > kMaxTokenLength) return failure(kJwsInvalid);
  const std::optional<CompactJws> jws = split_compact(token);
  if (!jws) return failure(kJwsInvalid);

  std::array<unsigned char, kHeaderArenaSize> arena;
  json::monotonic_resource header_memory(arena.data(), arena.size());
  const std::optional<json::object> header = decode_object(jws->header, &header_memory);
  if (!header) return failure(kJwsInvalid);

  const CriticalHeader critical = check_critical_header(*header);
  if (critical == CriticalHeader::kInvalid) return failure(kJwsInvalid);
  if (critical == CriticalHeader::kUnsupported) return failure(kJoseOther);

  const json::string* alg_name = string_member(*header, "alg");
  if (alg_name == nullptr || alg_name->empty()) return failure(kJwsInvalid);
  const std::optional<Algorithm> algorithm = parse_algorithm(*alg_name);
  if (!algorithm || !allows(*algorithm)) return failure(kAlgNotAllowed);

  const ResolvedKey resolved = resolve_key(*algorithm, *header);
  switch (resolved.outcome) {
    case KeyLookup::kFound:
      break;
    case KeyLookup::kNoMatch:
      return failure(kNoMatchingKey);
    case KeyLookup::kSeveralMatch:
      return failure(kMultipleMatchingKeys);
    case KeyLookup::kWrongKeyType:
    case KeyLookup::kUnavailable:
      return failure(kJoseOther);
  }

  const std::optional<std::string> signature = base64url_decode(jws->signature);
  if (!signature) return failure(kJwsInvalid);
  if (!resolved.key->verify(*algorithm, jws->signing_input, *signature)) return failure(kSignatureFailed);

  // With b64 false (RFC 7797) the signature covered the payload part as is; jose checks it, then refuses.
  if (critical == CriticalHeader::kUnencodedPayload) return failure(kJwtInvalid);
  const std::optional<std::string> payload = base64url_decode(jws->payload);
  if (!payload) return failure(kJwsInvalid);
  std::optional<json::object> claims = parse_object(*payload);
  if (!claims) return failure(kJwtInvalid);
  VerifyResult result = check_claims_jose(std::move(*claims), now);
  if (resolved.key_set) result.key_generation = resolved.key_set->generation();
  return result;
}

// jose's validateClaimsSet: presence and values of iss and aud, then iat, nbf, exp.
VerifyResult JwtVerifier::check_claims_jose(json::object claims, std::int64_t now) const {
  if (options_.issuer && !issuer_matches(claims, *options_.issuer)) return failure(kClaimFailed);
  if (!options_.audiences.empty() && !audience_matches(claims, options_.audiences)) {
    return failure(kClaimFailed);
  }
  const auto leeway = static_cast<double>(options_.leeway_seconds);
  const auto current = static_cast<double>(now);
  if (const NumericClaim iat = numeric_claim(claims, "iat"); iat.present() && !iat.is_number()) {
    return failure(kClaimFailed);
  }
  if (const NumericClaim nbf = numeric_claim(claims, "nbf"); nbf.present()) {
    if (!nbf.is_number() || nbf.number() > current + leeway) return failure(kClaimFailed);
  }
  if (const NumericClaim exp = numeric_claim(claims, "exp"); exp.present()) {
    if (!exp.is_number()) return failure(kClaimFailed);
    if (exp.number() <= current - leeway) return failure(kJoseExpired);
  }
  return success(std::move(claims));
}

// jsonwebtoken's verify (through jws.decode), in its order.
VerifyResult JwtVerifier::verify_jsonwebtoken(std::string_view token, std::int64_t now) const {
  if (token.size() > kMaxTokenLength) return jsonwebtoken_invalid("jwt malformed");
  const std::optional<CompactJws> jws = split_compact(token);
  if (!jws) return jsonwebtoken_invalid("jwt malformed");

  // jws.decode refuses characters outside base64url in any part, and undecodable header or payload.
  std::array<unsigned char, kHeaderArenaSize> arena;
  json::monotonic_resource header_memory(arena.data(), arena.size());
  const std::optional<json::object> header = decode_object(jws->header, &header_memory);
  std::optional<json::object> claims = decode_object(jws->payload);
  if (!header || !claims || !is_base64url_alphabet(jws->signature)) {
    return jsonwebtoken_invalid("invalid token");
  }

  if (jws->signature.empty()) return jsonwebtoken_invalid("jwt signature is required");
  const json::string* alg_name = string_member(*header, "alg");
  const std::optional<Algorithm> algorithm = alg_name ? parse_algorithm(*alg_name) : std::nullopt;
  if (!algorithm || !allows(*algorithm)) return jsonwebtoken_invalid("invalid algorithm");

  const ResolvedKey resolved = resolve_key(*algorithm, *header);
  switch (resolved.outcome) {
    case KeyLookup::kFound:
      break;
    case KeyLookup::kWrongKeyType:
      return jsonwebtoken_invalid(algorithm_family(*algorithm) == AlgorithmFamily::kHmac
                                      ? "secretOrPublicKey must be a symmetric key when using " +
                                            std::string(algorithm_name(*algorithm))
                                      : "secretOrPublicKey must be an asymmetric key when using " +
                                            std::string(algorithm_name(*algorithm)));
    case KeyLookup::kNoMatch:
    case KeyLookup::kSeveralMatch:
    case KeyLookup::kUnavailable:
      return jsonwebtoken_invalid("secret or public key must be provided");
  }

  const std::optional<std::string> signature = base64url_decode(jws->signature);
  if (!signature || !resolved.key->verify(*algorithm, jws->signing_input, *signature)) {
    return jsonwebtoken_invalid("invalid signature");
  }
  VerifyResult result = check_claims_jsonwebtoken(std::move(*claims), now);
  if (resolved.key_set) result.key_generation = resolved.key_set->generation();
  return result;
}

// jsonwebtoken's claim checks: nbf, exp, aud, iss.
VerifyResult JwtVerifier::check_claims_jsonwebtoken(json::object claims, std::int64_t now) const {
  const auto leeway = static_cast<double>(options_.leeway_seconds);
  const auto current = static_cast<double>(now);
  if (const NumericClaim nbf = numeric_claim(claims, "nbf"); nbf.present()) {
    if (!nbf.is_number()) return jsonwebtoken_invalid("invalid nbf value");
    if (nbf.number() > current + leeway) return failure(kJsonWebTokenNotActive);
  }
  if (const NumericClaim exp = numeric_claim(claims, "exp"); exp.present()) {
    if (!exp.is_number()) return jsonwebtoken_invalid("invalid exp value");
    if (current >= exp.number() + leeway) return failure(kJsonWebTokenExpired);
  }
  if (!options_.audiences.empty() && !audience_matches(claims, options_.audiences)) {
    std::string expected = options_.audiences.front();
    for (std::size_t i = 1; i < options_.audiences.size(); ++i) {
      expected += " or " + options_.audiences[i];
    }
    return jsonwebtoken_invalid("jwt audience invalid. expected: " + expected);
  }
  if (options_.issuer && !issuer_matches(claims, *options_.issuer)) {
    return jsonwebtoken_invalid("jwt issuer invalid. expected: " + *options_.issuer);
  }
  return success(std::move(claims));
}

}  // namespace workgate::auth
