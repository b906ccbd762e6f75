// The listening server: N shards (one event loop per thread, each with its own SO_REUSEPORT socket),
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

struct ServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8787;
  unsigned threads = 1;
  int backlog = 4096;
  std::chrono::milliseconds drain_timeout{30000};
};

class ListenError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Server {
 public:
  using HandlerFactory = std::function<std::unique_ptr<RequestHandler>(Shard&)>;

  Server(ServerOptions options, HandlerFactory factory);
  ~Server();

  // Binds every shard's socket; throws ListenError with a readable message (address in use, bad host...).
  // Returns the bound port (useful with port 0).
  std::uint16_t bind();

  // Runs until SIGTERM/SIGINT has drained the connections (or the drain timeout forced them closed).
  // `on_reload` runs on SIGHUP on the main thread.
  void run(const std::function<void()>& on_reload);

 private:
  ServerOptions options_;
  HandlerFactory factory_;
  std::vector<std::unique_ptr<Shard>> shards_;
};

}  // namespace workgate::http
