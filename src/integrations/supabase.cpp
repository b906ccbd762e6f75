#include "integrations/supabase.hpp"

#include <openssl/rand.h>

#include <array>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>
#include <cmath>
#include <ctime>

#include "common/js_json.hpp"
#include "integrations/auth_support.hpp"
#include "observability/log.hpp"
#include "pipeline/errors.hpp"
#include "pipeline/request_context.hpp"

namespace workgate::integrations {
namespace {

namespace json = boost::json;
using auth_support::finish;
using auth_support::json_response;

constexpr std::size_t kMaxMessageBytes = 300;

struct SupabaseApi {
  std::shared_ptr<const http::UpstreamTarget>
      target;             // null: SUPABASE_URL / SUPABASE_SERVICE_ROLE_KEY missing
  std::string base_path;  // SUPABASE_URL's path without a trailing '/'
  std::string key_lines;  // apikey + Authorization, never logged
};

// The answer of one Auth API call, as supabase-js reports it.
struct Outcome {
  bool ok = false;
  bool answered = false;  // false: no HTTP answer at all (network error, timeout)
  std::string message;    // why, when !ok
  json::value body;       // the JSON answer, when ok
};

// JavaScript truthiness of a JSON member.
bool truthy(const json::value* value) {
  if (value == nullptr) return false;
  switch (value->kind()) {
    case json::kind::null:
      return false;
    case json::kind::bool_:
      return value->get_bool();
    case json::kind::int64:
      return value->get_int64() != 0;
    case json::kind::uint64:
      return value->get_uint64() != 0;
    case json::kind::double_:
      return value->get_double() != 0 && !std::isnan(value->get_double());
    case json::kind::string:
      return !value->get_string().empty();
    case json::kind::array:
    case json::kind::object:
      return true;
  }
  return false;
}

std::string truncate_utf8(std::string text, std::size_t limit) {
  if (text.size() <= limit) return text;
  std::size_t cut = limit;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80)
    --cut;
  text.resize(cut);
  text += "...";
  return text;
}

std::string random_uuid() {
  std::array<unsigned char, 16> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    // Extremely unlikely; the password is never used for signing in anyway.
    for (auto& b : bytes)
      b = static_cast<unsigned char>(std::rand());
  }
  bytes[6] = static_cast<unsigned char>((bytes[6] & 0x0F) | 0x40);
  bytes[8] = static_cast<unsigned char>((bytes[8] & 0x3F) | 0x80);
  constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kHex[bytes[i] >> 4]);
    out.push_back(kHex[bytes[i] & 0x0F]);
  }
  return out;
}

Outcome interpret(std::string_view operation, http::UpstreamError error,
                  const http::UpstreamResponse& response) {
  Outcome outcome;
  if (error != http::UpstreamError::kNone) {
    observability::log_warn(
        "supabase {}: no usable answer from Supabase ({})", operation,
        error == http::UpstreamError::kTimeout ? "timed out" : "unreachable or invalid response");
    outcome.message = "Supabase request failed";
    return outcome;
  }
  outcome.answered = true;
  if (!auth_support::is_success(response.status)) {
    observability::log_warn("supabase {}: Supabase answered HTTP {}", operation, response.status);
    outcome.message = supabase_error_message(response.status, response.body);
    return outcome;
  }
  boost::system::error_code ec;
  outcome.body = json::parse(response.body, ec);
  if (ec) {
    observability::log_warn("supabase {}: Supabase answered HTTP {} with a body that is not JSON", operation,
                            response.status);
    outcome.message = "Supabase returned an invalid response";
    return outcome;
  }
  outcome.ok = true;
  return outcome;
}

class SupabaseStage : public pipeline::Stage {
 public:
  explicit SupabaseStage(std::shared_ptr<const SupabaseApi> api) : api_(std::move(api)) {}

 protected:
  using Done = std::function<void(pipeline::RequestContext&, Outcome&&)>;

  // The request body as a JSON object (other JSON values count as an object without members); nullopt after
  // setting a 400 response when the body is not JSON.
  static std::optional<json::object> request_json(pipeline::RequestContext& exchange) {
    boost::system::error_code ec;
    json::value body = json::parse(exchange.request().body, ec);
    if (ec) {
      exchange.response = pipeline::error_response(pipeline::ErrorKind::kSupabaseInvalidJson);
      return std::nullopt;
    }
    return body.is_object() ? std::move(body.get_object()) : json::object();
  }

