#include "auth/remote_jwks.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace workgate::auth {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// ------------------------------------------------------------------------------------ Cache-Control

TEST(ParseCacheControl, MaxAge) {
  EXPECT_EQ(parse_cache_control("max-age=300").max_age, 300);
  EXPECT_EQ(parse_cache_control("public, max-age=300, must-revalidate").max_age, 300);
  EXPECT_EQ(parse_cache_control("  MAX-AGE = 42 ").max_age, 42);
  EXPECT_EQ(parse_cache_control(R"(max-age="60")").max_age, 60);
  EXPECT_EQ(parse_cache_control("max-age=0").max_age, 0);
}

TEST(ParseCacheControl, InvalidMaxAgeIsIgnored) {
  EXPECT_FALSE(parse_cache_control("").max_age);
  EXPECT_FALSE(parse_cache_control("public").max_age);
  EXPECT_FALSE(parse_cache_control("max-age").max_age);
  EXPECT_FALSE(parse_cache_control("max-age=").max_age);
  EXPECT_FALSE(parse_cache_control("max-age=-5").max_age);
  EXPECT_FALSE(parse_cache_control("max-age=12s").max_age);
  EXPECT_FALSE(parse_cache_control("max-age=1.5").max_age);
  EXPECT_FALSE(parse_cache_control("s-maxage=100").max_age);
  EXPECT_FALSE(parse_cache_control("x-max-age=100").max_age);
}

TEST(ParseCacheControl, HugeMaxAgeSaturates) {
  EXPECT_EQ(parse_cache_control("max-age=99999999999999999999999999").max_age, INT64_MAX);
}

TEST(ParseCacheControl, RepeatedMaxAgeTakesTheSmallest) {
  EXPECT_EQ(parse_cache_control("max-age=600, max-age=60").max_age, 60);
}

