#include "workers/js_call.hpp"

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>
#include <span>
#include <unordered_map>

#include "http/framing.hpp"
#include "observability/log.hpp"

namespace workgate::workers::js {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace json = boost::json;
using Socket = asio::local::stream_protocol::socket;

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// Hop-by-hop and framing fields: the gateway's, never passed to or taken from a worker.
bool framing(std::string_view name) {
  for (std::string_view f : {"connection", "keep-alive", "transfer-encoding", "content-length", "upgrade",
                             "te", "trailer", "proxy-connection"})
    if (iequals(name, f)) return true;
  return false;
}

std::string quote(std::string_view s) {
  return json::serialize(json::string(s));
}

// Appends serialized JSON with every character outside printable ASCII escaped as \uXXXX (invalid UTF-8 as
// U+FFFD), so that it can travel as a header field value. JSON escapes control characters already, so any
// such byte is inside a string.
void append_ascii(std::string& out, std::string_view text) {
  auto escape = [&out](std::uint32_t unit) {
    static constexpr char kHex[] = "0123456789abcdef";
    out += "\\u";
    for (int shift = 12; shift >= 0; shift -= 4)
      out += kHex[(unit >> shift) & 0xf];
  };
  for (std::size_t i = 0; i < text.size();) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      if (c == 0x7f) {
        escape(c);
      } else {
        out += static_cast<char>(c);
      }
      ++i;
      continue;
    }
    std::uint32_t cp = 0;
    std::size_t length = decode_utf8(text, i, cp);
    if (length == 0) {
      escape(0xfffd);
      ++i;
      continue;
    }
    if (cp >= 0x10000) {
      cp -= 0x10000;
      escape(0xd800 + (cp >> 10));
      escape(0xdc00 + (cp & 0x3ff));
    } else {
      escape(cp);
    }
    i += length;
  }
}

bool secret_key(std::string_view key) {
  std::string k = lower(key);
  for (std::string_view s : {"secret", "password", "private_key", "api_key", "api-key", "apikey"})
    if (k.find(s) != std::string::npos) return true;
  return false;
}

bool placeholder(const json::value& v) {
  if (!v.is_string()) return false;
  std::string_view s = v.get_string();
  return s.starts_with("$env.") || s.starts_with("$secret.") || s.starts_with("$secrets.");
}

void redact(json::value& v) {
  if (v.is_object()) {
    json::object& o = v.get_object();
    for (auto it = o.begin(); it != o.end();) {
      if (secret_key(it->key()) || placeholder(it->value())) {
        it = o.erase(it);
      } else {
        redact(it->value());
        ++it;
      }
    }
  } else if (v.is_array()) {
    json::array& a = v.get_array();
    for (auto it = a.begin(); it != a.end();) {
      if (placeholder(*it)) {
        it = a.erase(it);
      } else {
        redact(*it);
        ++it;
      }
    }
  }
}

// The idle connections of one event loop, by socket path (destroyed with the loop).
class Pools final : public asio::execution_context::service {
 public:
  static asio::execution_context::id id;
  explicit Pools(asio::execution_context& ctx) : asio::execution_context::service(ctx) {}

  struct Idle {
    std::unique_ptr<Socket> socket;
    std::uint64_t generation = 0;
    std::chrono::steady_clock::time_point since;  // when it went idle
  };
  static constexpr std::size_t kMaxIdle = 256;
  // workerd closes a keep-alive connection that has carried no request for ~15 s (measured: alive after
  // 8 s, gone after 16 s). One idle longer than this is not reused: a streamed call on a connection
  // workerd has closed could not be retried once its body is pulled.
  static constexpr std::chrono::seconds kMaxIdleAge{5};
  std::unordered_map<std::string, std::vector<Idle>> idle;

 private:
  void shutdown() override { idle.clear(); }
};
asio::execution_context::id Pools::id;

class Call final : public http::Cancellable, public std::enable_shared_from_this<Call> {
 public:
  using Clock = std::chrono::steady_clock;