  bool configured() const { return api_->target != nullptr; }

  // Answers at once with the error of `kind`.
  static pipeline::Flow refuse(pipeline::RequestContext& exchange, pipeline::ErrorKind kind) {
    exchange.response = pipeline::error_response(kind);
    return pipeline::Flow::kRespond;
  }

  // POST {SUPABASE_URL}{path} with the JSON body and the service role key.
  void call(pipeline::RequestContext& exchange, std::string_view operation, std::string_view path,
            const json::object& body, Done done) const {
    std::string payload = json::serialize(body);
    std::string head =
        auth_support::request_head("POST", api_->base_path + std::string(path), *api_->target,
                                   api_->key_lines, "application/json;charset=UTF-8", payload.size());
    auth_support::send(
        exchange, api_->target, std::move(head), std::move(payload),
        [operation, done = std::move(done)](pipeline::RequestContext& ex, http::UpstreamError error,
                                            http::UpstreamResponse&& response) {
          done(ex, interpret(operation, error, response));
        });
  }

  std::shared_ptr<const SupabaseApi> api_;
};

// {email} -> signInWithOtp, falling back to admin generate_link; {phone} -> signInWithOtp (sms).
class PasswordlessAuth final : public SupabaseStage {
 public:
  using SupabaseStage::SupabaseStage;

  pipeline::Flow run(pipeline::RequestContext& exchange) override {
    auto body = request_json(exchange);
    if (!body) return pipeline::Flow::kRespond;
    const json::value* email = body->if_contains("email");
    const json::value* phone = body->if_contains("phone");
    if (!truthy(email) && !truthy(phone)) {
      return refuse(exchange, pipeline::ErrorKind::kSupabaseMissingEmailOrPhone);
    }
    if (!configured()) {
      return refuse(exchange, pipeline::ErrorKind::kSupabaseEnvMissing);
    }
    if (truthy(email)) {
      send_email_otp(exchange, *email);
    } else {
      send_phone_otp(exchange, *phone);
    }
    return pipeline::Flow::kPending;
  }

 private:
  void send_email_otp(pipeline::RequestContext& exchange, const json::value& email) const {
    json::object otp{{"email", email},
                     {"data", json::object()},
                     {"create_user", true},
                     {"gotrue_meta_security", json::object()},
                     {"code_challenge", nullptr},
                     {"code_challenge_method", nullptr}};
    call(
        exchange, "email OTP", "/auth/v1/otp", otp,
        [this, email](pipeline::RequestContext& ex, Outcome&& sent) {
          if (sent.ok) {
            finish(
                ex,
                json_response(
                    200,
                    R"j({"message":"Email OTP sent successfully",)j"
                    R"j("note":"Check your email for a 6-digit verification code (not a link)",)j"
                    R"j("debug":"If you received a magic link, check your Supabase project Auth settings"})j"));
            return;
          }
          json::object link{{"type", "magiclink"}, {"email", email}, {"redirectTo", "otp://verify"}};
          call(ex, "admin generate_link", "/auth/v1/admin/generate_link?redirect_to=otp%3A%2F%2Fverify", link,
               [first = std::move(sent.message)](pipeline::RequestContext& ex2, Outcome&& fallback) {
                 if (fallback.ok) {
                   finish(ex2, json_response(200, R"j({"message":"Email OTP request sent via admin API",)j"
                                                  R"j("note":"Check your email for verification code"})j"));
                   return;
                 }
                 finish(ex2, pipeline::error_response(
                                 pipeline::ErrorKind::kSupabaseEmailOtpFailed,
                                 "Failed to send OTP: Supabase OTP Error: " + first +
                                     ". Admin fallback failed: Admin API Error: " + fallback.message));
               });
        });
  }

