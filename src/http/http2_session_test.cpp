// Http2Session against an nghttp2 client session in memory (no sockets), with a fake handler and the
// shard's clock injected: request translation, bodies both ways under flow control, early answers,
// cancellation, and the budgets that end abusive connections.
#include "http/http2_session.hpp"

#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>

#include <boost/asio/error.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "http/shard.hpp"
#include "http/test_support.hpp"

namespace workgate::http {
namespace {

using namespace std::chrono_literals;
using boost::system::error_code;

struct CountingWork final : Cancellable {
  void cancel() override { ++cancelled; }
  int cancelled = 0;
};

// A response body the test feeds piece by piece (or fails).
class ManualSource final : public BodySource {
 public:
  std::optional<std::uint64_t> length() const override { return std::nullopt; }
  void pull(Handler handler) override { waiting = std::move(handler); }
  void cancel() override { cancelled = true; }
  void give(std::string piece, bool last) {
    held = std::move(piece);
    auto handler = std::move(waiting);
    waiting = nullptr;
    handler({}, held, last);
  }
  void fail() {
    auto handler = std::move(waiting);
    waiting = nullptr;
    handler(boost::asio::error::connection_reset, {}, false);
  }
  Handler waiting;
  std::string held;
  bool cancelled = false;
};

class FakeHandler final : public RequestHandler {
 public:
  std::unique_ptr<Exchange> create_exchange() override { return std::make_unique<Exchange>(); }
  const ConnectionLimits& limits() override { return limits_; }
  BodyMode body_mode(Exchange& exchange) override {
    return exchange.request().path == "/stream" ? BodyMode::kStream : BodyMode::kBuffer;
  }
  void handle(Exchange& exchange) override {
    Request& request = exchange.request();
    handled.push_back(request);
    if (request.path == "/hold" || request.path == "/stream") {
      held = exchange.retain();
      exchange.set_pending(work);
      return;
    }
    Response response;
    if (request.path == "/source") {
      source = std::make_shared<ManualSource>();
      response.body_source = source;
    } else {
      response.headers.add("X-Mixed-Case", "v");
      response.headers.add("Connection", "close");
      response.fixed_lines = "X-Fixed: yes\r\n";
      response.set_body(request.path + " " + request.body);
    }
    exchange.respond(std::move(response));
  }
  Response protocol_error(ProtocolError error, Exchange&) override {
    errors.push_back(error);
    Response response;
    response.status = error == ProtocolError::kHeadersTooLarge   ? 431
                      : error == ProtocolError::kRequestTimeout  ? 408
                      : error == ProtocolError::kPayloadTooLarge ? 413
                                                                 : 400;
    return response;
  }
  void on_complete(Exchange&, int status, std::size_t) override { completed.push_back(status); }

