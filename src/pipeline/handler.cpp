#include "pipeline/handler.hpp"

#include <charconv>

#include "pipeline/errors.hpp"
#include "pipeline/exchange.hpp"
#include "pipeline/pipeline.hpp"

namespace workgate::pipeline {

void SnapshotSource::publish(std::shared_ptr<const Snapshot> snapshot) {
  std::lock_guard lock(mutex_);
  if (current_) retired_.push_back(std::move(current_));
  current_ = std::move(snapshot);
  generation_.fetch_add(1, std::memory_order_release);
}

std::size_t SnapshotSource::collect() {
  std::vector<std::shared_ptr<const Snapshot>> unused;
  std::size_t held = 0;
  {
    std::lock_guard lock(mutex_);
    // use_count() == 1: only this list holds it, and no new reference can appear (current_ moved on).
    for (auto& snapshot : retired_) {
      if (snapshot.use_count() == 1) {
        unused.push_back(std::move(snapshot));
      }
    }
    std::erase(retired_, nullptr);
    held = retired_.size();
  }
  unused.clear();  // the destructors run here, outside the lock, on the caller's (main) thread
  return held;
}

std::shared_ptr<const Snapshot> SnapshotSource::current() const {
  std::lock_guard lock(mutex_);
  return current_;
}

const std::string& GatewayExchange::request_id() {
  if (request_id_.empty()) {
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof(buf), handler_.next_request_number(), 36);
    request_id_.assign("wg").append(std::to_string(handler_.shard().index())).push_back('-');
    request_id_.append(buf, r.ptr);
  }
  return request_id_;
}

void GatewayExchange::reset() {
  response = http::Response();
  route_ = nullptr;
  claims_.reset();
  stage_ = StageId::kPreflight;
  request_id_.clear();
}

GatewayHandler::GatewayHandler(http::Shard& shard, SnapshotSource& source)
    : shard_(shard), source_(source), upstream_(shard.io()) {
  current();
}

GatewayHandler::~GatewayHandler() = default;

const std::shared_ptr<const Snapshot>& GatewayHandler::current() {
  std::uint64_t generation = source_.generation();
  if (generation != generation_ || !snapshot_) {
    snapshot_ = source_.current();
    generation_ = generation;
    // Keep-alive connections between requests let go of the replaced snapshot now.
    shard_.for_each_idle_exchange([this](http::Exchange& base) {
      auto& exchange = static_cast<GatewayExchange&>(base);
      if (exchange.snapshot_ != snapshot_) exchange.snapshot_.reset();
    });
    if (snapshot_->config.gateway.access_log && !access_log_) {
      access_log_ = std::make_unique<observability::AccessLog>();
    } else if (!snapshot_->config.gateway.access_log && access_log_) {
      access_log_.reset();
    }
  }
  return snapshot_;
}

std::unique_ptr<http::Exchange> GatewayHandler::create_exchange() {
  return std::make_unique<GatewayExchange>(*this);
}

const http::ConnectionLimits& GatewayHandler::limits() {
  return current()->limits;
}

// Large or chunked bodies of proxied routes stream to the upstream; everything else is read whole first
// (hooks and workers see the body, and small bodies can be replayed on a retry).
http::BodyMode GatewayHandler::body_mode(http::Exchange& base) {
  constexpr std::uint64_t kStreamAbove = 64 * 1024;
  auto& exchange = static_cast<GatewayExchange&>(base);
  const http::Request& request = exchange.request();
  if (!request.chunked && request.content_length.value_or(0) <= kStreamAbove) return http::BodyMode::kBuffer;
  const auto& snapshot = current();
  if (snapshot->cors && request.method == "OPTIONS") return http::BodyMode::kBuffer;
  exchange.snapshot_ = snapshot;
  if (!Pipeline::match_route(exchange)) return http::BodyMode::kBuffer;
  const CompiledRoute& route = exchange.route();
  bool proxied =
      route.config->integration && route.config->integration->type == config::IntegrationType::kHttpProxy;
  return proxied && !route.pre_process ? http::BodyMode::kStream : http::BodyMode::kBuffer;
}

