#include "app/cli.hpp"

#include <nghttp2/nghttp2.h>
#include <openssl/crypto.h>
#include <openssl/opensslv.h>
#include <unistd.h>

#include <boost/asio/ssl/context.hpp>
#include <boost/version.hpp>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <optional>
#include <thread>

#include "admin/admin_server.hpp"
#include "app/supervisor.hpp"
#include "app/validate.hpp"
#include "app/watch.hpp"
#include "config/loader.hpp"
#include "http/server.hpp"
#include "http/tls_context.hpp"
#include "observability/log.hpp"
#include "observability/spans.hpp"
#include "pipeline/gateway_handler.hpp"
#include "runtime/builder.hpp"
#include "workers/attach.hpp"
#include "workers/reaper.hpp"
#include "workgate/worker.h"

namespace workgate::app {
namespace {

constexpr std::string_view kUsage = R"(workgate: a self-hosted API gateway for Serverless API Gateway configs

Usage:
  workgate serve --config FILE [--listen HOST:PORT] [--threads N] [--env-file FILE]
                 [--ca-file FILE] [--log-level debug|info|warn|error] [--log-format text|json]
                 [--access-log] [--drain-timeout-ms N] [--admin HOST:PORT] [--no-supervise] [--watch]
  workgate validate FILE [--env-file FILE]
  workgate routes FILE [--env-file FILE] [--listen HOST:PORT]
  workgate --version
  workgate COMMAND --help

Flags take their value as the next argument or after '=' (--threads 4, --threads=4).

The inline config in SAG_API_CONFIG_JSON, when set and not blank, wins over --config.
Environment files fill in variables the process environment does not set.
SIGTERM/SIGINT drain in-flight requests and exit 0; SIGHUP reloads the config. --watch reloads the same
way when the config file, an env file or their directory (a ConfigMap's ..data swap) changes.
--admin (or gateway.admin.listen) serves /livez, /readyz, /metrics, /config and /routes on a separate
listener (docs/operations.md); off unless configured.
serve runs a supervisor that holds the listening sockets and restarts the serving process at once when
it crashes (a worker module); --no-supervise runs a single process.
)";

constexpr std::string_view kServeHelp = R"(Usage: workgate serve --config FILE [flags]

Loads the config, listens and serves until SIGTERM/SIGINT (drain, exit 0); SIGHUP reloads the config.

  -c, --config FILE          the API config (SAG_API_CONFIG_JSON, when set and not blank, wins)
  -l, --listen HOST:PORT     the plain HTTP/1.1 listener (default 127.0.0.1:8787; port 0: any free port)
  -t, --threads N            event-loop threads (default: one per core)
      --env-file FILE        variables the process environment does not set (repeatable)
      --ca-file FILE         PEM CA certificates trusted for upstream TLS, besides the system's (repeatable;
                             checked at start)
      --log-level LEVEL      debug, info (default), warn or error
      --log-format FORMAT    text (default) or json: every line on stderr and the access log on stdout
      --access-log           write an access log line per request on stdout (gateway.access_log)
      --drain-timeout-ms N   how long a drain waits for in-flight requests (default 30000)
      --admin HOST:PORT      the admin listener (/livez /readyz /metrics /config /routes); wins over
                             gateway.admin.listen
      --no-supervise         one process (no supervisor restarting a crashed serving process)
  -h, --help                 this help

Flags take their value as the next argument or after '=' (--threads=4).
)";

constexpr std::string_view kValidateHelp = R"(Usage: workgate validate FILE [--env-file FILE]

Checks the config without serving: every error (with its JSON pointer) and warning, one line each, in
one pass. The checks that compile the config (worker modules, TLS certificates, CA files, mapping and key
templates) run on every entry the document checks found no error in, so they are reported in the same run.
JavaScript workers are checked as serve checks them at load: validate starts one workerd process, asks
whether each script loads, exports its class and defines every function a route calls, then stops it
(workerd must be installed). Makes no network request and initialises no native worker module.
Exit status 0 when valid, 1 with errors, 2 on a usage error.
)";

constexpr std::string_view kRoutesHelp = R"(Usage: workgate routes FILE [--env-file FILE] [--listen HOST:PORT]