  ConnectionLimits limits_;
  std::vector<Request> handled;
  std::vector<ProtocolError> errors;
  std::vector<int> completed;
  std::shared_ptr<Exchange> held;
  std::shared_ptr<ManualSource> source;
  std::shared_ptr<CountingWork> work = std::make_shared<CountingWork>();
};

class FakeTransport final : public Http2Transport {
 public:
  void http2_want_write() override { ++wants; }
  std::shared_ptr<void> http2_keep_alive() override { return keep; }
  int wants = 0;
  std::shared_ptr<int> keep = std::make_shared<int>(0);
};

// The client side: an nghttp2 client session whose frames go to the server under test and back.
struct ClientStream {
  int status = 0;
  std::map<std::string, std::string> headers;
  std::string body;
  bool closed = false;
  std::uint32_t reset_code = 0;
  bool reset_frame = false;
};

class Client {
 public:
  Client() {
    nghttp2_session_callbacks* cb = nullptr;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_close);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame);
    nghttp2_session_client_new(&session, cb, this);
    nghttp2_session_callbacks_del(cb);
    nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, nullptr, 0);
  }
  ~Client() { nghttp2_session_del(session); }

  std::int32_t request(std::string method, std::string path,
                       std::vector<std::pair<std::string, std::string>> extra = {},
                       const std::string* body = nullptr) {
    std::vector<std::pair<std::string, std::string>> all = {
        {":method", method}, {":path", path}, {":scheme", "https"}, {":authority", "api.test"}};
    all.insert(all.end(), extra.begin(), extra.end());
    std::vector<nghttp2_nv> nva;
    for (auto& [n, v] : all)
      nva.push_back({reinterpret_cast<std::uint8_t*>(n.data()), reinterpret_cast<std::uint8_t*>(v.data()),
                     n.size(), v.size(), NGHTTP2_NV_FLAG_NONE});
    nghttp2_data_provider provider{};
    if (body != nullptr) {
      upload = *body;
      provider.source.ptr = this;
      provider.read_callback = [](nghttp2_session*, std::int32_t, std::uint8_t* buf, std::size_t length,
                                  std::uint32_t* flags, nghttp2_data_source* source, void*) -> ssize_t {
        auto& self = *static_cast<Client*>(source->ptr);
        std::size_t n = std::min(length, self.upload.size() - self.uploaded);
        std::memcpy(buf, self.upload.data() + self.uploaded, n);
        self.uploaded += n;
        if (self.uploaded == self.upload.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
        return static_cast<ssize_t>(n);
      };
    }
    return nghttp2_submit_request(session, nullptr, nva.data(), nva.size(), body ? &provider : nullptr,
                                  nullptr);
  }

  // A request whose body comes from its own Upload (several uploads at once).
  struct Upload {
    std::string data;
    std::size_t sent = 0;
  };
  std::int32_t request_with_upload(std::string method, std::string path, const std::string& body,
                                   std::vector<std::unique_ptr<Upload>>& uploads) {
    uploads.push_back(std::make_unique<Upload>(Upload{body, 0}));
    std::string scheme = "https", authority = "api.test";
    std::pair<std::string, std::string> all[] = {
        {":method", method}, {":path", path}, {":scheme", scheme}, {":authority", authority}};
    std::vector<nghttp2_nv> nva;
    for (auto& [n, v] : all)
      nva.push_back({reinterpret_cast<std::uint8_t*>(n.data()), reinterpret_cast<std::uint8_t*>(v.data()),
                     n.size(), v.size(), NGHTTP2_NV_FLAG_NONE});
    nghttp2_data_provider provider{};
    provider.source.ptr = uploads.back().get();
    provider.read_callback = [](nghttp2_session*, std::int32_t, std::uint8_t* buf, std::size_t length,
                                std::uint32_t* flags, nghttp2_data_source* source, void*) -> ssize_t {
      auto& up = *static_cast<Upload*>(source->ptr);
      std::size_t n = std::min(length, up.data.size() - up.sent);
      std::memcpy(buf, up.data.data() + up.sent, n);
      up.sent += n;
      if (up.sent == up.data.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
      return static_cast<ssize_t>(n);
    };
    return nghttp2_submit_request(session, nullptr, nva.data(), nva.size(), &provider, nullptr);
  }

  std::string output() {
    std::string out;
    for (;;) {
      const std::uint8_t* data = nullptr;
      ssize_t n = nghttp2_session_mem_send(session, &data);
      if (n <= 0) break;
      out.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
    }
    return out;
  }
  void input(const std::string& data) {
    nghttp2_session_mem_recv(session, reinterpret_cast<const std::uint8_t*>(data.data()), data.size());
  }

  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
                       std::size_t namelen, const std::uint8_t* value, std::size_t valuelen, std::uint8_t,
                       void* user) {
    auto& s = static_cast<Client*>(user)->streams[frame->hd.stream_id];
    std::string n(reinterpret_cast<const char*>(name), namelen),
        v(reinterpret_cast<const char*>(value), valuelen);
    if (n == ":status") {
      s.status = std::stoi(v);
    } else {
      s.headers[n] = v;
    }
    return 0;
  }
  static int on_data(nghttp2_session*, std::uint8_t, std::int32_t id, const std::uint8_t* data,
                     std::size_t len, void* user) {
    static_cast<Client*>(user)->streams[id].body.append(reinterpret_cast<const char*>(data), len);
    return 0;
  }
  static int on_close(nghttp2_session*, std::int32_t id, std::uint32_t code, void* user) {
    auto& s = static_cast<Client*>(user)->streams[id];
    s.closed = true;
    s.reset_code = code;
    return 0;
  }
  static int on_frame(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    auto& self = *static_cast<Client*>(user);
    if (frame->hd.type == NGHTTP2_GOAWAY) self.goaway = frame->goaway.error_code;
    if (frame->hd.type == NGHTTP2_RST_STREAM) self.streams[frame->hd.stream_id].reset_frame = true;
    if (frame->hd.type == NGHTTP2_SETTINGS && (frame->hd.flags & NGHTTP2_FLAG_ACK) == 0) {
      for (std::size_t i = 0; i < frame->settings.niv; ++i)
        self.settings[frame->settings.iv[i].settings_id] = frame->settings.iv[i].value;
    }
    return 0;
  }

  nghttp2_session* session = nullptr;
  std::map<std::int32_t, ClientStream> streams;
  std::map<std::int32_t, std::uint32_t> settings;
  std::optional<std::uint32_t> goaway;
  std::string upload;
  std::size_t uploaded = 0;
};

