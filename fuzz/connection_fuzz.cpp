// Bytes from a client into a real http::Connection (the gateway's HTTP/1.1 request path: parser, framing
// rules, limits, body modes, 100-continue, pipelining, response writing), over a loopback TCP connection,
// with a fake handler that checks what reaches it and a client that checks the response stream.
//
// Input: one flags byte, then the bytes the client sends. "||SPLIT||" in them splits the bytes into
// separate writes (each written after the previous one was processed). After the last write the client
// half-closes and reads until the gateway closes the connection.
//
// Checked:
// - every request handed to the handler obeys the framing rules (Transfer-Encoding is exactly chunked and
//   the request is chunked; at most one Host, valid; at most one Authorization and Origin; a buffered
//   body has exactly its Content-Length; no trailer field became a header; HTTP/1.1 has a Host);
// - after a protocol error nothing else is handled;
// - the bytes the client receives are exactly the responses written (interim 100s aside), complete,
//   in order (X-Seq), and nothing follows a response that said "Connection: close".
#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
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

#include "http/connection.hpp"
#include "http/request_handler.hpp"
#include "http/request_parser.hpp"
#include "http/shard.hpp"

namespace asio = boost::asio;
namespace beast_http = boost::beast::http;
namespace http = workgate::http;
using boost::system::error_code;
using tcp = asio::ip::tcp;

namespace {

constexpr std::string_view kSplit = "||SPLIT||";
constexpr std::size_t kMaxInput = 64 * 1024;

enum Flags : std::uint8_t {
  kStreamBody = 1,      // BodyMode::kStream: the handler reads the body piece by piece
  kSourceResponse = 2,  // respond with a BodySource (two pieces)
  kUnknownLength = 4,   // ... of unknown length (chunked to HTTP/1.1 clients)
  kRejectContinue = 8,  // before_body answers 401 (the body is never read)
  kCloseResponse = 16,  // the response asks to close the connection
  kSmallLimits = 32,    // tighter header/body limits
};

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "connection fuzz: %s\n", what);
  std::abort();
}

std::size_t count_fields(const http::HeaderList& headers, std::string_view name) {
  std::size_t n = 0;
  headers.for_each([&](const http::HeaderList::Field& f) { n += http::iequals(f.name, name) ? 1 : 0; });
  return n;
}

class Source final : public http::BodySource {
 public:
  explicit Source(bool known_length) : known_length_(known_length) {}
  std::optional<std::uint64_t> length() const override {
    return known_length_ ? std::optional<std::uint64_t>(10) : std::nullopt;
  }
  void pull(Handler handler) override {
    ++pieces_;
    handler(error_code(), pieces_ == 1 ? "first" : "piece", pieces_ == 2);
  }
  void cancel() override {}

 private:
  bool known_length_;
  int pieces_ = 0;
};

struct State {
  std::uint8_t flags = 0;
  http::ConnectionLimits limits;
  std::size_t handled = 0;
  std::size_t errors = 0;
  std::vector<bool> head_responses;  // per written response: the request was HEAD (no body on the wire)
  std::size_t fields_at_head = 0;
  bool saw_body_mode = false;
};

State* state = nullptr;

class Handler final : public http::RequestHandler {
 public:
  std::unique_ptr<http::Exchange> create_exchange() override { return std::make_unique<http::Exchange>(); }
  const http::ConnectionLimits& limits() override { return state->limits; }

  http::BodyMode body_mode(http::Exchange& exchange) override {
    state->saw_body_mode = true;
    state->fields_at_head = exchange.request().headers.size();
    return (state->flags & kStreamBody) ? http::BodyMode::kStream : http::BodyMode::kBuffer;
  }

  http::BodyWait before_body(http::Exchange& exchange) override {
    if (!(state->flags & kRejectContinue)) return http::BodyWait::kProceed;
    check(exchange.request());
    respond(exchange, 401);
    return http::BodyWait::kProceed;
  }

  void handle(http::Exchange& exchange) override {
    const http::Request& request = exchange.request();
    check(request);
    if (!(state->flags & kStreamBody) || exchange.body_complete()) {
      check_body(request);
      state->saw_body_mode = false;
      respond(exchange, 200);
      return;
    }
    read_all(exchange, std::make_shared<std::size_t>(0));
  }

  http::Response protocol_error(http::ProtocolError error, http::Exchange&) override {
    ++state->errors;
    http::Response response;
    switch (error) {
      case http::ProtocolError::kBadRequest:
        response.status = 400;
        break;
      case http::ProtocolError::kRequestTimeout:
        response.status = 408;
        break;
      case http::ProtocolError::kPayloadTooLarge:
        response.status = 413;
        break;
      case http::ProtocolError::kHeadersTooLarge:
        response.status = 431;
        break;
      case http::ProtocolError::kVersionNotSupported:
        response.status = 505;
        break;
      case http::ProtocolError::kNotImplemented:
        response.status = 501;
        break;
    }
    response.content_type = "text/plain";
    response.set_body("protocol error");
    return response;
  }

