// Helpers shared by the auth flow integrations (auth0_*, supabase_*): encodings, query parameters, the
// upstream targets of identity providers, and buffered calls through the thread's upstream client.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/upstream.hpp"
#include "pipeline/request_context.hpp"

namespace workgate::integrations::auth_support {

// Identity provider responses are small; anything bigger is refused as a bad response.
inline constexpr std::size_t kResponseLimit = 1024 * 1024;

// application/x-www-form-urlencoded (what URLSearchParams produces): A-Z a-z 0-9 * - . _ kept, space as '+',
// everything else %XX.
std::string form_component(std::string_view text);
// A URI query component: RFC 3986 unreserved characters kept, everything else (space too) %XX.
std::string uri_component(std::string_view text);
// The first value of `name` in a raw query string, decoded like URLSearchParams ('+' is a space, invalid
// %-escapes kept as written). nullopt when absent.
std::optional<std::string> query_parameter(std::string_view query, std::string_view name);

// A target for an identity provider origin; targets with the same origin and trust are shared (also across
// config reloads), so the system trust store is loaded once. Null with `error` when a CA file is unusable.
std::shared_ptr<const http::UpstreamTarget> provider_target(bool tls, const std::string& host,
                                                            std::uint16_t port,
                                                            const std::vector<std::string>& ca_files,
                                                            std::string& error);

// "Name: value\r\n" lines every provider request carries, then Content-Length when `body` is not empty.
std::string request_head(std::string_view method, std::string_view path, const http::UpstreamTarget& target,
                         std::string_view extra_lines, std::string_view content_type, std::size_t body_size);

using Completion =
    std::function<void(pipeline::RequestContext&, http::UpstreamError, http::UpstreamResponse&&)>;

// Sends the request with the exchange's thread's upstream client, the response read whole; `done` runs on
// that thread unless the client went away in the meantime.
void send(pipeline::RequestContext& exchange, const std::shared_ptr<const http::UpstreamTarget>& target,
          std::string head, std::string body, Completion done);

// Ends a pending stage: sets the response and resumes (kContinue for a 2xx JSON body, else kRespond).
void finish(pipeline::RequestContext& exchange, http::Response response);
http::Response json_response(int status, std::string body);

bool is_success(int status);

// A URL port: 1..65535 in decimal digits only.
std::optional<std::uint16_t> parse_port(std::string_view text);

}  // namespace workgate::integrations::auth_support
