#include "ratelimit/limiter.hpp"

#include <netdb.h>
#include <sys/socket.h>

#include <charconv>

#include "config/rate_limits.hpp"
#include "observability/log.hpp"
#include "pipeline/errors.hpp"
#include "pipeline/gateway_handler.hpp"
#include "pipeline/request_context.hpp"

namespace workgate::ratelimit {
namespace {

using pipeline::Flow;
using pipeline::RequestContext;

std::string decimal(std::int64_t n) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), n);
  return std::string(buf, r.ptr);
}

// The thread's connection to `endpoint`, made on first use and kept by the thread's handler (so it is
// destroyed on that thread's loop, and outlives config reloads that keep the same endpoint).
RedisConnection& thread_connection(RequestContext& exchange, const RedisEndpoint& endpoint) {
  pipeline::GatewayHandler& handler = exchange.handler();
  std::shared_ptr<void>& slot = handler.extension_state(endpoint.identity);
  if (!slot) slot = std::make_shared<RedisConnection>(handler.shard().io(), endpoint);
  return *static_cast<RedisConnection*>(slot.get());
}

// One policy's outcome for the current request.
struct Outcome {
  enum class Kind { kNone, kVerdict, kUnavailable } kind = Kind::kNone;
  Verdict verdict;
};

class RateLimitStage;

// The wait for a request's Redis decisions: resumes the exchange when every one has answered (or timed
// out). Owned by the decisions' handlers (which the connection's queue owns); the exchange holds it weakly
// (set_pending) and cancels it when the client goes away.
class RedisWait final : public http::Cancellable, public std::enable_shared_from_this<RedisWait> {
 public:
  explicit RedisWait(const RateLimitStage& stage) : stage_(stage) {}

  void add(const std::shared_ptr<http::Cancellable>& decision) {
    decisions_.push_back(decision);
    ++waiting_;
  }
  // The client went away: the decisions' handlers (which own this wait) are dropped, and the exchange.
  void cancel() override {
    auto self = shared_from_this();
    keep_.reset();
    auto decisions = std::move(decisions_);
    for (auto& d : decisions)
      if (auto decision = d.lock()) decision->cancel();
  }
  void done(std::size_t index, RedisOutcome outcome, const GcraReply& reply);

  // Parks the exchange until the decisions sent so far have answered; false when none was sent.
  bool park(RequestContext& exchange, std::vector<Outcome>& outcomes) {
    if (waiting_ == 0) return false;
    keep_ = exchange.retain();
    outcomes_ = std::move(outcomes);
    exchange.set_pending(weak_from_this());
    return true;
  }

 private:
  const RateLimitStage& stage_;
  std::shared_ptr<http::Exchange> keep_;
  std::vector<Outcome> outcomes_;
  std::vector<std::weak_ptr<http::Cancellable>> decisions_;  // owned by the connection's queue
  std::size_t waiting_ = 0;
};

class RateLimitStage final : public pipeline::Stage {
 public:
  RateLimitStage(std::vector<CompiledPolicy> policies) : policies_(std::move(policies)) {
    policy_line_ = "RateLimit-Policy: ";
    for (std::size_t i = 0; i < policies_.size(); ++i)
      policy_line_.append(i == 0 ? "" : ", ").append(policy_field(*policies_[i].config));
    policy_line_ += "\r\n";
  }

