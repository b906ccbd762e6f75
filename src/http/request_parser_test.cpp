#include "http/request_parser.hpp"

#include <gtest/gtest.h>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/test_support.hpp"

namespace workgate::http {
namespace {

namespace beast = boost::beast;

using test_support::Fields;
using test_support::fields;

// Feeds `pieces` one after another the way a connection does: unconsumed bytes stay buffered and are
// offered again together with the next piece. Returns the first error other than need_more.
beast::error_code feed(RequestParser& parser, const std::vector<std::string>& pieces) {
  std::string buffered;
  for (const std::string& piece : pieces) {
    buffered += piece;
    while (!buffered.empty() && !parser.is_done()) {
      beast::error_code ec;
      std::size_t n = parser.put(boost::asio::buffer(buffered), ec);
      buffered.erase(0, n);
      if (ec == beast::http::error::need_more) break;
      if (ec) return ec;
      if (n == 0) break;
    }
  }
  return {};
}

beast::error_code feed(RequestParser& parser, std::string_view whole) {
  return feed(parser, std::vector<std::string>{std::string(whole)});
}

std::vector<std::string> bytes(std::string_view text) {
  std::vector<std::string> out;
  for (char c : text)
    out.emplace_back(1, c);
  return out;
}

TEST(RequestParser, RequestLineAndFields) {
  Request req;
  RequestParser parser(req, 100);
  auto ec = feed(parser, "GET /a/b?x=1 HTTP/1.1\r\nHost: example.com\r\nX-Dup: 1\r\nx-dup: 2\r\n\r\n");
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_TRUE(parser.is_done());
  EXPECT_EQ(req.method, "GET");
  EXPECT_EQ(req.target, "/a/b?x=1");
  EXPECT_EQ(req.version, 11u);
  EXPECT_EQ(fields(req.headers), (Fields{{"Host", "example.com"}, {"X-Dup", "1"}, {"x-dup", "2"}}));
  EXPECT_EQ(req.body, "");
  EXPECT_FALSE(parser.too_many_fields());
}

TEST(RequestParser, Http10AndExtensionMethod) {
  Request req;
  RequestParser parser(req, 100);
  auto ec = feed(parser, "PURGE * HTTP/1.0\r\n\r\n");
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(req.method, "PURGE");
  EXPECT_EQ(req.target, "*");
  EXPECT_EQ(req.version, 10u);
  EXPECT_TRUE(req.headers.empty());
}

TEST(RequestParser, FieldValuesAreTrimmed) {
  Request req;
  RequestParser parser(req, 100);
  auto ec = feed(parser, "GET / HTTP/1.1\r\nA:   spaced value  \r\nB:\r\n\r\n");
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(req.headers.get("A"), "spaced value");
  ASSERT_TRUE(req.headers.get("B").has_value());
  EXPECT_EQ(*req.headers.get("B"), "");
}

TEST(RequestParser, ContentLengthBody) {
  Request req;
  RequestParser parser(req, 100);
  parser.eager(true);
  auto ec = feed(parser, "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world");
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_TRUE(parser.is_done());
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.body, "hello world");
  EXPECT_FALSE(parser.chunked());
  ASSERT_TRUE(parser.content_length().has_value());
  EXPECT_EQ(*parser.content_length(), 11u);
}

TEST(RequestParser, ChunkedBody) {
  Request req;
  RequestParser parser(req, 100);
  parser.eager(true);
  auto ec = feed(parser,
                 "POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n");
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_TRUE(parser.is_done());
  EXPECT_TRUE(parser.chunked());
  EXPECT_EQ(req.body, "hello world");
}

TEST(RequestParser, TooManyFields) {
  Request req;
  RequestParser parser(req, 2);
  auto ec = feed(parser, "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n");
  EXPECT_EQ(ec, beast::http::error::header_limit);
  EXPECT_TRUE(parser.too_many_fields());
  EXPECT_FALSE(parser.is_done());
  EXPECT_EQ(fields(req.headers), (Fields{{"A", "1"}, {"B", "2"}}));
}

TEST(RequestParser, ExactlyMaxFieldsIsFine) {
  Request req;
  RequestParser parser(req, 2);
  auto ec = feed(parser, "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\n\r\n");
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_TRUE(parser.is_done());
  EXPECT_FALSE(parser.too_many_fields());
}

TEST(RequestParser, HeaderBytesLimitIsNotTooManyFields) {
  Request req;
  RequestParser parser(req, 100);
  parser.header_limit(64);
  auto ec = feed(parser, "GET / HTTP/1.1\r\nA: " + std::string(200, 'x') + "\r\n\r\n");
  EXPECT_EQ(ec, beast::http::error::header_limit);
  EXPECT_FALSE(parser.too_many_fields());
}

TEST(RequestParser, SplitAcrossPutCalls) {
  const std::string message =
      "POST /split?q=1 HTTP/1.1\r\nHost: h\r\nX-Long: abcdefghijklmnop\r\nContent-Length: "
      "10\r\n\r\n0123456789";
  Request req;
  RequestParser parser(req, 100);
  parser.eager(true);
  auto ec = feed(parser, bytes(message));
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_TRUE(parser.is_done());
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.target, "/split?q=1");
  EXPECT_EQ(fields(req.headers),
            (Fields{{"Host", "h"}, {"X-Long", "abcdefghijklmnop"}, {"Content-Length", "10"}}));
  EXPECT_EQ(req.body, "0123456789");
}