Prints the listeners serve would open (index, name, address, origin, plain or TLS, HTTP/2), as the
startup log names them, then the compiled route table in matching order. --listen HOST:PORT adds the
--listen listener as serve does.
)";

struct Options {
  std::string command;
  std::optional<std::filesystem::path> config;
  std::string listen = "127.0.0.1:8787";
  bool listen_given = false;
  unsigned threads = 0;
  std::vector<std::string> env_files;
  std::vector<std::string> ca_files;
  std::string log_level = "info";
  std::string log_format = "text";  // --log-format text|json
  bool help = false;                // COMMAND --help
  bool access_log = false;
  long drain_timeout_ms = 30000;
  bool no_supervise = false;
  bool watch = false;  // --watch: reload when the config file, its env files or their directories change
  std::string admin;   // --admin HOST:PORT; wins over gateway.admin.listen
  // Set by the supervisor for the serving process it runs (hidden flags): per listener, one socket per
  // thread ("3,4;5,6").
  std::vector<std::vector<int>> listen_fds;
  int ready_fd = -1;
};

bool parse_number(const std::string& text, long& out) {
  auto r = std::from_chars(text.data(), text.data() + text.size(), out);
  return r.ec == std::errc() && r.ptr == text.data() + text.size();
}

std::optional<Options> parse_args(const std::vector<std::string>& args, std::string& error) {
  Options o;
  if (args.empty()) {
    error = "missing command";
    return std::nullopt;
  }
  o.command = args[0];
  for (std::size_t i = 1; i < args.size(); ++i) {
    // "--flag=value" is "--flag value".
    std::string a = args[i];
    std::optional<std::string> inline_value;
    if (a.starts_with("--")) {
      if (auto eq = a.find('='); eq != std::string::npos) {
        inline_value = a.substr(eq + 1);
        a.resize(eq);
      }
    }
    auto value = [&](std::string& out) {
      if (inline_value) {
        out = *inline_value;
        inline_value.reset();
        return true;
      }
      if (i + 1 >= args.size()) {
        error = a + " needs a value";
        return false;
      }
      out = args[++i];
      return true;
    };
    std::string v;
    if (inline_value && (a == "--access-log" || a == "--no-supervise" || a == "--help")) {
      error = a + " takes no value";
      return std::nullopt;
    }
    if (a == "--help" || a == "-h") {
      o.help = true;
    } else if (a == "--log-format") {
      if (!value(o.log_format)) return std::nullopt;
      observability::LogFormat format;
      if (!observability::parse_log_format(o.log_format, format)) {
        error = "--log-format must be text or json";
        return std::nullopt;
      }
    } else if (a == "--config" || a == "-c") {
      if (!value(v)) return std::nullopt;
      o.config = v;
    } else if (a == "--listen" || a == "-l") {
      if (!value(o.listen)) return std::nullopt;
      o.listen_given = true;
    } else if (a == "--threads" || a == "-t") {
      long n = 0;
      if (!value(v)) return std::nullopt;
      if (!parse_number(v, n) || n < 1 || n > 1024) {
        error = "--threads must be a number between 1 and 1024";
        return std::nullopt;
      }
      o.threads = static_cast<unsigned>(n);
    } else if (a == "--env-file") {
      if (!value(v)) return std::nullopt;
      o.env_files.push_back(v);
    } else if (a == "--ca-file") {
      if (!value(v)) return std::nullopt;
      o.ca_files.push_back(v);
    } else if (a == "--log-level") {
      if (!value(o.log_level)) return std::nullopt;
    } else if (a == "--admin") {
      if (!value(o.admin)) return std::nullopt;
      std::string admin_host;
      std::uint16_t admin_port = 0;
      if (!config::parse_listen_address(o.admin, admin_host, admin_port)) {
        error = "--admin must be HOST:PORT (got \"" + o.admin + "\")";
        return std::nullopt;
      }
    } else if (a == "--no-supervise") {
      o.no_supervise = true;
    } else if (a == "--watch") {
      o.watch = true;
    } else if (a == "--listen-fds") {  // hidden: the serving process under the supervisor
      if (!value(v)) return std::nullopt;
      std::size_t begin = 0;
      o.listen_fds.emplace_back();
      while (begin <= v.size()) {
        std::size_t end = v.find_first_of(",;", begin);
        if (end == std::string::npos) end = v.size();
        long fd = -1;
        if (!parse_number(v.substr(begin, end - begin), fd) || fd < 0 || fd > 65535) {
          error = "--listen-fds must be a list of descriptors";
          return std::nullopt;
        }
        o.listen_fds.back().push_back(static_cast<int>(fd));
        if (end < v.size() && v[end] == ';') o.listen_fds.emplace_back();
        begin = end + 1;
      }
    } else if (a == "--ready-fd") {  // hidden: the serving process under the supervisor
      long fd = -1;
      if (!value(v)) return std::nullopt;
      if (!parse_number(v, fd) || fd < 0 || fd > 65535) {
        error = "--ready-fd must be a descriptor";
        return std::nullopt;
      }
      o.ready_fd = static_cast<int>(fd);
    } else if (a == "--access-log") {
      o.access_log = true;
    } else if (a == "--drain-timeout-ms") {
      if (!value(v)) return std::nullopt;
      if (!parse_number(v, o.drain_timeout_ms) || o.drain_timeout_ms < 0) {
        error = "--drain-timeout-ms must be a non-negative number";
        return std::nullopt;
      }
    } else if (!a.empty() && a[0] != '-' && !o.config && (o.command == "validate" || o.command == "routes")) {
      o.config = a;
    } else {
      error = "unknown argument " + a;
      return std::nullopt;
    }
  }
  return o;
}

