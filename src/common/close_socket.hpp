// Ending a socket (or descriptor, or acceptor) whose operations may still be in flight.
//
// Boost 1.81's io_uring backend (the WORKGATE_IO_URING build) frees a socket's per-descriptor state when the
// socket is closed, even while one of its operations is still in the kernel (Asio 1.26:
// io_uring_service::deregister_io_object leaves the state to cleanup_io_object, which frees it at once;
// later Asio keeps it until the last operation completes). That operation's completion then lands in
// whichever socket reuses the state: another connection's read completes with a result that is not its own
// and the bytes went to a buffer that is no longer the read's (heap corruption under load). So in that
// build a socket is never closed while it may have an operation in flight: its operations are cancelled
// (a connected socket is also shut down, so the peer sees the end at once) and the descriptor is closed by
// the object's destructor. Every owner of such an object keeps it alive from each operation's handler, so
// the destructor runs after the cancelled operations have completed.
//
// With epoll (the default build) closing at once is safe: the reactor completes pending operations as
// aborted without touching their buffers.
#pragma once

#include <boost/system/error_code.hpp>

namespace workgate {

#if defined(WORKGATE_IO_URING)
inline constexpr bool kCloseDefersToDestructor = true;
#else
inline constexpr bool kCloseDefersToDestructor = false;
#endif

template <class Socket>
void close_socket(Socket& socket) {
  boost::system::error_code ignored;
  if constexpr (kCloseDefersToDestructor) {
    if constexpr (requires { socket.shutdown(Socket::shutdown_both, ignored); })
      socket.shutdown(Socket::shutdown_both, ignored);
    socket.cancel(ignored);
  } else {
    socket.close(ignored);
  }
}

}  // namespace workgate