  void send_phone_otp(pipeline::RequestContext& exchange, const json::value& phone) const {
    json::object otp{{"phone", phone},
                     {"data", json::object()},
                     {"create_user", true},
                     {"gotrue_meta_security", json::object()},
                     {"channel", "sms"}};
    call(exchange, "phone OTP", "/auth/v1/otp", otp, [](pipeline::RequestContext& ex, Outcome&& sent) {
      if (sent.ok) {
        finish(ex, json_response(200, R"j({"message":"SMS OTP sent successfully",)j"
                                      R"j("note":"Check your phone for a 6-digit verification code"})j"));
        return;
      }
      finish(ex, pipeline::error_response(pipeline::ErrorKind::kSupabasePhoneOtpFailed,
                                          "Phone OTP Error: " + sent.message));
    });
  }
};

// {token, email|phone} -> verifyOtp; answers the session (or null).
class PasswordlessVerify final : public SupabaseStage {
 public:
  using SupabaseStage::SupabaseStage;

  pipeline::Flow run(pipeline::RequestContext& exchange) override {
    auto body = request_json(exchange);
    if (!body) return pipeline::Flow::kRespond;
    const json::value* token = body->if_contains("token");
    const json::value* email = body->if_contains("email");
    const json::value* phone = body->if_contains("phone");
    if (!truthy(token) || (!truthy(email) && !truthy(phone))) {
      return refuse(exchange, pipeline::ErrorKind::kSupabaseMissingTokenOrContact);
    }
    if (!configured()) {
      return refuse(exchange, pipeline::ErrorKind::kSupabaseEnvMissing);
    }
    const bool by_email = truthy(email);
    json::object verify;
    verify[by_email ? "email" : "phone"] = by_email ? *email : *phone;
    verify["token"] = *token;
    verify["type"] = by_email ? "email" : "sms";
    verify["gotrue_meta_security"] = json::object();
    call(exchange, "verify OTP", "/auth/v1/verify", verify,
         [](pipeline::RequestContext& ex, Outcome&& verified) {
           if (!verified.ok) {
             finish(ex, pipeline::error_response(pipeline::ErrorKind::kSupabaseVerifyFailed,
                                                 "OTP Verification Error: " + verified.message));
             return;
           }
           finish(ex, json_response(200, js_json(session_of(verified.body))));
         });
    return pipeline::Flow::kPending;
  }

 private:
  // supabase-js's _sessionResponse: the answer is a session when it has access_token, refresh_token and
  // expires_in; expires_at is added when missing.
  static json::value session_of(const json::value& answer) {
    if (!answer.is_object()) return nullptr;
    const json::object& data = answer.get_object();
    if (!truthy(data.if_contains("access_token")) || !truthy(data.if_contains("refresh_token")) ||
        !truthy(data.if_contains("expires_in"))) {
      return nullptr;
    }
    json::object session = data;
    const json::value& expires_in = data.at("expires_in");
    if (!truthy(data.if_contains("expires_at")) && expires_in.is_number()) {
      session["expires_at"] = static_cast<std::int64_t>(std::time(nullptr)) +
                              static_cast<std::int64_t>(std::llround(expires_in.to_number<double>()));
    }
    return session;
  }
};

// {email} -> signUp with a random password (an OTP-only user); "already registered" counts as success.
class PasswordlessAuthAlt final : public SupabaseStage {
 public:
  using SupabaseStage::SupabaseStage;

  pipeline::Flow run(pipeline::RequestContext& exchange) override {
    auto body = request_json(exchange);
    if (!body) return pipeline::Flow::kRespond;
    const json::value* email = body->if_contains("email");
    if (!truthy(email)) {
      return refuse(exchange, pipeline::ErrorKind::kSupabaseMissingEmail);
    }
    if (!configured()) {
      return refuse(exchange, pipeline::ErrorKind::kSupabaseEnvMissing);
    }
    json::object signup{{"email", *email},
                        {"password", random_uuid()},
                        {"data", json::object{{"otp_only", true}}},
                        {"gotrue_meta_security", json::object()},
                        {"code_challenge", nullptr},
                        {"code_challenge_method", nullptr}};
    call(exchange, "signup", "/auth/v1/signup", signup,
         [](pipeline::RequestContext& ex, Outcome&& signed_up) {
           if (signed_up.ok || signed_up.message.find("already registered") != std::string::npos) {
             finish(ex, json_response(200, R"j({"message":"Alternative OTP method attempted",)j"
                                           R"j("note":"Check your email for verification code"})j"));
             return;
           }
           if (!signed_up.answered) {
             finish(ex, pipeline::error_response(pipeline::ErrorKind::kSupabaseAltUnanswered,
                                                 "Alternative OTP method failed: " + signed_up.message));
             return;
           }
           finish(ex, pipeline::error_response(pipeline::ErrorKind::kSupabaseAltRefused, signed_up.message));
         });
    return pipeline::Flow::kPending;
  }
};

