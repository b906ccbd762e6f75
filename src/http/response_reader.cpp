#include "http/response_reader.hpp"

#include <boost/beast/http/error.hpp>

#include "http/framing.hpp"
#include "http/upstream_pool.hpp"

namespace workgate::http {
namespace beast_http = boost::beast::http;
using boost::system::error_code;

void ResponseReader::start(UpstreamResponse& response, bool head_request) {
  // Room for a typical response head at once: growing from empty took seven allocations per response
  // (the field arena doubling three times, the field list four).
  constexpr std::size_t kTypicalHeadBytes = 512;
  constexpr std::size_t kTypicalFields = 16;
  response.headers.reserve(kTypicalHeadBytes, kTypicalFields);
  response_ = &response;
  head_request_ = head_request;
  borrow_ = false;
  clear_piece();
  new_parser();
}

void ResponseReader::borrow_pieces() {
  borrow_ = true;
  parser_->collect_views(&piece_view_);
}

void ResponseReader::new_parser() {
  parser_.emplace(*response_, piece_);
  if (borrow_) parser_->collect_views(&piece_view_);
  parser_->header_limit(static_cast<std::uint32_t>(UpstreamConnection::kMaxResponseHead));
  parser_->body_limit(boost::none);
  parser_->eager(false);
  if (head_request_) parser_->skip(true);
}

error_code ResponseReader::parse_head(boost::beast::flat_buffer& buffer) {
  while (true) {
    if (buffer.size() == 0) return beast_http::error::need_more;
    error_code ec;
    std::size_t used = parser_->put(buffer.data(), ec);
    buffer.consume(used);
    if (ec) return ec;
    if (response_->status >= 100 && response_->status < 200 && response_->status != 101) {
      clear_piece();
      new_parser();  // an interim response: the final one follows
      continue;
    }
    if (auto length = parser_->content_length()) response_->content_length = *length;
    parser_->eager(true);
    return {};
  }
}

error_code ResponseReader::parse_body(boost::beast::flat_buffer& buffer) {
  return feed(*parser_, buffer);
}

void ResponseReader::finish_at_eof() {
  error_code ignored;
  parser_->put_eof(ignored);
}

}  // namespace workgate::http
