// The limiter's logic on injected time: GCRA arithmetic, the exact bound, the local table (threads,
// collisions, memory), keys (templates, client addresses, hostile bytes) and Redis reply parsing.
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <random>
#include <thread>

#include "config/rate_limits.hpp"
#include "ratelimit/gcra.hpp"
#include "ratelimit/key.hpp"
#include "ratelimit/limiter.hpp"
#include "ratelimit/local_store.hpp"
#include "ratelimit/redis_client.hpp"

namespace workgate::ratelimit {
namespace {

constexpr std::int64_t kSecond = 1000000;

// The reference model: replays decisions on one TAT.
struct Model {
  GcraParams params;
  std::int64_t tat = 0;
  bool request(std::int64_t now) {
    auto next = admit(params, now, tat);
    if (next) tat = *next;
    return next.has_value();
  }
};

TEST(Gcra, Parameters) {
  GcraParams p = GcraParams::from(100, 60, 20);
  EXPECT_EQ(p.interval_us, 600000);
  EXPECT_EQ(p.tolerance_us, 19 * 600000);
  // Rounded up: 3 per second is 333334 us each, never 333333 (which would admit a little more).
  EXPECT_EQ(GcraParams::from(3, 1, 1).interval_us, 333334);
  EXPECT_EQ(GcraParams::from(1000000, 1, 1).interval_us, 1);
}

TEST(Gcra, BurstThenRate) {
  Model m{GcraParams::from(10, 1, 5)};
  const std::int64_t t0 = 1000 * kSecond;
  for (int i = 0; i < 5; ++i)
    EXPECT_TRUE(m.request(t0)) << i;
  EXPECT_FALSE(m.request(t0));
  EXPECT_FALSE(m.request(t0 + 99999));
  EXPECT_TRUE(m.request(t0 + 100000));  // one interval later: one more
  EXPECT_FALSE(m.request(t0 + 100000));
  // After a long pause the state is as good as new: a full burst again.
  for (int i = 0; i < 5; ++i)
    EXPECT_TRUE(m.request(t0 + 100 * kSecond)) << i;
  EXPECT_FALSE(m.request(t0 + 100 * kSecond));
}

TEST(Gcra, Verdicts) {
  GcraParams p = GcraParams::from(10, 1, 5);  // interval 100 ms, tolerance 400 ms
  Verdict first = verdict(p, true, 100000);   // one request made: TAT = now + 100 ms
  EXPECT_EQ(first.remaining, 4);
  EXPECT_EQ(first.reset_us, 100000);
  Verdict last = verdict(p, true, 500000);
  EXPECT_EQ(last.remaining, 0);
  Verdict denied = verdict(p, false, 500000);
  EXPECT_FALSE(denied.admitted);
  EXPECT_EQ(denied.remaining, 0);
  EXPECT_EQ(denied.retry_after_us, 100000);
  EXPECT_EQ(denied.reset_us, 500000);
  EXPECT_EQ(ceil_seconds(1), 1);
  EXPECT_EQ(ceil_seconds(kSecond), 1);
  EXPECT_EQ(ceil_seconds(kSecond + 1), 2);
  EXPECT_EQ(ceil_seconds(0), 0);
  EXPECT_EQ(ceil_seconds(-5), 0);
}

// Over every window [a, b] of a random arrival sequence: admitted <= burst + rate x (b - a) / period, and
// a client that paces itself below the rate is never refused.
TEST(Gcra, ExactBoundOverEveryWindow) {
  std::mt19937_64 rng(12345);
  for (int round = 0; round < 40; ++round) {
    std::int64_t rate = 1 + static_cast<std::int64_t>(rng() % 50);
    std::int64_t period = 1 + static_cast<std::int64_t>(rng() % 5);
    std::int64_t burst = 1 + static_cast<std::int64_t>(rng() % 20);
    Model m{GcraParams::from(rate, period, burst)};
    std::vector<std::int64_t> admitted;
    std::int64_t now = 5 * kSecond;
    for (int i = 0; i < 3000; ++i) {
      now += static_cast<std::int64_t>(rng() % (2 * period * kSecond / rate + 1));
      if (rng() % 4 == 0) now += 0;  // bursts of simultaneous requests
      if (m.request(now)) admitted.push_back(now);
    }
    for (std::size_t a = 0; a < admitted.size(); ++a) {
      for (std::size_t b = a; b < admitted.size() && b < a + 400; ++b) {
        double bound = static_cast<double>(burst) + static_cast<double>(rate) *
                                                        static_cast<double>(admitted[b] - admitted[a]) /
                                                        static_cast<double>(period * kSecond);
        ASSERT_LE(static_cast<double>(b - a + 1), bound + 1e-9)
            << "rate " << rate << "/" << period << "s burst " << burst << " window " << a << ".." << b;
      }
    }
  }
}

TEST(Gcra, PacedClientIsNeverRefused) {
  GcraParams p = GcraParams::from(50, 1, 1);
  Model m{p};
  std::int64_t now = kSecond;
  for (int i = 0; i < 1000; ++i, now += p.interval_us)
    ASSERT_TRUE(m.request(now)) << i;
}

TEST(LocalTable, SameBoundAsTheModel) {
  LocalTable table(1024, 7);
  GcraParams p = GcraParams::from(10, 1, 3);
  int admitted = 0;
  for (int i = 0; i < 100; ++i)
    admitted += table.decide(p, "alice", kSecond).admitted ? 1 : 0;
  EXPECT_EQ(admitted, 3);
  // Another key is not affected (unless it shares the slot).
  if (table.slot_of("bob") != table.slot_of("alice")) {
    EXPECT_TRUE(table.decide(p, "bob", kSecond).admitted);
  }
  EXPECT_TRUE(table.decide(p, "alice", kSecond + p.interval_us).admitted);
}

// Threads hammering one key at one instant: exactly `burst` pass, whatever the interleaving.
TEST(LocalTable, ExactAcrossThreads) {
  LocalTable table(1024, 1);
  GcraParams p = GcraParams::from(1000, 1, 500);
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 5000; ++i)
        if (table.decide(p, "hot", 10 * kSecond).admitted) admitted.fetch_add(1);
    });
  }
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(admitted.load(), 500);
}

