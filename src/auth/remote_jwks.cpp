#include "auth/remote_jwks.hpp"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/url/parse.hpp>
#include <cctype>
#include <functional>
#include <future>
#include <limits>

#include "auth/jwk.hpp"
#include "observability/log.hpp"

#ifndef WORKGATE_VERSION
#define WORKGATE_VERSION "dev"
#endif

namespace workgate::auth {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

using http::iequals;
using http::trim_ows;

// delta-seconds (RFC 9111 §1.2.2): 1*DIGIT; values beyond int64 saturate. nullopt when not digits.
std::optional<std::int64_t> parse_delta_seconds(std::string_view text) {
  if (text.size() >= 2 && text.front() == '"' && text.back() == '"') text = text.substr(1, text.size() - 2);
  if (text.empty()) return std::nullopt;
  std::int64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    const int digit = c - '0';
    if (value > (std::numeric_limits<std::int64_t>::max() - digit) / 10) {
      value = std::numeric_limits<std::int64_t>::max();
    } else {
      value = value * 10 + digit;
    }
  }
  return value;
}

milliseconds clamp_ttl(milliseconds ttl, const RemoteJwksOptions& options) {
  return std::clamp(ttl, options.min_ttl, std::max(options.min_ttl, options.max_ttl));
}

milliseconds seconds_to_ms(std::int64_t seconds) {
  constexpr std::int64_t kMaxSeconds = std::numeric_limits<std::int64_t>::max() / 1000;
  return milliseconds(std::min(seconds, kMaxSeconds) * 1000);
}

std::string_view error_text(http::UpstreamError error) {
  switch (error) {
    case http::UpstreamError::kNone:
      return "no error";
    case http::UpstreamError::kUnavailable:
      return "unreachable";
    case http::UpstreamError::kTimeout:
      return "timed out";
    case http::UpstreamError::kBadResponse:
      return "invalid or oversized HTTP response";
    case http::UpstreamError::kRequestBodyTooLarge:
    case http::UpstreamError::kRequestBodyInvalid:
    case http::UpstreamError::kRequestBodyTimeout:
    case http::UpstreamError::kClientGone:
      return "request body failed";  // not reachable: JWKS requests have no streamed body
  }
  return "failed";
}

}  // namespace

CacheDirectives parse_cache_control(std::string_view value) {
  CacheDirectives directives;
  while (!value.empty()) {
    // Split at the next comma outside a quoted string.
    std::size_t end = 0;
    bool quoted = false;
    while (end < value.size() && (quoted || value[end] != ',')) {
      if (value[end] == '"') {
        quoted = !quoted;
      } else if (value[end] == '\\' && quoted && end + 1 < value.size()) {
        ++end;
      }
      ++end;
    }
    std::string_view directive = trim_ows(value.substr(0, std::min(end, value.size())));
    value.remove_prefix(std::min(end + 1, value.size()));
    const std::size_t equals = directive.find('=');
    const std::string_view name = trim_ows(directive.substr(0, equals));
    const std::string_view argument =
        equals == std::string_view::npos ? std::string_view() : trim_ows(directive.substr(equals + 1));
    if (iequals(name, "max-age")) {
      if (auto seconds = parse_delta_seconds(argument)) {
        // Repeated max-age: the most conservative one.
        directives.max_age = directives.max_age ? std::min(*directives.max_age, *seconds) : *seconds;
      }
    } else if (iequals(name, "no-store")) {
      directives.no_store = true;
    } else if (iequals(name, "no-cache")) {
      directives.no_cache = true;
    }
  }
  return directives;
}

milliseconds cache_lifetime(std::optional<std::string_view> cache_control,
                            std::optional<std::string_view> age, const RemoteJwksOptions& options) {
  if (!cache_control) return clamp_ttl(options.default_ttl, options);
  const CacheDirectives directives = parse_cache_control(*cache_control);
  if (directives.no_store || directives.no_cache) return clamp_ttl(options.min_ttl, options);
  if (!directives.max_age) return clamp_ttl(options.default_ttl, options);
  std::int64_t seconds = *directives.max_age;
  if (age) {
    if (auto age_seconds = parse_delta_seconds(trim_ows(*age)))
      seconds = std::max<std::int64_t>(0, seconds - *age_seconds);
  }
  return clamp_ttl(seconds_to_ms(seconds), options);
}

