// The upstream client's orchestration: a Call takes a connection from its pool (or opens one: name lookup,
// TCP, TLS), sends the request (streaming a request body from its BodySource), reads the response head and
// delivers it with the body buffered or streamed (ResponseStream), then gives the connection back. The
// parts live in their own files: DnsCache (dns_cache.hpp), UpstreamPool and UpstreamConnection
// (upstream_pool.hpp), ResponseReader (response_reader.hpp), framing helpers (framing.hpp).
#include "http/upstream.hpp"

#include <openssl/ssl.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/http/error.hpp>
#include <span>

#include "common/coarse_clock.hpp"
#include "common/spare_list.hpp"
#include "http/cluster.hpp"
#include "http/dns_cache.hpp"
#include "http/framing.hpp"
#include "http/request_handler.hpp"
#include "http/response_reader.hpp"
#include "http/slab.hpp"
#include "http/tunnel.hpp"
#include "http/upstream_pool.hpp"
#include "observability/log.hpp"

namespace workgate::http {
namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast_http = boost::beast::http;
using boost::system::error_code;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

// Why a streamed client body failed, as the proxy reports it.
UpstreamError request_body_error(const error_code& ec) {
  std::optional<ProtocolError> error = body_read_error(ec);
  if (!error) return UpstreamError::kClientGone;
  if (*error == ProtocolError::kPayloadTooLarge) return UpstreamError::kRequestBodyTooLarge;
  if (*error == ProtocolError::kRequestTimeout) return UpstreamError::kRequestBodyTimeout;
  return UpstreamError::kRequestBodyInvalid;
}

// A request of a cluster names the authority it was built for in its first Host field; the target picked
// (or retried on) may have another.
void replace_host(std::string& head, std::string_view from, std::string_view to) {
  if (from == to) return;
  constexpr std::string_view kField = "\r\nHost: ";
  std::size_t at = head.find(kField);
  if (at == std::string::npos) return;
  std::size_t value = at + kField.size();
  if (head.compare(value, from.size(), from) != 0 || head.compare(value + from.size(), 2, "\r\n") != 0)
    return;
  head.replace(value, from.size(), to);
}

}  // namespace

std::shared_ptr<UpstreamTarget> make_upstream_target(bool tls, std::string host, std::uint16_t port,
                                                     const std::vector<std::string>& ca_files,
                                                     std::string& error) {
  auto target = std::make_shared<UpstreamTarget>();
  target->tls = tls;
  target->host = std::move(host);
  target->port = port;
  bool default_port = (tls && port == 443) || (!tls && port == 80);
  bool ipv6 = target->host.find(':') != std::string::npos;
  target->authority = ipv6 ? "[" + target->host + "]" : target->host;
  if (!default_port) target->authority += ":" + std::to_string(port);
  target->pool_key = std::string(tls ? "https://" : "http://") + target->host + ":" + std::to_string(port);
  if (tls) {
    auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(context->native_handle(), TLS1_2_VERSION);
    context->set_verify_mode(ssl::verify_peer);
    error_code ec;
    context->set_default_verify_paths(ec);
    for (const auto& file : ca_files) {
      context->load_verify_file(file, ec);
      if (ec) {
        error = "cannot load CA file " + file + ": " + ec.message();
        return nullptr;
      }
      target->pool_key += "|" + file;
    }
    target->tls_context = std::move(context);
  }
  return target;
}

struct Call;

// An upstream connection after a 101: the upstream side of a tunnel. It is closed when the tunnel stops
// or lets it go.
class UpstreamTunnelSide final : public TunnelSide {
 public:
  explicit UpstreamTunnelSide(std::shared_ptr<UpstreamConnection> connection) : conn_(std::move(connection)) {
    boost::beast::flat_buffer& buffer = conn_->buffer();
    if (buffer.size() > 0) {
      auto data = buffer.data();
      early.assign(static_cast<const char*>(data.data()), data.size());
    }
    conn_->buffer() = boost::beast::flat_buffer();  // the tunnel reads into its own buffers
  }
  ~UpstreamTunnelSide() override { conn_->close(); }
  UpstreamTunnelSide(const UpstreamTunnelSide&) = delete;
  UpstreamTunnelSide& operator=(const UpstreamTunnelSide&) = delete;

