#include "http/tunnel.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>

namespace workgate::http {
namespace asio = boost::asio;
using boost::system::error_code;

namespace {

// The peer finished sending: a TCP FIN, a TLS close_notify, or a TLS peer that closed TCP without one (most
// clients do; for the bytes relayed it means the same).
bool is_end_of_stream(const error_code& ec) {
  return ec == asio::error::eof || ec == asio::ssl::error::stream_truncated;
}

}  // namespace

Tunnel::Tunnel(std::shared_ptr<TunnelSide> a, std::shared_ptr<TunnelSide> b, Options options)
    : a_(std::move(a)), b_(std::move(b)), options_(std::move(options)) {
  forward_.from = a_.get();
  forward_.to = b_.get();
  backward_.from = b_.get();
  backward_.to = a_.get();
  forward_.buffer = std::make_unique<char[]>(options_.buffer_size);
  backward_.buffer = std::make_unique<char[]>(options_.buffer_size);
  last_activity_ = now();
}

Tunnel::~Tunnel() = default;

void Tunnel::start(Done done) {
  done_ = std::move(done);
  last_activity_ = now();
  pump(forward_);
  pump(backward_);
}

// One step of a direction: write what it holds (the early bytes first), else pass on an end of stream,
// else read. Only one operation per direction is ever in flight, which is the backpressure.
void Tunnel::pump(Direction& d) {
  if (ending_ || d.busy || d.finished) return;
  auto self = shared_from_this();
  if (!d.from->early.empty() || d.filled > 0) {
    bool early = !d.from->early.empty();
    asio::const_buffer data = early ? asio::const_buffer(d.from->early.data(), d.from->early.size())
                                    : asio::const_buffer(d.buffer.get(), d.filled);
    d.busy = true;
    ++pending_;
    d.to->write(
        data, [self, &d, early](const error_code& ec, std::size_t n) { self->on_written(d, ec, n, early); });
    return;
  }
  if (d.eof) {
    d.finished = true;
    Direction& other = &d == &forward_ ? backward_ : forward_;
    // A side that cannot half-close ends the tunnel once everything sent to it is written.
    if (!d.to->shutdown_send() || other.finished) end(End::kFinished);
    return;
  }
  d.busy = true;
  ++pending_;
  d.from->read_some(asio::mutable_buffer(d.buffer.get(), options_.buffer_size),
                    [self, &d](const error_code& ec, std::size_t n) { self->on_read(d, ec, n); });
}

void Tunnel::on_read(Direction& d, const error_code& ec, std::size_t n) {
  d.busy = false;
  --pending_;
  if (ending_) {
    maybe_done();
    return;
  }
  if (ec && !is_end_of_stream(ec)) {
    end(End::kError);
    return;
  }
  last_activity_ = now();
  d.filled = n;  // a read that ends the stream may still carry its last bytes
  if (ec) d.eof = true;
  pump(d);
}

void Tunnel::on_written(Direction& d, const error_code& ec, std::size_t n, bool early) {
  d.busy = false;
  --pending_;
  if (ending_) {
    maybe_done();
    return;
  }
  if (ec) {
    end(End::kError);
    return;
  }
  last_activity_ = now();
  d.bytes += n;
  if (early) {
    d.from->early.clear();
    d.from->early.shrink_to_fit();
  } else {
    d.filled = 0;
  }
  pump(d);
}

bool Tunnel::expire(Clock::time_point at) {
  if (ending_ || at < idle_deadline()) return false;
  end(End::kIdle);
  return true;
}

void Tunnel::end(End how) {
  if (ending_) return;
  ending_ = true;
  end_ = how;
  a_->stop();
  b_->stop();
  maybe_done();
}

void Tunnel::maybe_done() {
  if (pending_ > 0 || !done_) return;
  Done done = std::move(done_);
  done_ = nullptr;
  done(end_);
}

void Tunnel::cancel() {
  done_ = nullptr;
  if (ending_) return;
  ending_ = true;
  a_->stop();
  b_->stop();
}

}  // namespace workgate::http
