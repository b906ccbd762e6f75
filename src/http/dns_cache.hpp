// Name resolution for the upstream client of one event-loop thread: asynchronous lookups (Asio's resolver,
// getaddrinfo on its private thread), successful results cached per host and port, concurrent lookups of
// one name merged into one. IP literals and localhost names are answered without a lookup.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace workgate::http {

class DnsCache {
 public:
  using Endpoints = std::vector<boost::asio::ip::tcp::endpoint>;
  using Handler = std::function<void(const boost::system::error_code&, const Endpoints&)>;

  explicit DnsCache(boost::asio::io_context& io, std::chrono::seconds ttl = std::chrono::seconds(30));
  DnsCache(const DnsCache&) = delete;
  DnsCache& operator=(const DnsCache&) = delete;

  // Runs `handler` with the addresses of host:port, synchronously when no lookup is needed (an IP literal,
  // a localhost name, a cached answer), else on the io_context's thread when the lookup completes. A lookup
  // cannot be interrupted: a caller that stops waiting ignores the late call (its handler must check).
  void resolve(const std::string& host, std::uint16_t port, Handler handler);

  static bool is_ip_literal(std::string_view host);
  // "localhost" and names under ".localhost" are loopback by definition (RFC 6761 §6.3): answered without
  // asking a resolver, so they work on a machine without /etc/hosts and cannot be redirected by DNS.
  static bool is_localhost_name(std::string_view host);

 private:
  struct Entry {
    Endpoints endpoints;
    std::chrono::steady_clock::time_point expires;
    bool pending = false;
    std::vector<Handler> waiters;
  };

  // The resolver's completion handlers capture `this`: the cache lives as long as the io_context runs
  // (it belongs to the thread's UpstreamClient, destroyed after the loop stopped; pending handlers are then
  // destroyed without being run).
  boost::asio::ip::tcp::resolver resolver_;
  std::chrono::seconds ttl_;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace workgate::http
