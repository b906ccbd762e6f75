// The byte-for-byte join of two streams after an HTTP/1.1 Upgrade (a WebSocket, say): what one side sends
// is written to the other, in both directions, until both have finished.
//
// - Bounded and backpressured: each direction owns one buffer (buffer_size) and reads again only once the
//   other side has taken everything it read, so a side that does not read slows the other one down to its
//   pace and nothing queues up in between.
// - Half-close: a side that ends its sending (end of stream) has its end passed on (TCP shutdown of the
//   other side's sending) while the other direction goes on. A transport that cannot end one direction
//   only (TLS: close_notify ends the session) ends the tunnel once what was sent to it is written.
// - Idle timeout: when no read or write has completed for idle_timeout, expire() ends the tunnel. The
//   owner calls it from its timer (the shard's sweep); time comes from the injected clock.
// - Every way it ends (both directions finished, idle, a side's error) stops both sides, and `done` runs
//   once, after the last pending operation has completed: the owner may then use the transports freely
//   (send a TLS close_notify, close). cancel() stops both sides without calling `done` (the owner goes).
#pragma once

#include <boost/asio/buffer.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace workgate::http {

// One end of a tunnel: a byte stream (the client connection, an upstream connection).
class TunnelSide {
 public:
  using Handler = std::function<void(const boost::system::error_code&, std::size_t)>;
  virtual ~TunnelSide() = default;

  // Reads some bytes (at least one, or an error; end of stream when the peer has finished sending).
  virtual void read_some(boost::asio::mutable_buffer buffer, Handler handler) = 0;
  // Writes all of `buffer`.
  virtual void write(boost::asio::const_buffer buffer, Handler handler) = 0;
  // Nothing more will be written: tell the peer (TCP FIN) while reading goes on. False when the transport
  // cannot end one direction only (TLS).
  virtual bool shutdown_send() = 0;
  // The tunnel will not use this side again: pending operations complete soon (with an error).
  virtual void stop() = 0;

  // Bytes of this side's stream read before the tunnel began (what followed a request or response head in
  // its read buffer): written to the other side before anything else.
  std::string early;
};

class Tunnel : public std::enable_shared_from_this<Tunnel> {
 public:
  using Clock = std::chrono::steady_clock;
  enum class End {
    kFinished,  // both directions ended (or one did toward a side that cannot half-close)
    kIdle,      // nothing moved for idle_timeout
    kError,     // a side failed (reset, write error)
  };
  using Done = std::function<void(End)>;

  struct Options {
    std::size_t buffer_size = 16 * 1024;  // per direction
    std::chrono::milliseconds idle_timeout{60000};
    std::function<Clock::time_point()> now;  // null: the steady clock
  };

  // `a` and `b` are symmetric (by convention the client and the upstream).
  Tunnel(std::shared_ptr<TunnelSide> a, std::shared_ptr<TunnelSide> b, Options options);
  ~Tunnel();
  Tunnel(const Tunnel&) = delete;
  Tunnel& operator=(const Tunnel&) = delete;

  // Starts both directions; `done` runs once when the tunnel has ended (not after cancel()).
  void start(Done done);
  // No read or write has completed since this time minus idle_timeout: expire() ends the tunnel then.
  Clock::time_point idle_deadline() const { return last_activity_ + options_.idle_timeout; }
  // Ends the tunnel (End::kIdle) when `now` is past idle_deadline(); returns whether it did.
  bool expire(Clock::time_point now);
  // Stops both sides; `done` will not run.
  void cancel();

  bool ended() const { return ending_; }
  // Bytes written from a to b and from b to a (early bytes included).
  std::uint64_t bytes_a_to_b() const { return forward_.bytes; }
  std::uint64_t bytes_b_to_a() const { return backward_.bytes; }

 private:
  struct Direction {
    TunnelSide* from = nullptr;
    TunnelSide* to = nullptr;
    std::unique_ptr<char[]> buffer;
    std::size_t filled = 0;  // bytes read into buffer, not written yet
    bool busy = false;       // a read or a write is in flight
    bool eof = false;        // `from` has finished sending
    bool finished = false;   // ... and its end was passed on to `to`
    std::uint64_t bytes = 0;
  };

  Clock::time_point now() const { return options_.now ? options_.now() : Clock::now(); }
  void pump(Direction& d);
  void on_read(Direction& d, const boost::system::error_code& ec, std::size_t n);
  void on_written(Direction& d, const boost::system::error_code& ec, std::size_t n, bool early);
  void end(End how);
  void maybe_done();

  std::shared_ptr<TunnelSide> a_;
  std::shared_ptr<TunnelSide> b_;
  Options options_;
  Direction forward_;   // a -> b
  Direction backward_;  // b -> a
  Done done_;
  Clock::time_point last_activity_;
  unsigned pending_ = 0;  // operations in flight
  End end_ = End::kFinished;
  bool ending_ = false;
};

}  // namespace workgate::http