  void read_some(asio::mutable_buffer buffer, Handler handler) override {
    conn_->read_into(buffer, std::move(handler));
  }
  void write(asio::const_buffer buffer, Handler handler) override {
    conn_->write(buffer, std::move(handler));
  }
  // TLS has no half-close (close_notify ends the session): the tunnel ends instead.
  bool shutdown_send() override {
    if (conn_->tls() != nullptr) return false;
    error_code ignored;
    conn_->socket().shutdown(tcp::socket::shutdown_send, ignored);
    return true;
  }
  void stop() override { conn_->close(); }

 private:
  std::shared_ptr<UpstreamConnection> conn_;
};

struct UpstreamClient::Impl {
  Impl(asio::io_context& io_context, UpstreamClient::Now now_source, SlabPool* slab_pool)
      : io(io_context), dns(io_context), clock(std::move(now_source)), slab(slab_pool) {}

  // Deadlines, pooled connections' ages, outlier ejection: the coarse steady clock (common/coarse_clock.hpp).
  Clock::time_point now() const { return clock ? clock() : coarse_steady_now(); }

  // What a call gives back when it has delivered (Call::deliver) and the next takes: the request head's
  // string, the response's header list and body string. With them (and the call itself from the slab, the
  // callback held inside it) a proxied request allocates nothing in steady state. At most kMaxSpares of
  // each, none larger than kMaxSpareBytes (a large head or body is not kept).
  static constexpr std::size_t kMaxSpares = 64;
  static constexpr std::size_t kMaxSpareBytes = 4096;
  static constexpr std::size_t kMinSpareBytes = 16;  // up to 15 bytes a string is inline: nothing to keep
  template <class T>
  using Spares = SpareList<T, kMaxSpares>;
  template <class T>
  static void keep_small(Spares<T>& spares, T& item, std::size_t bytes) {
    if (bytes < kMinSpareBytes || bytes > kMaxSpareBytes) return;
    item.clear();
    spares.keep(item);
  }
  void give_back(std::string& head, UpstreamResponse& response) {
    keep_small(spare_heads, head, head.capacity());
    keep_small(spare_headers, response.headers, response.headers.capacity_bytes());
    keep_small(spare_bodies, response.body, response.body.capacity());
  }

  asio::io_context& io;
  DnsCache dns;
  UpstreamPools pools;
  ClusterRegistry clusters;
  std::vector<std::weak_ptr<Call>> calls;  // for deadlines
  UpstreamClient::Now clock;               // injected by tests; null: the steady clock
  SlabPool* slab;                          // where calls live (null: the heap)
  Spares<std::string> spare_heads;
  Spares<std::string> spare_bodies;
  Spares<HeaderList> spare_headers;
  DrainingReads reads{io};  // for its connections' plain sockets
};

// One request/response exchange with an upstream. Owned by whatever operation is pending on its behalf
// (a socket operation's handler, the pool's queue, the response body stream); the caller holds it only
// weakly (the Cancellable handle).
struct Call final : Cancellable, PoolWaiter, std::enable_shared_from_this<Call> {
  enum class State { kQueued, kConnecting, kSending, kWaitingHead, kBody, kDone };
  // A last body piece up to this size is copied so that the connection returns to the pool at once.
  static constexpr std::size_t kCopiedLastPiece = 16 * 1024;

