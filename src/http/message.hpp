// The request and response the gateway passes between the connection and the pipeline.
#pragma once

#include <boost/system/error_code.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "http/headers.hpp"

namespace workgate::http {

class TunnelSide;  // tunnel.hpp

struct Request {
  std::string method;  // as sent (case kept)
  std::string target;  // raw request-target
  std::string path;    // target's path with dot segments resolved; percent-encoding kept
  std::string query;   // raw query without '?'
  bool has_query = false;
  unsigned version = 11;  // 10 or 11; 20 for a stream of an HTTP/2 connection
  HeaderList headers;
  std::string body;  // the whole body once buffered
  std::optional<std::uint64_t> content_length;
  bool chunked = false;
  bool keep_alive = true;
  std::string client_address;  // peer IP address, for X-Forwarded-For and logs
  // The connection's listener (its index in the server's list) and whether it is TLS: the same for every
  // request of a connection, kept by clear().
  std::uint16_t listener = 0;
  bool tls = false;

  bool is_head() const { return method == "HEAD"; }

  // Gives back what the last request's strings and fields grew (an idle connection); the connection's
  // fields (client_address, listener, tls) stay.
  void release_memory() {
    clear();
    for (std::string* s : {&method, &target, &path, &query, &body})
      if (s->capacity() > 0) std::string().swap(*s);
    headers.clear_keeping(0);
  }

  // Empties the request for the next one on the connection, keeping allocated capacity.
  void clear() {
    method.clear();
    target.clear();
    path.clear();
    query.clear();
    has_query = false;
    version = 11;
    headers.clear();
    body.clear();
    content_length.reset();
    chunked = false;
    keep_alive = true;
  }
};

// Work started for a request that must stop when its client goes away (an upstream call, its place in a
// pool queue, a worker call). The request holds it weakly: the work owns itself while it runs.
class Cancellable {
 public:
  // Stops the work: no callback of it runs afterwards, and what it holds (sockets, its queue place, the
  // exchange) is released. Called on the connection's thread; a no-op once the work has completed.
  virtual void cancel() = 0;

 protected:
  ~Cancellable() = default;
};

// A response body produced while it is being sent (a proxied upstream body). The connection pulls one
// piece at a time, so a slow client slows the producer down (backpressure).
class BodySource {
 public:
  using Handler = std::function<void(const boost::system::error_code&, std::string_view data, bool last)>;
  virtual ~BodySource() = default;
  // The body size when known (sent as Content-Length), else the body is sent chunked.
  virtual std::optional<std::uint64_t> length() const = 0;
  // Produces the next piece; `data` stays valid until the next pull(). An error aborts the response: the
  // client connection is closed so that a truncated body is never presented as complete.
  virtual void pull(Handler handler) = 0;
  // The next pull() calls its handler before it returns (a piece is already at hand).
  virtual bool ready() const { return false; }
  // The body will not be pulled (HEAD request, client gone): release what is held.
  virtual void cancel() = 0;
};

struct Response {
  int status = 200;
  std::string_view content_type;  // static storage or config snapshot; "" = no Content-Type
  HeaderList headers;             // further fields
  bool close = false;             // send Connection: close and close after writing
  // Complete "Name: value\r\n" lines appended verbatim (headers every response of a config carries,
  // formatted once per config load). Must outlive the exchange.
  std::string_view fixed_lines;
  // The headers already carry Content-Length (a proxied HEAD response): do not compute one.
  bool keep_content_length = false;
  // When set, the body comes from here instead of body().
  std::shared_ptr<BodySource> body_source;
  // A 101 to an Upgrade request: the upstream connection switched, with what it sent after the 101 head.
  // Once the head is written the connection joins the client to it (Connection::start_tunnel); a response
  // that does not switch after all (a hook changed it) drops it, which closes the upstream connection.
  std::shared_ptr<TunnelSide> upgraded;
  // The gateway's error code of a response it generated (pipeline/errors.cpp; static storage), for the
  // access log; empty for any other response.
  std::string_view error_code;

  // The body is either owned or a view of memory that outlives the exchange (the config snapshot).
  void set_body(std::string body) {
    owned_body_ = std::move(body);
    external_body_ = {};
    external_ = false;
  }
  // As set_body(std::move(body)), but `body` gets the storage of the body it replaces, cleared (for reuse).
  void swap_body(std::string& body) {
    owned_body_.swap(body);
    body.clear();
    external_body_ = {};
    external_ = false;
  }
  void set_external_body(std::string_view body) {
    owned_body_.clear();
    external_body_ = body;
    external_ = true;
  }
  std::string_view body() const { return external_ ? external_body_ : std::string_view(owned_body_); }
  std::string& owned_body() { return owned_body_; }

  // Back to a default response for the next request on the connection, keeping the header and body
  // memory when it is small (so a keep-alive connection's responses allocate nothing in steady state).
  void reset_for_reuse() {
    constexpr std::size_t kKeepBytes = 16 * 1024;
    status = 200;
    content_type = {};
    headers.clear_keeping(kKeepBytes);
    close = false;
    fixed_lines = {};
    keep_content_length = false;
    body_source.reset();
    upgraded.reset();
    error_code = {};
    if (owned_body_.capacity() > kKeepBytes) {
      std::string().swap(owned_body_);
    } else {
      owned_body_.clear();
    }
    external_body_ = {};
    external_ = false;
  }

 private:
  std::string owned_body_;
  std::string_view external_body_;
  bool external_ = false;
};

std::string_view reason_phrase(int status);

}  // namespace workgate::http
