#include "integrations/auth_support.hpp"

#include <charconv>
#include <map>
#include <mutex>

#include "integrations/mapping.hpp"
#include "pipeline/errors.hpp"
#include "pipeline/gateway_handler.hpp"

#ifndef WORKGATE_VERSION
#define WORKGATE_VERSION "dev"
#endif

namespace workgate::integrations::auth_support {
namespace {

constexpr char kHex[] = "0123456789ABCDEF";

bool is_alnum(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

void percent(std::string& out, char c) {
  const auto byte = static_cast<unsigned char>(c);
  out.push_back('%');
  out.push_back(kHex[byte >> 4]);
  out.push_back(kHex[byte & 0x0F]);
}

}  // namespace

std::string form_component(std::string_view text) {
  return form_encode(text);
}

std::string uri_component(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 8);
  for (char c : text) {
    if (is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(c);
    } else {
      percent(out, c);
    }
  }
  return out;
}

std::optional<std::string> query_parameter(std::string_view query, std::string_view name) {
  return integrations::query_parameter(query, name);
}

std::shared_ptr<const http::UpstreamTarget> provider_target(bool tls, const std::string& host,
                                                            std::uint16_t port,
                                                            const std::vector<std::string>& ca_files,
                                                            std::string& error) {
  static std::mutex mutex;
  static std::map<std::string, std::weak_ptr<const http::UpstreamTarget>> targets;
  std::string key = (tls ? "https://" : "http://") + host + ":" + std::to_string(port);
  for (const auto& file : ca_files)
    key += "|" + file;
  std::lock_guard lock(mutex);
  if (auto existing = targets[key].lock()) return existing;
  auto target = http::make_upstream_target(tls, host, port, ca_files, error);
  if (!target) return nullptr;
  target->connect_timeout = std::chrono::seconds(5);
  target->timeout = std::chrono::seconds(15);
  target->idle_timeout = std::chrono::seconds(30);
  target->max_connections = 64;
  target->pool_key += "|auth-flows";
  targets[key] = target;
  return target;
}

std::string request_head(std::string_view method, std::string_view path, const http::UpstreamTarget& target,
                         std::string_view extra_lines, std::string_view content_type, std::size_t body_size) {
  std::string head;
  head.reserve(256 + path.size() + extra_lines.size());
  head.append(method).append(" ").append(path).append(" HTTP/1.1\r\nHost: ").append(target.authority);
  head.append("\r\nAccept: application/json\r\nUser-Agent: workgate/" WORKGATE_VERSION "\r\n");
  head.append(extra_lines);
  if (!content_type.empty()) head.append("Content-Type: ").append(content_type).append("\r\n");
  if (body_size > 0 || method == "POST") {
    char digits[24];
    auto r = std::to_chars(digits, digits + sizeof(digits), body_size);
    head.append("Content-Length: ").append(digits, r.ptr).append("\r\n");
  }
  head.append("\r\n");
  return head;
}

void send(pipeline::RequestContext& exchange, const std::shared_ptr<const http::UpstreamTarget>& target,
          std::string head, std::string body, Completion done) {
  http::UpstreamRequest request;
  request.head = std::move(head);
  request.body = std::move(body);
  request.idempotent = request.head.starts_with("GET ");
  auto keep = exchange.retain();
  auto call = exchange.handler().upstream().send(
      target, std::move(request),
      [keep, done = std::move(done)](http::UpstreamError error, http::UpstreamResponse&& response) {
        auto& ex = static_cast<pipeline::RequestContext&>(*keep);
        if (ex.responded()) return;
        done(ex, error, std::move(response));
      },
      kResponseLimit);
  exchange.set_pending(std::move(call));
}

http::Response json_response(int status, std::string body) {
  http::Response response;
  response.status = status;
  response.content_type = pipeline::kJsonContentType;
  response.set_body(std::move(body));
  return response;
}

void finish(pipeline::RequestContext& exchange, http::Response response) {
  const bool ok = response.status < 400;
  exchange.response = std::move(response);
  exchange.resume(ok ? pipeline::Flow::kContinue : pipeline::Flow::kRespond);
}

bool is_success(int status) {
  return status >= 200 && status < 300;
}

std::optional<std::uint16_t> parse_port(std::string_view text) {
  if (text.empty() || text.size() > 5) return std::nullopt;
  unsigned value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value == 0 || value > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

}  // namespace workgate::integrations::auth_support
