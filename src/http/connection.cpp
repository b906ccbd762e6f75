#include "http/connection.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/error.hpp>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <span>
#include <utility>

#include "common/close_socket.hpp"
#include "http/framing.hpp"
#include "http/target.hpp"
#include "http/tls_context.hpp"
#include "observability/log.hpp"

namespace workgate::http {
namespace asio = boost::asio;
namespace beast_http = boost::beast::http;
using boost::system::error_code;

namespace {

constexpr std::size_t kReadChunk = 16 * 1024;
// A streamed request body is read in pieces up to this size: a quarter of the reads, writes and the
// receiver's wake-ups of 16 KiB pieces; the read buffer grows to it only while a body streams.
constexpr std::size_t kStreamReadChunk = 64 * 1024;
// What an idle keep-alive connection reads the next request into (nginx's client_header_buffer_size): a
// typical request head fits; a larger one grows the buffer to kReadChunk pieces. An idle connection gives
// back a buffer grown past this, so that thousands of idle connections hold a kilobyte each, not 16.
constexpr std::size_t kIdleReadChunk = 1024;
constexpr std::chrono::milliseconds kLingerTime{2000};
// How long a closing TLS connection waits for the client's close_notify after sending its own.
constexpr std::chrono::milliseconds kTlsShutdownTime{1000};
// A response body up to this size is sent in the TLS record of its head (one write, one record).
constexpr std::size_t kTlsCoalesceLimit = 16 * 1024;
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

bool has_line_break(std::string_view s) {
  return std::memchr(s.data(), '\r', s.size()) != nullptr ||
         std::memchr(s.data(), '\n', s.size()) != nullptr || std::memchr(s.data(), '\0', s.size()) != nullptr;
}

// "METHOD SP target SP HTTP/d.d CRLF": a well-formed request line whose version we do not speak (505),
// as opposed to a line that is not HTTP at all (400).
bool names_http_version(const asio::const_buffer& data) {
  std::string_view text(static_cast<const char*>(data.data()), data.size());
  auto eol = text.find("\r\n");
  if (eol == std::string_view::npos) return false;
  std::string_view line = text.substr(0, eol);
  auto first = line.find(' ');
  auto last = line.rfind(' ');
  if (first == std::string_view::npos || first == last) return false;
  if (line.substr(first + 1, last - first - 1).find(' ') != std::string_view::npos) return false;
  std::string_view version = line.substr(last + 1);
  return version.size() == 8 && version.starts_with("HTTP/") && version[5] >= '0' && version[5] <= '9' &&
         version[6] == '.' && version[7] >= '0' && version[7] <= '9';
}

bool status_has_body(int status) {
  return status >= 200 && status != 204 && status != 304;
}

bool expects_continue(const Request& request) {
  auto expect = request.headers.get("Expect");
  return expect && iequals(*expect, "100-continue");
}

}  // namespace

void Exchange::respond(Response&& response) {
  if (responded_ || host_ == nullptr) return;
  responded_ = true;
  pending_.reset();
  host_->send_response(*this, std::move(response));
}

std::shared_ptr<Exchange> Exchange::retain() {
  return std::shared_ptr<Exchange>(host_->keep_alive(), this);
}

namespace {

// A streamed request body as its consumer (the upstream client) sees it.
class RequestBodySource final : public BodySource {
 public:
  explicit RequestBodySource(std::shared_ptr<Exchange> exchange) : exchange_(std::move(exchange)) {}
  std::optional<std::uint64_t> length() const override {
    return exchange_ ? exchange_->request().content_length : std::nullopt;
  }
  void pull(Handler handler) override {
    if (!exchange_) {
      handler(asio::error::operation_aborted, {}, true);
      return;
    }
    exchange_->read_body(std::move(handler));
  }
  void cancel() override { exchange_.reset(); }

