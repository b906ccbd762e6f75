#include "integrations/auth0.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>
#include <ctime>

#include "common/js_json.hpp"
#include "integrations/auth_support.hpp"
#include "observability/log.hpp"
#include "pipeline/errors.hpp"
#include "pipeline/gateway_handler.hpp"
#include "pipeline/request_context.hpp"

namespace workgate::integrations {
namespace {

namespace json = boost::json;
using auth_support::finish;
using auth_support::form_component;
using auth_support::json_response;

enum class Action { kTokenExchange, kUserinfo, kRefresh };

struct ActionText {
  std::string_view name;      // for logs
  std::string_view upstream;  // non-2xx answer
  std::string_view network;   // no answer
};

ActionText text_of(Action action) {
  switch (action) {
    case Action::kTokenExchange:
      return {"token exchange", "Auth0 token exchange failed", "Auth0 token exchange request failed"};
    case Action::kUserinfo:
      return {"userinfo", "Auth0 userinfo failed", "Auth0 userinfo request failed"};
    case Action::kRefresh:
      return {"refresh token", "Auth0 refresh token failed", "Auth0 refresh token request failed"};
  }
  return {"call", "Auth0 call failed", "Auth0 request failed"};
}

// The JSON of a 2xx Auth0 answer; otherwise sets `failure` to the original's SAGError rendering.
std::optional<json::value> provider_json(Action action, http::UpstreamError error,
                                         const http::UpstreamResponse& response, http::Response& failure) {
  const ActionText text = text_of(action);
  if (error != http::UpstreamError::kNone) {
    observability::log_warn(
        "auth0 {}: no usable answer from Auth0 ({})", text.name,
        error == http::UpstreamError::kTimeout ? "timed out" : "unreachable or invalid response");
    failure = pipeline::error_response(pipeline::ErrorKind::kAuth0Network, text.network);
    return std::nullopt;
  }
  if (!auth_support::is_success(response.status)) {
    observability::log_warn("auth0 {}: Auth0 answered HTTP {}", text.name, response.status);
    failure =
        pipeline::relayed_error_response(pipeline::ErrorKind::kAuth0Upstream, response.status, text.upstream);
    return std::nullopt;
  }
  boost::system::error_code ec;
  json::value value = json::parse(response.body, ec);
  if (ec) {
    observability::log_warn("auth0 {}: Auth0 answered HTTP {} with a body that is not JSON", text.name,
                            response.status);
    failure = pipeline::error_response(pipeline::ErrorKind::kAuth0Internal);
    return std::nullopt;
  }
  return value;
}

std::optional<std::string> header_value(const http::Request& request, std::string_view name) {
  auto value = request.headers.get(name);
  if (!value) return std::nullopt;
  std::string_view v = *value;
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t'))
    v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t'))
    v.remove_suffix(1);
  if (v.empty() || v.find_first_of("\r\n", 0) != std::string_view::npos ||
      v.find('\0') != std::string_view::npos) {
    return std::nullopt;
  }
  return std::string(v);
}

class Auth0Stage : public pipeline::Stage {
 public:
  Auth0Stage(std::shared_ptr<const http::UpstreamTarget> target, const config::Authorizer& authorizer,
             const auth::Verifier& verifier)
      : target_(std::move(target)), authorizer_(authorizer), verifier_(verifier) {}

 protected:
  // POST /oauth/token with a form body; `done` gets the JSON of a 2xx answer.
  void token_request(pipeline::RequestContext& exchange, Action action, std::string body,
                     std::function<void(pipeline::RequestContext&, json::value&&)> done) const {
    std::string head = auth_support::request_head("POST", "/oauth/token", *target_, {},
                                                  "application/x-www-form-urlencoded", body.size());
    auth_support::send(
        exchange, target_, std::move(head), std::move(body),
        [action, done = std::move(done)](pipeline::RequestContext& ex, http::UpstreamError error,
                                         http::UpstreamResponse&& response) {
          http::Response failure;
          auto value = provider_json(action, error, response, failure);
          if (!value) {
            finish(ex, std::move(failure));
            return;
          }
          done(ex, std::move(*value));
        });
  }

  std::string client_credentials() const {
    return "&client_id=" + form_component(authorizer_.client_id) +
           "&client_secret=" + form_component(authorizer_.client_secret);
  }

  std::shared_ptr<const http::UpstreamTarget> target_;
  const config::Authorizer& authorizer_;
  const auth::Verifier& verifier_;
};

// GET ?code=... -> POST /oauth/token (authorization_code), id_token verified, its claims set for
// post_process.
class Auth0Callback final : public Auth0Stage {
 public:
  using Auth0Stage::Auth0Stage;

