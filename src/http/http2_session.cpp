#include "http/http2_session.hpp"

#include <algorithm>
#include <boost/asio/error.hpp>
#include <boost/beast/http/error.hpp>
#include <charconv>
#include <cstring>

#include "http/target.hpp"
#include "observability/log.hpp"

namespace workgate::http {
namespace asio = boost::asio;
using boost::system::error_code;

namespace {

bool status_has_body(int status) {
  return status >= 200 && status != 204 && status != 304;
}

bool has_line_break(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

// Fields that mean something only to one HTTP/1.1 connection (RFC 9113 8.2.2): never sent on a stream.
bool connection_specific(std::string_view name) {
  return iequals(name, "connection") || iequals(name, "keep-alive") || iequals(name, "proxy-connection") ||
         iequals(name, "transfer-encoding") || iequals(name, "upgrade");
}

std::string_view view(nghttp2_rcbuf* buffer) {
  nghttp2_vec v = nghttp2_rcbuf_get_buf(buffer);
  return {reinterpret_cast<const char*>(v.base), v.len};
}

}  // namespace

bool FrameBudget::spend(Shard::Clock::time_point now) {
  double elapsed = std::chrono::duration<double>(now - last_).count();
  last_ = now;
  if (elapsed > 0) tokens_ = std::min(burst_, tokens_ + elapsed * per_second_);
  if (tokens_ < 1) return false;
  tokens_ -= 1;
  return true;
}

// One request stream: the exchange the pipeline sees, the request as it arrives, the response as it
// leaves. Owned by the session while open; asynchronous work keeps it alive (Exchange::retain()) after
// the stream closed, when everything it is asked to do is a no-op.
class Http2Stream final : public ExchangeHost, public std::enable_shared_from_this<Http2Stream> {
 public:
  Http2Stream(Http2Session& session, std::int32_t id, std::unique_ptr<Exchange> exchange)
      : session_(&session), id_(id), exchange_(std::move(exchange)) {
    exchange_->host_ = this;
  }
  ~Http2Stream() {
    if (exchange_) exchange_->host_ = nullptr;
  }

  // ExchangeHost
  void send_response(Exchange&, Response&& response) override {
    if (session_ != nullptr) session_->submit_response(*this, std::move(response));
  }
  std::shared_ptr<void> keep_alive() override { return shared_from_this(); }
  void read_body(Exchange&, BodyChunkHandler handler) override {
    if (session_ == nullptr) {
      handler(asio::error::connection_aborted, {}, true);
      return;
    }
    if (expects_continue_ && !continue_sent_) send_continue();
    body_handler_ = std::move(handler);
    waiting_since_ = session_->shard_.now();
    if (!body_in_.empty() || request_ended_ || body_error_) deliver();
  }
  bool body_complete() const override { return request_ended_ && body_in_.empty(); }
  void continue_body() override {
    if (!awaiting_continue_ || session_ == nullptr) return;
    awaiting_continue_ = false;
    send_continue();
  }

  // Once nghttp2 returned: moves the stream on (its head, its dispatch, its body).
  void advance();
  void deliver();
  void send_continue();
  // The stream closed (ended, reset, or the connection closes): everything it started stops.
  void detach();
  void pull();

