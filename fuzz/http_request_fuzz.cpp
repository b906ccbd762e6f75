// Feeds arbitrary bytes to the request parser and the target splitter, as a client could.
#include <boost/asio/buffer.hpp>
#include <cstddef>
#include <cstdint>
#include <string>

#include "http/request_parser.hpp"
#include "http/target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  workgate::http::Request request;
  workgate::http::RequestParser parser(request, 100);
  parser.header_limit(16 * 1024);
  parser.body_limit(64 * 1024);
  parser.eager(true);
  std::string_view input(reinterpret_cast<const char*>(data), size);
  boost::beast::error_code ec;
  // Feed in two pieces to exercise resumption at an arbitrary split point.
  std::size_t split = size == 0 ? 0 : data[0] % (size + 1);
  std::string buffered(input.substr(0, split));
  std::size_t used = parser.put(boost::asio::buffer(buffered), ec);
  buffered.erase(0, used);
  if (!ec || ec == boost::beast::http::error::need_more) {
    buffered.append(input.substr(split));
    while (!buffered.empty() && !parser.is_done()) {
      ec = {};
      used = parser.put(boost::asio::buffer(buffered), ec);
      buffered.erase(0, used);
      if (ec || used == 0) break;
    }
  }
  if (parser.is_header_done()) {
    std::string path, query;
    bool has_query = false;
    if (workgate::http::split_target(request.target, path, query, has_query) && path != "*") {
      if (path.empty() || path[0] != '/') __builtin_trap();
    }
  }
  return 0;
}
