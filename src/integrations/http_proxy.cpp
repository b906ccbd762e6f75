#include "integrations/http_proxy.hpp"

#include <array>
#include <charconv>
#include <chrono>

#include "observability/log.hpp"
#include "pipeline/errors.hpp"
#include "pipeline/gateway_handler.hpp"
#include "pipeline/request_context.hpp"

namespace workgate::integrations {
namespace {

// What a header field is to the proxy, by name. One length switch and at most two comparisons per field,
// instead of comparing it with every name the proxy treats specially (twice per request, per field).
enum class FieldRole {
  kOther,
  kHopByHop,  // RFC 9110 §7.6.1, and Keep-Alive, Proxy-Connection (RFC 7230 §6.1's list)
  kHost,
  kContentLength,
  kExpect,
  kForwardedFor,
  kForwardedProto,
  kForwardedHost,
  kRequestId,
  kTraceContext,  // traceparent, tracestate
};

FieldRole field_role(std::string_view name) {
  auto is = [&](std::string_view known) { return http::iequals(name, known); };
  switch (name.size()) {
    case 2:
      return is("TE") ? FieldRole::kHopByHop : FieldRole::kOther;
    case 4:
      return is("Host") ? FieldRole::kHost : FieldRole::kOther;
    case 6:
      return is("Expect") ? FieldRole::kExpect : FieldRole::kOther;
    case 7:
      return is("Trailer") || is("Upgrade") ? FieldRole::kHopByHop : FieldRole::kOther;
    case 10:
      if (is("Connection") || is("Keep-Alive")) return FieldRole::kHopByHop;
      return is("tracestate") ? FieldRole::kTraceContext : FieldRole::kOther;
    case 11:
      return is("traceparent") ? FieldRole::kTraceContext : FieldRole::kOther;
    case 12:
      return is("X-Request-Id") ? FieldRole::kRequestId : FieldRole::kOther;
    case 14:
      return is("Content-Length") ? FieldRole::kContentLength : FieldRole::kOther;
    case 15:
      return is("X-Forwarded-For") ? FieldRole::kForwardedFor : FieldRole::kOther;
    case 16:
      if (is("Proxy-Connection")) return FieldRole::kHopByHop;
      return is("X-Forwarded-Host") ? FieldRole::kForwardedHost : FieldRole::kOther;
    case 17:
      if (is("Transfer-Encoding")) return FieldRole::kHopByHop;
      return is("X-Forwarded-Proto") ? FieldRole::kForwardedProto : FieldRole::kOther;
    case 18:
      return is("Proxy-Authenticate") ? FieldRole::kHopByHop : FieldRole::kOther;
    case 19:
      return is("Proxy-Authorization") ? FieldRole::kHopByHop : FieldRole::kOther;
    default:
      return FieldRole::kOther;
  }
}

// Fields the Connection header names are hop-by-hop too.
bool named_by_connection(std::string_view name, std::string_view connection_tokens) {
  return http::for_each_list_element(connection_tokens,
                                     [&](std::string_view token) { return !http::iequals(token, name); });
}

// What the Connection field lines say (a sender may split the list over several lines).
struct ConnectionOptions {
  // The tokens naming fields to drop, joined by commas, without those naming a field that is hop-by-hop
  // anyway ("keep-alive", "upgrade"): those change nothing, and an empty list spares comparing every
  // field with it.
  std::string fields;
  bool upgrade = false;  // the "upgrade" option
};

ConnectionOptions connection_options(const http::HeaderList& headers) {
  ConnectionOptions options;
  headers.for_each([&](const http::HeaderList::Field& f) {
    if (f.name.size() != 10 || !http::iequals(f.name, "Connection")) return;
    // What most upstreams (and many clients) send on every message: a field it names is hop-by-hop anyway.
    if (f.value.size() == 10 && http::iequals(f.value, "keep-alive")) return;
    http::for_each_list_element(f.value, [&](std::string_view token) {
      if (http::iequals(token, "upgrade")) options.upgrade = true;
      if (field_role(token) != FieldRole::kHopByHop) {
        if (!options.fields.empty()) options.fields.push_back(',');
        options.fields.append(token);
      }
      return true;
    });
  });
  return options;
}

bool safe_header_value(std::string_view v) {
  return v.find_first_of("\r\n", 0) == std::string_view::npos && v.find('\0') == std::string_view::npos;
}

// --- Upgrade (WebSocket and any HTTP/1.1 protocol switch)

std::optional<std::string_view> requested_upgrade(pipeline::RequestContext& exchange,
                                                  const ConnectionOptions& connection) {
  const http::Request& request = exchange.request();
  if (request.version != 11 || !request.keep_alive || !connection.upgrade || !exchange.body_complete())
    return std::nullopt;
  auto upgrade = request.headers.get("Upgrade");
  if (!upgrade || http::trim_ows(*upgrade).empty() || !safe_header_value(*upgrade)) return std::nullopt;
  return upgrade;
}

// The hop-by-hop fields of an upgrade, which the proxy forwards (they are stripped otherwise).
void append_upgrade(std::string& head, std::string_view upgrade) {
  head.append("Connection: upgrade\r\nUpgrade: ").append(upgrade).append("\r\n");
}

// The 101 relayed to the client: the upstream's Upgrade and Connection: upgrade, and its side of the tunnel.
void relay_switch(http::Response& response, http::UpstreamResponse& upstream) {
  if (auto upgrade = upstream.headers.get("Upgrade"); upgrade && safe_header_value(*upgrade)) {
    response.headers.add("Connection", "upgrade");
    response.headers.add("Upgrade", *upgrade);
  }
  response.upgraded = std::move(upstream.upgraded);
}

bool idempotent(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "TRACE" || method == "PUT" ||
         method == "DELETE";
}

class HttpProxy final : public pipeline::Stage {
 public:
  HttpProxy(std::shared_ptr<const http::UpstreamTarget> target, const config::ServerEntry& server,
            const config::Route& route, ProxyMapping mapping, bool buffer_response,
            std::shared_ptr<const http::Cluster> cluster = nullptr, HashKeyResolver hash_key = nullptr)
      : target_(std::move(target)),
        cluster_(std::move(cluster)),
        hash_key_(std::move(hash_key)),
        base_path_(server.base_path),
        server_alias_(server.alias),
        route_path_(route.path),
        mapping_(std::move(mapping)),
        buffer_response_(buffer_response) {}

