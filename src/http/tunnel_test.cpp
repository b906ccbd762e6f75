// The tunnel against scripted sides (every read and write completed by the test, time injected), and once
// over real loopback TCP connections.
#include "http/tunnel.hpp"

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

namespace workgate::http {
namespace {

namespace asio = boost::asio;
using boost::system::error_code;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

// A side whose operations stay pending until the test completes them.
class ScriptedSide final : public TunnelSide {
 public:
  void read_some(asio::mutable_buffer buffer, Handler handler) override {
    EXPECT_FALSE(read_handler) << "two reads in flight";
    read_buffer = buffer;
    read_handler = std::move(handler);
  }
  void write(asio::const_buffer buffer, Handler handler) override {
    EXPECT_FALSE(write_handler) << "two writes in flight";
    in_write.assign(static_cast<const char*>(buffer.data()), buffer.size());
    write_handler = std::move(handler);
  }
  bool shutdown_send() override {
    ++shutdowns;
    return half_closable;
  }
  void stop() override { ++stops; }

  // The peer sent `data` (must fit the pending read).
  void deliver(const std::string& data) {
    ASSERT_TRUE(read_handler);
    ASSERT_LE(data.size(), read_buffer.size());
    std::memcpy(read_buffer.data(), data.data(), data.size());
    complete_read({}, data.size());
  }
  void complete_read(const error_code& ec, std::size_t n = 0) {
    ASSERT_TRUE(read_handler);
    Handler h = std::move(read_handler);
    read_handler = nullptr;
    h(ec, n);
  }
  // The pending write reached the peer.
  void complete_write(const error_code& ec = {}) {
    ASSERT_TRUE(write_handler);
    Handler h = std::move(write_handler);
    write_handler = nullptr;
    if (!ec) written += in_write;
    h(ec, ec ? 0 : in_write.size());
  }
  // What stop() causes: the pending operations complete with operation_aborted.
  void abort_pending() {
    if (read_handler) complete_read(asio::error::operation_aborted);
    if (write_handler) complete_write(asio::error::operation_aborted);
  }

