// The per-request state of the pipeline, reused for every request of a connection.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "auth/verifier.hpp"
#include "http/handler.hpp"
#include "pipeline/snapshot.hpp"
#include "router/router.hpp"

namespace workgate::pipeline {

class GatewayHandler;

enum class StageId { kPreflight, kRoute, kAuthenticate, kPreProcess, kIntegrate, kPostProcess, kRespond };

class GatewayExchange final : public http::Exchange {
 public:
  explicit GatewayExchange(GatewayHandler& handler) : handler_(handler) {}

  GatewayHandler& handler() { return handler_; }
  const Snapshot& snapshot() const { return *snapshot_; }
  const CompiledRoute& route() const { return *route_; }
  bool has_route() const { return route_ != nullptr; }
  const router::RouteMatch& match() const { return match_; }
  const auth::Claims& claims() const { return claims_; }
  // Integrations that verify a token themselves (auth0_callback's id_token) make its claims visible to
  // later stages (post_process).
  void set_claims(auth::Claims claims) { claims_ = std::move(claims); }
  const std::string& request_id();
  std::chrono::steady_clock::time_point started() const { return started_; }

  // The response being built; stages set it, the response stage sends it.
  http::Response response;

  // For a stage that returned Flow::kPending: continue the pipeline with `flow` (on the connection's thread).
  void resume(Flow flow);

  // Replaces the request path (a pre_process hook rewrote it) and matches it again, so that the path
  // parameters and the wildcard tail follow the new path. Returns false and changes nothing when the
  // new path does not select the same route.
  bool replace_path(std::string path);

  void reset() override;

 private:
  friend class GatewayHandler;
  friend class Pipeline;

  GatewayHandler& handler_;
  std::shared_ptr<const Snapshot> snapshot_;
  const CompiledRoute* route_ = nullptr;
  router::RouteMatch match_;
  auth::Claims claims_;
  StageId stage_ = StageId::kPreflight;
  std::string request_id_;
  std::chrono::steady_clock::time_point started_;
};

}  // namespace workgate::pipeline
