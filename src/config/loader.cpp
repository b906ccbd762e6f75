#include "config/loader.hpp"

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <charconv>
#include <cmath>
#include <fstream>
#include <initializer_list>
#include <set>
#include <sstream>

#include "config/buildable.hpp"
#include "config/rate_limits.hpp"
#include "router/router.hpp"

namespace workgate::config {
namespace json = boost::json;

std::string pointer_token(std::string_view key) {
  std::string out;
  out.reserve(key.size());
  for (char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string_view integration_type_name(IntegrationType type) {
  switch (type) {
    case IntegrationType::kHttpProxy:
      return "http_proxy";
    case IntegrationType::kService:
      return "service";
    case IntegrationType::kServiceBinding:
      return "service_binding";
    case IntegrationType::kAuth0Callback:
      return "auth0_callback";
    case IntegrationType::kAuth0Userinfo:
      return "auth0_userinfo";
    case IntegrationType::kAuth0CallbackRedirect:
      return "auth0_callback_redirect";
    case IntegrationType::kAuth0Refresh:
      return "auth0_refresh";
    case IntegrationType::kSupabasePasswordlessAuth:
      return "supabase_passwordless_auth";
    case IntegrationType::kSupabasePasswordlessVerify:
      return "supabase_passwordless_verify";
    case IntegrationType::kSupabasePasswordlessAuthAlt:
      return "supabase_passwordless_auth_alt";
  }
  return "unknown";
}

template <typename Entries>
static auto find_alias(const Entries& entries, std::string_view alias) -> decltype(&entries.front()) {
  for (const auto& e : entries) {
    if (e.alias == alias) return &e;
  }
  return nullptr;
}

const ServerEntry* Config::find_server(std::string_view alias) const {
  return find_alias(servers, alias);
}
const ServiceEntry* Config::find_service(std::string_view alias) const {
  return find_alias(services, alias);
}
const ServiceBindingEntry* Config::find_service_binding(std::string_view alias) const {
  return find_alias(service_bindings, alias);
}
const WorkerEntry* Config::find_worker(std::string_view binding) const {
  for (const auto& w : workers) {
    if (w.binding == binding) return &w;
  }
  return nullptr;
}

bool parse_listen_address(std::string_view s, std::string& host, std::uint16_t& port) {
  std::size_t colon;
  if (!s.empty() && s.front() == '[') {
    auto close = s.find(']');
    if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':') return false;
    host = std::string(s.substr(1, close - 1));
    colon = close + 1;
  } else {
    colon = s.rfind(':');
    if (colon == std::string_view::npos) return false;
    host = std::string(s.substr(0, colon));
    if (host.find(':') != std::string::npos) return false;  // an IPv6 address needs brackets
  }
  std::string_view digits = s.substr(colon + 1);
  unsigned n = 0;
  auto r = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (digits.empty() || r.ec != std::errc() || r.ptr != digits.data() + digits.size() || n > 65535)
    return false;
  boost::system::error_code ec;
  if (host != "localhost") boost::asio::ip::make_address(host, ec);
  if (host.empty() || ec) return false;
  port = static_cast<std::uint16_t>(n);
  return true;
}

namespace {

std::string in_quotes(std::string_view s) {
  return "\"" + std::string(s) + "\"";
}

// Collects errors and warnings while walking the document; every check names its JSON pointer.
class Checker {
 public:
  explicit Checker(LoadResult& result) : result_(result) {}

  void error(std::string pointer, std::string message) {
    result_.errors.push_back({std::move(pointer), std::move(message)});
  }
  void warning(std::string pointer, std::string message) {
    result_.warnings.push_back({std::move(pointer), std::move(message)});
  }

  const json::object* object(const json::value& v, const std::string& ptr) {
    if (!v.is_object()) {
      error(ptr, "must be an object");
      return nullptr;
    }
    return &v.get_object();
  }

  const json::array* array(const json::value& v, const std::string& ptr) {
    if (!v.is_array()) {
      error(ptr, "must be an array");
      return nullptr;
    }
    return &v.get_array();
  }

  // Keys outside `allowed` are errors (the schema's additionalProperties: false) or warnings.
  void known_keys(const json::object& obj, const std::string& ptr,
                  std::initializer_list<std::string_view> allowed, bool strict = true) {
    for (const auto& kv : obj) {
      if (std::find(allowed.begin(), allowed.end(), std::string_view(kv.key())) != allowed.end()) continue;
      std::string p = ptr + "/" + pointer_token(kv.key());
      if (strict) {
        error(p, "unknown key");
      } else {
        warning(p, "unknown key (ignored)");
      }
    }
  }

  std::optional<std::string> string(const json::object& obj, std::string_view key, const std::string& ptr,
                                    bool required, bool non_empty = false) {
    const json::value* v = obj.if_contains(key);
    std::string p = ptr + "/" + pointer_token(key);
    if (v == nullptr) {
      if (required) error(p, "is required");
      return std::nullopt;
    }
    if (!v->is_string()) {
      error(p, "must be a string");
      return std::nullopt;
    }
    if (non_empty && v->get_string().empty()) {
      error(p, "must not be empty");
      return std::nullopt;
    }
    return std::string(v->get_string());
  }

  std::optional<bool> boolean(const json::object& obj, std::string_view key, const std::string& ptr,
                              bool required = false) {
    const json::value* v = obj.if_contains(key);
    std::string p = ptr + "/" + pointer_token(key);
    if (v == nullptr) {
      if (required) error(p, "is required");
      return std::nullopt;
    }
    if (!v->is_bool()) {
      error(p, "must be a boolean");
      return std::nullopt;
    }
    return v->get_bool();
  }

  std::optional<std::int64_t> integer(const json::object& obj, std::string_view key, const std::string& ptr,
                                      std::int64_t min, std::int64_t max, bool required = false) {
    const json::value* v = obj.if_contains(key);
    std::string p = ptr + "/" + pointer_token(key);
    if (v == nullptr) {
      if (required) error(p, "is required");
      return std::nullopt;
    }
    // Integral doubles (1e3, 2.0) are integers too; a double is only converted once it is known to be
    // integral and inside the int64 range (a cast of 1e300 would be undefined behaviour).
    const std::string out_of_range = "must be between " + std::to_string(min) + " and " + std::to_string(max);
    std::int64_t n = 0;
    if (v->is_int64()) {
      n = v->get_int64();
    } else if (v->is_uint64()) {
      if (v->get_uint64() > static_cast<std::uint64_t>(INT64_MAX)) {
        error(p, out_of_range);
        return std::nullopt;
      }
      n = static_cast<std::int64_t>(v->get_uint64());
    } else if (v->is_double()) {
      const double d = v->get_double();
      constexpr double kTwoTo63 = 9223372036854775808.0;
      if (!std::isfinite(d) || d != std::trunc(d)) {
        error(p, "must be an integer");
        return std::nullopt;
      }
      if (d < -kTwoTo63 || d >= kTwoTo63) {
        error(p, out_of_range);
        return std::nullopt;
      }
      n = static_cast<std::int64_t>(d);
    } else {
      error(p, "must be an integer");
      return std::nullopt;
    }
    if (n < min || n > max) {
      error(p, out_of_range);
      return std::nullopt;
    }
    return n;
  }

  // The strings of an array; with `unique`, repeats are errors and left out. `positions` receives each
  // kept item's index in the document (for pointers).
  std::vector<std::string> string_list(const json::object& obj, std::string_view key, const std::string& ptr,
                                       bool required, bool unique = false,
                                       std::vector<std::size_t>* positions = nullptr) {
    std::vector<std::string> out;
    const json::value* v = obj.if_contains(key);
    std::string p = ptr + "/" + pointer_token(key);
    if (v == nullptr) {
      if (required) error(p, "is required");
      return out;
    }
    const json::array* arr = array(*v, p);
    if (arr == nullptr) return out;
    for (std::size_t i = 0; i < arr->size(); ++i) {
      const json::value& item = (*arr)[i];
      if (!item.is_string()) {
        error(p + "/" + std::to_string(i), "must be a string");
        continue;
      }
      std::string s(item.get_string());
      if (unique && std::find(out.begin(), out.end(), s) != out.end()) {
        error(p + "/" + std::to_string(i), "duplicate item " + in_quotes(s));
        continue;
      }
      out.push_back(std::move(s));
      if (positions) positions->push_back(i);
    }
    return out;
  }

 private:
  LoadResult& result_;
};

// Replaces whole-string "$env.NAME", "$secret.NAME" and "$secrets.NAME" values (keys are untouched).
void substitute_env(json::value& v, const std::string& ptr, const Environment& env, Checker& check) {
  if (v.is_string()) {
    std::string_view s = v.get_string();
    std::string_view name;
    for (std::string_view prefix : {"$env.", "$secrets.", "$secret."}) {
      if (s.starts_with(prefix)) {
        name = s.substr(prefix.size());
        break;
      }
    }
    if (name.data() == nullptr) return;
    if (auto value = env.get(name)) {
      v = json::string(*value);
    } else {
      check.error(ptr, "environment variable " + in_quotes(name) + " is not set");
    }
  } else if (v.is_object()) {
    for (auto& kv : v.get_object())
      substitute_env(kv.value(), ptr + "/" + pointer_token(kv.key()), env, check);
  } else if (v.is_array()) {
    auto& arr = v.get_array();
    for (std::size_t i = 0; i < arr.size(); ++i)
      substitute_env(arr[i], ptr + "/" + std::to_string(i), env, check);
  }
}

std::optional<json::value> parse_json(std::string_view text, Checker& check) {
  json::stream_parser parser;
  boost::system::error_code ec;
  std::size_t consumed = parser.write(text.data(), text.size(), ec);
  if (!ec) parser.finish(ec);
  if (ec) {
    std::size_t line = 1, column = 1;
    for (std::size_t i = 0; i < consumed && i < text.size(); ++i) {
      if (text[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    check.error("", "invalid JSON at line " + std::to_string(line) + ", column " + std::to_string(column) +
                        ": " + ec.message());
    return std::nullopt;
  }
  return parser.release();
}

std::chrono::milliseconds ms(std::int64_t n) {
  return std::chrono::milliseconds(n);
}

constexpr std::int64_t kMaxTimeoutMs = 24LL * 3600 * 1000;

// An origin URL (`servers[].url`, `servers[].targets[].url`); false (with errors at `ptr`) when unusable.
struct ParsedOrigin {
  bool tls = false;
  std::string host;
  std::uint16_t port = 0;
  std::string base_path;
};

bool parse_origin(const std::string& url, const std::string& ptr, Checker& check, ParsedOrigin& out) {
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) {
    check.error(ptr, "must be an absolute http:// or https:// URL");
    return false;
  }
  auto scheme = parsed->scheme_id();
  if (scheme != boost::urls::scheme::http && scheme != boost::urls::scheme::https) {
    check.error(ptr, "scheme must be http or https");
    return false;
  }
  if (parsed->encoded_host().empty()) {
    check.error(ptr, "must name a host");
    return false;
  }
  if (parsed->has_userinfo()) {
    check.error(ptr, "credentials in the URL are not supported (use mapping.headers)");
    return false;
  }
  out.tls = scheme == boost::urls::scheme::https;
  out.host = std::string(parsed->encoded_host_address());
  if (parsed->host_type() == boost::urls::host_type::ipv6) out.host = "[" + out.host + "]";
  out.port = out.tls ? 443 : 80;
  bool ok = true;
  if (parsed->has_port()) {
    if (parsed->port_number() == 0) {
      check.error(ptr, "port must be between 1 and 65535");
      ok = false;
    } else {
      out.port = parsed->port_number();
    }
  }
  std::string path(parsed->encoded_path());
  while (!path.empty() && path.back() == '/')
    path.pop_back();
  out.base_path = std::move(path);
  if (parsed->has_query()) check.warning(ptr, "the query string is discarded (as in the original)");
  if (parsed->has_fragment()) check.warning(ptr, "the fragment is ignored");
  return ok;
}

// servers[].targets, balance, hash_key, health_check, outlier, max_requests, max_pending (extensions).
void parse_server_traffic(const json::object& obj, const std::string& ptr, ServerEntry& server,
                          Checker& check) {
  if (const json::value* v = obj.if_contains("targets")) {
    std::string tptr = ptr + "/targets";
    const json::array* arr = check.array(*v, tptr);
    if (arr != nullptr && arr->empty()) check.error(tptr, "must not be empty");
    if (arr != nullptr && obj.contains("url")) check.error(tptr, "use either url or targets, not both");
    for (std::size_t i = 0; arr != nullptr && i < arr->size(); ++i) {
      std::string iptr = tptr + "/" + std::to_string(i);
      const json::object* item = check.object((*arr)[i], iptr);
      if (item == nullptr) continue;
      check.known_keys(*item, iptr, {"url", "weight"});
      auto url = check.string(*item, "url", iptr, true, true);
      ServerTarget target;
      if (auto w = check.integer(*item, "weight", iptr, 1, 1000))
        target.weight = static_cast<std::uint32_t>(*w);
      if (!url) continue;
      target.url = *url;
      ParsedOrigin origin;
      if (!parse_origin(*url, iptr + "/url", check, origin)) continue;
      target.host = origin.host;
      target.port = origin.port;
      if (server.targets.empty()) {
        server.tls = origin.tls;
        server.host = origin.host;
        server.port = origin.port;
        server.base_path = origin.base_path;
        server.url = *url;
      } else if (origin.tls != server.tls || origin.base_path != server.base_path) {
        check.error(iptr + "/url", "every target must have the scheme and base path of the first");
        continue;
      }
      for (const ServerTarget& other : server.targets) {
        if (other.host == target.host && other.port == target.port)
          check.error(iptr + "/url", "duplicate target " + in_quotes(*url));
      }
      server.targets.push_back(std::move(target));
    }
  }
  if (auto balance = check.string(obj, "balance", ptr, false)) {
    if (*balance == "round_robin") {
      server.balance = BalancePolicy::kRoundRobin;
    } else if (*balance == "least_request") {
      server.balance = BalancePolicy::kLeastRequest;
    } else if (*balance == "hash") {
      server.balance = BalancePolicy::kHash;
    } else {
      check.error(ptr + "/balance", "must be one of round_robin, least_request, hash");
    }
  }
  auto hash_key = check.string(obj, "hash_key", ptr, false);
  if (hash_key) server.hash_key = *hash_key;
  if (server.balance == BalancePolicy::kHash && !hash_key) {
    check.error(ptr + "/hash_key", "is required with \"balance\": \"hash\"");
  } else if (server.balance != BalancePolicy::kHash && hash_key) {
    check.error(ptr + "/hash_key", "is only used with \"balance\": \"hash\"");
  }
  if (const json::value* v = obj.if_contains("health_check")) {
    std::string hptr = ptr + "/health_check";
    if (const json::object* h = check.object(*v, hptr)) {
      check.known_keys(*h, hptr,
                       {"path", "interval_ms", "timeout_ms", "healthy_threshold", "unhealthy_threshold"});
      HealthCheck hc;
      if (auto path = check.string(*h, "path", hptr, false, true)) {
        if (path->front() != '/' || path->find_first_of(" \r\n\t") != std::string::npos) {
          check.error(hptr + "/path", "must be an absolute path without spaces");
        } else {
          hc.path = *path;
        }
      }
      if (auto n = check.integer(*h, "interval_ms", hptr, 100, kMaxTimeoutMs)) hc.interval = ms(*n);
      if (auto n = check.integer(*h, "timeout_ms", hptr, 1, kMaxTimeoutMs)) hc.timeout = ms(*n);
      if (auto n = check.integer(*h, "healthy_threshold", hptr, 1, 100))
        hc.healthy_threshold = static_cast<std::uint32_t>(*n);
      if (auto n = check.integer(*h, "unhealthy_threshold", hptr, 1, 100))
        hc.unhealthy_threshold = static_cast<std::uint32_t>(*n);
      server.health_check = std::move(hc);
    }
  }
  if (const json::value* v = obj.if_contains("outlier")) {
    std::string optr = ptr + "/outlier";
    if (const json::object* o = check.object(*v, optr)) {
      check.known_keys(*o, optr,
                       {"consecutive_connect_failures", "consecutive_5xx", "base_ejection_ms",
                        "max_ejection_ms", "max_ejection_percent", "eject_last"});
      OutlierSettings out;
      if (auto n = check.integer(*o, "consecutive_connect_failures", optr, 0, 1000))
        out.consecutive_connect_failures = static_cast<std::uint32_t>(*n);
      if (auto n = check.integer(*o, "consecutive_5xx", optr, 0, 1000))
        out.consecutive_5xx = static_cast<std::uint32_t>(*n);
      if (auto n = check.integer(*o, "base_ejection_ms", optr, 1, kMaxTimeoutMs)) out.base_ejection = ms(*n);
      if (auto n = check.integer(*o, "max_ejection_ms", optr, 1, kMaxTimeoutMs)) out.max_ejection = ms(*n);
      if (out.max_ejection < out.base_ejection) out.max_ejection = out.base_ejection;
      if (auto n = check.integer(*o, "max_ejection_percent", optr, 0, 100))
        out.max_ejection_percent = static_cast<std::uint32_t>(*n);
      if (auto b = check.boolean(*o, "eject_last", optr)) out.eject_last = *b;
      server.outlier = out;
    }
  }
  if (auto n = check.integer(obj, "max_requests", ptr, 1, 1 << 24))
    server.max_requests = static_cast<std::size_t>(*n);
  if (auto n = check.integer(obj, "max_pending", ptr, 1, 1 << 24))
    server.max_pending = static_cast<std::size_t>(*n);
}

void parse_servers(const json::object& root, Config& cfg, Checker& check) {
  const json::value* v = root.if_contains("servers");
  if (v == nullptr) return;
  const json::array* arr = check.array(*v, "/servers");
  if (arr == nullptr) return;
  for (std::size_t i = 0; i < arr->size(); ++i) {
    std::string ptr = "/servers/" + std::to_string(i);
    const json::object* obj = check.object((*arr)[i], ptr);
    if (obj == nullptr) continue;
    check.known_keys(
        *obj, ptr,
        {"alias", "url", "ca_file", "connect_timeout_ms", "timeout_ms", "idle_timeout_ms", "max_connections",
         "targets", "balance", "hash_key", "health_check", "outlier", "max_requests", "max_pending"});
    ServerEntry server;
    auto alias = check.string(*obj, "alias", ptr, true, true);
    auto url = check.string(*obj, "url", ptr, !obj->contains("targets"));
    if (alias) {
      if (cfg.find_server(*alias) != nullptr)
        check.error(ptr + "/alias", "duplicate server alias " + in_quotes(*alias));
      server.alias = *alias;
    }
    if (url) {
      server.url = *url;
      ParsedOrigin origin;
      if (parse_origin(*url, ptr + "/url", check, origin)) {
        server.tls = origin.tls;
        server.host = std::move(origin.host);
        server.port = origin.port;
        server.base_path = std::move(origin.base_path);
      }
    }
    server.ca_file = check.string(*obj, "ca_file", ptr, false, true);
    if (auto n = check.integer(*obj, "connect_timeout_ms", ptr, 1, kMaxTimeoutMs))
      server.connect_timeout = ms(*n);
    if (auto n = check.integer(*obj, "timeout_ms", ptr, 1, kMaxTimeoutMs)) server.timeout = ms(*n);
    if (auto n = check.integer(*obj, "idle_timeout_ms", ptr, 1, kMaxTimeoutMs)) server.idle_timeout = ms(*n);
    if (auto n = check.integer(*obj, "max_connections", ptr, 1, 1 << 20)) {
      server.max_connections = static_cast<std::size_t>(*n);
    }
    parse_server_traffic(*obj, ptr, server, check);
    cfg.servers.push_back(std::move(server));
  }
}

void parse_services(const json::object& root, Config& cfg, Checker& check) {
  const json::value* v = root.if_contains("services");
  if (v == nullptr) return;
  const json::array* arr = check.array(*v, "/services");
  if (arr == nullptr) return;
  for (std::size_t i = 0; i < arr->size(); ++i) {
    std::string ptr = "/services/" + std::to_string(i);
    const json::object* obj = check.object((*arr)[i], ptr);
    if (obj == nullptr) continue;
    check.known_keys(*obj, ptr, {"alias", "entrypoint"});
    auto alias = check.string(*obj, "alias", ptr, true, true);
    auto entrypoint = check.string(*obj, "entrypoint", ptr, true, true);
    if (alias && cfg.find_service(*alias) != nullptr) {
      check.error(ptr + "/alias", "duplicate service alias " + in_quotes(*alias));
    }
    if (alias && entrypoint) cfg.services.push_back({*alias, *entrypoint});
  }
}

// serviceBindings, then every servicesBindings entry whose alias is not yet present (as the original).
void parse_service_bindings(const json::object& root, Config& cfg, Checker& check) {
  for (std::string_view key : {"serviceBindings", "servicesBindings"}) {
    const json::value* v = root.if_contains(key);
    if (v == nullptr) continue;
    std::string base = "/" + std::string(key);
    const json::array* arr = check.array(*v, base);
    if (arr == nullptr) continue;
    bool legacy = key == "servicesBindings";
    for (std::size_t i = 0; i < arr->size(); ++i) {
      std::string ptr = base + "/" + std::to_string(i);
      const json::object* obj = check.object((*arr)[i], ptr);
      if (obj == nullptr) continue;
      check.known_keys(*obj, ptr, {"alias", "binding"});
      auto alias = check.string(*obj, "alias", ptr, true, true);
      auto binding = check.string(*obj, "binding", ptr, true, true);
      if (!alias || !binding) continue;
      if (cfg.find_service_binding(*alias) != nullptr) {
        if (!legacy) check.error(ptr + "/alias", "duplicate service binding alias " + in_quotes(*alias));
        continue;
      }
      cfg.service_bindings.push_back({*alias, *binding, ptr});
    }
  }
}

bool valid_env_name(std::string_view name) {
  if (name.empty() || (name[0] >= '0' && name[0] <= '9')) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
  });
}

bool valid_js_identifier(std::string_view name) {
  if (name.empty() || (name[0] >= '0' && name[0] <= '9')) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return c == '_' || c == '$' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
  });
}

// workers[].script, entrypoint, compatibility_date (a JavaScript worker).
void parse_js_worker(const json::object& obj, const std::string& ptr, const std::string& script,
                     const Config& cfg, WorkerEntry& worker, Checker& check) {
  std::filesystem::path p(script);
  std::string ext = p.extension().string();
  if (ext != ".js" && ext != ".mjs" && ext != ".ts" && ext != ".mts") {
    check.error(ptr + "/script", "must name a .js, .mjs, .ts or .mts file");
    return;
  }
  worker.script = (p.is_absolute() ? p : cfg.base_dir / p).lexically_normal().string();
  if (auto e = check.string(obj, "entrypoint", ptr, false, true)) {
    if (!valid_js_identifier(*e)) {
      check.error(ptr + "/entrypoint", "must be the name of an exported class");
    } else {
      worker.entrypoint = *e;
    }
  }
  if (auto d = check.string(obj, "compatibility_date", ptr, false, true)) {
    bool ok = d->size() == 10 && (*d)[4] == '-' && (*d)[7] == '-' &&
              std::all_of(d->begin(), d->end(), [](char c) { return c == '-' || (c >= '0' && c <= '9'); });
    if (!ok) {
      check.error(ptr + "/compatibility_date", "must be a date YYYY-MM-DD");
    } else {
      worker.compatibility_date = *d;
    }
  }
}

void parse_workers(const json::object& root, Config& cfg, Checker& check) {
  const json::value* v = root.if_contains("workers");
  if (v == nullptr) return;
  const json::array* arr = check.array(*v, "/workers");
  if (arr == nullptr) return;
  for (std::size_t i = 0; i < arr->size(); ++i) {
    std::string ptr = "/workers/" + std::to_string(i);
    const json::object* obj = check.object((*arr)[i], ptr);
    if (obj == nullptr) continue;
    check.known_keys(
        *obj, ptr,
        {"binding", "module", "env", "config", "timeout_ms", "script", "entrypoint", "compatibility_date"});
    WorkerEntry worker;
    worker.pointer = ptr;
    auto binding = check.string(*obj, "binding", ptr, true, true);
    auto script = check.string(*obj, "script", ptr, false, true);
    auto module = check.string(*obj, "module", ptr, !obj->contains("script"), true);
    if (script && module) check.error(ptr + "/script", "give either \"module\" or \"script\", not both");
    if (script) parse_js_worker(*obj, ptr, *script, cfg, worker, check);
    if (!script && (obj->contains("entrypoint") || obj->contains("compatibility_date"))) {
      check.error(ptr + (obj->contains("entrypoint") ? "/entrypoint" : "/compatibility_date"),
                  "only for a JavaScript worker (\"script\")");
    }
    if (binding && cfg.find_worker(*binding) != nullptr) {
      check.error(ptr + "/binding", "duplicate worker binding " + in_quotes(*binding));
    }
    std::vector<std::size_t> positions;
    worker.env = check.string_list(*obj, "env", ptr, false, true, &positions);
    for (std::size_t e = 0; e < worker.env.size(); ++e) {
      if (!valid_env_name(worker.env[e])) {
        check.error(ptr + "/env/" + std::to_string(positions[e]), "not a valid environment variable name");
      }
    }
    if (const json::value* c = obj->if_contains("config")) worker.config = *c;
    if (auto n = check.integer(*obj, "timeout_ms", ptr, 1, kMaxTimeoutMs)) worker.timeout = ms(*n);
    if (binding && module && !script) {
      worker.binding = *binding;
      std::filesystem::path p(*module);
      worker.module = (p.is_absolute() ? p : cfg.base_dir / p).lexically_normal().string();
      cfg.workers.push_back(std::move(worker));
    } else if (binding && script && !module && !worker.script.empty()) {
      worker.binding = *binding;
      cfg.workers.push_back(std::move(worker));
    }
  }
}

// An allow_origins entry: "*", or scheme://host[:port] where '*' may stand for host or port characters.
void check_origin_pattern(const std::string& origin, const std::string& ptr, Checker& check) {
  if (origin == "*") return;
  auto sep = origin.find("://");
  if (sep == std::string::npos || sep == 0) {
    check.error(ptr, "must be \"*\" or an origin like https://app.example.com");
    return;
  }
  std::string_view rest = std::string_view(origin).substr(sep + 3);
  if (rest.empty()) {
    check.error(ptr, "must name a host");
  } else if (rest.find_first_of("/?#@") != std::string_view::npos) {
    check.warning(ptr, "an Origin header never has a path, query or credentials: this entry never matches");
  }
}

void parse_cors(const json::object& root, Config& cfg, Checker& check) {
  const json::value* v = root.if_contains("cors");
  if (v == nullptr) return;
  const json::object* obj = check.object(*v, "/cors");
  if (obj == nullptr) return;
  const std::string ptr = "/cors";
  check.known_keys(
      *obj, ptr,
      {"allow_origins", "allow_methods", "allow_headers", "expose_headers", "allow_credentials", "max_age"});
  CorsPolicy cors;
  std::vector<std::size_t> positions;
  cors.allow_origins = check.string_list(*obj, "allow_origins", ptr, true, true, &positions);
  for (std::size_t i = 0; i < cors.allow_origins.size(); ++i) {
    check_origin_pattern(cors.allow_origins[i], ptr + "/allow_origins/" + std::to_string(positions[i]),
                         check);
  }
  positions.clear();
  cors.allow_methods = check.string_list(*obj, "allow_methods", ptr, true, true, &positions);
  for (std::size_t i = 0; i < cors.allow_methods.size(); ++i) {
    static const std::set<std::string, std::less<>> kMethods = {"GET",     "POST",  "PUT",  "DELETE",
                                                                "OPTIONS", "PATCH", "HEAD", "*"};
    if (!kMethods.contains(cors.allow_methods[i])) {
      check.error(ptr + "/allow_methods/" + std::to_string(positions[i]),
                  "must be one of GET, POST, PUT, DELETE, OPTIONS, PATCH, HEAD, *");
    }
  }
  cors.allow_headers = check.string_list(*obj, "allow_headers", ptr, true);
  cors.expose_headers = check.string_list(*obj, "expose_headers", ptr, true);
  for (const auto* list : {&cors.allow_headers, &cors.expose_headers}) {
    for (const auto& h : *list) {
      if (h.find_first_of("\r\n") != std::string::npos)
        check.error(ptr, "header names must not contain line breaks");
    }
  }
  cors.allow_credentials = check.boolean(*obj, "allow_credentials", ptr, true).value_or(false);
  if (cors.allow_credentials &&
      std::find(cors.allow_headers.begin(), cors.allow_headers.end(), "*") != cors.allow_headers.end()) {
    check.warning(
        ptr + "/allow_headers",
        "\"*\" is not a wildcard on credentialed requests: browsers refuse it with allow_credentials "
        "(list the header names)");
  }
  cors.max_age = check.integer(*obj, "max_age", ptr, 0, INT32_MAX, true).value_or(0);
  cfg.cors = std::move(cors);
}

void parse_authorizer(const json::object& root, Config& cfg, Checker& check) {
  const json::value* v = root.if_contains("authorizer");
  if (v == nullptr) return;
  const std::string ptr = "/authorizer";
  const json::object* obj = check.object(*v, ptr);
  if (obj == nullptr) return;
  auto type = check.string(*obj, "type", ptr, true);
  if (!type) return;
  Authorizer auth;
  auto audiences = [&](bool required) {
    const json::value* a = obj->if_contains("audience");
    if (a == nullptr) {
      if (required) check.error(ptr + "/audience", "is required");
    } else if (a->is_string()) {
      auth.audiences.emplace_back(a->get_string());
    } else {
      auth.audiences = check.string_list(*obj, "audience", ptr, true);
      if (auth.audiences.empty())
        check.error(ptr + "/audience", "must be a string or a non-empty array of strings");
    }
  };
  auto leeway = [&] {
    if (auto n = check.integer(*obj, "leeway_seconds", ptr, 0, 3600)) auth.leeway_seconds = *n;
  };
  if (*type == "jwt") {
    auth.type = AuthorizerType::kJwt;
    check.known_keys(*obj, ptr, {"type", "secret", "algorithm", "audience", "issuer", "leeway_seconds"});
    auth.secret = check.string(*obj, "secret", ptr, true, true).value_or("");
    if (auto alg = check.string(*obj, "algorithm", ptr, true)) {
      if (*alg != "HS256" && *alg != "HS384" && *alg != "HS512") {
        check.error(ptr + "/algorithm", "must be HS256, HS384 or HS512");
      }
      auth.algorithms = {*alg};
    }
    audiences(true);
    auth.issuer = check.string(*obj, "issuer", ptr, true);
    leeway();
  } else if (*type == "auth0") {
    auth.type = AuthorizerType::kAuth0;
    check.known_keys(*obj, ptr,
                     {"type", "domain", "client_id", "client_secret", "redirect_uri", "callback_uri", "jwks",
                      "jwks_uri", "scope", "audience", "algorithms", "leeway_seconds"});
    auth.domain = check.string(*obj, "domain", ptr, true, true).value_or("");
    auth.client_id = check.string(*obj, "client_id", ptr, true, true).value_or("");
    auth.client_secret = check.string(*obj, "client_secret", ptr, true, true).value_or("");
    auth.redirect_uri = check.string(*obj, "redirect_uri", ptr, true, true).value_or("");
    auth.callback_uri = check.string(*obj, "callback_uri", ptr, false);
    auth.scope = check.string(*obj, "scope", ptr, true).value_or("");
    auth.jwks = check.string(*obj, "jwks", ptr, false);
    auth.jwks_uri = check.string(*obj, "jwks_uri", ptr, false);
    if (!auth.jwks && !auth.jwks_uri) check.error(ptr, "needs jwks or jwks_uri");
    if (auth.jwks_uri) {
      auto parsed = boost::urls::parse_absolute_uri(*auth.jwks_uri);
      if (!parsed || (parsed->scheme_id() != boost::urls::scheme::https &&
                      parsed->scheme_id() != boost::urls::scheme::http)) {
        check.error(ptr + "/jwks_uri", "must be an absolute http:// or https:// URL");
      }
    }
    if (obj->if_contains("audience") != nullptr) audiences(false);
    if (obj->if_contains("algorithms") != nullptr) {
      auth.algorithms = check.string_list(*obj, "algorithms", ptr, true, true);
      static const std::set<std::string, std::less<>> kAsymmetric = {
          "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"};
      for (std::size_t i = 0; i < auth.algorithms.size(); ++i) {
        if (!kAsymmetric.contains(auth.algorithms[i])) {
          check.error(ptr + "/algorithms/" + std::to_string(i),
                      "must be one of RS256/384/512, PS256/384/512, ES256/384/512, EdDSA");
        }
      }
      if (auth.algorithms.empty()) check.error(ptr + "/algorithms", "must not be empty");
    } else {
      auth.algorithms = {"RS256"};
    }
    if (!auth.domain.empty()) auth.issuer = "https://" + auth.domain + "/";
    leeway();
  } else if (*type == "supabase") {
    auth.type = AuthorizerType::kSupabase;
    check.known_keys(*obj, ptr, {"type", "jwt_secret", "issuer", "audience", "leeway_seconds"});
    auth.jwt_secret = check.string(*obj, "jwt_secret", ptr, true, true).value_or("");
    auth.issuer = check.string(*obj, "issuer", ptr, true);
    audiences(true);
    auth.algorithms = {"HS256"};
    leeway();
  } else {
    check.error(ptr + "/type",
                "must be exactly \"jwt\", \"auth0\" or \"supabase\" (got " + in_quotes(*type) + ")");
    return;
  }
  cfg.authorizer = std::move(auth);
}

std::optional<HookRef> parse_hook(const json::object& parent, std::string_view key,
                                  const std::string& parent_ptr, Checker& check, bool allow_type) {
  const json::value* v = parent.if_contains(key);
  if (v == nullptr) return std::nullopt;
  std::string ptr = parent_ptr + "/" + std::string(key);
  const json::object* obj = check.object(*v, ptr);
  if (obj == nullptr) return std::nullopt;
  if (allow_type) {
    check.known_keys(*obj, ptr, {"binding", "function", "type"});
    if (auto type = check.string(*obj, "type", ptr, false); type && *type != "service_binding") {
      check.error(ptr + "/type", "must be \"service_binding\"");
    }
  } else {
    check.known_keys(*obj, ptr, {"binding", "function"});
  }
  auto binding = check.string(*obj, "binding", ptr, true, true);
  auto function = check.string(*obj, "function", ptr, true, true);
  if (!binding || !function) return std::nullopt;
  return HookRef{*binding, *function, ptr};
}

std::optional<IntegrationType> integration_type_from(std::string_view name) {
  if (name == "http" || name == "http_proxy") return IntegrationType::kHttpProxy;
  for (auto t :
       {IntegrationType::kService, IntegrationType::kServiceBinding, IntegrationType::kAuth0Callback,
        IntegrationType::kAuth0Userinfo, IntegrationType::kAuth0CallbackRedirect,
        IntegrationType::kAuth0Refresh, IntegrationType::kSupabasePasswordlessAuth,
        IntegrationType::kSupabasePasswordlessVerify, IntegrationType::kSupabasePasswordlessAuthAlt}) {
    if (integration_type_name(t) == name) return t;
  }
  return std::nullopt;
}

std::optional<Integration> parse_integration(const json::object& route, const std::string& route_ptr,
                                             Checker& check) {
  const json::value* v = route.if_contains("integration");
  if (v == nullptr) return std::nullopt;
  std::string ptr = route_ptr + "/integration";
  const json::object* obj = check.object(*v, ptr);
  if (obj == nullptr) return std::nullopt;
  auto type_name = check.string(*obj, "type", ptr, true);
  if (!type_name) return std::nullopt;
  auto type = integration_type_from(*type_name);
  if (!type) {
    check.error(ptr + "/type", "unknown integration type " + in_quotes(*type_name));
    return std::nullopt;
  }
  Integration integration;
  integration.type = *type;
  bool ok = true;
  if (*type == IntegrationType::kHttpProxy) {
    auto server = check.string(*obj, "server", ptr, true, true);
    ok = server.has_value();
    integration.server = server.value_or("");
  } else if (*type == IntegrationType::kService || *type == IntegrationType::kServiceBinding) {
    auto binding = check.string(*obj, "binding", ptr, true, true);
    ok = binding.has_value();
    integration.binding = binding.value_or("");
    if (*type == IntegrationType::kServiceBinding) {
      auto function = check.string(*obj, "function", ptr, true, true);
      ok = ok && function.has_value();
      integration.function = function.value_or("");
    }
  }
  integration.post_process = parse_hook(*obj, "post_process", ptr, check, true);
  if (!ok) return std::nullopt;
  return integration;
}

void parse_mapping_section(const json::object& mapping, std::string_view key, const std::string& ptr,
                           std::vector<std::pair<std::string, std::string>>& out, Checker& check) {
  const json::value* v = mapping.if_contains(key);
  if (v == nullptr) return;
  std::string p = ptr + "/" + std::string(key);
  const json::object* obj = check.object(*v, p);
  if (obj == nullptr) return;
  for (const auto& kv : *obj) {
    std::string item = p + "/" + pointer_token(kv.key());
    if (kv.key().empty()) {
      check.error(item, "name must not be empty");
      continue;
    }
    const json::value& value = kv.value();
    if (value.is_string()) {
      out.emplace_back(std::string(kv.key()), std::string(value.get_string()));
    } else if (value.is_number() || value.is_bool()) {
      out.emplace_back(std::string(kv.key()), json::serialize(value));
    } else {
      check.error(item, "must be a string");
    }
  }
}

constexpr std::string_view kRouteKeys[] = {
    "method",      "path",         "integration", "auth",    "mapping", "variables", "response",
    "pre_process", "post_process", "description", "summary", "name",    "rate_limit"};

void parse_paths(const json::object& root, Config& cfg, Checker& check) {
  const json::value* v = root.if_contains("paths");
  if (v == nullptr) {
    check.error("/paths", "is required");
    return;
  }
  const json::array* arr = check.array(*v, "/paths");
  if (arr == nullptr) return;
  for (std::size_t i = 0; i < arr->size(); ++i) {
    std::string ptr = "/paths/" + std::to_string(i);
    const json::object* obj = check.object((*arr)[i], ptr);
    if (obj == nullptr) continue;
    for (const auto& kv : *obj) {
      if (std::find(std::begin(kRouteKeys), std::end(kRouteKeys), std::string_view(kv.key())) ==
          std::end(kRouteKeys)) {
        check.warning(ptr + "/" + pointer_token(kv.key()), "unknown route key (ignored)");
      }
    }
    Route route;
    route.index = i;
    if (auto method = check.string(*obj, "method", ptr, true)) {
      static const std::set<std::string, std::less<>> kMethods = {"GET",     "POST",  "PUT",  "DELETE",
                                                                  "OPTIONS", "PATCH", "HEAD", "ANY"};
      if (!kMethods.contains(*method)) {
        check.error(ptr + "/method",
                    "must be one of GET, POST, PUT, DELETE, OPTIONS, PATCH, HEAD, ANY (got " +
                        in_quotes(*method) + ")");
      }
      route.method = *method;
    }
    if (auto path = check.string(*obj, "path", ptr, true)) {
      if (!path->starts_with("/")) check.error(ptr + "/path", "must start with /");
      route.path = *path;
    }
    if (const json::value* a = obj->if_contains("auth")) {
      if (a->is_bool()) {
        route.auth = a->get_bool();
      } else if (!a->is_null()) {
        check.error(ptr + "/auth", "must be a boolean or null");
      }
    }
    route.integration = parse_integration(*obj, ptr, check);
    if (const json::value* m = obj->if_contains("mapping")) {
      std::string mptr = ptr + "/mapping";
      if (const json::object* mapping = check.object(*m, mptr)) {
        check.known_keys(*mapping, mptr, {"headers", "query"});
        parse_mapping_section(*mapping, "headers", mptr, route.mapping.headers, check);
        parse_mapping_section(*mapping, "query", mptr, route.mapping.query, check);
      }
    }
    if (const json::value* vars = obj->if_contains("variables")) {
      if (const json::object* o = check.object(*vars, ptr + "/variables")) route.variables = *o;
    }
    if (const json::value* r = obj->if_contains("response")) route.response = *r;
    route.pre_process = parse_hook(*obj, "pre_process", ptr, check, false);
    route.post_process = parse_hook(*obj, "post_process", ptr, check, false);
    cfg.paths.push_back(std::move(route));
  }
}

// gateway.listeners: [{"address": "0.0.0.0:8443", "tls": {"certificates": [{"cert_file", "key_file"}],
// "min_version": "1.2"}, "http2": false}]. Files are checked (read, parsed, matched) when the snapshot
// is built (runtime/builder.cpp), with these pointers.
void parse_listeners(const json::object& gateway, Config& cfg, Checker& check) {
  const json::value* v = gateway.if_contains("listeners");
  if (v == nullptr) return;
  const std::string ptr = "/gateway/listeners";
  const json::array* list = check.array(*v, ptr);
  if (list == nullptr) return;
  if (list->size() > 64) {
    check.error(ptr, "at most 64 listeners");
    return;
  }
  auto resolve = [&](const std::string& file) {
    std::filesystem::path p(file);
    return (p.is_absolute() ? p : cfg.base_dir / p).lexically_normal().string();
  };
  for (std::size_t i = 0; i < list->size(); ++i) {
    const std::string lptr = ptr + "/" + std::to_string(i);
    const json::object* obj = check.object((*list)[i], lptr);
    if (obj == nullptr) continue;
    check.known_keys(*obj, lptr, {"address", "tls", "http2", "name"});
    ListenerEntry entry;
    entry.pointer = lptr;
    if (auto name = check.string(*obj, "name", lptr, false)) {
      const bool charset = std::all_of(name->begin(), name->end(), [](char c) {
        return c == '_' || c == '-' || c == '.' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
               (c >= 'A' && c <= 'Z');
      });
      if (name->empty() || name->size() > 64 || !charset) {
        check.error(lptr + "/name", "must be 1 to 64 characters of A-Z a-z 0-9 _ - .");
      } else if (*name == "public" || *name == "admin") {
        check.error(lptr + "/name", in_quotes(*name) + " is reserved (the --listen and admin listeners)");
      } else if (auto same = std::find_if(cfg.gateway.listeners.begin(), cfg.gateway.listeners.end(),
                                          [&](const ListenerEntry& other) { return other.name == *name; });
                 same != cfg.gateway.listeners.end()) {
        check.error(lptr + "/name", "same name as " + same->pointer);
      } else {
        entry.name = *name;
      }
    }
    if (auto address = check.string(*obj, "address", lptr, true)) {
      entry.address = *address;
      if (!parse_listen_address(*address, entry.host, entry.port)) {
        check.error(lptr + "/address", "must be IP:PORT or [IPv6]:PORT (got " + in_quotes(*address) + ")");
      }
      for (const ListenerEntry& other : cfg.gateway.listeners) {
        if (entry.port != 0 && other.host == entry.host && other.port == entry.port) {
          check.error(lptr + "/address", "same address as " + other.pointer);
        }
      }
    }
    if (auto b = check.boolean(*obj, "http2", lptr)) entry.http2 = *b;
    if (const json::value* t = obj->if_contains("tls")) {
      const std::string tptr = lptr + "/tls";
      if (const json::object* tls = check.object(*t, tptr)) {
        check.known_keys(*tls, tptr, {"certificates", "min_version"});
        ListenerTls out;
        if (auto version = check.string(*tls, "min_version", tptr, false)) {
          if (*version == "1.2") {
            out.min_version = 12;
          } else if (*version == "1.3") {
            out.min_version = 13;
          } else {
            check.error(tptr + "/min_version", "must be \"1.2\" or \"1.3\"");
          }
        }
        const json::value* certs = tls->if_contains("certificates");
        const std::string cptr = tptr + "/certificates";
        if (certs == nullptr) {
          check.error(cptr, "is required");
        } else if (const json::array* arr = check.array(*certs, cptr)) {
          if (arr->empty()) check.error(cptr, "needs at least one certificate");
          if (arr->size() > 1024) check.error(cptr, "at most 1024 certificates");
          for (std::size_t c = 0; c < arr->size() && c < 1024; ++c) {
            const std::string eptr = cptr + "/" + std::to_string(c);
            const json::object* cert = check.object((*arr)[c], eptr);
            if (cert == nullptr) continue;
            check.known_keys(*cert, eptr, {"cert_file", "key_file"});
            auto cert_file = check.string(*cert, "cert_file", eptr, true, true);
            auto key_file = check.string(*cert, "key_file", eptr, true, true);
            if (cert_file && key_file) out.certificates.push_back({resolve(*cert_file), resolve(*key_file)});
          }
        }
        entry.tls = std::move(out);
      }
    }
    cfg.gateway.listeners.push_back(std::move(entry));
  }
}

void parse_tracing(const json::value& v, const std::string& ptr, TracingSettings& t, Checker& check) {
  const json::object* obj = check.object(v, ptr);
  if (obj == nullptr) return;
  check.known_keys(*obj, ptr, {"otlp_endpoint", "sample_ratio", "service_name"});
  if (auto endpoint = check.string(*obj, "otlp_endpoint", ptr, true, true)) {
    auto parsed = boost::urls::parse_absolute_uri(*endpoint);
    const std::string p = ptr + "/otlp_endpoint";
    if (!parsed || parsed->scheme_id() != boost::urls::scheme::http) {
      check.error(p, "must be an http:// URL (OTLP/HTTP, e.g. \"http://127.0.0.1:4318/v1/traces\")");
    } else if (parsed->encoded_host().empty()) {
      check.error(p, "must name a host");
    } else if (parsed->has_userinfo() || parsed->has_query() || parsed->has_fragment()) {
      check.error(p, "must not carry credentials, a query or a fragment");
    } else if (parsed->has_port() && parsed->port_number() == 0) {
      check.error(p, "port must be between 1 and 65535");
    } else {
      t.otlp_endpoint = *endpoint;
      t.host = std::string(parsed->encoded_host_address());
      if (parsed->has_port()) t.port = parsed->port_number();
      std::string path(parsed->encoded_path());
      t.path = path.empty() || path == "/" ? "/v1/traces" : path;
    }
  }
  if (const json::value* ratio = obj->if_contains("sample_ratio")) {
    if (!ratio->is_number() || ratio->to_number<double>() < 0.0 || ratio->to_number<double>() > 1.0) {
      check.error(ptr + "/sample_ratio", "must be a number from 0 to 1");
    } else {
      t.sample_ratio = ratio->to_number<double>();
    }
  }
  if (auto name = check.string(*obj, "service_name", ptr, false, true)) {
    bool printable = std::all_of(name->begin(), name->end(), [](char c) { return c >= 0x20 && c < 0x7f; });
    if (!printable || name->size() > 256) {
      check.error(ptr + "/service_name", "must be 1 to 256 printable ASCII characters");
    } else {
      t.service_name = *name;
    }
  }
}

void parse_gateway(const json::object& root, Config& cfg, Checker& check) {
  const json::value* v = root.if_contains("gateway");
  if (v == nullptr) return;
  const std::string ptr = "/gateway";
  const json::object* obj = check.object(*v, ptr);
  if (obj == nullptr) return;
  check.known_keys(
      *obj, ptr,
      {"identity_header", "max_body_bytes", "max_header_bytes", "max_headers", "header_timeout_ms",
       "body_timeout_ms", "min_body_rate_bytes", "idle_timeout_ms", "write_timeout_ms", "access_log",
       "trusted_proxies", "listeners", "tls_handshake_timeout_ms", "admin", "http2",
       "websocket_idle_timeout_ms", "tracing", "js_workers"});
  GatewaySettings& g = cfg.gateway;
  if (const json::value* js = obj->if_contains("js_workers")) {
    const std::string js_ptr = ptr + "/js_workers";
    if (const json::object* j = check.object(*js, js_ptr)) {
      check.known_keys(
          *j, js_ptr,
          {"workerd", "esbuild", "processes", "heap_limit_mb", "health_timeout_ms", "startup_timeout_ms"});
      auto& w = g.js_workers;
      if (auto s = check.string(*j, "workerd", js_ptr, false, true)) w.workerd = *s;
      if (auto s = check.string(*j, "esbuild", js_ptr, false, true)) w.esbuild = *s;
      if (auto n = check.integer(*j, "processes", js_ptr, 0, 256)) w.processes = unsigned(*n);
      if (auto n = check.integer(*j, "heap_limit_mb", js_ptr, 0, 1 << 20)) w.heap_limit_mb = std::size_t(*n);
      if (auto n = check.integer(*j, "health_timeout_ms", js_ptr, 50, kMaxTimeoutMs))
        w.health_timeout = ms(*n);
      if (auto n = check.integer(*j, "startup_timeout_ms", js_ptr, 100, kMaxTimeoutMs))
        w.startup_timeout = ms(*n);
    }
  }
  if (auto b = check.boolean(*obj, "identity_header", ptr)) g.identity_header = *b;
  if (auto b = check.boolean(*obj, "access_log", ptr)) g.access_log = *b;
  if (const json::value* admin = obj->if_contains("admin")) {
    const std::string admin_ptr = ptr + "/admin";
    if (const json::object* a = check.object(*admin, admin_ptr)) {
      check.known_keys(*a, admin_ptr, {"listen"});
      if (auto listen = check.string(*a, "listen", admin_ptr, false)) {
        std::string_view l = *listen;
        auto colon = l.rfind(':');
        bool ok = colon != std::string_view::npos && colon > 0 && colon + 1 < l.size() &&
                  l.find_first_not_of("0123456789", colon + 1) == std::string_view::npos &&
                  colon + 6 >= l.size();
        if (!ok) {
          check.error(admin_ptr + "/listen", "must be HOST:PORT, e.g. \"127.0.0.1:9901\"");
        } else {
          g.admin_listen = std::string(l);
        }
      }
    }
  }
  if (const json::value* tracing = obj->if_contains("tracing"))
    parse_tracing(*tracing, ptr + "/tracing", g.tracing, check);
  if (auto n = check.integer(*obj, "max_body_bytes", ptr, 0, INT64_MAX)) g.max_body_bytes = std::size_t(*n);
  if (auto n = check.integer(*obj, "max_header_bytes", ptr, 1024, 1 << 20))
    g.max_header_bytes = std::size_t(*n);
  if (auto n = check.integer(*obj, "max_headers", ptr, 1, 10000)) g.max_headers = std::size_t(*n);
  if (auto n = check.integer(*obj, "header_timeout_ms", ptr, 1, kMaxTimeoutMs)) g.header_timeout = ms(*n);
  if (auto n = check.integer(*obj, "body_timeout_ms", ptr, 1, kMaxTimeoutMs)) g.body_timeout = ms(*n);
  if (auto n = check.integer(*obj, "min_body_rate_bytes", ptr, 0, INT64_MAX / 1000))
    g.min_body_rate = std::uint64_t(*n);
  if (auto n = check.integer(*obj, "idle_timeout_ms", ptr, 1, kMaxTimeoutMs)) g.idle_timeout = ms(*n);
  if (auto n = check.integer(*obj, "write_timeout_ms", ptr, 1, kMaxTimeoutMs)) g.write_timeout = ms(*n);
  if (auto n = check.integer(*obj, "tls_handshake_timeout_ms", ptr, 1, kMaxTimeoutMs))
    g.tls_handshake_timeout = ms(*n);
  if (const json::value* h2 = obj->if_contains("http2")) {
    const std::string h2_ptr = ptr + "/http2";
    if (const json::object* h = check.object(*h2, h2_ptr)) {
      check.known_keys(*h, h2_ptr,
                       {"max_concurrent_streams", "stream_window_bytes", "connection_window_bytes",
                        "reset_burst", "resets_per_second", "control_frame_burst",
                        "control_frames_per_second", "max_continuation_frames"});
      Http2Settings& s = g.http2;
      auto take = [&](const char* key, std::uint32_t& into, std::int64_t low, std::int64_t high) {
        if (auto n = check.integer(*h, key, h2_ptr, low, high)) into = static_cast<std::uint32_t>(*n);
      };
      constexpr std::int64_t kMaxWindow = 2147483647;  // RFC 9113 6.9.1
      take("max_concurrent_streams", s.max_concurrent_streams, 1, 10000);
      take("stream_window_bytes", s.stream_window_bytes, 65535, kMaxWindow);
      take("connection_window_bytes", s.connection_window_bytes, 65535, kMaxWindow);
      take("reset_burst", s.reset_burst, 1, 1000000);
      take("resets_per_second", s.resets_per_second, 1, 1000000);
      take("control_frame_burst", s.control_frame_burst, 1, 1000000);
      take("control_frames_per_second", s.control_frames_per_second, 1, 1000000);
      take("max_continuation_frames", s.max_continuation_frames, 1, 10000);
    }
  }
  if (auto n = check.integer(*obj, "websocket_idle_timeout_ms", ptr, 1, kMaxTimeoutMs))
    g.websocket_idle_timeout = ms(*n);
  parse_listeners(*obj, cfg, check);
}

// References between sections, and route table checks that need the whole document.
void check_references(Config& cfg, Checker& check) {
  std::set<std::string, std::less<>> used_bindings;
  auto check_hook = [&](const std::optional<HookRef>& hook) {
    if (!hook) return;
    if (cfg.find_service_binding(hook->binding) == nullptr) {
      check.error(hook->pointer + "/binding", "unknown service binding alias " + in_quotes(hook->binding));
    } else {
      used_bindings.insert(hook->binding);
    }
  };
  for (const Route& route : cfg.paths) {
    std::string ptr = "/paths/" + std::to_string(route.index);
    if (route.auth && !cfg.authorizer) {
      check.error(ptr + "/auth", "auth is true but no authorizer is configured");
    }
    check_hook(route.pre_process);
    check_hook(route.post_process);
    if (route.pre_process && !route.integration) {
      check.warning(ptr + "/pre_process", "ignored: pre_process only runs on routes with an integration");
    }
    if (!route.integration && (!route.mapping.headers.empty() || !route.mapping.query.empty())) {
      check.warning(ptr + "/mapping",
                    "ignored: a static route sends no request (mapping applies to http_proxy routes)");
    }
    if (!route.integration) continue;
    const Integration& in = *route.integration;
    std::string iptr = ptr + "/integration";
    check_hook(in.post_process);
    switch (in.type) {
      case IntegrationType::kHttpProxy:
        if (cfg.find_server(in.server) == nullptr) {
          check.error(iptr + "/server", "unknown server alias " + in_quotes(in.server));
        }
        break;
      case IntegrationType::kService:
        if (cfg.find_service(in.binding) == nullptr) {
          check.error(iptr + "/binding", "unknown service alias " + in_quotes(in.binding));
        }
        break;
      case IntegrationType::kServiceBinding:
        if (cfg.find_service_binding(in.binding) == nullptr) {
          check.error(iptr + "/binding", "unknown service binding alias " + in_quotes(in.binding));
        } else {
          used_bindings.insert(in.binding);
        }
        break;
      case IntegrationType::kAuth0Callback:
      case IntegrationType::kAuth0Userinfo:
      case IntegrationType::kAuth0CallbackRedirect:
      case IntegrationType::kAuth0Refresh:
        if (!cfg.authorizer || cfg.authorizer->type != AuthorizerType::kAuth0) {
          check.error(iptr + "/type",
                      std::string(integration_type_name(in.type)) + " needs an authorizer of type \"auth0\"");
        }
        break;
      default:
        break;
    }
    if (in.type != IntegrationType::kHttpProxy &&
        (!route.mapping.headers.empty() || !route.mapping.query.empty())) {
      check.warning(ptr + "/mapping", "ignored: mapping applies to http_proxy routes only");
    }
  }
  for (std::size_t i = 0; i < cfg.service_bindings.size(); ++i) {
    const auto& sb = cfg.service_bindings[i];
    if (used_bindings.contains(sb.alias) && cfg.find_worker(sb.binding) == nullptr) {
      check.error(sb.pointer + "/binding",
                  "binding " + in_quotes(sb.binding) + " is not declared in workers");
    }
  }

  std::vector<router::RouteDefinition> defs;
  defs.reserve(cfg.paths.size());
  for (const Route& r : cfg.paths)
    defs.push_back({r.method, r.path});
  std::vector<router::CompileError> errors, warnings;
  router::Router::compile(defs, errors, &warnings);
  for (const auto& e : errors) {
    // The leading '/' was checked above with the route's other fields: one line per cause.
    if (!defs[e.route].path.starts_with('/') && e.message == "path must start with '/'") continue;
    check.error("/paths/" + std::to_string(e.route) + "/path", e.message);
  }
  for (const auto& w : warnings)
    check.warning("/paths/" + std::to_string(w.route) + "/path", w.message);
}

}  // namespace

