// A server-side TLS stream over a connection's TCP socket: asio::ssl::stream behind a small interface of
// type-erased completion handlers. The SSL stream's composed operations are instantiated once, in
// tls_stream.cpp, instead of once per handler inside connection.cpp: that keeps the plain connection's
// code (and the compiler's inlining in it) what it is without TLS. Per operation a TLS connection pays
// the type erasure (one small allocation), negligible next to the record encryption.
#pragma once

#include <array>
#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <memory>

namespace workgate::http {

class TlsStream {
 public:
  using Handler = boost::asio::any_completion_handler<void(boost::system::error_code)>;
  using IoHandler = boost::asio::any_completion_handler<void(boost::system::error_code, std::size_t)>;

  // `socket` must outlive the stream; `context` only needs to live until the constructor returns (the
  // SSL object holds its own reference to the SSL_CTX).
  TlsStream(boost::asio::ip::tcp::socket& socket, boost::asio::ssl::context& context);
  ~TlsStream();
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  void async_handshake(Handler handler);
  void async_read_some(boost::asio::mutable_buffer buffer, IoHandler handler);
  // Writes both buffers completely (the second may be empty), each as TLS records.
  void async_write(std::array<boost::asio::const_buffer, 2> buffers, IoHandler handler);
  // Sends close_notify and waits for the peer's.
  void async_shutdown(Handler handler);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace workgate::http