TEST(ParseCacheControl, QuotedCommasDoNotSplit) {
  const CacheDirectives d = parse_cache_control(R"(private="a, max-age=1", max-age=90)");
  EXPECT_EQ(d.max_age, 90);
  EXPECT_EQ(parse_cache_control(R"(ext="x\", y", max-age=7)").max_age, 7);
}

TEST(ParseCacheControl, NoStoreAndNoCache) {
  EXPECT_TRUE(parse_cache_control("no-store").no_store);
  EXPECT_TRUE(parse_cache_control("max-age=60, No-Cache").no_cache);
  EXPECT_FALSE(parse_cache_control("max-age=60").no_cache);
}

// ------------------------------------------------------------------------------------- lifetimes

RemoteJwksOptions bounds() {
  RemoteJwksOptions options;
  options.min_ttl = seconds(60);
  options.max_ttl = std::chrono::hours(24);
  options.default_ttl = std::chrono::minutes(10);
  return options;
}

TEST(CacheLifetime, FollowsMaxAgeWithinBounds) {
  const auto options = bounds();
  EXPECT_EQ(cache_lifetime("max-age=300", std::nullopt, options), seconds(300));
  EXPECT_EQ(cache_lifetime("max-age=5", std::nullopt, options), seconds(60));
  EXPECT_EQ(cache_lifetime("max-age=0", std::nullopt, options), seconds(60));
  EXPECT_EQ(cache_lifetime("max-age=604800", std::nullopt, options), std::chrono::hours(24));
  EXPECT_EQ(cache_lifetime("max-age=99999999999999999999", std::nullopt, options), std::chrono::hours(24));
}

TEST(CacheLifetime, DefaultWithoutUsableMaxAge) {
  const auto options = bounds();
  EXPECT_EQ(cache_lifetime(std::nullopt, std::nullopt, options), std::chrono::minutes(10));
  EXPECT_EQ(cache_lifetime("public", std::nullopt, options), std::chrono::minutes(10));
  EXPECT_EQ(cache_lifetime("max-age=abc", std::nullopt, options), std::chrono::minutes(10));
}

TEST(CacheLifetime, NoStoreOrNoCacheMeansTheMinimum) {
  const auto options = bounds();
  EXPECT_EQ(cache_lifetime("no-store", std::nullopt, options), seconds(60));
  EXPECT_EQ(cache_lifetime("max-age=3600, no-cache", std::nullopt, options), seconds(60));
}

TEST(CacheLifetime, AgeIsSubtracted) {
  const auto options = bounds();
  EXPECT_EQ(cache_lifetime("max-age=3600", "600", options), seconds(3000));
  EXPECT_EQ(cache_lifetime("max-age=3600", "7200", options), seconds(60));
  EXPECT_EQ(cache_lifetime("max-age=3600", "garbage", options), seconds(3600));
}

TEST(CacheLifetime, DefaultIsClampedToo) {
  auto options = bounds();
  options.default_ttl = seconds(1);
  EXPECT_EQ(cache_lifetime(std::nullopt, std::nullopt, options), seconds(60));
}

TEST(RefreshDelay, BeforeExpiry) {
  const auto options = bounds();
  EXPECT_EQ(refresh_delay(seconds(600), options), seconds(480));
  EXPECT_EQ(refresh_delay(seconds(60), options), seconds(48));
  EXPECT_EQ(refresh_delay(milliseconds(10), options), seconds(1));  // never a busy loop
}

TEST(RetryDelay, ExponentialBackoffWithACap) {
  auto options = bounds();
  options.retry_initial = seconds(1);
  options.retry_max = seconds(60);
  std::vector<long> got;
  for (unsigned attempt = 1; attempt <= 9; ++attempt) {
    got.push_back(
        static_cast<long>(std::chrono::duration_cast<seconds>(retry_delay(attempt, options)).count()));
  }
  EXPECT_EQ(got, (std::vector<long>{1, 2, 4, 8, 16, 32, 60, 60, 60}));
  EXPECT_EQ(retry_delay(1000, options), seconds(60));  // no overflow for long outages
}

TEST(RedactUri, DropsQueryAndUserinfo) {
  EXPECT_EQ(redact_uri("https://user:pw@tenant.auth0.com/.well-known/jwks.json?token=x"),
            "https://tenant.auth0.com/.well-known/jwks.json");
  EXPECT_EQ(redact_uri("http://127.0.0.1:8080/jwks"), "http://127.0.0.1:8080/jwks");
  EXPECT_EQ(redact_uri("not a uri"), "(invalid URI)");
}

// ------------------------------------------------------------------------------ against a server

// A loopback HTTP/1.1 server answering every request with the current canned answer (Connection: close).
class JwksTestServer {
 public:
  JwksTestServer() {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
        ::listen(listener_, 16) != 0) {
      throw std::runtime_error("cannot listen");
    }
    socklen_t size = sizeof(address);
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &size);
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~JwksTestServer() {
    stopping_ = true;
    ::shutdown(listener_, SHUT_RDWR);
    ::close(listener_);
    thread_.join();
  }

  void answer(int status, std::string body, std::string headers = {}, milliseconds delay = milliseconds(0)) {
    std::lock_guard lock(mutex_);
    status_ = status;
    body_ = std::move(body);
    headers_ = std::move(headers);
    delay_ = delay;
  }
  int requests() const { return requests_.load(); }
  std::string uri() const { return "http://127.0.0.1:" + std::to_string(port_) + "/jwks.json"; }

  bool wait_for_requests(int count, milliseconds timeout = milliseconds(5000)) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (requests() < count && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(10));
    }
    return requests() >= count;
  }

 private:
  void serve() {
    while (!stopping_) {
      const int client = ::accept(listener_, nullptr, nullptr);
      if (client < 0) return;
      std::string request;
      char buffer[4096];
      while (request.find("\r\n\r\n") == std::string::npos) {
        const ssize_t n = ::recv(client, buffer, sizeof(buffer), 0);
        if (n <= 0) break;
        request.append(buffer, static_cast<std::size_t>(n));
      }
      ++requests_;
      int status;
      std::string body, headers;
      milliseconds delay;
      {
        std::lock_guard lock(mutex_);
        status = status_;
        body = body_;
        headers = headers_;
        delay = delay_;
      }
      if (delay.count() > 0) std::this_thread::sleep_for(delay);
      const std::string response = "HTTP/1.1 " + std::to_string(status) +
                                   " X\r\nContent-Length: " + std::to_string(body.size()) +
                                   "\r\nConnection: close\r\n" + headers + "\r\n" + body;
      ::send(client, response.data(), response.size(), MSG_NOSIGNAL);
      ::close(client);
    }
  }

  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> requests_{0};
  std::mutex mutex_;
  int status_ = 200;
  std::string body_;
  std::string headers_;
  milliseconds delay_{0};
};