  pipeline::Flow run(pipeline::RequestContext& exchange) override {
    auto code = auth_support::query_parameter(exchange.request().query, "code");
    if (!code || code->empty()) {
      exchange.response = pipeline::error_response(pipeline::ErrorKind::kAuth0MissingCode);
      return pipeline::Flow::kRespond;
    }
    std::string body = "grant_type=authorization_code" + client_credentials() +
                       "&code=" + form_component(*code) +
                       "&redirect_uri=" + form_component(authorizer_.redirect_uri);
    token_request(
        exchange, Action::kTokenExchange, std::move(body),
        [this](pipeline::RequestContext& ex, json::value&& tokens) { on_tokens(ex, std::move(tokens)); });
    return pipeline::Flow::kPending;
  }

 private:
  void on_tokens(pipeline::RequestContext& exchange, json::value&& tokens) const {
    const json::value* id_token = tokens.is_object() ? tokens.get_object().if_contains("id_token") : nullptr;
    if (id_token == nullptr || !id_token->is_string()) {
      observability::log_warn(
          "auth0 token exchange: the answer has no id_token (is \"openid\" in the scope?)");
      finish(exchange, pipeline::error_response(pipeline::ErrorKind::kAuth0Internal));
      return;
    }
    auth::VerifyResult result = exchange.handler().verify_token(
        verifier_, std::string_view(id_token->get_string()), std::time(nullptr));
    if (!result.ok()) {
      finish(exchange, pipeline::auth_error(result.failure));
      return;
    }
    exchange.set_claims(std::move(result.claims));
    finish(exchange, json_response(200, js_json(tokens)));
  }
};

// GET /userinfo with the access token from X-Access-Token (else the bearer token).
class Auth0Userinfo final : public Auth0Stage {
 public:
  using Auth0Stage::Auth0Stage;

  pipeline::Flow run(pipeline::RequestContext& exchange) override {
    const http::Request& request = exchange.request();
    std::optional<std::string> token = header_value(request, "X-Access-Token");
    if (!token) {
      auto authorization = request.headers.get("Authorization");
      if (auto bearer = authorization ? auth::extract_bearer(*authorization) : std::nullopt)
        token = std::string(*bearer);
    }
    if (!token) {
      exchange.response = pipeline::error_response(pipeline::ErrorKind::kAuth0MissingAccessToken);
      return pipeline::Flow::kRespond;
    }
    std::string head = auth_support::request_head("GET", "/userinfo", *target_,
                                                  "Authorization: Bearer " + *token + "\r\n", {}, 0);
    auth_support::send(
        exchange, target_, std::move(head), {},
        [](pipeline::RequestContext& ex, http::UpstreamError error, http::UpstreamResponse&& response) {
          http::Response failure;
          auto profile = provider_json(Action::kUserinfo, error, response, failure);
          if (!profile) {
            finish(ex, std::move(failure));
            return;
          }
          finish(ex, json_response(200, js_json(*profile)));
        });
    return pipeline::Flow::kPending;
  }
};

// 302 to https://{domain}/authorize with the configured client and the request's state.
class Auth0CallbackRedirect final : public pipeline::Stage {
 public:
  explicit Auth0CallbackRedirect(const config::Authorizer& authorizer) : authorizer_(authorizer) {}

  pipeline::Flow run(pipeline::RequestContext& exchange) override {
    auto state = auth_support::query_parameter(exchange.request().query, "state");
    if (!state || state->empty()) {
      exchange.response = pipeline::error_response(pipeline::ErrorKind::kAuth0MissingState);
      return pipeline::Flow::kRespond;
    }
    exchange.response = http::Response();
    exchange.response.status = 302;
    exchange.response.headers.add("Location", auth0_authorize_url(authorizer_, *state));
    return pipeline::Flow::kContinue;
  }

 private:
  const config::Authorizer& authorizer_;
};

// The refresh token from X-Refresh-Token or a POST body's refresh_token; refreshed only when the bearer ID
// token has expired.
class Auth0Refresh final : public Auth0Stage {
 public:
  using Auth0Stage::Auth0Stage;

