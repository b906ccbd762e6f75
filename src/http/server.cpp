#include "http/server.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <csignal>
#include <thread>

#include "observability/log.hpp"

namespace workgate::http {
namespace asio = boost::asio;
using boost::system::error_code;

Server::Server(ServerOptions options, HandlerFactory factory)
    : options_(std::move(options)), factory_(std::move(factory)) {}

Server::~Server() = default;

std::uint16_t Server::bind() {
  error_code ec;
  auto address = asio::ip::make_address(options_.host == "localhost" ? "127.0.0.1" : options_.host, ec);
  if (ec) throw ListenError("invalid listen address \"" + options_.host + "\": expected an IP address");
  asio::ip::tcp::endpoint endpoint(address, options_.port);
  std::string where = options_.host + ":" + std::to_string(options_.port);

  // A socket without SO_REUSEPORT cannot bind where another listener (even another workgate with
  // SO_REUSEPORT) already is, so this probe turns "someone else is listening" into a clear error.
  {
    asio::io_context probe_io;
    asio::ip::tcp::acceptor probe(probe_io);
    probe.open(endpoint.protocol(), ec);
    if (!ec) probe.bind(endpoint, ec);
    if (ec == asio::error::address_in_use) throw ListenError("address " + where + " is already in use");
    if (ec) throw ListenError("cannot listen on " + where + ": " + ec.message());
    endpoint.port(probe.local_endpoint().port());
  }

  for (unsigned i = 0; i < options_.threads; ++i) {
    auto shard = std::make_unique<Shard>(i);
    try {
      shard->listen(endpoint, options_.backlog);
    } catch (const boost::system::system_error& e) {
      if (e.code() == asio::error::address_in_use)
        throw ListenError("address " + where + " is already in use");
      throw ListenError("cannot listen on " + where + ": " + e.code().message());
    }
    shard->set_handler(factory_(*shard));
    shards_.push_back(std::move(shard));
  }
  return endpoint.port();
}

void Server::run(const std::function<void()>& on_reload) {
  std::signal(SIGPIPE, SIG_IGN);
  asio::io_context main_io(1);
  asio::signal_set signals(main_io, SIGINT, SIGTERM, SIGHUP);
  asio::steady_timer drain_timer(main_io);
  std::size_t running = shards_.size();
  bool draining = false;

  std::vector<std::thread> threads;
  threads.reserve(shards_.size());
  for (auto& shard : shards_) {
    threads.emplace_back([&main_io, &running, s = shard.get()] {
      s->run();
      asio::post(main_io, [&main_io, &running] {
        if (--running == 0) main_io.stop();
      });
    });
  }

  std::function<void(const error_code&, int)> on_signal = [&](const error_code& ec, int signo) {
    if (ec) return;
    if (signo == SIGHUP) {
      on_reload();
    } else if (!draining) {
      draining = true;
      observability::log_info("received {}, draining connections (up to {} ms)",
                              signo == SIGTERM ? "SIGTERM" : "SIGINT", options_.drain_timeout.count());
      for (auto& shard : shards_)
        shard->begin_drain();
      drain_timer.expires_after(options_.drain_timeout);
      drain_timer.async_wait([&](const error_code& wait_ec) {
        if (wait_ec) return;
        observability::log_warn("drain timeout reached, closing the remaining connections");
        for (auto& shard : shards_)
          shard->force_stop();
      });
    } else {
      observability::log_warn("second signal, closing every connection now");
      for (auto& shard : shards_)
        shard->force_stop();
    }
    signals.async_wait(on_signal);
  };
  signals.async_wait(on_signal);
  main_io.run();
  for (auto& t : threads)
    t.join();
  observability::log_info("stopped");
}

}  // namespace workgate::http
