// Connection fed bytes over a loopback socket on the test's own event loop, with a fake handler and
// injected time: framing, pipelining, body limits, body pace and cancellation without sleeping.
#include "http/connection.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "http/shard.hpp"

namespace workgate::http {
namespace {

namespace asio = boost::asio;
using boost::system::error_code;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

struct CountingWork final : Cancellable {
  void cancel() override { ++cancelled; }
  int cancelled = 0;
};

// Answers "PATH BODY" synchronously, or holds the request (path "/hold") until the test responds.
// Counts the responses the connection hands back once written.
struct RecyclingExchange final : Exchange {
  void recycle(Response&& written) override {
    ++recycled;
    last_status = written.status;
  }
  int recycled = 0;
  int last_status = 0;
};

class FakeHandler final : public RequestHandler {
 public:
  std::unique_ptr<Exchange> create_exchange() override {
    auto exchange = std::make_unique<RecyclingExchange>();
    exchanges.push_back(exchange.get());
    return exchange;
  }
  void return_exchange(std::unique_ptr<Exchange> exchange) override {
    ++returned;
    std::erase(exchanges, static_cast<RecyclingExchange*>(exchange.get()));
  }
  const ConnectionLimits& limits() override { return limits_; }
  BodyMode body_mode(Exchange& exchange) override {
    return exchange.request().path == "/stream" ? BodyMode::kStream : BodyMode::kBuffer;
  }
  // "/wait": the head needs asynchronous work; the test continues or answers it through `waiting`.
  BodyWait before_body(Exchange& exchange) override {
    if (exchange.request().path != "/wait") return BodyWait::kProceed;
    waiting = exchange.retain();
    exchange.set_pending(work);
    return BodyWait::kWait;
  }
  void handle(Exchange& exchange) override {
    const Request& request = exchange.request();
    handled.push_back(request.path);
    if (request.path == "/hold") {
      held = exchange.retain();
      exchange.set_pending(work);
      return;
    }
    if (request.path == "/stream") {
      streamed = exchange.retain();
      return;
    }
    Response response;
    response.set_body(request.path + " " + request.body);
    exchange.respond(std::move(response));
  }
  Response protocol_error(ProtocolError error, Exchange&) override {
    errors.push_back(error);
    Response response;
    response.status = error == ProtocolError::kNotImplemented    ? 501
                      : error == ProtocolError::kRequestTimeout  ? 408
                      : error == ProtocolError::kPayloadTooLarge ? 413
                                                                 : 400;
    return response;
  }

  ConnectionLimits limits_;
  std::vector<std::string> handled;
  std::vector<ProtocolError> errors;
  std::shared_ptr<Exchange> held;
  std::shared_ptr<Exchange> streamed;
  std::shared_ptr<Exchange> waiting;
  std::vector<RecyclingExchange*> exchanges;
  int returned = 0;  // exchanges given back by parked connections
  std::shared_ptr<CountingWork> work = std::make_shared<CountingWork>();
};

class ConnectionTest : public ::testing::Test {
 protected:
  ConnectionTest() : shard_(0), client_(shard_.io()) {
    auto handler = std::make_unique<FakeHandler>();
    handler_ = handler.get();
    handler_->limits_.max_body_bytes = 1000;
    handler_->limits_.body_timeout = 1000ms;
    handler_->limits_.min_body_rate = 100;
    shard_.set_handler(std::move(handler));
    shard_.set_clock([this] { return now_; });
    tcp::acceptor acceptor(shard_.io(), tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    client_.connect(acceptor.local_endpoint());
    tcp::socket server(shard_.io());
    acceptor.accept(server);
    connection_ = std::make_shared<Connection>(shard_, std::move(server));
    connection_->start();
    connection_.reset();  // the connection owns itself through its pending operations
  }

  void send(std::string_view bytes) { asio::write(client_, asio::buffer(bytes.data(), bytes.size())); }

  // Everything the server sent until it closed or went quiet for a moment (real time bounded).
  std::string receive(std::chrono::milliseconds quiet = 50ms) {
    std::string out;
    auto limit = std::chrono::steady_clock::now() + 3s;
    client_.non_blocking(true);
    auto last = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() < limit) {
      shard_.io().run_one_for(5ms);
      char buf[4096];
      error_code ec;
      std::size_t n = client_.read_some(asio::buffer(buf), ec);
      if (n > 0) {
        out.append(buf, n);
        last = std::chrono::steady_clock::now();
      } else if (ec && ec != asio::error::would_block) {
        closed_ = true;
        break;
      } else if (std::chrono::steady_clock::now() - last > quiet) {
        break;
      }
    }
    return out;
  }

