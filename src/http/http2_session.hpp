// The HTTP/2 side of a connection (RFC 9113): nghttp2's session (framing, HPACK, flow control, stream
// states) driven by our own loop through mem_recv/mem_send, and one Exchange per request stream, so
// every stream runs the same pipeline as an HTTP/1.1 request.
//
// The session neither reads nor writes a socket: the Connection owns the transport (plain or TLS), feeds
// what it reads to receive() and writes what produce() gives it. What the session adds to nghttp2 is the
// product's policy: limits (header list size, body size, windows), the budgets that end abusive
// connections (rapid reset, control-frame floods, CONTINUATION floods), the request/response translation
// (pseudo-headers <-> Request, connection-specific fields dropped), and streamed bodies in both
// directions bound to flow control: a request body is acknowledged (WINDOW_UPDATE) only as its consumer
// takes it, and a response body is pulled from its source only as the client's window and the socket
// accept it.
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "http/request_handler.hpp"
#include "http/shard.hpp"

namespace workgate::http {

// What the session needs from the connection that carries it.
class Http2Transport {
 public:
  // The session has output (a response submitted or a body piece arrived outside receive()): flush it.
  virtual void http2_want_write() = 0;
  // Keeps the connection alive while a stream's asynchronous work is pending.
  virtual std::shared_ptr<void> http2_keep_alive() = 0;

 protected:
  ~Http2Transport() = default;
};

// A token bucket over the shard clock: `burst` tokens, refilled at `per_second`.
class FrameBudget {
 public:
  FrameBudget(std::uint32_t burst, std::uint32_t per_second, Shard::Clock::time_point now)
      : burst_(burst), per_second_(per_second), tokens_(burst), last_(now) {}
  // Spends one token; false when none is left.
  bool spend(Shard::Clock::time_point now);

 private:
  double burst_;
  double per_second_;
  double tokens_;
  Shard::Clock::time_point last_;
};

class Http2Stream;

class Http2Session {
 public:
  // The HTTP/2 connection preface, which a client speaking prior-knowledge h2c sends first.
  static constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

  // `connection` holds what every request of the connection shares (client address, listener, TLS).
  Http2Session(Shard& shard, Http2Transport& transport, const Request& connection);
  ~Http2Session();
  Http2Session(const Http2Session&) = delete;
  Http2Session& operator=(const Http2Session&) = delete;

  // Queues our SETTINGS. False when nghttp2 could not be set up (out of memory).
  bool start();

  // Bytes read from the client. False when the connection must end: a protocol error or an abusive peer
  // (a GOAWAY saying why is then queued: flush produce() and close).
  bool receive(const char* data, std::size_t size);

  // Appends frames to send to `out` until it holds at least `limit` bytes or nothing is left. False on
  // a fatal session error (close at once).
  bool produce(std::string& out, std::size_t limit);

  // Nothing more will be read or written: the connection can close.
  bool finished() const;
  // Whether the peer's input is still wanted (false after GOAWAY once the last stream ended).
  bool wants_read() const;
  std::size_t open_streams() const { return streams_.size(); }

  // Graceful end (drain, idle timeout): GOAWAY with the last stream we took; those streams finish.
  void go_away();
  // Every ~100 ms: request bodies that stopped arriving (body_timeout) fail.
  void on_sweep(Shard::Clock::time_point now);
  // The connection is closing: every stream stops (its pending work is cancelled).
  void close_streams();

 private:
  friend class Http2Stream;

  static int on_begin_frame(nghttp2_session*, const nghttp2_frame_hd* hd, void* self);
  static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* self);
  static int on_header(nghttp2_session*, const nghttp2_frame* frame, nghttp2_rcbuf* name,
                       nghttp2_rcbuf* value, std::uint8_t flags, void* self);
  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* self);
  static int on_data_chunk_recv(nghttp2_session*, std::uint8_t flags, std::int32_t stream_id,
                                const std::uint8_t* data, std::size_t len, void* self);
  static int on_frame_send(nghttp2_session*, const nghttp2_frame* frame, void* self);
  static int on_stream_close(nghttp2_session*, std::int32_t stream_id, std::uint32_t error_code, void* self);
  static ssize_t read_body(nghttp2_session*, std::int32_t stream_id, std::uint8_t* buf, std::size_t length,
                           std::uint32_t* data_flags, nghttp2_data_source* source, void* self);

  Http2Stream* find(std::int32_t stream_id) const;
  // Ends the connection because the peer abuses it: GOAWAY(code), nothing more is read.
  void refuse(std::uint32_t code, std::string_view why);
  void head_complete(Http2Stream& stream, bool end_stream);
  void submit_response(Http2Stream& stream, Response&& response);
  void fail_stream(Http2Stream& stream, ProtocolError error);
  void buffer_body(Http2Stream& stream, std::size_t bytes);
  void release_buffering();
  // Work found inside nghttp2 callbacks runs once receive() is out of nghttp2 (reentrancy).
  void run_ready();
  void notify_output();

  Shard& shard_;
  Http2Transport& transport_;
  const Request& connection_;
  const ConnectionLimits* limits_;
  nghttp2_session* session_ = nullptr;
  std::unordered_map<std::int32_t, std::shared_ptr<Http2Stream>> streams_;
  // Streams to dispatch or to hand body pieces to once nghttp2 returns.
  std::vector<std::shared_ptr<Http2Stream>> ready_;
  FrameBudget resets_;
  FrameBudget control_frames_;
  std::uint16_t listener_;  // the connection's, counted in Shard::listener_connections while this lives
  std::size_t buffered_bytes_ = 0;  // request bodies buffered by this connection's streams
  std::uint32_t continuations_ = 0;
  std::size_t header_block_bytes_ = 0;
  // Inside nghttp2, or inside receive(): output is flushed by whoever called, not notified from inside.
  int in_nghttp2_ = 0;
  bool refused_ = false;
  bool going_away_ = false;
  // One response submission's fields (kept for the next: no allocation per response in steady state).
  struct FieldSpan {
    std::size_t name, name_len, value, value_len;  // offsets into scratch_
  };
  std::string scratch_;  // field names lowercased, values copied
  std::vector<FieldSpan> spans_;
  std::vector<nghttp2_nv> fields_;
};

}  // namespace workgate::http
