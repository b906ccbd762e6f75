#include "http/dns_cache.hpp"

#include "http/headers.hpp"

namespace workgate::http {
namespace asio = boost::asio;
using boost::system::error_code;
using tcp = asio::ip::tcp;

DnsCache::DnsCache(asio::io_context& io, std::chrono::seconds ttl) : resolver_(io), ttl_(ttl) {}

bool DnsCache::is_ip_literal(std::string_view host) {
  error_code ec;
  asio::ip::make_address(std::string(host), ec);
  return !ec;
}

bool DnsCache::is_localhost_name(std::string_view host) {
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  constexpr std::string_view kName = "localhost";
  if (host.size() < kName.size() || !iequals(host.substr(host.size() - kName.size()), kName)) return false;
  return host.size() == kName.size() || host[host.size() - kName.size() - 1] == '.';
}

void DnsCache::resolve(const std::string& host, std::uint16_t port, Handler handler) {
  error_code literal_ec;
  auto literal = asio::ip::make_address(host, literal_ec);
  if (!literal_ec) {
    handler(error_code(), Endpoints{tcp::endpoint(literal, port)});
    return;
  }
  if (is_localhost_name(host)) {
    handler(error_code(), Endpoints{tcp::endpoint(asio::ip::address_v4::loopback(), port),
                                    tcp::endpoint(asio::ip::address_v6::loopback(), port)});
    return;
  }
  std::string key = host + ":" + std::to_string(port);
  Entry& entry = entries_[key];
  if (!entry.endpoints.empty() && entry.expires > std::chrono::steady_clock::now()) {
    handler(error_code(), entry.endpoints);
    return;
  }
  entry.waiters.push_back(std::move(handler));
  if (entry.pending) return;
  entry.pending = true;
  resolver_.async_resolve(
      host, std::to_string(port), [this, key](const error_code& ec, tcp::resolver::results_type results) {
        Entry& e = entries_[key];
        e.pending = false;
        e.endpoints.clear();
        if (!ec) {
          for (const auto& r : results)
            e.endpoints.push_back(r.endpoint());
          e.expires = std::chrono::steady_clock::now() + ttl_;
        }
        auto waiters = std::move(e.waiters);
        e.waiters.clear();
        error_code result = ec ? ec : (e.endpoints.empty() ? asio::error::host_not_found : ec);
        Endpoints endpoints = e.endpoints;  // a waiter may resolve again and rehash
        for (auto& w : waiters)
          w(result, endpoints);
      });
}

}  // namespace workgate::http