  pipeline::Flow run(pipeline::RequestContext& exchange) override {
    const http::Request& request = exchange.request();
    std::optional<std::string> refresh_token = header_value(request, "X-Refresh-Token");
    if (!refresh_token && request.method == "POST") {
      boost::system::error_code ec;
      json::value body = json::parse(request.body, ec);
      if (!ec && body.is_object()) {
        const json::value* member = body.get_object().if_contains("refresh_token");
        if (member != nullptr && member->is_string() && !member->get_string().empty()) {
          refresh_token = std::string(member->get_string());
        }
      }
    }
    if (!refresh_token) {
      exchange.response = pipeline::error_response(pipeline::ErrorKind::kAuth0MissingRefreshToken);
      return pipeline::Flow::kRespond;
    }
    auto authorization = request.headers.get("Authorization");
    auto id_token = authorization ? auth::extract_bearer(*authorization) : std::nullopt;
    if (!id_token) {
      exchange.response = pipeline::auth_error(auth::missing_token_failure());
      return pipeline::Flow::kRespond;
    }
    auth::VerifyResult result = exchange.handler().verify_token(verifier_, *id_token, std::time(nullptr));
    if (result.ok()) {
      exchange.response =
          json_response(200, R"({"message":"Token is still valid","code":"token_still_valid"})");
      return pipeline::Flow::kContinue;
    }
    if (!result.failure || result.failure->code != "ERR_JWT_EXPIRED") {
      exchange.response = pipeline::auth_error(result.failure);
      return pipeline::Flow::kRespond;
    }
    std::string body = "grant_type=refresh_token" + client_credentials() +
                       "&refresh_token=" + form_component(*refresh_token);
    token_request(exchange, Action::kRefresh, std::move(body),
                  [](pipeline::RequestContext& ex, json::value&& tokens) {
                    finish(ex, json_response(200, js_json(tokens)));
                  });
    return pipeline::Flow::kPending;
  }
};

void add_error_once(std::vector<config::ConfigError>& errors, config::ConfigError error) {
  for (const auto& e : errors) {
    if (e.pointer == error.pointer && e.message == error.message) return;
  }
  errors.push_back(std::move(error));
}

}  // namespace

std::optional<Auth0Origin> parse_auth0_domain(const std::string& domain) {
  auto parsed = boost::urls::parse_authority(domain);
  if (!parsed || parsed->has_userinfo()) return std::nullopt;
  Auth0Origin origin;
  origin.host = std::string(parsed->host_address());
  if (origin.host.size() > 2 && origin.host.front() == '[')
    origin.host = origin.host.substr(1, origin.host.size() - 2);
  if (origin.host.empty()) return std::nullopt;
  if (parsed->has_port()) {
    auto port = auth_support::parse_port(parsed->port());
    if (!port) return std::nullopt;
    origin.port = *port;
  }
  return origin;
}

std::string auth0_authorize_url(const config::Authorizer& authorizer, const std::string& state) {
  using auth_support::uri_component;
  return "https://" + authorizer.domain +
         "/authorize?response_type=code&client_id=" + uri_component(authorizer.client_id) +
         "&redirect_uri=" + uri_component(authorizer.redirect_uri) +
         "&scope=" + uri_component(authorizer.scope) + "&state=" + uri_component(state);
}

std::unique_ptr<pipeline::Stage> make_auth0_integration(const config::Route& route,
                                                        const config::Config& config,
                                                        const auth::Verifier* verifier,
                                                        const std::vector<std::string>& ca_files,
                                                        std::vector<config::ConfigError>& errors) {
  if (!route.integration) return nullptr;
  const config::Authorizer* authorizer = config.authorizer ? &*config.authorizer : nullptr;
  if (authorizer == nullptr || authorizer->type != config::AuthorizerType::kAuth0) {
    add_error_once(errors, {"/paths/" + std::to_string(route.index) + "/integration/type",
                            std::string(config::integration_type_name(route.integration->type)) +
                                " needs an authorizer of type \"auth0\""});
    return nullptr;
  }
  auto origin = parse_auth0_domain(authorizer->domain);
  if (!origin) {
    add_error_once(
        errors, {"/authorizer/domain", "must be a host name with an optional port (e.g. tenant.auth0.com)"});
    return nullptr;
  }
  if (route.integration->type == config::IntegrationType::kAuth0CallbackRedirect) {
    return std::make_unique<Auth0CallbackRedirect>(*authorizer);
  }
  if (verifier == nullptr) {
    // The authorizer failed to build; its errors are reported already.
    if (errors.empty()) add_error_once(errors, {"/authorizer", "the auth0 authorizer could not be built"});
    return nullptr;
  }
  std::string error;
  auto target = auth_support::provider_target(true, origin->host, origin->port, ca_files, error);
  if (!target) {
    add_error_once(errors, {"/authorizer/domain", error});
    return nullptr;
  }
  switch (route.integration->type) {
    case config::IntegrationType::kAuth0Callback:
      return std::make_unique<Auth0Callback>(std::move(target), *authorizer, *verifier);
    case config::IntegrationType::kAuth0Userinfo:
      return std::make_unique<Auth0Userinfo>(std::move(target), *authorizer, *verifier);
    case config::IntegrationType::kAuth0Refresh:
      return std::make_unique<Auth0Refresh>(std::move(target), *authorizer, *verifier);
    default:
      return nullptr;
  }
}

}  // namespace workgate::integrations