  void advance(std::chrono::milliseconds by) {
    now_ += by;
    shard_.sweep();
  }

  // One request answered, then idle through two sweeps: the connection parks and hands its exchange back.
  void serve_once_and_park() {
    send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(count(receive(), "HTTP/1.1 200"), 1);
    advance(100ms);
    advance(100ms);
    receive(20ms);  // the cancelled read completes: the connection parks
    ASSERT_EQ(handler_->returned, 1);
  }

  static int count(const std::string& text, std::string_view what) {
    int n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
      ++n;
    return n;
  }

  Shard shard_;
  // The loop may have nothing pending between steps of a test: keep it from stopping.
  asio::executor_work_guard<asio::io_context::executor_type> work_guard_ = asio::make_work_guard(shard_.io());
  FakeHandler* handler_ = nullptr;
  tcp::socket client_;
  std::shared_ptr<Connection> connection_;
  std::chrono::steady_clock::time_point now_ = std::chrono::steady_clock::now();
  bool closed_ = false;
};

TEST_F(ConnectionTest, PipelinedRequestsAreAnsweredInOrder) {
  send(
      "GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nxyzGET /c "
      "HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string out = receive();
  EXPECT_EQ(count(out, "HTTP/1.1 200"), 3) << out;
  EXPECT_LT(out.find("/a "), out.find("/b xyz"));
  EXPECT_LT(out.find("/b xyz"), out.find("/c "));
  EXPECT_EQ(handler_->handled, (std::vector<std::string>{"/a", "/b", "/c"}));
}

// Idle through two sweeps, the connection parks: its exchange goes back to the handler and its
// per-request state (read buffer, parser, response) to the spares; readable bytes bring both back, and the
// connection serves on as before: a head larger than the idle read size, pipelined requests, parking again.
TEST_F(ConnectionTest, AParkedConnectionGivesItsStateBackAndServesAgain) {
  send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(count(receive(), "HTTP/1.1 200"), 1);
  for (int round = 1; round <= 2; ++round) {
    advance(100ms);
    advance(100ms);
    receive(20ms);  // the cancelled read completes: the connection parks
    EXPECT_EQ(handler_->returned, round);
    EXPECT_TRUE(handler_->exchanges.empty());
    std::string big_field(3000, 'v');
    send("GET /b HTTP/1.1\r\nHost: x\r\nX-Big: " + big_field + "\r\n\r\nGET /c HTTP/1.1\r\nHost: x\r\n\r\n");
    std::string out = receive();
    EXPECT_EQ(count(out, "HTTP/1.1 200"), 2) << out;
    EXPECT_LT(out.find("/b "), out.find("/c "));
    EXPECT_EQ(handler_->exchanges.size(), 1u);  // one exchange taken again
  }
  EXPECT_FALSE(closed_);
}

// What wakes a parked connection is read like any request: bytes that are not HTTP get their 400 and the
// connection closes; a head that stalls after the wake times out (408) on the header deadline.
TEST_F(ConnectionTest, AParkedConnectionWokenByGarbageAnswers400AndCloses) {
  serve_once_and_park();
  send(std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http\r\n\r\n", 24));
  std::string out = receive();
  EXPECT_EQ(count(out, "HTTP/1.1 400"), 1) << out;
  EXPECT_EQ(handler_->errors, (std::vector<ProtocolError>{ProtocolError::kBadRequest}));
  receive(200ms);
  EXPECT_TRUE(closed_);
}

TEST_F(ConnectionTest, AParkedConnectionWokenByAStalledHeadTimesOut) {
  serve_once_and_park();
  send("GET /b HTTP/1.1\r\nHost:");
  receive(20ms);
  advance(handler_->limits_.header_timeout + 100ms);
  std::string out = receive();
  EXPECT_EQ(count(out, "HTTP/1.1 408"), 1) << out;
  EXPECT_EQ(handler_->errors, (std::vector<ProtocolError>{ProtocolError::kRequestTimeout}));
}

// A parked connection whose client leaves closes without its state (nothing to cancel, nothing touched).
TEST_F(ConnectionTest, AParkedConnectionClosesCleanlyWhenTheClientLeaves) {
  serve_once_and_park();
  client_.close();
  for (int i = 0; i < 20; ++i)
    shard_.io().run_one_for(5ms);
  EXPECT_EQ(shard_.connection_count(), 0u);
}

TEST_F(ConnectionTest, WrittenResponsesAreHandedBackForReuse) {
  send("GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(count(receive(), "HTTP/1.1 200"), 2);
  ASSERT_EQ(handler_->exchanges.size(), 1u);
  EXPECT_EQ(handler_->exchanges[0]->recycled, 2);
  EXPECT_EQ(handler_->exchanges[0]->last_status, 200);
}

TEST_F(ConnectionTest, UnknownTransferCodingIs501AndCloses) {
  send(
      "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: "
      "x\r\n\r\n");
  std::string out = receive();
  EXPECT_EQ(out.rfind("HTTP/1.1 501", 0), 0u) << out;
  EXPECT_NE(out.find("Connection: close"), std::string::npos);
  EXPECT_EQ(count(out, "HTTP/1.1 "), 1) << "the body never runs as a request";
  EXPECT_TRUE(handler_->handled.empty());
}

TEST_F(ConnectionTest, TrailersNeverReachTheHandler) {
  send(
      "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nAuthorization: "
      "Bearer x\r\n\r\n");
  std::string out = receive();
  EXPECT_NE(out.find("/a ok"), std::string::npos) << out;
}

TEST_F(ConnectionTest, DeclaredLengthOverTheLimitIs413BeforeTheBody) {
  send("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n");
  std::string out = receive();
  EXPECT_EQ(out.rfind("HTTP/1.1 413", 0), 0u) << out;
  EXPECT_TRUE(handler_->handled.empty());
}

TEST_F(ConnectionTest, StalledBodyTimesOutOnInjectedTime) {
  send("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc");
  EXPECT_EQ(receive(), "");
  advance(999ms);
  EXPECT_EQ(receive(), "") << "not before body_timeout";
  advance(2ms);
  std::string out = receive();
  EXPECT_EQ(out.rfind("HTTP/1.1 408", 0), 0u) << out;
}

TEST_F(ConnectionTest, DripFedBodyRunsOutOfCredit) {
  // min_body_rate 100 B/s: each byte earns 10 ms; each 400 ms wait costs 400 ms of the 1 s credit.
  send("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n");
  receive(10ms);
  std::string out;
  for (int i = 0; i < 10 && out.empty(); ++i) {
    now_ += 400ms;
    send("x");
    receive(10ms);
    shard_.sweep();
    out = receive(10ms);
  }
  EXPECT_EQ(out.rfind("HTTP/1.1 408", 0), 0u) << out;
  EXPECT_TRUE(handler_->handled.empty());
}

TEST_F(ConnectionTest, ASteadyBodyAboveTheRateIsAccepted) {
  send("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 200\r\n\r\n");
  std::string out = receive(10ms);
  for (int i = 0; i < 4; ++i) {
    now_ += 400ms;  // 50 bytes per 0.4 s = 125 B/s, above the 100 B/s minimum
    send(std::string(50, 'y'));
    out += receive(10ms);
    shard_.sweep();
  }
  out += receive();
  EXPECT_EQ(out.rfind("HTTP/1.1 200", 0), 0u) << out;
}

// Expect: 100-continue with asynchronous head work: no "100 Continue" (so no upload) until the handler asks.
TEST_F(ConnectionTest, ContinueWaitsForTheHandlerThenTheBodyIsRead) {
  send("POST /wait HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
  EXPECT_EQ(receive(), "");
  ASSERT_TRUE(handler_->waiting);
  advance(5000ms);  // far past body_timeout: while the handler decides, the client is not timed
  EXPECT_EQ(receive(), "");
  handler_->waiting->continue_body();
  EXPECT_EQ(receive(), "HTTP/1.1 100 Continue\r\n\r\n");
  send("hello");
  std::string out = receive();
  EXPECT_NE(out.find("HTTP/1.1 200"), std::string::npos) << out;
  EXPECT_NE(out.find("/wait hello"), std::string::npos) << out;
  EXPECT_EQ(handler_->handled, (std::vector<std::string>{"/wait"}));
}

TEST_F(ConnectionTest, AnAnswerWhileTheBodyWaitsIsSentWithoutIt) {
  send("POST /wait HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
  EXPECT_EQ(receive(), "");
  ASSERT_TRUE(handler_->waiting);
  Response response;
  response.status = 429;
  handler_->waiting->respond(std::move(response));
  std::string out = receive();
  EXPECT_EQ(out.rfind("HTTP/1.1 429", 0), 0u) << out;
  EXPECT_EQ(count(out, "100 Continue"), 0) << out;
  EXPECT_NE(out.find("Connection: close"), std::string::npos) << "the unread body ends the connection";
  EXPECT_TRUE(handler_->handled.empty());
}

TEST_F(ConnectionTest, ClientLeavingWhileTheBodyWaitsCancelsTheWork) {
  send("POST /wait HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
  EXPECT_EQ(receive(), "");
  client_.shutdown(tcp::socket::shutdown_send);
  advance(100ms);  // the first sweep that sees it waiting
  advance(100ms);  // waited through a whole interval: the client is watched
  receive();
  EXPECT_EQ(handler_->work->cancelled, 1);
}

TEST_F(ConnectionTest, ClientLeavingCancelsThePendingWork) {
  send("GET /hold HTTP/1.1\r\nHost: x\r\n\r\n");
  receive(10ms);
  ASSERT_EQ(handler_->handled, std::vector<std::string>{"/hold"});
  EXPECT_EQ(handler_->work->cancelled, 0);
  shard_.sweep();  // the first sweep that sees the request waiting
  shard_.sweep();  // it waited through a whole interval: its client is watched
  client_.close();
  shard_.io().run_for(50ms);
  EXPECT_EQ(handler_->work->cancelled, 1);
}

// The watch is an epoll_ctl, and under load nearly every connection has a request in flight at any sweep:
// a request is watched only once two sweeps in a row saw it waiting, and a client that left before is
// noticed then (arming the watch sees the close).
TEST_F(ConnectionTest, ARequestIsWatchedOnlyOnceItWaitedThroughAWholeSweepInterval) {
  send("GET /hold HTTP/1.1\r\nHost: x\r\n\r\n");
  receive(10ms);
  ASSERT_EQ(handler_->handled, std::vector<std::string>{"/hold"});
  shard_.sweep();  // the first sweep that sees it: no watch
  client_.close();
  shard_.io().run_for(50ms);
  EXPECT_EQ(handler_->work->cancelled, 0) << "not watched by the first sweep that saw it";
  shard_.sweep();
  shard_.io().run_for(50ms);
  EXPECT_EQ(handler_->work->cancelled, 1) << "watched by the second, which sees the close";
}

TEST_F(ConnectionTest, PipelinedBytesAreNotAClientLeaving) {
  send("GET /hold HTTP/1.1\r\nHost: x\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n");
  receive(20ms);
  shard_.sweep();
  receive(20ms);
  EXPECT_EQ(handler_->work->cancelled, 0);
  Response response;
  response.set_body("held");
  handler_->held->respond(std::move(response));
  handler_->held.reset();
  std::string out = receive();
  EXPECT_NE(out.find("held"), std::string::npos) << out;
  EXPECT_NE(out.find("/next "), std::string::npos) << out;
}

TEST_F(ConnectionTest, StreamedBodyPastTheLimitFailsTheReader) {
  send("POST /stream HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
  receive(10ms);
  ASSERT_TRUE(handler_->streamed);
  error_code failure;
  std::size_t received = 0;
  bool finished = false;
  std::function<void()> pull = [&] {
    handler_->streamed->read_body([&](const error_code& ec, std::string_view piece, bool last) {
      received += piece.size();
      if (ec || last) {
        failure = ec;
        finished = true;
        return;
      }
      pull();
    });
  };
  pull();
  std::string chunk = "200\r\n" + std::string(0x200, 'q') + "\r\n";
  for (int i = 0; i < 3 && !finished; ++i) {
    send(chunk);
    for (int j = 0; j < 20 && !finished; ++j)
      shard_.io().run_one_for(5ms);
  }
  ASSERT_TRUE(finished) << "received " << received;
  EXPECT_EQ(failure, boost::beast::http::error::body_limit);
  EXPECT_LE(received, 1000u);
}

}  // namespace
}  // namespace workgate::http

namespace workgate::http {
namespace {

// Records whether the handler still existed when its pending work was cancelled.
struct HandlerAliveWork final : Cancellable {
  explicit HandlerAliveWork(const bool* alive) : handler_alive(alive) {}
  void cancel() override { cancelled_with_handler_alive = *handler_alive; }
  const bool* handler_alive;
  bool cancelled_with_handler_alive = false;
};

class HoldingHandler final : public RequestHandler {
 public:
  explicit HoldingHandler(bool* alive) : alive_(alive) { *alive_ = true; }
  ~HoldingHandler() override { *alive_ = false; }
  std::unique_ptr<Exchange> create_exchange() override { return std::make_unique<Exchange>(); }
  const ConnectionLimits& limits() override { return limits_; }
  void handle(Exchange& exchange) override {
    held = exchange.retain();  // as a pending stage does
    exchange.set_pending(work);
  }
  Response protocol_error(ProtocolError, Exchange&) override { return Response{}; }

  ConnectionLimits limits_;
  bool* alive_;
  std::shared_ptr<Exchange> held;
  std::shared_ptr<HandlerAliveWork> work = std::make_shared<HandlerAliveWork>(alive_);
};

// A shard destroyed with a request in flight (a forced stop, a test) closes its connections first, so that
// their pending work is cancelled while the handler (and its pools) still exists.
TEST(ShardTeardown, PendingWorkIsCancelledBeforeTheHandlerGoes) {
  bool handler_alive = false;
  auto shard = std::make_unique<Shard>(0);
  auto handler = std::make_unique<HoldingHandler>(&handler_alive);
  std::shared_ptr<HandlerAliveWork> work = handler->work;
  shard->set_handler(std::move(handler));
  tcp::acceptor acceptor(shard->io(), tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  tcp::socket client(shard->io());
  client.connect(acceptor.local_endpoint());
  tcp::socket server(shard->io());
  acceptor.accept(server);
  std::make_shared<Connection>(*shard, std::move(server))->start();
  std::string_view request = "GET /held HTTP/1.1\r\nHost: a\r\n\r\n";
  asio::write(client, asio::buffer(request.data(), request.size()));
  for (int i = 0; i < 20; ++i)
    shard->io().poll();
  client.close();
  acceptor.close();
  shard.reset();
  EXPECT_TRUE(work->cancelled_with_handler_alive);
  EXPECT_FALSE(handler_alive);
}

}  // namespace
}  // namespace workgate::http
