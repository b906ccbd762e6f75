#include "workers/js_engine.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "observability/log.hpp"
#include "workers/reaper.hpp"

extern char** environ;

namespace workgate::workers::js {
namespace {

namespace fs = std::filesystem;
namespace beast = boost::beast;
namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

std::string read_file(const std::string& path, std::size_t cap, bool* ok = nullptr) {
  std::ifstream in(path, std::ios::binary);
  if (ok) *ok = static_cast<bool>(in);
  std::string out;
  if (!in) return out;
  out.resize(cap);
  in.read(out.data(), static_cast<std::streamsize>(cap));
  out.resize(static_cast<std::size_t>(in.gcount()));
  return out;
}

bool write_file(const std::string& path, std::string_view text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  std::size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  return ::close(fd) == 0;
}

// A Cap'n Proto text literal.
std::string capnp_text(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          static const char* hex = "0123456789abcdef";
          out += "\\x";
          out += hex[c >> 4];
          out += hex[c & 15];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

// A JavaScript string literal (module specifiers and export names we generate).
std::string js_string(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string service_name(std::size_t i) {
  return "w" + std::to_string(i);
}

// The name workerd binds a class of script `i` under when another JS worker calls it.
std::string exported_class(const ScriptSpec& s) {
  return s.entrypoint.empty() ? "wgDefault" : s.entrypoint;
}

// A JS string literal of any text (JSON's string syntax is JavaScript's).
std::string js_literal(std::string_view s) {
  return boost::json::serialize(boost::json::string(s));
}

std::string context_module(const ContextData* context) {
  std::string out = "export const apiConfig = " + js_literal(context ? context->api_config : "{}") + ";\n";
  out += "export const routes = [";
  if (context)
    for (const std::string& r : context->route_configs)
      out += js_literal(r) + ",";
  out += "];\n";
  return out;
}

std::string main_module(const ScriptSpec& s, std::size_t i) {
  std::string user = js_string("user" + std::to_string(i) + ".js");
  std::string out = "import * as user from " + user + ";\nimport { serve } from \"wg-bridge.js\";\n";
  out += "import * as context from \"wg-context.js\";\n";
  if (s.entrypoint.empty()) {
    out += "export { default as wgDefault } from " + user + ";\n";
  } else {
    out += "export * from " + user + ";\n";
  }
  out += "export const wgBridge = serve(user, " + js_string(s.entrypoint) + ", " +
         js_string(s.service ? "service" : "binding") + ", context, " + js_literal(env_json(s.env)) + ");\n";
  return out;
}

// Runs `argv` with stdout and stderr to `out_path`; returns the exit status (-1: could not run).
int run_tool(const std::vector<std::string>& argv, const std::string& out_path) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  std::vector<char*> args;
  for (const auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return -1;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string one_line(std::string text, std::size_t cap = 2000) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' '))
    text.pop_back();
  for (char& c : text)
    if (c == '\n' || c == '\r') c = ' ';
  if (text.size() > cap) text = text.substr(0, cap) + "...";
  return text;
}

}  // namespace

std::string find_tool(const std::string& configured, std::string_view name) {
  std::error_code ec;
  if (!configured.empty()) return fs::is_regular_file(configured, ec) ? configured : "";
  std::vector<std::string> candidates;
  std::string env_name = name == "workerd" ? "WORKGATE_WORKERD" : "WORKGATE_ESBUILD";
  if (const char* v = std::getenv(env_name.c_str()); v != nullptr && *v != '\0') candidates.emplace_back(v);
  for (const char* prefix : {WORKGATE_SOURCE_DIR "/third_party/npm", "/usr/local/lib/workgate/npm"}) {
    std::string p = prefix;
    if (name == "workerd") {
      candidates.push_back(p + "/node_modules/@cloudflare/workerd-linux-64/bin/workerd");
    } else {
      candidates.push_back(p + "/node_modules/@esbuild/linux-x64/bin/esbuild");
    }
  }
  if (const char* path = std::getenv("PATH")) {
    std::stringstream dirs(path);
    std::string dir;
    while (std::getline(dirs, dir, ':'))
      if (!dir.empty()) candidates.push_back(dir + "/" + std::string(name));
  }
  for (const auto& c : candidates)
    if (fs::is_regular_file(c, ec) && ::access(c.c_str(), X_OK) == 0) return c;
  return "";
}

std::string load_source(ScriptSpec& spec, const std::string& esbuild) {
  std::error_code ec;
  if (!fs::is_regular_file(spec.path, ec)) return "cannot read \"" + spec.path + "\": no such file";
  std::string ext = fs::path(spec.path).extension().string();
  if (ext == ".js" || ext == ".mjs") {
    bool ok = false;
    spec.source = read_file(spec.path, 64 * 1024 * 1024, &ok);
    if (!ok) return "cannot read \"" + spec.path + "\"";
    return "";
  }
  if (esbuild.empty()) {
    return "\"" + spec.path +
           "\" is TypeScript and esbuild was not found (run scripts/install-deps.sh, or set "
           "gateway.js_workers.esbuild)";
  }
  char tmpl[] = "/tmp/workgate-esbuild-XXXXXX";
  char* dir = ::mkdtemp(tmpl);
  if (dir == nullptr) return "cannot create a temporary directory for esbuild";
  std::string out = std::string(dir) + "/out.js";
  std::string log = std::string(dir) + "/log";
  int rc = run_tool({esbuild, spec.path, "--bundle", "--format=esm", "--platform=neutral", "--target=es2022",
                     "--external:cloudflare:*", "--external:node:*", "--log-level=error", "--color=false",
                     "--outfile=" + out},
                    log);
  std::string messages = read_file(log, 8192);
  bool ok = false;
  if (rc == 0) spec.source = read_file(out, 64 * 1024 * 1024, &ok);
  fs::remove_all(dir, ec);
  if (rc != 0) return "esbuild cannot bundle it: " + one_line(messages);
  if (!ok) return "esbuild produced no output";
  return "";
}

std::string env_json(const std::vector<std::pair<std::string, std::string>>& env) {
  boost::json::object o;
  for (const auto& [name, value] : env)
    o[name] = value;
  return boost::json::serialize(o);
}

std::string capnp_config(const std::vector<ScriptSpec>& scripts, const std::string& dir, unsigned index,
                         std::size_t heap_limit_mb) {
  std::string pdir = dir + "/p" + std::to_string(index);
  std::string c = "using Workerd = import \"/workerd/workerd.capnp\";\n";
  c += "const config :Workerd.Config = (\n  services = [\n";
  for (std::size_t i = 0; i < scripts.size(); ++i) {
    const ScriptSpec& s = scripts[i];
    std::string n = std::to_string(i);
    c += "    (name = " + capnp_text(service_name(i)) + ", worker = (\n";
    c += "      modules = [\n";
    c += "        (name = \"main" + n + ".js\", esModule = embed " + capnp_text("../mod/main" + n + ".js") +
         "),\n";
    c += "        (name = \"wg-bridge.js\", esModule = embed \"../mod/wg-bridge.js\"),\n";
    c += "        (name = \"wg-context.js\", esModule = embed \"../mod/wg-context.js\"),\n";
    c += "        (name = \"user" + n + ".js\", esModule = embed " + capnp_text("../mod/user" + n + ".js") +
         "),\n";
    c += "      ],\n";
    c += "      compatibilityDate = " +
         capnp_text(s.compatibility_date.empty() ? std::string(kDefaultCompatibilityDate)
                                                 : s.compatibility_date) +
         ",\n";
    c += "      globalOutbound = \"wg-network\",\n";
    c += "      bindings = [\n";
    std::vector<std::string> names;
    if (!s.service) {
      // Every JavaScript binding is reachable as env[BINDING] (RPC, inside workerd).
      for (std::size_t j = 0; j < scripts.size(); ++j) {
        if (scripts[j].service) continue;
        names.push_back(scripts[j].label);
        c += "        (name = " + capnp_text(scripts[j].label) +
             ", service = (name = " + capnp_text(service_name(j)) +
             ", entrypoint = " + capnp_text(exported_class(scripts[j])) + ")),\n";
      }
    }
    for (const auto& [name, value] : s.env) {
      if (std::find(names.begin(), names.end(), name) != names.end()) continue;
      c += "        (name = " + capnp_text(name) + ", text = " + capnp_text(value) + "),\n";
    }
    c += "      ],\n    )),\n";
  }
  c += "    (name = \"wg-health\", worker = (modules = [(name = \"wg-bridge.js\", esModule = embed "
       "\"../mod/wg-bridge.js\")], compatibilityDate = " +
       capnp_text(kDefaultCompatibilityDate) + ")),\n";
  c += "    (name = \"wg-network\", network = (allow = [\"public\", \"private\", \"local\"], tlsOptions = "
       "(trustBrowserCas = true))),\n";
  c += "  ],\n  sockets = [\n";
  for (std::size_t i = 0; i < scripts.size(); ++i) {
    c += "    (name = " + capnp_text("s" + std::to_string(i)) +
         ", address = " + capnp_text("unix:" + pdir + "/" + std::to_string(i) + ".sock") +
         ", http = (style = proxy, cfBlobHeader = \"x-wg-call\"), service = (name = " +
         capnp_text(service_name(i)) + ", entrypoint = \"wgBridge\")),\n";
  }
  c += "    (name = \"health\", address = " + capnp_text("unix:" + pdir + "/health.sock") +
       ", http = (), service = \"wg-health\"),\n";
  c += "  ],\n";
  if (heap_limit_mb > 0)
    c += "  v8Flags = [" + capnp_text("--max-old-space-size=" + std::to_string(heap_limit_mb)) + "],\n";
  c += ");\n";
  return c;
}

std::optional<BlockingAnswer> blocking_call(const std::string& socket_path, const std::string& body,
                                            std::chrono::milliseconds timeout,
                                            const std::atomic<bool>* stop) {
  asio::io_context io;
  asio::local::stream_protocol::socket socket(io);
  beast::flat_buffer buffer;
  beast::http::request<beast::http::string_body> request{beast::http::verb::post, "/", 11};
  request.set(beast::http::field::host, "workgate");
  request.body() = body;
  request.prepare_payload();
  beast::http::response_parser<beast::http::string_body> parser;
  parser.body_limit(16 * 1024 * 1024);
  bool done = false;
  boost::system::error_code result;
  socket.async_connect(
      asio::local::stream_protocol::endpoint(socket_path), [&](boost::system::error_code ec) {
        if (ec) {
          result = ec;
          done = true;
          return;
        }
        beast::http::async_write(socket, request, [&](boost::system::error_code wec, std::size_t) {
          if (wec) {
            result = wec;
            done = true;
            return;
          }
          beast::http::async_read(socket, buffer, parser, [&](boost::system::error_code rec, std::size_t) {
            result = rec;
            done = true;
          });
        });
      });
  const auto deadline = Clock::now() + timeout;
  while (!done && !io.stopped()) {
    if (stop != nullptr && stop->load(std::memory_order_acquire)) break;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) break;
    io.run_for(std::min<std::chrono::milliseconds>(left, std::chrono::milliseconds(20)));
  }
  if (!done || result) return std::nullopt;
  BlockingAnswer answer;
  const auto& res = parser.get();
  answer.status = static_cast<int>(res.result_int());
  answer.result = std::string(bridge_result(res.reason()));
  answer.body = res.body();
  return answer;
}

