#include "admin/admin_server.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <list>

#include "observability/log.hpp"

namespace workgate::admin {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using boost::system::error_code;

struct AdminServer::Impl {
  AdminServerOptions options;
  Handler handler;
  asio::io_context io{1};
  asio::ip::tcp::acceptor acceptor{io};
  std::size_t open = 0;
  bool stopping = false;

  class Session;
  std::list<std::weak_ptr<Session>> sessions;

  void accept();
};

class AdminServer::Impl::Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Impl& server, asio::ip::tcp::socket socket) : server_(server), stream_(std::move(socket)) {}

  void start(std::list<std::weak_ptr<Session>>::iterator self) {
    self_ = self;
    read();
  }
  void close() {
    error_code ignored;
    stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    stream_.close();
  }
  ~Session() {
    --server_.open;
    if (!server_.stopping) server_.sessions.erase(self_);
  }

 private:
  void read() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(server_.options.max_header_bytes));
    parser_->body_limit(server_.options.max_body_bytes);
    stream_.expires_after(server_.options.io_timeout);
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = shared_from_this()](const error_code& ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(const error_code& ec) {
    if (ec == bhttp::error::end_of_stream || ec == asio::error::operation_aborted) return close();
    if (ec) {
      if (ec == beast::error::timeout) return close();
      // A malformed or oversized request: answer 400/413/431 once, then close.
      int status = ec == bhttp::error::body_limit ? 413 : ec == bhttp::error::header_limit ? 431 : 400;
      AdminResponse r{status, "application/json", "{\"error\":\"bad request\"}\n", ""};
      return write(std::move(r), /*keep_alive=*/false, /*head=*/false);
    }
    const auto& request = parser_->get();
    AdminResponse r;
    try {
      r = server_.handler(std::string_view(request.method_string()), std::string_view(request.target()));
    } catch (const std::exception& e) {
      observability::log_error("admin: {} failed: {}", std::string_view(request.target()).substr(0, 100),
                               e.what());
      r = AdminResponse{500, "application/json", "{\"error\":\"internal error\"}\n", ""};
    }
    write(std::move(r), request.keep_alive() && !server_.stopping, request.method() == bhttp::verb::head);
  }

  void write(AdminResponse r, bool keep_alive, bool head) {
    response_ = {};
    response_.version(11);
    response_.result(static_cast<unsigned>(r.status));
    response_.set(bhttp::field::content_type, r.content_type);
    response_.set(bhttp::field::cache_control, "no-store");
    if (!r.allow.empty()) response_.set(bhttp::field::allow, r.allow);
    response_.keep_alive(keep_alive);
    response_.body() = std::move(r.body);
    response_.prepare_payload();
    if (head) response_.body().clear();  // Content-Length stays that of the GET
    stream_.expires_after(server_.options.io_timeout);
    bhttp::async_write(stream_, response_,
                       [self = shared_from_this(), keep_alive](const error_code& ec, std::size_t) {
                         if (ec || !keep_alive) return self->close();
                         self->read();
                       });
  }

  Impl& server_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  bhttp::response<bhttp::string_body> response_;
  std::list<std::weak_ptr<Session>>::iterator self_;
};

void AdminServer::Impl::accept() {
  acceptor.async_accept([this](const error_code& ec, asio::ip::tcp::socket socket) {
    if (ec == asio::error::operation_aborted || stopping) return;
    if (!ec) {
      if (open >= options.max_connections) {
        error_code ignored;
        socket.close(ignored);  // over the limit: refuse by closing
      } else {
        ++open;
        auto session = std::make_shared<Session>(*this, std::move(socket));
        auto it = sessions.insert(sessions.end(), session);
        session->start(it);
      }
    } else {
      observability::log_warn("admin: accept failed: {}", ec.message());
    }
    accept();
  });
}

AdminServer::AdminServer(AdminServerOptions options, Handler handler) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->handler = std::move(handler);
}

AdminServer::~AdminServer() {
  stop();
}

std::uint16_t AdminServer::bind() {
  const auto& o = impl_->options;
  std::string where = o.host + ":" + std::to_string(o.port);
  error_code ec;
  auto address = asio::ip::make_address(o.host == "localhost" ? "127.0.0.1" : o.host, ec);
  if (ec) throw AdminListenError("invalid admin listen address \"" + o.host + "\": expected an IP address");
  asio::ip::tcp::endpoint endpoint(address, o.port);
  auto& acceptor = impl_->acceptor;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(64, ec);
  if (ec == asio::error::address_in_use)
    throw AdminListenError("admin address " + where + " is already in use");
  if (ec) throw AdminListenError("cannot listen on admin address " + where + ": " + ec.message());
  return acceptor.local_endpoint().port();
}

void AdminServer::start() {
  impl_->accept();
  thread_ = std::thread([impl = impl_.get()] { impl->io.run(); });
}

void AdminServer::stop() {
  if (!thread_.joinable()) return;
  asio::post(impl_->io, [impl = impl_.get()] {
    impl->stopping = true;
    error_code ignored;
    impl->acceptor.close(ignored);
    for (auto& weak : impl->sessions) {
      if (auto session = weak.lock()) session->close();
    }
    impl->sessions.clear();
  });
  thread_.join();
}

}  // namespace workgate::admin