class Http2SessionTest : public ::testing::Test {
 protected:
  Http2SessionTest() : shard_(0) {
    auto handler = std::make_unique<FakeHandler>();
    handler_ = handler.get();
    handler_->limits_.max_body_bytes = 4 * 1024 * 1024;
    handler_->limits_.body_timeout = 1000ms;
    shard_.set_handler(std::move(handler));
    shard_.set_clock([this] { return now_; });
    connection_.client_address = "192.0.2.7";
    connection_.tls = true;
  }

  void open() {
    session_ = std::make_unique<Http2Session>(shard_, transport_, connection_);
    ASSERT_TRUE(session_->start());
  }

  // Moves frames both ways until neither side has anything to say. False when the server ended the
  // connection.
  bool exchange() {
    bool alive = true;
    for (int round = 0; round < 1000; ++round) {
      std::string up = client_.output();
      if (!up.empty() && alive) alive = session_->receive(up.data(), up.size());
      std::string down;
      EXPECT_TRUE(session_->produce(down, 1 << 20));
      if (!down.empty()) client_.input(down);
      if (up.empty() && down.empty()) break;
    }
    return alive;
  }

  Shard shard_;
  FakeHandler* handler_;
  FakeTransport transport_;
  Request connection_;
  Shard::Clock::time_point now_ = Shard::Clock::time_point() + 1h;
  Client client_;
  std::unique_ptr<Http2Session> session_;
};

TEST_F(Http2SessionTest, AnswersAStreamAndAdvertisesItsLimits) {
  open();
  std::int32_t id = client_.request("GET", "/a?x=1");
  ASSERT_TRUE(exchange());
  ASSERT_EQ(handler_->handled.size(), 1u);
  const ClientStream& s = client_.streams[id];
  EXPECT_EQ(s.status, 200);
  EXPECT_EQ(s.body, "/a ");
  EXPECT_TRUE(s.closed);
  EXPECT_EQ(s.reset_code, 0u);
  // Lowercase names, the connection-specific field dropped, fixed lines and a Content-Length.
  EXPECT_EQ(s.headers.at("x-mixed-case"), "v");
  EXPECT_EQ(s.headers.at("x-fixed"), "yes");
  EXPECT_EQ(s.headers.at("content-length"), "3");
  EXPECT_EQ(s.headers.count("connection"), 0u);
  EXPECT_EQ(s.headers.count("date"), 1u);
  EXPECT_EQ(client_.settings.at(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS), 100u);
  EXPECT_EQ(client_.settings.at(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE), 256u * 1024u);
  EXPECT_EQ(handler_->completed, std::vector<int>{200});
}