  void on_complete(http::Exchange& exchange, int, std::size_t) override {
    state->head_responses.push_back(exchange.request().is_head());
  }

 private:
  static void check(const http::Request& request) {
    if (state->errors > 0) fail("a request was handled after a protocol error");
    if (request.path.empty() || (request.path[0] != '/' && request.path != "*")) fail("path not absolute");
    if (request.version >= 11 && !request.headers.contains("Host")) fail("HTTP/1.1 without Host");
    if (count_fields(request.headers, "Host") > 1) fail("two Host fields");
    if (auto host = request.headers.get("Host"); host && !http::valid_host_header(*host)) fail("bad Host");
    if (count_fields(request.headers, "Authorization") > 1) fail("two Authorization fields");
    if (count_fields(request.headers, "Origin") > 1) fail("two Origin fields");
    if (auto te = request.headers.get("Transfer-Encoding")) {
      if (count_fields(request.headers, "Transfer-Encoding") > 1) fail("two Transfer-Encoding fields");
      if (http::check_transfer_encoding(*te) != http::FramingError::kNone)
        fail("bad Transfer-Encoding passed");
      if (!request.chunked) fail("Transfer-Encoding but not chunked");
      if (request.version < 11 && request.keep_alive) fail("chunked HTTP/1.0 kept alive");
    } else if (request.chunked) {
      fail("chunked without Transfer-Encoding");
    }
  }

  static void check_body(const http::Request& request) {
    if (request.body.size() > state->limits.max_body_bytes) fail("body above max_body_bytes");
    if (!request.chunked && request.body.size() != request.content_length.value_or(0))
      fail("body size differs from Content-Length");
    if (state->saw_body_mode && request.headers.size() != state->fields_at_head)
      fail("a trailer became a header");
  }

  void read_all(http::Exchange& exchange, std::shared_ptr<std::size_t> total) {
    exchange.read_body([this, &exchange, total](const error_code& ec, std::string_view chunk, bool last) {
      *total += chunk.size();
      if (*total > state->limits.max_body_bytes) fail("streamed body above max_body_bytes");
      if (ec) {
        respond(exchange, 400);
        return;
      }
      if (last) {
        const http::Request& request = exchange.request();
        if (!request.chunked && *total != request.content_length.value_or(0))
          fail("streamed body size differs from Content-Length");
        if (request.headers.size() != state->fields_at_head) fail("a trailer became a header");
        state->saw_body_mode = false;
        respond(exchange, 200);
        return;
      }
      // The next read from a fresh stack, as the proxy does it (after its upstream write completes); the
      // connection is kept alive meanwhile, as the proxy's pending operations do.
      asio::post(*io_, [this, &exchange, total, keep = exchange.retain()] { read_all(exchange, total); });
    });
  }

  void respond(http::Exchange& exchange, int status) {
    ++state->handled;
    http::Response response;
    response.status = status;
    response.content_type = "text/plain";
    response.headers.add("X-Seq", std::to_string(state->handled));
    response.close = (state->flags & kCloseResponse) != 0;
    if (state->flags & kSourceResponse) {
      response.body_source = std::make_shared<Source>(!(state->flags & kUnknownLength));
    } else {
      response.set_body(exchange.request().path);
    }
    exchange.respond(std::move(response));
  }

 public:
  asio::io_context* io_ = nullptr;
};

struct Fixture {
  Fixture() : shard(0), acceptor(shard.io(), tcp::endpoint(asio::ip::address_v4::loopback(), 0)) {
    auto h = std::make_unique<Handler>();
    h->io_ = &shard.io();
    shard.set_handler(std::move(h));
  }
  // A connected pair: `client` and the gateway's end `server`. An earlier attempt interrupted by a signal
  // may have left its connection in the accept queue: the accepted socket must be the client's peer.
  bool connect(tcp::socket& client, tcp::socket& server) {
    error_code ec;
    for (int attempt = 0; attempt < 3; ++attempt) {
      if (client.is_open()) client.close(ec);
      client.connect(acceptor.local_endpoint(), ec);
      if (ec) continue;
      tcp::endpoint local = client.local_endpoint(ec);
      for (int stale = 0; !ec && stale < 16; ++stale) {
        if (server.is_open()) server.close(ec);
        acceptor.accept(server, ec);
        if (!ec && server.remote_endpoint(ec) == local) return true;
      }
    }
    // Out of ephemeral ports or descriptors: not the code under test, but say so.
    static int warned = 0;
    if (warned++ < 3)
      std::fprintf(stderr, "connection fuzz: loopback connection failed: %s\n", ec.message().c_str());
    return false;
  }

