#include "http/request_parser.hpp"

#include <array>
#include <boost/asio/ip/address_v6.hpp>
#include <charconv>

#include "http/headers.hpp"

namespace workgate::http {
namespace {

// Transfer codings of the IANA registry that we recognise but do not decode (RFC 9112 §7).
constexpr std::array<std::string_view, 6> kKnownCodings = {"gzip",     "x-gzip",     "deflate",
                                                           "compress", "x-compress", "identity"};

constexpr bool is_unreserved_or_sub_delim(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '-':
    case '.':
    case '_':
    case '~':
    case '!':
    case '$':
    case '&':
    case '\'':
    case '(':
    case ')':
    case '*':
    case '+':
    case ',':
    case ';':
    case '=':
      return true;
    default:
      return false;
  }
}

constexpr bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// The rule above as a table (one load per byte of every request's Host header; the switch was ~12
// instructions a byte).
constexpr std::array<bool, 256> kRegNameByte = [] {
  std::array<bool, 256> table{};
  for (int c = 0; c < 256; ++c)
    table[static_cast<std::size_t>(c)] = is_unreserved_or_sub_delim(static_cast<char>(c));
  return table;
}();

bool valid_reg_name(std::string_view name) {
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    if (kRegNameByte[static_cast<unsigned char>(c)]) continue;
    if (c == '%') {
      if (i + 2 >= name.size() || !is_hex(name[i + 1]) || !is_hex(name[i + 2])) return false;
      i += 2;
      continue;
    }
    return false;
  }
  return true;
}

}  // namespace

FramingError check_transfer_encoding(std::string_view value) {
  std::size_t codings = 0;
  std::size_t chunked = 0;
  bool last_is_chunked = false;
  bool unknown = false;
  bool malformed = false;
  // Empty list elements are allowed and ignored (RFC 9110 §5.6.1).
  for_each_list_element(value, [&](std::string_view element) {
    ++codings;
    std::string_view name = element;
    bool has_parameters = false;
    if (auto semicolon = element.find(';'); semicolon != std::string_view::npos) {
      name = trim_ows(element.substr(0, semicolon));
      has_parameters = true;
    }
    last_is_chunked = iequals(name, "chunked");
    if (last_is_chunked) {
      ++chunked;
      if (has_parameters) malformed = true;  // chunked takes no parameters
    } else {
      bool known = false;
      for (std::string_view k : kKnownCodings)
        known = known || iequals(name, k);
      if (!known) unknown = true;
    }
    return true;
  });
  if (codings == 0 || malformed) return FramingError::kBadRequest;
  // Framing first: a message whose final coding is not chunked has no determinable length (400), whatever
  // the codings are; then what we cannot decode (501).
  if (!last_is_chunked || chunked != 1)
    return unknown ? FramingError::kNotImplemented : FramingError::kBadRequest;
  if (codings > 1) return FramingError::kNotImplemented;  // e.g. "gzip, chunked": we do not decode gzip
  return FramingError::kNone;
}

bool valid_host_header(std::string_view value) {
  std::string_view host = value;
  std::string_view port;
  bool has_port = false;
  if (!host.empty() && host.front() == '[') {
    auto close = host.find(']');
    if (close == std::string_view::npos) return false;
    std::string_view literal = host.substr(1, close - 1);
    std::string_view rest = host.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return false;
      port = rest.substr(1);
      has_port = true;
    }
    if (literal.empty() || literal.find('%') != std::string_view::npos) return false;
    boost::system::error_code ec;
    boost::asio::ip::make_address_v6(std::string(literal), ec);
    if (ec) return false;
  } else {
    auto colon = host.rfind(':');
    if (colon != std::string_view::npos) {
      port = host.substr(colon + 1);
      host = host.substr(0, colon);
      has_port = true;
    }
    if (!valid_reg_name(host)) return false;  // also refuses a second ':' (an unbracketed IPv6 address)
  }
  if (has_port && !port.empty()) {
    if (port.size() > 5) return false;
    unsigned number = 0;
    auto r = std::from_chars(port.data(), port.data() + port.size(), number);
    if (r.ec != std::errc() || r.ptr != port.data() + port.size() || number > 65535) return false;
  }
  return true;
}

}  // namespace workgate::http