TEST_F(Http2SessionTest, TheRequestIsWhatAnHttp11RequestWouldBe) {
  open();
  client_.request("GET", "/p/q?k=v", {{"cookie", "a=1"}, {"x-one", "1"}, {"cookie", "b=2"}});
  ASSERT_TRUE(exchange());
  ASSERT_EQ(handler_->handled.size(), 1u);
  const Request& r = handler_->handled[0];
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.target, "/p/q?k=v");
  EXPECT_EQ(r.path, "/p/q");
  EXPECT_EQ(r.query, "k=v");
  EXPECT_EQ(r.version, 20u);
  EXPECT_TRUE(r.tls);
  EXPECT_EQ(r.client_address, "192.0.2.7");
  EXPECT_EQ(r.headers.get("host").value_or(""), "api.test");
  EXPECT_EQ(r.headers.get("cookie").value_or(""), "a=1; b=2");
  for (const auto& [name, value] : test_support::fields(r.headers))
    EXPECT_NE(name[0], ':') << name;
}

TEST_F(Http2SessionTest, ABufferedBodyArrivesWhole) {
  open();
  std::string body(300 * 1024, 'b');  // over one stream window: needs our WINDOW_UPDATEs
  std::int32_t id = client_.request("POST", "/up", {}, &body);
  ASSERT_TRUE(exchange());
  ASSERT_EQ(handler_->handled.size(), 1u);
  EXPECT_EQ(handler_->handled[0].body.size(), body.size());
  EXPECT_EQ(client_.streams[id].status, 200);
}

TEST_F(Http2SessionTest, ConcurrentBufferedBodiesShareOneBudgetAndAllComplete) {
  handler_->limits_.max_body_bytes = 300 * 1024;
  handler_->limits_.http2.connection_window_bytes = 65535;
  open();
  // Three bodies of 290 KiB: 870 KiB in all, over the connection's budget (300 KiB + 64 KiB). The oldest
  // always goes on, so each completes in turn; the others are held by flow control meanwhile.
  std::vector<std::string> bodies = {std::string(290 * 1024, 'a'), std::string(290 * 1024, 'b'),
                                     std::string(290 * 1024, 'c')};
  std::vector<std::unique_ptr<Client::Upload>> uploads;
  std::vector<std::int32_t> ids;
  for (auto& body : bodies)
    ids.push_back(client_.request_with_upload("POST", "/up", body, uploads));
  for (int i = 0; i < 50 && handler_->handled.size() < 3; ++i)
    exchange();
  ASSERT_EQ(handler_->handled.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(handler_->handled[i].body.size(), bodies[i].size());
    EXPECT_EQ(client_.streams[ids[i]].status, 200);
  }
}

TEST_F(Http2SessionTest, AStreamedBodyIsAcknowledgedOnlyAsItIsConsumed) {
  open();
  std::string body(1024 * 1024, 's');
  client_.request("POST", "/stream", {}, &body);
  ASSERT_TRUE(exchange());
  ASSERT_TRUE(handler_->held);
  // Nothing consumed yet: the client could send at most the stream window.
  EXPECT_LE(client_.uploaded, 256u * 1024u);
  std::size_t total = 0;
  bool last = false;
  for (int i = 0; i < 100 && !last; ++i) {
    handler_->held->read_body([&](const error_code& ec, std::string_view chunk, bool is_last) {
      ASSERT_FALSE(ec) << ec.message();
      total += chunk.size();
      last = is_last;
    });
    exchange();
  }
  EXPECT_TRUE(last);
  EXPECT_EQ(total, body.size());
}

TEST_F(Http2SessionTest, UnconsumedStreamedBodiesDoNotHoldTheConnectionWindow) {
  handler_->limits_.http2.connection_window_bytes = 300 * 1024;
  open();
  // Two streamed uploads nobody reads hold a stream window each (512 KiB in all, over the connection's
  // 300 KiB window); a third upload on the connection still completes: the connection's window came back
  // as their bytes arrived, and each of them is held back by its own window only.
  std::vector<std::unique_ptr<Client::Upload>> uploads;
  std::string slow(1024 * 1024, 's');
  client_.request_with_upload("POST", "/stream", slow, uploads);
  client_.request_with_upload("POST", "/stream", slow, uploads);
  std::string body(200 * 1024, 'b');
  std::int32_t id = client_.request_with_upload("POST", "/up", body, uploads);
  for (int i = 0; i < 50 && client_.streams[id].status == 0; ++i)
    exchange();
  EXPECT_EQ(client_.streams[id].status, 200);
  ASSERT_EQ(handler_->handled.size(), 3u);
  EXPECT_EQ(handler_->handled[2].body.size(), body.size());
  EXPECT_LE(uploads[0]->sent, 256u * 1024u);
  EXPECT_LE(uploads[1]->sent, 256u * 1024u);
}