  Flow run(RequestContext& exchange) override {
    exchange.response_lines.append(policy_line_);
    thread_local std::string key;
    thread_local std::string redis_key_text;
    // Reused per thread (the request path allocates nothing for local policies); a request that waits
    // for Redis takes the vector with it.
    thread_local std::vector<Outcome> outcomes;
    outcomes.assign(policies_.size(), Outcome{});
    const integrations::ValueTemplate::Context request{exchange.request(), exchange.claims(),
                                                       exchange.match()};
    const KeyTemplate::Context context{request, exchange.snapshot().config.gateway.trusted_proxies};
    std::shared_ptr<RedisWait> wait;
    const auto now = RedisConnection::Clock::now();
    for (std::size_t i = 0; i < policies_.size(); ++i) {
      const CompiledPolicy& policy = policies_[i];
      policy.key.resolve(context, key);
      if (policy.table) {
        outcomes[i] = {Outcome::Kind::kVerdict, policy.table->decide(policy.params, key, local_now_us())};
        if (!outcomes[i].verdict.admitted) return finish(exchange, outcomes);
        continue;
      }
      RedisConnection& connection = thread_connection(exchange, *policy.redis);
      redis_key_text = redis_key(policy.config->name, key);
      if (const auto* over = connection.over_limit(redis_key_text, now)) {
        Verdict v;
        v.retry_after_us =
            std::chrono::duration_cast<std::chrono::microseconds>(over->retry_at - now).count();
        v.reset_us = std::chrono::duration_cast<std::chrono::microseconds>(over->reset_at - now).count();
        outcomes[i] = {Outcome::Kind::kVerdict, v};
        return finish(exchange, outcomes);
      }
      if (!wait) wait = std::make_shared<RedisWait>(*this);
      auto decision = connection.decide(
          redis_key_text, policy.params,
          [wait, i, conn = connection.weak_from_this(), key = redis_key_text, params = policy.params](
              RedisOutcome outcome, const GcraReply& reply) {
            if (outcome == RedisOutcome::kReply && !reply.admitted) {
              if (auto c = conn.lock()) {
                auto at = RedisConnection::Clock::now();
                c->remember_over_limit(key,
                                       {at + std::chrono::microseconds(reply.ahead_us - params.tolerance_us),
                                        at + std::chrono::microseconds(reply.ahead_us)},
                                       at);
              }
            }
            wait->done(i, outcome, reply);
          });
      if (!decision) {
        outcomes[i].kind = Outcome::Kind::kUnavailable;
        continue;
      }
      wait->add(decision);
    }
    if (wait && wait->park(exchange, outcomes)) return Flow::kPending;
    return finish(exchange, outcomes);
  }

  // Ends the request's rate limiting: the RateLimit field, and 429 or 503 when a policy says so.
  Flow finish(RequestContext& exchange, const std::vector<Outcome>& outcomes) const {
    thread_local std::string field;
    field.clear();
    const Verdict* denied = nullptr;
    const CompiledPolicy* unavailable_closed = nullptr;
    for (std::size_t i = 0; i < outcomes.size(); ++i) {
      const CompiledPolicy& policy = policies_[i];
      switch (outcomes[i].kind) {
        case Outcome::Kind::kNone:
          break;
        case Outcome::Kind::kVerdict:
          append_limit_field(field, policy.quoted_name, outcomes[i].verdict);
          if (!outcomes[i].verdict.admitted && denied == nullptr) denied = &outcomes[i].verdict;
          break;
        case Outcome::Kind::kUnavailable:
          if (!policy.config->fail_open) {
            if (unavailable_closed == nullptr) unavailable_closed = &policy;
          } else {
            policy.fail_open_admitted->fetch_add(1, std::memory_order_relaxed);
            observability::log_warn(
                "rate limit \"{}\": Redis did not answer in time; request admitted (fail_open)",
                policy.config->name);
          }
          break;
      }
    }
    if (!field.empty()) exchange.response_lines.append("RateLimit: ").append(field).append("\r\n");
    if (denied != nullptr) {
      exchange.response = pipeline::error_response(pipeline::ErrorKind::kTooManyRequests);
      exchange.response.headers.add("Retry-After",
                                    decimal(std::max<std::int64_t>(1, ceil_seconds(denied->retry_after_us))));
      return Flow::kRespond;
    }
    if (unavailable_closed != nullptr) {
      observability::log_warn(
          "rate limit \"{}\": Redis did not answer in time; request refused (fail_open: false)",
          unavailable_closed->config->name);
      exchange.response = pipeline::error_response(pipeline::ErrorKind::kRateLimitUnavailable);
      return Flow::kRespond;
    }
    return Flow::kContinue;
  }

 private:
  std::vector<CompiledPolicy> policies_;
  std::string policy_line_;  // "RateLimit-Policy: ...\r\n", the same for every response of the route
  friend class RedisWait;
};

// (defined after RateLimitStage: it calls finish())
void RedisWait::done(std::size_t index, RedisOutcome outcome, const GcraReply& reply) {
  if (!keep_) return;
  const CompiledPolicy& policy = stage_.policies_[index];
  if (outcome == RedisOutcome::kReply) {
    outcomes_[index] = {Outcome::Kind::kVerdict, verdict(policy.params, reply.admitted, reply.ahead_us)};
  } else {
    outcomes_[index].kind = Outcome::Kind::kUnavailable;
  }
  if (--waiting_ > 0) return;
  auto keep = std::move(keep_);
  decisions_.clear();
  auto& exchange = static_cast<RequestContext&>(*keep);
  if (exchange.responded()) return;
  exchange.resume(stage_.finish(exchange, outcomes_));
}

