#include "config/rate_limits.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/url/parse.hpp>
#include <charconv>
#include <cmath>
#include <set>

namespace workgate::config {
namespace {

namespace json = boost::json;

// The key table of one local policy: 8 bytes a slot (docs/rate-limits.md, "Memory").
constexpr std::int64_t kMinLocalSlots = 1024;
constexpr std::int64_t kMaxLocalSlots = std::int64_t{1} << 26;
// A policy's emission interval is period/rate; one request per microsecond per key is the finest.
constexpr std::int64_t kMaxPeriodSeconds = 366 * 24 * 3600;
constexpr std::int64_t kMaxRedisTimeoutMs = 10000;

std::string quote_name(std::string_view s) {
  return "\"" + std::string(s) + "\"";
}

class Errors {
 public:
  explicit Errors(std::vector<ConfigError>& out) : out_(out) {}
  void add(std::string pointer, std::string message) {
    out_.push_back({std::move(pointer), std::move(message)});
  }

  const json::object* object(const json::value& v, const std::string& ptr) {
    if (v.is_object()) return &v.get_object();
    add(ptr, "must be an object");
    return nullptr;
  }

  void known_keys(const json::object& obj, const std::string& ptr,
                  std::initializer_list<std::string_view> keys) {
    for (const auto& kv : obj) {
      if (std::find(keys.begin(), keys.end(), std::string_view(kv.key())) == keys.end())
        add(ptr + "/" + std::string(kv.key()), "unknown key");
    }
  }

  std::optional<std::string> string(const json::object& obj, std::string_view key, const std::string& ptr,
                                    bool required) {
    const json::value* v = obj.if_contains(key);
    if (v == nullptr) {
      if (required) add(ptr + "/" + std::string(key), "is required");
      return std::nullopt;
    }
    if (!v->is_string()) {
      add(ptr + "/" + std::string(key), "must be a string");
      return std::nullopt;
    }
    return std::string(v->get_string());
  }

  std::optional<bool> boolean(const json::object& obj, std::string_view key, const std::string& ptr) {
    const json::value* v = obj.if_contains(key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_bool()) {
      add(ptr + "/" + std::string(key), "must be a boolean");
      return std::nullopt;
    }
    return v->get_bool();
  }

  // An integer in [min, max] (integral doubles such as 1e3 count); nullopt with an error otherwise.
  std::optional<std::int64_t> integer(const json::object& obj, std::string_view key, const std::string& ptr,
                                      std::int64_t min, std::int64_t max, bool required) {
    const json::value* v = obj.if_contains(key);
    std::string p = ptr + "/" + std::string(key);
    if (v == nullptr) {
      if (required) add(p, "is required");
      return std::nullopt;
    }
    std::int64_t n = 0;
    if (v->is_int64()) {
      n = v->get_int64();
    } else if (v->is_uint64()) {
      n = v->get_uint64() > static_cast<std::uint64_t>(max) ? INT64_MAX
                                                            : static_cast<std::int64_t>(v->get_uint64());
    } else if (v->is_double() && std::isfinite(v->get_double()) &&
               v->get_double() == std::trunc(v->get_double()) && std::fabs(v->get_double()) < 9.2e18) {
      n = static_cast<std::int64_t>(v->get_double());
    } else {
      add(p, "must be an integer");
      return std::nullopt;
    }
    if (n < min || n > max) {
      add(p, "must be between " + std::to_string(min) + " and " + std::to_string(max));
      return std::nullopt;
    }
    return n;
  }