TEST_F(Http2SessionTest, AnEarlyAnswerResetsTheUploadWithNoError) {
  handler_->limits_.max_body_bytes = 1000;
  open();
  std::string body(5000, 'x');
  std::int32_t id = client_.request("POST", "/up", {{"content-length", "5000"}}, &body);
  exchange();
  EXPECT_EQ(client_.streams[id].status, 413);
  EXPECT_TRUE(client_.streams[id].closed);
  EXPECT_EQ(handler_->handled.size(), 0u);
  // The connection goes on.
  std::int32_t next = client_.request("GET", "/b");
  ASSERT_TRUE(exchange());
  EXPECT_EQ(client_.streams[next].status, 200);
}

TEST_F(Http2SessionTest, AHeaderListOverTheLimitIs431) {
  handler_->limits_.max_header_bytes = 2048;
  open();
  std::int32_t id = client_.request("GET", "/h", {{"x-big", std::string(3000, 'v')}});
  ASSERT_TRUE(exchange());
  EXPECT_EQ(client_.streams[id].status, 431);
  EXPECT_EQ(handler_->handled.size(), 0u);
}

TEST_F(Http2SessionTest, AClientResetCancelsThePendingWork) {
  open();
  std::int32_t id = client_.request("GET", "/hold");
  ASSERT_TRUE(exchange());
  ASSERT_TRUE(handler_->held);
  nghttp2_submit_rst_stream(client_.session, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
  ASSERT_TRUE(exchange());
  EXPECT_EQ(handler_->work->cancelled, 1);
  EXPECT_EQ(session_->open_streams(), 0u);
  // A late answer to the reset stream is a no-op.
  handler_->held->respond(Response{});
  EXPECT_TRUE(exchange());
}

TEST_F(Http2SessionTest, ClosingTheConnectionCancelsEveryStream) {
  open();
  client_.request("GET", "/hold");
  ASSERT_TRUE(exchange());
  session_->close_streams();
  EXPECT_EQ(handler_->work->cancelled, 1);
}

TEST_F(Http2SessionTest, AResponseBodyIsPulledAsItIsSent) {
  open();
  std::int32_t id = client_.request("GET", "/source");
  ASSERT_TRUE(exchange());
  ASSERT_TRUE(handler_->source);
  ASSERT_TRUE(handler_->source->waiting);
  handler_->source->give("first ", false);
  EXPECT_GT(transport_.wants, 0);  // the session asked its transport to flush
  exchange();
  EXPECT_EQ(client_.streams[id].body, "first ");
  EXPECT_FALSE(client_.streams[id].closed);
  ASSERT_TRUE(handler_->source->waiting);
  handler_->source->give("last", true);
  exchange();
  EXPECT_EQ(client_.streams[id].body, "first last");
  EXPECT_TRUE(client_.streams[id].closed);
  EXPECT_EQ(client_.streams[id].reset_code, 0u);
}

TEST_F(Http2SessionTest, AFailedBodySourceResetsTheStream) {
  open();
  std::int32_t id = client_.request("GET", "/source");
  ASSERT_TRUE(exchange());
  handler_->source->give("part", false);
  exchange();
  handler_->source->fail();
  exchange();
  EXPECT_TRUE(client_.streams[id].closed);
  EXPECT_EQ(client_.streams[id].reset_code, static_cast<std::uint32_t>(NGHTTP2_INTERNAL_ERROR));
}

TEST_F(Http2SessionTest, ABodyThatStopsArrivingTimesOut) {
  open();
  // HEADERS without END_STREAM, and no DATA: the client never sends its body.
  std::vector<nghttp2_nv> nva;
  std::string names[] = {":method", ":path", ":scheme", ":authority"},
              values[] = {"POST", "/slow", "https", "a"};
  for (int i = 0; i < 4; ++i)
    nva.push_back({reinterpret_cast<std::uint8_t*>(names[i].data()),
                   reinterpret_cast<std::uint8_t*>(values[i].data()), names[i].size(), values[i].size(),
                   NGHTTP2_NV_FLAG_NONE});
  std::int32_t id = nghttp2_submit_headers(client_.session, NGHTTP2_FLAG_NONE, -1, nullptr, nva.data(),
                                           nva.size(), nullptr);
  ASSERT_TRUE(exchange());
  now_ += 500ms;
  session_->on_sweep(now_);
  exchange();
  EXPECT_EQ(client_.streams[id].status, 0);
  now_ += 600ms;
  session_->on_sweep(now_);
  exchange();
  EXPECT_EQ(client_.streams[id].status, 408);
}

TEST_F(Http2SessionTest, RapidResetEndsTheConnection) {
  handler_->limits_.http2.reset_burst = 5;
  handler_->limits_.http2.resets_per_second = 1;
  open();
  bool alive = true;
  for (int i = 0; i < 10 && alive; ++i) {
    std::int32_t id = client_.request("GET", "/hold");
    alive = exchange();  // the HEADERS go out (a reset submitted with them would cancel them unsent)
    nghttp2_submit_rst_stream(client_.session, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
    alive = alive && exchange();
  }
  EXPECT_FALSE(alive);
  ASSERT_TRUE(client_.goaway.has_value());
  EXPECT_EQ(*client_.goaway, static_cast<std::uint32_t>(NGHTTP2_ENHANCE_YOUR_CALM));
  EXPECT_TRUE(session_->finished());
}

TEST_F(Http2SessionTest, ResetsWithinTheBudgetRateAreFine) {
  handler_->limits_.http2.reset_burst = 5;
  handler_->limits_.http2.resets_per_second = 1;
  open();
  for (int i = 0; i < 20; ++i) {
    std::int32_t id = client_.request("GET", "/hold");
    ASSERT_TRUE(exchange()) << i;
    nghttp2_submit_rst_stream(client_.session, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
    ASSERT_TRUE(exchange()) << i;
    EXPECT_EQ(handler_->work->cancelled, i + 1);
    now_ += 1100ms;
  }
  EXPECT_FALSE(client_.goaway.has_value());
}

TEST_F(Http2SessionTest, PingFloodEndsTheConnection) {
  handler_->limits_.http2.control_frame_burst = 20;
  handler_->limits_.http2.control_frames_per_second = 1;
  open();
  for (int i = 0; i < 50; ++i)
    nghttp2_submit_ping(client_.session, NGHTTP2_FLAG_NONE, nullptr);
  EXPECT_FALSE(exchange());
  ASSERT_TRUE(client_.goaway.has_value());
  EXPECT_EQ(*client_.goaway, static_cast<std::uint32_t>(NGHTTP2_ENHANCE_YOUR_CALM));
}

TEST_F(Http2SessionTest, GoAwayLetsOpenStreamsFinish) {
  open();
  std::int32_t id = client_.request("GET", "/hold");
  ASSERT_TRUE(exchange());
  session_->go_away();
  exchange();
  ASSERT_TRUE(client_.goaway.has_value());
  EXPECT_EQ(*client_.goaway, 0u);
  EXPECT_FALSE(session_->finished());
  handler_->held->respond(Response{});
  exchange();
  EXPECT_EQ(client_.streams[id].status, 200);
  EXPECT_TRUE(session_->finished());
}

TEST_F(Http2SessionTest, GarbageInsteadOfThePrefaceEndsTheConnection) {
  open();
  std::string garbage = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  EXPECT_FALSE(session_->receive(garbage.data(), garbage.size()));
  std::string out;
  session_->produce(out, 1 << 20);
  EXPECT_TRUE(session_->finished());
}

}  // namespace
}  // namespace workgate::http
