#include "http/draining_read.hpp"

#include <gtest/gtest.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <optional>
#include <string>

namespace workgate::http {
namespace {
namespace asio = boost::asio;
using boost::system::error_code;
using tcp = asio::ip::tcp;

// A connected pair of loopback sockets on one io_context: `ours` reads with DrainingReads, `peer` writes
// synchronously.
class DrainingReadTest : public ::testing::Test {
 protected:
  DrainingReadTest() : ours(io), peer(io), reads(io) {
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    peer.connect(acceptor.local_endpoint());
    acceptor.accept(ours);
  }

  struct Result {
    error_code ec;
    std::string data;
  };

  // Starts a read of up to `size` bytes; the result appears once the io_context has run its handler.
  void start_read(std::size_t size, ReadStart start = ReadStart::kNextMessage) {
    result.reset();
    buffer.assign(size, '\0');
    reads.read_some(ours, asio::buffer(buffer), drained, start, [this](const error_code& ec, std::size_t n) {
      result = Result{ec, buffer.substr(0, n)};
    });
  }

  // Runs the loop until the read completed (or a second passed: then the result stays empty).
  void run_until_read() {
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    while (!result && std::chrono::steady_clock::now() < until) {
      io.restart();
      io.run_for(std::chrono::milliseconds(10));
    }
  }

  void send(const std::string& bytes) { asio::write(peer, asio::buffer(bytes)); }

  // Runs the loop until the read completed with `expected`.
  void expect_read(const std::string& expected) {
    run_until_read();
    ASSERT_TRUE(result) << "the read did not complete";
    EXPECT_FALSE(result->ec) << result->ec.message();
    EXPECT_EQ(result->data, expected);
  }
  // The peer sends `bytes`, read whole by one read of 64 bytes: a short read (the socket is drained).
  void read_short(const std::string& bytes, ReadStart start = ReadStart::kNextMessage) {
    send(bytes);
    start_read(64, start);
    expect_read(bytes);
    EXPECT_TRUE(drained);
  }
  // A read started before has not completed after a while of the loop running.
  void expect_still_waiting() {
    io.restart();
    io.run_for(std::chrono::milliseconds(20));
    EXPECT_FALSE(result) << "nothing was sent";
  }