  // The response body streamed to the client connection.
  struct ResponseStream final : BodySource {
    ResponseStream(std::shared_ptr<Call> c, std::optional<std::uint64_t> body_length)
        : call(std::move(c)), declared_length(body_length) {}
    ~ResponseStream() override { cancel(); }
    std::optional<std::uint64_t> length() const override { return call ? declared_length : std::nullopt; }
    bool ready() const override {
      return call && first && (!call->reader.piece().empty() || call->reader.done());
    }
    void pull(Handler handler) override {
      if (!call) {
        handler(asio::error::operation_aborted, {}, true);
        return;
      }
      call->pull(std::move(handler), first);
      first = false;
    }
    void cancel() override {
      if (!call) return;
      auto c = std::move(call);
      call.reset();
      if (c->conn && !c->reader.done()) c->abandon_connection();
      c->finish_connection();  // a complete body whose last piece was borrowed from the connection's buffer
      c->state = State::kDone;
    }
    std::shared_ptr<Call> call;
    std::optional<std::uint64_t> declared_length;
    bool first = true;
  };

  Call(UpstreamClient::Impl& c, std::shared_ptr<const UpstreamTarget> t, UpstreamRequest r,
       UpstreamClient::Callback cb, std::size_t limit)
      : client(c),
        target(std::move(t)),
        request(std::move(r)),
        callback(std::move(cb)),
        buffer_limit(limit) {}

  // --- connection

  void start() {
    pool = &client.pools.for_target(target);
    deadline = client.now() + target->timeout;
    retry_deadline = deadline;
    acquire();
  }

  bool waiting() const override { return state == State::kQueued && !delivered; }
  void on_available() override { acquire(); }

  void acquire() {
    state = State::kQueued;
    if (auto idle = pool->take_idle()) {
      conn = std::move(idle);
      reused = true;
      send_request();
      return;
    }
    if (pool->reserve()) {
      connect();
      return;
    }
    pool->enqueue(shared_from_this());
  }

  // A new connection in place of the one this call had counted (or reserved).
  void connect() {
    state = State::kConnecting;
    reused = false;
    conn = std::make_shared<UpstreamConnection>(client.io, *target, client.reads);
    // One deadline for the name lookup and the connection: connect_timeout covers both.
    deadline = client.now() + target->connect_timeout;
    resolving = true;
    auto self = shared_from_this();
    client.dns.resolve(
        target->host, target->port, [self](const error_code& ec, const DnsCache::Endpoints& endpoints) {
          self->resolving = false;
          if (self->state == State::kDone) return;
          if (ec) {
            observability::log_warn("upstream {}: DNS lookup failed: {}", self->target->host, ec.message());
            if (self->retry_elsewhere()) return;
            self->fail(UpstreamError::kUnavailable);
            return;
          }
          // Each operation on the connection holds it (its socket, TLS stream and buffer) until it
          // completes: a cancelled call drops its own reference while the operation may still run.
          asio::async_connect(self->conn->socket(), endpoints,
                              [self, held = self->conn](const error_code& connect_ec, const tcp::endpoint&) {
                                self->on_connect(connect_ec);
                              });
        });
  }

  void on_connect(const error_code& ec) {
    if (state == State::kDone) return;
    if (ec) {
      if (!timed_out) {
        observability::log_warn("upstream {}:{}: connect failed: {}", target->host, target->port,
                                ec.message());
      }
      if (retry_elsewhere()) return;
      fail(timed_out ? UpstreamError::kTimeout : UpstreamError::kUnavailable);
      return;
    }
    error_code ignored;
    conn->socket().set_option(tcp::no_delay(true), ignored);
    auto* tls = conn->tls();
    if (tls == nullptr) {
      send_request();
      return;
    }
    if (!DnsCache::is_ip_literal(target->host))
      SSL_set_tlsext_host_name(tls->native_handle(), target->host.c_str());
    tls->set_verify_callback(ssl::host_name_verification(target->host));
    auto self = shared_from_this();
    tls->async_handshake(ssl::stream_base::client, [self, held = conn](const error_code& hs_ec) {
      if (self->state == State::kDone) return;
      if (hs_ec) {
        observability::log_warn("upstream {}: TLS handshake failed: {}", self->target->host, hs_ec.message());
        if (self->retry_elsewhere()) return;
        self->fail(self->timed_out ? UpstreamError::kTimeout : UpstreamError::kUnavailable);
        return;
      }
      self->send_request();
    });
  }