  http::Shard shard;
  tcp::acceptor acceptor;
};

// Parses the client's received bytes as responses; returns how many final responses there were.
std::size_t check_responses(std::string_view bytes, const std::vector<bool>& head_responses) {
  std::size_t count = 0;
  bool closed = false;
  while (!bytes.empty()) {
    if (closed) fail("bytes after a Connection: close response");
    beast_http::response_parser<beast_http::string_body> parser;
    parser.body_limit(boost::none);
    parser.eager(true);
    if (count < head_responses.size() && head_responses[count]) parser.skip(true);
    error_code ec;
    while (!bytes.empty() && !parser.is_done()) {
      std::size_t used = parser.put(asio::buffer(bytes.data(), bytes.size()), ec);
      bytes.remove_prefix(used);
      if (ec || used == 0) break;
    }
    if (ec == beast_http::error::need_more) ec = {};
    // A body delimited by the end of the connection (HTTP/1.0 client, unknown length).
    if (!ec && !parser.is_done() && bytes.empty() && parser.is_header_done() && parser.need_eof())
      parser.put_eof(ec);
    if (ec || !parser.is_done()) {
      std::fprintf(stderr, "response %zu: %s\n", count, ec ? ec.message().c_str() : "incomplete");
      fail("malformed or truncated response");
    }
    const auto& message = parser.get();
    if (message.result_int() == 100) continue;  // 100 Continue before a body
    ++count;
    if (count > head_responses.size()) fail("more responses than were written");
    // X-Seq numbers the handler's responses; a protocol error response (none) can only be the last one.
    auto seq = message.find("X-Seq");
    if (seq != message.end() && seq->value() != std::to_string(count)) fail("responses out of order");
    if (seq == message.end() && count != head_responses.size())
      fail("a protocol error response was not last");
    if (!parser.keep_alive()) closed = true;
  }
  return count;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0 || size > kMaxInput) return 0;
  static Fixture* fixture = new Fixture();
  State s;
  s.flags = data[0];
  s.limits.min_body_rate = 0;  // the body rate is not enforced here (sweeps only at the end, by hand)
  if (s.flags & kSmallLimits) {
    s.limits.max_header_bytes = 512;
    s.limits.max_headers = 8;
    s.limits.max_body_bytes = 64;
  } else {
    s.limits.max_header_bytes = 8 * 1024;
    s.limits.max_headers = 32;
    s.limits.max_body_bytes = 16 * 1024;
  }
  state = &s;

  std::vector<std::string> pieces;
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  while (true) {
    auto at = rest.find(kSplit);
    pieces.emplace_back(rest.substr(0, at));
    if (at == std::string_view::npos) break;
    rest.remove_prefix(at + kSplit.size());
  }

  asio::io_context& io = fixture->shard.io();
  io.restart();
  tcp::socket client(io);
  tcp::socket server(io);
  if (!fixture->connect(client, server)) {
    state = nullptr;
    return 0;
  }
  std::make_shared<http::Connection>(fixture->shard, std::move(server))->start();

  std::string received;
  std::array<char, 4096> buf{};
  std::function<void()> read_loop = [&] {
    client.async_read_some(asio::buffer(buf), [&](const error_code& read_ec, std::size_t n) {
      received.append(buf.data(), n);
      if (!read_ec) read_loop();
    });
  };
  read_loop();
  for (const std::string& piece : pieces) {
    bool written = false;
    error_code write_ec;
    asio::async_write(client, asio::buffer(piece), [&](const error_code& e, std::size_t) {
      written = true;
      write_ec = e;
    });
    // poll() and run_one() stop the io_context when they run out of work: restart before each call.
    while (!written) {
      io.restart();
      if (io.run_one() == 0) fail("the client's write never completed");
    }
    if (write_ec) break;  // the gateway closed the connection (after an error response)
    io.restart();
    io.poll();  // let the gateway process this piece before the next one arrives
  }
  error_code ignored;
  client.shutdown(tcp::socket::shutdown_send, ignored);
  io.restart();
  // Runs until the gateway has closed the connection and the client has read everything. An end of stream
  // that came in the same read as a whole request is seen only when the idle connection parks (two sweeps:
  // docs/proxy.md), as in production; the fixture runs no sweep timer, so it sweeps by hand meanwhile.
  for (int sweeps = 0;; ++sweeps) {
    io.run_for(std::chrono::milliseconds(5));
    if (io.stopped()) break;
    if (sweeps == 8) fail("the gateway did not close the connection after the client's half-close");
    fixture->shard.sweep();
  }
  std::size_t responses = check_responses(received, s.head_responses);
  if (responses != s.head_responses.size()) fail("fewer responses than were written");
  state = nullptr;
  return 0;
}
