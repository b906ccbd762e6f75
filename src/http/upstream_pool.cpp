#include "http/upstream_pool.hpp"

#include "common/close_socket.hpp"

namespace workgate::http {
namespace asio = boost::asio;
using boost::system::error_code;
using tcp = asio::ip::tcp;

UpstreamConnection::UpstreamConnection(asio::io_context& io, const UpstreamTarget& target,
                                       const DrainingReads& reads)
    : reads_(reads), buffer_(kMaxResponseHead + kBodyReadChunk) {
  if (target.tls) {
    tls_ = std::make_unique<asio::ssl::stream<tcp::socket>>(io, *target.tls_context);
  } else {
    plain_ = std::make_unique<tcp::socket>(io);
  }
}

void UpstreamConnection::close() {
  close_socket(socket());
  open_ = false;
}

UpstreamPool::~UpstreamPool() {
  for (auto& connection : idle_)
    connection->close();
}

std::shared_ptr<UpstreamConnection> UpstreamPool::take_idle() {
  while (!idle_.empty()) {
    std::shared_ptr<UpstreamConnection> candidate = std::move(idle_.back());
    idle_.pop_back();
    if (!candidate->open_) {
      if (open_ > 0) --open_;
      continue;
    }
    candidate->idle_ = false;
    if (candidate->watched_) {
      candidate->watched_ = false;
      error_code ignored;
      candidate->socket().cancel(ignored);  // the idle watch
    }
    return candidate;
  }
  return nullptr;
}

bool UpstreamPool::reserve() {
  if (open_ >= target_->max_connections) return false;
  ++open_;
  return true;
}

void UpstreamPool::leave_queue(const PoolWaiter* waiter) {
  std::erase_if(waiters_, [waiter](const std::shared_ptr<PoolWaiter>& w) { return w.get() == waiter; });
}

void UpstreamPool::release(std::shared_ptr<UpstreamConnection> connection, bool reusable,
                           std::chrono::steady_clock::time_point now) {
  if (!reusable) {
    connection->close();
    drop();
    return;
  }
  connection->idle_ = true;
  connection->idle_deadline_ = now + target_->idle_timeout;
  connection->idle_swept_ = false;
  idle_.push_back(std::move(connection));  // watched from the second expire_idle on (see watch_idle)
  serve_waiters();
}

void UpstreamPool::drop() {
  if (open_ > 0) --open_;
  serve_waiters();
}

// An idle pooled connection becomes readable only when the upstream closes it (or misbehaves): close it
// then, so the next call does not race a dead connection. Arming the watch costs a syscall (Asio's
// reactor re-arms the descriptor with epoll_ctl for a wait), and taking a watched connection cancels the
// wait (a handler to run), so a connection is watched only once it has stayed idle through a whole sweep
// interval (seen idle by the previous expire_idle; the shard sweeps every 100 ms): a busy pool reuses
// its connections long before. Watching what was merely idle at a sweep (under load, most of a pool at
// any instant) armed and cancelled a wait for ~50 connections every 100 ms at 40,000 proxied requests/s.
// A connection closed by the upstream before it is watched is noticed by the call that takes it, which
// replays the request on a fresh connection when that is safe (Call::on_transport_error). Arming
// re-evaluates readiness, so a close that happened before is seen.
void UpstreamPool::watch_idle(const std::shared_ptr<UpstreamConnection>& connection) {
  connection->watched_ = true;
  std::uint64_t generation = ++connection->watch_generation_;
  // The wait holds the connection (see common/close_socket.hpp: the socket must outlive its operations);
  // every way out of the pool closes or cancels, so the wait ends with it.
  connection->socket().async_wait(tcp::socket::wait_read, [c = connection, generation](const error_code& ec) {
    if (ec || !c->idle_ || c->watch_generation_ != generation) return;
    c->close();
  });
}

void UpstreamPool::serve_waiters() {
  while (!waiters_.empty() && (!idle_.empty() || open_ < target_->max_connections)) {
    auto waiter = std::move(waiters_.front());
    waiters_.pop_front();
    if (waiter->waiting()) waiter->on_available();
  }
}

void UpstreamPool::expire_idle(std::chrono::steady_clock::time_point now) {
  for (std::size_t i = 0; i < idle_.size();) {
    if (!idle_[i]->open_ || idle_[i]->idle_deadline_ <= now) {
      idle_[i]->idle_ = false;
      idle_[i]->close();
      idle_.erase(idle_.begin() + static_cast<std::ptrdiff_t>(i));
      drop();
      continue;
    }
    if (!idle_[i]->watched_) {
      if (idle_[i]->idle_swept_) {
        watch_idle(idle_[i]);
        idle_[i]->shrink_buffer();  // idle for a whole interval: a large body's buffer is not kept
      }
      idle_[i]->idle_swept_ = true;
    }
    ++i;
  }
}

UpstreamPool& UpstreamPools::for_target(const std::shared_ptr<const UpstreamTarget>& target) {
  // A target seen recently finds its pool without hashing its key (once per proxied request). The entry
  // holds the target, so no other target can take its address while it is cached; pools are never
  // destroyed before the client.
  CachedPool& cached = cache_[(reinterpret_cast<std::uintptr_t>(target.get()) >> 4) % cache_.size()];
  if (cached.target == target) return *cached.pool;
  auto& slot = pools_[target->pool_key];
  if (!slot) slot = std::make_unique<UpstreamPool>(target);
  cached.target = target;
  cached.pool = slot.get();
  return *slot;
}

void UpstreamPools::expire_idle(std::chrono::steady_clock::time_point now) {
  for (auto& [key, pool] : pools_)
    pool->expire_idle(now);
}

}  // namespace workgate::http
