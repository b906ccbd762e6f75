// The http_proxy (and http) integration: forwards the request to a `servers` entry.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "http/cluster.hpp"
#include "http/upstream.hpp"
#include "integrations/mapping.hpp"
#include "pipeline/snapshot.hpp"

namespace workgate::integrations {

struct ProxyMapping {
  std::vector<std::pair<std::string, ValueTemplate>> headers;
  std::vector<std::pair<std::string, ValueTemplate>> query;
};

// Compiles a route's mapping; errors carry pointers under `pointer` (e.g. /paths/3/mapping).
std::optional<ProxyMapping> compile_mapping(const config::Route& route, const config::Config& config,
                                            const std::string& pointer,
                                            std::vector<config::ConfigError>& errors);

// The path sent upstream, as the original computes it: for a route ending in "/{.+}" the literal prefix is
// stripped (the bare prefix forwards "/"), other routes forward the whole path; the server's base path is
// prepended and runs of '/' collapse. proxied_path is the part of the request path that is forwarded (before
// the base path and the collapsing); append_upstream_path writes it at the end of `out` (the upstream
// request head: no string of its own, which a path past 15 bytes would allocate).
std::string_view proxied_path(std::string_view route_path, std::string_view request_path);
void append_upstream_path(std::string& out, std::string_view route_path, std::string_view request_path,
                          std::string_view base_path);
std::string upstream_path(std::string_view route_path, std::string_view request_path,
                          std::string_view base_path);

std::unique_ptr<pipeline::Stage> make_http_proxy(std::shared_ptr<const http::UpstreamTarget> target,
                                                 const config::ServerEntry& server,
                                                 const config::Route& route, ProxyMapping mapping,
                                                 bool buffer_response);

// The resolved `hash_key` of a request (a rate-limit key template, compiled by the snapshot builder).
using HashKeyResolver = std::function<void(const pipeline::RequestContext&, std::string&)>;

// A server with `targets`: each request goes to one target of `cluster` (src/http/cluster.hpp); the
// Host field is the picked target's authority.
std::unique_ptr<pipeline::Stage> make_balanced_http_proxy(std::shared_ptr<const http::Cluster> cluster,
                                                          HashKeyResolver hash_key,
                                                          const config::ServerEntry& server,
                                                          const config::Route& route, ProxyMapping mapping,
                                                          bool buffer_response);

}  // namespace workgate::integrations
