// The client connection's side of an HTTP/1.1 Upgrade: the 101 head is written, then the client transport
// (the plain socket or the TLS stream, through the connection's own async_read_some/async_write) is joined
// to the upstream side the proxy got (Response::upgraded) by a Tunnel. The connection speaks no more HTTP;
// it stays registered with the shard (counted, closed at drain and shutdown) until the tunnel ends.
#include <boost/asio/write.hpp>

#include "http/connection.hpp"
#include "observability/log.hpp"

namespace workgate::http {
namespace asio = boost::asio;
using boost::system::error_code;

namespace {
constexpr std::size_t kTunnelBuffer = 16 * 1024;  // per direction
// How long a tunnel that was told to stop may take for its pending operations to complete.
constexpr std::chrono::milliseconds kTunnelStopTime{1000};
}  // namespace

// The client side of the tunnel. It keeps the connection alive while the tunnel runs (the tunnel is the
// connection's: close() and end_tunnel() release it, which ends the cycle).
class Connection::TunnelTransport final : public TunnelSide {
 public:
  explicit TunnelTransport(std::shared_ptr<Connection> connection) : c_(std::move(connection)) {}

  void read_some(asio::mutable_buffer buffer, Handler handler) override {
    c_->async_read_some(buffer, std::move(handler));
  }
  void write(asio::const_buffer buffer, Handler handler) override {
    c_->async_write(buffer, std::move(handler));
  }
  // TLS has no half-close (close_notify ends the session): the tunnel ends instead.
  bool shutdown_send() override {
    if (c_->tls_) return false;
    error_code ignored;
    c_->socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
    return true;
  }
  void stop() override {
    error_code ignored;
    c_->socket_.cancel(ignored);
  }

 private:
  std::shared_ptr<Connection> c_;
};

// Only a 101 to an HTTP/1.1 request on a connection that stays open switches; any other status is an
// ordinary response and the upstream side is let go (closed). A 101 that cannot switch (the shard began
// draining meanwhile) is not sent: the connection closes as for a request drain cut short.
bool Connection::send_upgrade() {
  if (serving_->response.status != 101) {
    serving_->response.upgraded.reset();
    return false;
  }
  if (close_after_write_ || exchange_->request_.version != 11) {
    serving_->response.upgraded.reset();
    close();
    on_written(asio::error::shut_down);
    return true;
  }
  serialize_head(serving_->response, std::nullopt, false);
  phase_ = Phase::kWriting;
  set_deadline(limits_->write_timeout);
  body_bytes_sent_ = 0;
  async_write(asio::buffer(serving_->head.data(), serving_->head.size()),
              [self = shared_from_this()](const error_code& ec, std::size_t) {
                if (self->phase_ == Phase::kClosed) return;
                if (ec || self->shard_.draining()) {
                  self->close();
                  self->on_written(ec ? ec : error_code(asio::error::shut_down));
                  return;
                }
                self->start_tunnel();
              });
  return true;
}

void Connection::start_tunnel() {
  shard_.handler().on_complete(*exchange_, serving_->response.status, 0);
  phase_ = Phase::kTunnel;
  serving_->parser.reset();
  auto client = std::make_shared<TunnelTransport>(shared_from_this());
  // What the client sent after its request head (it may speak the new protocol before the 101) goes first.
  if (serving_->buffer.size() > 0) {
    auto data = serving_->buffer.data();
    client->early.assign(static_cast<const char*>(data.data()), data.size());
  }
  serving_->buffer = boost::beast::flat_buffer();  // never read again: its memory goes now
  Tunnel::Options options;
  options.buffer_size = kTunnelBuffer;
  options.idle_timeout = limits_->tunnel_idle_timeout;
  options.now = [&shard = shard_] { return shard.now(); };
  tunnel_ =
      std::make_shared<Tunnel>(std::move(client), std::move(serving_->response.upgraded), std::move(options));
  tunnel_->start([weak = weak_from_this()](Tunnel::End end) {
    if (auto self = weak.lock()) self->end_tunnel(end);
  });
  deadline_ = tunnel_->idle_deadline();
}

// The tunnel has ended and none of its operations is pending: a TLS client gets its close_notify.
void Connection::end_tunnel(Tunnel::End end) {
  if (phase_ != Phase::kTunnel || !tunnel_) return;
  auto tunnel = std::exchange(tunnel_, nullptr);
  observability::log_debug("tunnel for {} ended ({}): {} bytes to the upstream, {} to the client",
                           exchange_->request_.client_address,
                           end == Tunnel::End::kFinished ? "finished"
                           : end == Tunnel::End::kIdle   ? "idle"
                                                         : "error",
                           tunnel->bytes_a_to_b(), tunnel->bytes_b_to_a());
  if (tls_ && end != Tunnel::End::kError) {
    shutdown_tls();
    return;
  }
  close();
}

// The shard's sweep found the deadline passed: the idle timeout (the tunnel's last activity decides), or a
// stopped tunnel whose operations did not complete in time.
void Connection::on_tunnel_deadline() {
  if (tunnel_ && !tunnel_->ended()) {
    if (tunnel_->expire(shard_.now())) {
      set_deadline(kTunnelStopTime);
    } else {
      deadline_ = tunnel_->idle_deadline();
    }
    return;
  }
  close();
}

}  // namespace workgate::http