  Http2Session* session_;
  std::int32_t id_;
  std::unique_ptr<Exchange> exchange_;
  // The request head as it arrives.
  std::string authority_;
  std::string cookie_;
  std::size_t header_bytes_ = 0;
  std::size_t header_count_ = 0;
  bool too_large_ = false;
  bool head_seen_ = false;       // END_HEADERS of the request head received
  bool head_processed_ = false;  // and turned into the Request
  bool request_ended_ = false;   // END_STREAM received
  bool dispatched_ = false;
  bool stream_mode_ = false;
  bool scheduled_ = false;
  bool discard_body_ = false;  // answered: the rest of the body is acknowledged and dropped
  bool expects_continue_ = false;
  bool continue_sent_ = false;
  bool awaiting_continue_ = false;
  // The request body: received and not yet handed over (at most our window), and the piece the consumer
  // holds until its next read.
  std::string body_in_;
  std::string body_out_;
  std::uint64_t body_received_ = 0;
  bool body_error_ = false;      // over max_body_bytes while streamed, or too slow
  bool body_too_large_ = false;  // over max_body_bytes before the pipeline took the request: 413
  std::size_t buffered_ = 0;     // bytes of request.body this stream holds (the connection's budget)
  std::size_t unacked_ = 0;      // of those, not yet acknowledged: held back by the budget
  error_code body_error_code_;
  BodyChunkHandler body_handler_;
  Shard::Clock::time_point waiting_since_{};
  // The response.
  bool responded_ = false;
  bool response_ended_ = false;
  Response response_;
  std::string_view body_left_;
  std::shared_ptr<BodySource> source_;
  std::string_view chunk_;
  bool source_last_ = false;
  bool source_failed_ = false;
  bool pulling_ = false;
  bool in_read_ = false;
  int status_ = 0;
  std::size_t bytes_sent_ = 0;
};

void Http2Stream::send_continue() {
  continue_sent_ = true;
  nghttp2_nv status{reinterpret_cast<std::uint8_t*>(const_cast<char*>(":status")),
                    reinterpret_cast<std::uint8_t*>(const_cast<char*>("100")), 7, 3, NGHTTP2_NV_FLAG_NONE};
  nghttp2_submit_headers(session_->session_, NGHTTP2_FLAG_NONE, id_, nullptr, &status, 1, nullptr);
  session_->notify_output();
}

void Http2Stream::deliver() {
  if (!body_handler_) return;
  BodyChunkHandler handler = std::move(body_handler_);
  body_handler_ = nullptr;
  if (body_error_) {
    handler(body_error_code_, {}, true);
    return;
  }
  body_out_.swap(body_in_);
  body_in_.clear();
  if (!body_out_.empty() && session_ != nullptr) {
    // The consumer took it: the client may send as much again on this stream (WINDOW_UPDATE); the
    // connection's window was given back when the bytes arrived.
    nghttp2_session_consume_stream(session_->session_, id_, body_out_.size());
    session_->notify_output();
  }
  handler({}, body_out_, request_ended_);
}

void Http2Stream::pull() {
  pulling_ = true;
  source_->pull([self = shared_from_this()](const error_code& ec, std::string_view data, bool last) {
    self->pulling_ = false;
    if (self->session_ == nullptr) return;
    if (ec) {
      self->source_failed_ = true;
    } else {
      self->chunk_ = data;
      self->source_last_ = last;
    }
    if (!self->in_read_) {
      nghttp2_session_resume_data(self->session_->session_, self->id_);
      self->session_->notify_output();
    }
  });
}

void Http2Stream::detach() {
  Http2Session* session = session_;
  if (session == nullptr) return;
  auto keep = shared_from_this();
  if (responded_ && status_ != 0) session->shard_.handler().on_complete(*exchange_, status_, bytes_sent_);
  // What this stream buffered leaves the budget, which may let another go on (the connection's window
  // was given back when its bytes arrived).
  unacked_ = 0;
  session->buffered_bytes_ -= buffered_;
  buffered_ = 0;
  session_ = nullptr;
  session->release_buffering();
  if (auto work = exchange_->pending_.lock()) work->cancel();
  exchange_->pending_.reset();
  if (source_) {
    source_->cancel();
    source_.reset();
  }
  if (body_handler_) {
    body_error_ = true;
    body_error_code_ = asio::error::connection_aborted;
    deliver();
  }
}

void Http2Stream::advance() {
  scheduled_ = false;
  if (session_ == nullptr) return;
  if (head_seen_ && !head_processed_) {
    session_->head_complete(*this, request_ended_);
    if (session_ == nullptr) return;
  }
  if (!head_processed_) return;
  if (!responded_) {
    if (body_too_large_) {
      session_->fail_stream(*this, ProtocolError::kPayloadTooLarge);
      return;
    }
    if (!dispatched_ && !awaiting_continue_ && (stream_mode_ || request_ended_)) {
      dispatched_ = true;
      session_->shard_.handler().handle(*exchange_);
      if (session_ == nullptr) return;
    }
  }
  // A streamed body goes on being read after the response started (an upstream may answer early).
  if (stream_mode_ && body_handler_ && (!body_in_.empty() || request_ended_ || body_error_)) deliver();
}

Http2Session::Http2Session(Shard& shard, Http2Transport& transport, const Request& connection)
    : shard_(shard),
      transport_(transport),
      connection_(connection),
      limits_(&shard.handler().limits()),
      resets_(limits_->http2.reset_burst, limits_->http2.resets_per_second, shard.now()),
      control_frames_(limits_->http2.control_frame_burst, limits_->http2.control_frames_per_second,
                      shard.now()),
      listener_(connection.listener) {
  shard_.count_listener_http2(listener_, true);
}

Http2Session::~Http2Session() {
  shard_.count_listener_http2(listener_, false);
  close_streams();
  if (session_ != nullptr) nghttp2_session_del(session_);
}

bool Http2Session::start() {
  nghttp2_session_callbacks* callbacks = nullptr;
  if (nghttp2_session_callbacks_new(&callbacks) != 0) return false;
  nghttp2_session_callbacks_set_on_begin_frame_callback(callbacks, on_begin_frame);
  nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback2(callbacks, on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, on_data_chunk_recv);
  nghttp2_session_callbacks_set_on_frame_send_callback(callbacks, on_frame_send);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, on_stream_close);
  nghttp2_option* options = nullptr;
  if (nghttp2_option_new(&options) != 0) {
    nghttp2_session_callbacks_del(callbacks);
    return false;
  }
  // Request bodies are acknowledged as they are consumed (flow control is our backpressure).
  nghttp2_option_set_no_auto_window_update(options, 1);
  int rv = nghttp2_session_server_new2(&session_, callbacks, this, options);
  nghttp2_option_del(options);
  nghttp2_session_callbacks_del(callbacks);
  if (rv != 0) return false;
  const auto& h2 = limits_->http2;
  nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, h2.max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, h2.stream_window_bytes},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<std::uint32_t>(limits_->max_header_bytes)},
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
  };
  if (nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, std::size(settings)) != 0) return false;
  std::int32_t connection_window =
      static_cast<std::int32_t>(std::min<std::uint32_t>(h2.connection_window_bytes, NGHTTP2_MAX_WINDOW_SIZE));
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, connection_window);
  return true;
}

