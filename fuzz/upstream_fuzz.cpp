// Bytes from an upstream into the gateway's upstream client (http::UpstreamClient: its response parser,
// interim responses, body framing, buffering and streaming, connection reuse decisions), over a loopback
// TCP connection to a fake upstream in this process.
//
// Input: one flags byte, then the bytes the upstream answers with once it has read the request head.
// "||SPLIT||" in them splits the bytes into separate writes. After the last write the upstream half-closes
// and waits for the client to close.
//
// Checked: the callback runs exactly once; a success has a final status (not 1xx) and, for a GET, exactly
// Content-Length body bytes when a length was given (buffered or streamed to the end) and at most the
// buffer limit when buffered; a HEAD, 204 or 304 response has no body; a stream ends exactly once.
#include <spdlog/spdlog.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/upstream.hpp"

namespace asio = boost::asio;
namespace http = workgate::http;
using boost::system::error_code;
using tcp = asio::ip::tcp;

namespace {

constexpr std::string_view kSplit = "||SPLIT||";
constexpr std::size_t kMaxInput = 256 * 1024;
constexpr std::size_t kBufferLimit = 4096;

enum Flags : std::uint8_t {
  kHead = 1,      // a HEAD request (the response has no body whatever it says)
  kBuffered = 2,  // read the whole body first (buffer_limit), as hooks and small bodies do
};

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "upstream fuzz: %s\n", what);
  std::abort();
}

struct Fixture {
  Fixture() : acceptor(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0)) {
    spdlog::set_level(spdlog::level::off);  // malformed responses are logged: noise at fuzzing rates
    std::string error;
    target = http::make_upstream_target(false, "127.0.0.1", acceptor.local_endpoint().port(), {}, error);
    if (!target) fail("no target");
  }
  asio::io_context io;
  tcp::acceptor acceptor;
  std::shared_ptr<http::UpstreamTarget> target;
};

// The fake upstream's side of one exchange.
struct Upstream : std::enable_shared_from_this<Upstream> {
  Upstream(asio::io_context& io, std::vector<std::string> p) : socket(io), pieces(std::move(p)) {}

  void start() {
    auto self = shared_from_this();
    asio::async_read_until(socket, asio::dynamic_buffer(request), "\r\n\r\n",
                           [self](const error_code& ec, std::size_t) {
                             if (ec) return;
                             self->write_next();
                           });
  }
  void write_next() {
    if (next == pieces.size()) {
      // Half-close first, so that this side (not the client's) keeps the TIME-WAIT state, then wait
      // for the client to close.
      error_code ignored;
      socket.shutdown(tcp::socket::shutdown_send, ignored);
      drain();
      return;
    }
    auto self = shared_from_this();
    const std::string& piece = pieces[next++];
    asio::async_write(socket, asio::buffer(piece), [self](const error_code& ec, std::size_t) {
      if (ec) return;  // the client gave up on the response
      // Let the client process this piece before the next arrives.
      asio::post(self->socket.get_executor(), [self] { self->write_next(); });
    });
  }
  void drain() {
    auto self = shared_from_this();
    socket.async_read_some(asio::buffer(scratch), [self](const error_code& ec, std::size_t) {
      if (!ec) self->drain();
    });
  }

  tcp::socket socket;
  std::vector<std::string> pieces;
  std::size_t next = 0;
  std::string request;
  std::array<char, 4096> scratch{};
};

struct Outcome {
  int callbacks = 0;
  bool stream_ended = false;
  std::uint64_t streamed = 0;
  std::optional<std::uint64_t> length;
  bool head = false;
  bool success = false;
};

void pull_all(asio::io_context& io, const std::shared_ptr<http::BodySource>& source,
              const std::shared_ptr<Outcome>& outcome) {
  source->pull([&io, source, outcome](const error_code& ec, std::string_view data, bool last) {
    if (outcome->stream_ended) fail("stream delivered after its end");
    outcome->streamed += data.size();
    if (ec || last) {
      outcome->stream_ended = true;
      if (!ec && outcome->length && outcome->streamed != *outcome->length)
        fail("streamed body size differs from Content-Length");
      return;
    }
    // The connection pulls again after writing the piece: from a fresh stack.
    asio::post(io, [&io, source, outcome] { pull_all(io, source, outcome); });
  });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0 || size > kMaxInput) return 0;
  static Fixture* fixture = new Fixture();
  const std::uint8_t flags = data[0];
  std::vector<std::string> pieces;
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  while (true) {
    auto at = rest.find(kSplit);
    pieces.emplace_back(rest.substr(0, at));
    if (at == std::string_view::npos) break;
    rest.remove_prefix(at + kSplit.size());
  }

  asio::io_context& io = fixture->io;
  io.restart();
  auto upstream = std::make_shared<Upstream>(io, std::move(pieces));
  fixture->acceptor.async_accept(upstream->socket, [upstream](const error_code& ec) {
    if (!ec) upstream->start();
  });

  auto outcome = std::make_shared<Outcome>();
  outcome->head = (flags & kHead) != 0;
  {
    http::UpstreamClient client(io);
    http::UpstreamRequest request;
    request.head = std::string(outcome->head ? "HEAD" : "GET") +
                   " /fuzz HTTP/1.1\r\nHost: " + fixture->target->authority + "\r\n\r\n";
    request.idempotent = true;
    request.head_request = outcome->head;
    const std::size_t limit = (flags & kBuffered) ? kBufferLimit : 0;
    client.send(
        fixture->target, std::move(request),
        [&io, outcome, limit](http::UpstreamError error, http::UpstreamResponse&& response) {
          if (++outcome->callbacks > 1) fail("callback ran twice");
          if (error != http::UpstreamError::kNone) return;
          outcome->success = true;
          if (response.status >= 100 && response.status < 200) fail("an interim response was delivered");
          outcome->length = response.content_length;
          if (outcome->head || response.status == 204 || response.status == 304) {
            if (!response.body.empty()) fail("a response without a body has one");
            // Content-Length there describes the body a GET would have had, not this message's.
            outcome->length.reset();
          }
          if (limit > 0 && !response.complete) fail("a buffered response is not complete");
          if (response.complete) {
            if (response.stream) fail("a complete response with a stream");
            if (limit > 0 && response.body.size() > limit) fail("buffered body above the limit");
            if (outcome->length && response.body.size() != *outcome->length)
              fail("body size differs from Content-Length");
            outcome->stream_ended = true;
            return;
          }
          if (!response.stream) fail("an incomplete response without a stream");
          outcome->streamed = response.body.size();
          // Taken over as the proxy does (the call keeps `response`, and the stream refers to the call).
          std::shared_ptr<http::BodySource> stream = std::move(response.stream);
          pull_all(io, stream, outcome);
        },
        limit);
    // Ends when the exchange is over and both sides closed their connection. The shard's sweep is what
    // arms the idle watch of a pooled connection (UpstreamPool::expire_idle): tick as it would.
    while (!io.stopped()) {
      io.run_for(std::chrono::milliseconds(1));
      client.tick();
    }
    if (outcome->callbacks != 1) fail("the callback did not run");
    if (outcome->success && !outcome->stream_ended) fail("the body stream stalled");
  }
  io.restart();
  io.poll();
  return 0;
}