// ------------------------------------------------------------------------------------------ Engine

Engine::Engine(EngineSettings settings, std::vector<ScriptSpec> scripts)
    : settings_(std::move(settings)), scripts_(std::move(scripts)) {}

std::shared_ptr<Engine> Engine::start(EngineSettings settings, std::vector<ScriptSpec> scripts,
                                      std::vector<config::ConfigError>& errors,
                                      std::optional<std::size_t>* failed_script) {
  if (failed_script != nullptr) failed_script->reset();
  if (settings.processes == 0) settings.processes = 1;
  // The last reference may go on a shard's event loop (a call finishing after a reload) or on the main
  // thread collecting a replaced snapshot: it only queues the engine, the reaper thread stops it.
  std::shared_ptr<Engine> engine(new Engine(std::move(settings), std::move(scripts)), [](Engine* e) {
    Reaper::process().retire("workerd engine", [e] { delete e; });
  });
  if (!engine->prepare(errors)) return nullptr;
  engine->thread_ = std::thread([raw = engine.get()] { raw->supervise(); });
  std::unique_lock lock(engine->mutex_);
  engine->wake_.wait(lock, [&] { return engine->start_done_; });
  if (!engine->start_error_.empty()) {
    std::string error = engine->start_error_;
    lock.unlock();
    // Name the script workerd complained about when its message says which.
    std::string pointer = engine->scripts_.empty() ? "/workers" : engine->scripts_.front().pointer;
    // A binding to a class the module does not export: workerd says `named entrypoint "X", but "wN" has
    // no such named entrypoint`.
    static constexpr std::string_view kNamed = "with a named entrypoint \"";
    // A module that does not load ("Uncaught SyntaxError ... at userN.js:LINE") also leaves its exports
    // missing: report the load error, naming the user's file.
    const bool uncaught = error.find("Uncaught") != std::string::npos;
    for (std::size_t i = 0; uncaught && i < engine->scripts_.size(); ++i) {
      std::string generated = "user" + std::to_string(i) + ".js";
      for (auto at = error.find(generated); at != std::string::npos; at = error.find(generated, at))
        error.replace(at, generated.size(), engine->scripts_[i].path), at += engine->scripts_[i].path.size();
    }
    if (auto at = error.find(kNamed); !uncaught && at != std::string::npos) {
      auto name_end = error.find('"', at + kNamed.size());
      auto service = error.find("but \"w", at);
      if (name_end != std::string::npos && service != std::string::npos) {
        std::size_t index = std::strtoul(error.c_str() + service + 6, nullptr, 10);
        std::string name = error.substr(at + kNamed.size(), name_end - at - kNamed.size());
        if (index < engine->scripts_.size()) {
          errors.push_back({engine->scripts_[index].pointer,
                            "the module has no export \"" + name + "\" (the class \"entrypoint\" names)"});
          if (failed_script != nullptr) *failed_script = index;
          return nullptr;
        }
      }
    }
    for (std::size_t i = 0; i < engine->scripts_.size(); ++i) {
      if (error.find(engine->scripts_[i].path + ":") != std::string::npos ||
          error.find("user" + std::to_string(i) + ".js") != std::string::npos ||
          error.find("main" + std::to_string(i) + ".js") != std::string::npos) {
        pointer = engine->scripts_[i].pointer;
        if (failed_script != nullptr) *failed_script = i;
        break;
      }
    }
    errors.push_back({pointer, error});
    return nullptr;  // ~Engine stops the supervisor, which kills the processes
  }
  return engine;
}