LoadResult load_config_text(std::string_view text, const Environment& env,
                            const std::filesystem::path& base_dir) {
  LoadResult result;
  result.text = std::string(text);
  Checker check(result);
  auto doc = parse_json(text, check);
  if (!doc) return result;
  if (!doc->is_object()) {
    check.error("", "the config must be a JSON object");
    return result;
  }
  substitute_env(*doc, "", env, check);
  const json::object& root = doc->get_object();
  check.known_keys(
      root, "",
      {"$schema", "title", "description", "servers", "services", "serviceBindings", "servicesBindings",
       "cors", "authorizer", "variables", "paths", "workers", "gateway", "rate_limits", "redis"});
  Config cfg;
  cfg.base_dir = base_dir;
  cfg.document = std::string(text);
  for (std::string_view key : {"$schema", "title", "description"}) {
    if (auto s = check.string(root, key, "", false); s && key == "title") cfg.title = *s;
  }
  parse_servers(root, cfg, check);
  parse_services(root, cfg, check);
  parse_service_bindings(root, cfg, check);
  parse_workers(root, cfg, check);
  parse_cors(root, cfg, check);
  parse_authorizer(root, cfg, check);
  if (const json::value* vars = root.if_contains("variables")) {
    if (const json::object* o = check.object(*vars, "/variables")) cfg.variables = *o;
  }
  parse_paths(root, cfg, check);
  parse_gateway(root, cfg, check);
  parse_rate_limit_sections(root, cfg, result.errors);  // config/rate_limits.cpp
  check_references(cfg, check);
  if (result.errors.empty()) {
    result.config = std::move(cfg);
  } else {
    result.partial = buildable_part(std::move(cfg), result.errors);
  }
  return result;
}

LoadResult load_config_file(const std::filesystem::path& path, const Environment& env) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    LoadResult result;
    result.errors.push_back({"", "cannot read config file " + path.string()});
    return result;
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::filesystem::path dir = std::filesystem::absolute(path).parent_path();
  return load_config_text(buffer.str(), env, dir);
}

LoadResult load_gateway_config(const std::optional<std::filesystem::path>& path, const Environment& env,
                               std::string& source) {
  if (auto inline_json = env.get("SAG_API_CONFIG_JSON")) {
    bool blank = std::all_of(inline_json->begin(), inline_json->end(),
                             [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; });
    if (!blank) {
      source = "SAG_API_CONFIG_JSON";
      return load_config_text(*inline_json, env, std::filesystem::current_path());
    }
  }
  if (!path) {
    LoadResult result;
    result.errors.push_back({"", "no config: pass --config FILE or set SAG_API_CONFIG_JSON"});
    return result;
  }
  source = path->string();
  return load_config_file(*path, env);
}

}  // namespace workgate::config
