#include "http/tls_stream.hpp"

#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>

namespace workgate::http {
namespace asio = boost::asio;

struct TlsStream::Impl {
  Impl(asio::ip::tcp::socket& socket, asio::ssl::context& context) : stream(socket, context) {}
  asio::ssl::stream<asio::ip::tcp::socket&> stream;
};

TlsStream::TlsStream(asio::ip::tcp::socket& socket, asio::ssl::context& context)
    : impl_(std::make_unique<Impl>(socket, context)) {}

TlsStream::~TlsStream() = default;

void TlsStream::async_handshake(Handler handler) {
  impl_->stream.async_handshake(asio::ssl::stream_base::server, std::move(handler));
}

void TlsStream::async_read_some(asio::mutable_buffer buffer, IoHandler handler) {
  impl_->stream.async_read_some(buffer, std::move(handler));
}

void TlsStream::async_write(std::array<asio::const_buffer, 2> buffers, IoHandler handler) {
  asio::async_write(impl_->stream, buffers, std::move(handler));
}

void TlsStream::async_shutdown(Handler handler) {
  impl_->stream.async_shutdown(std::move(handler));
}

}  // namespace workgate::http
