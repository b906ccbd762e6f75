#include "http/server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <csignal>
#include <memory>
#include <mutex>
#include <thread>

#include "http/malloc_tuning.hpp"
#include "observability/log.hpp"

namespace workgate::http {
namespace asio = boost::asio;
using boost::system::error_code;

namespace {
[[noreturn]] void throw_listen_error(int err, const std::string& where) {
  if (err == EADDRINUSE) throw ListenError("address " + where + " is already in use");
  throw ListenError("cannot listen on " + where + ": " +
                    error_code(err, boost::system::system_category()).message());
}
}  // namespace

Listeners bind_listeners(const std::string& host, std::uint16_t port, unsigned count) {
  error_code ec;
  auto address = asio::ip::make_address(host == "localhost" ? "127.0.0.1" : host, ec);
  if (ec) throw ListenError("invalid listen address \"" + host + "\": expected an IP address");
  asio::ip::tcp::endpoint endpoint(address, port);
  std::string where = host + ":" + std::to_string(port);

  // A socket without SO_REUSEPORT cannot bind where another listener (even another workgate with
  // SO_REUSEPORT) already is, so this probe turns "someone else is listening" into a clear error. It has
  // SO_REUSEADDR like the listeners: connections of a previous run still in TIME-WAIT do not block the
  // address (a restart right after a stop just works), a listening socket still does.
  {
    asio::io_context probe_io;
    asio::ip::tcp::acceptor probe(probe_io);
    probe.open(endpoint.protocol(), ec);
    if (!ec) probe.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) probe.bind(endpoint, ec);
    if (ec == asio::error::address_in_use) throw ListenError("address " + where + " is already in use");
    if (ec) throw ListenError("cannot listen on " + where + ": " + ec.message());
    endpoint.port(probe.local_endpoint().port());
  }

  Listeners out;
  out.port = endpoint.port();
  auto fail = [&](int err) {
    for (int fd : out.fds)
      ::close(fd);
    throw_listen_error(err, where);
  };
  for (unsigned i = 0; i < count; ++i) {
    int fd = ::socket(endpoint.protocol().family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) fail(errno);
    int one = 1;
    if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 ||
        ::bind(fd, endpoint.data(), static_cast<socklen_t>(endpoint.size())) != 0) {
      int err = errno;
      ::close(fd);
      fail(err);
    }
    out.fds.push_back(fd);
  }
  return out;
}

// The shards' heaps give a closed burst of connections back to the OS only with fixed malloc thresholds
// (http/malloc_tuning.hpp).
Server::Server(ServerOptions options, HandlerFactory factory)
    : options_(std::move(options)), factory_(std::move(factory)) {
  tune_malloc_for_bursts();
}

Server::~Server() = default;

