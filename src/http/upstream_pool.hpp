// The connections of the upstream client of one event-loop thread: one keep-alive pool per origin (plus
// trust settings), a bound on connections per pool with a FIFO of waiting calls, and idle connections
// watched so that an upstream closing one is noticed before it is reused.
#pragma once

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "http/draining_read.hpp"
#include "http/upstream.hpp"

namespace workgate::http {

// One connection to an upstream, plain or TLS, with its read buffer.
class UpstreamConnection {
 public:
  static constexpr std::size_t kReadChunk = 16 * 1024;
  // A streamed response body is read in larger pieces: a 64 KiB body takes one or two reads (and writes to
  // the client) instead of four or more. The buffer is given back once the connection stays idle
  // (expire_idle).
  static constexpr std::size_t kBodyReadChunk = 64 * 1024;
  static constexpr std::size_t kMaxResponseHead = 64 * 1024;

  // `reads`: the client's, for a plain socket (it outlives the connection's reads: see draining_read.hpp).
  UpstreamConnection(boost::asio::io_context& io, const UpstreamTarget& target, const DrainingReads& reads);

  boost::asio::ip::tcp::socket& socket() { return tls_ ? tls_->next_layer() : *plain_; }
  boost::asio::ssl::stream<boost::asio::ip::tcp::socket>* tls() { return tls_.get(); }
  boost::beast::flat_buffer& buffer() { return buffer_; }
  bool is_open() const { return open_; }

  template <typename Buffers, typename Handler>
  void write(const Buffers& buffers, Handler&& handler) {
    if (tls_) {
      boost::asio::async_write(*tls_, buffers, std::forward<Handler>(handler));
    } else {
      boost::asio::async_write(*plain_, buffers, std::forward<Handler>(handler));
    }
  }
  // Reads what arrives into buffer() (at most `chunk` bytes); the caller commits the bytes. `start`: see
  // draining_read.hpp (kNextMessage: the response to a request just written).
  template <typename Handler>
  void read_some(Handler&& handler, ReadStart start = ReadStart::kMore) {
    read_some(kReadChunk, std::forward<Handler>(handler), start);
  }
  template <typename Handler>
  void read_some(std::size_t chunk, Handler&& handler, ReadStart start = ReadStart::kMore) {
    std::size_t room = buffer_.max_size() - buffer_.size();
    read_into(buffer_.prepare(std::min(room, chunk)), std::forward<Handler>(handler), start);
  }
  // Reads what arrives into `space` (a tunnel's own buffer).
  template <typename Handler>
  void read_into(boost::asio::mutable_buffer space, Handler&& handler, ReadStart start = ReadStart::kMore) {
    if (tls_) {
      tls_->async_read_some(space, std::forward<Handler>(handler));
    } else {
      reads_.read_some(*plain_, space, drained_, start, std::forward<Handler>(handler));
    }
  }
  void close();
  // Gives back a read buffer grown past kReadChunk by a large body (an idle connection keeps a small one).
  void shrink_buffer() {
    if (buffer_.size() == 0 && buffer_.capacity() > kReadChunk)
      buffer_ = boost::beast::flat_buffer(buffer_.max_size());
  }

 private:
  friend class UpstreamPool;
  std::unique_ptr<boost::asio::ip::tcp::socket> plain_;
  std::unique_ptr<boost::asio::ssl::stream<boost::asio::ip::tcp::socket>> tls_;
  const DrainingReads& reads_;
  boost::beast::flat_buffer buffer_;
  std::chrono::steady_clock::time_point idle_deadline_;
  std::uint64_t watch_generation_ = 0;  // which idle watch may still close it
  bool open_ = true;
  bool drained_ = false;  // the socket's last read was short (draining_read.hpp)
  bool idle_ = false;
  bool watched_ = false;  // an idle watch is pending
  // Idle, and a sweep has seen it so: the next one watches it (UpstreamPool::expire_idle).
  bool idle_swept_ = false;
};

// A call waiting in a pool's queue for a connection.
class PoolWaiter {
 public:
  // Still waiting (not cancelled, timed out or served meanwhile).
  virtual bool waiting() const = 0;
  // A connection may be had now: take an idle one or open one (UpstreamPool::take_idle / reserve).
  virtual void on_available() = 0;

 protected:
  ~PoolWaiter() = default;
};

class UpstreamPool {
 public:
  explicit UpstreamPool(std::shared_ptr<const UpstreamTarget> target) : target_(std::move(target)) {}
  ~UpstreamPool();
  UpstreamPool(const UpstreamPool&) = delete;
  UpstreamPool& operator=(const UpstreamPool&) = delete;

  const std::shared_ptr<const UpstreamTarget>& target() const { return target_; }

  // The most recently used idle connection that is still open (its idle watch cancelled), or null.
  std::shared_ptr<UpstreamConnection> take_idle();
  // Counts a new connection against max_connections; false when the pool is full (then enqueue()).
  bool reserve();
  // Queued calls are owned by the queue until served or removed.
  void enqueue(std::shared_ptr<PoolWaiter> waiter) { waiters_.push_back(std::move(waiter)); }
  void leave_queue(const PoolWaiter* waiter);
  // A response was read completely: keep the connection for the next call when `reusable` (watched once it
  // has been idle through a whole sweep interval, closed after the target's idle_timeout), else close it.
  // Serves the queue.
  void release(std::shared_ptr<UpstreamConnection> connection, bool reusable,
               std::chrono::steady_clock::time_point now);
  // A counted connection is gone (failed, closed); serves the queue.
  void drop();
  // Closes idle connections past their idle deadline or closed by the upstream; watches those idle since
  // before the previous call (a whole sweep interval).
  void expire_idle(std::chrono::steady_clock::time_point now);

  // For metrics: connections counted against max_connections (busy + idle), idle ones, queued calls.
  std::size_t open_count() const { return open_; }
  std::size_t idle_count() const { return idle_.size(); }
  std::size_t waiting_count() const { return waiters_.size(); }
  // Requests replayed on a fresh connection after a pooled one failed (see Call::on_transport_error).
  void count_replay() { ++replays_; }
  std::uint64_t replay_count() const { return replays_; }

 private:
  void serve_waiters();
  static void watch_idle(const std::shared_ptr<UpstreamConnection>& connection);

  std::shared_ptr<const UpstreamTarget> target_;
  std::vector<std::shared_ptr<UpstreamConnection>> idle_;  // most recently used last
  std::size_t open_ = 0;                                   // connections counted against max_connections
  std::uint64_t replays_ = 0;
  std::deque<std::shared_ptr<PoolWaiter>> waiters_;
};

// The pools of one thread, by UpstreamTarget::pool_key. Pools live as long as the client: a call keeps a
// plain reference to its pool (safe because the shard ends every call that can still run before it
// destroys the client: see ~Shard; a call's handlers still queued then are destroyed without running).
class UpstreamPools {
 public:
  UpstreamPool& for_target(const std::shared_ptr<const UpstreamTarget>& target);
  void expire_idle(std::chrono::steady_clock::time_point now);
  template <class F>
  void for_each(F&& visit) const {
    for (const auto& [key, pool] : pools_)
      visit(*pool);
  }

 private:
  struct CachedPool {
    std::shared_ptr<const UpstreamTarget> target;
    UpstreamPool* pool = nullptr;
  };
  std::unordered_map<std::string, std::unique_ptr<UpstreamPool>> pools_;
  std::array<CachedPool, 8> cache_;  // by the target's address
};

}  // namespace workgate::http