bool Http2Session::receive(const char* data, std::size_t size) {
  if (refused_) return false;
  ++in_nghttp2_;
  ssize_t rv = nghttp2_session_mem_recv(session_, reinterpret_cast<const std::uint8_t*>(data), size);
  --in_nghttp2_;
  if (rv < 0) {
    if (!refused_) {
      observability::log_debug("HTTP/2 connection from {} ended: {}", connection_.client_address,
                               nghttp2_strerror(static_cast<int>(rv)));
      refused_ = true;
      if (rv != NGHTTP2_ERR_FLOODED) nghttp2_session_terminate_session(session_, NGHTTP2_PROTOCOL_ERROR);
    }
    ready_.clear();
    return false;
  }
  // Responses submitted by the streams dispatched now leave in one write (the connection flushes after
  // receive() returns) rather than one write each.
  ++in_nghttp2_;
  run_ready();
  --in_nghttp2_;
  return !refused_;
}

bool Http2Session::produce(std::string& out, std::size_t limit) {
  while (out.size() < limit) {
    const std::uint8_t* data = nullptr;
    ++in_nghttp2_;
    ssize_t n = nghttp2_session_mem_send(session_, &data);
    --in_nghttp2_;
    if (n < 0) return false;
    if (n == 0) break;
    out.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
  }
  return true;
}

bool Http2Session::finished() const {
  return (refused_ || nghttp2_session_want_read(session_) == 0) && nghttp2_session_want_write(session_) == 0;
}

bool Http2Session::wants_read() const {
  return !refused_ && nghttp2_session_want_read(session_) != 0;
}

void Http2Session::go_away() {
  if (going_away_ || refused_) return;
  going_away_ = true;
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(session_),
                        NGHTTP2_NO_ERROR, nullptr, 0);
  notify_output();
}

void Http2Session::refuse(std::uint32_t code, std::string_view why) {
  if (refused_) return;
  refused_ = true;
  observability::log_warn("HTTP/2 connection from {} refused: {}", connection_.client_address, why);
  nghttp2_session_terminate_session(session_, code);
}

