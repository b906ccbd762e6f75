// The upstream client against an in-process fake upstream on the same event loop, with injected time:
// deadlines are tested by advancing a clock and calling tick(), not by sleeping.
#include "http/upstream.hpp"

#include <gtest/gtest.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "http/cluster.hpp"
#include "http/slab.hpp"
#include "http/tunnel.hpp"

namespace workgate::http {
namespace {

namespace asio = boost::asio;
using boost::system::error_code;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

// Accepts connections and answers each request head with what `answer` returns ("" = never answer).
class FakeUpstream {
 public:
  using Answer = std::function<std::string(const std::string& head)>;

  FakeUpstream(asio::io_context& io, Answer answer)
      : io_(io),
        acceptor_(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
        answer_(std::move(answer)) {
    accept();
  }

  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  // Closes every connection accepted so far (an upstream's keep-alive timeout).
  void close_all() {
    for (auto& weak : sessions_) {
      if (auto session = weak.lock()) {
        error_code ignored;
        session->socket.close(ignored);
      }
    }
  }
  int connections = 0;
  int closed_by_client = 0;
  std::vector<std::string> heads;

 private:
  struct Session {
    explicit Session(asio::io_context& io) : socket(io) {}
    tcp::socket socket;
    std::string buffer;
    std::string out;
  };

  void accept() {
    auto session = std::make_shared<Session>(io_);
    acceptor_.async_accept(session->socket, [this, session](const error_code& ec) {
      if (ec) return;
      ++connections;
      sessions_.push_back(session);
      read(session);
      accept();
    });
  }

  void read(const std::shared_ptr<Session>& session) {
    asio::async_read_until(session->socket, asio::dynamic_buffer(session->buffer), "\r\n\r\n",
                           [this, session](const error_code& ec, std::size_t n) {
                             if (ec) {
                               ++closed_by_client;
                               return;
                             }
                             std::string head = session->buffer.substr(0, n);
                             session->buffer.erase(0, n);
                             heads.push_back(head);
                             session->out = answer_(head);
                             if (session->out.empty()) {
                               read(session);  // hold the request; notice the client closing
                               return;
                             }
                             asio::async_write(session->socket, asio::buffer(session->out),
                                               [this, session](const error_code& write_ec, std::size_t) {
                                                 if (!write_ec) read(session);
                                               });
                           });
  }

  asio::io_context& io_;
  tcp::acceptor acceptor_;
  Answer answer_;
  std::vector<std::weak_ptr<Session>> sessions_;
};

struct Result {
  bool called = false;
  UpstreamError error = UpstreamError::kNone;
  UpstreamResponse response;
};

class UpstreamClientTest : public ::testing::Test {
 protected:
  UpstreamClientTest() : client_(io_, [this] { return now_; }) {}

  std::shared_ptr<UpstreamTarget> target(std::uint16_t port, std::string host = "127.0.0.1") {
    std::string error;
    auto t = make_upstream_target(false, std::move(host), port, {}, error);
    t->connect_timeout = 500ms;
    t->timeout = 2000ms;
    return t;
  }

  static UpstreamRequest get(std::string path) {
    UpstreamRequest r;
    r.head = "GET " + path + " HTTP/1.1\r\nHost: upstream\r\n\r\n";
    r.idempotent = true;
    return r;
  }

  std::weak_ptr<Cancellable> send(const std::shared_ptr<UpstreamTarget>& t, UpstreamRequest request,
                                  Result& out, std::size_t buffer_limit = 1 << 20) {
    return client_.send(
        t, std::move(request),
        [&out](UpstreamError error, UpstreamResponse&& response) {
          out.called = true;
          out.error = error;
          out.response = std::move(response);
        },
        buffer_limit);
  }

  // Runs the loop until `done()` (bounded by real time only as a safety net).
  template <typename Pred>
  bool run_until(Pred done) {
    auto limit = std::chrono::steady_clock::now() + 5s;
    while (!done() && std::chrono::steady_clock::now() < limit)
      io_.run_one_for(10ms);
    return done();
  }

  void advance(std::chrono::milliseconds by) {
    now_ += by;
    client_.tick();
  }