  asio::mutable_buffer read_buffer;
  Handler read_handler;
  Handler write_handler;
  std::string in_write;
  std::string written;  // what the tunnel wrote to this side's peer
  bool half_closable = true;
  int shutdowns = 0;
  int stops = 0;
};

struct Fixture {
  Fixture() {
    a = std::make_shared<ScriptedSide>();
    b = std::make_shared<ScriptedSide>();
  }
  // Operations a test leaves pending hold the tunnel, which holds the sides: dropping them ends the cycle.
  ~Fixture() {
    for (auto* side : {a.get(), b.get()}) {
      side->read_handler = nullptr;
      side->write_handler = nullptr;
    }
  }
  void start(std::chrono::milliseconds idle = 1000ms, std::size_t buffer_size = 16) {
    Tunnel::Options options;
    options.buffer_size = buffer_size;
    options.idle_timeout = idle;
    options.now = [this] { return clock; };
    tunnel = std::make_shared<Tunnel>(a, b, options);
    tunnel->start([this](Tunnel::End end) { ends.push_back(end); });
  }
  std::shared_ptr<ScriptedSide> a;
  std::shared_ptr<ScriptedSide> b;
  std::shared_ptr<Tunnel> tunnel;
  Tunnel::Clock::time_point clock{std::chrono::seconds(1000)};
  std::vector<Tunnel::End> ends;
};

TEST(Tunnel, RelaysBothWaysEarlyBytesFirst) {
  Fixture f;
  f.a->early = "early-from-a";
  f.start();
  // a's early bytes are written to b before anything is read from a.
  EXPECT_FALSE(f.a->read_handler);
  ASSERT_TRUE(f.b->write_handler);
  EXPECT_EQ(f.b->in_write, "early-from-a");
  f.b->complete_write();
  ASSERT_TRUE(f.a->read_handler);
  f.a->deliver("hello");
  EXPECT_EQ(f.b->in_write, "hello");
  f.b->complete_write();
  EXPECT_EQ(f.b->written,
            "early-from-a"
            "hello");
  // And the other way.
  ASSERT_TRUE(f.b->read_handler);
  f.b->deliver("world");
  f.a->complete_write();
  EXPECT_EQ(f.a->written, "world");
  EXPECT_EQ(f.tunnel->bytes_a_to_b(), 17u);
  EXPECT_EQ(f.tunnel->bytes_b_to_a(), 5u);
  EXPECT_TRUE(f.ends.empty());
  f.tunnel->cancel();
}

TEST(Tunnel, ReadsNoFasterThanTheOtherSideTakes) {
  Fixture f;
  f.start(1000ms, 4);
  // Reads are bounded by the buffer size.
  EXPECT_EQ(f.a->read_buffer.size(), 4u);
  f.a->deliver("abcd");
  // b has not taken it: no read from a is in flight, whatever a may have to send.
  EXPECT_FALSE(f.a->read_handler);
  EXPECT_TRUE(f.b->write_handler);
  f.b->complete_write();
  EXPECT_TRUE(f.a->read_handler);
  // The other direction is independent meanwhile.
  EXPECT_TRUE(f.b->read_handler);
  f.tunnel->cancel();
}

TEST(Tunnel, HalfCloseEachDirectionThenFinished) {
  Fixture f;
  f.start();
  // a finishes sending, with its last bytes in the same read.
  f.a->deliver("bye");
  f.b->complete_write();
  f.a->complete_read(asio::error::eof);
  EXPECT_EQ(f.b->shutdowns, 1);  // passed on to b
  EXPECT_EQ(f.a->shutdowns, 0);
  EXPECT_FALSE(f.a->read_handler);
  // b -> a still flows.
  f.b->deliver("more");
  f.a->complete_write();
  EXPECT_EQ(f.a->written, "more");
  EXPECT_TRUE(f.ends.empty());
  f.b->complete_read(asio::error::eof);
  EXPECT_EQ(f.a->shutdowns, 1);
  ASSERT_EQ(f.ends.size(), 1u);
  EXPECT_EQ(f.ends[0], Tunnel::End::kFinished);
  EXPECT_EQ(f.a->stops, 1);
  EXPECT_EQ(f.b->stops, 1);
}

TEST(Tunnel, EndOfStreamWithDataWritesTheDataFirst) {
  Fixture f;
  f.start();
  // The read that reports the end carries bytes too (a TLS record and its close_notify).
  ASSERT_TRUE(f.a->read_handler);
  std::memcpy(f.a->read_buffer.data(), "tail", 4);
  f.a->complete_read(asio::error::eof, 4);
  EXPECT_EQ(f.b->shutdowns, 0);
  f.b->complete_write();
  EXPECT_EQ(f.b->written, "tail");
  EXPECT_EQ(f.b->shutdowns, 1);
  f.tunnel->cancel();
}

TEST(Tunnel, SideThatCannotHalfCloseEndsTheTunnel) {
  Fixture f;
  f.b->half_closable = false;  // a TLS side
  f.start();
  f.a->complete_read(asio::error::eof);
  EXPECT_EQ(f.b->shutdowns, 1);
  EXPECT_EQ(f.a->stops, 1);
  EXPECT_EQ(f.b->stops, 1);
  // done runs once the pending read of b has completed (the owner may then use the transports).
  EXPECT_TRUE(f.ends.empty());
  f.b->abort_pending();
  ASSERT_EQ(f.ends.size(), 1u);
  EXPECT_EQ(f.ends[0], Tunnel::End::kFinished);
}

TEST(Tunnel, IdleTimeoutOnInjectedClock) {
  Fixture f;
  f.start(1000ms);
  EXPECT_EQ(f.tunnel->idle_deadline(), f.clock + 1000ms);
  f.clock += 900ms;
  EXPECT_FALSE(f.tunnel->expire(f.clock));
  // Activity (a write completing) moves the deadline.
  f.a->deliver("x");
  f.b->complete_write();
  EXPECT_EQ(f.tunnel->idle_deadline(), f.clock + 1000ms);
  f.clock += 999ms;
  EXPECT_FALSE(f.tunnel->expire(f.clock));
  f.clock += 1ms;
  EXPECT_TRUE(f.tunnel->expire(f.clock));
  EXPECT_FALSE(f.tunnel->expire(f.clock));  // once
  EXPECT_EQ(f.a->stops, 1);
  EXPECT_EQ(f.b->stops, 1);
  f.a->abort_pending();
  EXPECT_TRUE(f.ends.empty());
  f.b->abort_pending();
  ASSERT_EQ(f.ends.size(), 1u);
  EXPECT_EQ(f.ends[0], Tunnel::End::kIdle);
}

TEST(Tunnel, StalledWriteIsIdleToo) {
  Fixture f;
  f.start(1000ms);
  f.a->deliver("x");  // b never takes it
  f.clock += 1000ms;
  EXPECT_TRUE(f.tunnel->expire(f.clock));
  f.a->abort_pending();
  f.b->abort_pending();
  ASSERT_EQ(f.ends.size(), 1u);
  EXPECT_EQ(f.ends[0], Tunnel::End::kIdle);
}

TEST(Tunnel, ErrorOnEitherSideEndsBoth) {
  for (bool on_write : {false, true}) {
    Fixture f;
    f.start();
    if (on_write) {
      f.b->deliver("x");
      f.a->complete_write(asio::error::broken_pipe);
    } else {
      f.a->complete_read(asio::error::connection_reset);
    }
    EXPECT_EQ(f.a->stops, 1);
    EXPECT_EQ(f.b->stops, 1);
    f.a->abort_pending();
    f.b->abort_pending();
    ASSERT_EQ(f.ends.size(), 1u) << on_write;
    EXPECT_EQ(f.ends[0], Tunnel::End::kError);
    // Nothing moves after the end.
    EXPECT_FALSE(f.a->read_handler);
    EXPECT_FALSE(f.b->read_handler);
  }
}

TEST(Tunnel, CancelStopsBothWithoutDone) {
  Fixture f;
  f.start();
  f.tunnel->cancel();
  EXPECT_EQ(f.a->stops, 1);
  EXPECT_EQ(f.b->stops, 1);
  f.a->abort_pending();
  f.b->abort_pending();
  EXPECT_TRUE(f.ends.empty());
  EXPECT_TRUE(f.tunnel->ended());
}

// --- real sockets

class SocketSide final : public TunnelSide {
 public:
  explicit SocketSide(tcp::socket socket) : socket_(std::move(socket)) {}
  void read_some(asio::mutable_buffer buffer, Handler handler) override {
    socket_.async_read_some(buffer, std::move(handler));
  }
  void write(asio::const_buffer buffer, Handler handler) override {
    asio::async_write(socket_, buffer, std::move(handler));
  }
  bool shutdown_send() override {
    error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
    return true;
  }
  void stop() override {
    error_code ignored;
    socket_.close(ignored);
  }

