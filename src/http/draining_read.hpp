// Reads on a plain TCP socket that take a short read to mean the socket is drained.
//
// Asio's epoll reactor (Boost 1.81) tries every read at once (a speculative recv) and waits for epoll only
// after that returns EAGAIN; it stops trying first only after a read that returned 0 bytes. But a read that
// returned fewer bytes than it asked for also means the socket's receive queue was empty at that moment, so
// the read that starts the next message there (the upstream's response, just after the request was
// written; a client's next request, just after a response) is a recv that returns EAGAIN: 1.04 per proxied
// request and 0.33 per static request, measured (bench/README.md). nginx keeps a per-event `ready` flag,
// cleared by a short read, and makes none of these.
//
// DrainingReads::read_some() starts the same receive as socket.async_read_some(), on Asio's reactor, with
// one difference: a short read (or an error) is reported to the reactor as `done_and_exhausted`, which
// clears the reactor's own per-descriptor "try first" flag under its lock. The reactor sets the flag again
// on the next EPOLLIN edge for the descriptor, so a read started while it is clear is queued without a
// syscall (EPOLLIN stays registered: no epoll_ctl either) and performed when epoll reports data, and a read
// started after data arrived (the edge already seen) tries at once as before.
//
// One thing a short read does not show: an end of stream (FIN) or reset that arrived with the data. Its
// edge was the data's, so a read that waits for the next edge would wait for the peer's next packet. Hence
// two ways to start:
//  - ReadStart::kNextMessage, for the read of a message that the peer sends only after we wrote to it (a
//    response after our request, a request after our response): it trusts the flag. A FIN that came with
//    the last message is then noticed when the peer answers our write with a reset (an upstream), or when
//    the connection, idle, parks on a readiness wait (a client: Connection::park, within two sweeps).
//  - ReadStart::kMore, for every other read (the rest of a head or body, a tunnel): after a short read on
//    this socket (`drained`, which these reads keep) it re-arms the descriptor instead (epoll_ctl, which
//    reports a pending FIN at once: the cost of the EAGAIN read it replaces), else it tries at once.
// Every read of such a socket must go through here (a plain async_read_some after a short read here would
// also wait for the next edge). cancel() and close() complete a read as aborted; the handler's associated
// allocator and executor are used; per-operation cancellation slots are not supported (nothing binds one).
//
// The io_uring build (WORKGATE_IO_URING) has no speculative reads: there it is socket.async_read_some().
#pragma once

#include <boost/asio/buffer.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstddef>
#include <memory>
#include <type_traits>
#include <utility>

#if !defined(WORKGATE_IO_URING)
#include <boost/asio/detail/fenced_block.hpp>
#include <boost/asio/detail/handler_alloc_helpers.hpp>
#include <boost/asio/detail/handler_cont_helpers.hpp>
#include <boost/asio/detail/handler_work.hpp>
#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/detail/reactor_op.hpp>
#include <boost/asio/detail/socket_ops.hpp>
#include <boost/asio/version.hpp>

// The op below follows this version's reactor_op protocol (reactor.start_op's arguments, the status values).
static_assert(BOOST_ASIO_VERSION == 102600, "draining_read.hpp is written against Asio 1.26 (Boost 1.81)");
#endif

namespace workgate::http {

enum class ReadStart { kNextMessage, kMore };

#if !defined(WORKGATE_IO_URING)
namespace draining_detail {
namespace adetail = boost::asio::detail;

// The socket's descriptor, state and reactor registration (basic_socket keeps them in a protected member).
struct SocketAccess : boost::asio::ip::tcp::socket {
  static auto& io_object(boost::asio::ip::tcp::socket& socket) { return socket.*(&SocketAccess::impl_); }
};

template <class Handler, class IoExecutor>
class DrainingRecvOp : public adetail::reactor_op {
 public:
  BOOST_ASIO_DEFINE_HANDLER_PTR(DrainingRecvOp);

  DrainingRecvOp(adetail::socket_type socket, boost::asio::mutable_buffer buffer, bool* drained,
                 Handler& handler, const IoExecutor& io_ex)
      : reactor_op(boost::system::error_code(), &DrainingRecvOp::do_perform, &DrainingRecvOp::do_complete),
        socket_(socket),
        buffer_(buffer),
        drained_(drained),
        handler_(std::move(handler)),
        work_(handler_, io_ex) {}