  pipeline::Flow run(pipeline::RequestContext& exchange) override {
    const http::Request& request = exchange.request();
    ValueTemplate::Context context{request, exchange.claims(), exchange.match()};

    // The query as sent; a copy only when the route maps query parameters.
    std::string_view query = request.query;
    std::string mapped_query;
    if (!mapping_.query.empty()) {
      mapped_query = request.query;
      for (const auto& [name, value_template] : mapping_.query) {
        set_query_parameter(mapped_query, name, value_template.resolve(context));
      }
      query = mapped_query;
    }

    http::UpstreamRequest out;
    out.head = exchange.handler().upstream().take_head_buffer();
    std::string& head = out.head;
    head.reserve(512 + request.target.size());
    head.append(request.method).push_back(' ');
    append_upstream_path(head, route_path_, request.path, base_path_);
    if (!query.empty()) head.append("?").append(query);
    head.append(" HTTP/1.1\r\nHost: ").append(target_->authority).append("\r\n");

    const ConnectionOptions connection = connection_options(request.headers);
    const std::string_view hop_by_hop = connection.fields;
    const std::optional<std::string_view> upgrade = requested_upgrade(exchange, connection);
    if (upgrade) append_upgrade(head, *upgrade);
    bool forwarded_for = false;
    request.headers.for_each([&](const http::HeaderList::Field& f) {
      // Hop-by-hop, framing and Expect are this connection's; X-Forwarded-Proto/-Host, X-Request-Id (the
      // client's when well-formed) and the trace context are the gateway's, written below.
      FieldRole role = field_role(f.name);
      if (role != FieldRole::kOther && role != FieldRole::kForwardedFor) return;
      if (!hop_by_hop.empty() && named_by_connection(f.name, hop_by_hop)) return;
      if (role == FieldRole::kForwardedFor) {
        forwarded_for = true;
        return;
      }
      for (const auto& mapped : mapping_.headers) {
        if (http::iequals(mapped.first, f.name)) return;  // a mapped name belongs to the gateway
      }
      head.append(f.name).append(": ").append(f.value).append("\r\n");
    });
    // The client's X-Forwarded-For lines as one list, then the client: written straight into the head (a
    // string of their own would be an allocation per request behind a load balancer).
    head.append("X-Forwarded-For: ");
    if (forwarded_for) {  // set only when the Connection options do not name the field
      request.headers.for_each([&](const http::HeaderList::Field& f) {
        if (f.name.size() == 15 && http::iequals(f.name, "X-Forwarded-For"))
          head.append(f.value).append(", ");
      });
    }
    head.append(request.client_address.empty() ? "unknown" : request.client_address).append("\r\n");
    if (request.tls) {  // two literals, not a chosen pointer: their lengths stay compile-time constants
      head.append("X-Forwarded-Proto: https\r\n");
    } else {
      head.append("X-Forwarded-Proto: http\r\n");
    }
    if (auto host = request.headers.get("Host"))
      head.append("X-Forwarded-Host: ").append(*host).append("\r\n");
    bool id_mapped = false;
    for (const auto& mapped : mapping_.headers)
      id_mapped = id_mapped || http::iequals(mapped.first, "X-Request-Id");
    if (!id_mapped) head.append("X-Request-Id: ").append(exchange.request_id()).append("\r\n");
    // W3C Trace Context: the trace's id with a new span id (this call's client span).
    pipeline::UpstreamSpan span = exchange.handler().propagate_trace(exchange, *target_, server_alias_, head);
    for (const auto& [name, value_template] : mapping_.headers) {
      auto value = value_template.resolve(context);
      if (!value) continue;
      if (!safe_header_value(*value)) {
        observability::log_warn("mapping of header {} produced a value with line breaks; not sent", name);
        continue;
      }
      head.append(name).append(": ").append(*value).append("\r\n");
    }

    if (exchange.body_complete()) {
      if (!request.body.empty() || request.content_length || request.chunked) {
        char digits[24];
        auto r = std::to_chars(digits, digits + sizeof(digits), request.body.size());
        head.append("Content-Length: ").append(digits, r.ptr).append("\r\n");
      }
      // A post_process hook (which also makes the response buffered) is the only later reader of the
      // request body; otherwise it moves to the upstream request instead of being copied.
      if (buffer_response_) {
        out.body = request.body;
      } else {
        out.body = std::move(request.body);
      }
    } else {
      out.body_source = exchange.body_source();
      if (request.content_length) {
        char digits[24];
        auto r = std::to_chars(digits, digits + sizeof(digits), *request.content_length);
        head.append("Content-Length: ").append(digits, r.ptr).append("\r\n");
      } else {
        head.append("Transfer-Encoding: chunked\r\n");
        out.chunked_body = true;
      }
    }
    head.append("\r\n");
    out.idempotent = idempotent(request.method);
    out.head_request = request.method == "HEAD";
    out.upgrade = upgrade.has_value();

    auto keep = exchange.retain();
    std::size_t limit = buffer_response_ ? exchange.snapshot().config.gateway.max_body_bytes : 0;
    metrics::UpstreamSeries* series = exchange.handler().upstream_metrics(exchange);
    auto sent = series ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point();
    auto on_done = [keep, series, sent, span = std::move(span)](http::UpstreamError error,
                                                                http::UpstreamResponse&& response) {
      auto& ex = static_cast<pipeline::RequestContext&>(*keep);
      if (series) count_upstream(*series, error, sent);
      ex.handler().upstream_done(ex, span, error, response.status, response.target.get(), response.resends);
      if (ex.responded()) return;
      on_response(ex, error, std::move(response));
    };
    if (cluster_) {  // a server with `targets` (src/http/cluster.hpp)
      std::string key;
      if (hash_key_) hash_key_(exchange, key);
      auto call =
          exchange.handler().upstream().send(cluster_, key, std::move(out), std::move(on_done), limit);
      if (!call) {
        exchange.response = pipeline::error_response(pipeline::ErrorKind::kUpstreamOverloaded);
        return pipeline::Flow::kRespond;
      }
      exchange.set_pending(std::move(*call));
      return pipeline::Flow::kPending;
    }
    auto call = exchange.handler().upstream().send(target_, std::move(out), std::move(on_done), limit);
    exchange.set_pending(std::move(call));
    return pipeline::Flow::kPending;
  }