// A flood of distinct keys: the table does not grow, and a key whose TAT has passed costs nothing.
TEST(LocalTable, FloodOfKeysKeepsMemoryFixed) {
  LocalTable table(4096, 3);
  GcraParams p = GcraParams::from(1, 60, 1);
  for (int i = 0; i < 200000; ++i)
    table.decide(p, "attacker-" + std::to_string(i), kSecond);
  EXPECT_EQ(table.slot_count(), 4096u);
  EXPECT_LE(table.live_slots(kSecond), 4096u);
  // Once their TAT has passed, every slot is free again: "expired" without any sweep.
  EXPECT_EQ(table.live_slots(kSecond + 61 * kSecond), 0u);
  EXPECT_TRUE(table.decide(p, "late", kSecond + 61 * kSecond).admitted);
}

// Keys sharing a slot share an allowance: never more than one key's limit passes per slot.
TEST(LocalTable, CollisionsOnlyAdmitLess) {
  LocalTable table(1024, 9);
  GcraParams p = GcraParams::from(5, 1, 5);
  int admitted = 0;
  std::string a = "a", b;
  for (int i = 0; b.empty(); ++i) {
    std::string candidate = "k" + std::to_string(i);
    if (table.slot_of(candidate) == table.slot_of(a)) b = candidate;
  }
  for (int i = 0; i < 10; ++i) {
    admitted += table.decide(p, a, kSecond).admitted ? 1 : 0;
    admitted += table.decide(p, b, kSecond).admitted ? 1 : 0;
  }
  EXPECT_EQ(admitted, 5);
}

TEST(LocalTable, SharedAcrossReloadsWhileInUse) {
  auto first = shared_local_table("test|policy-a", 1024);
  auto again = shared_local_table("test|policy-a", 1024);
  EXPECT_EQ(first.get(), again.get());
  auto other = shared_local_table("test|policy-b", 1024);
  EXPECT_NE(first.get(), other.get());
  LocalTable* address = first.get();
  first.reset();
  again.reset();
  // Nobody holds it: a later build gets a fresh table.
  auto fresh = shared_local_table("test|policy-a", 2048);
  EXPECT_EQ(fresh->slot_count(), 2048u);
  static_cast<void>(address);
}