void Http2Session::notify_output() {
  if (in_nghttp2_ == 0) transport_.http2_want_write();
}

void Http2Session::close_streams() {
  auto streams = std::move(streams_);
  streams_.clear();
  ready_.clear();
  for (auto& [id, stream] : streams)
    stream->detach();
}

void Http2Session::on_sweep(Shard::Clock::time_point now) {
  std::vector<std::shared_ptr<Http2Stream>> late;
  for (auto& [id, stream] : streams_) {
    bool waits_for_client =
        stream->head_processed_ && !stream->request_ended_ && !stream->awaiting_continue_ &&
        !stream->discard_body_ && !stream->body_error_ &&
        (stream->stream_mode_ ? static_cast<bool>(stream->body_handler_) : !stream->responded_);
    if (waits_for_client && now - stream->waiting_since_ > limits_->body_timeout) late.push_back(stream);
  }
  for (auto& stream : late) {
    if (stream->session_ == nullptr) continue;
    if (stream->stream_mode_) {
      stream->body_error_ = true;
      stream->body_error_code_ = asio::error::timed_out;
      stream->deliver();
    } else {
      fail_stream(*stream, ProtocolError::kRequestTimeout);
    }
  }
}

Http2Stream* Http2Session::find(std::int32_t stream_id) const {
  auto it = streams_.find(stream_id);
  return it == streams_.end() ? nullptr : it->second.get();
}

void Http2Session::run_ready() {
  while (!ready_.empty()) {
    auto ready = std::move(ready_);
    ready_.clear();
    for (auto& stream : ready)
      stream->advance();
  }
}

// Buffered request bodies share one budget per connection (max_body_bytes + the connection window), so
// that 100 streams cannot each hold max_body_bytes. The connection window is always given back at once,
// by on_data_chunk_recv (a held-back stream must not stall the others); the stream window is given back
// within the budget, and beyond it only to the oldest unfinished buffered stream (so one always completes
// and frees its share: no deadlock) while the others wait, each stopped by its own window. At most: the
// budget plus one stream window per other stream.
void Http2Session::buffer_body(Http2Stream& stream, std::size_t bytes) {
  buffered_bytes_ += bytes;
  stream.buffered_ += bytes;
  stream.unacked_ += bytes;
  release_buffering();
}

void Http2Session::release_buffering() {
  if (session_ == nullptr) return;
  const bool within = buffered_bytes_ <= limits_->max_body_bytes + limits_->http2.connection_window_bytes;
  Http2Stream* oldest = nullptr;  // the oldest stream still receiving a buffered body
  if (!within) {
    for (auto& [id, stream] : streams_) {
      bool receiving = stream->head_processed_ && !stream->stream_mode_ && !stream->request_ended_;
      if (receiving && (oldest == nullptr || stream->id_ < oldest->id_)) oldest = stream.get();
    }
  }
  for (auto& [id, stream] : streams_) {
    // A finished body adds nothing by being acknowledged: only the connection window is released.
    if (stream->unacked_ == 0 || !(within || stream.get() == oldest || stream->request_ended_)) continue;
    nghttp2_session_consume_stream(session_, stream->id_, stream->unacked_);
    stream->unacked_ = 0;
  }
}

void Http2Session::fail_stream(Http2Stream& stream, ProtocolError error) {
  if (stream.responded_) return;
  stream.discard_body_ = true;
  Response response = shard_.handler().protocol_error(error, *stream.exchange_);
  stream.exchange_->responded_ = true;
  stream.exchange_->pending_.reset();
  submit_response(stream, std::move(response));
}