bool split_listen(const std::string& listen, std::string& host, std::uint16_t& port) {
  return config::parse_listen_address(listen, host, port);
}

// The listeners a serve runs: --listen (plain HTTP/1.1; also the default when the config has none) first,
// then gateway.listeners in order. Fixed for the process's life: a reload may change certificates, not
// this list (listeners_changed).
struct ListenerSpec {
  std::string host;
  std::uint16_t port = 0;
  int tls_index = -1;  // index in gateway.listeners of a TLS listener
  bool http2 = false;
  std::string origin;  // "--listen" or the config pointer
  std::string
      name;  // metrics' `listener` label, the access log's and /readyz's: "public", "listener N", `name`
};

std::vector<ListenerSpec> listener_specs(const Options& o, const config::Config& cfg) {
  std::vector<ListenerSpec> out;
  if (o.listen_given || cfg.gateway.listeners.empty()) {
    ListenerSpec spec;
    split_listen(o.listen, spec.host, spec.port);  // checked by cmd_serve
    spec.origin = o.listen_given ? "--listen" : "default";
    out.push_back(std::move(spec));
  }
  for (std::size_t i = 0; i < cfg.gateway.listeners.size(); ++i) {
    const config::ListenerEntry& entry = cfg.gateway.listeners[i];
    out.push_back({entry.host, entry.port, entry.tls ? static_cast<int>(i) : -1, entry.http2, entry.pointer,
                   entry.name});
  }
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (out[i].name.empty()) out[i].name = i == 0 ? "public" : "listener " + std::to_string(i);
  }
  return out;
}

// What a reload cannot change: the sockets are bound once (by the supervisor).
std::string listener_signature(const config::Config& cfg) {
  std::string out;
  for (const auto& entry : cfg.gateway.listeners)
    out += entry.address + (entry.tls ? " tls" : " plain") + (entry.http2 ? " h2 " : " ") + entry.name + ";";
  return out;
}

std::string url_of(const ListenerSpec& spec, std::uint16_t port) {
  std::string host = spec.host.find(':') != std::string::npos ? "[" + spec.host + "]" : spec.host;
  return std::string(spec.tls_index >= 0 ? "https://" : "http://") + host + ":" + std::to_string(port);
}

std::string describe_tls(const http::TlsContext& tls) {
  std::string text = "TLS " + std::string(tls.min_version_name()) + "+, ALPN " + tls.alpn_list() + ", " +
                     std::to_string(tls.certificate_count()) + " certificate(s):";
  for (std::size_t c = 0; c < tls.certificate_count(); ++c) {
    text += c == 0 ? " [default] " : " ";
    std::string names;
    for (const auto& name : tls.names(c))
      names += (names.empty() ? "" : ",") + name;
    text += names.empty() ? "(no DNS names)" : names;
  }
  return text;
}