TEST(RequestParser, ChunkedSplitAcrossPutCalls) {
  const std::string message =
      "PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nA\r\n0123456789\r\n0\r\n\r\n";
  Request req;
  RequestParser parser(req, 100);
  parser.eager(true);
  auto ec = feed(parser, bytes(message));
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_TRUE(parser.is_done());
  EXPECT_EQ(req.body, "abc0123456789");
}

TEST(RequestParser, IncompleteInputIsNotDone) {
  Request req;
  RequestParser parser(req, 100);
  parser.eager(true);
  auto ec = feed(parser, "POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n01234");
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_TRUE(parser.is_header_done());
  EXPECT_FALSE(parser.is_done());
  EXPECT_EQ(req.body, "01234");
}

TEST(RequestParser, MalformedRequestLine) {
  Request req;
  RequestParser parser(req, 100);
  auto ec = feed(parser, "GET /a HTTP/9.9.9\r\n\r\n");
  EXPECT_TRUE(ec);
  EXPECT_FALSE(parser.is_done());
}

TEST(TransferEncoding, OnlyAFinalSingleChunkedFramesABody) {
  EXPECT_EQ(check_transfer_encoding("chunked"), FramingError::kNone);
  EXPECT_EQ(check_transfer_encoding("Chunked"), FramingError::kNone);
  EXPECT_EQ(check_transfer_encoding(" chunked ,"), FramingError::kNone);
  for (std::string_view te : {"gzip", "identity", "chunked, identity", "chunked, gzip", "chunked, chunked",
                              "chunked;a=b", "", " , ", "gzip, chunked, chunked"}) {
    EXPECT_EQ(check_transfer_encoding(te), FramingError::kBadRequest) << te;
  }
  for (std::string_view te :
       {"xchunked", "chunkedx", "foo", "gzip, chunked", "deflate,chunked", "foo, chunked"}) {
    EXPECT_EQ(check_transfer_encoding(te), FramingError::kNotImplemented) << te;
  }
}

TEST(HostHeader, Syntax) {
  for (std::string_view ok : {"a.example", "A.example:8080", "127.0.0.1", "[::1]", "[::1]:443",
                              "a.example:", "", "a%41", "x_y~z!$&'()*+,;=", "a:65535"}) {
    EXPECT_TRUE(valid_host_header(ok)) << ok;
  }
  for (std::string_view bad :
       {"a b", "a/b", "u@a", "a:x", "a:65536", "a:1:2", "::1", "[::1", "[::1]x", "[zz]", "a%4", "a%zz",
        "a:-1", "a:+1", "a?b", "a#b", "a\\b", "[fe80::1%25eth0]"}) {
    EXPECT_FALSE(valid_host_header(bad)) << bad;
  }
}

// Every byte inside a host name: only RFC 3986's unreserved characters and sub-delims (percent-encoding
// aside) are allowed.
TEST(HostHeader, EveryByteInAName) {
  const std::string_view allowed =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=";
  for (int byte = 0; byte < 256; ++byte) {
    std::string host = "a";
    host.push_back(static_cast<char>(byte));
    host += "b.example";
    bool expected = allowed.find(static_cast<char>(byte)) != std::string_view::npos;
    EXPECT_EQ(valid_host_header(host), expected) << "byte " << byte;
  }
}

TEST(RequestParser, FramingRefusalsNameTheirStatus) {
  struct Case {
    std::string_view request;
    FramingError error;
  };
  const Case cases[] = {
      {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", FramingError::kBadRequest},
      {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", FramingError::kNotImplemented},
      {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", FramingError::kBadRequest},
      {"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", FramingError::kBadRequest},
      {"GET / HTTP/1.1\r\nHost: a\r\nAuthorization: x\r\nauthorization: y\r\n\r\n",
       FramingError::kBadRequest},
      {"GET / HTTP/1.1\r\nHost: a\r\nOrigin: x\r\nOrigin: y\r\n\r\n", FramingError::kBadRequest},
  };
  for (const Case& c : cases) {
    Request req;
    RequestParser parser(req, 100);
    auto ec = feed(parser, c.request);
    EXPECT_TRUE(ec) << c.request;
    EXPECT_EQ(parser.framing_error(), c.error) << c.request;
  }
}

TEST(RequestParser, TrailersAreNotHeaders) {
  Request req;
  RequestParser parser(req, 100);
  parser.eager(true);
  auto ec = feed(parser,
                 "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "3\r\nabc\r\n0\r\nAuthorization: Bearer x\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n");
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_TRUE(parser.is_done());
  EXPECT_EQ(req.body, "abc");
  EXPECT_EQ(fields(req.headers), (Fields{{"Host", "a"}, {"Transfer-Encoding", "chunked"}}));
}

TEST(RequestParser, TrailerFieldsCountAgainstTheLimit) {
  Request req;
  RequestParser parser(req, 4);
  parser.eager(true);
  auto ec = feed(parser,
                 "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n");
  EXPECT_EQ(ec, beast::http::error::header_limit);
  EXPECT_TRUE(parser.too_many_fields());
}

}  // namespace
}  // namespace workgate::http