std::optional<std::string> resolve_host(const std::string& host, std::string& error) {
  if (config::parse_ip_address(host)) return host;
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &found);
  if (rc != 0 || found == nullptr) {
    error = "cannot resolve Redis host \"" + host + "\": " + ::gai_strerror(rc);
    return std::nullopt;
  }
  char text[NI_MAXHOST];
  rc = ::getnameinfo(found->ai_addr, found->ai_addrlen, text, sizeof(text), nullptr, 0, NI_NUMERICHOST);
  ::freeaddrinfo(found);
  if (rc != 0) {
    error = "cannot resolve Redis host \"" + host + "\"";
    return std::nullopt;
  }
  return std::string(text);
}

}  // namespace

std::string policy_field(const config::RateLimitPolicy& policy) {
  return "\"" + policy.name + "\";q=" + decimal(policy.rate) + ";w=" + decimal(policy.period_seconds);
}

void append_limit_field(std::string& out, std::string_view quoted_name, const Verdict& verdict) {
  if (!out.empty()) out += ", ";
  out.append(quoted_name).append(";r=").append(decimal(verdict.admitted ? verdict.remaining : 0));
  out.append(";t=").append(decimal(ceil_seconds(verdict.reset_us)));
}

RateLimitBuild prepare_rate_limits(const config::Config& config, bool connect,
                                   std::vector<config::ConfigError>& errors) {
  RateLimitBuild build;
  for (const auto& policy : config.rate_limits)
    build.fail_open_counters.emplace_back(policy.name, std::make_shared<std::atomic<std::uint64_t>>(0));
  if (!config.redis) return build;
  const config::RedisSettings& settings = *config.redis;
  auto endpoint = std::make_shared<RedisEndpoint>();
  endpoint->port = settings.port;
  endpoint->unix_path = settings.unix_path;
  endpoint->database = settings.database;
  endpoint->password = settings.password;
  endpoint->timeout = settings.timeout;
  if (settings.unix_path.empty()) {
    endpoint->address = settings.host;
    if (connect) {
      std::string error;
      auto address = resolve_host(settings.host, error);
      if (!address) {
        errors.push_back({"/redis/url", error});
        return build;
      }
      endpoint->address = *address;
    }
    endpoint->description = settings.host + ":" + decimal(settings.port) + "/" + decimal(settings.database);
  } else {
    endpoint->description = "unix:" + settings.unix_path;
  }
  endpoint->identity = "ratelimit.redis:" + endpoint->make_identity();
  build.redis = std::move(endpoint);
  return build;
}

std::unique_ptr<pipeline::Stage> make_rate_limit_stage(const config::Route& route,
                                                       const config::Config& config,
                                                       const RateLimitBuild& build,
                                                       std::vector<config::ConfigError>& errors) {
  if (route.rate_limits.empty()) return nullptr;
  std::vector<CompiledPolicy> policies;
  bool ok = true;
  for (const std::string& name : route.rate_limits) {
    const config::RateLimitPolicy* policy = config.find_rate_limit(name);
    if (policy == nullptr) continue;  // the loader reported it
    std::string error;
    auto key = KeyTemplate::compile(policy->key, route, config, error);
    if (!key) {
      errors.push_back({policy->pointer + "/key", error});
      ok = false;
      continue;
    }
    CompiledPolicy compiled{
        policy,          GcraParams::from(policy->rate, policy->period_seconds, policy->burst),
        std::move(*key), nullptr,
        nullptr,         "\"" + policy->name + "\"",
        nullptr};
    for (const auto& [counter_name, counter] : build.fail_open_counters)
      if (counter_name == policy->name) compiled.fail_open_admitted = counter;
    if (policy->store == config::RateLimitStore::kLocal) {
      // Carried over a reload when nothing that shapes the state changed (docs/rate-limits.md).
      std::string identity = policy->name + "|" + policy->key + "|" + decimal(policy->rate) + "|" +
                             decimal(policy->period_seconds) + "|" + decimal(policy->burst) + "|" +
                             decimal(static_cast<std::int64_t>(policy->local_slots));
      compiled.table = shared_local_table(identity, policy->local_slots);
    } else {
      if (!build.redis) {
        ok = false;
        continue;  // the redis section failed (reported)
      }
      compiled.redis = build.redis;
    }
    policies.push_back(std::move(compiled));
  }
  if (!ok || policies.empty()) return nullptr;
  return std::make_unique<RateLimitStage>(std::move(policies));
}

}  // namespace workgate::ratelimit