// One listener, as the startup log and `workgate routes` name it:
//   listener 0 "public": http://127.0.0.1:8787 (--listen) plain HTTP/1.1 and h2c
// (scripts read the index and the URL's port; `port` is the bound one when serving).
std::string describe_listener(std::size_t index, const ListenerSpec& spec, std::uint16_t port,
                              const pipeline::Snapshot& snapshot) {
  std::string what = spec.http2 ? "plain HTTP/1.1 and h2c" : "plain HTTP/1.1";
  if (spec.tls_index >= 0) {
    const auto& tls = snapshot.listener_tls[static_cast<std::size_t>(spec.tls_index)];
    what = tls ? describe_tls(*tls) : "TLS";
  }
  return "listener " + std::to_string(index) + " \"" + spec.name + "\": " + url_of(spec, port) + " (" +
         spec.origin + ") " + what;
}

// With --log-format json, serve writes config problems through the log (one JSON object per line); in
// text, as validate and routes do, as "error: ..." / "warning: ..." lines.
bool g_serving = false;

void print_line(bool is_error, const std::string& text) {
  if (g_serving && observability::log_format() == observability::LogFormat::kJson) {
    if (is_error) {
      spdlog::error("{}", text);
    } else {
      spdlog::warn("{}", text);
    }
    return;
  }
  std::cerr << (is_error ? "error: " : "warning: ") << text << "\n";
}

bool check_ca_files(const std::vector<std::string>& files);

bool load_environment(const Options& o, config::Environment& env) {
  env = config::Environment::from_process();
  std::vector<std::string> errors;
  for (const auto& file : o.env_files)
    env.merge_env_file(file, errors);
  for (const auto& e : errors)
    print_line(true, e);
  return errors.empty();
}

void print_problems(const std::vector<config::ConfigError>& errors,
                    const std::vector<config::ConfigError>& warnings) {
  for (const auto& w : warnings)
    print_line(false, w.to_string());
  for (const auto& e : errors)
    print_line(true, e.to_string());
}

void print_error_count(const std::string& source, std::size_t count) {
  if (g_serving && observability::log_format() == observability::LogFormat::kJson) {
    spdlog::error("{}: {} error(s)", source, count);
  } else {
    std::cerr << source << ": " << count << " error(s)\n";
  }
}

// Loads and compiles the config; prints every problem. Returns null on errors.
// `text`, when given, receives the document's bytes; `before_build` runs once the document is valid and
// before it is compiled (which fetches remote JWKS: the admin listener starts there, so /readyz can say
// "not ready" meanwhile).
std::shared_ptr<pipeline::Snapshot> load_snapshot(
    const Options& o, const config::Environment& env, bool connect, std::string& source,
    std::string* text = nullptr, const std::function<bool(const config::Config&)>& before_build = nullptr) {
  config::LoadResult loaded = config::load_gateway_config(o.config, env, source);
  if (!loaded.errors.empty()) {
    print_problems(loaded.errors, loaded.warnings);
    print_error_count(source, loaded.errors.size());
    return nullptr;
  }
  if (text) *text = std::move(loaded.text);
  if (before_build && !before_build(*loaded.config)) return nullptr;
  runtime::BuildOptions build_options;
  build_options.environment = &env;
  build_options.connect = connect;
  build_options.ca_files = o.ca_files;
  runtime::BuildResult built = runtime::build_snapshot(std::move(*loaded.config), build_options);
  loaded.warnings.insert(loaded.warnings.end(), built.warnings.begin(), built.warnings.end());
  print_problems(built.errors, loaded.warnings);
  if (!built.errors.empty()) {
    print_error_count(source, built.errors.size());
    return nullptr;
  }
  return built.snapshot;
}