  Call(asio::io_context& io, const JsFunction& fn, const JsCallInput& input,
       std::function<void(Outcome)> done)
      : io_(io),
        engine_(fn.engine),
        process_(fn.engine->process_of(input.shard)),
        path_(fn.engine->socket(process_, fn.script)),
        kind_(input.kind),
        request_(input.request),
        limits_(input.limits),
        timer_(io),
        done_(std::move(done)),
        body_(input.body),
        streamed_(input.body != nullptr) {
    EncodedCall call = encode_call(fn, input);
    payload_ = std::move(call.owned_body);
    // The request body stays where it is (the exchange outlives the call).
    std::string_view payload = call.request_body ? std::string_view(input.request->body) : payload_;
    payload_view_ = payload;
    bool sends_body = body_ || !payload.empty();
    head_.reserve(call.request_line.size() + call.fields.size() + call.meta.size() + 64);
    head_ = call.request_line;
    head_ += call.fields;
    head_.append("x-wg-call: ").append(call.meta).append("\r\n");
    if (!body_) {
      if (sends_body) head_ += "Content-Length: " + std::to_string(payload.size()) + "\r\n";
    } else if (auto length = body_->length()) {
      head_ += "Content-Length: " + std::to_string(*length) + "\r\n";
    } else {
      chunked_ = true;  // the client's body is chunked: so is ours
      head_ += "Transfer-Encoding: chunked\r\n";
    }
    head_ += "\r\n";
    timeout_ = input.timeout;
  }

  void start() {
    if (head_.size() > kMaxHead) {
      // workerd refuses request heads of about half a MiB and more (it closes the connection); only a
      // gateway.max_header_bytes that large lets one through: the client is told, as for any large head.
      Outcome o;
      o.status = Outcome::Status::kRequestBody;
      o.body_error = http::ProtocolError::kHeadersTooLarge;
      o.result.kind = ResultData::Kind::kError;
      o.result.value = "the request head is too large for workerd";
      asio::post(io_,
                 [self = shared_from_this(), o = std::move(o)]() mutable { self->finish(std::move(o)); });
      return;
    }
    deadline_ = Clock::now() + timeout_;
    arm_timer();
    connect();
  }

  void cancel() override {
    if (finished_) return;
    finished_ = true;
    timer_.cancel();
    close_socket();
    release_body();
    done_ = nullptr;
  }