bool has_line_break(std::string_view text) {
  return text.find_first_of("\r\n", 0) != std::string_view::npos || text.find('\0') != std::string_view::npos;
}

}  // namespace

std::string supabase_error_message(int status, std::string_view body) {
  if (status == 502 || status == 503 || status == 504) {
    return "Supabase is unavailable (HTTP " + std::to_string(status) + ")";
  }
  boost::system::error_code ec;
  json::value data = json::parse(body, ec);
  if (ec) return "Supabase returned HTTP " + std::to_string(status);
  if (data.is_object()) {
    for (std::string_view field : {"msg", "message", "error_description", "error"}) {
      const json::value* member = data.get_object().if_contains(field);
      if (!truthy(member)) continue;
      if (member->is_string()) return truncate_utf8(std::string(member->get_string()), kMaxMessageBytes);
      return truncate_utf8(js_json(*member), kMaxMessageBytes);
    }
  }
  return truncate_utf8(js_json(data), kMaxMessageBytes);
}

std::unique_ptr<pipeline::Stage> make_supabase_integration(const config::Route& route,
                                                           const config::Environment& environment,
                                                           const std::vector<std::string>& ca_files,
                                                           std::vector<config::ConfigError>& errors,
                                                           std::vector<config::ConfigError>& warnings) {
  if (!route.integration) return nullptr;
  const std::string pointer = "/paths/" + std::to_string(route.index) + "/integration";
  auto api = std::make_shared<SupabaseApi>();
  auto url = environment.get("SUPABASE_URL");
  auto key = environment.get("SUPABASE_SERVICE_ROLE_KEY");
  if (!url || url->empty() || !key || key->empty()) {
    warnings.push_back({pointer + "/type",
                        "SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY are not both set; this route "
                        "answers 500 SUPABASE_ENV_MISSING"});
  } else {
    auto parsed = boost::urls::parse_absolute_uri(*url);
    if (!parsed ||
        (parsed->scheme_id() != boost::urls::scheme::https &&
         parsed->scheme_id() != boost::urls::scheme::http) ||
        parsed->host_address().empty() || (parsed->has_port() && !auth_support::parse_port(parsed->port()))) {
      errors.push_back(
          {pointer, "environment variable SUPABASE_URL must be an absolute http:// or https:// URL"});
      return nullptr;
    }
    if (has_line_break(*key)) {
      errors.push_back(
          {pointer, "environment variable SUPABASE_SERVICE_ROLE_KEY must not contain line breaks"});
      return nullptr;
    }
    const bool tls = parsed->scheme_id() == boost::urls::scheme::https;
    std::string host(parsed->host_address());
    if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
    const std::uint16_t port =
        parsed->has_port() ? *auth_support::parse_port(parsed->port()) : (tls ? 443 : 80);
    std::string error;
    api->target = auth_support::provider_target(tls, host, port, ca_files, error);
    if (!api->target) {
      errors.push_back({pointer, error});
      return nullptr;
    }
    api->base_path = std::string(parsed->encoded_path());
    while (!api->base_path.empty() && api->base_path.back() == '/')
      api->base_path.pop_back();
    api->key_lines =
        "apikey: " + std::string(*key) + "\r\nAuthorization: Bearer " + std::string(*key) + "\r\n";
  }
  switch (route.integration->type) {
    case config::IntegrationType::kSupabasePasswordlessAuth:
      return std::make_unique<PasswordlessAuth>(std::move(api));
    case config::IntegrationType::kSupabasePasswordlessVerify:
      return std::make_unique<PasswordlessVerify>(std::move(api));
    case config::IntegrationType::kSupabasePasswordlessAuthAlt:
      return std::make_unique<PasswordlessAuthAlt>(std::move(api));
    default:
      return nullptr;
  }
}

}  // namespace workgate::integrations