  static status do_perform(reactor_op* base) {
    auto* o = static_cast<DrainingRecvOp*>(base);
    if (!adetail::socket_ops::non_blocking_recv1(o->socket_, o->buffer_.data(), o->buffer_.size(), 0, true,
                                                 o->ec_, o->bytes_transferred_))
      return not_done;  // EAGAIN: wait for epoll
    // Performed on the socket's thread, which also runs the reactor: `drained` (the reading object's, alive
    // as long as the handler that holds the object) mirrors the reactor's flag as this op leaves it.
    *o->drained_ = o->ec_ || o->bytes_transferred_ < o->buffer_.size();
    return *o->drained_ ? done_and_exhausted : done;
  }

  static void do_complete(void* owner, adetail::operation* base, const boost::system::error_code&,
                          std::size_t) {
    auto* o = static_cast<DrainingRecvOp*>(base);
    ptr p = {std::addressof(o->handler_), o, o};
    adetail::handler_work<Handler, IoExecutor> work(std::move(o->work_));
    // The handler is moved out before the operation's memory goes back to its allocator (which the handler
    // may own), then called.
    adetail::binder2<Handler, boost::system::error_code, std::size_t> handler(o->handler_, o->ec_,
                                                                              o->bytes_transferred_);
    p.h = std::addressof(handler.handler_);
    p.reset();
    if (owner) {
      adetail::fenced_block block(adetail::fenced_block::half);
      work.complete(handler, handler.handler_);
    }
  }

 private:
  adetail::socket_type socket_;
  boost::asio::mutable_buffer buffer_;
  bool* drained_;
  Handler handler_;
  adetail::handler_work<Handler, IoExecutor> work_;
};
}  // namespace draining_detail
#endif

// Starts such reads on the sockets of one io_context (its reactor is looked up once, here).
class DrainingReads {
 public:
  explicit DrainingReads(boost::asio::execution_context& context);

  // Reads into `buffer` what the socket has, as socket.async_read_some(buffer, handler) does; see above
  // for the difference and for `start`. `drained` is the socket's: false when it is created, and passed to
  // every read of it. The socket belongs to this object's io_context.
  template <class Handler>
  void read_some(boost::asio::ip::tcp::socket& socket, boost::asio::mutable_buffer buffer, bool& drained,
                 ReadStart start, Handler&& handler) const {
#if defined(WORKGATE_IO_URING)
    (void)drained;
    (void)start;
    socket.async_read_some(buffer, std::forward<Handler>(handler));
#else
    namespace adetail = boost::asio::detail;
    using Op =
        draining_detail::DrainingRecvOp<std::decay_t<Handler>, boost::asio::ip::tcp::socket::executor_type>;
    if (buffer.size() == 0) {  // Asio completes an empty read at once, without a recv
      socket.async_read_some(buffer, std::forward<Handler>(handler));
      return;
    }
    auto& object = draining_detail::SocketAccess::io_object(socket);
    auto& impl = object.get_implementation();
    std::decay_t<Handler> local(std::forward<Handler>(handler));
    bool is_continuation = boost_asio_handler_cont_helpers::is_continuation(local);
    typename Op::ptr p = {std::addressof(local), Op::ptr::allocate(local), nullptr};
    p.p = new (p.v) Op(impl.socket_, buffer, &drained, local, object.get_executor());
    // As reactive_socket_service_base::start_op: the descriptor is made non-blocking once, then the
    // reactor tries the read (when its flag allows) or queues it; not speculative: re-arms and queues it.
    bool speculative = start == ReadStart::kNextMessage || !drained;
    if ((impl.state_ & adetail::socket_ops::non_blocking) != 0 ||
        adetail::socket_ops::set_internal_non_blocking(impl.socket_, impl.state_, true, p.p->ec_)) {
      reactor_->start_op(adetail::reactor::read_op, impl.socket_, impl.reactor_data_, p.p, is_continuation,
                         speculative);
    } else {
      reactor_->post_immediate_completion(p.p, is_continuation);
    }
    p.v = p.p = nullptr;
#endif
  }

 private:
#if !defined(WORKGATE_IO_URING)
  boost::asio::detail::reactor* reactor_;
#endif
};

}  // namespace workgate::http