 private:
  // The call's deadline moves on by the time spent waiting for the client's body (timeout_ms is the
  // worker's time); the timer is re-armed only when it fires before the moved deadline.
  void arm_timer() {
    timer_.expires_at(deadline_);
    timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) { self->on_timer(ec); });
  }

  void on_timer(boost::system::error_code ec) {
    if (ec || finished_) return;
    if (waiting_client_) {
      timer_idle_ = true;  // re-armed when the client's piece arrives
      return;
    }
    if (Clock::now() < deadline_) return arm_timer();
    engine_->report_timeout(process_);
    finish_error(Outcome::Status::kTimeout, "timed out");
  }

  void connect() {
    generation_ = engine_->generation(process_);
    auto& pools = asio::use_service<Pools>(io_);
    auto& list = pools.idle[path_];
    // The list is in the order the connections went idle: those too old for reuse are at its front.
    auto too_old = Clock::now() - Pools::kMaxIdleAge;
    auto young =
        std::find_if(list.begin(), list.end(), [&](const Pools::Idle& idle) { return idle.since > too_old; });
    list.erase(list.begin(), young);
    while (!list.empty()) {
      Pools::Idle idle = std::move(list.back());
      list.pop_back();
      if (idle.generation == generation_ && idle.socket->is_open()) {
        socket_ = std::move(idle.socket);
        reused_ = true;
        send();
        return;
      }
    }
    connect_fresh();
  }

  void connect_fresh() {
    reused_ = false;
    socket_ = std::make_unique<Socket>(io_);
    socket_->async_connect(asio::local::stream_protocol::endpoint(path_),
                           [self = shared_from_this(), attempt = attempt_](boost::system::error_code ec) {
                             if (self->finished_ || attempt != self->attempt_) return;
                             if (ec) return self->finish_error(Outcome::Status::kUnavailable, ec.message());
                             self->send();
                           });
  }

  void send() {
    std::array<asio::const_buffer, 2> buffers{asio::buffer(head_), asio::buffer(payload_view_)};
    asio::async_write(
        *socket_, buffers,
        [self = shared_from_this(), attempt = attempt_](boost::system::error_code ec, std::size_t) {
          if (self->finished_ || attempt != self->attempt_) return;
          if (ec) return self->retry_or_fail(ec);
          self->read();
          // The answer is read while the body goes out: a worker may answer before it has
          // read all of it (or without reading it).
          if (self->body_) self->pull_body();
        });
  }

  void pull_body() {
    pulled_ = true;
    waiting_client_ = true;
    wait_started_ = Clock::now();
    body_->pull([self = shared_from_this()](const boost::system::error_code& ec, std::string_view data,
                                            bool last) { self->on_body_piece(ec, data, last); });
  }

  void on_body_piece(const boost::system::error_code& ec, std::string_view data, bool last) {
    if (finished_ || !body_) return;
    waiting_client_ = false;
    deadline_ += Clock::now() - wait_started_;
    if (timer_idle_) {
      timer_idle_ = false;
      arm_timer();
    }
    if (ec) {
      Outcome o;
      o.status = Outcome::Status::kRequestBody;
      o.body_error = http::body_read_error(ec).value_or(http::ProtocolError::kBadRequest);
      o.result.kind = ResultData::Kind::kError;
      o.result.value = ec.message();
      close_socket();  // workerd sees a truncated body, never a complete one
      return finish(std::move(o));
    }
    if (data.empty() && !last) return pull_body();
    // The buffer sequence must outlive the asynchronous write: a partial write (a piece larger than what
    // the socket takes at once) goes on from it later.
    http::ChunkFramer::Buffers& buffers = body_buffers_;
    std::size_t count = 0;
    if (chunked_) {
      count = chunk_framer_.frame(data, last, buffers);
    } else if (!data.empty()) {
      buffers[count++] = asio::buffer(data);
    }
    asio::async_write(*socket_, std::span(buffers.data(), count),
                      [self = shared_from_this(), attempt = attempt_, last](boost::system::error_code written,
                                                                            std::size_t) {
                        if (self->finished_ || attempt != self->attempt_) return;
                        if (written) {
                          // workerd stopped reading (it answered early, or it is gone): the answer, or the
                          // read's error, decides the outcome.
                          self->release_body();
                          return;
                        }
                        if (last) {
                          self->body_sent_ = true;
                          self->release_body();
                          return;
                        }
                        self->pull_body();
                      });
  }

  void read() {
    parser_.emplace();
    parser_->header_limit(64 * 1024);
    parser_->body_limit(limits_.max_body_bytes + 64 * 1024);
    buffer_.clear();
    beast::http::async_read(
        *socket_, buffer_, *parser_,
        [self = shared_from_this(), attempt = attempt_](boost::system::error_code ec, std::size_t) {
          if (self->finished_ || attempt != self->attempt_) return;
          if (ec) return self->retry_or_fail(ec);
          self->answered();
        });
  }

  // A pooled connection the process closed meanwhile fails before any answer: once, on a new one. A
  // streamed call only while none of its body has been pulled from the client (the head's write failed):
  // what was pulled cannot be pulled again (the client gets 502, as a proxied POST would).
  void retry_or_fail(boost::system::error_code ec) {
    bool nothing_read = !parser_ || !parser_->got_some();
    if (reused_ && nothing_read && !retried_ && (!streamed_ || !pulled_)) {
      retried_ = true;
      ++attempt_;
      close_socket();
      socket_.reset();
      parser_.reset();
      connect_fresh();
      return;
    }
    if (ec == beast::http::error::body_limit) {
      return finish_error(Outcome::Status::kError,
                          "the worker's answer is larger than gateway.max_body_bytes");
    }
    finish_error(Outcome::Status::kUnavailable, ec.message());
  }

  void answered() {
    auto& res = parser_->get();
    std::vector<std::pair<std::string, std::string>> headers;
    std::string_view result = bridge_result(res.reason());
    for (const auto& f : res)
      headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    // A connection whose request is not completely written (the worker answered before the streamed body
    // was all sent) cannot carry another call.
    bool keep = parser_->keep_alive() && (!streamed_ || body_sent_);
    int status = static_cast<int>(res.result_int());
    std::string body = std::move(res.body());
    if (keep && engine_->generation(process_) == generation_) {
      auto& list = asio::use_service<Pools>(io_).idle[path_];
      if (list.size() < Pools::kMaxIdle) list.push_back({std::move(socket_), generation_, Clock::now()});
    }
    close_socket();
    Outcome outcome = decode_answer(kind_, *request_, status, result, headers, std::move(body), limits_);
    finish(std::move(outcome));
  }

  void finish_error(Outcome::Status status, std::string message) {
    Outcome o;
    o.status = status;
    o.result.kind = ResultData::Kind::kError;
    o.result.value = std::move(message);
    close_socket();
    finish(std::move(o));
  }

  void finish(Outcome outcome) {
    if (finished_) return;
    finished_ = true;
    timer_.cancel();
    release_body();
    auto done = std::move(done_);
    done_ = nullptr;
    if (done) done(std::move(outcome));
  }

  void close_socket() {
    if (!socket_) return;
    boost::system::error_code ignored;
    socket_->close(ignored);
  }

  // Stops taking the client's body; what is left of it stays unread (the client connection then closes
  // after the answer).
  void release_body() {
    if (!body_) return;
    body_->cancel();
    body_.reset();
  }

  static constexpr std::size_t kMaxHead = 256 * 1024;

  asio::io_context& io_;
  std::shared_ptr<Engine> engine_;
  unsigned process_;
  std::string path_;
  CallKind kind_;
  const http::Request* request_;
  ResultLimits limits_;
  asio::steady_timer timer_;
  std::function<void(Outcome)> done_;
  std::chrono::milliseconds timeout_{5000};
  Clock::time_point deadline_;
  Clock::time_point wait_started_;
  std::string head_;
  std::string payload_;
  std::string_view payload_view_;           // payload_, or the request's body
  std::shared_ptr<http::BodySource> body_;  // released once sent, or when workerd stops reading it
  bool pulled_ = false;                     // a piece of the streamed body was asked of the client
  const bool streamed_;                     // the call's body is the client's, as it arrives
  http::ChunkFramer chunk_framer_;
  http::ChunkFramer::Buffers body_buffers_;  // the piece being written (one write at a time)
  std::unique_ptr<Socket> socket_;
  beast::flat_buffer buffer_;
  std::optional<beast::http::response_parser<beast::http::string_body>> parser_;
  std::uint64_t generation_ = 0;
  unsigned attempt_ = 0;  // handlers of a connection given up for a retry are stale
  bool chunked_ = false;
  bool waiting_client_ = false;
  bool timer_idle_ = false;
  bool body_sent_ = false;
  bool reused_ = false;
  bool retried_ = false;
  bool finished_ = false;
};