milliseconds refresh_delay(milliseconds lifetime, const RemoteJwksOptions& options) {
  const double fraction = std::clamp(options.refresh_fraction, 0.1, 1.0);
  const auto delay =
      milliseconds(static_cast<std::int64_t>(static_cast<double>(lifetime.count()) * fraction));
  return std::max(delay, milliseconds(1000));
}

milliseconds retry_delay(unsigned attempt, const RemoteJwksOptions& options) {
  milliseconds delay = std::max(options.retry_initial, milliseconds(1));
  for (unsigned i = 1; i < attempt && delay < options.retry_max; ++i)
    delay *= 2;
  return std::min(delay, std::max(options.retry_max, milliseconds(1)));
}

std::string redact_uri(std::string_view uri) {
  auto parsed = boost::urls::parse_absolute_uri(uri);
  if (!parsed) return "(invalid URI)";
  std::string out(parsed->scheme());
  out += "://";
  out += parsed->encoded_host_and_port();
  out += parsed->encoded_path();
  return out;
}

// ---------------------------------------------------------------------------------------- RemoteJwks

struct RemoteJwks::Fetched {
  std::shared_ptr<const KeySet> keys;  // set on success
  milliseconds lifetime{0};
  std::string error;
  std::vector<std::string> skipped;
  std::vector<std::string> warnings;
  std::string document;  // the body, when it was parsed
};

RemoteJwks::RemoteJwks(RemoteJwksOptions options)
    : options_(std::move(options)),
      work_(io_.get_executor()),
      upstream_(std::make_unique<http::UpstreamClient>(io_)),
      tick_timer_(io_) {}

RemoteJwks::~RemoteJwks() {
  io_.stop();
  if (thread_.joinable()) thread_.join();
  upstream_.reset();
}

Clock::time_point RemoteJwks::now() const {
  return options_.clock ? options_.clock() : Clock::now();
}

std::int64_t RemoteJwks::now_ns() const {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(now().time_since_epoch()).count();
}