 private:
  std::vector<ConfigError>& out_;
};

bool valid_policy_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
              c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

void parse_policies(const json::object& root, Config& cfg, Errors& errors) {
  const json::value* v = root.if_contains("rate_limits");
  if (v == nullptr) return;
  if (!v->is_array()) {
    errors.add("/rate_limits", "must be an array");
    return;
  }
  std::set<std::string, std::less<>> names;
  const json::array& arr = v->get_array();
  for (std::size_t i = 0; i < arr.size(); ++i) {
    std::string ptr = "/rate_limits/" + std::to_string(i);
    const json::object* obj = errors.object(arr[i], ptr);
    if (obj == nullptr) continue;
    errors.known_keys(*obj, ptr,
                      {"name", "key", "rate", "period_seconds", "burst", "store", "fail_open", "local_slots",
                       "description"});
    RateLimitPolicy policy;
    policy.pointer = ptr;
    bool ok = true;
    if (auto name = errors.string(*obj, "name", ptr, true)) {
      if (!valid_policy_name(*name)) {
        errors.add(ptr + "/name",
                   "must be 1-64 characters of A-Z a-z 0-9 - _ . (got " + quote_name(*name) + ")");
        ok = false;
      } else if (!names.insert(*name).second) {
        errors.add(ptr + "/name", "duplicate policy name " + quote_name(*name));
        ok = false;
      }
      policy.name = *name;
    } else {
      ok = false;
    }
    if (auto key = errors.string(*obj, "key", ptr, false)) policy.key = *key;
    auto period = errors.integer(*obj, "period_seconds", ptr, 1, kMaxPeriodSeconds, true);
    // At most one request per microsecond per key: rate <= period_seconds * 1e6.
    auto rate = errors.integer(*obj, "rate", ptr, 1, period ? *period * 1000000 : 1000000000, true);
    if (!period || !rate) ok = false;
    if (period) policy.period_seconds = *period;
    if (rate) policy.rate = *rate;
    policy.burst = policy.rate;
    if (obj->contains("burst")) {
      if (auto burst = errors.integer(*obj, "burst", ptr, 1, 1000000000, false)) {
        policy.burst = *burst;
      } else {
        ok = false;
      }
    }
    if (auto store = errors.string(*obj, "store", ptr, false)) {
      if (*store == "local") {
        policy.store = RateLimitStore::kLocal;
      } else if (*store == "redis") {
        policy.store = RateLimitStore::kRedis;
      } else {
        errors.add(ptr + "/store", "must be \"local\" or \"redis\" (got " + quote_name(*store) + ")");
        ok = false;
      }
    }
    if (auto fail_open = errors.boolean(*obj, "fail_open", ptr)) policy.fail_open = *fail_open;
    if (obj->contains("local_slots")) {
      if (auto slots = errors.integer(*obj, "local_slots", ptr, kMinLocalSlots, kMaxLocalSlots, false)) {
        policy.local_slots = static_cast<std::size_t>(*slots);
      }
    }
    if (ok) cfg.rate_limits.push_back(std::move(policy));
  }
}

void parse_redis(const json::object& root, Config& cfg, Errors& errors) {
  const json::value* v = root.if_contains("redis");
  if (v == nullptr) return;
  const std::string ptr = "/redis";
  const json::object* obj = errors.object(*v, ptr);
  if (obj == nullptr) return;
  errors.known_keys(*obj, ptr, {"url", "password", "timeout_ms"});
  RedisSettings redis;
  auto url = errors.string(*obj, "url", ptr, true);
  if (!url) return;
  redis.url = *url;
  bool ok = true;
  if (url->starts_with("unix:")) {
    std::string_view path = std::string_view(*url).substr(5);
    while (path.starts_with("//"))
      path.remove_prefix(1);
    if (!path.starts_with("/")) {
      errors.add(ptr + "/url", "a unix socket must be an absolute path (unix:/run/redis.sock)");
      ok = false;
    }
    redis.unix_path = std::string(path);
  } else {
    auto parsed = boost::urls::parse_uri(*url);
    if (!parsed || parsed->scheme() != "redis" || !parsed->has_authority() || parsed->host().empty()) {
      errors.add(ptr + "/url", parsed && parsed->scheme() == "rediss"
                                   ? std::string("rediss:// (TLS) is not supported; use redis:// or unix:")
                                   : "must be redis://[:password@]HOST[:PORT][/DB] or unix:/PATH");
      return;
    }
    redis.host = parsed->host_address();
    if (redis.host.size() > 2 && redis.host.front() == '[')
      redis.host = redis.host.substr(1, redis.host.size() - 2);
    if (parsed->has_port()) {
      if (parsed->port_number() == 0) {
        errors.add(ptr + "/url", "port must be between 1 and 65535");
        ok = false;
      }
      redis.port = parsed->port_number();
    }
    if (parsed->has_password()) redis.password = parsed->password();
    std::string_view db = parsed->encoded_path();
    if (db.starts_with("/")) db.remove_prefix(1);
    if (!db.empty()) {
      auto r = std::from_chars(db.data(), db.data() + db.size(), redis.database);
      if (r.ec != std::errc() || r.ptr != db.data() + db.size() || redis.database < 0 ||
          redis.database > 1000000) {
        errors.add(ptr + "/url", "the path must be a database number (redis://host:6379/0)");
        ok = false;
      }
    }
  }
  if (auto password = errors.string(*obj, "password", ptr, false)) redis.password = *password;
  if (auto timeout = errors.integer(*obj, "timeout_ms", ptr, 1, kMaxRedisTimeoutMs, false))
    redis.timeout = std::chrono::milliseconds(*timeout);
  if (ok) cfg.redis = std::move(redis);
}

void parse_trusted_proxies(const json::object& root, Config& cfg, Errors& errors) {
  const json::value* g = root.if_contains("gateway");
  if (g == nullptr || !g->is_object()) return;
  const json::value* v = g->get_object().if_contains("trusted_proxies");
  if (v == nullptr) return;
  const std::string ptr = "/gateway/trusted_proxies";
  if (!v->is_array()) {
    errors.add(ptr, "must be an array of CIDRs (\"10.0.0.0/8\", \"::1\")");
    return;
  }
  const json::array& arr = v->get_array();
  for (std::size_t i = 0; i < arr.size(); ++i) {
    auto network = arr[i].is_string() ? parse_ip_network(arr[i].get_string()) : std::nullopt;
    if (!network) {
      errors.add(ptr + "/" + std::to_string(i), "must be an IP address or CIDR (\"10.0.0.0/8\", \"::1\")");
      continue;
    }
    cfg.gateway.trusted_proxies.push_back(*network);
  }
}

void parse_route_references(const json::object& root, Config& cfg, Errors& errors) {
  const json::value* paths = root.if_contains("paths");
  if (paths == nullptr || !paths->is_array()) return;
  for (Route& route : cfg.paths) {
    const json::value& raw = paths->get_array()[route.index];
    if (!raw.is_object()) continue;
    const json::value* v = raw.get_object().if_contains("rate_limit");
    if (v == nullptr || v->is_null()) continue;
    std::string ptr = "/paths/" + std::to_string(route.index) + "/rate_limit";
    std::vector<std::pair<std::string, std::string>> names;  // name, pointer
    if (v->is_string()) {
      names.emplace_back(v->get_string(), ptr);
    } else if (v->is_array()) {
      for (std::size_t i = 0; i < v->get_array().size(); ++i) {
        const json::value& item = v->get_array()[i];
        if (!item.is_string()) {
          errors.add(ptr + "/" + std::to_string(i), "must be a policy name");
          continue;
        }
        names.emplace_back(item.get_string(), ptr + "/" + std::to_string(i));
      }
    } else {
      errors.add(ptr, "must be a policy name or a list of policy names");
      continue;
    }
    for (auto& [name, pointer] : names) {
      if (std::find(route.rate_limits.begin(), route.rate_limits.end(), name) != route.rate_limits.end()) {
        errors.add(pointer, "policy " + quote_name(name) + " is named twice");
        continue;
      }
      const RateLimitPolicy* policy = cfg.find_rate_limit(name);
      if (policy == nullptr) {
        errors.add(pointer, "unknown rate limit policy " + quote_name(name) + " (see /rate_limits)");
        continue;
      }
      route.rate_limits.push_back(name);
    }
  }
}

}  // namespace

std::optional<std::array<std::uint8_t, 16>> parse_ip_address(std::string_view text) {
  if (text.size() > 2 && text.front() == '[' && text.back() == ']') text = text.substr(1, text.size() - 2);
  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address(std::string(text), ec);
  if (ec) return std::nullopt;
  if (address.is_v4())
    return boost::asio::ip::make_address_v6(boost::asio::ip::v4_mapped, address.to_v4()).to_bytes();
  return address.to_v6().to_bytes();
}

std::optional<IpNetwork> parse_ip_network(std::string_view text) {
  std::string_view host = text;
  std::optional<unsigned> bits;
  if (auto slash = text.find('/'); slash != std::string_view::npos) {
    host = text.substr(0, slash);
    std::string_view digits = text.substr(slash + 1);
    unsigned n = 0;
    auto r = std::from_chars(digits.data(), digits.data() + digits.size(), n);
    if (digits.empty() || r.ec != std::errc() || r.ptr != digits.data() + digits.size()) return std::nullopt;
    bits = n;
  }
  auto address = parse_ip_address(host);
  if (!address) return std::nullopt;
  bool v4 = host.find(':') == std::string_view::npos;
  unsigned max_bits = v4 ? 32 : 128;
  if (bits && *bits > max_bits) return std::nullopt;
  IpNetwork network;
  network.address = *address;
  network.prefix_bits = (bits ? *bits : max_bits) + (v4 ? 96 : 0);
  for (unsigned i = network.prefix_bits; i < 128; ++i)
    network.address[i / 8] &= static_cast<std::uint8_t>(~(0x80u >> (i % 8)));
  return network;
}

bool IpNetwork::contains(const std::array<std::uint8_t, 16>& candidate) const {
  unsigned full = prefix_bits / 8;
  for (unsigned i = 0; i < full; ++i) {
    if (candidate[i] != address[i]) return false;
  }
  if (unsigned rest = prefix_bits % 8; rest != 0) {
    auto mask = static_cast<std::uint8_t>(0xFFu << (8 - rest));
    if ((candidate[full] & mask) != address[full]) return false;
  }
  return true;
}

const RateLimitPolicy* Config::find_rate_limit(std::string_view name) const {
  for (const auto& p : rate_limits) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

void parse_rate_limit_sections(const json::object& root, Config& cfg, std::vector<ConfigError>& out) {
  Errors errors(out);
  parse_policies(root, cfg, errors);
  parse_redis(root, cfg, errors);
  parse_trusted_proxies(root, cfg, errors);
  parse_route_references(root, cfg, errors);
  for (const RateLimitPolicy& policy : cfg.rate_limits) {
    if (policy.store == RateLimitStore::kRedis && !cfg.redis && !root.contains("redis")) {
      errors.add(policy.pointer + "/store", "store \"redis\" needs a top-level \"redis\" section");
    }
  }
}

}  // namespace workgate::config
