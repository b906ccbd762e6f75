// The listening server: N shards (one event loop per thread, each with its own SO_REUSEPORT socket per
// listener),
// and the main thread waiting for signals (SIGTERM/SIGINT drain and stop, SIGHUP reloads).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "http/shard.hpp"

namespace workgate::http {

// One listening address; every shard serves every listener.
struct ListenerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8787;
  // A TLS listener: its index in the config's gateway.listeners (its certificates); -1: plain HTTP.
  int tls_index = -1;
  // HTTP/2: on a TLS listener ALPN offers "h2" (its TlsContext says so); a plain one also accepts
  // prior-knowledge h2c.
  bool http2 = false;
  // Sockets bound by bind_listeners() in another process (the supervisor), one per shard; empty: bind().
  std::vector<int> inherited_fds;
};

struct ServerOptions {
  std::vector<ListenerOptions> listeners{ListenerOptions{}};
  unsigned threads = 1;
  int backlog = 4096;
  std::chrono::milliseconds drain_timeout{30000};
  // Run under the supervisor: it forwards SIGTERM/SIGINT, which then may arrive twice (once from the
  // supervisor, once from whoever signalled the whole group), so a repeat within a short window does not
  // count as the "second signal" that stops without draining.
  bool supervised = false;
  // Called by run() once the signal handlers are installed (the supervisor's readiness notification: a
  // signal it forwards from then on is handled, not fatal).
  std::function<void()> on_ready;
  // Called on the main thread every ~250 ms while the server runs (work that must stay off the event
  // loops, e.g. destroying a replaced config snapshot).
  std::function<void()> housekeeping;
  // Called on the main thread when a drain begins (SIGTERM/SIGINT), e.g. to fail readiness checks.
  std::function<void()> on_drain;
};

class ListenError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The listening sockets of a server: `count` sockets with SO_REUSEADDR and SO_REUSEPORT bound to
// host:port (close-on-exec, not yet listening; Shard::adopt makes them listen), and the bound port (the
// real one with port 0). A probe socket without SO_REUSEPORT binds first, so that another listener on the
// address is a clear "address ... is already in use" instead of a silent share. Throws ListenError.
struct Listeners {
  std::vector<int> fds;
  std::uint16_t port = 0;
};
Listeners bind_listeners(const std::string& host, std::uint16_t port, unsigned count);

class Server {
 public:
  using HandlerFactory = std::function<std::unique_ptr<RequestHandler>(Shard&)>;

  Server(ServerOptions options, HandlerFactory factory);
  ~Server();

  // Binds every shard's socket of every listener (or adopts the inherited ones) and listens; throws
  // ListenError with a readable message (address in use, bad host...). Returns the bound port of each
  // listener, in order (useful with port 0).
  std::vector<std::uint16_t> bind();

  // Runs until SIGTERM/SIGINT has drained the connections (or the drain timeout forced them closed).
  // `on_reload` runs on SIGHUP on a reload thread of its own, so that a slow reload (a JWKS that does not
  // answer) never delays a SIGTERM; SIGHUPs during a reload are coalesced into one more reload.
  // Returns true when a reload was still running at the end: the caller must then end the process
  // without returning through destructors the reload thread may still use (see cli.cpp).
  bool run(const std::function<void()>& on_reload);

 private:
  ServerOptions options_;
  HandlerFactory factory_;
  std::vector<std::unique_ptr<Shard>> shards_;
};

}  // namespace workgate::http