 private:
  tcp::socket socket_;
};

// A connected pair of loopback sockets.
std::pair<tcp::socket, tcp::socket> socket_pair(asio::io_context& io) {
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  tcp::socket client(io);
  client.connect(acceptor.local_endpoint());
  tcp::socket server = acceptor.accept();
  return {std::move(client), std::move(server)};
}

std::string pattern(std::size_t n, char seed) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i)
    s[i] = static_cast<char>(seed + static_cast<char>(i * 7 % 251));
  return s;
}

TEST(Tunnel, RealSocketsBothWaysConcurrentlyWithHalfClose) {
  asio::io_context io;
  auto [peer_a, side_a] = socket_pair(io);
  auto [peer_b, side_b] = socket_pair(io);
  Tunnel::Options options;
  options.idle_timeout = 60s;
  auto tunnel = std::make_shared<Tunnel>(std::make_shared<SocketSide>(std::move(side_a)),
                                         std::make_shared<SocketSide>(std::move(side_b)), options);
  std::optional<Tunnel::End> end;
  tunnel->start([&](Tunnel::End e) { end = e; });

  // Each peer sends 3 MiB (far more than the socket buffers and the tunnel's) and then half-closes, while
  // reading what the other sends until its end: both directions at once, neither can finish alone.
  const std::string to_b = pattern(3 << 20, 'a');
  const std::string to_a = pattern(3 << 20, 'b');
  std::string got_a, got_b;
  auto run_peer = [](tcp::socket& s, const std::string& out, std::string& in) {
    asio::async_write(s, asio::buffer(out), [&s](const error_code& ec, std::size_t) {
      EXPECT_FALSE(ec);
      error_code ignored;
      s.shutdown(tcp::socket::shutdown_send, ignored);
    });
    asio::async_read(s, asio::dynamic_buffer(in), [](const error_code& ec, std::size_t) {
      EXPECT_EQ(ec, asio::error::eof);  // the other peer's half-close, passed on
    });
  };
  run_peer(peer_a, to_b, got_a);
  run_peer(peer_b, to_a, got_b);
  io.run_for(20s);
  EXPECT_TRUE(got_b == to_b) << got_b.size();
  EXPECT_TRUE(got_a == to_a) << got_a.size();
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(*end, Tunnel::End::kFinished);
  EXPECT_EQ(tunnel->bytes_a_to_b(), to_b.size());
  EXPECT_EQ(tunnel->bytes_b_to_a(), to_a.size());
}

TEST(Tunnel, RealSocketsResetEndsBoth) {
  asio::io_context io;
  auto [peer_a, side_a] = socket_pair(io);
  auto [peer_b, side_b] = socket_pair(io);
  auto tunnel = std::make_shared<Tunnel>(std::make_shared<SocketSide>(std::move(side_a)),
                                         std::make_shared<SocketSide>(std::move(side_b)), Tunnel::Options{});
  std::optional<Tunnel::End> end;
  tunnel->start([&](Tunnel::End e) { end = e; });
  // peer_a resets (SO_LINGER 0 then close).
  peer_a.set_option(asio::socket_base::linger(true, 0));
  peer_a.close();
  std::string got;
  error_code read_ec;
  asio::async_read(peer_b, asio::dynamic_buffer(got),
                   [&](const error_code& ec, std::size_t) { read_ec = ec; });
  io.run_for(10s);
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(*end, Tunnel::End::kError);
  EXPECT_TRUE(read_ec == asio::error::eof || read_ec == asio::error::connection_reset) << read_ec.message();
}

}  // namespace
}  // namespace workgate::http