bool Engine::prepare(std::vector<config::ConfigError>& errors) {
  std::error_code ec;
  const char* base = std::getenv("XDG_RUNTIME_DIR");
  std::string root = base != nullptr && *base != '\0' && fs::is_directory(base, ec) ? base : "/tmp";
  std::string tmpl = root + "/workgate-js-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) {
    errors.push_back(
        {"/workers", std::string("cannot create the JavaScript runtime directory: ") + std::strerror(errno)});
    return false;
  }
  dir_ = buf.data();
  ::chmod(dir_.c_str(), 0700);
  fs::create_directory(dir_ + "/mod", ec);
  bool ok = write_file(dir_ + "/mod/wg-bridge.js", kBridgeJs) &&
            write_file(dir_ + "/mod/wg-context.js", context_module(settings_.context.get()));
  for (std::size_t i = 0; i < scripts_.size() && ok; ++i) {
    ok = write_file(dir_ + "/mod/main" + std::to_string(i) + ".js", main_module(scripts_[i], i)) &&
         write_file(dir_ + "/mod/user" + std::to_string(i) + ".js", scripts_[i].source);
  }
  for (unsigned p = 0; p < settings_.processes && ok; ++p) {
    std::string pdir = dir_ + "/p" + std::to_string(p);
    ok = fs::create_directory(pdir, ec) && ::chmod(pdir.c_str(), 0700) == 0;
    auto state = std::make_unique<Process>();
    state->config_path = pdir + "/config.capnp";
    state->log_path = pdir + "/workerd.log";
    ok = ok && write_file(state->config_path, capnp_config(scripts_, dir_, p, settings_.heap_limit_mb));
    for (std::size_t i = 0; i < scripts_.size(); ++i)
      sockets_.push_back(pdir + "/" + std::to_string(i) + ".sock");
    health_sockets_.push_back(pdir + "/health.sock");
    states_.push_back(std::move(state));
  }
  if (!ok || sockets_.front().size() >= 100) {
    errors.push_back({"/workers", "cannot prepare the JavaScript runtime directory " + dir_});
    fs::remove_all(dir_, ec);
    return false;
  }
  return true;
}