 private:
  static void count_upstream(metrics::UpstreamSeries& series, http::UpstreamError error,
                             std::chrono::steady_clock::time_point sent) {
    switch (error) {
      case http::UpstreamError::kNone:
        series.observe(static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - sent)
                .count()));
        break;
      case http::UpstreamError::kUnavailable:
        series.error(metrics::UpstreamErrorKind::kUnavailable);
        break;
      case http::UpstreamError::kTimeout:
        series.error(metrics::UpstreamErrorKind::kTimeout);
        break;
      case http::UpstreamError::kBadResponse:
        series.error(metrics::UpstreamErrorKind::kBadResponse);
        break;
      default:  // the client's body or connection failed: not the upstream's error
        break;
    }
  }

  static void on_response(pipeline::RequestContext& exchange, http::UpstreamError error,
                          http::UpstreamResponse&& upstream) {
    switch (error) {
      case http::UpstreamError::kNone:
        break;
      case http::UpstreamError::kTimeout:
        exchange.response = pipeline::error_response(pipeline::ErrorKind::kUpstreamTimeout);
        exchange.resume(pipeline::Flow::kRespond);
        return;
      case http::UpstreamError::kUnavailable:
      case http::UpstreamError::kBadResponse:
        exchange.response = pipeline::error_response(error == http::UpstreamError::kBadResponse
                                                         ? pipeline::ErrorKind::kUpstreamBadResponse
                                                         : pipeline::ErrorKind::kUpstreamUnavailable);
        exchange.resume(pipeline::Flow::kRespond);
        return;
      // The client's streamed body failed: the client is at fault, not the upstream (the connection closes
      // after this response, as the rest of the body was never read).
      case http::UpstreamError::kRequestBodyTooLarge:
      case http::UpstreamError::kRequestBodyInvalid:
      case http::UpstreamError::kRequestBodyTimeout:
      case http::UpstreamError::kClientGone:
        exchange.response = pipeline::error_response(
            error == http::UpstreamError::kRequestBodyTooLarge  ? pipeline::ErrorKind::kPayloadTooLarge
            : error == http::UpstreamError::kRequestBodyTimeout ? pipeline::ErrorKind::kRequestTimeout
                                                                : pipeline::ErrorKind::kBadRequest);
        exchange.resume(pipeline::Flow::kRespond);
        return;
    }
    http::Response& response = exchange.response;
    response.status = upstream.status;
    const std::string hop_by_hop = connection_options(upstream.headers).fields;
    bool head = exchange.request().method == "HEAD";
    upstream.headers.for_each([&](const http::HeaderList::Field& f) {
      FieldRole role = field_role(f.name);
      if (role == FieldRole::kHopByHop) return;
      if (!hop_by_hop.empty() && named_by_connection(f.name, hop_by_hop)) return;
      if (role == FieldRole::kContentLength) {
        if (head) response.headers.add(f.name, f.value);
        return;
      }
      response.headers.add(f.name, f.value);
    });
    if (head && upstream.content_length) response.keep_content_length = true;
    if (upstream.upgraded) relay_switch(response, upstream);
    if (upstream.complete) {
      response.swap_body(upstream.body);  // the old body's storage goes back to the client (a spare)
    } else {
      response.body_source = std::move(upstream.stream);
    }
    exchange.resume(pipeline::Flow::kContinue);
  }

