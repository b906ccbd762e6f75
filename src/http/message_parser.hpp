// What the request parser and the upstream response parser share on top of Beast's basic_parser: body
// bytes appended to one string, chunk extensions ignored, and the knowledge of where the head ends (fields
// after it are chunked trailers, which neither direction treats as header fields).
#pragma once

#include <boost/beast/http/basic_parser.hpp>
#include <cstdint>
#include <string>
#include <string_view>

namespace workgate::http {

template <bool isRequest>
class MessageParser : public boost::beast::http::basic_parser<isRequest> {
 protected:
  using error_code = boost::beast::error_code;
  using string_view = boost::beast::string_view;

  explicit MessageParser(std::string& body) : body_(body) {}

  // True once the head is complete: a field reported from then on is a trailer.
  bool in_trailers() const { return in_trailers_; }
  // Derived classes call this from on_header_impl.
  void head_complete() { in_trailers_ = true; }

 public:
  // Zero-copy collection (null: off): while the body string is empty, body bytes that are contiguous in
  // the parsed buffer are not copied but recorded in `*view`, which points into that buffer and so is
  // valid only while the buffer's memory is not written again. Bytes that are not contiguous with the view
  // (after a chunk header) end it: the view is copied into the body string, which collects the rest.
  void collect_views(std::string_view* view) { view_ = view; }

 private:
  void collect(string_view body) {
    if (view_ != nullptr && body_.empty()) {
      if (view_->empty()) {
        *view_ = std::string_view(body.data(), body.size());
        return;
      }
      if (view_->data() + view_->size() == body.data()) {
        *view_ = std::string_view(view_->data(), view_->size() + body.size());
        return;
      }
      body_.assign(view_->data(), view_->size());
      *view_ = {};
    }
    body_.append(body.data(), body.size());
  }
  void on_body_init_impl(boost::optional<std::uint64_t> const&, error_code&) override {}
  std::size_t on_body_impl(string_view body, error_code&) override {
    collect(body);
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t, string_view, error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, string_view body, error_code&) override {
    collect(body);
    return body.size();
  }
  void on_finish_impl(error_code&) override {}

  std::string& body_;
  std::string_view* view_ = nullptr;
  bool in_trailers_ = false;
};

}  // namespace workgate::http
