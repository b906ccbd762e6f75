#include "http/shard.hpp"

#include <fcntl.h>
#include <malloc.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <ctime>

#include "http/connection.hpp"
#include "observability/log.hpp"

namespace workgate::http {
namespace asio = boost::asio;
using boost::system::error_code;

namespace {
constexpr std::chrono::milliseconds kSweepInterval{100};
constexpr std::chrono::milliseconds kAcceptRetry{50};
}  // namespace

// Visits every live connection; each is kept alive while visited, and one the visit closes (and so
// unlinks) does not break the walk.
template <typename Visit>
void Shard::each_connection(Visit visit) {
  for (Connection* c = head_; c != nullptr;) {
    Connection* next = c->next;
    auto keep = c->shared_from_this();
    visit(*c);
    c = next;
  }
}

// Every socket and timer of a shard is used on its own thread only (other threads reach it by post(), which
// keeps the scheduler's lock), so Asio's per-descriptor reactor locks are dropped: two mutex operations
// fewer per socket operation on the request path.
Shard::Shard(unsigned index) : index_(index), io_(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO), sweep_timer_(io_) {
  update_date();
}

// Asio keeps each socket's reactor state (168 B) in a pool it never frees. Allocated one by one as
// connections arrive, these blocks end up between the connections' own memory, one every few KiB, and
// once a burst of connections has closed they keep every page of it resident: malloc_trim finds no free
// page to return. Registering `count` descriptors at start (one /dev/null descriptor, which epoll refuses
// with EPERM: asio then keeps the state without polling it) and releasing them fills the pool with
// contiguous states, so that up to `count` concurrent connections never interleave new ones. Called by the
// server before the shard runs (on the main thread: the states then live in another malloc arena than the
// shard's connections).
void Shard::warm_descriptor_pool(std::size_t count) {
  int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  {
    std::vector<asio::posix::stream_descriptor> warm;
    warm.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
      error_code ec;
      warm.emplace_back(io_);
      warm.back().assign(fd, ec);
      if (ec) break;
    }
    for (auto& d : warm)
      if (d.is_open()) d.release();
  }
  ::close(fd);
}

// Teardown has an order: a connection refers to this registry and to the handler (its exchange, the
// upstream calls and response streams it holds refer to the handler's pools), so every connection is
// closed and its cancelled operations are run to completion while both are alive; then the handler goes
// (its pools and timers are I/O objects of io_, which must outlive them); io_ goes last, destroying
// without running whatever handlers the handler's objects still had queued (they own only shared state
// of their own, never a connection).
Shard::~Shard() {
  tearing_down_ = true;
  close_everything();
  io_.restart();
  // Bounded: a completion may start another operation (a cancelled call answering its caller), but the
  // chain ends once every connection is closed.
  for (int round = 0; round < 1000 && io_.poll() > 0; ++round) {
  }
  handler_.reset();
}

void Shard::adopt(int fd, int backlog, std::uint16_t listener, int tls_index, bool h2c) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    throw boost::system::system_error(error_code(errno, boost::system::system_category()));
  auto slot = std::make_unique<Listener>(io_);
  slot->index = listener;
  slot->tls_index = tls_index;
  slot->h2c = h2c;
  slot->acceptor.assign(addr.ss_family == AF_INET6 ? asio::ip::tcp::v6() : asio::ip::tcp::v4(), fd);
  // listen() on a socket that already listens (a restarted serving process) only updates the backlog.
  slot->acceptor.listen(backlog);
  listeners_.push_back(std::move(slot));
}

void Shard::run() {
  for (auto& listener : listeners_)
    accept(*listener);
  schedule_sweep();
  io_.run();
  observability::flush_repeated();
}

void Shard::accept(Listener& listener) {
  listener.acceptor.async_accept([this, &listener](const error_code& ec, asio::ip::tcp::socket socket) {
    if (ec == asio::error::operation_aborted || draining_) return;
    if (ec) {
      // Out of descriptors or a transient network error: back off briefly instead of spinning.
      observability::log_warn("accept failed: {}", ec.message());
      listener.retry_timer.expires_after(kAcceptRetry);
      listener.retry_timer.async_wait([this, &listener](const error_code& wait_ec) {
        if (!wait_ec && !draining_) accept(listener);
      });
      return;
    }
    if (listener.tls_index < 0) {
      std::allocate_shared<Connection>(SlabAllocator<Connection>(slab_), *this, std::move(socket),
                                       listener.index, nullptr, listener.h2c)
          ->start();
    } else if (auto tls = handler_->tls_context(static_cast<std::size_t>(listener.tls_index))) {
      std::allocate_shared<Connection>(SlabAllocator<Connection>(slab_), *this, std::move(socket),
                                       listener.index, std::move(tls))
          ->start();
    } else {
      observability::log_error("listener {}: the config has no certificates for it; connection closed",
                               listener.index);
    }
    accept(listener);
  });
}