  // --- request

  void send_request() {
    state = State::kSending;
    deadline = client.now() + target->timeout;
    auto self = shared_from_this();
    std::array<asio::const_buffer, 2> buffers{asio::buffer(request.head), asio::buffer(request.body)};
    conn->write(buffers, [self, held = conn](const error_code& ec, std::size_t) {
      if (self->state == State::kDone) return;
      if (ec) {
        self->on_transport_error(ec);
      } else if (self->request.body_source) {
        self->pump_body();
      } else {
        self->read_head();
      }
    });
  }

  void pump_body() {
    deadline = Clock::time_point::max();  // the body's producer (the client connection) has its own deadline
    auto self = shared_from_this();
    request.body_source->pull([self](const error_code& ec, std::string_view piece, bool last) {
      if (self->state == State::kDone) return;
      if (ec) {
        self->fail(request_body_error(ec));  // closes the upstream connection: the body stays unfinished
        return;
      }
      self->body_streamed = true;
      self->deadline = self->client.now() + self->target->timeout;
      // The buffer sequence must outlive the asynchronous write (a partial write goes on from it later).
      ChunkFramer::Buffers& buffers = self->body_buffers;
      std::size_t count = 0;
      if (self->request.chunked_body) {
        count = self->framer.frame(piece, last, buffers);
      } else if (!piece.empty()) {
        buffers[count++] = asio::buffer(piece.data(), piece.size());
      }
      self->conn->write(std::span(buffers.data(), count),
                        [self, last, held = self->conn](const error_code& write_ec, std::size_t) {
                          if (self->state == State::kDone) return;
                          if (write_ec) {
                            self->on_transport_error(write_ec);
                          } else if (last) {
                            self->request.body_source.reset();
                            self->read_head();
                          } else {
                            self->pump_body();
                          }
                        });
    });
  }

  // --- response

  void read_head() {
    state = State::kWaitingHead;
    deadline = client.now() + target->timeout;
    if (response.headers.capacity_bytes() < UpstreamClient::Impl::kMinSpareBytes)
      response.headers = client.spare_headers.take();
    reader.give_piece_buffer(client.spare_bodies.take());
    reader.start(response, request.head_request);
    parse_head();
  }

  void parse_head() {
    error_code ec = reader.parse_head(conn->buffer());
    if (!ec) {
      on_head();
      return;
    }
    if (ec != beast_http::error::need_more) {
      observability::log_warn("upstream {}: malformed response: {}", target->host, ec.message());
      fail(UpstreamError::kBadResponse);
      return;
    }
    auto self = shared_from_this();
    // Nothing of the response yet: the upstream sends it after the request just written.
    ReadStart start =
        !received_bytes && conn->buffer().size() == 0 ? ReadStart::kNextMessage : ReadStart::kMore;
    conn->read_some(
        [self, held = conn](const error_code& read_ec, std::size_t n) {
          if (self->state == State::kDone) return;
          if (read_ec) {
            self->on_transport_error(read_ec);
            return;
          }
          self->received_bytes = true;
          self->conn->buffer().commit(n);
          self->parse_head();
        },
        start);
  }

  void on_head() {
    if (response.status < 100) {
      observability::log_warn("upstream {}: invalid status code {}", target->host, response.status);
      fail(UpstreamError::kBadResponse);
      return;
    }
    if (response.status == 101 && request.upgrade) {
      switch_protocols();
      return;
    }
    if (response.status == 101) {
      // Switching protocols was never asked for (UpstreamRequest::upgrade unset: the proxy stripped
      // Upgrade): forwarding it would hand the client a raw upstream connection.
      observability::log_warn("upstream {}: unrequested 101 Switching Protocols", target->host);
      fail(UpstreamError::kBadResponse);
      return;
    }
    state = State::kBody;
    if (!parse_buffered_body()) return;
    if (reader.done() || buffer_limit > 0) {
      read_whole_body();
      return;
    }
    // Stream the rest: what is parsed so far is the first piece.
    response.complete = false;
    reader.borrow_pieces();  // the pieces after the first are not copied out of the read buffer
    response.stream = std::make_shared<ResponseStream>(shared_from_this(), response.content_length);
    deliver(UpstreamError::kNone);
  }