  std::shared_ptr<const http::UpstreamTarget> target_;
  std::shared_ptr<const http::Cluster> cluster_;  // set for a server with `targets`; target_ is its first
  HashKeyResolver hash_key_;                      // balance "hash"
  std::string base_path_;
  std::string server_alias_;
  std::string route_path_;
  ProxyMapping mapping_;
  bool buffer_response_;
};

}  // namespace

std::string_view proxied_path(std::string_view route_path, std::string_view request_path) {
  std::string_view proxied = request_path;
  constexpr std::string_view kTail = "/{.+}";
  if (route_path.ends_with(kTail)) {
    std::string_view base = route_path.substr(0, route_path.size() - kTail.size());
    if (!base.empty() && base != "/") {
      if (proxied == base) {
        proxied = "/";
      } else if (proxied.size() > base.size() && proxied.starts_with(base) && proxied[base.size()] == '/') {
        proxied.remove_prefix(base.size());
      }
    }
  }
  return proxied;
}

void append_upstream_path(std::string& out, std::string_view route_path, std::string_view request_path,
                          std::string_view base_path) {
  std::string_view proxied = proxied_path(route_path, request_path);
  // base_path + proxied, each run of '/' as one, starting with '/'.
  std::string_view first = base_path.empty() ? proxied : base_path;
  bool slash = first.empty() || first.front() != '/';
  if (slash) out.push_back('/');
  for (std::string_view piece : {base_path, proxied}) {
    for (char c : piece) {
      if (c == '/') {
        if (slash) continue;
        slash = true;
      } else {
        slash = false;
      }
      out.push_back(c);
    }
  }
}