std::string jwks_with(std::initializer_list<std::string_view> kids) {
  std::string out = R"({"keys":[)";
  bool first = true;
  for (std::string_view kid : kids) {
    if (!first) out += ",";
    first = false;
    out += R"({"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":")" +
           std::string(kid) + "\"}";
  }
  return out + "]}";
}

std::vector<std::string> kids_of(const std::shared_ptr<const KeySet>& set) {
  std::vector<std::string> kids;
  if (!set) return kids;
  for (const auto& key : set->keys())
    kids.push_back(key->metadata().kid.value_or(""));
  return kids;
}

// The schedule's clock, advanced by the test (the refresh thread reads it): refresh times, backoff and the
// unknown-kid interval are checked without waiting for them. Network timeouts stay on real time.
class ManualClock {
 public:
  std::chrono::steady_clock::time_point now() const {
    return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(ns_->load()));
  }
  void advance(milliseconds by) { *ns_ += std::chrono::duration_cast<std::chrono::nanoseconds>(by).count(); }
  std::function<std::chrono::steady_clock::time_point()> source() const {
    return [ns = ns_] { return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(ns->load())); };
  }

 private:
  std::shared_ptr<std::atomic<std::int64_t>> ns_ = std::make_shared<std::atomic<std::int64_t>>(
      std::chrono::steady_clock::now().time_since_epoch().count());
};

// A few ticks of the refresh thread (real time), for "nothing happened" checks.
void let_the_refresher_look() {
  std::this_thread::sleep_for(milliseconds(40));
}

RemoteJwksOptions fast_options(const std::string& uri, const ManualClock* clock = nullptr) {
  RemoteJwksOptions options;
  options.uri = uri;
  if (clock != nullptr) options.clock = clock->source();
  options.tick = milliseconds(5);
  options.min_ttl = seconds(1);
  options.default_ttl = seconds(600);
  options.unknown_kid_interval = milliseconds(500);
  options.fetch_timeout = milliseconds(1000);
  options.unknown_kid_timeout = milliseconds(300);
  options.retry_initial = milliseconds(200);
  options.retry_max = milliseconds(400);
  return options;
}

bool eventually(const std::function<bool()>& condition, milliseconds timeout = milliseconds(5000)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(milliseconds(10));
  return condition();
}

// Started on `clock` with the set {"a"} and a lifetime of 1 s (the routine refresh is due after 1 s).
std::shared_ptr<RemoteJwks> start_with_short_lifetime(JwksTestServer& server, const ManualClock& clock) {
  server.answer(200, jwks_with({"a"}), "Cache-Control: max-age=1\r\n");
  std::string error;
  auto jwks = RemoteJwks::start(fast_options(server.uri(), &clock), error);
  EXPECT_TRUE(jwks) << error;
  return jwks;
}