  // Parses what is buffered into the reader's piece; false when the response is malformed or over the
  // buffer limit (already failed).
  bool parse_buffered_body() {
    if (error_code ec = reader.parse_body(conn->buffer())) {
      observability::log_warn("upstream {}: malformed response body: {}", target->host, ec.message());
      fail(UpstreamError::kBadResponse);
      return false;
    }
    if (buffer_limit > 0 && reader.piece().size() > buffer_limit) {
      observability::log_warn("upstream {}: response body larger than {} bytes", target->host, buffer_limit);
      fail(UpstreamError::kBadResponse);
      return false;
    }
    return true;
  }

  void read_whole_body() {
    if (reader.done()) {
      response.body = reader.take_piece();
      response.complete = true;
      finish_connection();
      deliver(UpstreamError::kNone);
      return;
    }
    deadline = client.now() + target->timeout;
    auto self = shared_from_this();
    conn->read_some([self, held = conn](const error_code& ec, std::size_t n) {
      if (self->state == State::kDone) return;
      if (ec == asio::error::eof && self->reader.needs_eof()) {
        self->reader.finish_at_eof();
        self->read_whole_body();
        return;
      }
      if (ec) {
        self->fail(self->timed_out ? UpstreamError::kTimeout : UpstreamError::kBadResponse);
        return;
      }
      self->conn->buffer().commit(n);
      if (!self->parse_buffered_body()) return;
      self->read_whole_body();
    });
  }

  // The next piece of a streamed body (ResponseStream::pull).
  // A piece may be borrowed from the connection's read buffer (ResponseReader::borrow_pieces): valid until
  // the next read, which only the next pull() starts. The last piece is the exception: the connection goes
  // back to the pool with it, where another call may read into the buffer at once. A small last piece is
  // copied; a large one keeps the connection out of the pool until the stream is released (cancel()).
  void pull(BodySource::Handler handler, bool first) {
    if (first && (!reader.piece().empty() || reader.done())) {
      bool done = reader.done();
      if (done) finish_connection();  // the first piece is always a copy (parsed before borrowing)
      handler(error_code(), reader.piece(), done);
      return;
    }
    reader.clear_piece();
    if (error_code ec = reader.parse_body(conn->buffer())) {
      abandon_connection();
      handler(ec, {}, true);
      return;
    }
    if (!reader.piece().empty() || reader.done()) {
      bool done = reader.done();
      if (done && reader.piece().size() <= kCopiedLastPiece) reader.own_piece();
      if (done && !reader.piece_borrowed()) finish_connection();
      handler(error_code(), reader.piece(), done);
      return;
    }
    deadline = client.now() + target->timeout;
    auto self = shared_from_this();
    conn->read_some(UpstreamConnection::kBodyReadChunk, [self, held = conn, handler = std::move(handler)](
                                                            const error_code& ec, std::size_t n) mutable {
      self->deadline = Clock::time_point::max();
      if (!self->conn) {
        handler(asio::error::operation_aborted, {}, true);
        return;
      }
      if (ec == asio::error::eof && self->reader.needs_eof()) {
        self->reader.finish_at_eof();
        self->finish_connection();
        handler(error_code(), {}, true);
        return;
      }
      if (ec) {
        observability::log_warn("upstream {}: connection lost mid-body: {}", self->target->host,
                                self->timed_out ? "timed out" : ec.message());
        self->abandon_connection();
        handler(ec, {}, true);
        return;
      }
      self->conn->buffer().commit(n);
      self->pull(std::move(handler), false);
    });
  }