std::string upstream_path(std::string_view route_path, std::string_view request_path,
                          std::string_view base_path) {
  std::string out;
  append_upstream_path(out, route_path, request_path, base_path);
  return out;
}

std::optional<ProxyMapping> compile_mapping(const config::Route& route, const config::Config& config,
                                            const std::string& pointer,
                                            std::vector<config::ConfigError>& errors) {
  ProxyMapping mapping;
  bool ok = true;
  auto compile_list = [&](const std::vector<std::pair<std::string, std::string>>& items,
                          std::string_view section, std::vector<std::pair<std::string, ValueTemplate>>& out) {
    for (const auto& [name, text] : items) {
      std::string error;
      auto compiled = ValueTemplate::compile(text, route.variables, config.variables, error);
      std::string item_pointer = pointer + "/" + std::string(section) + "/" + name;
      if (!compiled) {
        errors.push_back({item_pointer, error});
        ok = false;
        continue;
      }
      if (section == "headers" && (name.find_first_of(":\r\n \t") != std::string::npos)) {
        errors.push_back({item_pointer, "not a valid header name"});
        ok = false;
        continue;
      }
      out.emplace_back(name, std::move(*compiled));
    }
  };
  compile_list(route.mapping.headers, "headers", mapping.headers);
  compile_list(route.mapping.query, "query", mapping.query);
  if (!ok) return std::nullopt;
  return mapping;
}

std::unique_ptr<pipeline::Stage> make_http_proxy(std::shared_ptr<const http::UpstreamTarget> target,
                                                 const config::ServerEntry& server,
                                                 const config::Route& route, ProxyMapping mapping,
                                                 bool buffer_response) {
  return std::make_unique<HttpProxy>(std::move(target), server, route, std::move(mapping), buffer_response);
}

std::unique_ptr<pipeline::Stage> make_balanced_http_proxy(std::shared_ptr<const http::Cluster> cluster,
                                                          HashKeyResolver hash_key,
                                                          const config::ServerEntry& server,
                                                          const config::Route& route, ProxyMapping mapping,
                                                          bool buffer_response) {
  auto first = cluster->member(0).target;
  return std::make_unique<HttpProxy>(std::move(first), server, route, std::move(mapping), buffer_response,
                                     std::move(cluster), std::move(hash_key));
}

}  // namespace workgate::integrations