// The request head is complete: the Request as an HTTP/1.1 request would have it (":authority" as Host,
// cookies joined as RFC 9113 8.2.3 says), then how its body is read.
void Http2Session::head_complete(Http2Stream& stream, bool end_stream) {
  stream.head_processed_ = true;
  Request& request = stream.exchange_->request_;
  if (stream.too_large_) {
    fail_stream(stream, ProtocolError::kHeadersTooLarge);
    return;
  }
  if (request.method == "CONNECT") {
    fail_stream(stream, ProtocolError::kNotImplemented);
    return;
  }
  if (!split_target(request.target, request.path, request.query, request.has_query)) {
    fail_stream(stream, ProtocolError::kBadRequest);
    return;
  }
  if (!stream.authority_.empty()) {
    request.headers.set("host", stream.authority_);
  } else if (!request.headers.contains("host")) {
    fail_stream(stream, ProtocolError::kBadRequest);
    return;
  }
  if (!stream.cookie_.empty()) request.headers.add("cookie", stream.cookie_);
  if (auto length = request.headers.get("content-length")) {
    std::uint64_t value = 0;
    auto [end, ec] = std::from_chars(length->data(), length->data() + length->size(), value);
    if (ec != std::errc() || end != length->data() + length->size()) {
      fail_stream(stream, ProtocolError::kBadRequest);
      return;
    }
    request.content_length = value;
  } else if (end_stream) {
    request.content_length = 0;
  }
  if (request.content_length.value_or(0) > limits_->max_body_bytes ||
      stream.body_received_ > limits_->max_body_bytes) {
    fail_stream(stream, ProtocolError::kPayloadTooLarge);
    return;
  }
  stream.waiting_since_ = shard_.now();
  if (end_stream) return;  // no body (or all of it already here): dispatched by advance()
  auto expect = request.headers.get("expect");
  stream.expects_continue_ = expect && iequals(*expect, "100-continue");
  if (shard_.handler().body_mode(*stream.exchange_) == BodyMode::kStream) {
    stream.stream_mode_ = true;
    return;
  }
  // Buffered: what already arrived joins the body and is acknowledged, as the rest will be.
  if (!stream.body_in_.empty()) {
    request.body.append(stream.body_in_);
    std::size_t size = stream.body_in_.size();
    std::string().swap(stream.body_in_);
    buffer_body(stream, size);
    notify_output();
  }
  if (stream.expects_continue_ && stream.body_received_ == 0) {
    BodyWait wait = shard_.handler().before_body(*stream.exchange_);
    if (stream.responded_ || stream.session_ == nullptr) return;
    if (wait == BodyWait::kWait && !stream.exchange_->continue_requested_) {
      stream.awaiting_continue_ = true;
      return;
    }
    stream.send_continue();
  }
}