std::string_view kind_name(CallKind kind) {
  switch (kind) {
    case CallKind::kBinding:
      return "binding";
    case CallKind::kService:
      return "service";
    case CallKind::kPreProcess:
      return "pre";
    case CallKind::kPostProcess:
      return "post";
  }
  return "binding";
}

json::array header_array(const http::HeaderList& headers, std::string_view content_type = {}) {
  json::array out;
  if (!content_type.empty()) out.push_back(json::array{"content-type", json::string(content_type)});
  headers.for_each([&](const http::HeaderList::Field& f) {
    if (framing(f.name)) return;
    if (!content_type.empty() && iequals(f.name, "content-type")) return;
    out.push_back(json::array{json::string(f.name), json::string(f.value)});
  });
  return out;
}

// The methods workerd's HTTP server accepts and answers with a body (HEAD goes as GET, others as POST).
bool direct_method(std::string_view method) {
  return method == "GET" || method == "POST" || method == "PUT" || method == "PATCH" || method == "DELETE" ||
         method == "OPTIONS";
}

bool request_line_token(std::string_view s) {
  for (unsigned char c : s)
    if (c <= 0x20 || c >= 0x7f) return false;
  return !s.empty();
}

std::string request_url(const http::Request& request) {
  std::string url = request.tls ? "https://" : "http://";
  url += request.headers.get("host").value_or("localhost");
  url += request.path.empty() ? std::string_view("/") : std::string_view(request.path);
  if (request.has_query) url.append("?").append(request.query);
  return url;
}

