// The rate-limit stage of a route: what `stages::rate_limit` (src/pipeline/stage_rate_limit.cpp) runs for
// routes that name policies. Built with the snapshot (src/runtime/builder.cpp).
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "pipeline/snapshot.hpp"
#include "ratelimit/gcra.hpp"
#include "ratelimit/key.hpp"
#include "ratelimit/local_store.hpp"
#include "ratelimit/redis_client.hpp"

namespace workgate::ratelimit {

// A policy compiled for one route (its key template may read route variables and $route).
struct CompiledPolicy {
  const config::RateLimitPolicy* config = nullptr;
  GcraParams params;
  KeyTemplate key;
  std::shared_ptr<LocalTable> table;                               // local store
  std::shared_ptr<const RedisEndpoint> redis;                      // redis store
  std::string quoted_name;                                         // "\"per-user\""
  std::shared_ptr<std::atomic<std::uint64_t>> fail_open_admitted;  // per policy, all routes and threads
};

struct RateLimitBuild {
  std::shared_ptr<const RedisEndpoint> redis;  // null without a `redis` section
  // Per policy name: the admissions made because Redis did not answer (shared by the policy's routes).
  std::vector<std::pair<std::string, std::shared_ptr<std::atomic<std::uint64_t>>>> fail_open_counters;
};

// Resolves the `redis` section (a host name is looked up here, off the event loops, when `connect`).
RateLimitBuild prepare_rate_limits(const config::Config& config, bool connect,
                                   std::vector<config::ConfigError>& errors);

// The stage for `route`, or null when it names no policy.
std::unique_ptr<pipeline::Stage> make_rate_limit_stage(const config::Route& route,
                                                       const config::Config& config,
                                                       const RateLimitBuild& build,
                                                       std::vector<config::ConfigError>& errors);

// The field values (RFC draft-ietf-httpapi-ratelimit-headers): `"name";q=RATE;w=PERIOD` and
// `"name";r=REMAINING;t=RESET_SECONDS`.
std::string policy_field(const config::RateLimitPolicy& policy);
void append_limit_field(std::string& out, std::string_view quoted_name, const Verdict& verdict);

}  // namespace workgate::ratelimit