  // --- upgrade

  // The upstream accepted the Upgrade: its connection leaves the pool (no longer counted against
  // max_connections) and becomes the upstream side of the client's tunnel. A 101 without an Upgrade field
  // (RFC 9110 §15.2.2: required) does not say what the connection now speaks: a bad response.
  void switch_protocols() {
    auto upgrade = response.headers.get("Upgrade");
    if (!upgrade || trim_ows(*upgrade).empty()) {
      observability::log_warn("upstream {}: 101 Switching Protocols without an Upgrade field", target->host);
      fail(UpstreamError::kBadResponse);
      return;
    }
    auto side = std::make_shared<UpstreamTunnelSide>(std::move(conn));
    conn.reset();
    pool->drop();
    deadline = Clock::time_point::max();
    response.upgraded = std::move(side);
    response.complete = true;
    deliver(UpstreamError::kNone);
  }

  // --- endings

  // The response is read completely: keep the connection for the next call when possible.
  void finish_connection() {
    if (!conn) return;
    bool reusable = reader.done() && reader.keep_alive() && conn->buffer().size() == 0 && conn->is_open() &&
                    !request.upgrade;
    pool->release(std::move(conn), reusable, client.now());
    conn.reset();
    deadline = Clock::time_point::max();
  }

  // The connection is closed, not reused, and no longer counted against the pool.
  void abandon_connection() {
    if (!conn) return;
    conn->close();
    conn.reset();
    pool->drop();
  }

  void on_transport_error(const error_code& ec) {
    // A pooled connection the upstream had closed: replay once on a fresh one when that is safe.
    bool replayable = !body_streamed;
    if (reused && !retried && !received_bytes && !timed_out && request.idempotent && replayable) {
      retried = true;
      pool->count_replay();
      conn->close();
      conn.reset();
      connect();  // the fresh connection takes over the failed one's place in the pool's count
      return;
    }
    // A reset before any response byte on a fresh connection: once on another target of the cluster.
    if (!received_bytes && !timed_out && request.idempotent && replayable && retry_elsewhere()) return;
    if (!timed_out) observability::log_warn("upstream {}: {}", target->host, ec.message());
    fail(timed_out ? UpstreamError::kTimeout
                   : (received_bytes ? UpstreamError::kBadResponse : UpstreamError::kUnavailable));
  }

  // A server with several targets (ClusterCall): the failed attempt counts against its target, and the
  // request moves once to another target, on a fresh connection, while the route's timeout has not passed
  // (once: `moved`; a stale-connection replay above, which goes to the same target, has its own once, so a
  // replay whose fresh connection is refused still moves). Nothing of a streamed body was sent.
  bool retry_elsewhere() {
    if (!cluster_call || moved || delivered || body_streamed) return false;
    auto now = client.now();
    cluster_call->record(OutlierState::Event::kConnectFailure, now);
    recorded = true;
    if (now >= retry_deadline) return false;
    auto next = cluster_call->retry_target(now);
    if (!next) return false;
    moved = true;
    recorded = false;
    pool->count_replay();
    abandon_connection();
    timed_out = false;
    replace_host(request.head, target->authority, next->authority);
    target = std::move(next);
    pool = &client.pools.for_target(target);
    deadline = now + target->timeout;  // a timed-out connect left none; queueing for the new pool needs one
    acquire();
    return true;
  }

  // The outcome of the last attempt, for the cluster's outlier ejection.
  void record_outcome(UpstreamError error) {
    if (!cluster_call || recorded) return;
    recorded = true;
    auto now = client.now();
    if (error == UpstreamError::kNone) {
      cluster_call->record(
          response.status >= 500 ? OutlierState::Event::kServerError : OutlierState::Event::kSuccess, now);
    } else if ((error == UpstreamError::kUnavailable && !received_bytes) ||
               (error == UpstreamError::kTimeout && state == State::kConnecting)) {
      cluster_call->record(OutlierState::Event::kConnectFailure, now);
    }
  }