bool RemoteJwks::prepare(std::string& error) {
  auto parsed = boost::urls::parse_absolute_uri(options_.uri);
  if (!parsed || (parsed->scheme_id() != boost::urls::scheme::https &&
                  parsed->scheme_id() != boost::urls::scheme::http)) {
    error = "must be an absolute http:// or https:// URL";
    return false;
  }
  const bool tls = parsed->scheme_id() == boost::urls::scheme::https;
  std::string host(parsed->host_address());
  if (host.empty()) {
    error = "has no host";
    return false;
  }
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  std::uint16_t port = tls ? 443 : 80;
  if (parsed->has_port()) {
    const std::string_view digits = parsed->port();
    unsigned value = 0;
    bool valid = !digits.empty() && digits.size() <= 5;
    for (char c : digits) {
      valid = valid && c >= '0' && c <= '9';
      if (valid) value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (!valid || value == 0 || value > 65535) {
      error = "has an invalid port";
      return false;
    }
    port = static_cast<std::uint16_t>(value);
  }
  log_uri_ = redact_uri(options_.uri);

  auto make = [&](milliseconds timeout,
                  std::string_view pool_suffix) -> std::shared_ptr<http::UpstreamTarget> {
    auto target = http::make_upstream_target(tls, host, port, options_.ca_files, error);
    if (!target) return nullptr;
    target->connect_timeout = timeout;
    target->timeout = timeout;
    target->idle_timeout = std::chrono::seconds(30);
    target->max_connections = 2;
    target->pool_key += pool_suffix;
    return target;
  };
  auto routine = make(options_.fetch_timeout, "|jwks");
  auto unknown_kid = make(options_.unknown_kid_timeout, "|jwks-kid");
  if (!routine || !unknown_kid) return false;

  std::string path(parsed->encoded_path());
  if (path.empty()) path = "/";
  if (parsed->has_query()) path += "?" + std::string(parsed->encoded_query());
  request_head_ =
      "GET " + path + " HTTP/1.1\r\nHost: " + routine->authority +
      "\r\nAccept: application/jwk-set+json, application/json\r\nUser-Agent: workgate/" WORKGATE_VERSION
      "\r\n\r\n";
  target_ = std::move(routine);
  unknown_kid_target_ = std::move(unknown_kid);
  return true;
}

std::shared_ptr<RemoteJwks> RemoteJwks::start(RemoteJwksOptions options, std::string& error) {
  std::shared_ptr<RemoteJwks> self(new RemoteJwks(std::move(options)));
  if (!self->prepare(error)) return nullptr;

  auto done = std::make_shared<std::promise<std::string>>();
  std::future<std::string> outcome = done->get_future();
  self->initial_done_ = [done](bool ok, const std::string& why) {
    done->set_value(ok ? std::string() : why);
  };
  RemoteJwks* raw = self.get();
  self->thread_ = std::thread([raw] {
    while (true) {
      try {
        raw->io_.run();
        return;
      } catch (const std::exception& e) {  // never take the process down from the refresh thread
        observability::log_error("JWKS {}: refresh thread error: {}", raw->log_uri_, e.what());
        raw->in_flight_.store(false, std::memory_order_release);
        raw->schedule_refresh(raw->options_.retry_initial);
      }
    }
  });
  boost::asio::post(raw->io_, [raw] {
    raw->schedule_tick();
    raw->fetch(Reason::kInitial);
  });
  // The upstream client enforces the connect and response deadlines; this bound is only a safety net.
  const auto bound = 2 * self->options_.fetch_timeout + std::chrono::seconds(2);
  if (outcome.wait_for(bound) != std::future_status::ready) {
    error = "fetching " + self->log_uri_ + " timed out";
    return nullptr;
  }
  std::string why = outcome.get();
  if (!why.empty()) {
    error = "fetching " + self->log_uri_ + " failed: " + why;
    return nullptr;
  }
  return self;
}

void RemoteJwks::on_unknown_kid(std::string_view /*kid*/) const {
  if (in_flight_.load(std::memory_order_acquire)) return;  // the fetch in flight brings the newest set
  const std::int64_t now = now_ns();
  std::int64_t allowed_from = next_unknown_kid_fetch_ns_.load(std::memory_order_relaxed);
  if (now < allowed_from) return;
  const std::int64_t interval =
      std::chrono::duration_cast<std::chrono::nanoseconds>(options_.unknown_kid_interval).count();
  if (!next_unknown_kid_fetch_ns_.compare_exchange_strong(allowed_from, now + interval,
                                                          std::memory_order_acq_rel)) {
    return;  // another thread won the race for this interval
  }
  auto* self = const_cast<RemoteJwks*>(this);
  boost::asio::post(io_, [self] { self->fetch(Reason::kUnknownKid); });
}

RemoteJwksStats RemoteJwks::stats() const {
  return {fetches_.load(std::memory_order_relaxed), successes_.load(std::memory_order_relaxed),
          failures_.load(std::memory_order_relaxed), unknown_kid_fetches_.load(std::memory_order_relaxed)};
}

// The schedule is a time on options_.clock that the tick compares against (not a timer of its own), so
// that tests move it by advancing their clock; refresh delays are at least a second, the tick a tenth.
void RemoteJwks::schedule_tick() {
  tick_timer_.expires_after(options_.tick);
  tick_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    upstream_->tick();
    if (now() >= next_refresh_) {
      next_refresh_ = Clock::time_point::max();
      if (in_flight_.load(std::memory_order_acquire)) {
        schedule_refresh(options_.retry_initial);  // an unknown-kid fetch is running; look again shortly
      } else {
        fetch(Reason::kRoutine);
      }
    }
    schedule_tick();
  });
}

void RemoteJwks::schedule_refresh(milliseconds delay) {
  next_refresh_ = now() + delay;
}

