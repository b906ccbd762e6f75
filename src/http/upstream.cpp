#include "http/upstream.hpp"

#include <openssl/ssl.h>

#include <array>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <charconv>
#include <deque>
#include <span>

#include "observability/log.hpp"

namespace workgate::http {
namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast_http = boost::beast::http;
using boost::system::error_code;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t kReadChunk = 16 * 1024;
constexpr std::size_t kMaxResponseHead = 64 * 1024;
constexpr std::chrono::seconds kDnsTtl{30};

bool is_ip_literal(const std::string& host) {
  error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

class ResponseParser final : public beast_http::basic_parser<false> {
 public:
  ResponseParser(UpstreamResponse& response, std::string& body) : response_(response), body_(body) {}

 private:
  using string_view = boost::beast::string_view;
  void on_request_impl(beast_http::verb, string_view, string_view, int, error_code&) override {}
  void on_response_impl(int code, string_view, int, error_code&) override {
    response_.status = code;
    response_.headers.clear();
  }
  void on_field_impl(beast_http::field, string_view name, string_view value, error_code&) override {
    if (in_trailers_) return;  // chunked trailer fields are not response headers (nor forwarded)
    response_.headers.add(std::string_view(name.data(), name.size()),
                          std::string_view(value.data(), value.size()));
  }
  void on_header_impl(error_code&) override { in_trailers_ = true; }
  void on_body_init_impl(boost::optional<std::uint64_t> const&, error_code&) override {}
  std::size_t on_body_impl(string_view body, error_code&) override {
    body_.append(body.data(), body.size());
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t, string_view, error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, string_view body, error_code&) override {
    body_.append(body.data(), body.size());
    return body.size();
  }
  void on_finish_impl(error_code&) override {}

  UpstreamResponse& response_;
  std::string& body_;
  bool in_trailers_ = false;
};

// "localhost" and names under ".localhost" are loopback by definition (RFC 6761 §6.3): answered without
// asking a resolver, so they work on a machine without /etc/hosts and cannot be redirected by DNS.
bool is_localhost_name(std::string_view host) {
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  constexpr std::string_view kName = "localhost";
  if (host.size() < kName.size() || !iequals(host.substr(host.size() - kName.size()), kName)) return false;
  return host.size() == kName.size() || host[host.size() - kName.size() - 1] == '.';
}

// Why a streamed client body failed, as the proxy reports it.
UpstreamError request_body_error(const error_code& ec) {
  if (ec == beast_http::error::body_limit) return UpstreamError::kRequestBodyTooLarge;
  if (ec == asio::error::timed_out) return UpstreamError::kRequestBodyTimeout;
  if (ec.category() == error_code(beast_http::error::need_more).category())
    return UpstreamError::kRequestBodyInvalid;
  return UpstreamError::kClientGone;
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

struct Pool;
struct Call;

// One connection to an upstream, plain or TLS.
struct Conn : std::enable_shared_from_this<Conn> {
  Conn(asio::io_context& io, const UpstreamTarget& target) : buffer(kMaxResponseHead + kReadChunk) {
    if (target.tls) {
      tls = std::make_unique<ssl::stream<tcp::socket>>(io, *target.tls_context);
    } else {
      plain = std::make_unique<tcp::socket>(io);
    }
  }
  tcp::socket& socket() { return tls ? tls->next_layer() : *plain; }

  template <typename Buffers, typename Handler>
  void write(const Buffers& buffers, Handler&& handler) {
    if (tls) {
      asio::async_write(*tls, buffers, std::forward<Handler>(handler));
    } else {
      asio::async_write(*plain, buffers, std::forward<Handler>(handler));
    }
  }
  template <typename Handler>
  void read_some(Handler&& handler) {
    std::size_t room = buffer.max_size() - buffer.size();
    auto space = buffer.prepare(std::min(room, kReadChunk));
    if (tls) {
      tls->async_read_some(space, std::forward<Handler>(handler));
    } else {
      plain->async_read_some(space, std::forward<Handler>(handler));
    }
  }
  void close() {
    error_code ignored;
    socket().close(ignored);
    open = false;
  }

  std::unique_ptr<tcp::socket> plain;
  std::unique_ptr<ssl::stream<tcp::socket>> tls;
  boost::beast::flat_buffer buffer;
  Clock::time_point idle_deadline;
  bool open = true;
  bool idle = false;
};

struct Pool {
  std::shared_ptr<const UpstreamTarget> target;
  std::vector<std::shared_ptr<Conn>> idle;    // most recently used last
  std::size_t open = 0;                       // connections counted against max_connections
  std::deque<std::shared_ptr<Call>> waiters;  // queued for a connection (owned while queued)
};

struct UpstreamClient::Impl {
  explicit Impl(asio::io_context& io_context) : io(io_context), resolver(io_context) {}

  struct DnsEntry {
    std::vector<tcp::endpoint> endpoints;
    Clock::time_point expires;
    bool pending = false;
    std::vector<std::function<void(const error_code&, const std::vector<tcp::endpoint>&)>> waiters;
  };

  Pool& pool_for(const std::shared_ptr<const UpstreamTarget>& target) {
    auto& slot = pools[target->pool_key];
    if (!slot) {
      slot = std::make_unique<Pool>();
      slot->target = target;
    }
    return *slot;
  }

  template <typename Handler>
  void resolve(const UpstreamTarget& target, Handler handler) {
    if (is_ip_literal(target.host)) {
      handler(error_code(),
              std::vector<tcp::endpoint>{tcp::endpoint(asio::ip::make_address(target.host), target.port)});
      return;
    }
    if (is_localhost_name(target.host)) {
      handler(error_code(),
              std::vector<tcp::endpoint>{tcp::endpoint(asio::ip::address_v4::loopback(), target.port),
                                         tcp::endpoint(asio::ip::address_v6::loopback(), target.port)});
      return;
    }
    std::string key = target.host + ":" + std::to_string(target.port);
    DnsEntry& entry = dns[key];
    if (!entry.endpoints.empty() && entry.expires > Clock::now()) {
      handler(error_code(), entry.endpoints);
      return;
    }
    entry.waiters.push_back(std::move(handler));
    if (entry.pending) return;
    entry.pending = true;
    resolver.async_resolve(target.host, std::to_string(target.port),
                           [this, key](const error_code& ec, tcp::resolver::results_type results) {
                             DnsEntry& e = dns[key];
                             e.pending = false;
                             e.endpoints.clear();
                             if (!ec) {
                               for (const auto& r : results)
                                 e.endpoints.push_back(r.endpoint());
                               e.expires = Clock::now() + kDnsTtl;
                             }
                             auto waiters = std::move(e.waiters);
                             e.waiters.clear();
                             error_code result =
                                 ec ? ec : (e.endpoints.empty() ? asio::error::host_not_found : ec);
                             for (auto& w : waiters)
                               w(result, e.endpoints);
                           });
  }

  void release(Pool& pool, std::shared_ptr<Conn> conn, bool reusable);
  void drop(Pool& pool) {
    if (pool.open > 0) --pool.open;
    serve_waiters(pool);
  }
  void serve_waiters(Pool& pool);
  static void watch_idle(const std::shared_ptr<Conn>& conn);

  asio::io_context& io;
  tcp::resolver resolver;
  std::unordered_map<std::string, std::unique_ptr<Pool>> pools;
  std::unordered_map<std::string, DnsEntry> dns;
  std::vector<std::weak_ptr<Call>> calls;  // for deadlines
};

// One request/response exchange with an upstream.
struct Call final : Cancellable, std::enable_shared_from_this<Call> {
  enum class State { kQueued, kConnecting, kSending, kWaitingHead, kBody, kDone };

  Call(UpstreamClient::Impl& c, std::shared_ptr<const UpstreamTarget> t, UpstreamRequest r,
       UpstreamClient::Callback cb, std::size_t limit)
      : client(c),
        target(std::move(t)),
        request(std::move(r)),
        callback(std::move(cb)),
        buffer_limit(limit) {}

  void start() {
    pool = &client.pool_for(target);
    deadline = Clock::now() + target->timeout;
    acquire();
  }

  void acquire() {
    state = State::kQueued;
    while (!pool->idle.empty()) {
      std::shared_ptr<Conn> candidate = std::move(pool->idle.back());
      pool->idle.pop_back();
      if (!candidate->open) {
        client.drop(*pool);
        continue;
      }
      candidate->idle = false;
      error_code ignored;
      candidate->socket().cancel(ignored);  // the idle watch
      conn = std::move(candidate);
      reused = true;
      send_request();
      return;
    }
    if (pool->open < target->max_connections) {
      ++pool->open;
      connect();
      return;
    }
    pool->waiters.push_back(shared_from_this());
  }

  void connect() {
    state = State::kConnecting;
    reused = false;
    conn = std::make_shared<Conn>(client.io, *target);
    // One deadline for the name lookup and the connection: connect_timeout covers both.
    deadline = Clock::now() + target->connect_timeout;
    resolving = true;
    auto self = shared_from_this();
    client.resolve(*target, [self](const error_code& ec, const std::vector<tcp::endpoint>& endpoints) {
      self->resolving = false;
      if (self->state == State::kDone) return;
      if (ec) {
        observability::log_warn("upstream {}: DNS lookup failed: {}", self->target->host, ec.message());
        self->fail(UpstreamError::kUnavailable);
        return;
      }
      asio::async_connect(
          self->conn->socket(), endpoints,
          [self](const error_code& connect_ec, const tcp::endpoint&) { self->on_connect(connect_ec); });
    });
  }

  void on_connect(const error_code& ec) {
    if (state == State::kDone) return;
    if (ec) {
      if (!timed_out) {
        observability::log_warn("upstream {}:{}: connect failed: {}", target->host, target->port,
                                ec.message());
      }
      fail(timed_out ? UpstreamError::kTimeout : UpstreamError::kUnavailable);
      return;
    }
    error_code ignored;
    conn->socket().set_option(tcp::no_delay(true), ignored);
    if (!conn->tls) {
      send_request();
      return;
    }
    SSL* ssl_handle = conn->tls->native_handle();
    if (!is_ip_literal(target->host)) SSL_set_tlsext_host_name(ssl_handle, target->host.c_str());
    conn->tls->set_verify_callback(ssl::host_name_verification(target->host));
    auto self = shared_from_this();
    conn->tls->async_handshake(ssl::stream_base::client, [self](const error_code& hs_ec) {
      if (self->state == State::kDone) return;
      if (hs_ec) {
        observability::log_warn("upstream {}: TLS handshake failed: {}", self->target->host, hs_ec.message());
        self->fail(self->timed_out ? UpstreamError::kTimeout : UpstreamError::kUnavailable);
        return;
      }
      self->send_request();
    });
  }

  void send_request() {
    state = State::kSending;
    deadline = Clock::now() + target->timeout;
    auto self = shared_from_this();
    std::array<asio::const_buffer, 2> buffers{asio::buffer(request.head), asio::buffer(request.body)};
    conn->write(buffers, [self](const error_code& ec, std::size_t) {
      if (self->state == State::kDone) return;
      if (ec) {
        self->on_transport_error(ec);
        return;
      }
      if (self->request.stream_from) {
        self->pump_body();
      } else {
        self->read_head();
      }
    });
  }

  void pump_body() {
    deadline = Clock::time_point::max();  // the client connection enforces its own body timeout
    auto self = shared_from_this();
    request.stream_from->read_body([self](const error_code& ec, std::string_view chunk, bool last) {
      if (self->state == State::kDone) return;
      if (ec) {
        self->fail(request_body_error(ec));  // closes the upstream connection: the body stays unfinished
        return;
      }
      self->body_streamed = true;
      self->deadline = Clock::now() + self->target->timeout;
      std::array<asio::const_buffer, 4> buffers{};
      std::size_t count = 0;
      if (self->request.chunked_body) {
        if (!chunk.empty()) {
          char hex[20];
          auto r = std::to_chars(hex, hex + sizeof(hex), chunk.size(), 16);
          self->chunk_head.assign(hex, r.ptr).append("\r\n");
          buffers[count++] = asio::buffer(self->chunk_head);
          buffers[count++] = asio::buffer(chunk.data(), chunk.size());
          buffers[count++] = asio::buffer("\r\n", 2);
        }
        if (last) buffers[count++] = asio::buffer("0\r\n\r\n", 5);
      } else if (!chunk.empty()) {
        buffers[count++] = asio::buffer(chunk.data(), chunk.size());
      }
      self->conn->write(std::span(buffers.data(), count),
                        [self, last](const error_code& write_ec, std::size_t) {
                          if (self->state == State::kDone) return;
                          if (write_ec) {
                            self->on_transport_error(write_ec);
                          } else if (last) {
                            self->read_head();
                          } else {
                            self->pump_body();
                          }
                        });
    });
  }

  void read_head() {
    state = State::kWaitingHead;
    deadline = Clock::now() + target->timeout;
    parser.emplace(response, chunk);
    parser->header_limit(static_cast<std::uint32_t>(kMaxResponseHead));
    parser->body_limit(boost::none);
    parser->eager(false);
    if (request.head_request) parser->skip(true);
    parse_head();
  }

  void parse_head() {
    if (conn->buffer.size() > 0) {
      error_code ec;
      std::size_t used = parser->put(conn->buffer.data(), ec);
      conn->buffer.consume(used);
      if (!ec) {
        on_head();
        return;
      }
      if (ec != beast_http::error::need_more) {
        observability::log_warn("upstream {}: malformed response: {}", target->host, ec.message());
        fail(UpstreamError::kBadResponse);
        return;
      }
    }
    auto self = shared_from_this();
    conn->read_some([self](const error_code& ec, std::size_t n) {
      if (self->state == State::kDone) return;
      if (ec) {
        self->on_transport_error(ec);
        return;
      }
      self->received_bytes = true;
      self->conn->buffer.commit(n);
      self->parse_head();
    });
  }

  void on_head() {
    if (response.status == 101) {
      // Switching protocols was never asked for (the proxy strips Upgrade): forwarding it would hand the
      // client a raw upstream connection.
      observability::log_warn("upstream {}: unrequested 101 Switching Protocols", target->host);
      fail(UpstreamError::kBadResponse);
      return;
    }
    if (response.status >= 100 && response.status < 200) {
      chunk.clear();
      parser.emplace(response, chunk);  // an interim response: the final one follows
      parser->header_limit(static_cast<std::uint32_t>(kMaxResponseHead));
      parser->body_limit(boost::none);
      parser->eager(false);
      if (request.head_request) parser->skip(true);
      parse_head();
      return;
    }
    if (auto length = parser->content_length()) response.content_length = *length;
    parser->eager(true);
    state = State::kBody;
    if (!parse_buffered_body()) return;
    if (parser->is_done() || buffer_limit > 0) {
      read_whole_body();
      return;
    }
    // Stream the rest: what is parsed so far is the first piece.
    response.complete = false;
    response.stream = std::make_shared<Stream>(shared_from_this());
    deliver(UpstreamError::kNone);
  }

  // Feeds the buffered bytes to the parser (the body goes into `chunk`); the parse error, if any.
  error_code feed_body() {
    while (conn->buffer.size() > 0 && !parser->is_done()) {
      error_code ec;
      std::size_t used = parser->put(conn->buffer.data(), ec);
      conn->buffer.consume(used);
      if (ec == beast_http::error::need_more) break;
      if (ec) return ec;
    }
    return {};
  }

  // Parses what is buffered into `chunk`; false when the response is malformed (already failed).
  bool parse_buffered_body() {
    if (error_code ec = feed_body()) {
      observability::log_warn("upstream {}: malformed response body: {}", target->host, ec.message());
      fail(UpstreamError::kBadResponse);
      return false;
    }
    if (buffer_limit > 0 && chunk.size() > buffer_limit) {
      observability::log_warn("upstream {}: response body larger than {} bytes", target->host, buffer_limit);
      fail(UpstreamError::kBadResponse);
      return false;
    }
    return true;
  }

  void read_whole_body() {
    if (parser->is_done()) {
      response.body = std::move(chunk);
      response.complete = true;
      finish_connection();
      deliver(UpstreamError::kNone);
      return;
    }
    deadline = Clock::now() + target->timeout;
    auto self = shared_from_this();
    conn->read_some([self](const error_code& ec, std::size_t n) {
      if (self->state == State::kDone) return;
      if (ec == asio::error::eof && self->parser->need_eof()) {
        error_code eof_ec;
        self->parser->put_eof(eof_ec);
        self->read_whole_body();
        return;
      }
      if (ec) {
        self->fail(self->timed_out ? UpstreamError::kTimeout : UpstreamError::kBadResponse);
        return;
      }
      self->conn->buffer.commit(n);
      if (!self->parse_buffered_body()) return;
      self->read_whole_body();
    });
  }

  // The response body streamed to the client connection.
  struct Stream final : BodySource {
    explicit Stream(std::shared_ptr<Call> c) : call(std::move(c)) {}
    ~Stream() override { cancel(); }
    std::optional<std::uint64_t> length() const override {
      return call ? call->response.content_length : std::nullopt;
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
      if (c->conn && !c->parser_done()) {
        c->conn->close();
        c->client.drop(*c->pool);
        c->conn.reset();
      }
      c->state = State::kDone;
    }
    std::shared_ptr<Call> call;
    bool first = true;
  };

  bool parser_done() const { return parser && parser->is_done(); }

  void pull(BodySource::Handler handler, bool first) {
    if (first && (!chunk.empty() || parser->is_done())) {
      bool done = parser->is_done();
      if (done) finish_connection();
      handler(error_code(), chunk, done);
      return;
    }
    chunk.clear();
    if (!parse_buffered_body_for_stream(handler)) return;
    if (!chunk.empty() || parser->is_done()) {
      bool done = parser->is_done();
      if (done) finish_connection();
      handler(error_code(), chunk, done);
      return;
    }
    deadline = Clock::now() + target->timeout;
    auto self = shared_from_this();
    conn->read_some([self, handler = std::move(handler)](const error_code& ec, std::size_t n) mutable {
      self->deadline = Clock::time_point::max();
      if (!self->conn) {
        handler(asio::error::operation_aborted, {}, true);
        return;
      }
      if (ec == asio::error::eof && self->parser->need_eof()) {
        error_code eof_ec;
        self->parser->put_eof(eof_ec);
        self->finish_connection();
        handler(error_code(), {}, true);
        return;
      }
      if (ec) {
        observability::log_warn("upstream {}: connection lost mid-body: {}", self->target->host,
                                self->timed_out ? "timed out" : ec.message());
        self->conn->close();
        self->client.drop(*self->pool);
        self->conn.reset();
        handler(ec, {}, true);
        return;
      }
      self->conn->buffer.commit(n);
      self->pull(std::move(handler), false);
    });
  }

  bool parse_buffered_body_for_stream(BodySource::Handler& handler) {
    if (error_code ec = feed_body()) {
      conn->close();
      client.drop(*pool);
      conn.reset();
      handler(ec, {}, true);
      return false;
    }
    return true;
  }

  // The response is read completely: keep the connection for the next request when possible.
  void finish_connection() {
    if (!conn) return;
    bool reusable =
        parser && parser->is_done() && parser->keep_alive() && conn->buffer.size() == 0 && conn->open;
    client.release(*pool, std::move(conn), reusable);
    conn.reset();
    deadline = Clock::time_point::max();
  }

  void on_transport_error(const error_code& ec) {
    // A pooled connection the upstream had closed: replay once on a fresh one when that is safe.
    bool replayable = !request.stream_from || !body_streamed;
    if (reused && !retried && !received_bytes && !timed_out && request.idempotent && replayable) {
      retried = true;
      conn->close();
      conn.reset();
      connect();  // the fresh connection takes over the failed one's place in the pool's count
      return;
    }
    if (!timed_out) observability::log_warn("upstream {}: {}", target->host, ec.message());
    fail(timed_out ? UpstreamError::kTimeout
                   : (received_bytes ? UpstreamError::kBadResponse : UpstreamError::kUnavailable));
  }

  // The client went away: stop everything, release the caller (its callback holds the exchange).
  void cancel() override {
    if (state == State::kDone || delivered) return;  // once delivered, a streamed body's Stream owns the rest
    if (state == State::kQueued) {
      auto self = shared_from_this();
      std::erase(pool->waiters, self);
    }
    if (conn) {
      conn->close();
      client.drop(*pool);
      conn.reset();
    }
    state = State::kDone;
    delivered = true;
    callback = nullptr;
    request.stream_from.reset();
  }

  void on_timeout() {
    timed_out = true;
    deadline = Clock::time_point::max();
    if (state == State::kQueued) {
      auto self = shared_from_this();
      std::erase(pool->waiters, self);
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

  void fail(UpstreamError error) {
    if (conn) {
      conn->close();
      conn.reset();
      client.drop(*pool);
    }
    deliver(error);
  }

  void deliver(UpstreamError error) {
    if (delivered) {
      state = State::kDone;
      return;
    }
    delivered = true;
    if (error != UpstreamError::kNone || response.complete) state = State::kDone;
    auto cb = std::move(callback);
    cb(error, std::move(response));
  }

  UpstreamClient::Impl& client;
  std::shared_ptr<const UpstreamTarget> target;
  UpstreamRequest request;
  UpstreamClient::Callback callback;
  std::size_t buffer_limit;
  Pool* pool = nullptr;
  std::shared_ptr<Conn> conn;
  UpstreamResponse response;
  std::string chunk;
  std::string chunk_head;
  std::optional<ResponseParser> parser;
  State state = State::kQueued;
  Clock::time_point deadline = Clock::time_point::max();
  bool reused = false;
  bool resolving = false;
  bool retried = false;
  bool received_bytes = false;
  bool body_streamed = false;
  bool timed_out = false;
  bool delivered = false;
};

void UpstreamClient::Impl::release(Pool& pool, std::shared_ptr<Conn> conn, bool reusable) {
  if (!reusable) {
    conn->close();
    drop(pool);
    return;
  }
  conn->idle = true;
  conn->idle_deadline = Clock::now() + pool.target->idle_timeout;
  watch_idle(conn);
  pool.idle.push_back(std::move(conn));
  serve_waiters(pool);
}

// An idle pooled connection becomes readable only when the upstream closes it (or misbehaves): drop it
// then, so the next request does not race a dead connection.
void UpstreamClient::Impl::watch_idle(const std::shared_ptr<Conn>& conn) {
  std::weak_ptr<Conn> weak = conn;
  conn->socket().async_wait(tcp::socket::wait_read, [weak](const error_code& ec) {
    auto c = weak.lock();
    if (ec || !c || !c->idle) return;
    c->close();
  });
}

void UpstreamClient::Impl::serve_waiters(Pool& pool) {
  while (!pool.waiters.empty() && (!pool.idle.empty() || pool.open < pool.target->max_connections)) {
    auto waiter = std::move(pool.waiters.front());
    pool.waiters.pop_front();
    if (waiter->state != Call::State::kQueued || waiter->delivered) continue;
    waiter->acquire();
  }
}

UpstreamClient::UpstreamClient(asio::io_context& io) : impl_(std::make_unique<Impl>(io)) {}

UpstreamClient::~UpstreamClient() {
  for (auto& [key, pool] : impl_->pools) {
    for (auto& conn : pool->idle)
      conn->close();
  }
}

std::weak_ptr<Cancellable> UpstreamClient::send(std::shared_ptr<const UpstreamTarget> target,
                                                UpstreamRequest request, Callback callback,
                                                std::size_t buffer_limit) {
  auto call = std::make_shared<Call>(*impl_, std::move(target), std::move(request), std::move(callback),
                                     buffer_limit);
  impl_->calls.push_back(call);
  call->start();
  return call;
}

void UpstreamClient::tick() {
  auto now = Clock::now();
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
  for (auto& [key, pool] : impl_->pools) {
    auto& idle = pool->idle;
    for (std::size_t i = 0; i < idle.size();) {
      if (!idle[i]->open || idle[i]->idle_deadline <= now) {
        idle[i]->idle = false;
        idle[i]->close();
        idle.erase(idle.begin() + static_cast<std::ptrdiff_t>(i));
        impl_->drop(*pool);
        continue;
      }
      ++i;
    }
  }
}

}  // namespace workgate::http