Engine::~Engine() {
  const auto begin = Clock::now();
  bool served = false;
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
    served = start_done_ && start_error_.empty();
  }
  stopping_.store(true, std::memory_order_release);
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::error_code ec;
  if (!dir_.empty()) fs::remove_all(dir_, ec);
  if (served) {
    observability::log_info(
        "workerd: {} process(es) stopped in {} ms, runtime dir {} removed", states_.size(),
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - begin).count(), dir_);
  }
}

void Engine::report_timeout(unsigned process) {
  if (process >= states_.size()) return;
  states_[process]->suspect.store(true, std::memory_order_release);
  wake_.notify_all();
}

std::optional<std::vector<std::string>> Engine::describe(std::size_t script, std::string& error) const {
  auto answer = blocking_call(socket(0, script), "{\"op\":\"describe\",\"ctx\":0,\"env\":0,\"body\":0}\n",
                              settings_.startup_timeout);
  if (!answer || answer->result != "describe") {
    error = "workerd did not answer the bridge's check of the script";
    return std::nullopt;
  }
  boost::system::error_code ec;
  auto v = boost::json::parse(answer->body, ec);
  if (ec || !v.is_object()) {
    error = "the bridge's check of the script answered no JSON";
    return std::nullopt;
  }
  const auto& o = v.get_object();
  if (!o.contains("ok") || !o.at("ok").is_bool() || !o.at("ok").get_bool()) {
    const auto* e = o.if_contains("error");
    error = e && e->is_string() ? std::string(e->get_string()) : "the script cannot be used";
    return std::nullopt;
  }
  std::vector<std::string> out;
  if (const auto* f = o.if_contains("functions"); f && f->is_array())
    for (const auto& name : f->get_array())
      if (name.is_string()) out.emplace_back(name.get_string());
  return out;
}

