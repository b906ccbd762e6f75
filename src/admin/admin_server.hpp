// The admin listener: a small HTTP/1.1 server on its own socket and its own thread and io_context, never
// on the request shards, so a slow scrape (or a stuck operator's connection) cannot delay traffic.
//
// Built on Beast's parser and tcp_stream rather than the gateway's Connection: it serves a handful of
// requests a minute, so the per-request cost that made the data path hand-serialize does not matter, and
// keeping it apart means the data path's connection and handler interfaces carry nothing for it.
// Limits: header bytes, body bytes, concurrent connections, and a deadline on every read and write.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include "admin/endpoints.hpp"

namespace workgate::admin {

struct AdminServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 9901;
  std::size_t max_connections = 64;
  std::size_t max_header_bytes = 8 * 1024;
  std::size_t max_body_bytes = 64 * 1024;
  std::chrono::milliseconds io_timeout{10000};  // each read (of a whole request) and each write
};

class AdminListenError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class AdminServer {
 public:
  using Handler = std::function<AdminResponse(std::string_view method, std::string_view target)>;

  AdminServer(AdminServerOptions options, Handler handler);
  ~AdminServer();  // stop()s
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Binds and listens; returns the bound port (the real one with port 0). Throws AdminListenError.
  std::uint16_t bind();
  // Serves on a thread of its own until stop().
  void start();
  // Closes the listener and every connection, joins the thread.
  void stop();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
  std::thread thread_;
};

}  // namespace workgate::admin