void Shard::schedule_sweep() {
  sweep_timer_.expires_after(kSweepInterval);
  sweep_timer_.async_wait([this](const error_code& ec) {
    if (ec) return;
    sweep();
    if (!draining_ || connections_ > 0) schedule_sweep();
  });
}

void Shard::sweep() {
  update_date();
  observability::flush_repeated();
  if (handler_) handler_->on_tick();
  auto now = this->now();
  each_connection([now](Connection& c) {
    if (c.expired(now)) {
      c.on_deadline();
    } else {
      c.on_sweep();
    }
  });
  slab_.release_unused();
  trim_memory(now);
}

// glibc keeps what a burst of connections freed in its arenas (RSS stays at the peak). Once many of the
// connections seen since the last trim are gone, or have parked (given back their request memory) — 512,
// or 64 once a sweep has seen no new park (the burst is over) — at most once a second, malloc_trim hands
// the free pages back (it also releases pages in the middle of a heap). Rare and off the request path: a
// sweep is a timer.
void Shard::trim_memory(Clock::time_point now) {
  constexpr std::size_t kTrimAfter = 512;
  constexpr std::size_t kTrimAfterBurst = 64;
  constexpr std::chrono::seconds kTrimInterval{1};
  connections_peak_ = std::max(connections_peak_, connections_);
  bool closed = connections_peak_ >= connections_ + kTrimAfter;
  bool parked = parked_since_trim_ >= kTrimAfter ||
                (parked_since_trim_ >= kTrimAfterBurst && parked_since_trim_ == parked_at_last_sweep_);
  parked_at_last_sweep_ = parked_since_trim_;
  if ((!closed && !parked) || now - last_trim_ < kTrimInterval) return;
  last_trim_ = now;
  connections_peak_ = connections_;
  parked_since_trim_ = 0;
  parked_at_last_sweep_ = 0;
  malloc_trim(0);
}

void Shard::for_each_idle_exchange(const std::function<void(Exchange&)>& visit) {
  for (Connection* c = head_; c != nullptr; c = c->next) {
    if (Exchange* exchange = c->idle_exchange()) visit(*exchange);
  }
}

void Shard::update_date() {
  std::time_t t = std::time(nullptr);
  if (t == date_second_) return;
  date_second_ = t;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::size_t n = std::strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  date_.assign(buf, n);
}

void Shard::begin_drain() {
  asio::post(io_, [this] {
    if (draining_) return;
    draining_ = true;
    close_listeners();
    each_connection([](Connection& c) { c.on_drain(); });
    maybe_finish();
  });
}

void Shard::force_stop() {
  asio::post(io_, [this] {
    close_everything();
    io_.stop();
  });
}

void Shard::close_listeners() {
  for (auto& listener : listeners_) {
    error_code ignored;
    listener->acceptor.close(ignored);
    listener->retry_timer.cancel();
  }
}

void Shard::close_everything() {
  draining_ = true;
  close_listeners();
  sweep_timer_.cancel();
  each_connection([](Connection& c) { c.close(); });
}

void Shard::add(Connection* connection) {
  connection->next = head_;
  connection->prev = nullptr;
  if (head_ != nullptr) head_->prev = connection;
  head_ = connection;
  ++connections_;
  connections_peak_ = std::max(connections_peak_, connections_);
  connection->counted_listener = connection->listener();
  ++listener_slot(connection->counted_listener).open;
}

Shard::ListenerConnections& Shard::listener_slot(std::uint16_t listener) {
  if (listener >= by_listener_.size()) by_listener_.resize(std::size_t{listener} + 1);
  return by_listener_[listener];
}

void Shard::count_listener_http2(std::uint16_t listener, bool opened) {
  std::size_t& n = listener_slot(listener).http2;
  opened ? ++n : --n;
}

void Shard::remove(Connection* connection) {
  if (connection->prev != nullptr) connection->prev->next = connection->next;
  if (connection->next != nullptr) connection->next->prev = connection->prev;
  if (head_ == connection) head_ = connection->next;
  --connections_;
  --listener_slot(connection->counted_listener).open;
  if (draining_ && !tearing_down_) asio::post(io_, [this] { maybe_finish(); });
}

void Shard::maybe_finish() {
  if (draining_ && connections_ == 0) {
    sweep_timer_.cancel();
    io_.stop();
  }
}

}  // namespace workgate::http