void Http2Session::submit_response(Http2Stream& stream, Response&& response) {
  if (stream.responded_ || stream.session_ == nullptr) return;
  stream.responded_ = true;
  stream.awaiting_continue_ = false;
  stream.response_ = std::move(response);
  Response& r = stream.response_;
  const Request& request = stream.exchange_->request_;
  int status = r.status >= 200 && r.status <= 999 ? r.status : 500;
  stream.status_ = status;
  bool send_body = !request.is_head() && status_has_body(status);

  // Field names lowercased into scratch_; the nv array is built once scratch_ no longer moves.
  std::vector<FieldSpan>& spans = spans_;
  spans.clear();
  scratch_.clear();
  auto add = [&](std::string_view name, std::string_view value) {
    FieldSpan s{scratch_.size(), name.size(), 0, value.size()};
    for (char c : name)
      scratch_.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c);
    s.value = scratch_.size();
    scratch_.append(value);
    spans.push_back(s);
  };
  auto acceptable = [&](std::string_view name, std::string_view value) {
    if (name.empty() || has_line_break(name) || has_line_break(value)) return false;
    if (connection_specific(name)) return false;
    return r.keep_content_length || !iequals(name, "content-length");
  };
  char digits[24];
  auto end = std::to_chars(digits, digits + sizeof(digits), status).ptr;
  add(":status", std::string_view(digits, static_cast<std::size_t>(end - digits)));
  if (!r.content_type.empty() && !has_line_break(r.content_type)) add("content-type", r.content_type);
  bool has_date = false;
  r.headers.for_each([&](const HeaderList::Field& f) {
    if (!acceptable(f.name, f.value)) return;
    if (iequals(f.name, "date")) has_date = true;
    add(f.name, f.value);
  });
  for (std::string_view lines = r.fixed_lines; !lines.empty();) {
    auto eol = lines.find("\r\n");
    std::string_view line = lines.substr(0, eol);
    lines.remove_prefix(eol == std::string_view::npos ? lines.size() : eol + 2);
    auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view name = line.substr(0, colon);
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.remove_prefix(1);
    if (acceptable(name, value)) add(name, value);
  }
  std::optional<std::uint64_t> length;
  if (r.body_source) {
    length = r.body_source->length();
  } else {
    length = r.body().size();
  }
  if (status_has_body(status) && !r.keep_content_length && length) {
    end = std::to_chars(digits, digits + sizeof(digits), *length).ptr;
    add("content-length", std::string_view(digits, static_cast<std::size_t>(end - digits)));
  }
  if (!has_date) add("date", shard_.http_date());
  fields_.clear();
  for (const FieldSpan& s : spans) {
    fields_.push_back({reinterpret_cast<std::uint8_t*>(scratch_.data() + s.name),
                       reinterpret_cast<std::uint8_t*>(scratch_.data() + s.value), s.name_len, s.value_len,
                       NGHTTP2_NV_FLAG_NONE});
  }

  nghttp2_data_provider provider{};
  provider.source.ptr = &stream;
  provider.read_callback = read_body;
  bool with_data = false;
  if (r.body_source) {
    if (send_body) {
      stream.source_ = std::move(r.body_source);
      with_data = true;
    } else {
      r.body_source->cancel();
      r.body_source.reset();
    }
  } else if (send_body && !r.body().empty()) {
    stream.body_left_ = r.body();
    with_data = true;
  }
  int rv = nghttp2_submit_response(session_, stream.id_, fields_.data(), fields_.size(),
                                   with_data ? &provider : nullptr);
  if (rv != 0) {
    observability::log_warn("HTTP/2 response on stream {} not sent: {}", stream.id_, nghttp2_strerror(rv));
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream.id_, NGHTTP2_INTERNAL_ERROR);
  }
  notify_output();
}