  void on_timeout() {
    timed_out = true;
    deadline = Clock::time_point::max();
    if (state == State::kQueued) {
      pool->leave_queue(this);
      fail(UpstreamError::kTimeout);
      return;
    }
    if (resolving) {
      // The lookup cannot be interrupted, but the caller need not wait for it: its result is ignored.
      observability::log_warn("upstream {}: DNS lookup timed out", target->host);
      fail(UpstreamError::kTimeout);
      return;
    }
    if (conn) conn->close();  // the pending operation completes with an error and reports the timeout
  }

  // The client went away: stop everything, release the caller (its callback holds the exchange).
  void cancel() override {
    if (state == State::kDone || delivered) return;  // once delivered, a streamed body's stream owns the rest
    if (state == State::kQueued) pool->leave_queue(this);
    abandon_connection();
    state = State::kDone;
    delivered = true;
    callback = nullptr;
    if (request.body_source) {
      request.body_source->cancel();
      request.body_source.reset();
    }
  }

  void fail(UpstreamError error) {
    abandon_connection();
    if (request.body_source) {
      request.body_source->cancel();
      request.body_source.reset();
    }
    deliver(error);
  }

  void deliver(UpstreamError error) {
    auto self = shared_from_this();  // releasing an ignored response stream below may drop the last owner
    if (delivered) {
      state = State::kDone;
      return;
    }
    delivered = true;
    record_outcome(error);
    if (error != UpstreamError::kNone || response.complete) state = State::kDone;
    auto cb = std::move(callback);
    // The call keeps nothing of what it delivers: a response stream the caller ignores (the client had
    // already been answered, say) is released here, not kept in a cycle through this call.
    UpstreamResponse delivered_response = std::move(response);
    delivered_response.target = target;
    delivered_response.resends = (retried ? 1u : 0u) + (moved ? 1u : 0u);
    cb(error, std::move(delivered_response));
    // Nothing is sent again after delivery: the head's string goes back, with what the callback left of
    // the response (its header list, the body string the proxy swapped for its old one).
    client.give_back(request.head, delivered_response);
  }

  // The client (and its pools) outlive every call that can still run: a call is owned by operations of the
  // shard's loop, by the connection that waits for it, or by that connection's response stream, and the
  // shard closes its connections and runs their cancelled completions before it destroys the handler that
  // owns the client (~Shard in src/http/shard.cpp). Handlers still queued after that are destroyed
  // without running, and destroying a Call touches neither `client` nor `pool`.
  UpstreamClient::Impl& client;
  std::shared_ptr<const UpstreamTarget> target;
  UpstreamRequest request;
  UpstreamClient::Callback callback;
  std::size_t buffer_limit;
  UpstreamPool* pool = nullptr;  // owned by client.pools (see `client` above and UpstreamPools)
  std::shared_ptr<UpstreamConnection> conn;
  UpstreamResponse response;
  ResponseReader reader;
  ChunkFramer framer;
  ChunkFramer::Buffers body_buffers{};
  State state = State::kQueued;
  Clock::time_point deadline = Clock::time_point::max();
  bool reused = false;
  bool resolving = false;
  bool retried = false;
  bool received_bytes = false;
  bool body_streamed = false;
  bool timed_out = false;
  bool delivered = false;
  // A server with several targets: this request's place in it (null for a single target), the outcome
  // already recorded, and until when the one retry on another target may start.
  std::shared_ptr<ClusterCall> cluster_call;
  bool recorded = false;
  bool moved = false;
  Clock::time_point retry_deadline = Clock::time_point::max();
};