int cmd_validate(const Options& o) {
  config::Environment env;
  if (!load_environment(o, env)) return 1;
  if (!o.config && !env.get("SAG_API_CONFIG_JSON")) {
    std::cerr << "error: validate needs a config FILE\n";
    return 2;
  }
  // The JavaScript workers' check runs workerd: its own log lines (ready, stopped) are not validate's
  // output; warnings and errors still go to stderr.
  observability::init_logging(observability::LogLevel::kWarn);
  // Every stage runs, whatever the earlier ones found (src/app/validate.hpp).
  ValidationReport report = validate_config(o.config, env, o.ca_files, validation_checks());
  print_problems(report.problems.errors(), report.problems.warnings());
  if (!report.problems.errors().empty()) {
    print_error_count(report.source, report.problems.errors().size());
    return 1;
  }
  std::cout << report.source << ": valid (" << report.routes << " routes)\n";
  return 0;
}

std::string_view class_name(const pipeline::Snapshot& s, std::size_t index) {
  const std::string& path = s.config.paths[index].path;
  if (path.ends_with("{.+}")) return "wildcard";
  if (path.find('{') != std::string::npos) return "parameter";
  return "exact";
}

int cmd_routes(const Options& o) {
  config::Environment env;
  if (!load_environment(o, env)) return 1;
  std::string source;
  auto snapshot = load_snapshot(o, env, /*connect=*/false, source);
  if (!snapshot) return 1;
  // The listeners first (what serve would listen on: --listen given here counts), then the routes.
  std::vector<ListenerSpec> specs = listener_specs(o, snapshot->config);
  for (std::size_t i = 0; i < specs.size(); ++i)
    std::printf("%s\n", describe_listener(i, specs[i], specs[i].port, *snapshot).c_str());
  std::printf("\n");
  std::printf("%-5s %-8s %-40s %-10s %-5s %s\n", "#", "METHOD", "PATH", "CLASS", "AUTH", "INTEGRATION");
  std::size_t rank = 0;
  for (std::size_t index : snapshot->router.priority_order()) {
    const config::Route& route = snapshot->config.paths[index];
    std::string integration = route.integration
                                  ? std::string(config::integration_type_name(route.integration->type))
                                  : std::string("static");
    if (route.integration && !route.integration->server.empty())
      integration += " -> " + route.integration->server;
    if (route.integration && !route.integration->binding.empty()) {
      integration += " -> " + route.integration->binding;
      if (!route.integration->function.empty()) integration += "." + route.integration->function;
    }
    std::printf("%-5zu %-8s %-40s %-10s %-5s %s   (/paths/%zu)\n", ++rank, route.method.c_str(),
                route.path.c_str(), std::string(class_name(*snapshot, index)).c_str(),
                route.auth ? "yes" : "no", integration.c_str(), index);
  }
  return 0;
}