ssize_t Http2Session::read_body(nghttp2_session*, std::int32_t, std::uint8_t* buf, std::size_t length,
                                std::uint32_t* data_flags, nghttp2_data_source* source, void*) {
  auto& stream = *static_cast<Http2Stream*>(source->ptr);
  if (!stream.source_) {
    std::size_t n = std::min(length, stream.body_left_.size());
    if (n != 0) std::memcpy(buf, stream.body_left_.data(), n);
    stream.body_left_.remove_prefix(n);
    if (stream.body_left_.empty()) *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    stream.bytes_sent_ += n;
    return static_cast<ssize_t>(n);
  }
  // A streamed body: what the source produced, pulling the next piece once this one is sent. The source
  // may answer at once (then it is copied in this same call) or later (resume_data then).
  std::size_t copied = 0;
  stream.in_read_ = true;
  while (copied < length) {
    if (!stream.chunk_.empty()) {
      std::size_t n = std::min(length - copied, stream.chunk_.size());
      std::memcpy(buf + copied, stream.chunk_.data(), n);
      stream.chunk_.remove_prefix(n);
      copied += n;
      continue;
    }
    if (stream.source_failed_) {
      // The producer failed mid-body: resetting the stream is the honest way to say it is truncated.
      stream.in_read_ = false;
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    if (stream.source_last_) {
      *data_flags |= NGHTTP2_DATA_FLAG_EOF;
      break;
    }
    if (stream.pulling_) break;
    stream.pull();
    if (stream.pulling_) break;
  }
  stream.in_read_ = false;
  if (copied == 0 && (*data_flags & NGHTTP2_DATA_FLAG_EOF) == 0) return NGHTTP2_ERR_DEFERRED;
  stream.bytes_sent_ += copied;
  return static_cast<ssize_t>(copied);
}

// Every frame header, before its payload: the budgets that end abusive connections.
int Http2Session::on_begin_frame(nghttp2_session*, const nghttp2_frame_hd* hd, void* user) {
  auto& self = *static_cast<Http2Session*>(user);
  auto now = self.shard_.now();
  const auto& h2 = self.limits_->http2;
  bool empty = hd->length == 0 && (hd->flags & NGHTTP2_FLAG_END_STREAM) == 0;
  switch (hd->type) {
    case NGHTTP2_HEADERS:
      self.continuations_ = 0;
      self.header_block_bytes_ = hd->length;
      if (empty && !self.control_frames_.spend(now)) {
        self.refuse(NGHTTP2_ENHANCE_YOUR_CALM, "empty HEADERS flood");
        return NGHTTP2_ERR_CALLBACK_FAILURE;
      }
      break;
    case NGHTTP2_CONTINUATION:
      self.header_block_bytes_ += hd->length;
      if (++self.continuations_ > h2.max_continuation_frames ||
          self.header_block_bytes_ > std::max<std::size_t>(4 * self.limits_->max_header_bytes, 65536)) {
        self.refuse(NGHTTP2_ENHANCE_YOUR_CALM, "CONTINUATION flood");
        return NGHTTP2_ERR_CALLBACK_FAILURE;
      }
      break;
    case NGHTTP2_DATA:
      if (empty && !self.control_frames_.spend(now)) {
        self.refuse(NGHTTP2_ENHANCE_YOUR_CALM, "empty DATA flood");
        return NGHTTP2_ERR_CALLBACK_FAILURE;
      }
      break;
    case NGHTTP2_RST_STREAM:
      if (!self.resets_.spend(now)) {
        self.refuse(NGHTTP2_ENHANCE_YOUR_CALM, "rapid reset");
        return NGHTTP2_ERR_CALLBACK_FAILURE;
      }
      break;
    case NGHTTP2_SETTINGS:
    case NGHTTP2_PING:
    case NGHTTP2_PRIORITY:
    case NGHTTP2_WINDOW_UPDATE:
      if (!self.control_frames_.spend(now)) {
        self.refuse(NGHTTP2_ENHANCE_YOUR_CALM, "control frame flood");
        return NGHTTP2_ERR_CALLBACK_FAILURE;
      }
      break;
    default:
      break;
  }
  return 0;
}

int Http2Session::on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  auto& self = *static_cast<Http2Session*>(user);
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  if (self.going_away_) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // refused: we are closing
  self.limits_ = &self.shard_.handler().limits();
  auto stream =
      std::make_shared<Http2Stream>(self, frame->hd.stream_id, self.shard_.handler().create_exchange());
  Request& request = stream->exchange_->request_;
  request.client_address = self.connection_.client_address;
  request.listener = self.connection_.listener;
  request.tls = self.connection_.tls;
  request.version = 20;
  request.keep_alive = true;
  self.streams_.emplace(frame->hd.stream_id, std::move(stream));
  return 0;
}

int Http2Session::on_header(nghttp2_session*, const nghttp2_frame* frame, nghttp2_rcbuf* name_buffer,
                            nghttp2_rcbuf* value_buffer, std::uint8_t, void* user) {
  auto& self = *static_cast<Http2Session*>(user);
  Http2Stream* stream = self.find(frame->hd.stream_id);
  if (stream == nullptr || frame->hd.type != NGHTTP2_HEADERS || stream->head_seen_) return 0;  // trailers
  std::string_view name = view(name_buffer);
  std::string_view value = view(value_buffer);
  stream->header_bytes_ += name.size() + value.size() + 32;  // RFC 9113 6.5.2's accounting
  // A header block far past the limit is an HPACK bomb (a few bytes on the wire decoding to megabytes):
  // past four times the limit the connection ends; below that the request only gets its 431.
  if (stream->header_bytes_ > 4 * self.limits_->max_header_bytes + 4096) {
    self.refuse(NGHTTP2_ENHANCE_YOUR_CALM, "header list far over the limit (HPACK bomb)");
    return NGHTTP2_ERR_CALLBACK_FAILURE;
  }
  if (stream->too_large_) return 0;
  if (stream->header_bytes_ > self.limits_->max_header_bytes) {
    stream->too_large_ = true;
    return 0;
  }
  Request& request = stream->exchange_->request_;
  if (!name.empty() && name[0] == ':') {
    if (name == ":method") {
      request.method.assign(value);
    } else if (name == ":path") {
      request.target.assign(value);
    } else if (name == ":authority") {
      stream->authority_.assign(value);
    }
    return 0;
  }
  if (++stream->header_count_ > self.limits_->max_headers) {
    stream->too_large_ = true;
    return 0;
  }
  if (name == "cookie") {
    if (!stream->cookie_.empty()) stream->cookie_.append("; ");
    stream->cookie_.append(value);
    return 0;
  }
  request.headers.add(name, value);
  return 0;
}