TEST(RemoteJwks, FetchesAtStart) {
  JwksTestServer server;
  server.answer(200, jwks_with({"a", "b"}));
  std::string error;
  auto jwks = RemoteJwks::start(fast_options(server.uri()), error);
  ASSERT_TRUE(jwks) << error;
  EXPECT_EQ(kids_of(jwks->current()), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(server.requests(), 1);
}

TEST(RemoteJwks, StartFailsWithoutKeys) {
  struct Case {
    int status;
    std::string body;
    std::string expected;
  };
  for (const Case& c : {Case{500, "{}", "HTTP status 500"}, Case{200, "not json", "not a JWK set"},
                        Case{200, R"({"keys":[]})", "no usable key"},
                        Case{200, R"({"keys":[{"kty":"unknown"}]})", "no usable key"}}) {
    JwksTestServer server;
    server.answer(c.status, c.body);
    std::string error;
    EXPECT_FALSE(RemoteJwks::start(fast_options(server.uri()), error));
    EXPECT_NE(error.find(c.expected), std::string::npos) << error;
  }
}

TEST(RemoteJwks, StartFailsOnUnreachableOrSlowServers) {
  std::string error;
  EXPECT_FALSE(RemoteJwks::start(fast_options("http://127.0.0.1:1/jwks.json"), error));
  EXPECT_NE(error.find("unreachable"), std::string::npos) << error;

  JwksTestServer slow;
  slow.answer(200, jwks_with({"a"}), {}, milliseconds(700));
  auto options = fast_options(slow.uri());
  options.fetch_timeout = milliseconds(300);
  const auto started = std::chrono::steady_clock::now();
  EXPECT_FALSE(RemoteJwks::start(options, error));
  EXPECT_NE(error.find("timed out"), std::string::npos) << error;
  EXPECT_LT(std::chrono::steady_clock::now() - started, milliseconds(650));
}

TEST(RemoteJwks, RefusesBadUris) {
  std::string error;
  EXPECT_FALSE(RemoteJwks::start(fast_options("ftp://example.com/jwks"), error));
  EXPECT_FALSE(RemoteJwks::start(fast_options("/relative"), error));
  EXPECT_FALSE(RemoteJwks::start(fast_options("http://127.0.0.1:99999/jwks"), error));
  EXPECT_EQ(error, "has an invalid port");
}

TEST(RemoteJwks, UnknownKidRefetchIsSingleFlightAndRateLimited) {
  JwksTestServer server;
  server.answer(200, jwks_with({"a"}));
  ManualClock clock;
  std::string error;
  auto options = fast_options(server.uri(), &clock);
  options.unknown_kid_interval = milliseconds(1500);
  auto jwks = RemoteJwks::start(options, error);
  ASSERT_TRUE(jwks) << error;
  server.answer(200, jwks_with({"a", "b"}));

  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      for (int j = 0; j < 50; ++j)
        jwks->on_unknown_kid("b");
    });
  }
  for (auto& t : threads)
    t.join();
  ASSERT_TRUE(eventually([&] { return kids_of(jwks->current()).size() == 2; }));
  let_the_refresher_look();
  EXPECT_EQ(server.requests(), 2);
  EXPECT_EQ(jwks->stats().unknown_kid_fetches, 1U);

  clock.advance(milliseconds(1499));
  jwks->on_unknown_kid("c");  // inside the interval: nothing
  let_the_refresher_look();
  EXPECT_EQ(server.requests(), 2);

  clock.advance(milliseconds(1));  // the interval has passed
  jwks->on_unknown_kid("c");
  EXPECT_TRUE(server.wait_for_requests(3));
}

TEST(RemoteJwks, UnknownKidNeverBlocksTheCaller) {
  JwksTestServer server;
  server.answer(200, jwks_with({"a"}));
  std::string error;
  auto jwks = RemoteJwks::start(fast_options(server.uri()), error);
  ASSERT_TRUE(jwks) << error;
  server.answer(200, jwks_with({"b"}), {}, milliseconds(500));  // beyond unknown_kid_timeout (300 ms)
  const auto started = std::chrono::steady_clock::now();
  jwks->on_unknown_kid("b");
  EXPECT_LT(std::chrono::steady_clock::now() - started, milliseconds(50));
  ASSERT_TRUE(server.wait_for_requests(2));
  EXPECT_EQ(kids_of(jwks->current()), std::vector<std::string>{"a"});  // the slow refetch times out
  EXPECT_TRUE(eventually([&] { return jwks->stats().failures == 1; }));
  EXPECT_EQ(kids_of(jwks->current()), std::vector<std::string>{"a"});
}

TEST(RemoteJwks, BackgroundRefreshFollowsMaxAge) {
  JwksTestServer server;
  ManualClock clock;
  auto jwks = start_with_short_lifetime(server, clock);
  ASSERT_TRUE(jwks);
  server.answer(200, jwks_with({"b"}), "Cache-Control: max-age=600\r\n");
  // Refreshed after 1 s (80 % of the 1 s lifetime, floored at 1 s), not before.
  clock.advance(milliseconds(999));
  let_the_refresher_look();
  EXPECT_EQ(server.requests(), 1);
  clock.advance(milliseconds(1));
  ASSERT_TRUE(eventually([&] { return kids_of(jwks->current()) == std::vector<std::string>{"b"}; }));
  // max-age=600 now: the next refresh is due after 480 s.
  clock.advance(seconds(479));
  let_the_refresher_look();
  EXPECT_EQ(server.requests(), 2);
  clock.advance(seconds(1));
  EXPECT_TRUE(server.wait_for_requests(3));
}