int cmd_serve(Options o, const std::vector<std::string>& args) {
  observability::LogLevel level = observability::LogLevel::kInfo;
  if (!observability::parse_log_level(o.log_level, level)) {
    std::cerr << "error: --log-level must be debug, info, warn or error\n";
    return 2;
  }
  observability::LogFormat format = observability::LogFormat::kText;
  observability::parse_log_format(o.log_format, format);  // checked by parse_args
  observability::init_logging(level, format);
  g_serving = true;
  std::string host;
  std::uint16_t port = 0;
  if (!split_listen(o.listen, host, port)) {
    std::cerr << "error: --listen must be HOST:PORT (got \"" << o.listen << "\")\n";
    return 2;
  }
  if (o.threads == 0) o.threads = std::max(1u, std::thread::hardware_concurrency());
  if (!check_ca_files(o.ca_files)) return 2;
  workers::set_js_shard_count(o.threads);  // one workerd process per shard (JavaScript workers)

  // The supervisor binds the sockets of every listener (so that they outlive a crashed serving process)
  // and runs the serving process, which loads the config, listens and serves: see app/supervisor.hpp.
  // It reads the config for gateway.listeners only (no snapshot: the serving process reports every
  // other problem).
  const bool supervised = !o.listen_fds.empty();
  if (!o.no_supervise && !supervised) {
    config::Environment env;
    if (!load_environment(o, env)) return 1;
    std::string source;
    config::LoadResult loaded = config::load_gateway_config(o.config, env, source);
    if (!loaded.errors.empty()) {
      print_problems(loaded.errors, loaded.warnings);
      print_error_count(source, loaded.errors.size());
      return 1;
    }
    std::vector<std::vector<int>> fds;
    try {
      for (const ListenerSpec& spec : listener_specs(o, *loaded.config))
        fds.push_back(http::bind_listeners(spec.host, spec.port, o.threads).fds);
    } catch (const http::ListenError& e) {
      for (auto& group : fds)
        for (int fd : group)
          ::close(fd);
      observability::log_error("{}", e.what());
      return 1;
    }
    return run_supervisor(args, fds);
  }
  if (supervised) o.threads = static_cast<unsigned>(o.listen_fds.front().size());

  config::Environment env;
  if (!load_environment(o, env)) return 1;

  // The admin listener (off unless --admin or gateway.admin.listen): started before the config is
  // compiled, so that /livez answers and /readyz says 503 while remote JWKS are fetched.
  metrics::Registry metrics_registry;
  admin::AdminState admin_state(
      metrics_registry, {WORKGATE_VERSION, WORKGATE_GIT_COMMIT, std::to_string(WORKGATE_ABI_VERSION)});
  std::unique_ptr<admin::AdminServer> admin_server;
  std::string admin_listen;
  std::string admin_url;  // http://HOST:PORT once listening
  auto start_admin = [&](const config::Config& cfg) {
    admin_listen = !o.admin.empty() ? o.admin : cfg.gateway.admin_listen;
    if (admin_listen.empty()) return true;
    admin::AdminServerOptions admin_options;
    if (!config::parse_listen_address(admin_listen, admin_options.host, admin_options.port)) {
      observability::log_error("admin listen address must be HOST:PORT (got \"{}\")", admin_listen);
      return false;
    }
    admin_server = std::make_unique<admin::AdminServer>(
        admin_options, [&admin_state](std::string_view method, std::string_view target) {
          return admin::handle_admin_request(admin_state, method, target);
        });
    try {
      std::uint16_t admin_port = admin_server->bind();
      const std::string& h = admin_options.host;
      std::string url = "http://" + (h.find(':') != std::string::npos ? "[" + h + "]" : h) + ":" +
                        std::to_string(admin_port);
      observability::log_info("admin listener on {}", url);
      admin_state.add_listener({"admin", url, "", false, false, true});
      admin_url = url;
    } catch (const admin::AdminListenError& e) {
      observability::log_error("{}", e.what());
      return false;
    }
    admin_server->start();
    return true;
  };

  std::string source;
  std::string config_text;
  auto snapshot = load_snapshot(o, env, /*connect=*/true, source, &config_text, start_admin);
  if (!snapshot) return 1;
  const std::vector<ListenerSpec> specs = listener_specs(o, snapshot->config);
  const std::string listeners_at_start = listener_signature(snapshot->config);
  if (supervised && o.listen_fds.size() != specs.size()) {
    observability::log_error(
        "gateway.listeners changed since workgate started ({} listener(s) bound, the config has {}): "
        "restart workgate to change its listeners",
        o.listen_fds.size(), specs.size());
    return 1;
  }
  if (o.access_log) snapshot->config.gateway.access_log = true;
  std::size_t route_count = snapshot->config.paths.size();
  bool has_cors = snapshot->cors.has_value();
  std::string authorizer = "none";
  if (snapshot->config.authorizer) {
    switch (snapshot->config.authorizer->type) {
      case config::AuthorizerType::kJwt:
        authorizer = "jwt";
        break;
      case config::AuthorizerType::kAuth0:
        authorizer = "auth0";
        break;
      case config::AuthorizerType::kSupabase:
        authorizer = "supabase";
        break;
    }
  }

  pipeline::SnapshotSource source_of_truth;
  source_of_truth.publish(std::move(snapshot));
  admin_state.set_source(&source_of_truth);
  // The admin thread reads source_of_truth: stop it before that goes, on every way out of here.
  struct StopAdmin {
    std::unique_ptr<admin::AdminServer>& server;
    ~StopAdmin() {
      if (server) server->stop();
    }
  } stop_admin{admin_server};
  admin_state.publish_config(config_text, source);
  const bool metrics_on = admin_server != nullptr;

  http::ServerOptions server_options;
  server_options.listeners.clear();
  for (std::size_t i = 0; i < specs.size(); ++i) {
    http::ListenerOptions listener;
    listener.host = specs[i].host;
    listener.port = specs[i].port;
    listener.tls_index = specs[i].tls_index;
    listener.http2 = specs[i].http2;
    if (supervised) listener.inherited_fds = o.listen_fds[i];
    server_options.listeners.push_back(std::move(listener));
  }
  server_options.threads = o.threads;
  server_options.drain_timeout = std::chrono::milliseconds(o.drain_timeout_ms);
  server_options.supervised = supervised;
  server_options.housekeeping = [&source_of_truth] { source_of_truth.collect(); };
  server_options.on_drain = [&admin_state] { admin_state.set_draining(); };
  if (o.ready_fd >= 0) {
    server_options.on_ready = [fd = o.ready_fd] {  // tell the supervisor: listening, handling signals
      char ready = 'R';
      [[maybe_unused]] ssize_t n = ::write(fd, &ready, 1);
      ::close(fd);
    };
  }
  // --watch (src/app/watch.cpp): a change asks for the SIGHUP reload below, once the signal handlers exist.
  std::unique_ptr<ConfigWatcher> watcher;
  if (o.watch && o.config) {
    std::vector<std::filesystem::path> watched{*o.config};
    for (const auto& file : o.env_files)
      watched.emplace_back(file);
    watcher = std::make_unique<ConfigWatcher>(std::move(watched), std::chrono::milliseconds(200),
                                              [] { ::kill(::getpid(), SIGHUP); });
    server_options.on_ready = [previous = std::move(server_options.on_ready), w = watcher.get()] {
      if (previous) previous();
      if (w->start()) observability::log_info("--watch: watching the config and env files for changes");
    };
  }
  std::vector<std::string> listener_names;
  std::vector<metrics::ListenerLabel> listener_labels;
  for (const ListenerSpec& spec : specs) {
    listener_names.push_back(spec.name);
    listener_labels.push_back({spec.name, spec.http2});
  }
  metrics_registry.set_listeners(std::move(listener_labels));
  auto server = std::make_unique<http::Server>(server_options, [&](http::Shard& shard) {
    auto handler = std::make_unique<pipeline::GatewayHandler>(shard, source_of_truth);
    handler->set_listener_names(listener_names);
    if (metrics_on) {
      auto shard_metrics = std::make_shared<metrics::ShardMetrics>();
      metrics_registry.add(shard_metrics);
      handler->enable_metrics(std::move(shard_metrics));
    }
    return handler;
  });
  std::vector<std::uint16_t> bound;
  try {
    bound = server->bind();
  } catch (const http::ListenError& e) {
    observability::log_error("{}", e.what());
    return 1;
  }
  // The first line names the first listener (the --listen one when given); then one line per listener,
  // 'listener N "NAME": URL (origin) ...' (describe_listener), which tests and scripts parse for the
  // bound ports.
  observability::log_info(
      "workgate {} serving {} ({} routes, authorizer: {}, cors: {}) on {} with {} thread(s){}",
      WORKGATE_VERSION, source, route_count, authorizer, has_cors ? "on" : "off",
      url_of(specs.front(), bound.front()), o.threads,
      admin_url.empty() ? std::string() : ", admin on " + admin_url);
  {
    auto current = source_of_truth.current();
    for (std::size_t i = 0; i < specs.size(); ++i) {
      const ListenerSpec& spec = specs[i];
      observability::log_info("{}", describe_listener(i, spec, bound[i], *current));
      admin_state.add_listener(
          {spec.name, url_of(spec, bound[i]), spec.origin, spec.tls_index >= 0, spec.http2, false});
    }
  }

  auto reload = [&] {
    config::Environment fresh;
    if (!load_environment(o, fresh)) {
      observability::log_error(
          "reload failed: environment files could not be read; keeping the current config");
      admin_state.record_reload(false, "environment files could not be read");
      return;
    }
    std::string reload_source;
    std::string reload_text;
    auto next = load_snapshot(o, fresh, /*connect=*/true, reload_source, &reload_text);
    if (!next) {
      observability::log_error(
          "reload failed: the config has errors (printed above); keeping the current config");
      admin_state.record_reload(false, "the config has errors; the current config is kept");
      return;
    }
    if (listener_signature(next->config) != listeners_at_start) {
      observability::log_error(
          "reload failed: gateway.listeners changed (addresses, tls, http2 or names); keeping the current "
          "config "
          "(restart workgate to change its listeners; certificates reload)");
      return;
    }
    if (o.access_log) next->config.gateway.access_log = true;
    if (o.admin.empty() && next->config.gateway.admin_listen != admin_listen)
      observability::log_warn("gateway.admin.listen changed: the admin listener moves only on a restart");
    source_of_truth.publish(std::move(next));
    admin_state.publish_config(reload_text, reload_source);
    admin_state.record_reload(true, "reloaded " + reload_source);
    observability::log_info("reloaded {}", reload_source);
  };
  if (server->run(reload)) {
    // Stopped while a reload was still running (say, waiting on a JWKS that does not answer): do not
    // wait for it. Flush what the shards buffered, then end without the destructors the reload thread
    // may still be using.
    server.reset();
    observability::SpanExporter::instance().shutdown();
    std::fflush(stdout);
    std::cout.flush();
    spdlog::default_logger_raw()->flush();
    std::_Exit(0);
  }
  server.reset();
  // The shards handed their last spans over when they were destroyed: export them (bounded) and stop.
  observability::SpanExporter::instance().shutdown();
  return 0;
}