namespace {

// A call lives in the shard's slab when the client has one: the slab outlives every handler that may still
// hold a call (it is declared before the shard's io_context), the client does not.
std::shared_ptr<Call> make_call(UpstreamClient::Impl& client, std::shared_ptr<const UpstreamTarget> target,
                                UpstreamRequest request, UpstreamClient::Callback callback,
                                std::size_t buffer_limit) {
  if (client.slab != nullptr) {
    return std::allocate_shared<Call>(SlabAllocator<Call>(*client.slab), client, std::move(target),
                                      std::move(request), std::move(callback), buffer_limit);
  }
  return std::make_shared<Call>(client, std::move(target), std::move(request), std::move(callback),
                                buffer_limit);
}

}  // namespace

UpstreamClient::UpstreamClient(asio::io_context& io, Now now, SlabPool* slab)
    : impl_(std::make_unique<Impl>(io, std::move(now), slab)) {}

std::string UpstreamClient::take_head_buffer() {
  return impl_->spare_heads.take();
}

UpstreamClient::~UpstreamClient() = default;

std::weak_ptr<Cancellable> UpstreamClient::send(std::shared_ptr<const UpstreamTarget> target,
                                                UpstreamRequest request, Callback callback,
                                                std::size_t buffer_limit) {
  auto call = make_call(*impl_, std::move(target), std::move(request), std::move(callback), buffer_limit);
  impl_->calls.push_back(call);
  call->start();
  return call;
}

std::optional<std::weak_ptr<Cancellable>> UpstreamClient::send(const std::shared_ptr<const Cluster>& cluster,
                                                               std::string_view hash_key,
                                                               UpstreamRequest request, Callback callback,
                                                               std::size_t buffer_limit) {
  const std::shared_ptr<ClusterShard>& shard = impl_->clusters.shard(cluster);
  if (cluster->max_requests > 0 && shard->total_active() >= cluster->max_requests) {
    cluster->count_breaker_rejection();
    return std::nullopt;
  }
  std::size_t member = shard->pick(hash_key, impl_->now());
  if (member == ClusterShard::kNone) member = 0;
  const auto& target = cluster->member(member).target;
  if (cluster->max_pending > 0) {
    // Only when this call would queue: the calls queued for a connection to any target of the cluster.
    UpstreamPool& pool = impl_->pools.for_target(target);
    if (pool.idle_count() == 0 && pool.open_count() >= target->max_connections) {
      std::size_t waiting = 0;
      for (std::size_t i = 0; i < cluster->size(); ++i)
        waiting += impl_->pools.for_target(cluster->member(i).target).waiting_count();
      if (waiting >= cluster->max_pending) {
        cluster->count_breaker_rejection();
        return std::nullopt;
      }
    }
  }
  replace_host(request.head, cluster->member(0).target->authority, target->authority);
  auto call = make_call(*impl_, target, std::move(request), std::move(callback), buffer_limit);
  call->cluster_call = std::make_shared<ClusterCall>(
      cluster, shard, member, cluster->balance == BalanceKind::kHash ? std::string(hash_key) : std::string());
  impl_->calls.push_back(call);
  call->start();
  return std::weak_ptr<Cancellable>(call);
}

const std::shared_ptr<ClusterShard>& UpstreamClient::cluster_state(
    const std::shared_ptr<const Cluster>& cluster) {
  return impl_->clusters.shard(cluster);
}

void UpstreamClient::for_each_pool(const std::function<void(const PoolState&)>& visit) const {
  impl_->pools.for_each([&](const UpstreamPool& pool) {
    visit({pool.target().get(), pool.open_count(), pool.idle_count(), pool.waiting_count(),
           pool.replay_count()});
  });
}

void UpstreamClient::tick() {
  auto now = impl_->now();
  auto& calls = impl_->calls;
  for (std::size_t i = 0; i < calls.size();) {
    auto call = calls[i].lock();
    if (!call || call->state == Call::State::kDone) {
      calls[i] = std::move(calls.back());
      calls.pop_back();
      continue;
    }
    if (call->deadline <= now) call->on_timeout();
    ++i;
  }
  impl_->pools.expire_idle(now);
  impl_->clusters.tick(*this, now);
}

}  // namespace workgate::http