TEST(RemoteJwks, FailedRefreshKeepsTheLastGoodSetAndBacksOff) {
  JwksTestServer server;
  ManualClock clock;
  auto jwks = start_with_short_lifetime(server, clock);
  ASSERT_TRUE(jwks);
  server.answer(503, "down");
  clock.advance(seconds(1));
  ASSERT_TRUE(eventually([&] { return jwks->stats().failures == 1; }));  // the routine refresh
  // Retries after 200 ms, then 400 ms (retry_max), each measured from the failure before.
  for (milliseconds delay : {milliseconds(200), milliseconds(400), milliseconds(400)}) {
    const int before = server.requests();
    const std::uint64_t failures = jwks->stats().failures;
    clock.advance(delay - milliseconds(1));
    let_the_refresher_look();
    EXPECT_EQ(server.requests(), before) << "retried before " << delay.count() << " ms";
    clock.advance(milliseconds(1));
    ASSERT_TRUE(eventually([&] { return jwks->stats().failures == failures + 1; }));
  }
  EXPECT_EQ(kids_of(jwks->current()), std::vector<std::string>{"a"});
  server.answer(200, jwks_with({"c"}), "Cache-Control: max-age=600\r\n");
  clock.advance(milliseconds(400));
  EXPECT_TRUE(eventually([&] { return kids_of(jwks->current()) == std::vector<std::string>{"c"}; }));
}

TEST(RemoteJwks, StopsPromptlyWhileAFetchIsInFlight) {
  JwksTestServer server;
  server.answer(200, jwks_with({"a"}));
  std::string error;
  auto jwks = RemoteJwks::start(fast_options(server.uri()), error);
  ASSERT_TRUE(jwks) << error;
  server.answer(200, jwks_with({"b"}), {}, milliseconds(500));
  jwks->on_unknown_kid("b");
  ASSERT_TRUE(server.wait_for_requests(2));
  const auto started = std::chrono::steady_clock::now();
  jwks.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - started, milliseconds(200));
}

// Ed25519's identity point as a JWK: refused (forged signatures would verify with it).
constexpr std::string_view kWeakJwk =
    R"({"kty":"OKP","crv":"Ed25519","kid":"weak","x":"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"})";

TEST(RemoteJwks, StartFailsWhenEveryKeyIsRefused) {
  JwksTestServer server;
  server.answer(200, std::string(R"({"keys":[)") + std::string(kWeakJwk) + "]}");
  std::string error;
  EXPECT_FALSE(RemoteJwks::start(fast_options(server.uri()), error));
  EXPECT_NE(error.find("the JWK set has no usable key (1 refused)"), std::string::npos) << error;
}

TEST(RemoteJwks, RefreshWithoutAUsableKeyFailsAndKeepsTheLastGoodSet) {
  JwksTestServer server;
  ManualClock clock;
  auto jwks = start_with_short_lifetime(server, clock);
  ASSERT_TRUE(jwks);
  const std::uint64_t generation = jwks->generation();
  server.answer(200, std::string(R"({"keys":[)") + std::string(kWeakJwk) + "]}",
                "Cache-Control: max-age=1\r\n");
  clock.advance(seconds(1));
  EXPECT_TRUE(eventually([&] { return jwks->stats().failures >= 1; }));
  EXPECT_EQ(kids_of(jwks->current()), std::vector<std::string>{"a"});
  EXPECT_EQ(jwks->generation(), generation);
}

TEST(RemoteJwks, TheSameDocumentKeepsTheSetAndItsGeneration) {
  JwksTestServer server;
  ManualClock clock;
  auto jwks = start_with_short_lifetime(server, clock);
  ASSERT_TRUE(jwks);
  const std::shared_ptr<const KeySet> first = jwks->current();
  EXPECT_EQ(jwks->generation(), first->generation());
  // Two routine refreshes with the same body.
  for (std::uint64_t refresh = 1; refresh <= 2; ++refresh) {
    clock.advance(seconds(1));
    ASSERT_TRUE(eventually([&] { return jwks->stats().successes == 1 + refresh; }));
  }
  EXPECT_EQ(server.requests(), 3);
  EXPECT_EQ(jwks->stats().failures, 0U);
  EXPECT_EQ(jwks->current(), first);
  EXPECT_EQ(jwks->generation(), first->generation());

  server.answer(200, jwks_with({"a", "b"}), "Cache-Control: max-age=600\r\n");  // another document
  clock.advance(seconds(1));
  ASSERT_TRUE(eventually([&] { return kids_of(jwks->current()).size() == 2; }));
  EXPECT_NE(jwks->generation(), first->generation());
  EXPECT_EQ(jwks->generation(), jwks->current()->generation());
}

}  // namespace
}  // namespace workgate::auth
