// The contract between a connection and the request pipeline.
#pragma once

#include <boost/system/error_code.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>

#include "http/message.hpp"

namespace workgate::http {

class Connection;
class Http2Session;
class Http2Stream;
class TlsContext;

// Limits and timeouts a connection applies; the pipeline supplies them from the active config.
struct ConnectionLimits {
  std::size_t max_header_bytes = 16 * 1024;
  std::size_t max_headers = 100;
  std::size_t max_body_bytes = 10 * 1024 * 1024;
  std::chrono::milliseconds header_timeout{10000};
  std::chrono::milliseconds body_timeout{30000};
  // A request body must keep arriving at this average rate (bytes/s), with body_timeout of slack, or the
  // request fails with 408, so a body drip-fed a byte at a time cannot hold a connection for ever. Time
  // the gateway itself spends not reading (backpressure from a slow upstream) does not count. 0: off.
  std::uint64_t min_body_rate = 1024;
  std::chrono::milliseconds idle_timeout{60000};
  std::chrono::milliseconds write_timeout{30000};
  // A TLS handshake must complete within this time (a client that connects and stalls is closed).
  std::chrono::milliseconds handshake_timeout{10000};

  // HTTP/2 (RFC 9113) connections: what one client may hold and how fast it may churn.
  struct Http2 {
    std::uint32_t max_concurrent_streams = 100;
    // Flow-control windows we grant: what one stream, and the whole connection, may have in flight
    // toward us (and so what we buffer at most for an unread request body).
    std::uint32_t stream_window_bytes = 256 * 1024;
    std::uint32_t connection_window_bytes = 1024 * 1024;
    // Rapid reset (CVE-2023-44487): streams the client cancels (RST_STREAM, or opened beyond the
    // concurrency limit) are paid from a bucket of `reset_burst` that refills at `resets_per_second`;
    // an empty bucket ends the connection with GOAWAY(ENHANCE_YOUR_CALM).
    std::uint32_t reset_burst = 200;
    std::uint32_t resets_per_second = 100;
    // SETTINGS, PING, PRIORITY, WINDOW_UPDATE and empty DATA/HEADERS frames share one such bucket.
    std::uint32_t control_frame_burst = 1000;
    std::uint32_t control_frames_per_second = 200;
    // CONTINUATION flood (CVE-2024-27316): frames of one header block.
    std::uint32_t max_continuation_frames = 32;
  } http2;
  // A tunnel after an Upgrade (WebSocket) is closed when nothing has moved either way for this long.
  std::chrono::milliseconds tunnel_idle_timeout{60000};
};

enum class ProtocolError {
  kBadRequest,
  kRequestTimeout,
  kPayloadTooLarge,
  kHeadersTooLarge,
  kVersionNotSupported,
  kNotImplemented  // a transfer coding we do not decode (501)
};

// Why reading a streamed request body (Exchange::read_body) failed, as the error the client is answered
// with: too large (413), stalled (408) or malformed framing (400). nullopt: the client went away.
std::optional<ProtocolError> body_read_error(const boost::system::error_code& ec);

// How the connection reads a request body: whole before handle() (bounded by max_body_bytes), or on demand
// through Exchange::read_body() after handle() was called.
enum class BodyMode { kBuffer, kStream };

// What before_body() decided: send "100 Continue" and read the body now, or wait until the handler calls
// Exchange::continue_body() (or answers without the body).
enum class BodyWait { kProceed, kWait };

// Receives one piece of a streamed body. `last` is set with the final piece (which may be empty).
using BodyChunkHandler =
    std::function<void(const boost::system::error_code&, std::string_view chunk, bool last)>;

class Exchange;

// What carries an exchange: the HTTP/1.1 connection, or one stream of an HTTP/2 connection. Exchange's
// public operations forward here.
class ExchangeHost {
 public:
  virtual void send_response(Exchange& exchange, Response&& response) = 0;
  // Keeps the carrier (and so the exchange) alive while asynchronous work holds the exchange.
  virtual std::shared_ptr<void> keep_alive() = 0;
  virtual void read_body(Exchange& exchange, BodyChunkHandler handler) = 0;
  virtual bool body_complete() const = 0;
  virtual void continue_body() = 0;

 protected:
  ~ExchangeHost() = default;
};

// One request/response on a connection. The pipeline derives from it to keep its per-request state; the
// connection creates one per connection (RequestHandler::create_exchange) and reuses it for every request.
class Exchange {
 public:
  virtual ~Exchange() = default;