// Routing and authentication before a client sends its body: a 404 or 401 then costs no upload.
void GatewayHandler::before_body(http::Exchange& base) {
  auto& exchange = static_cast<GatewayExchange&>(base);
  exchange.started_ = std::chrono::steady_clock::now();
  if (exchange.route_ == nullptr) exchange.snapshot_ = current();
  Pipeline::run_head_stages(exchange);
}

void GatewayHandler::handle(http::Exchange& base) {
  auto& exchange = static_cast<GatewayExchange&>(base);
  if (exchange.stage_ == StageId::kPreflight) {
    const auto& snapshot = current();
    if (exchange.route_ == nullptr && exchange.snapshot_ != snapshot) exchange.snapshot_ = snapshot;
    exchange.started_ = std::chrono::steady_clock::now();
  }
  Pipeline::run(exchange);
}

auth::VerifyResult GatewayHandler::verify_token(const auth::Verifier& verifier, std::string_view token,
                                                std::int64_t now) {
  return token_cache_.verify(verifier, token, now);
}

void GatewayHandler::send(GatewayExchange& exchange) {
  http::Response& response = exchange.response;
  const Snapshot& snapshot = *exchange.snapshot_;
  if (snapshot.cors) snapshot.cors->apply(exchange.request().headers.get("Origin"), response);
  if (snapshot.config.gateway.identity_header && !response.headers.empty())
    response.headers.remove("X-Powered-By");
  response.fixed_lines = snapshot.fixed_lines;
  exchange.respond(std::move(response));
}

http::Response GatewayHandler::protocol_error(http::ProtocolError error, http::Exchange& base) {
  auto& exchange = static_cast<GatewayExchange&>(base);
  const auto& snapshot = current();
  exchange.snapshot_ = snapshot;
  exchange.started_ = std::chrono::steady_clock::now();
  ErrorKind kind = ErrorKind::kBadRequest;
  switch (error) {
    case http::ProtocolError::kBadRequest:
      kind = ErrorKind::kBadRequest;
      break;
    case http::ProtocolError::kRequestTimeout:
      kind = ErrorKind::kRequestTimeout;
      break;
    case http::ProtocolError::kPayloadTooLarge:
      kind = ErrorKind::kPayloadTooLarge;
      break;
    case http::ProtocolError::kHeadersTooLarge:
      kind = ErrorKind::kHeadersTooLarge;
      break;
    case http::ProtocolError::kVersionNotSupported:
      kind = ErrorKind::kVersionNotSupported;
      break;
    case http::ProtocolError::kNotImplemented:
      kind = ErrorKind::kNotImplemented;
      break;
  }
  http::Response response = error_response(kind);
  if (snapshot->cors) snapshot->cors->apply(exchange.request().headers.get("Origin"), response);
  response.fixed_lines = snapshot->fixed_lines;
  return response;
}

void GatewayHandler::on_complete(http::Exchange& base, int status, std::size_t bytes) {
  auto& exchange = static_cast<GatewayExchange&>(base);
  // The response is written: nothing of it views the snapshot any more. A replaced one is let go now; the
  // current one stays pinned (no reference count traffic per request) until a reload, when current()
  // releases it from every idle exchange.
  if (exchange.snapshot_ != snapshot_) exchange.snapshot_.reset();
  if (!access_log_) return;
  const http::Request& request = exchange.request();
  auto elapsed = std::chrono::steady_clock::now() - exchange.started_;
  double ms = std::chrono::duration<double, std::milli>(elapsed).count();
  access_log_->record(request.client_address, request.method, request.path, status, bytes, ms,
                      exchange.request_id());
}

void GatewayHandler::on_tick() {
  current();  // lets go of a replaced snapshot within one tick, with or without traffic
  upstream_.tick();
  if (access_log_) access_log_->flush();
}

}  // namespace workgate::pipeline