TEST(Keys, HostileBytesAreHashed) {
  EXPECT_EQ(redis_key("per-user", "alice"), "workgate:rl:per-user:k:alice");
  EXPECT_EQ(redis_key("per-user", "a.b_c-d@e"), "workgate:rl:per-user:k:a.b_c-d@e");
  EXPECT_EQ(redis_key("p", ""), "workgate:rl:p:k:");
  for (std::string hostile : {std::string("a\r\nFLUSHALL\r\n"), std::string("x:y"), std::string("a\0b", 3),
                              std::string(100000, 'z'), std::string("k:alice"), std::string("\xff\xfe")}) {
    std::string key = redis_key("p", hostile);
    EXPECT_TRUE(key.starts_with("workgate:rl:p:h:")) << key;
    EXPECT_EQ(key.size(), std::string("workgate:rl:p:h:").size() + 64);
    for (char c : key)
      EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == ':' || c == '-') << key;
  }
  EXPECT_NE(redis_key("p", "x:y"), redis_key("p", "x;y"));
}

struct RequestFixture {
  http::Request request;
  auth::Claims claims;
  router::RouteMatch match;
  config::Config config;
  config::Route route;

  RequestFixture() {
    request.method = "GET";
    request.path = "/a";
    request.client_address = "203.0.113.9";
    route.method = "GET";
    route.path = "/users/{id}";
  }
  std::string key(const std::string& text, const std::vector<config::IpNetwork>& trusted = {}) {
    std::string error;
    auto t = KeyTemplate::compile(text, route, config, error);
    EXPECT_TRUE(t) << error;
    if (!t) return "<error>";
    integrations::ValueTemplate::Context request_context{request, claims, match};
    std::string out;
    t->resolve({request_context, trusted}, out);
    return out;
  }
};

TEST(Keys, Templates) {
  RequestFixture f;
  f.request.headers.add("X-Tenant", "acme");
  f.claims = std::make_shared<const boost::json::object>(boost::json::object{{"sub", "user-1"}});
  EXPECT_EQ(f.key("$request.jwt.sub"), "user-1");
  EXPECT_EQ(f.key("$request.header.x-tenant:$request.client_ip"), "acme:203.0.113.9");
  EXPECT_EQ(f.key("$route|$request.jwt.sub"), "GET /users/{id}|user-1");
  EXPECT_EQ(f.key("static"), "static");
  EXPECT_EQ(f.key(""), "");
  // A reference that resolves to nothing: the shared empty key.
  EXPECT_EQ(f.key("$request.header.x-missing"), "");
  EXPECT_EQ(f.key("$request.jwt.email:$request.client_ip"), "");
  std::string error;
  EXPECT_FALSE(KeyTemplate::compile("$request.peer", f.route, f.config, error));
  EXPECT_NE(error.find("$request.client_ip"), std::string::npos) << error;
  EXPECT_FALSE(KeyTemplate::compile("$request.header.", f.route, f.config, error));
  // Not a reference: $routes, $request.client_ipx
  EXPECT_EQ(f.key("$routes"), "$routes");
}

