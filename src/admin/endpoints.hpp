// The admin listener's endpoints (docs/operations.md): /livez, /readyz, /metrics, /config, /routes,
// /upstreams.
// Pure functions of the AdminState, so that they are tested without sockets.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "admin/admin_state.hpp"

namespace workgate::admin {

struct AdminResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::string allow;  // the Allow field of a 405
};

// Answers one request; `target` may carry a query (ignored).
AdminResponse handle_admin_request(AdminState& state, std::string_view method, std::string_view target);

// The pieces, for tests.
AdminResponse readyz(const AdminState& state);
std::string metrics_text(AdminState& state);
// `generation`: the config generation shown beside the table; `listeners` (those not `admin`) come first,
// as `workgate routes` prints them.
std::string routes_json(const pipeline::Snapshot& snapshot, std::uint64_t generation,
                        const std::vector<ListenerInfo>& listeners = {});
// The servers with `targets`: each target's state (healthy, unhealthy: failing its active checks,
// ejected: by passive outlier detection on some thread) and the circuit breaker's, at `now`.
std::string upstreams_json(const pipeline::Snapshot& snapshot, std::uint64_t generation,
                           std::chrono::steady_clock::time_point now);

}  // namespace workgate::admin