  asio::io_context io_;
  std::chrono::steady_clock::time_point now_ = std::chrono::steady_clock::now();
  UpstreamClient client_;
};

std::string ok(std::string_view body) {
  return "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
}

std::size_t idle_in_pools(UpstreamClient& client, std::size_t* open = nullptr) {
  std::size_t idle = 0;
  client.for_each_pool([&](const UpstreamClient::PoolState& p) {
    idle += p.idle;
    if (open) *open += p.open;
  });
  return idle;
}

TEST_F(UpstreamClientTest, KeepAliveConnectionIsReused) {
  FakeUpstream up(io_, [](const std::string&) { return ok("hi"); });
  auto t = target(up.port());
  Result first, second;
  send(t, get("/a"), first);
  ASSERT_TRUE(run_until([&] { return first.called; }));
  EXPECT_EQ(first.error, UpstreamError::kNone);
  EXPECT_EQ(first.response.body, "hi");
  send(t, get("/b"), second);
  ASSERT_TRUE(run_until([&] { return second.called; }));
  EXPECT_EQ(second.response.status, 200);
  EXPECT_EQ(up.connections, 1);
  EXPECT_EQ(up.heads.size(), 2u);
}

// A delivered call gives back its request head's string: the next head is built without allocating. The
// header list and body string come back to the next call, whose response parses into them.
TEST_F(UpstreamClientTest, ADeliveredCallGivesItsBuffersToTheNext) {
  FakeUpstream up(io_, [](const std::string&) { return ok(std::string(100, 'b')); });
  auto t = target(up.port());
  EXPECT_EQ(client_.take_head_buffer().capacity(), std::string().capacity()) << "nothing given back yet";
  Result first;
  UpstreamRequest request = get("/a");
  request.head.reserve(1000);
  send(t, std::move(request), first);
  ASSERT_TRUE(run_until([&] { return first.called; }));
  EXPECT_EQ(first.response.body, std::string(100, 'b'));  // moved out by the callback: not given back
  std::string head = client_.take_head_buffer();
  EXPECT_TRUE(head.empty());
  EXPECT_GE(head.capacity(), 1000u);
  EXPECT_EQ(client_.take_head_buffer().capacity(), std::string().capacity()) << "one was given back";

  // A callback that leaves the body in the response: its string serves the next response.
  Result second, third;
  std::string* seen = nullptr;
  client_.send(t, get("/b"), [&](UpstreamError, UpstreamResponse&& response) {
    second.called = true;
    seen = &response.body;
    second.response.body = response.body;  // a copy: the string itself goes back
  });
  ASSERT_TRUE(run_until([&] { return second.called; }));
  ASSERT_NE(seen, nullptr);
  client_.send(t, get("/c"), [&](UpstreamError error, UpstreamResponse&& response) {
    third.called = true;
    third.error = error;
    third.response.body = response.body;
    third.response.status = response.status;
    EXPECT_GE(response.body.capacity(), 100u) << "the last body's string was reused";
    EXPECT_GE(response.headers.capacity_bytes(), 512u);
  });
  ASSERT_TRUE(run_until([&] { return third.called; }));
  EXPECT_EQ(third.error, UpstreamError::kNone);
  EXPECT_EQ(third.response.status, 200);
  EXPECT_EQ(third.response.body, std::string(100, 'b'));
}

// What a call gives back is bounded: a large request head (a hostile client's 8 KiB of fields) is freed,
// not kept for the next call.
TEST_F(UpstreamClientTest, ALargeHeadIsNotKeptForTheNextCall) {
  FakeUpstream up(io_, [](const std::string&) { return ok("hi"); });
  auto t = target(up.port());
  Result done;
  UpstreamRequest request = get("/a");
  request.head.insert(request.head.size() - 2, "X-Pad: " + std::string(8192, 'p') + "\r\n");
  send(t, std::move(request), done);
  ASSERT_TRUE(run_until([&] { return done.called; }));
  EXPECT_EQ(done.error, UpstreamError::kNone);
  EXPECT_EQ(client_.take_head_buffer().capacity(), std::string().capacity());
}

// Calls live in the slab when the client has one (the shard's): they go back to it when released.
TEST(UpstreamClientSlab, CallsAreAllocatedFromTheSlab) {
  asio::io_context io;
  SlabPool slab;
  FakeUpstream up(io, [](const std::string&) { return ok("hi"); });
  UpstreamClient client(io, nullptr, &slab);
  std::string error;
  auto t = make_upstream_target(false, "127.0.0.1", up.port(), {}, error);
  bool called = false;
  UpstreamRequest r;
  r.head = "GET / HTTP/1.1\r\nHost: upstream\r\n\r\n";
  auto handle = client.send(t, std::move(r), [&](UpstreamError e, UpstreamResponse&&) {
    called = true;
    EXPECT_EQ(e, UpstreamError::kNone);
  });
  EXPECT_EQ(slab.blocks_in_use(), 1u);
  auto limit = std::chrono::steady_clock::now() + 5s;
  while ((!called || !handle.expired()) && std::chrono::steady_clock::now() < limit)
    io.run_one_for(10ms);
  ASSERT_TRUE(called);
  EXPECT_TRUE(handle.expired());
  // One block holds the call and its control block, freed with the last weak reference: the caller's
  // handle and the client's deadline list (pruned by tick()).
  handle.reset();
  client.tick();
  EXPECT_EQ(slab.blocks_in_use(), 0u);
}

TEST_F(UpstreamClientTest, IdleConnectionClosedByTheUpstreamLeavesThePoolOnceWatched) {
  FakeUpstream up(io_, [](const std::string&) { return ok("hi"); });
  auto t = target(up.port());
  Result first;
  send(t, get("/a"), first);
  ASSERT_TRUE(run_until([&] { return first.called; }));
  std::size_t open = 0;
  EXPECT_EQ(idle_in_pools(client_, &open), 1u);
  advance(1ms);  // released before this sweep: not idle for a whole interval yet
  advance(1ms);  // idle through one: the sweep arms the idle watch
  up.close_all();
  EXPECT_TRUE(run_until([&] {
    advance(1ms);  // expire_idle drops the connection the watch closed
    open = 0;
    return idle_in_pools(client_, &open) == 0 && open == 0;
  })) << "an idle connection the upstream closed is closed and no longer counted";
}

// A connection that went idle just before a sweep is not watched by it (under load most of a pool is idle
// at any instant, and a watch is an epoll_ctl and a cancelled wait when the connection is taken): a close
// by the upstream then is noticed only from the next sweep on, when the watch is armed (and sees it).
TEST_F(UpstreamClientTest, AConnectionIsWatchedOnlyOnceIdleThroughAWholeSweepInterval) {
  FakeUpstream up(io_, [](const std::string&) { return ok("hi"); });
  auto t = target(up.port());
  Result first;
  send(t, get("/a"), first);
  ASSERT_TRUE(run_until([&] { return first.called; }));
  advance(1ms);    // the first sweep since the release: no watch
  up.close_all();  // the FIN is in the gateway's socket at once (loopback)
  for (int i = 0; i < 20; ++i)
    io_.poll();
  // The second sweep: had the first armed a watch, the watch would have closed the connection by now and
  // this sweep would drop it; instead this one arms the watch.
  advance(1ms);
  EXPECT_EQ(idle_in_pools(client_), 1u) << "not watched by the first sweep after its release";
  EXPECT_TRUE(run_until([&] {
    advance(1ms);
    return idle_in_pools(client_) == 0;
  })) << "watched from the second, which sees the close";
}

TEST_F(UpstreamClientTest, UnwatchedIdleConnectionClosedByTheUpstreamIsReplayedOnAFreshOne) {
  FakeUpstream up(io_, [](const std::string&) { return ok("hi"); });
  auto t = target(up.port());
  Result first, second;
  send(t, get("/a"), first);
  ASSERT_TRUE(run_until([&] { return first.called; }));
  up.close_all();  // before any sweep: the pool has not armed a watch yet
  ASSERT_TRUE(run_until([&] { return up.closed_by_client == 1; }));
  send(t, get("/b"), second);
  ASSERT_TRUE(run_until([&] { return second.called; }));
  EXPECT_EQ(second.error, UpstreamError::kNone);
  EXPECT_EQ(second.response.body, "hi");
  EXPECT_EQ(up.connections, 2) << "the idempotent request went again on a fresh connection";
}

TEST_F(UpstreamClientTest, ResponseTimeoutOnInjectedTime) {
  FakeUpstream up(io_, [](const std::string&) { return std::string(); });  // never answers
  auto t = target(up.port());
  Result result;
  send(t, get("/slow"), result);
  ASSERT_TRUE(run_until([&] { return up.heads.size() == 1; }));
  advance(1999ms);
  io_.poll();
  EXPECT_FALSE(result.called) << "not before timeout_ms";
  advance(2ms);
  ASSERT_TRUE(run_until([&] { return result.called; }));
  EXPECT_EQ(result.error, UpstreamError::kTimeout);
  EXPECT_TRUE(run_until([&] { return up.closed_by_client == 1; })) << "the timed-out connection is closed";
}

TEST_F(UpstreamClientTest, CancelledCallClosesItsConnectionAndNeverCallsBack) {
  FakeUpstream up(io_, [](const std::string&) { return std::string(); });
  auto t = target(up.port());
  Result result;
  auto handle = send(t, get("/slow"), result);
  ASSERT_TRUE(run_until([&] { return up.heads.size() == 1; }));
  auto call = handle.lock();
  ASSERT_TRUE(call);
  call->cancel();
  call.reset();
  EXPECT_TRUE(run_until([&] { return up.closed_by_client == 1; }));
  advance(5000ms);
  io_.poll();
  EXPECT_FALSE(result.called);
  EXPECT_TRUE(handle.expired()) << "nothing keeps a cancelled call";
}

TEST_F(UpstreamClientTest, CancelledWaiterLeavesThePoolQueue) {
  bool release_first = false;
  FakeUpstream up(io_, [&](const std::string& head) {
    if (head.find("/first") != std::string::npos && !release_first) return std::string();
    return ok("x");
  });
  auto t = target(up.port());
  t->max_connections = 1;
  Result first, queued, third;
  send(t, get("/first"), first);
  ASSERT_TRUE(run_until([&] { return up.heads.size() == 1; }));
  auto waiting = send(t, get("/queued"), queued);
  io_.poll();
  EXPECT_EQ(up.connections, 1);
  waiting.lock()->cancel();
  // The first call times out (it is never answered); its connection is closed; the next call gets a fresh
  // one.
  advance(2001ms);
  ASSERT_TRUE(run_until([&] { return first.called; }));
  release_first = true;
  send(t, get("/third"), third);
  ASSERT_TRUE(run_until([&] { return third.called; }));
  EXPECT_EQ(third.error, UpstreamError::kNone);
  EXPECT_FALSE(queued.called);
  for (const auto& head : up.heads)
    EXPECT_EQ(head.find("/queued"), std::string::npos) << "a cancelled waiter was sent";
}

TEST_F(UpstreamClientTest, QueuedCallTimesOutOnInjectedTime) {
  FakeUpstream up(io_, [](const std::string&) { return std::string(); });
  auto t = target(up.port());
  t->max_connections = 1;
  Result first, queued;
  send(t, get("/first"), first);
  ASSERT_TRUE(run_until([&] { return up.heads.size() == 1; }));
  send(t, get("/queued"), queued);
  advance(2001ms);
  ASSERT_TRUE(run_until([&] { return first.called && queued.called; }));
  EXPECT_EQ(queued.error, UpstreamError::kTimeout);
}

TEST_F(UpstreamClientTest, UnrequestedSwitchingProtocolsIsABadResponse) {
  FakeUpstream up(io_, [](const std::string&) {
    return std::string("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\nraw");
  });
  Result result;
  send(target(up.port()), get("/"), result);
  ASSERT_TRUE(run_until([&] { return result.called; }));
  EXPECT_EQ(result.error, UpstreamError::kBadResponse);
}

TEST_F(UpstreamClientTest, StatusBelow100IsABadResponse) {
  FakeUpstream up(
      io_, [](const std::string&) { return std::string("HTTP/1.1 042 Odd\r\nContent-Length: 0\r\n\r\n"); });
  Result result;
  send(target(up.port()), get("/"), result);
  ASSERT_TRUE(run_until([&] { return result.called; }));
  EXPECT_EQ(result.error, UpstreamError::kBadResponse);
}

TEST_F(UpstreamClientTest, AnIgnoredResponseStreamIsReleased) {
  FakeUpstream up(io_, [](const std::string&) {
    return std::string("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort");  // streams: body incomplete
  });
  bool called = false;
  auto handle = client_.send(
      target(up.port()), get("/"), [&called](UpstreamError, UpstreamResponse&&) { called = true; }, 0);
  ASSERT_TRUE(run_until([&] { return called; }));
  EXPECT_TRUE(handle.expired()) << "a stream the caller did not take must not keep the call alive";
  EXPECT_TRUE(run_until([&] { return up.closed_by_client == 1; })) << "and its connection is closed";
}

// A body of `size` bytes that shows where each byte belongs.
std::string pattern(std::size_t size) {
  std::string body(size, '\0');
  for (std::size_t i = 0; i < size; ++i)
    body[i] = static_cast<char>('a' + (i * 7 + i / 251) % 26);
  return body;
}

// A large response streamed piece by piece as a client connection takes it: each piece is used after the
// handler returns (as an asynchronous write would), then the next is pulled. When the last piece arrives
// another call to the same upstream starts and completes before that piece is used: a piece borrowed from
// the connection's read buffer must not be overwritten by a call reusing the connection.
TEST_F(UpstreamClientTest, LargeStreamedBodiesArriveIntactWhileTheConnectionIsReused) {
  const std::string body = pattern(300000);
  std::string chunked;
  for (std::size_t at = 0, step = 1; at < body.size(); step = step * 5 + 3) {
    std::size_t n = std::min(body.size() - at, step % 90000 + 1);
    char line[32];
    std::snprintf(line, sizeof(line), "%zx\r\n", n);
    chunked += line;
    chunked.append(body, at, n);
    chunked += "\r\n";
    at += n;
  }
  chunked += "0\r\n\r\n";
  FakeUpstream up(io_, [&](const std::string& head) {
    if (head.find("/small") != std::string::npos) return ok("small");
    if (head.find("/chunked") != std::string::npos)
      return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked;
    return ok(body);
  });
  auto t = target(up.port());
  for (const char* path : {"/length", "/chunked", "/length", "/chunked"}) {
    Result result;
    send(t, get(path), result, 0);
    ASSERT_TRUE(run_until([&] { return result.called; })) << path;
    ASSERT_EQ(result.error, UpstreamError::kNone) << path;
    auto stream = result.response.stream;
    ASSERT_TRUE(stream) << path << ": a large body is streamed";
    std::string received;
    bool finished = false;
    std::string_view last_piece;
    std::function<void()> pull = [&] {
      stream->pull([&](const error_code& ec, std::string_view data, bool last) {
        ASSERT_FALSE(ec) << path;
        if (!last) {
          // Used later, as an asynchronous write would.
          asio::post(io_, [&, data] {
            received.append(data);
            pull();
          });
          return;
        }
        last_piece = data;
        finished = true;
      });
    };
    pull();
    ASSERT_TRUE(run_until([&] { return finished; })) << path;
    Result other;
    send(t, get("/small"), other, 0);
    ASSERT_TRUE(run_until([&] { return other.called; })) << path;
    EXPECT_EQ(other.response.body, "small");
    received.append(last_piece);
    EXPECT_TRUE(received == body) << path << ": " << received.size() << " bytes, differs";
    stream.reset();
    result.response.stream.reset();
    io_.poll();
    std::size_t open = 0;
    std::size_t idle = idle_in_pools(client_, &open);
    EXPECT_EQ(idle, open) << path << ": every connection is back in the pool";
    EXPECT_GE(idle, 1u) << path;
  }
}

TEST_F(UpstreamClientTest, InterimResponsesAreSkippedAndTrailersAreNotHeaders) {
  FakeUpstream up(io_, [](const std::string&) {
    return std::string(
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Head: 1\r\n\r\n"
        "3\r\nabc\r\n0\r\nX-Trailer: evil\r\n\r\n");
  });
  Result result;
  send(target(up.port()), get("/"), result);
  ASSERT_TRUE(run_until([&] { return result.called; }));
  ASSERT_EQ(result.error, UpstreamError::kNone);
  EXPECT_EQ(result.response.status, 200);
  EXPECT_EQ(result.response.body, "abc");
  EXPECT_TRUE(result.response.headers.contains("X-Head"));
  EXPECT_FALSE(result.response.headers.contains("X-Trailer"));
  EXPECT_FALSE(result.response.headers.contains("Link"));
}

TEST_F(UpstreamClientTest, LocalhostNamesNeedNoLookup) {
  FakeUpstream up(io_, [](const std::string&) { return ok("local"); });
  for (std::string host : {"localhost", "api.localhost", "LOCALHOST."}) {
    Result result;
    send(target(up.port(), host), get("/"), result);
    ASSERT_TRUE(run_until([&] { return result.called; })) << host;
    EXPECT_EQ(result.response.body, "local") << host;
  }
}

TEST_F(UpstreamClientTest, BufferedResponseOverTheLimitIsABadResponse) {
  FakeUpstream up(io_, [](const std::string&) { return ok(std::string(100, 'z')); });
  Result result;
  send(target(up.port()), get("/"), result, 10);
  ASSERT_TRUE(run_until([&] { return result.called; }));
  EXPECT_EQ(result.error, UpstreamError::kBadResponse);
}

TEST_F(UpstreamClientTest, ConnectionRefusedIsUnavailable) {
  std::uint16_t port;
  {
    tcp::acceptor probe(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    port = probe.local_endpoint().port();
  }
  Result result;
  send(target(port), get("/"), result);
  ASSERT_TRUE(run_until([&] { return result.called; }));
  EXPECT_EQ(result.error, UpstreamError::kUnavailable);
}

// --- Upgrade

UpstreamRequest upgrade_request() {
  UpstreamRequest r;
  r.head = "GET /ws HTTP/1.1\r\nHost: upstream\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n";
  r.idempotent = true;
  r.upgrade = true;
  return r;
}

TEST_F(UpstreamClientTest, UpgradeSwitchesWithTheBytesAfterThe101AndLeavesThePool) {
  FakeUpstream up(io_, [](const std::string&) {
    return std::string(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nEARLY");
  });
  auto t = target(up.port());
  Result result;
  send(t, upgrade_request(), result, 0);
  ASSERT_TRUE(run_until([&] { return result.called; }));
  ASSERT_EQ(result.error, UpstreamError::kNone);
  EXPECT_EQ(result.response.status, 101);
  ASSERT_TRUE(result.response.upgraded);
  // The bytes may arrive with the head or just after it: what was read with the head is handed over.
  EXPECT_TRUE(result.response.upgraded->early.empty() || result.response.upgraded->early == "EARLY");
  std::size_t open = 0;
  EXPECT_EQ(idle_in_pools(client_, &open), 0u);
  EXPECT_EQ(open, 0u) << "a switched connection is no longer the pool's";
  // The switched connection is the caller's: it reads what the upstream sends.
  if (result.response.upgraded->early.empty()) {
    char buffer[16];
    std::size_t got = 0;
    result.response.upgraded->read_some(asio::buffer(buffer),
                                        [&](const error_code& ec, std::size_t n) { got = ec ? 0 : n; });
    ASSERT_TRUE(run_until([&] { return got > 0; }));
    EXPECT_EQ(std::string(buffer, got), "EARLY");
  }
  result.response.upgraded.reset();  // released: closed
  EXPECT_TRUE(run_until([&] { return up.closed_by_client == 1; }));
}

TEST_F(UpstreamClientTest, UpgradeAnsweredWithoutSwitchingIsOrdinaryAndNotPooled) {
  FakeUpstream up(io_, [](const std::string&) { return ok("no upgrade here"); });
  auto t = target(up.port());
  Result result;
  send(t, upgrade_request(), result);
  ASSERT_TRUE(run_until([&] { return result.called; }));
  EXPECT_EQ(result.error, UpstreamError::kNone);
  EXPECT_EQ(result.response.status, 200);
  EXPECT_EQ(result.response.body, "no upgrade here");
  EXPECT_FALSE(result.response.upgraded);
  EXPECT_EQ(idle_in_pools(client_), 0u) << "the connection of an upgrade request never goes back to the pool";
  Result next;
  send(t, get("/after"), next);
  ASSERT_TRUE(run_until([&] { return next.called; }));
  EXPECT_EQ(up.connections, 2);
}

TEST_F(UpstreamClientTest, Upgrade101WithoutUpgradeFieldIsABadResponse) {
  FakeUpstream up(io_, [](const std::string&) {
    return std::string("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\r\nraw");
  });
  auto t = target(up.port());
  Result result;
  send(t, upgrade_request(), result, 0);
  ASSERT_TRUE(run_until([&] { return result.called; }));
  EXPECT_EQ(result.error, UpstreamError::kBadResponse);
  EXPECT_FALSE(result.response.upgraded);
  EXPECT_TRUE(run_until([&] { return up.closed_by_client == 1; }));
}

// --- servers with several targets (src/http/cluster.hpp)

std::uint16_t closed_port(asio::io_context& io) {
  tcp::acceptor probe(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return probe.local_endpoint().port();
}

TEST_F(UpstreamClientTest, ClusterRetriesAConnectFailureOnAnotherTargetForAnyMethod) {
  FakeUpstream up(io_, [](const std::string&) { return ok("alive"); });
  auto dead = target(closed_port(io_));
  auto live = target(up.port());
  auto cluster =
      std::make_shared<Cluster>("api", std::vector<std::shared_ptr<const UpstreamTarget>>{dead, live},
                                std::vector<std::uint32_t>{1, 1});
  cluster->outlier = OutlierPolicy{};
  cluster->outlier->consecutive_connect_failures = 2;
  for (int i = 0; i < 4; ++i) {
    UpstreamRequest post;
    post.head = "POST /x HTTP/1.1\r\nHost: " + dead->authority + "\r\nContent-Length: 2\r\n\r\n";
    post.body = "hi";
    post.idempotent = false;
    Result result;
    auto call = client_.send(
        cluster, "", std::move(post),
        [&result](UpstreamError error, UpstreamResponse&& response) {
          result.called = true;
          result.error = error;
          result.response = std::move(response);
        },
        1 << 20);
    ASSERT_TRUE(call.has_value());
    ASSERT_TRUE(run_until([&] { return result.called; }));
    EXPECT_EQ(result.error, UpstreamError::kNone) << i;
    EXPECT_EQ(result.response.body, "alive");
  }
  ASSERT_EQ(up.heads.size(), 4u);
  // The Host field names the target the request went to.
  EXPECT_NE(up.heads[0].find("\r\nHost: " + live->authority + "\r\n"), std::string::npos) << up.heads[0];
  // Round robin sent two of the four to the dead target first (retried), then it was ejected.
  EXPECT_EQ(cluster->member(0).ejections.load(), 1u);
  std::uint64_t retries = 0;
  client_.for_each_pool([&](const UpstreamClient::PoolState& pool) { retries += pool.replays; });
  EXPECT_EQ(retries, 2u);
  EXPECT_EQ(client_.cluster_state(cluster)->total_active(), 0u);
}

TEST_F(UpstreamClientTest, ClusterWithOneTargetDoesNotRetryAConnectFailure) {
  auto dead = target(closed_port(io_));
  auto cluster = std::make_shared<Cluster>("api", std::vector<std::shared_ptr<const UpstreamTarget>>{dead},
                                           std::vector<std::uint32_t>{1});
  Result result;
  auto call = client_.send(cluster, "", get("/"), [&result](UpstreamError error, UpstreamResponse&&) {
    result.called = true;
    result.error = error;
  });
  ASSERT_TRUE(call.has_value());
  ASSERT_TRUE(run_until([&] { return result.called; }));
  EXPECT_EQ(result.error, UpstreamError::kUnavailable);
}

TEST_F(UpstreamClientTest, ClusterCircuitBreakerRejectsBeyondMaxRequests) {
  FakeUpstream up(io_, [](const std::string&) { return std::string(); });  // never answers
  auto t = target(up.port());
  auto cluster = std::make_shared<Cluster>("api", std::vector<std::shared_ptr<const UpstreamTarget>>{t},
                                           std::vector<std::uint32_t>{1});
  cluster->max_requests = 2;
  std::vector<std::weak_ptr<Cancellable>> held;
  for (int i = 0; i < 2; ++i) {
    auto call = client_.send(cluster, "", get("/"), [](UpstreamError, UpstreamResponse&&) {});
    ASSERT_TRUE(call.has_value());
    held.push_back(*call);
  }
  EXPECT_FALSE(client_.send(cluster, "", get("/"), [](UpstreamError, UpstreamResponse&&) {}).has_value());
  EXPECT_EQ(cluster->breaker_rejections(), 1u);
  // A cancelled call leaves the breaker's count once it is gone.
  held[0].lock()->cancel();
  run_until([&] { return held[0].expired(); });
  EXPECT_TRUE(client_.send(cluster, "", get("/"), [](UpstreamError, UpstreamResponse&&) {}).has_value());
  for (auto& h : held) {
    if (auto c = h.lock()) c->cancel();
  }
}

TEST_F(UpstreamClientTest, ClusterMaxPendingRejectsOnlyWhenTheCallWouldQueue) {
  FakeUpstream up(io_, [](const std::string&) { return std::string(); });
  auto t = target(up.port());
  t->max_connections = 1;
  auto cluster = std::make_shared<Cluster>("api", std::vector<std::shared_ptr<const UpstreamTarget>>{t},
                                           std::vector<std::uint32_t>{1});
  cluster->max_pending = 1;
  auto first = client_.send(cluster, "", get("/"), [](UpstreamError, UpstreamResponse&&) {});
  auto second = client_.send(cluster, "", get("/"), [](UpstreamError, UpstreamResponse&&) {});  // queued
  ASSERT_TRUE(first.has_value());
  ASSERT_TRUE(second.has_value());
  EXPECT_FALSE(client_.send(cluster, "", get("/"), [](UpstreamError, UpstreamResponse&&) {}).has_value());
  for (auto* h : {&*first, &*second}) {
    if (auto c = h->lock()) c->cancel();
  }
}

TEST_F(UpstreamClientTest, ClusterHealthChecksMarkTargetsUnhealthyAndHealthyAgain) {
  bool healthy = false;
  FakeUpstream up(io_, [&healthy](const std::string& head) {
    EXPECT_EQ(head.rfind("GET /healthz HTTP/1.1\r\n", 0), 0u) << head;
    return healthy ? ok("ok") : std::string("HTTP/1.1 503 Unavailable\r\nContent-Length: 0\r\n\r\n");
  });
  auto t = target(up.port());
  auto other = target(closed_port(io_));
  auto cluster = std::make_shared<Cluster>(
      "api", std::vector<std::shared_ptr<const UpstreamTarget>>{t, other}, std::vector<std::uint32_t>{1, 1});
  cluster->health_check = HealthCheckPolicy{"/healthz", 1000ms, 500ms, 2, 2};
  client_.cluster_state(cluster);
  const Cluster::Member& m = cluster->member(0);
  auto checked = [&](std::uint64_t n) { return run_until([&] { return m.health_checks.load() >= n; }); };
  advance(0ms);
  ASSERT_TRUE(checked(1));
  EXPECT_TRUE(m.healthy.load());  // one failure, threshold 2
  advance(1000ms);
  ASSERT_TRUE(checked(2));
  EXPECT_FALSE(m.healthy.load());
  // The target that refuses connections fails its checks too.
  ASSERT_TRUE(run_until([&] { return !cluster->member(1).healthy.load(); }));
  healthy = true;
  advance(1000ms);
  ASSERT_TRUE(checked(3));
  EXPECT_FALSE(m.healthy.load());  // one success, threshold 2
  advance(1000ms);
  ASSERT_TRUE(checked(4));
  EXPECT_TRUE(m.healthy.load());
  // Not due yet: no check.
  advance(500ms);
  EXPECT_EQ(up.heads.size(), 4u);
  // A second thread's client does not run the checks again (one thread claimed them).
  UpstreamClient second(io_, [this] { return now_; });
  second.cluster_state(cluster);
  second.tick();
  EXPECT_EQ(up.heads.size(), 4u);
}

}  // namespace
}  // namespace workgate::http