int Http2Session::on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  auto& self = *static_cast<Http2Session*>(user);
  if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) return 0;
  Http2Stream* stream = self.find(frame->hd.stream_id);
  if (stream == nullptr) return 0;
  bool changed = false;
  if (frame->hd.type == NGHTTP2_HEADERS && !stream->head_seen_) {
    stream->head_seen_ = true;
    changed = true;
  }
  if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) {
    stream->request_ended_ = true;
    changed = true;
    if (stream->buffered_ != 0) self.release_buffering();  // the next oldest may go on
  }
  if (changed && !stream->scheduled_) {
    stream->scheduled_ = true;
    self.ready_.push_back(stream->shared_from_this());
  }
  return 0;
}

int Http2Session::on_data_chunk_recv(nghttp2_session* session, std::uint8_t, std::int32_t stream_id,
                                     const std::uint8_t* data, std::size_t len, void* user) {
  auto& self = *static_cast<Http2Session*>(user);
  Http2Stream* stream = self.find(stream_id);
  if (stream == nullptr) {
    nghttp2_session_consume_connection(session, len);
    return 0;
  }
  stream->body_received_ += len;
  stream->waiting_since_ = self.shard_.now();
  if (stream->discard_body_ || stream->body_error_) {
    nghttp2_session_consume(session, stream_id, len);
    return 0;
  }
  const char* bytes = reinterpret_cast<const char*>(data);
  // Every byte kept gives the connection's window back at once: each stream is held back by its own
  // window only. A streamed body whose consumer is slow, or has not started (its call waits for a
  // worker connection), must not take the window the other streams' bodies need to reach theirs.
  nghttp2_session_consume_connection(session, len);
  if (stream->body_received_ > self.limits_->max_body_bytes) {
    nghttp2_session_consume_stream(session, stream_id, len);
    if (stream->stream_mode_ && stream->dispatched_) {
      stream->body_error_ = true;
      stream->body_error_code_ = boost::beast::http::error::body_limit;
    } else {
      stream->discard_body_ = true;
      stream->body_too_large_ = true;
    }
  } else if (stream->head_processed_ && !stream->stream_mode_) {
    stream->exchange_->request_.body.append(bytes, len);
    self.buffer_body(*stream, len);
    return 0;
  } else {
    stream->body_in_.append(bytes, len);
  }
  if (!stream->scheduled_) {
    stream->scheduled_ = true;
    self.ready_.push_back(stream->shared_from_this());
  }
  return 0;
}

int Http2Session::on_frame_send(nghttp2_session* session, const nghttp2_frame* frame, void* user) {
  auto& self = *static_cast<Http2Session*>(user);
  if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
      (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) {
    Http2Stream* stream = self.find(frame->hd.stream_id);
    if (stream != nullptr) {
      stream->response_ended_ = true;
      // Answered before the request ended: the client can stop sending (RFC 9113 8.1).
      if (!stream->request_ended_) {
        nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_NO_ERROR);
      }
    }
  } else if (frame->hd.type == NGHTTP2_RST_STREAM && frame->rst_stream.error_code != NGHTTP2_NO_ERROR) {
    // Streams we had to refuse (over the concurrency limit, malformed) cost the client as its own resets.
    if (!self.resets_.spend(self.shard_.now()))
      self.refuse(NGHTTP2_ENHANCE_YOUR_CALM, "too many refused streams");
  }
  return 0;
}

int Http2Session::on_stream_close(nghttp2_session*, std::int32_t stream_id, std::uint32_t, void* user) {
  auto& self = *static_cast<Http2Session*>(user);
  auto it = self.streams_.find(stream_id);
  if (it == self.streams_.end()) return 0;
  std::shared_ptr<Http2Stream> stream = std::move(it->second);
  self.streams_.erase(it);
  stream->detach();
  return 0;
}

}  // namespace workgate::http
