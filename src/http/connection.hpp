// One client connection: read a request (head, then body), hand it to the pipeline, write the response,
// repeat. Requests on a connection are handled strictly in order (pipelining is supported by parsing the
// next request from what is already buffered once the previous response is written).
//
// The connection runs over the plain socket or, on a TLS listener, over an asio::ssl stream layered on
// that socket (handshake first, close_notify at the end). Every read and write goes through
// async_read_some()/async_write() below, which pick the stream with one branch per operation (no virtual
// call, nothing per byte): the plain path stays what it was. After the handshake the ALPN protocol
// selects what speaks on the stream: this HTTP/1.1 connection, or for "h2" an Http2Session that the
// connection then only carries (reads feed it, its output is written; see start_http2()). A plain
// listener with HTTP/2 enabled switches the same way when the first bytes are the HTTP/2 preface
// (prior-knowledge h2c).
#pragma once

#include <array>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "common/spare_list.hpp"
#include "http/framing.hpp"
#include "http/http2_session.hpp"
#include "http/request_handler.hpp"
#include "http/request_parser.hpp"
#include "http/shard.hpp"
#include "http/tunnel.hpp"

namespace workgate::http {

class Connection final : public std::enable_shared_from_this<Connection>,
                         private ExchangeHost,
                         private Http2Transport {
 public:
  // `listener`: the index of the listener that accepted the socket; `tls`: its certificates when it is a
  // TLS listener (kept for the connection's life: a reload changes new handshakes only); `h2c`: a plain
  // listener that also speaks prior-knowledge HTTP/2.
  Connection(Shard& shard, boost::asio::ip::tcp::socket socket, std::uint16_t listener = 0,
             std::shared_ptr<const TlsContext> tls = nullptr, bool h2c = false);
  ~Connection();

  void start();

  // The exchange while the connection waits for its next request, else null. A tunnel's too: it has no
  // request any more (so a reload lets go of the config a long-lived WebSocket began with).
  Exchange* idle_exchange() {
    return phase_ == Phase::kIdle || phase_ == Phase::kTunnel ? exchange_.get() : nullptr;
  }

  // Deadline enforcement and shutdown, called by the shard.
  bool expired(Shard::Clock::time_point now) const { return deadline_ <= now; }
  void on_deadline();
  // Called by the shard's sweep (~100 ms) for connections whose deadline has not passed.
  void on_sweep();
  void release_idle_memory();
  void park();
  void on_drain();
  void close();

  Connection* prev = nullptr;  // Shard's registry links
  Connection* next = nullptr;
  // The listener that accepted the socket (its index in the server's list), as the shard counted it.
  std::uint16_t listener() const { return listener_; }
  std::uint16_t counted_listener = 0;  // Shard's: set by Shard::add

 private:
  friend class Exchange;
  // kTunnel: after a 101 to an Upgrade request, joined to the upstream (tunnel.hpp); no more HTTP.
  enum class Phase {
    kHandshake,
    kIdle,
    kHeader,
    kBody,
    kHandling,
    kWriting,
    kLingering,
    kShutdown,
    kHttp2,
    kClosed,
    kTunnel
  };

  // ExchangeHost (the HTTP/1.1 exchange)
  void send_response(Exchange&, Response&& response) override { send(std::move(response)); }
  std::shared_ptr<void> keep_alive() override { return shared_from_this(); }
  void read_body(Exchange& exchange, BodyChunkHandler handler) override;
  bool body_complete() const override { return body_done_; }
  void continue_body() override;
  // Http2Transport
  void http2_want_write() override { flush_http2(); }
  std::shared_ptr<void> http2_keep_alive() override { return shared_from_this(); }

  // Every read and write of the connection: the plain socket, or the TLS stream (which writes one buffer
  // per record: send() and pump_response() join small pieces). The TLS side is out of line (and cold), so
  // that the plain path's callers stay as small, and as inlined, as without TLS.
  // `start`: see draining_read.hpp (the plain socket's reads).
  template <class Handler>
  void async_read_some(boost::asio::mutable_buffer buffer, Handler&& handler,
                       ReadStart start = ReadStart::kMore) {
    if (tls_) {
      tls_read_some(buffer, std::forward<Handler>(handler));
    } else {
      shard_.reads().read_some(socket_, buffer, drained_, start, std::forward<Handler>(handler));
    }
  }
  template <class Buffers, class Handler>
  void async_write(const Buffers& buffers, Handler&& handler) {
    if (tls_) {
      tls_write(buffers, std::forward<Handler>(handler));
    } else {
      boost::asio::async_write(socket_, buffers, std::forward<Handler>(handler));
    }
  }
  template <class Buffers, class Handler>
  [[gnu::noinline, gnu::cold]] void tls_read_some(const Buffers& buffers, Handler&& handler) {
    tls_->async_read_some(buffers, std::forward<Handler>(handler));
  }
  template <class Buffers, class Handler>
  [[gnu::noinline, gnu::cold]] void tls_write(const Buffers& buffers, Handler&& handler) {
    boost::asio::async_write(*tls_, buffers, std::forward<Handler>(handler));
  }

  void start_tls();
  void on_handshake(const boost::system::error_code& ec);
  // HTTP/2 on this transport; what the read buffer holds already (the h2c preface) is its first input.
  void start_http2();
  void read_http2();
  void flush_http2();
  void update_http2_deadline();
  void begin_reading();
  std::size_t read_limit() const;
  void shutdown_tls();
  // The exchange is given back to the handler while the connection is parked (see park()) and taken
  // again when the next request's bytes arrive.
  void acquire_exchange();

  void read_more();
  void on_read(const boost::system::error_code& ec, std::size_t bytes);
  void begin_request();
  void parse();
  void on_head_complete();
  void send_continue_then_read_body();
  bool waits_for_handler() const;
  void dispatch();
  void watch_client();
  void fail(ProtocolError error);
  void send(Response&& response);
  void on_written(const boost::system::error_code& ec);
  void linger();
  void set_deadline(std::chrono::milliseconds timeout);
  void arm_body_deadline();
  void account_body_read(std::size_t bytes);
  void clear_deadline() { deadline_ = Shard::Clock::time_point::max(); }
  void serialize_head(const Response& response, std::optional<std::uint64_t> length, bool chunked);
  void pump_request_body();
  void deliver_body(const boost::system::error_code& ec, std::string_view chunk, bool last);
  void pump_response();
  // Upgrade (connection_tunnel.cpp): the 101 head, then the client transport joined to the upstream side.
  // send_upgrade() is false when the response does not switch (the upstream side is dropped then).
  class TunnelTransport;
  bool send_upgrade();
  void start_tunnel();
  void end_tunnel(Tunnel::End end);
  void on_tunnel_deadline();

  // What a connection needs only while it serves requests: the read buffer, the parser, the response being
  // written and its framing. A parked connection (park()) gives it back to a per-thread spare list with its
  // exchange, so that an idle keep-alive connection holds little more than its socket. Null exactly when
  // exchange_ is.
  struct Serving {
    boost::beast::flat_buffer buffer;
    std::optional<RequestParser> parser;
    Response response;
    std::string head;
    // Request body pace (see arm_body_deadline).
    Shard::Clock::duration body_credit{};
    Shard::Clock::time_point body_read_started{};
    BodyChunkHandler body_handler;  // a streamed request body's consumer
    // Streamed response body.
    std::shared_ptr<BodySource> source;
    ChunkFramer chunk_framer;
    // A streamed body's piece as written: the head (with the first piece), the chunk framing and the data.
    using WriteBuffers = std::array<boost::asio::const_buffer, 1 + std::tuple_size_v<ChunkFramer::Buffers>>;
    WriteBuffers write_buffers{};
    std::string tls_scratch;  // a framed chunk joined into one buffer for the TLS stream
  };
  using SpareServings = SpareList<std::unique_ptr<Serving>, 64>;
  static SpareServings& spare_servings();
  static std::unique_ptr<Serving> take_serving();
  static void give_back(std::unique_ptr<Serving> serving);

  Shard& shard_;
  boost::asio::ip::tcp::socket socket_;
  std::shared_ptr<const TlsContext> tls_context_;
  using TlsStream = boost::asio::ssl::stream<boost::asio::ip::tcp::socket&>;
  std::unique_ptr<TlsStream> tls_;      // over socket_, declared after it: destroyed first
  std::unique_ptr<Exchange> exchange_;  // null only while parked
  std::unique_ptr<Serving> serving_;    // likewise
  std::string client_address_;          // the exchange's request carries them: kept for the next one
  std::uint16_t listener_ = 0;
  const ConnectionLimits* limits_ = nullptr;
  Phase phase_ = Phase::kIdle;
  Shard::Clock::time_point deadline_ = Shard::Clock::time_point::max();
  bool timed_out_ = false;
  bool close_after_write_ = false;
  bool linger_after_write_ = false;
  bool continue_sent_ = false;
  bool awaiting_continue_ = false;  // before_body() said kWait: the body is read once the handler asks
  bool watching_client_ = false;
  // The request waits for the handler and a sweep saw it: the next sweep watches the client (on_sweep).
  bool handler_swept_ = false;
  // Idle between requests: set by the first sweep that sees it idle; the next one gives back what the
  // last request grew (release_idle_memory), so that busy keep-alive connections keep their buffers.
  bool idle_swept_ = false;
  bool waiting_idle_ = false;  // parked: waiting for readability with no read pending
  bool parking_ = false;       // the idle read was cancelled to park the connection
  bool drained_ = false;       // the socket's last read was short (draining_read.hpp)
  std::size_t body_bytes_sent_ = 0;
  // Streamed request body (BodyMode::kStream).
  bool stream_mode_ = false;
  bool body_done_ = true;
  bool reading_stream_ = false;
  // Streamed response body.
  bool chunked_out_ = false;
  bool head_pending_ = false;  // the head goes out with the first piece
  // HTTP/2 (after ALPN "h2", or the h2c preface on a listener that allows it).
  bool h2c_allowed_ = false;
  std::unique_ptr<Http2Session> h2_;
  std::string h2_out_;
  bool h2_reading_ = false;
  bool h2_writing_ = false;
  bool h2_idle_armed_ = false;

  // Phase::kTunnel: the client joined to the upstream.
  std::shared_ptr<Tunnel> tunnel_;
};

}  // namespace workgate::http