// Splits an absolute URL's path and query.
void split_url(std::string_view url, std::string& path, std::optional<std::string>& query) {
  auto scheme = url.find("://");
  std::string_view rest = scheme == std::string_view::npos ? url : url.substr(scheme + 3);
  auto slash = rest.find('/');
  rest = slash == std::string_view::npos ? std::string_view("/") : rest.substr(slash);
  if (auto hash = rest.find('#'); hash != std::string_view::npos) rest = rest.substr(0, hash);
  auto q = rest.find('?');
  path = std::string(rest.substr(0, q));
  if (q != std::string_view::npos) query = std::string(rest.substr(q + 1));
}

}  // namespace

std::string redacted_document(std::string_view document, std::vector<std::string>& route_configs) {
  boost::system::error_code ec;
  json::value doc = json::parse(document, ec);
  if (ec || !doc.is_object()) return "{}";
  redact(doc);
  if (const auto* paths = doc.get_object().if_contains("paths"); paths && paths->is_array())
    for (const auto& p : paths->get_array())
      route_configs.push_back(json::serialize(p));
  return json::serialize(doc);
}

EncodedCall encode_call(const JsFunction& fn, const JsCallInput& input) {
  const http::Request& request = *input.request;
  const bool post = input.kind == CallKind::kPostProcess;
  EncodedCall out;
  const std::string url = request_url(request);

  // ctxJson's per-request parts (the bridge joins them with wg-context.js's apiConfig and route configs).
  std::string a = "\"requestUrl\":" + quote(url) + ",\"jwtPayload\":";
  a += input.claims ? json::serialize(*input.claims) : std::string("null");
  std::size_t segments = 0;
  for (char c : input.route_path)
    if (c == '/') ++segments;
  bool wildcard = input.route_path.ends_with("{.+}");
  bool exact = input.route_path.find('{') == std::string_view::npos;
  std::string b = "\"matchResult\":{\"matchedCount\":" + std::to_string(segments) +
                  ",\"isExact\":" + (exact ? "true" : "false") +
                  ",\"isWildcard\":" + (wildcard ? "true" : "false") + ",\"methodMatches\":true,\"params\":{";
  bool first = true;
  for (const auto& p : input.params) {
    if (!first) b += ",";
    first = false;
    b += quote(p.name) + ":" + quote(p.value);
  }
  b += "}}";

  std::string meta =
      "{\"op\":\"call\",\"fn\":" + quote(input.function) + ",\"kind\":" + quote(kind_name(input.kind));
  bool known_route = fn.context && input.route_index < fn.context->route_configs.size();
  meta += ",\"route\":" + (known_route ? std::to_string(input.route_index) : std::string("-1"));
  if (!known_route) meta += ",\"config\":" + quote("{\"path\":" + quote(input.route_path) + "}");
  meta += ",\"a\":" + quote(a) + ",\"b\":" + quote(b);
  if (input.body) meta += ",\"stream\":true";

  // The client's fields travel as fields of the call (workerd parses them); the few whose value is not
  // plain text go inside x-wg-call instead, escaped.
  out.fields = "Host: ";
  out.fields += request.headers.get("host").value_or("localhost");
  out.fields += "\r\n";
  json::array escaped;
  request.headers.for_each([&](const http::HeaderList::Field& f) {
    if (framing(f.name) || iequals(f.name, "host") || iequals(f.name, "expect") ||
        iequals(f.name, "x-wg-call"))
      return;
    bool plain = true;
    for (unsigned char c : f.value)
      if (c >= 0x7f || (c < 0x20 && c != '\t')) plain = false;
    if (!plain) {
      escaped.push_back(json::array{json::string(f.name), json::string(f.value)});
      return;
    }
    out.fields.append(f.name).append(": ").append(f.value).append("\r\n");
  });
  if (!escaped.empty()) meta += ",\"h\":" + json::serialize(escaped);

  const bool has_body = request.method != "GET" && request.method != "HEAD";
  std::string_view body = has_body && !input.body ? std::string_view(request.body) : std::string_view();
  // Direct: the call is the client's request line, fields and body, so workerd's own Request is the
  // function's (no copy in JS, a third of the bridge's cost). Not for post_process (its body carries the
  // response too), HEAD (workerd would drop the answer's body), methods workerd does not know, escaped
  // fields, or a URL that is not one token.
  bool direct = !post && escaped.empty() && direct_method(request.method) && request_line_token(url);
  if (direct) {
    meta += ",\"d\":1";
    out.request_line.reserve(request.method.size() + url.size() + 12);
    out.request_line.append(request.method).append(" ").append(url).append(" HTTP/1.1\r\n");
  }
  if (post && input.response != nullptr) {
    // The request body, then the response body: one buffer, split at meta.body.
    const http::Response& r = *input.response;
    std::string_view response_body = r.body_source ? std::string_view() : r.body();
    json::object res;
    res["status"] = r.status;
    res["headers"] = header_array(r.headers, r.content_type);
    res["body"] = response_body.size();
    meta += ",\"body\":" + std::to_string(body.size()) + ",\"response\":" + json::serialize(res);
    out.owned_body.reserve(body.size() + response_body.size());
    out.owned_body.append(body).append(response_body);
  } else {
    out.request_body = !body.empty();
  }
  if (!direct) {
    // The bridge builds the function's Request from these; a direct call's request line carries them.
    meta += ",\"method\":" + quote(request.method) + ",\"url\":" + quote(url);
    bool sends_body = input.body || (post ? !out.owned_body.empty() : !body.empty());
    out.request_line = sends_body ? "POST / HTTP/1.1\r\n" : "GET / HTTP/1.1\r\n";
  }
  meta += "}";
  // One property of the function's request.cf (x-wg-call is the socket's cfBlobHeader): the call's meta
  // under "wg", so that it is plainly the gateway's and not one of Cloudflare's edge properties.
  out.meta.reserve(meta.size() + 24);
  out.meta = "{\"wg\":";
  append_ascii(out.meta, meta);
  out.meta += "}";
  return out;
}