 private:
  std::shared_ptr<Exchange> exchange_;
};

}  // namespace

std::optional<ProtocolError> body_read_error(const error_code& ec) {
  if (ec == beast_http::error::body_limit) return ProtocolError::kPayloadTooLarge;
  if (ec == asio::error::timed_out) return ProtocolError::kRequestTimeout;
  if (ec.category() == error_code(beast_http::error::need_more).category()) return ProtocolError::kBadRequest;
  return std::nullopt;
}

std::shared_ptr<BodySource> Exchange::body_source() {
  return std::make_shared<RequestBodySource>(retain());
}

void Exchange::read_body(BodyChunkHandler handler) {
  host_->read_body(*this, std::move(handler));
}

bool Exchange::body_complete() const {
  return host_->body_complete();
}

void Exchange::continue_body() {
  continue_requested_ = true;
  if (host_ != nullptr) host_->continue_body();
}

void Connection::read_body(Exchange&, BodyChunkHandler handler) {
  if (body_done_ || phase_ == Phase::kClosed) {
    handler(body_done_ ? error_code() : asio::error::connection_aborted, {}, true);
    return;
  }
  serving_->body_handler = std::move(handler);
  const Request& request = exchange_->request_;
  if (!continue_sent_ && serving_->buffer.size() == 0 && request.version >= 11 && expects_continue(request)) {
    continue_sent_ = true;
    async_write(asio::buffer(kContinue.data(), kContinue.size()),
                [self = shared_from_this()](const error_code& ec, std::size_t) {
                  if (ec) {
                    self->deliver_body(ec, {}, false);
                  } else {
                    self->pump_request_body();
                  }
                });
    return;
  }
  pump_request_body();
}

Connection::Connection(Shard& shard, asio::ip::tcp::socket socket, std::uint16_t listener,
                       std::shared_ptr<const TlsContext> tls, bool h2c)
    : shard_(shard),
      socket_(std::move(socket)),
      tls_context_(std::move(tls)),
      listener_(listener),
      h2c_allowed_(h2c && tls_context_ == nullptr) {
  error_code ec;
  socket_.set_option(asio::ip::tcp::no_delay(true), ec);
  auto peer = socket_.remote_endpoint(ec);
  if (!ec) client_address_ = peer.address().to_string();
  acquire_exchange();
  shard_.add(this);
}

Connection::~Connection() {
  if (h2_) shard_.count_http2_connection(false);
  shard_.remove(this);
}

Connection::SpareServings& Connection::spare_servings() {
  thread_local SpareServings spares;  // the shard's: one event loop per thread
  return spares;
}

std::unique_ptr<Connection::Serving> Connection::take_serving() {
  std::unique_ptr<Serving> serving = spare_servings().take();
  return serving ? std::move(serving) : std::make_unique<Serving>();
}

// Emptied first (its buffers go back to malloc); kept as long as a burst of parked connections waking at
// once would take them again, freed beyond.
void Connection::give_back(std::unique_ptr<Serving> serving) {
  auto& spares = spare_servings();
  if (spares.full()) return;
  serving->buffer = boost::beast::flat_buffer();
  serving->parser.reset();
  serving->response = Response();
  std::string().swap(serving->head);
  serving->body_handler = nullptr;
  serving->source.reset();
  std::string().swap(serving->tls_scratch);
  spares.keep(serving);
}

void Connection::acquire_exchange() {
  if (exchange_) return;
  serving_ = take_serving();
  exchange_ = shard_.handler().create_exchange();
  exchange_->host_ = this;
  exchange_->request_.listener = listener_;
  exchange_->request_.tls = tls_context_ != nullptr;
  exchange_->request_.client_address = client_address_;
}

void Connection::start() {
  limits_ = &shard_.handler().limits();
  if (tls_context_) {
    start_tls();
    return;
  }
  begin_reading();
}

// The read buffer's limit outside a streamed body: a whole head and one more read's worth.
std::size_t Connection::read_limit() const {
  return limits_->max_header_bytes + kReadChunk;
}

void Connection::begin_reading() {
  serving_->buffer = boost::beast::flat_buffer(read_limit());
  set_deadline(limits_->header_timeout);
  phase_ = Phase::kIdle;
  read_more();
}

// The handshake has handshake_timeout to complete (the shard's sweep closes a connection that stalls in
// it); what the client sends meanwhile is bounded by OpenSSL's own record and message limits.
void Connection::start_tls() {
  phase_ = Phase::kHandshake;
  set_deadline(limits_->handshake_timeout);
  tls_ = std::make_unique<TlsStream>(socket_, tls_context_->initial());
  tls_->async_handshake(asio::ssl::stream_base::server,
                        [self = shared_from_this()](const error_code& ec) { self->on_handshake(ec); });
}

void Connection::on_handshake(const error_code& ec) {
  if (phase_ != Phase::kHandshake) return;  // closed meanwhile (timeout, drain)
  if (ec) {
    observability::log_debug("TLS handshake with {} failed: {}", exchange_->request_.client_address,
                             ec.message());
    close();
    return;
  }
  // The protocol ALPN chose picks what speaks on the stream ("h2" is offered only by listeners with
  // HTTP/2 on; no ALPN at all means HTTP/1.1).
  limits_ = &shard_.handler().limits();
  const unsigned char* protocol = nullptr;
  unsigned int length = 0;
  SSL_get0_alpn_selected(tls_->native_handle(), &protocol, &length);
  if (length == 2 && std::memcmp(protocol, "h2", 2) == 0) {
    serving_->buffer = boost::beast::flat_buffer(read_limit());
    start_http2();
    return;
  }
  begin_reading();
}

void Connection::start_http2() {
  phase_ = Phase::kHttp2;
  serving_->parser.reset();
  Http2Transport& transport = *this;
  h2_ = std::make_unique<Http2Session>(shard_, transport, exchange_->request_);
  shard_.count_http2_connection(true);
  if (!h2_->start()) {
    close();
    return;
  }
  if (serving_->buffer.size() > 0) {
    auto data = serving_->buffer.data();
    bool ok = h2_->receive(static_cast<const char*>(data.data()), data.size());
    serving_->buffer.consume(serving_->buffer.size());
    if (phase_ == Phase::kClosed) return;
    if (!ok) {
      flush_http2();
      return;
    }
  }
  flush_http2();
  read_http2();
}

void Connection::read_http2() {
  if (phase_ != Phase::kHttp2 || h2_reading_ || !h2_->wants_read()) return;
  h2_reading_ = true;
  async_read_some(serving_->buffer.prepare(kReadChunk),
                  [self = shared_from_this()](const error_code& ec, std::size_t n) {
                    self->h2_reading_ = false;
                    if (self->phase_ != Phase::kHttp2) return;
                    if (ec) {
                      self->close();
                      return;
                    }
                    self->serving_->buffer.commit(n);
                    auto data = self->serving_->buffer.data();
                    bool ok = self->h2_->receive(static_cast<const char*>(data.data()), data.size());
                    self->serving_->buffer.consume(self->serving_->buffer.size());
                    if (self->phase_ != Phase::kHttp2) return;
                    self->flush_http2();
                    if (ok) self->read_http2();
                  });
}

// Writes what the session has to send, one write at a time (a bounded buffer: a client that does not
// read stops the session from producing, and so the streams' bodies from being pulled).
void Connection::flush_http2() {
  if (phase_ != Phase::kHttp2 || h2_writing_) return;
  constexpr std::size_t kWriteLimit = 64 * 1024;
  h2_out_.clear();
  if (!h2_->produce(h2_out_, kWriteLimit)) {
    close();
    return;
  }
  if (h2_out_.empty()) {
    if (h2_->finished()) {
      if (tls_ && !h2_reading_) {
        shutdown_tls();
      } else {
        if (!tls_) {
          error_code ignored;
          socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
        }
        close();
      }
      return;
    }
    update_http2_deadline();
    return;
  }
  h2_writing_ = true;
  set_deadline(limits_->write_timeout);
  h2_idle_armed_ = false;
  async_write(asio::buffer(h2_out_.data(), h2_out_.size()),
              [self = shared_from_this()](const error_code& ec, std::size_t) {
                self->h2_writing_ = false;
                if (self->phase_ != Phase::kHttp2) return;
                if (ec) {
                  self->close();
                  return;
                }
                self->flush_http2();
                self->read_http2();
              });
}

// Between writes: a connection without streams has idle_timeout to open one; with streams, their own
// deadlines (body_timeout, the pipeline's timeouts) apply.
void Connection::update_http2_deadline() {
  if (h2_writing_) return;
  if (h2_->open_streams() == 0) {
    if (!h2_idle_armed_) {
      set_deadline(limits_->idle_timeout);
      h2_idle_armed_ = true;
    }
  } else {
    clear_deadline();
    h2_idle_armed_ = false;
  }
}

void Connection::set_deadline(std::chrono::milliseconds timeout) {
  deadline_ = shard_.now() + timeout;
}

// The pace of a request body is a leaky bucket of time credit: it starts at body_timeout, each wait for
// the client spends it, each byte received earns 1/min_body_rate seconds back, and it never holds more
// than body_timeout. The next read must complete before the credit runs out (and within body_timeout).
// So over any stretch the body must average min_body_rate with body_timeout of slack: a body drip-fed a
// byte at a time cannot hold a connection for ever, even after a fast start. Only time spent waiting for
// the client counts: a pause the gateway imposes (backpressure from a slow upstream) is not charged.
void Connection::arm_body_deadline() {
  auto now = shard_.now();
  serving_->body_read_started = now;
  Shard::Clock::duration allowed = limits_->body_timeout;
  if (limits_->min_body_rate > 0)
    allowed = std::clamp(serving_->body_credit, Shard::Clock::duration::zero(), allowed);
  deadline_ = now + allowed;
}

void Connection::account_body_read(std::size_t bytes) {
  if (limits_->min_body_rate == 0) return;
  auto earned = std::chrono::milliseconds(std::min<std::uint64_t>(bytes, limits_->max_body_bytes) * 1000 /
                                          limits_->min_body_rate);
  serving_->body_credit += earned - (shard_.now() - serving_->body_read_started);
  serving_->body_credit = std::min<Shard::Clock::duration>(serving_->body_credit, limits_->body_timeout);
}

void Connection::read_more() {
  std::size_t room = serving_->buffer.max_size() - serving_->buffer.size();
  if (room == 0) {
    fail(ProtocolError::kHeadersTooLarge);
    return;
  }
  if (phase_ == Phase::kBody) arm_body_deadline();
  // Waiting for the next request (nothing of it buffered): the client sends it after our response.
  bool next_request = phase_ == Phase::kIdle && serving_->buffer.size() == 0;
  auto space = serving_->buffer.prepare(std::min(room, next_request ? kIdleReadChunk : kReadChunk));
  async_read_some(
      space, [self = shared_from_this()](const error_code& ec, std::size_t n) { self->on_read(ec, n); },
      next_request ? ReadStart::kNextMessage : ReadStart::kMore);
}

void Connection::on_read(const error_code& ec, std::size_t bytes) {
  if (phase_ == Phase::kClosed) return;
  if (parking_) {
    parking_ = false;
    if (ec == asio::error::operation_aborted) return park();
  }
  if (phase_ == Phase::kLingering) {
    if (ec) {
      close();
    } else {
      serving_->buffer.consume(serving_->buffer.size());
      linger();
    }
    return;
  }
  if (ec) {
    if (timed_out_ && (phase_ == Phase::kHeader || phase_ == Phase::kBody)) {
      timed_out_ = false;
      fail(ProtocolError::kRequestTimeout);
    } else {
      close();
    }
    return;
  }
  serving_->buffer.commit(bytes);
  if (h2c_allowed_ && phase_ == Phase::kIdle) {
    // The first bytes of a connection on an HTTP/2 plain listener: the preface means h2c.
    auto data = serving_->buffer.data();
    std::string_view seen(static_cast<const char*>(data.data()), data.size());
    std::string_view preface = Http2Session::kPreface;
    if (preface.starts_with(seen.substr(0, preface.size()))) {
      if (seen.size() < preface.size()) {
        read_more();
        return;
      }
      h2c_allowed_ = false;
      start_http2();
      return;
    }
    h2c_allowed_ = false;
  }
  if (phase_ == Phase::kIdle) begin_request();
  if (phase_ == Phase::kBody) account_body_read(bytes);
  parse();
}

void Connection::begin_request() {
  idle_swept_ = false;
  handler_swept_ = false;
  exchange_->reset();
  exchange_->request_.clear();
  exchange_->responded_ = false;
  exchange_->continue_requested_ = false;
  limits_ = &shard_.handler().limits();
  serving_->parser.emplace(exchange_->request_, limits_->max_headers);
  serving_->parser->header_limit(static_cast<std::uint32_t>(limits_->max_header_bytes));
  serving_->parser->body_limit(boost::none);  // set in on_head_complete once the body mode is known
  serving_->parser->eager(false);
  phase_ = Phase::kHeader;
  continue_sent_ = false;
  awaiting_continue_ = false;
  set_deadline(limits_->header_timeout);
}

void Connection::parse() {
  error_code ec;
  if (phase_ == Phase::kHeader) {
    std::size_t used = serving_->parser->put(serving_->buffer.data(), ec);
    serving_->buffer.consume(used);
    if (ec == beast_http::error::need_more) {
      read_more();
      return;
    }
    if (ec) {
      if (serving_->parser->framing_error() == FramingError::kNotImplemented) {
        fail(ProtocolError::kNotImplemented);
      } else if (serving_->parser->framing_error() == FramingError::kBadRequest) {
        fail(ProtocolError::kBadRequest);
      } else if (ec == beast_http::error::header_limit) {
        fail(ProtocolError::kHeadersTooLarge);
      } else if (ec == beast_http::error::body_limit) {
        fail(ProtocolError::kPayloadTooLarge);
      } else if (ec == beast_http::error::bad_version && names_http_version(serving_->buffer.data())) {
        fail(ProtocolError::kVersionNotSupported);
      } else {
        fail(ProtocolError::kBadRequest);
      }
      return;
    }
    on_head_complete();
    return;
  }
  // Phase::kBody
  if ((ec = feed(*serving_->parser, serving_->buffer))) {
    fail(ec == beast_http::error::body_limit ? ProtocolError::kPayloadTooLarge : ProtocolError::kBadRequest);
    return;
  }
  if (!serving_->parser->is_done()) {
    read_more();
    return;
  }
  dispatch();
}

void Connection::on_head_complete() {
  Request& request = exchange_->request_;
  if (!split_target(request.target, request.path, request.query, request.has_query) ||
      (request.version >= 11 && !request.headers.contains("Host"))) {
    fail(ProtocolError::kBadRequest);
    return;
  }
  request.keep_alive = serving_->parser->keep_alive();
  request.chunked = serving_->parser->chunked();
  // A chunked HTTP/1.0 request: whoever sent it may frame the rest of the connection differently.
  if (request.version < 11 && serving_->parser->has_transfer_encoding()) request.keep_alive = false;
  if (auto length = serving_->parser->content_length()) request.content_length = *length;
  stream_mode_ = false;
  body_done_ = true;
  if (serving_->parser->is_done()) {
    dispatch();
    return;
  }
  // Every body, buffered or streamed, is bounded by max_body_bytes: a declared length above it is refused
  // before a byte of it is read or forwarded; a chunked body fails when it grows past it.
  if (request.content_length.value_or(0) > limits_->max_body_bytes) {
    fail(ProtocolError::kPayloadTooLarge);
    return;
  }
  serving_->parser->body_limit(limits_->max_body_bytes);
  serving_->parser->eager(true);
  serving_->body_credit = limits_->body_timeout;
  if (shard_.handler().body_mode(*exchange_) == BodyMode::kStream) {
    stream_mode_ = true;
    body_done_ = false;
    serving_->buffer.max_size(
        std::max(serving_->buffer.max_size(), limits_->max_header_bytes + kStreamReadChunk));
    dispatch();
    return;
  }
  phase_ = Phase::kBody;
  arm_body_deadline();
  if (serving_->buffer.size() == 0 && !continue_sent_ && request.version >= 11 && expects_continue(request)) {
    BodyWait wait = shard_.handler().before_body(*exchange_);
    if (exchange_->responded_) return;  // answered without the body (e.g. 401): it is never read
    if (wait == BodyWait::kWait && !exchange_->continue_requested_) {
      // Asynchronous head work (e.g. a rate-limit decision): the client's upload waits for its answer.
      awaiting_continue_ = true;
      clear_deadline();
      return;
    }
    send_continue_then_read_body();
    return;
  }
  parse();
}

void Connection::send_continue_then_read_body() {
  continue_sent_ = true;
  async_write(asio::buffer(kContinue.data(), kContinue.size()),
              [self = shared_from_this()](const error_code& ec, std::size_t) {
                if (self->phase_ == Phase::kClosed) return;
                if (ec) {
                  self->close();
                } else {
                  self->parse();
                }
              });
}

void Connection::continue_body() {
  if (!awaiting_continue_ || phase_ != Phase::kBody || exchange_->responded_) return;
  awaiting_continue_ = false;
  arm_body_deadline();
  send_continue_then_read_body();
}

void Connection::pump_request_body() {
  Request& request = exchange_->request_;
  request.body.clear();
  if (serving_->buffer.size() > 0) {
    if (error_code ec = feed(*serving_->parser, serving_->buffer)) {
      deliver_body(ec, {}, false);
      return;
    }
    if (serving_->parser->is_done()) {
      body_done_ = true;
      deliver_body({}, request.body, true);
      return;
    }
    if (!request.body.empty()) {
      deliver_body({}, request.body, false);
      return;
    }
  }
  std::size_t room = serving_->buffer.max_size() - serving_->buffer.size();
  if (room == 0) {
    deliver_body(beast_http::error::buffer_overflow, {}, false);
    return;
  }
  reading_stream_ = true;
  arm_body_deadline();
  async_read_some(serving_->buffer.prepare(std::min(room, kStreamReadChunk)),
                  [self = shared_from_this()](const error_code& ec, std::size_t n) {
                    self->reading_stream_ = false;
                    if (self->phase_ == Phase::kClosed) {
                      self->deliver_body(asio::error::connection_aborted, {}, false);
                      return;
                    }
                    if (ec) {
                      self->deliver_body(self->timed_out_ ? asio::error::timed_out : ec, {}, false);
                      return;
                    }
                    self->account_body_read(n);
                    self->serving_->buffer.commit(n);
                    self->pump_request_body();
                  });
}

void Connection::deliver_body(const error_code& ec, std::string_view chunk, bool last) {
  if (phase_ == Phase::kHandling) clear_deadline();
  if (!serving_ || !serving_->body_handler) return;
  BodyChunkHandler handler = std::move(serving_->body_handler);
  serving_->body_handler = nullptr;
  handler(ec, chunk, last);
}

void Connection::dispatch() {
  phase_ = Phase::kHandling;
  clear_deadline();
  shard_.handler().handle(*exchange_);
}

// While a request is handled asynchronously nothing reads the client socket, so a client that goes away
// would go unnoticed until the response is written. A request that has waited through a whole sweep
// interval (two sweeps in a row saw it waiting: 100-200 ms after it was read) has the readiness of its
// socket watched: end of stream or a reset means the client left, and the connection closes, which
// cancels the request's pending work (the upstream call, its place in a pool queue). Bytes mean the
// client pipelined its next request: it is read after the response, and the watch ends. Not for quick
// requests: the watch is an epoll_ctl (Asio re-arms the descriptor for a wait), and under load nearly
// every connection has a request in flight at any instant (a watch at the first sweep that saw one cost
// ~60 epoll_ctl per sweep at 40,000 proxied requests/s over 64 connections).
void Connection::on_sweep() {
  if (phase_ == Phase::kHttp2) {
    h2_->on_sweep(shard_.now());
    flush_http2();
    return;
  }
  if (waits_for_handler()) {
    if (handler_swept_) watch_client();
    handler_swept_ = true;
  }
  if (phase_ == Phase::kIdle) {
    if (idle_swept_) release_idle_memory();
    idle_swept_ = !idle_swept_;  // every other sweep: what a request grows in between is given back
  }
}

// Idle with no read pending: the read buffer goes, and so does the exchange when nothing else holds the
// connection (every Exchange::retain(), a body source, pending work, holds it: then the exchange stays),
// back to the handler's spares; readability brings the connection back to reading.
void Connection::park() {
  serving_->buffer = boost::beast::flat_buffer(serving_->buffer.max_size());
  waiting_idle_ = true;
  if (exchange_ && weak_from_this().use_count() == 1) {  // 1: the cancelled read's handler, our caller
    exchange_->host_ = nullptr;
    shard_.handler().return_exchange(std::move(exchange_));  // leaves exchange_ null
    give_back(std::move(serving_));
    shard_.count_parked();
  }
  // The wait's operation lives as long as the idle connection: from the shard's slab, beside it.
  auto on_readable = [self = shared_from_this()](const error_code& ec) {
    self->waiting_idle_ = false;
    if (self->phase_ == Phase::kClosed) return;
    if (ec) return self->close();
    if (!self->serving_) {
      // The config may have been replaced meanwhile: the buffer gets the current limit.
      self->acquire_exchange();
      self->limits_ = &self->shard_.handler().limits();
      self->serving_->buffer = boost::beast::flat_buffer(self->read_limit());
    }
    self->read_more();
  };
  socket_.async_wait(asio::ip::tcp::socket::wait_read,
                     asio::bind_allocator(SlabAllocator<void>(shard_.slab()), std::move(on_readable)));
}

// A connection idle since the last sweep: the response head's buffer and what the exchange kept of the
// last request and response go back to malloc (an idle keep-alive connection then holds little more than
// its objects and its read buffer).
void Connection::release_idle_memory() {
  if (!serving_) return;  // parked: nothing left to give back
  if (serving_->head.capacity() > 0) std::string().swap(serving_->head);
  // The pending read holds the read buffer: it is cancelled (no syscall) and the connection waits for
  // readability instead (park). Only here, for a connection idle through two sweeps: asio's wait costs an
  // epoll_ctl, which a busy connection should not pay per request.
  if (!tls_ && !parking_ && !waiting_idle_ && serving_->buffer.size() == 0) {
    parking_ = true;
    error_code ignored;
    socket_.cancel(ignored);
  }
  exchange_->release_memory();  // present: serving_ and exchange_ go and come back together
}

// The request is complete (or its body waits for the handler's "continue") and not answered yet.
bool Connection::waits_for_handler() const {
  if (!exchange_ || exchange_->responded_) return false;
  return (phase_ == Phase::kHandling && body_done_) || (phase_ == Phase::kBody && awaiting_continue_);
}

void Connection::watch_client() {
  if (watching_client_) return;
  watching_client_ = true;
  socket_.async_wait(asio::ip::tcp::socket::wait_read, [self = shared_from_this()](const error_code& ec) {
    self->watching_client_ = false;
    if (ec || !self->waits_for_handler()) return;
    char byte;
    ssize_t n = ::recv(self->socket_.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
      self->close();
    } else if (n < 0) {
      self->watch_client();  // spurious readiness
    }
  });
}

void Connection::fail(ProtocolError error) {
  serving_->parser.reset();
  Response response = shard_.handler().protocol_error(error, *exchange_);
  response.close = true;
  linger_after_write_ = true;
  exchange_->responded_ = true;
  send(std::move(response));
}

// Flattened: every append of a literal inlined, whatever else the translation unit holds (the TLS
// paths made GCC call std::string::append out of line here: +50 instructions per plain request).
[[gnu::flatten]] void Connection::serialize_head(const Response& response,
                                                 std::optional<std::uint64_t> length, bool chunked) {
  serving_->head.clear();
  if (serving_->head.capacity() < 1024)
    serving_->head.reserve(1024);  // given back while idle (release_idle_memory)
  char digits[24];
  serving_->head.append("HTTP/1.1 ");
  int status = response.status >= 100 && response.status <= 999 ? response.status : 500;
  auto r = std::to_chars(digits, digits + sizeof(digits), status);
  serving_->head.append(digits, r.ptr);
  serving_->head.push_back(' ');
  serving_->head.append(reason_phrase(status));
  serving_->head.append("\r\n");
  if (!response.content_type.empty() && !has_line_break(response.content_type)) {
    serving_->head.append("Content-Type: ").append(response.content_type).append("\r\n");
  }
  response.headers.for_each([&](const HeaderList::Field& f) {
    if (f.name.empty() || has_line_break(f.name) || has_line_break(f.value)) return;
    serving_->head.append(f.name).append(": ").append(f.value).append("\r\n");
  });
  serving_->head.append(response.fixed_lines);
  if (status_has_body(status) && !response.keep_content_length) {
    if (chunked) {
      serving_->head.append("Transfer-Encoding: chunked\r\n");
    } else if (length) {
      r = std::to_chars(digits, digits + sizeof(digits), *length);
      serving_->head.append("Content-Length: ").append(digits, r.ptr).append("\r\n");
    }
  }
  if (response.headers.empty() || !response.headers.contains("Date")) {
    serving_->head.append("Date: ").append(shard_.http_date()).append("\r\n");
  }
  if (close_after_write_) {
    serving_->head.append("Connection: close\r\n");
  } else if (exchange_->request_.version == 10) {
    serving_->head.append("Connection: keep-alive\r\n");
  }
  serving_->head.append("\r\n");
}

void Connection::send(Response&& response) {
  if (phase_ == Phase::kClosed) return;
  serving_->response = std::move(response);
  const Request& request = exchange_->request_;
  bool body_unread = phase_ == Phase::kHeader || phase_ == Phase::kBody || (stream_mode_ && !body_done_);
  close_after_write_ = serving_->response.close || !request.keep_alive || shard_.draining() || body_unread;
  // The client may still be sending the body: read and drop it for a moment after the response so that
  // closing does not reset the connection before the client has read the response (a 413, say).
  if (body_unread) linger_after_write_ = true;
  if (serving_->response.upgraded && send_upgrade()) return;
  bool send_body = !request.is_head() && status_has_body(serving_->response.status);
  if (serving_->response.body_source) {
    auto length = serving_->response.body_source->length();
    if (send_body) {
      serving_->source = std::move(serving_->response.body_source);
      chunked_out_ = !length && request.version >= 11;
      if (!length && !chunked_out_) close_after_write_ = true;  // HTTP/1.0: the body ends with the connection
    } else {
      serving_->response.body_source->cancel();
      serving_->response.body_source.reset();
    }
    serialize_head(serving_->response, length, chunked_out_);
  } else {
    serialize_head(serving_->response, serving_->response.body().size(), false);
  }
  phase_ = Phase::kWriting;
  set_deadline(limits_->write_timeout);
  if (serving_->source) {
    body_bytes_sent_ = 0;
    if (!tls_ && serving_->source->ready()) {
      // The first piece is at hand: head and piece go out in one write. (A source that would wait, such
      // as an event stream, gets its head sent first so that the client sees it at once.)
      head_pending_ = true;
      pump_response();
      return;
    }
    async_write(asio::buffer(serving_->head.data(), serving_->head.size()),
                [self = shared_from_this()](const error_code& ec, std::size_t) {
                  if (ec) {
                    self->close();
                    self->on_written(ec);
                    return;
                  }
                  self->pump_response();
                });
    return;
  }
  std::string_view body = send_body ? serving_->response.body() : std::string_view();
  body_bytes_sent_ = body.size();
  if (tls_ && body.size() <= kTlsCoalesceLimit) {
    // A TLS stream writes one buffer per record: head and a small body go out as one.
    // (resize + memcpy rather than another std::string::append call site: more of those and GCC stops
    // inlining append into serialize_head, measurably, on the plain path too.)
    std::size_t at = serving_->head.size();
    serving_->head.resize(at + body.size());
    if (!body.empty()) std::memcpy(serving_->head.data() + at, body.data(), body.size());
    body = {};
  }
  std::array<asio::const_buffer, 2> buffers{asio::buffer(serving_->head.data(), serving_->head.size()),
                                            asio::buffer(body.data(), body.size())};
  async_write(buffers,
              [self = shared_from_this()](const error_code& ec, std::size_t) { self->on_written(ec); });
}

void Connection::pump_response() {
  if (phase_ == Phase::kClosed || !serving_->source) return;
  clear_deadline();
  serving_->source->pull([self = shared_from_this()](const error_code& ec, std::string_view data, bool last) {
    if (self->phase_ == Phase::kClosed) return;
    if (ec) {
      // The producer failed mid-body: closing is the only honest way to tell the client.
      self->close();
      self->on_written(ec);
      return;
    }
    if (data.empty() && !last) {
      self->pump_response();
      return;
    }
    self->body_bytes_sent_ += data.size();
    // The buffer sequence must outlive the asynchronous write (a partial write goes on from it later).
    Serving::WriteBuffers& buffers = self->serving_->write_buffers;
    std::size_t count = 0;
    if (self->head_pending_) {
      self->head_pending_ = false;
      buffers[count++] = asio::buffer(self->serving_->head.data(), self->serving_->head.size());
    }
    if (self->chunked_out_) {
      ChunkFramer::Buffers framed;
      std::size_t framed_count = self->serving_->chunk_framer.frame(data, last, framed);
      for (std::size_t i = 0; i < framed_count; ++i)
        buffers[count++] = framed[i];
    } else if (!data.empty()) {
      buffers[count++] = asio::buffer(data.data(), data.size());
    }
    if (self->tls_ && count > 1) {
      // A TLS stream writes one buffer per record (and per send): chunk framing and data go as one.
      std::string& joined = self->serving_->tls_scratch;
      std::size_t total = 0;
      for (std::size_t i = 0; i < count; ++i)
        total += buffers[i].size();
      joined.resize(total);
      for (std::size_t i = 0, at = 0; i < count; at += buffers[i].size(), ++i)
        if (buffers[i].size() != 0) std::memcpy(joined.data() + at, buffers[i].data(), buffers[i].size());
      buffers[0] = asio::buffer(joined.data(), joined.size());
      count = 1;
    }
    self->set_deadline(self->limits_->write_timeout);
    self->async_write(std::span(buffers.data(), count),
                      [self, last](const error_code& write_ec, std::size_t) {
                        if (write_ec) {
                          self->close();
                          self->on_written(write_ec);
                          return;
                        }
                        if (last) {
                          self->serving_->source.reset();
                          self->on_written({});
                        } else {
                          self->pump_response();
                        }
                      });
  });
}

void Connection::on_written(const error_code& ec) {
  shard_.handler().on_complete(*exchange_, serving_->response.status, body_bytes_sent_);
  if (phase_ == Phase::kClosed) return;
  if (ec) {
    close();
    return;
  }
  if (close_after_write_) {
    if (linger_after_write_) {
      linger();
    } else if (tls_) {
      shutdown_tls();
    } else {
      error_code ignored;
      socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
      close();
    }
    return;
  }
  serving_->parser.reset();
  phase_ = Phase::kIdle;
  exchange_->recycle(std::move(serving_->response));
  // A streamed body grew the buffer's limit; the next head gets the usual one (kept while the bytes the
  // client already pipelined exceed it).
  std::size_t usual = read_limit();
  if (serving_->buffer.max_size() > usual && serving_->buffer.size() <= usual)
    serving_->buffer.max_size(usual);
  if (serving_->buffer.size() > 0) {
    begin_request();
    parse();
  } else {
    if (serving_->buffer.capacity() > kIdleReadChunk)
      serving_->buffer = boost::beast::flat_buffer(serving_->buffer.max_size());
    set_deadline(limits_->idle_timeout);
    read_more();
  }
}

// After an error response, read and discard what the client still sends for a moment so that closing
// does not reset the connection before the client has read the response.
// Over TLS the records are read and dropped the same way (no TCP half-close, which would cut the TLS
// session without its close_notify): the client reads the response meanwhile, then closes.
void Connection::linger() {
  if (phase_ != Phase::kLingering) {
    if (!tls_) {
      error_code ignored;
      socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
    }
    phase_ = Phase::kLingering;
    set_deadline(kLingerTime);
    serving_->buffer.consume(serving_->buffer.size());
  }
  auto space = serving_->buffer.prepare(std::min(serving_->buffer.max_size(), kReadChunk));
  async_read_some(space,
                  [self = shared_from_this()](const error_code& ec, std::size_t n) { self->on_read(ec, n); });
}

// A TLS connection that ends after its response sends close_notify and waits a moment for the client's
// (kTlsShutdownTime, enforced by the shard's sweep like every deadline), then closes.
void Connection::shutdown_tls() {
  phase_ = Phase::kShutdown;
  set_deadline(kTlsShutdownTime);
  tls_->async_shutdown([self = shared_from_this()](const error_code&) { self->close(); });
}

void Connection::on_deadline() {
  switch (phase_) {
    case Phase::kHttp2:
      if (h2_writing_ || h2_->finished()) {
        close();  // a client that does not read what we write
      } else {
        // Idle: GOAWAY, then close once it is written (or at the write deadline).
        clear_deadline();
        h2_->go_away();
        flush_http2();
      }
      break;
    case Phase::kHeader:
    case Phase::kBody: {
      timed_out_ = true;
      clear_deadline();
      error_code ignored;
      socket_.cancel(ignored);
      break;
    }
    case Phase::kTunnel:
      on_tunnel_deadline();
      break;
    case Phase::kHandling:
      clear_deadline();
      if (reading_stream_) {
        timed_out_ = true;
        error_code ignored;
        socket_.cancel(ignored);
      }
      break;
    default:
      close();
      break;
  }
}

void Connection::on_drain() {
  if (phase_ == Phase::kHttp2) {
    h2_->go_away();  // the open streams finish; new ones are refused
    flush_http2();
  } else if (phase_ == Phase::kHandshake || phase_ == Phase::kTunnel) {
    close();  // no request yet: like an idle connection (a tunnel has no end to wait for)
  } else if (phase_ == Phase::kIdle) {
    // A request that has already arrived but was not read yet is still answered (with Connection: close).
    error_code ec;
    if (socket_.available(ec) == 0 || ec) close();
  } else {
    close_after_write_ = true;
  }
}

void Connection::close() {
  if (phase_ == Phase::kClosed) return;
  auto keep = weak_from_this().lock();  // cancelling the pending work may release the last other owner
  phase_ = Phase::kClosed;
  clear_deadline();
  close_socket(socket_);
  if (tunnel_) std::exchange(tunnel_, nullptr)->cancel();
  // Everything the request started stops with the connection.
  if (exchange_) {
    if (auto work = exchange_->pending_.lock()) work->cancel();
    exchange_->pending_.reset();
  }
  if (serving_ && serving_->source) {
    serving_->source->cancel();
    serving_->source.reset();
  }
  deliver_body(asio::error::connection_aborted, {}, false);
  if (h2_) h2_->close_streams();
}

}  // namespace workgate::http