// `workgate --version`: what an operator (or a bug report) needs to know about this binary.
std::string version_text() {
  std::string out = "workgate " WORKGATE_VERSION "\n";
  out += "commit: " WORKGATE_GIT_COMMIT "\n";
  out += "build type: " WORKGATE_BUILD_TYPE "\n";
  out += "worker ABI: " + std::to_string(WORKGATE_ABI_VERSION) + "\n";
  out += std::string("OpenSSL: ") + OpenSSL_version(OPENSSL_VERSION) + "\n";
  out += "Boost: " + std::to_string(BOOST_VERSION / 100000) + "." +
         std::to_string(BOOST_VERSION / 100 % 1000) + "." + std::to_string(BOOST_VERSION % 100) + "\n";
  out += std::string("nghttp2: ") + nghttp2_version(0)->version_str + "\n";
  return out;
}

// --ca-file: every file must hold PEM certificates OpenSSL can load, whether or not an upstream uses TLS
// yet (a reload may add one).
bool check_ca_files(const std::vector<std::string>& files) {
  bool ok = true;
  for (const std::string& file : files) {
    boost::asio::ssl::context context(boost::asio::ssl::context::tls_client);
    boost::system::error_code ec;
    context.load_verify_file(file, ec);
    if (ec) {
      observability::log_error("--ca-file {}: cannot load PEM certificates from it ({})", file, ec.message());
      ok = false;
    }
  }
  return ok;
}

}  // namespace

