// Bytes from a client into an http::Http2Session (nghttp2 driven by our session: HPACK, frames, stream
// states, flow control, and our translation, limits and budgets), in memory, with a fake handler that
// checks what reaches it and answers in the ways the pipeline does (at once, later, streamed).
//
// Input: one flags byte, then the bytes the client sends (the connection preface is prepended when the
// flag says so). "||SPLIT||" splits them into separate reads.
//
// Checked:
// - every request handed to the handler is what an HTTP/1.1 request would be: a method, a path starting
//   with '/', exactly one Host, no pseudo-header among the fields, version 20;
// - a buffered body is never larger than max_body_bytes;
// - the session never asks to write after it said it finished, and closing it cancels every pending work.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "http/http2_session.hpp"
#include "http/request_handler.hpp"
#include "http/shard.hpp"

namespace http = workgate::http;
using boost::system::error_code;

namespace {

constexpr std::string_view kSplit = "||SPLIT||";
constexpr std::size_t kMaxInput = 64 * 1024;

enum Flags : std::uint8_t {
  kPrependPreface = 1,  // the input starts after the connection preface
  kStreamBody = 2,      // BodyMode::kStream: the handler reads the body piece by piece
  kSourceResponse = 4,  // respond with a BodySource of two pieces
  kHold = 8,            // hold every request until the input ends (then answer it)
  kSmallLimits = 16,    // tight header, body and budget limits
};

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "http2 fuzz: %s\n", what);
  std::abort();
}

struct CountingWork final : http::Cancellable {
  void cancel() override { ++cancelled; }
  int cancelled = 0;
};

class Source final : public http::BodySource {
 public:
  std::optional<std::uint64_t> length() const override { return std::nullopt; }
  void pull(Handler handler) override {
    ++pieces_;
    handler(error_code(), pieces_ == 1 ? "first" : "piece", pieces_ == 2);
  }
  void cancel() override {}

 private:
  int pieces_ = 0;
};

class Handler final : public http::RequestHandler {
 public:
  explicit Handler(std::uint8_t flags) : flags_(flags) {
    if (flags & kSmallLimits) {
      limits_.max_header_bytes = 1024;
      limits_.max_headers = 8;
      limits_.max_body_bytes = 2048;
      limits_.http2.max_concurrent_streams = 4;
      limits_.http2.reset_burst = 4;
      limits_.http2.control_frame_burst = 8;
      limits_.http2.max_continuation_frames = 2;
    }
  }
  std::unique_ptr<http::Exchange> create_exchange() override { return std::make_unique<http::Exchange>(); }
  const http::ConnectionLimits& limits() override { return limits_; }
  http::BodyMode body_mode(http::Exchange&) override {
    return (flags_ & kStreamBody) ? http::BodyMode::kStream : http::BodyMode::kBuffer;
  }
  void handle(http::Exchange& exchange) override {
    const http::Request& r = exchange.request();
    if (r.method.empty() || r.path.empty() || r.path[0] != '/' || r.version != 20) fail("malformed request");
    std::size_t hosts = 0;
    r.headers.for_each([&](const http::HeaderList::Field& f) {
      if (!f.name.empty() && f.name[0] == ':') fail("pseudo-header among the fields");
      hosts += http::iequals(f.name, "host") ? 1 : 0;
    });
    if (hosts != 1) fail("not exactly one Host");
    if (r.body.size() > limits_.max_body_bytes) fail("buffered body over the limit");
    if (flags_ & (kStreamBody | kHold)) {
      held.push_back(exchange.retain());
      exchange.set_pending(work);
      if (flags_ & kStreamBody) read_all(held.back());
      return;
    }
    answer(exchange);
  }
  void answer(http::Exchange& exchange) {
    http::Response response;
    if (flags_ & kSourceResponse) {
      response.body_source = std::make_shared<Source>();
    } else {
      response.set_body(exchange.request().path);
    }
    exchange.respond(std::move(response));
  }
  void read_all(std::shared_ptr<http::Exchange> exchange) {
    exchange->read_body([this, exchange](const error_code& ec, std::string_view, bool last) {
      if (ec || last) {
        answer(*exchange);
        return;
      }
      read_all(exchange);
    });
  }
  http::Response protocol_error(http::ProtocolError, http::Exchange&) override {
    http::Response response;
    response.status = 400;
    return response;
  }

  http::ConnectionLimits limits_;
  std::uint8_t flags_;
  std::vector<std::shared_ptr<http::Exchange>> held;
  std::shared_ptr<CountingWork> work = std::make_shared<CountingWork>();
};

class Transport final : public http::Http2Transport {
 public:
  void http2_want_write() override { ++wants; }
  std::shared_ptr<void> http2_keep_alive() override { return keep; }
  int wants = 0;
  std::shared_ptr<int> keep = std::make_shared<int>(0);
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1 || size > kMaxInput) return 0;
  const std::uint8_t flags = data[0];
  std::string input(reinterpret_cast<const char*>(data + 1), size - 1);
  if (flags & kPrependPreface) input.insert(0, http::Http2Session::kPreface);

  http::Shard shard(0);
  auto owned = std::make_unique<Handler>(flags);
  Handler& handler = *owned;
  shard.set_handler(std::move(owned));
  Transport transport;
  http::Request connection;
  connection.client_address = "192.0.2.1";
  {
    http::Http2Session session(shard, transport, connection);
    if (!session.start()) fail("start");
    std::string out;
    bool alive = true;
    std::string_view rest = input;
    while (alive && !rest.empty()) {
      std::size_t cut = rest.find(kSplit);
      std::string_view piece = rest.substr(0, cut);
      rest = cut == std::string_view::npos ? std::string_view() : rest.substr(cut + kSplit.size());
      alive = session.receive(piece.data(), piece.size());
      out.clear();
      if (!session.produce(out, 1 << 20)) break;
    }
    // What was held is answered now (a late answer to a closed stream is a no-op).
    for (auto& exchange : handler.held) {
      if (!exchange->responded()) handler.answer(*exchange);
    }
    out.clear();
    session.produce(out, 1 << 20);
    bool finished = session.finished();
    out.clear();
    if (session.produce(out, 1 << 20) && finished && !out.empty()) fail("output after finished");
    int held_pending = 0;
    for (auto& exchange : handler.held)
      held_pending += exchange->responded() ? 0 : 1;
    session.close_streams();
    if (held_pending != 0 && handler.work->cancelled == 0) fail("closing cancelled nothing");
  }
  handler.held.clear();
  return 0;
}