Outcome decode_answer(CallKind kind, const http::Request& request, int status, std::string_view result,
                      const std::vector<std::pair<std::string, std::string>>& headers, std::string body,
                      const ResultLimits& limits) {
  Outcome o;
  ResultData& r = o.result;
  auto fail = [&](std::string message) {
    o.status = Outcome::Status::kError;
    r = ResultData{};
    r.kind = ResultData::Kind::kError;
    r.value = std::move(message);
    return o;
  };
  if (body.size() > limits.max_body_bytes)
    return fail("the worker's answer is larger than gateway.max_body_bytes");
  if (result == "error") return fail(body.empty() ? std::string("the function failed") : std::move(body));
  if (result == "response") {
    r.kind = ResultData::Kind::kResponse;
    r.replace = true;
    r.status = status;
    if (headers.size() > limits.max_headers) return fail("the Response has too many headers");
    for (const auto& [name, value] : headers) {
      if (framing(name)) continue;
      r.response_ops.push_back({HeaderOp::kAdd, name, value});
    }
    r.response_body = std::move(body);
    return o;
  }
  if (result == "json") {
    r.kind = ResultData::Kind::kJson;
    r.value = std::move(body);
    return o;
  }
  if (result == "string") {
    r.kind = ResultData::Kind::kString;
    r.value = std::move(body);
    return o;
  }
  if (result == "null") {
    r.kind = kind == CallKind::kPostProcess ? ResultData::Kind::kNone : ResultData::Kind::kJson;
    r.value = "null";
    return o;
  }
  if (result == "undefined" || result == "true") return o;  // kNone: 400 (integration), continue (hooks)
  if (result == "other") {
    if (kind == CallKind::kPreProcess) {
      // The original: any value but true (and a Response) ends the request with an empty 200.
      r.kind = ResultData::Kind::kResponse;
      r.replace = true;
      r.status = 200;
      r.response_body = std::string();
    }
    return o;
  }
  if (result == "request" && kind == CallKind::kPreProcess) {
    auto nl = body.find('\n');
    if (nl == std::string::npos) return fail("bridge: malformed Request answer");
    boost::system::error_code ec;
    json::value meta = json::parse(std::string_view(body).substr(0, nl), ec);
    if (ec || !meta.is_object()) return fail("bridge: malformed Request answer");
    const json::object& m = meta.get_object();
    std::string path;
    std::optional<std::string> query;
    if (const auto* u = m.if_contains("url"); u && u->is_string()) split_url(u->get_string(), path, query);
    if (!path.empty() && path != request.path) r.path = path;
    if (query.value_or("") != request.query || query.has_value() != request.has_query) {
      r.query = query.value_or("");
      r.has_query = query.has_value();
    }
    // Header changes: the fields whose (combined) value differs, and the ones the Request dropped.
    std::vector<std::pair<std::string, std::string>> wanted;
    if (const auto* h = m.if_contains("headers"); h && h->is_array()) {
      for (const auto& pair : h->get_array()) {
        if (!pair.is_array() || pair.get_array().size() != 2 || !pair.get_array()[0].is_string() ||
            !pair.get_array()[1].is_string())
          return fail("bridge: malformed Request headers");
        wanted.emplace_back(lower(pair.get_array()[0].get_string()),
                            std::string(pair.get_array()[1].get_string()));
      }
    }
    if (wanted.size() > limits.max_headers) return fail("the Request has too many headers");
    std::unordered_map<std::string, std::string> current;
    request.headers.for_each([&](const http::HeaderList::Field& f) {
      std::string key = lower(f.name);
      auto [it, fresh] = current.emplace(key, std::string(f.value));
      if (!fresh) it->second.append(key == "set-cookie" ? "\n" : ", ").append(f.value);
    });
    std::unordered_map<std::string, bool> seen;
    for (const auto& [name, value] : wanted) {
      if (framing(name)) continue;
      auto it = current.find(name);
      bool first = seen.emplace(name, true).second;
      if (it != current.end() && it->second == value && first) continue;
      r.request_ops.push_back({first ? HeaderOp::kSet : HeaderOp::kAdd, name, value});
    }
    for (const auto& [name, value] : current)
      if (!framing(name) && !seen.contains(name)) r.request_ops.push_back({HeaderOp::kRemove, name, ""});
    std::string new_body = body.substr(nl + 1);
    bool has_body = request.method != "GET" && request.method != "HEAD";
    if (has_body && new_body != request.body) r.request_body = std::move(new_body);
    return o;
  }
  return fail("bridge: unexpected answer \"" + std::string(result.substr(0, 40)) + "\" (status " +
              std::to_string(status) + ")");
}

std::weak_ptr<http::Cancellable> start_call(boost::asio::io_context& io, const JsFunction& fn,
                                            const JsCallInput& input, std::function<void(Outcome)> done) {
  auto call = std::make_shared<Call>(io, fn, input, std::move(done));
  call->start();
  return call;
}

}  // namespace workgate::workers::js
