// One event loop with everything it owns: its listening sockets (one per listener, SO_REUSEPORT), its
// connections, its
// request handler (and through it the pipeline's per-thread caches and pools), a coarse timer that
// enforces connection deadlines, and the cached Date header. Nothing here is shared between threads
// except through post().
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/coarse_clock.hpp"
#include "http/draining_read.hpp"
#include "http/request_handler.hpp"
#include "http/slab.hpp"

namespace workgate::http {

class Connection;

class Shard {
 public:
  using Clock = std::chrono::steady_clock;

  explicit Shard(unsigned index);
  // Fills asio's pool of per-socket reactor states with `count` contiguous ones (shard.cpp says why).
  void warm_descriptor_pool(std::size_t count);
  ~Shard();
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;

  unsigned index() const { return index_; }
  boost::asio::io_context& io() { return io_; }
  // Where the objects an idle connection keeps are allocated (slab.hpp says why).
  SlabPool& slab() { return slab_; }
  // How the shard's plain sockets read (draining_read.hpp says why).
  const DrainingReads& reads() const { return reads_; }
  RequestHandler& handler() { return *handler_; }
  void set_handler(std::unique_ptr<RequestHandler> handler) { handler_ = std::move(handler); }

  // Takes over a bound socket (see bind_listeners) and makes it listen; the shard closes it when it drains.
  // `listener`: the listener's index in the server's list (Request::listener); `tls_index`: for a TLS
  // listener, its index in the config's gateway.listeners (RequestHandler::tls_context), else -1.
  // Throws boost::system::system_error.
  void adopt(int fd, int backlog, std::uint16_t listener = 0, int tls_index = -1, bool h2c = false);

  // Runs the event loop on the calling thread until stop() has drained every connection.
  void run();

  // Thread-safe: stop accepting, close idle connections, let in-flight requests finish, then return from
  // run().
  void begin_drain();
  // Thread-safe: close every connection now.
  void force_stop();

  bool draining() const { return draining_; }
  // Live client connections (on the shard's thread).
  std::size_t connection_count() const { return connections_; }
  // Of those, the ones speaking HTTP/2 (counted by Connection when it switches, and when it ends).
  std::size_t http2_connection_count() const { return http2_connections_; }
  void count_http2_connection(bool opened) { opened ? ++http2_connections_ : --http2_connections_; }
  // Live client connections by listener (index = the listener's in the server's list), and of those the
  // ones speaking HTTP/2 (counted by Http2Session for its connection's listener). Shard's thread only.
  struct ListenerConnections {
    std::size_t open = 0;
    std::size_t http2 = 0;
  };
  const std::vector<ListenerConnections>& listener_connections() const { return by_listener_; }
  void count_listener_http2(std::uint16_t listener, bool opened);
  std::string_view http_date() const { return date_; }
  // For deadlines: the coarse steady clock (common/coarse_clock.hpp).
  Clock::time_point now() const { return clock_ ? clock_() : coarse_steady_now(); }
  // Replaces the steady clock (tests advance time by hand, then call sweep()).
  void set_clock(std::function<Clock::time_point()> clock) { clock_ = std::move(clock); }
  // Enforces connection deadlines and runs the handler's tick; run() does it every ~100 ms.
  void sweep();
  void trim_memory(Clock::time_point now);
  // A connection gave back its per-request memory (Connection::park): many of them make a trim worth it.
  void count_parked() { ++parked_since_trim_; }

  // Connection registry (called by Connection).
  void add(Connection* connection);
  void remove(Connection* connection);
  // The exchanges of connections waiting for their next request (e.g. to release per-request state a
  // handler cached on them).
  void for_each_idle_exchange(const std::function<void(Exchange&)>& visit);

 private:
  struct Listener {
    explicit Listener(boost::asio::io_context& io) : acceptor(io), retry_timer(io) {}
    boost::asio::ip::tcp::acceptor acceptor;
    boost::asio::steady_timer retry_timer;
    std::uint16_t index = 0;
    int tls_index = -1;
    bool h2c = false;  // a plain listener that also speaks prior-knowledge HTTP/2
  };

  void accept(Listener& listener);
  void close_listeners();
  void schedule_sweep();
  void update_date();
  void maybe_finish();
  void close_everything();  // the acceptors, the timers and every connection
  template <typename Visit>
  void each_connection(Visit visit);

  unsigned index_;
  SlabPool slab_;  // before io_: the connections its handlers hold go before the pool does
  boost::asio::io_context io_;
  DrainingReads reads_{io_};
  std::vector<std::unique_ptr<Listener>> listeners_;
  boost::asio::steady_timer sweep_timer_;
  std::unique_ptr<RequestHandler> handler_;
  Connection* head_ = nullptr;  // intrusive doubly linked list of live connections
  std::function<Clock::time_point()> clock_;
  std::size_t connections_ = 0;
  std::size_t http2_connections_ = 0;
  // Memory back to the OS after a burst of connections closes (see Shard::sweep).
  std::size_t connections_peak_ = 0;
  std::size_t parked_since_trim_ = 0;
  std::size_t parked_at_last_sweep_ = 0;
  Clock::time_point last_trim_{};
  std::vector<ListenerConnections> by_listener_;
  ListenerConnections& listener_slot(std::uint16_t listener);
  bool draining_ = false;
  bool tearing_down_ = false;  // ~Shard: connections closing now must not schedule more work
  std::int64_t date_second_ = -1;
  std::string date_;
};

}  // namespace workgate::http