  asio::io_context io;
  tcp::socket ours;
  tcp::socket peer;
  DrainingReads reads;
  bool drained = false;
  std::string buffer;
  std::optional<Result> result;
};

TEST_F(DrainingReadTest, ReadsWhatHasArrived) {
  read_short("hello");
}

TEST_F(DrainingReadTest, AReadAfterAShortReadCompletesWhenDataArrives) {
  read_short("first");
  start_read(64);
  expect_still_waiting();
  send("second");
  expect_read("second");
}

// The data arrives after the short read and its edge is seen by the reactor while no read is waiting:
// the next read must not wait for another edge.
TEST_F(DrainingReadTest, DataThatArrivedBeforeTheNextReadIsRead) {
  read_short("first");
  send("second");
  for (int i = 0; i < 5; ++i) {  // the loop's epoll_wait sees the edge; nothing is queued for it
    io.restart();
    io.run_for(std::chrono::milliseconds(5));
  }
  start_read(64);
  run_until_read();
  ASSERT_TRUE(result) << "the read waited for an edge that had already passed";
  EXPECT_EQ(result->data, "second");
}

// The data arrives between the short read and the next one without the loop running in between (the
// peer writes from the read's own handler): the edge comes later, and the queued read takes it.
TEST_F(DrainingReadTest, DataSentFromTheHandlerOfAShortReadIsRead) {
  send("first");
  buffer.assign(64, '\0');
  std::string second(64, '\0');
  std::optional<std::string> got;
  reads.read_some(
      ours, asio::buffer(buffer), drained, ReadStart::kNextMessage, [&](const error_code& ec, std::size_t n) {
        ASSERT_FALSE(ec);
        ASSERT_EQ(buffer.substr(0, n), "first");
        send("second");
        reads.read_some(
            ours, asio::buffer(second), drained, ReadStart::kNextMessage,
            [&](const error_code& ec2, std::size_t n2) { got = ec2 ? "error" : second.substr(0, n2); });
      });
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  while (!got && std::chrono::steady_clock::now() < until) {
    io.restart();
    io.run_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, "second");
}

TEST_F(DrainingReadTest, AFullReadIsFollowedByAnotherAtOnce) {
  send(std::string(32, 'x'));
  start_read(16);
  run_until_read();
  ASSERT_EQ(result->data, std::string(16, 'x'));
  EXPECT_FALSE(drained);
  start_read(64);
  run_until_read();
  ASSERT_TRUE(result);
  EXPECT_EQ(result->data, std::string(16, 'x'));
  EXPECT_TRUE(drained);
}

// The end of stream came with the data: a short read does not show it, and its edge has passed. A read
// for more of the message sees it at once.
TEST_F(DrainingReadTest, AnEndOfStreamThatCameWithTheDataIsSeenByTheNextReadForMore) {
  send("partial message");
  peer.shutdown(tcp::socket::shutdown_send);
  for (int i = 0; i < 3; ++i) {  // the edge of both is seen while no read waits
    io.restart();
    io.run_for(std::chrono::milliseconds(5));
  }
  start_read(64, ReadStart::kMore);
  run_until_read();
  ASSERT_EQ(result->data, "partial message");
  EXPECT_TRUE(drained);
  start_read(64, ReadStart::kMore);
  run_until_read();
  ASSERT_TRUE(result) << "the end of stream was not reported";
  EXPECT_EQ(result->ec, asio::error::eof);
}

// A hostile or crashing peer: data, then a reset, both there before the reads. The short read returns the
// data; the read for more reports the reset at once.
TEST_F(DrainingReadTest, AResetThatCameWithTheDataIsSeenByTheNextReadForMore) {
  send("partial message");
  peer.set_option(asio::socket_base::linger(true, 0));
  peer.close();  // linger 0: a reset instead of a FIN
  for (int i = 0; i < 3; ++i) {
    io.restart();
    io.run_for(std::chrono::milliseconds(5));
  }
  start_read(64, ReadStart::kMore);
  run_until_read();
  ASSERT_TRUE(result);
  if (!result->ec) {  // the data came first (a reset may also discard it: then the error is the first)
    EXPECT_EQ(result->data, "partial message");
    start_read(64, ReadStart::kMore);
    run_until_read();
    ASSERT_TRUE(result) << "the reset was not reported";
  }
  EXPECT_TRUE(result->ec);
}

TEST_F(DrainingReadTest, AReadForMoreAfterAShortReadWaitsForData) {
  read_short("head", ReadStart::kMore);
  start_read(64, ReadStart::kMore);
  expect_still_waiting();
  send("body");
  expect_read("body");
}

TEST_F(DrainingReadTest, ThePeerClosingIsEndOfFile) {
  peer.close();
  start_read(64);
  run_until_read();
  ASSERT_TRUE(result);
  EXPECT_EQ(result->ec, asio::error::eof);
}

TEST_F(DrainingReadTest, AQueuedReadIsCancelledAndClosedAsAborted) {
  read_short("first");
  start_read(64);  // queued: the socket is drained
  ours.cancel();
  run_until_read();
  ASSERT_TRUE(result);
  EXPECT_EQ(result->ec, asio::error::operation_aborted);

  start_read(64);
  ours.close();
  run_until_read();
  ASSERT_TRUE(result);
  EXPECT_EQ(result->ec, asio::error::operation_aborted);
}

TEST_F(DrainingReadTest, AReadOnAClosedSocketFails) {
  ours.close();
  start_read(64);
  run_until_read();
  ASSERT_TRUE(result);
  EXPECT_TRUE(result->ec);
}

TEST_F(DrainingReadTest, AnEmptyBufferCompletesAtOnceWithNothing) {
  start_read(0);
  run_until_read();
  ASSERT_TRUE(result);
  EXPECT_FALSE(result->ec);
  EXPECT_EQ(result->data, "");
}

}  // namespace
}  // namespace workgate::http