std::vector<std::uint16_t> Server::bind() {
  std::vector<std::uint16_t> ports;
  std::vector<std::vector<int>> fds_of;
  for (const ListenerOptions& listener : options_.listeners) {
    std::string where = listener.host + ":" + std::to_string(listener.port);
    std::vector<int> fds = listener.inherited_fds;
    std::uint16_t port = listener.port;
    if (fds.empty()) {
      Listeners bound = bind_listeners(listener.host, listener.port, options_.threads);
      fds = std::move(bound.fds);
      port = bound.port;
    } else {
      sockaddr_storage addr{};
      socklen_t len = sizeof(addr);
      if (::getsockname(fds.front(), reinterpret_cast<sockaddr*>(&addr), &len) != 0)
        throw_listen_error(errno, where);
      port = ntohs(addr.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port
                                              : reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
    }
    if (!fds_of.empty() && fds.size() != fds_of.front().size())
      throw ListenError("listener " + where + ": " + std::to_string(fds.size()) + " sockets for " +
                        std::to_string(fds_of.front().size()) + " threads");
    ports.push_back(port);
    fds_of.push_back(std::move(fds));
  }

  std::size_t shard_count = fds_of.empty() ? 0 : fds_of.front().size();
  // As many reactor states as the process can have sockets, up to 16,384 per shard (184 B each, 3 MiB):
  // RSS then returns to its idle level after a burst of that many connections closes.
  std::size_t warm_descriptors = 16384;
  if (rlimit limit{}; ::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY)
    warm_descriptors = std::min<std::size_t>(warm_descriptors, limit.rlim_cur);
  for (std::size_t i = 0; i < shard_count; ++i) {
    auto shard = std::make_unique<Shard>(static_cast<unsigned>(i));
    shard->warm_descriptor_pool(warm_descriptors);
    for (std::size_t l = 0; l < fds_of.size(); ++l) {
      const ListenerOptions& listener = options_.listeners[l];
      try {
        shard->adopt(fds_of[l][i], options_.backlog, static_cast<std::uint16_t>(l), listener.tls_index,
                     listener.http2);
      } catch (const boost::system::system_error& e) {
        throw_listen_error(e.code().value(), listener.host + ":" + std::to_string(listener.port));
      }
    }
    shard->set_handler(factory_(*shard));
    shards_.push_back(std::move(shard));
  }
  return ports;
}

namespace {
// SIGHUP reloads run here, one at a time, off the signal thread. Shared with the thread, which may
// outlive Server::run when the process stops during a reload.
struct Reloader {
  std::function<void()> reload;
  std::mutex mutex;
  bool running = false;
  bool again = false;
  std::thread thread;

  static void request(const std::shared_ptr<Reloader>& self) {
    std::lock_guard lock(self->mutex);
    if (self->running) {
      self->again = true;  // one more reload after this one: it reads the newest files
      return;
    }
    self->running = true;
    if (self->thread.joinable()) self->thread.join();  // the previous reload has finished
    self->thread = std::thread([self] {
      while (true) {
        try {
          self->reload();
        } catch (const std::exception& e) {
          observability::log_error("reload failed: {}", e.what());
        }
        observability::flush_repeated();
        std::lock_guard relock(self->mutex);
        if (!self->again) {
          self->running = false;
          return;
        }
        self->again = false;
      }
    });
  }

  // Joins an idle reload thread; detaches a running one (true).
  static bool finish(const std::shared_ptr<Reloader>& self) {
    std::lock_guard lock(self->mutex);
    if (self->running) {
      self->thread.detach();
      return true;
    }
    if (self->thread.joinable()) self->thread.join();
    return false;
  }
};

constexpr std::chrono::milliseconds kRepeatFlushInterval{250};
constexpr std::chrono::milliseconds kDuplicateStopWindow{500};
}  // namespace

bool Server::run(const std::function<void()>& on_reload) {
  std::signal(SIGPIPE, SIG_IGN);
  asio::io_context main_io(1);
  asio::signal_set signals(main_io, SIGINT, SIGTERM, SIGHUP);
  asio::steady_timer drain_timer(main_io);
  asio::steady_timer flush_timer(main_io);
  std::size_t running = shards_.size();
  bool draining = false;
  std::chrono::steady_clock::time_point drain_started;
  auto reloader = std::make_shared<Reloader>();
  reloader->reload = on_reload;

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

  std::function<void(const error_code&)> on_flush = [&](const error_code& ec) {
    if (ec) return;
    observability::flush_repeated();
    if (options_.housekeeping) options_.housekeeping();
    flush_timer.expires_after(kRepeatFlushInterval);
    flush_timer.async_wait(on_flush);
  };
  on_flush({});

  std::function<void(const error_code&, int)> on_signal = [&](const error_code& ec, int signo) {
    if (ec) return;
    if (signo == SIGHUP) {
      if (!draining) Reloader::request(reloader);
    } else if (!draining) {
      draining = true;
      drain_started = std::chrono::steady_clock::now();
      observability::log_info("received {}, draining connections (up to {} ms)",
                              signo == SIGTERM ? "SIGTERM" : "SIGINT", options_.drain_timeout.count());
      if (options_.on_drain) options_.on_drain();
      for (auto& shard : shards_)
        shard->begin_drain();
      drain_timer.expires_after(options_.drain_timeout);
      drain_timer.async_wait([&](const error_code& wait_ec) {
        if (wait_ec) return;
        observability::log_warn("drain timeout reached, closing the remaining connections");
        for (auto& shard : shards_)
          shard->force_stop();
      });
    } else if (options_.supervised &&
               std::chrono::steady_clock::now() - drain_started < kDuplicateStopWindow) {
      observability::log_debug("{} again right away (the supervisor forwards it too); still draining",
                               signo == SIGTERM ? "SIGTERM" : "SIGINT");
    } else {
      observability::log_warn("second signal, closing every connection now");
      for (auto& shard : shards_)
        shard->force_stop();
    }
    signals.async_wait(on_signal);
  };
  signals.async_wait(on_signal);
  if (options_.on_ready) options_.on_ready();
  main_io.run();
  for (auto& t : threads)
    t.join();
  bool abandoned = Reloader::finish(reloader);
  observability::flush_repeated();
  if (abandoned) {
    observability::log_info("stopped (the reload in progress was abandoned)");
  } else {
    observability::log_info("stopped");
  }
  return abandoned;
}

}  // namespace workgate::http
