// Beast's HTTP/1 parser feeding a Request: header fields go into the request's arena, body bytes are
// appended to request.body (the caller bounds them with body_limit()).
#pragma once

#include <boost/beast/http/basic_parser.hpp>
#include <cstddef>

#include "http/message.hpp"

namespace workgate::http {

class RequestParser final : public boost::beast::http::basic_parser<true> {
 public:
  RequestParser(Request& request, std::size_t max_fields) : request_(request), max_fields_(max_fields) {}

  bool too_many_fields() const { return too_many_fields_; }

 private:
  using error_code = boost::beast::error_code;
  using string_view = boost::beast::string_view;

  void on_request_impl(boost::beast::http::verb, string_view method, string_view target, int version,
                       error_code&) override {
    request_.method.assign(method.data(), method.size());
    request_.target.assign(target.data(), target.size());
    request_.version = static_cast<unsigned>(version);
  }
  void on_response_impl(int, string_view, int, error_code&) override {}
  void on_field_impl(boost::beast::http::field, string_view name, string_view value,
                     error_code& ec) override {
    if (++fields_ > max_fields_) {
      too_many_fields_ = true;
      ec = boost::beast::http::error::header_limit;
      return;
    }
    request_.headers.add(std::string_view(name.data(), name.size()),
                         std::string_view(value.data(), value.size()));
  }
  void on_header_impl(error_code&) override {}
  void on_body_init_impl(boost::optional<std::uint64_t> const&, error_code&) override {}
  std::size_t on_body_impl(string_view body, error_code&) override {
    request_.body.append(body.data(), body.size());
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t, string_view, error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, string_view body, error_code&) override {
    request_.body.append(body.data(), body.size());
    return body.size();
  }
  void on_finish_impl(error_code&) override {}

  Request& request_;
  std::size_t max_fields_;
  std::size_t fields_ = 0;
  bool too_many_fields_ = false;
};

}  // namespace workgate::http