void RemoteJwks::fetch(Reason reason) {
  if (in_flight_.exchange(true, std::memory_order_acq_rel)) return;  // single flight
  fetches_.fetch_add(1, std::memory_order_relaxed);
  if (reason == Reason::kUnknownKid) {
    unknown_kid_fetches_.fetch_add(1, std::memory_order_relaxed);
    observability::log_info("JWKS {}: a token's kid matches no key; refetching", log_uri_);
  }
  http::UpstreamRequest request;
  request.head = request_head_;
  request.idempotent = true;
  const auto& target = reason == Reason::kUnknownKid ? unknown_kid_target_ : target_;
  upstream_->send(
      target, std::move(request),
      [this, reason](http::UpstreamError error, http::UpstreamResponse&& response) {
        Fetched result;
        if (error != http::UpstreamError::kNone) {
          result.error = std::string(error_text(error));
        } else if (response.status != 200) {
          result.error = "HTTP status " + std::to_string(response.status);
        } else {
          JwksResult parsed = parse_jwks(response.body);
          if (!parsed.key_set) {
            result.error = "not a JWK set: " + parsed.error;
          } else if (parsed.key_set->keys().empty()) {
            result.error = "the JWK set has no usable key";
            if (!parsed.skipped.empty())
              result.error += " (" + std::to_string(parsed.skipped.size()) + " refused)";
          } else {
            result.keys = std::move(parsed.key_set);
            result.lifetime =
                cache_lifetime(response.headers.get("Cache-Control"), response.headers.get("Age"), options_);
          }
          result.skipped = std::move(parsed.skipped);
          result.warnings = std::move(parsed.warnings);
          result.document = std::move(response.body);
        }
        on_fetched(reason, std::move(result));
      },
      options_.max_document_bytes);
}

void RemoteJwks::on_fetched(Reason reason, Fetched result) {
  in_flight_.store(false, std::memory_order_release);
  // Refused keys are warned about once per document, not on every refresh of an unchanged one.
  const std::size_t document_hash = std::hash<std::string>{}(result.document);
  const bool new_document = document_hash != seen_document_hash_;
  if (!result.document.empty()) seen_document_hash_ = document_hash;
  for (const auto& line : result.skipped) {
    if (new_document) {
      observability::log_warn("JWKS {}: key skipped: {}", log_uri_, line);
    } else {
      observability::log_debug("JWKS {}: key skipped: {}", log_uri_, line);
    }
  }
  for (const auto& line : result.warnings) {
    if (new_document) {
      observability::log_warn("JWKS {}: {}", log_uri_, line);
    } else {
      observability::log_debug("JWKS {}: {}", log_uri_, line);
    }
  }
  if (result.keys) {
    const std::size_t count = result.keys->keys().size();
    // The same document again: keep the set, so verdicts cached with its generation stay valid.
    if (result.document != loaded_document_ || !keys_.load(std::memory_order_acquire)) {
      const std::uint64_t generation = result.keys->generation();
      keys_.store(std::move(result.keys), std::memory_order_release);
      generation_.store(generation, std::memory_order_release);
      loaded_document_ = std::move(result.document);
    }
    const milliseconds delay = refresh_delay(result.lifetime, options_);
    if (failed_attempts_ > 0 || reason != Reason::kRoutine) {
      observability::log_info("JWKS {}: loaded {} key(s); next refresh in {} s", log_uri_, count,
                              std::chrono::duration_cast<std::chrono::seconds>(delay).count());
    } else {
      observability::log_debug("JWKS {}: refreshed, {} key(s); next refresh in {} s", log_uri_, count,
                               std::chrono::duration_cast<std::chrono::seconds>(delay).count());
    }
    failed_attempts_ = 0;
    successes_.fetch_add(1, std::memory_order_relaxed);
    schedule_refresh(delay);
    if (initial_done_) {
      initial_done_(true, {});
      initial_done_ = nullptr;
    }
    return;
  }
  failures_.fetch_add(1, std::memory_order_relaxed);
  if (reason == Reason::kInitial) {
    if (initial_done_) {
      initial_done_(false, result.error);
      initial_done_ = nullptr;
    }
    return;
  }
  if (reason == Reason::kUnknownKid) {
    // The routine schedule stands; the current set keeps serving.
    observability::log_warn("JWKS {}: refetch for an unknown kid failed ({}); keeping the current keys",
                            log_uri_, result.error);
    return;
  }
  ++failed_attempts_;
  const milliseconds delay = retry_delay(failed_attempts_, options_);
  observability::log_warn("JWKS {}: refresh failed ({}); keeping the current keys, retry in {} ms", log_uri_,
                          result.error, delay.count());
  schedule_refresh(delay);
}

}  // namespace workgate::auth