  Request& request() { return request_; }
  const Request& request() const { return request_; }

  // Completes the exchange; call exactly once, on the connection's thread (synchronously from
  // RequestHandler::handle or later from an asynchronous completion).
  void respond(Response&& response);
  bool responded() const { return responded_; }

  // Keeps the connection (and so this exchange) alive while an asynchronous operation is pending.
  std::shared_ptr<Exchange> retain();

  // With BodyMode::kStream: the rest of the request body as a BodySource (pieces pulled through
  // read_body(); length() is the declared Content-Length). It keeps the exchange alive until cancelled.
  std::shared_ptr<BodySource> body_source();

  // The asynchronous work the request waits for: cancelled when the client goes away before the response
  // is complete (the connection closes, or the client closes its side while the request is handled).
  void set_pending(std::weak_ptr<Cancellable> work) { pending_ = std::move(work); }

  // With BodyMode::kStream: reads the next piece of the request body (one read at a time; the chunk is valid
  // until the next call). An error means the client went away or was too slow.
  void read_body(BodyChunkHandler handler);
  // Whether the whole request body has been read (always true with BodyMode::kBuffer).
  bool body_complete() const;

  // After before_body() returned BodyWait::kWait: the handler is ready for the body. The connection sends
  // "100 Continue" and reads it; handle() follows as usual. (Answering through respond() instead leaves the
  // body unread and the connection closes after the response.)
  void continue_body();
  bool continue_requested() const { return continue_requested_; }

  // Clears the per-request state before the connection reuses the exchange for its next request.
  virtual void reset() {}

  // The response the connection has finished writing, handed back so that its memory serves the next
  // response of the connection (the default drops it).
  virtual void recycle(Response&& /*written*/) {}

  // The connection has been idle for a while: give back the memory kept for the next request (it grows
  // again when one comes).
  virtual void release_memory() { request_.release_memory(); }

 private:
  friend class Connection;
  friend class Http2Session;
  friend class Http2Stream;
  ExchangeHost* host_ = nullptr;
  Request request_;
  std::weak_ptr<Cancellable> pending_;
  bool responded_ = false;
  bool continue_requested_ = false;
};

class RequestHandler {
 public:
  virtual ~RequestHandler() = default;

  virtual std::unique_ptr<Exchange> create_exchange() = 0;
  // An exchange a connection gives back while it idles with no request (parked): the handler may keep it
  // for the next create_exchange() (of any connection of the shard), so that thousands of idle
  // connections do not each hold one. Nothing else refers to it any more. By default it is freed.
  virtual void return_exchange(std::unique_ptr<Exchange> /*exchange*/) {}
  virtual const ConnectionLimits& limits() = 0;

  // The certificates of TLS listener `tls_index` (its index in the config's gateway.listeners) for a
  // handshake starting now: the active config's. Null when the config has none (the connection closes).
  virtual std::shared_ptr<const TlsContext> tls_context(std::size_t /*tls_index*/) { return nullptr; }

  // The request head is complete: decide how its body is read.
  virtual BodyMode body_mode(Exchange&) { return BodyMode::kBuffer; }

  // The head is complete and the client waits for "100 Continue" before sending the body: the handler may
  // answer now through exchange.respond() (the body is then never read), return kProceed to let the body
  // come, or kWait when its answer depends on asynchronous work: it then calls exchange.continue_body() or
  // exchange.respond() later. While it waits nothing is read, and no body deadline runs (the handler's own
  // work is bounded by its timeouts); a client that goes away is noticed at the shard's sweep.
  virtual BodyWait before_body(Exchange&) { return BodyWait::kProceed; }

  // The request's head and whole body have been read; respond through exchange.respond().
  virtual void handle(Exchange& exchange) = 0;

  // The response for a request the connection could not read; `exchange` holds what was parsed (possibly
  // nothing). The connection closes after writing it.
  virtual Response protocol_error(ProtocolError error, Exchange& exchange) = 0;

  // Called after each response is written (for access logs); `bytes` is the body size sent.
  virtual void on_complete(Exchange&, int /*status*/, std::size_t /*bytes*/) {}

  // Called by the shard every ~100 ms (flush buffers, expire caches).
  virtual void on_tick() {}
};

}  // namespace workgate::http
