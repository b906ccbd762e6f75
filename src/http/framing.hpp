// HTTP/1.1 message framing shared by the server connection and the upstream client: feeding buffered bytes
// to a Beast parser, and the chunked transfer coding of an outgoing body.
#pragma once

#include <array>
#include <boost/asio/buffer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <charconv>
#include <cstddef>
#include <string_view>

namespace workgate::http {

// Offers the buffered bytes to `parser` until it needs more, is done, or fails, consuming what it used.
// Returns the parse error; running out of buffered bytes (need_more) is not one.
template <bool isRequest>
boost::system::error_code feed(boost::beast::http::basic_parser<isRequest>& parser,
                               boost::beast::flat_buffer& buffer) {
  while (buffer.size() > 0 && !parser.is_done()) {
    boost::system::error_code ec;
    std::size_t used = parser.put(buffer.data(), ec);
    buffer.consume(used);
    if (ec == boost::beast::http::error::need_more) break;
    if (ec) return ec;
  }
  return {};
}

// The chunked transfer coding of an outgoing body (RFC 9112 §7.1) without copying the data: one piece is
// its size line, the data and CRLF; the last one is followed by the last chunk (no trailers).
class ChunkFramer {
 public:
  using Buffers = std::array<boost::asio::const_buffer, 4>;

  // Fills `out` for `data` (an empty piece sends nothing but, with `last`, the last chunk); returns the
  // number of buffers used. The size line lives in this object until the next call.
  std::size_t frame(std::string_view data, bool last, Buffers& out) {
    std::size_t count = 0;
    if (!data.empty()) {
      auto r = std::to_chars(size_line_, size_line_ + sizeof(size_line_) - 2, data.size(), 16);
      *r.ptr++ = '\r';
      *r.ptr++ = '\n';
      out[count++] = boost::asio::buffer(size_line_, static_cast<std::size_t>(r.ptr - size_line_));
      out[count++] = boost::asio::buffer(data.data(), data.size());
      out[count++] = boost::asio::buffer(kCrlf.data(), kCrlf.size());
    }
    if (last) out[count++] = boost::asio::buffer(kLastChunk.data(), kLastChunk.size());
    return count;
  }

 private:
  static constexpr std::string_view kCrlf = "\r\n";
  static constexpr std::string_view kLastChunk = "0\r\n\r\n";
  char size_line_[20];
};

}  // namespace workgate::http