int run_cli(const std::vector<std::string>& args) {
  if (!args.empty() && (args[0] == "--version" || args[0] == "version" || args[0] == "-V")) {
    std::cout << version_text();
    return 0;
  }
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::cout << kUsage;
    return args.empty() ? 2 : 0;
  }
  std::string error;
  auto options = parse_args(args, error);
  if (!options) {
    std::cerr << "error: " << error << "\n\n" << kUsage;
    return 2;
  }
  if (options->help) {
    if (options->command == "serve") {
      std::cout << kServeHelp;
    } else if (options->command == "validate") {
      std::cout << kValidateHelp;
    } else if (options->command == "routes") {
      std::cout << kRoutesHelp;
    } else {
      std::cout << kUsage;
    }
    return 0;
  }
  int rc = 2;
  if (options->command == "serve") {
    rc = cmd_serve(std::move(*options), args);
  } else if (options->command == "validate") {
    rc = cmd_validate(*options);
  } else if (options->command == "routes") {
    rc = cmd_routes(*options);
  } else {
    std::cerr << "error: unknown command " << options->command << "\n\n" << kUsage;
  }
  // The JavaScript engines the command let go (replaced by reloads, the last snapshot's, validate's) are
  // stopped on the reaper thread: wait for it before the process exits.
  workers::Reaper::process().shutdown();
  return rc;
}

}  // namespace workgate::app
