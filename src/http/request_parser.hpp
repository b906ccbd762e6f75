// Beast's HTTP/1 parser feeding a Request: header fields go into the request's arena, body bytes are
// appended to request.body (the caller bounds them with body_limit()).
//
// On top of Beast's own checks it enforces the framing rules a gateway in front of other servers must
// hold to (RFC 9112 §6, RFC 9110 §7.2), because a request that two HTTP implementations frame differently
// is a request-smuggling primitive:
// - Transfer-Encoding: exactly "chunked"; a final coding other than chunked, or chunked twice, is 400; a
//   coding we do not implement (anything else, or gzip before chunked) is 501.
// - Host and Authorization (and Origin, which CORS decides on) appear at most once; Host is a valid
//   host[:port].
// - Chunked trailer fields are never request headers: they are counted against the field limit and
//   dropped.
#pragma once

#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <cstddef>
#include <string_view>

#include "http/message.hpp"
#include "http/message_parser.hpp"

namespace workgate::http {

// Why a syntactically complete request head was refused by our own framing rules.
enum class FramingError { kNone, kBadRequest, kNotImplemented };

// Classifies a Transfer-Encoding field value (the only one: Beast refuses a repeated field).
FramingError check_transfer_encoding(std::string_view value);
// host [ ":" port ] per RFC 3986 §3.2.2/3.2.3 (reg-name, IPv4 or a bracketed IPv6 literal; port 0-65535).
bool valid_host_header(std::string_view value);

class RequestParser final : public MessageParser<true> {
 public:
  RequestParser(Request& request, std::size_t max_fields)
      : MessageParser<true>(request.body), request_(request), max_fields_(max_fields) {}

  bool too_many_fields() const { return too_many_fields_; }
  bool has_transfer_encoding() const { return has_transfer_encoding_; }
  FramingError framing_error() const { return framing_error_; }

 private:
  using field = boost::beast::http::field;

  void on_request_impl(boost::beast::http::verb, string_view method, string_view target, int version,
                       error_code&) override {
    request_.method.assign(method.data(), method.size());
    request_.target.assign(target.data(), target.size());
    request_.version = static_cast<unsigned>(version);
  }
  void on_response_impl(int, string_view, int, error_code&) override {}
  void on_field_impl(field f, string_view name, string_view value, error_code& ec) override {
    if (++fields_ > max_fields_) {
      too_many_fields_ = true;
      ec = boost::beast::http::error::header_limit;
      return;
    }
    if (in_trailers()) return;  // a trailer field: never a request header
    std::string_view v(value.data(), value.size());
    switch (f) {
      case field::host:
        if (++hosts_ > 1 || !valid_host_header(v)) refuse(FramingError::kBadRequest, ec);
        break;
      case field::authorization:
        if (++authorizations_ > 1) refuse(FramingError::kBadRequest, ec);
        break;
      case field::origin:
        if (++origins_ > 1) refuse(FramingError::kBadRequest, ec);
        break;
      case field::transfer_encoding:
        has_transfer_encoding_ = true;  // checked once the head is complete (no lookup per request)
        break;
      default:
        break;
    }
    if (ec) return;
    request_.headers.add(std::string_view(name.data(), name.size()), v);
  }
  void on_header_impl(error_code& ec) override {
    head_complete();
    if (!has_transfer_encoding_) return;
    if (auto te = request_.headers.get("Transfer-Encoding")) {
      FramingError error = check_transfer_encoding(*te);
      // Beast's own reading of the field must agree with ours: a request it would not frame as chunked is
      // refused rather than framed two ways.
      if (error == FramingError::kNone && !chunked()) error = FramingError::kBadRequest;
      if (error != FramingError::kNone) refuse(error, ec);
    }
  }
  void refuse(FramingError error, error_code& ec) {
    framing_error_ = error;
    ec = boost::beast::http::error::bad_field;
  }

  Request& request_;
  std::size_t max_fields_;
  std::size_t fields_ = 0;
  unsigned hosts_ = 0;
  unsigned authorizations_ = 0;
  unsigned origins_ = 0;
  bool has_transfer_encoding_ = false;
  bool too_many_fields_ = false;
  FramingError framing_error_ = FramingError::kNone;
};

}  // namespace workgate::http
