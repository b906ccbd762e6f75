// Parsing of one upstream response from a connection's read buffer: the head (interim 1xx responses
// skipped), then body bytes collected into a piece the caller takes. Chunked trailer fields are dropped:
// they are never response headers.
#pragma once

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "http/message_parser.hpp"
#include "http/upstream.hpp"

namespace workgate::http {

class ResponseReader {
 public:
  // A new response (the head goes into `response`); a response to HEAD has no body whatever it declares.
  void start(UpstreamResponse& response, bool head_request);

  // Parses the buffered bytes of the head; interim responses (1xx but 101) are skipped. need_more until the
  // final head is complete, then no error; any other error means the head is malformed.
  boost::system::error_code parse_head(boost::beast::flat_buffer& buffer);
  // Parses buffered body bytes into piece(); an error means the body is malformed.
  boost::system::error_code parse_body(boost::beast::flat_buffer& buffer);
  // The upstream closed the connection: the end of a body delimited by the close.
  void finish_at_eof();

  bool done() const { return parser_ && parser_->is_done(); }
  bool needs_eof() const { return parser_ && parser_->need_eof(); }
  bool keep_alive() const { return parser_ && parser_->keep_alive(); }
  // The body bytes parsed since the last clear_piece().
  std::string_view piece() const { return piece_view_.empty() ? std::string_view(piece_) : piece_view_; }
  void clear_piece() {
    piece_.clear();
    piece_view_ = {};
  }
  // Storage for the pieces (its capacity is what counts: start() clears it).
  void give_piece_buffer(std::string buffer) { piece_ = std::move(buffer); }
  // The piece as a string of its own (the whole body of a buffered response).
  std::string take_piece() { return piece_view_.empty() ? std::move(piece_) : std::string(piece_view_); }
  // Streaming: from now on a piece may point into the connection's read buffer instead of being copied
  // (piece_borrowed()); it is then valid until that buffer is read into again.
  void borrow_pieces();
  bool piece_borrowed() const { return !piece_view_.empty(); }
  // Copies a borrowed piece into storage of its own (the buffer is about to be reused).
  void own_piece() {
    if (piece_view_.empty()) return;
    piece_.assign(piece_view_.data(), piece_view_.size());
    piece_view_ = {};
  }

 private:
  class Parser final : public MessageParser<false> {
   public:
    Parser(UpstreamResponse& response, std::string& body) : MessageParser<false>(body), response_(response) {}

   private:
    void on_request_impl(boost::beast::http::verb, string_view, string_view, int, error_code&) override {}
    void on_response_impl(int code, string_view, int, error_code&) override {
      response_.status = code;
      response_.headers.clear();
    }
    void on_field_impl(boost::beast::http::field, string_view name, string_view value, error_code&) override {
      if (in_trailers()) return;
      response_.headers.add(std::string_view(name.data(), name.size()),
                            std::string_view(value.data(), value.size()));
    }
    void on_header_impl(error_code&) override { head_complete(); }

    UpstreamResponse& response_;
  };

  void new_parser();

  std::optional<Parser> parser_;
  UpstreamResponse* response_ = nullptr;
  std::string piece_;
  std::string_view piece_view_;
  bool head_request_ = false;
  bool borrow_ = false;
};

}  // namespace workgate::http