bool Engine::spawn(unsigned index) {
  Process& p = *states_[index];
  std::error_code ec;
  for (std::size_t i = 0; i < scripts_.size(); ++i)
    fs::remove(socket(index, i), ec);
  fs::remove(health_sockets_[index], ec);
  int log = ::open(p.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log < 0) return false;
  std::vector<std::string> argv = {settings_.workerd, "serve", p.config_path};
  std::vector<char*> args;
  for (auto& a : argv)
    args.push_back(a.data());
  args.push_back(nullptr);
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid == 0) {
    // Only async-signal-safe calls until exec. Dies with the supervisor thread (and so the gateway).
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    int null = ::open("/dev/null", O_RDONLY);
    if (null >= 0) ::dup2(null, 0);
    ::dup2(log, 1);
    ::dup2(log, 2);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execve(args[0], args.data(), environ);
    ::_exit(127);
  }
  ::close(log);
  if (pid < 0) return false;
  p.pid = pid;
  p.state = Process::State::kStarting;
  p.started = Clock::now();
  p.suspect.store(false);
  return true;
}

void Engine::kill_process(unsigned index, const char* why) {
  Process& p = *states_[index];
  if (p.pid > 0) {
    ::kill(p.pid, SIGKILL);
    int status = 0;
    while (::waitpid(p.pid, &status, 0) < 0 && errno == EINTR) {
    }
    forward_log(p, index);
    if (why != nullptr)
      observability::log_warn("workerd process {} (pid {}) {}; restarting", index, p.pid, why);
  }
  p.pid = 0;
  p.state = Process::State::kDown;
  p.generation.fetch_add(1, std::memory_order_acq_rel);
}

void Engine::forward_log(Process& p, unsigned index) {
  std::ifstream in(p.log_path, std::ios::binary);
  if (!in) return;
  in.seekg(0, std::ios::end);
  auto size = static_cast<std::uint64_t>(in.tellg());
  if (size < p.log_offset) p.log_offset = 0;
  if (size == p.log_offset) return;
  std::uint64_t want = std::min<std::uint64_t>(size - p.log_offset, 64 * 1024);
  in.seekg(static_cast<std::streamoff>(p.log_offset));
  std::string text(want, '\0');
  in.read(text.data(), static_cast<std::streamsize>(want));
  text.resize(static_cast<std::size_t>(in.gcount()));
  std::size_t end = text.rfind('\n');
  if (end == std::string::npos && text.size() < want) return;  // wait for the rest of the line
  if (end == std::string::npos) end = text.size() - 1;
  p.log_offset += end + 1;
  std::stringstream lines(text.substr(0, end + 1));
  std::string line;
  while (std::getline(lines, line))
    if (!line.empty()) observability::log_info("workerd[{}]: {}", index, one_line(line, 1000));
  if (p.log_offset > 4 * 1024 * 1024) {
    ::truncate(p.log_path.c_str(), 0);
    p.log_offset = 0;
  }
}

std::string Engine::startup_failure(unsigned index) const {
  std::string text = one_line(read_file(states_[index]->log_path, 8192));
  if (text.empty()) text = "no message";
  return "workerd did not start: " + text;
}