TEST(Keys, ClientIpWalksTrustedHops) {
  std::vector<config::IpNetwork> trusted{*config::parse_ip_network("10.0.0.0/8"),
                                         *config::parse_ip_network("127.0.0.1")};
  RequestFixture f;
  // Untrusted peer: X-Forwarded-For is whatever it wrote.
  f.request.headers.add("X-Forwarded-For", "1.1.1.1");
  EXPECT_EQ(client_ip(f.request, trusted), "203.0.113.9");
  EXPECT_EQ(client_ip(f.request, {}), "203.0.113.9");
  // Trusted peer: right to left, skipping trusted hops.
  f.request.client_address = "127.0.0.1";
  f.request.headers.clear();
  f.request.headers.add("X-Forwarded-For", "6.6.6.6, 198.51.100.7, 10.1.1.1");
  EXPECT_EQ(client_ip(f.request, trusted), "198.51.100.7");
  // Several fields form one list.
  f.request.headers.clear();
  f.request.headers.add("X-Forwarded-For", "6.6.6.6");
  f.request.headers.add("x-forwarded-for", "10.0.0.2");
  EXPECT_EQ(client_ip(f.request, trusted), "6.6.6.6");
  // Every hop trusted: the leftmost.
  f.request.headers.clear();
  f.request.headers.add("X-Forwarded-For", "10.9.9.9,10.0.0.2");
  EXPECT_EQ(client_ip(f.request, trusted), "10.9.9.9");
  // Garbage stops the walk at the last believed address.
  f.request.headers.clear();
  f.request.headers.add("X-Forwarded-For", "1.2.3.4, not-an-ip, 10.0.0.3");
  EXPECT_EQ(client_ip(f.request, trusted), "10.0.0.3");
  // No header: the peer.
  f.request.headers.clear();
  EXPECT_EQ(client_ip(f.request, trusted), "127.0.0.1");
  // IPv6 and bracketed forms.
  f.request.headers.add("X-Forwarded-For", " 2001:db8::1 ");
  EXPECT_EQ(client_ip(f.request, trusted), "2001:db8::1");
}

// Replies as Redis sends them, parsed by hiredis' own reader.
redisReply* parse(const std::string& wire) {
  redisReader* reader = redisReaderCreate();
  redisReaderFeed(reader, wire.data(), wire.size());
  void* reply = nullptr;
  EXPECT_EQ(redisReaderGetReply(reader, &reply), REDIS_OK);
  redisReaderFree(reader);
  return static_cast<redisReply*>(reply);
}

TEST(RedisReply, Decisions) {
  redisReply* ok = parse("*2\r\n:1\r\n:600000\r\n");
  auto parsed = parse_gcra_reply(ok);
  ASSERT_TRUE(parsed);
  EXPECT_TRUE(parsed->admitted);
  EXPECT_EQ(parsed->ahead_us, 600000);
  freeReplyObject(ok);
  redisReply* denied = parse("*2\r\n:0\r\n:12000000\r\n");
  parsed = parse_gcra_reply(denied);
  ASSERT_TRUE(parsed);
  EXPECT_FALSE(parsed->admitted);
  freeReplyObject(denied);
}

TEST(RedisReply, AnythingElseIsRefused) {
  for (const std::string wire : {"+OK\r\n", "-ERR nope\r\n", "-NOSCRIPT No matching script\r\n", ":1\r\n",
                                 "*1\r\n:1\r\n", "*3\r\n:1\r\n:2\r\n:3\r\n", "*2\r\n:2\r\n:5\r\n",
                                 "*2\r\n$1\r\n1\r\n:5\r\n", "*2\r\n:1\r\n$-1\r\n", "*-1\r\n", "$-1\r\n"}) {
    redisReply* reply = parse(wire);
    ASSERT_NE(reply, nullptr) << wire;
    EXPECT_FALSE(parse_gcra_reply(reply)) << wire;
    freeReplyObject(reply);
  }
  EXPECT_FALSE(parse_gcra_reply(nullptr));
}

TEST(RedisScript, ShaMatchesTheScript) {
  EXPECT_EQ(gcra_script_sha().size(), 40u);
  EXPECT_NE(gcra_script().find("redis.call('TIME')"), std::string::npos);
}

TEST(Headers, Fields) {
  config::RateLimitPolicy policy;
  policy.name = "per-user";
  policy.rate = 100;
  policy.period_seconds = 60;
  EXPECT_EQ(policy_field(policy), "\"per-user\";q=100;w=60");
  std::string out;
  Verdict v;
  v.admitted = true;
  v.remaining = 42;
  v.reset_us = 16 * kSecond + 1;
  append_limit_field(out, "\"per-user\"", v);
  EXPECT_EQ(out, "\"per-user\";r=42;t=17");
  Verdict denied;
  denied.reset_us = 3 * kSecond;
  append_limit_field(out, "\"b\"", denied);
  EXPECT_EQ(out, "\"per-user\";r=42;t=17, \"b\";r=0;t=3");
}

}  // namespace
}  // namespace workgate::ratelimit