void Engine::supervise() {
  const auto probe_every = std::chrono::milliseconds(1000);
  const std::string probe = "{\"op\":\"health\",\"ctx\":0,\"env\":0,\"body\":0}\n";
  bool starting = true;
  for (unsigned i = 0; i < states_.size(); ++i) {
    if (!spawn(i)) {
      std::lock_guard lock(mutex_);
      start_error_ = "cannot start workerd (" + settings_.workerd + ")";
      start_done_ = true;
      wake_.notify_all();
      starting = false;
      break;
    }
  }
  if (!start_error_.empty()) {
    for (unsigned i = 0; i < states_.size(); ++i)
      kill_process(i, nullptr);
    return;
  }
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait_for(lock, std::chrono::milliseconds(100), [&] {
        if (stop_) return true;
        for (const auto& s : states_)
          if (s->suspect.load(std::memory_order_acquire)) return true;
        return false;
      });
      if (stop_) break;
    }
    bool all_up = true;
    for (unsigned i = 0; i < states_.size(); ++i) {
      Process& p = *states_[i];
      const auto now = Clock::now();
      if (p.pid > 0) {
        int status = 0;
        pid_t r = ::waitpid(p.pid, &status, WNOHANG);
        if (r == p.pid) {
          forward_log(p, i);
          if (starting) {
            std::lock_guard lock(mutex_);
            start_error_ = startup_failure(i);
            start_done_ = true;
            wake_.notify_all();
          } else {
            observability::log_error("workerd process {} (pid {}) exited ({} {}); restarting in {} ms", i,
                                     p.pid, WIFSIGNALED(status) ? "signal" : "status",
                                     WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status),
                                     p.backoff.count());
          }
          p.pid = 0;
          p.state = Process::State::kDown;
          p.generation.fetch_add(1, std::memory_order_acq_rel);
          p.restart_at = now + p.backoff;
          p.backoff = std::min<std::chrono::milliseconds>(p.backoff * 2, std::chrono::milliseconds(5000));
        }
      }
      if (starting && start_done_) break;
      forward_log(p, i);
      switch (p.state) {
        case Process::State::kDown:
          all_up = false;
          if (!starting && now >= p.restart_at) {
            if (spawn(i)) {
              restarts_.fetch_add(1, std::memory_order_relaxed);
            } else {
              p.restart_at = now + p.backoff;
            }
          }
          break;
        case Process::State::kStarting: {
          all_up = false;
          if (blocking_call(health_sockets_[i], probe, std::chrono::milliseconds(200), &stopping_)) {
            p.state = Process::State::kUp;
            p.last_probe = Clock::now();
            p.generation.fetch_add(1, std::memory_order_acq_rel);
            if (!starting) observability::log_info("workerd process {} (pid {}) is up again", i, p.pid);
          } else if (now - p.started > settings_.startup_timeout) {
            if (starting) {
              std::lock_guard lock(mutex_);
              start_error_ = "workerd did not become ready within " +
                             std::to_string(settings_.startup_timeout.count()) + " ms";
              start_done_ = true;
              wake_.notify_all();
            }
            kill_process(i, "did not become ready");
            p.restart_at = now + p.backoff;
          }
          break;
        }
        case Process::State::kUp: {
          if (now - p.started > std::chrono::seconds(10)) p.backoff = std::chrono::milliseconds(100);
          bool suspect = p.suspect.exchange(false, std::memory_order_acq_rel);
          if (!suspect && now - p.last_probe < probe_every) break;
          p.last_probe = now;
          if (!blocking_call(health_sockets_[i], probe, settings_.health_timeout, &stopping_)) {
            if (stopping_.load(std::memory_order_acquire)) break;
            kill_process(i, ("did not answer its health check within " +
                             std::to_string(settings_.health_timeout.count()) + " ms")
                                .c_str());
            restarts_.fetch_add(1, std::memory_order_relaxed);
            spawn(i);
          }
          break;
        }
      }
    }
    if (starting && (start_done_ || all_up)) {
      std::lock_guard lock(mutex_);
      if (!start_done_) {
        start_done_ = true;
        observability::log_info("workerd: {} process(es) ready, {} JavaScript worker(s), runtime dir {}",
                                states_.size(), scripts_.size(), dir_);
      }
      wake_.notify_all();
      if (!start_error_.empty()) break;
      starting = false;
    }
  }
  for (unsigned i = 0; i < states_.size(); ++i)
    kill_process(i, nullptr);
}

}  // namespace workgate::workers::js
