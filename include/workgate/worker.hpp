// workgate worker SDK, C++ layer (header-only, C++17 or later, no dependencies beyond the standard library).
//
//   #include <workgate/worker.hpp>
//
//   struct Greeter {
//     explicit Greeter(const workgate::Init& init) : greeting(init.env().get("GREETING").value_or("hi")) {}
//     workgate::Result hello(workgate::Call& call) {
//       return workgate::Result::json(
//           workgate::JsonWriter().begin_object().field("greeting", greeting).field("path",
//           call.request().path())
//               .end_object().take());
//     }
//     std::string greeting;
//   };
//   WORKGATE_WORKER(Greeter, WORKGATE_METHOD(hello))
//
// One instance of the class is created per binding that names the module (its constructor takes a
// `const workgate::Init&` or nothing; an exception fails the config load with its message). Functions take
// a `workgate::Call&` and return a `workgate::Result`. Every view a Call hands out is valid only until the
// function returns: an asynchronous function copies what it needs before returning Result::pending().
// Synchronous functions run on the gateway's event loop: they must not block. See docs/workers.md.
#ifndef WORKGATE_WORKER_HPP
#define WORKGATE_WORKER_HPP

#include <workgate/worker.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace workgate {

inline std::string_view to_view(wg_str s) {
  return s.data == nullptr ? std::string_view() : std::string_view(s.data, s.size);
}
inline wg_str to_wg(std::string_view s) {
  return wg_str{s.data(), s.size()};
}

inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    unsigned char x = static_cast<unsigned char>(a[i]), y = static_cast<unsigned char>(b[i]);
    if (x >= 'A' && x <= 'Z') x = static_cast<unsigned char>(x + 32);
    if (y >= 'A' && y <= 'Z') y = static_cast<unsigned char>(y + 32);
    if (x != y) return false;
  }
  return true;
}

// A read-only view of name/value pairs (header fields, path parameters, environment variables).
class Pairs {
 public:
  struct Entry {
    std::string_view name;
    std::string_view value;
  };
  class iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = Entry;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = Entry;
    explicit iterator(const wg_pair* p) : p_(p) {}
    Entry operator*() const { return Entry{to_view(p_->name), to_view(p_->value)}; }
    iterator& operator++() {
      ++p_;
      return *this;
    }
    iterator operator++(int) {
      iterator old = *this;
      ++p_;
      return old;
    }
    bool operator==(const iterator& o) const { return p_ == o.p_; }
    bool operator!=(const iterator& o) const { return p_ != o.p_; }

   private:
    const wg_pair* p_;
  };

  Pairs() = default;
  Pairs(const wg_pair* data, std::size_t size, bool case_insensitive)
      : data_(data), size_(data == nullptr ? 0 : size), case_insensitive_(case_insensitive) {}

  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  Entry operator[](std::size_t i) const { return Entry{to_view(data_[i].name), to_view(data_[i].value)}; }
  iterator begin() const { return iterator(data_); }
  iterator end() const { return iterator(data_ + size_); }

  // The first value of `name` (header names compare case-insensitively, other names exactly).
  std::optional<std::string_view> get(std::string_view name) const {
    for (std::size_t i = 0; i < size_; ++i) {
      std::string_view n = to_view(data_[i].name);
      if (case_insensitive_ ? iequals(n, name) : n == name) return to_view(data_[i].value);
    }
    return std::nullopt;
  }
  bool contains(std::string_view name) const { return get(name).has_value(); }

 private:
  const wg_pair* data_ = nullptr;
  std::size_t size_ = 0;
  bool case_insensitive_ = false;
};

// application/x-www-form-urlencoded decoding ('+' is a space; a malformed %XX is kept as is).
inline std::string form_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2])));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// The first value of parameter `name` in a raw query string (without '?'), decoded; like
// URLSearchParams.get().
inline std::optional<std::string> query_param(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    std::size_t amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (part.empty()) continue;
    std::size_t eq = part.find('=');
    std::string_view key = part.substr(0, eq);
    std::string_view value = eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1);
    if (key == name || form_decode(key) == name) return form_decode(value);
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------- JSON

// Appends `s` as a JSON string literal; invalid UTF-8 becomes U+FFFD (like TextDecoder).
inline void append_json_string(std::string& out, std::string_view s) {
  static const char* const kHex = "0123456789abcdef";
  out.push_back('"');
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  std::size_t n = s.size();
  for (std::size_t i = 0; i < n;) {
    // Copy the run of characters that need no escaping in one go.
    std::size_t run = i;
    while (run < n && p[run] >= 0x20 && p[run] < 0x80 && p[run] != '"' && p[run] != '\\')
      ++run;
    if (run > i) {
      out.append(s.data() + i, run - i);
      i = run;
      continue;
    }
    unsigned char c = p[i];
    if (c < 0x80) {
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
        case '\b':
          out += "\\b";
          break;
        case '\f':
          out += "\\f";
          break;
        default:
          if (c < 0x20) {
            out += "\\u00";
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 15]);
          } else {
            out.push_back(static_cast<char>(c));
          }
      }
      ++i;
      continue;
    }
    // Multi-byte sequence: validate (no overlongs, no surrogates, <= U+10FFFF).
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07;
    }
    bool ok = len != 0 && i + len <= n;
    for (std::size_t k = 1; ok && k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) ok = false;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if (ok) {
      ok = !(len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) &&
           !(len == 4 && (cp < 0x10000 || cp > 0x10FFFF));
    }
    if (ok) {
      out.append(s.data() + i, len);
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  out.push_back('"');
}

inline std::string json_quote(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  append_json_string(out, s);
  return out;
}

// Builds JSON text without a DOM: commas and key/value separators are handled for you.
//   JsonWriter().begin_object().field("a",
//   1).key("b").begin_array().value("x").end_array().end_object().take()
class JsonWriter {
 public:
  JsonWriter& begin_object() {
    before_value();
    out_.push_back('{');
    stack_.push_back(false);
    return *this;
  }
  JsonWriter& end_object() {
    out_.push_back('}');
    stack_.pop_back();
    return *this;
  }
  JsonWriter& begin_array() {
    before_value();
    out_.push_back('[');
    stack_.push_back(false);
    return *this;
  }
  JsonWriter& end_array() {
    out_.push_back(']');
    stack_.pop_back();
    return *this;
  }
  JsonWriter& key(std::string_view k) {
    if (!stack_.empty()) {
      if (stack_.back()) out_.push_back(',');
      stack_.back() = true;
    }
    append_json_string(out_, k);
    out_.push_back(':');
    after_key_ = true;
    return *this;
  }
  JsonWriter& value(std::string_view s) {
    before_value();
    append_json_string(out_, s);
    return *this;
  }
  JsonWriter& value(const char* s) { return s == nullptr ? null() : value(std::string_view(s)); }
  JsonWriter& value(const std::string& s) { return value(std::string_view(s)); }
  JsonWriter& value(bool b) {
    before_value();
    out_ += b ? "true" : "false";
    return *this;
  }
  template <typename T, typename std::enable_if<std::is_integral<T>::value && !std::is_same<T, bool>::value,
                                                int>::type = 0>
  JsonWriter& value(T n) {
    before_value();
    out_ += std::to_string(n);
    return *this;
  }
  JsonWriter& value(double d) {
    before_value();
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.17g", d);
    out_ += buf;
    return *this;
  }
  template <typename T>
  JsonWriter& value(const std::optional<T>& v) {
    return v ? value(*v) : null();
  }
  JsonWriter& null() {
    before_value();
    out_ += "null";
    return *this;
  }
  // Inserts already-serialized JSON text as one value.
  JsonWriter& raw(std::string_view json) {
    before_value();
    out_.append(json.data(), json.size());
    return *this;
  }
  template <typename T>
  JsonWriter& field(std::string_view k, const T& v) {
    key(k);
    return value(v);
  }
  JsonWriter& raw_field(std::string_view k, std::string_view json) {
    key(k);
    return raw(json);
  }

  const std::string& str() const { return out_; }
  std::string take() { return std::move(out_); }

 private:
  void before_value() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (!stack_.empty()) {
      if (stack_.back()) out_.push_back(',');
      stack_.back() = true;
    }
  }
  std::string out_;
  std::vector<bool> stack_;  // per open container: has items
  bool after_key_ = false;
};

// ------------------------------------------------------------------------------------- call views

enum class CallKind : std::uint32_t {
  kServiceBinding = WG_CALL_SERVICE_BINDING,
  kService = WG_CALL_SERVICE,
  kPreProcess = WG_CALL_PRE_PROCESS,
  kPostProcess = WG_CALL_POST_PROCESS,
};

enum class LogLevel : std::int32_t {
  kDebug = WG_LOG_DEBUG,
  kInfo = WG_LOG_INFO,
  kWarn = WG_LOG_WARN,
  kError = WG_LOG_ERROR
};

class Request {
 public:
  explicit Request(const wg_call* c) : c_(c) {}
  std::string_view method() const { return to_view(c_->method); }
  std::string_view path() const { return to_view(c_->path); }
  // Raw query without '?'.
  std::string_view query() const { return to_view(c_->query); }
  bool has_query() const { return c_->has_query != 0; }
  // Like URL.search: "?" + query, or "" when the query is empty.
  std::string search() const { return query().empty() ? std::string() : "?" + std::string(query()); }
  std::optional<std::string> query_param(std::string_view name) const {
    return workgate::query_param(query(), name);
  }
  Pairs headers() const { return Pairs(c_->headers, c_->header_count, true); }
  std::optional<std::string_view> header(std::string_view name) const { return headers().get(name); }
  // The body bytes (text and bytes are the same view; parse JSON with the library of your choice).
  std::string_view body() const { return to_view(c_->body); }
  const unsigned char* body_data() const { return reinterpret_cast<const unsigned char*>(c_->body.data); }
  std::size_t body_size() const { return c_->body.size; }

 private:
  const wg_call* c_;
};

// The response a post_process hook receives.
class ResponseView {
 public:
  explicit ResponseView(const wg_call* c) : c_(c) {}
  int status() const { return c_->response_status; }
  Pairs headers() const { return Pairs(c_->response_headers, c_->response_header_count, true); }
  std::optional<std::string_view> header(std::string_view name) const { return headers().get(name); }
  std::string_view body() const { return to_view(c_->response_body); }

 private:
  const wg_call* c_;
};

// The environment variables the worker declared (and that are set). Names compare exactly.
class Env {
 public:
  Env() = default;
  Env(const wg_pair* data, std::size_t size) : pairs_(data, size, false) {}
  std::optional<std::string_view> get(std::string_view name) const { return pairs_.get(name); }
  bool contains(std::string_view name) const { return pairs_.contains(name); }
  std::size_t size() const { return pairs_.size(); }
  Pairs::iterator begin() const { return pairs_.begin(); }
  Pairs::iterator end() const { return pairs_.end(); }
  std::vector<std::string_view> names() const {
    std::vector<std::string_view> out;
    for (auto e : pairs_)
      out.push_back(e.name);
    return out;
  }

 private:
  Pairs pairs_;
};

class Context {
 public:
  explicit Context(const wg_call* c) : c_(c) {}
  std::string_view binding() const { return to_view(c_->binding); }
  std::string_view function() const { return to_view(c_->function); }
  // The matched route's path as written in the config ("/items/{id}").
  std::string_view route_path() const { return to_view(c_->route_path); }
  Pairs params() const { return Pairs(c_->params, c_->param_count, false); }
  std::optional<std::string_view> param(std::string_view name) const { return params().get(name); }
  std::string_view request_id() const { return to_view(c_->host->request_id(c_)); }
  // Verified JWT claims as JSON text ("null" without a verified token); produced when asked.
  std::string_view claims_json() const { return to_view(c_->host->claims_json(c_)); }
  // One claim as JSON text, nullopt when absent.
  std::optional<std::string_view> claim_json(std::string_view name) const {
    wg_str s = c_->host->claim_json(c_, to_wg(name));
    if (s.data == nullptr) return std::nullopt;
    return to_view(s);
  }
  // A string claim's value, nullopt when absent or not a string.
  std::optional<std::string_view> claim_string(std::string_view name) const {
    wg_str out{nullptr, 0};
    if (c_->host->claim_string(c_, to_wg(name), &out) == 0) return std::nullopt;
    return to_view(out);
  }
  // Route variables over global variables, as a JSON object.
  std::string_view variables_json() const { return to_view(c_->host->variables_json(c_)); }
  // The worker declaration's `config` as JSON text.
  std::string_view config_json() const { return to_view(c_->host->config_json(c_)); }

 private:
  const wg_call* c_;
};

class Result;

// The handle of an asynchronous call. Call it exactly once, from any thread, with the result; destroying
// it without calling it completes the call with an error. Move-only.
class Completion {
 public:
  Completion() = default;
  Completion(const wg_host* host, wg_result* result) : host_(host), result_(result) {}
  Completion(Completion&& o) noexcept : host_(o.host_), result_(std::exchange(o.result_, nullptr)) {}
  Completion& operator=(Completion&& o) noexcept {
    if (this != &o) {
      abandon();
      host_ = o.host_;
      result_ = std::exchange(o.result_, nullptr);
    }
    return *this;
  }
  Completion(const Completion&) = delete;
  Completion& operator=(const Completion&) = delete;
  ~Completion() { abandon(); }

  explicit operator bool() const { return result_ != nullptr; }
  inline void operator()(Result result);

 private:
  void abandon() {
    if (result_ == nullptr) return;
    static const char kMessage[] = "completion dropped without a result";
    host_->fail(result_, wg_str{kMessage, sizeof(kMessage) - 1});
    host_->complete(std::exchange(result_, nullptr), WG_ERROR);
  }
  const wg_host* host_ = nullptr;
  wg_result* result_ = nullptr;
};

class Call {
 public:
  explicit Call(const wg_call* c) : c_(c) {}
  CallKind kind() const { return static_cast<CallKind>(c_->kind); }
  Request request() const { return Request(c_); }
  Env env() const { return Env(c_->env, c_->env_count); }
  Context context() const { return Context(c_); }
  // post_process only.
  ResponseView response() const { return ResponseView(c_); }
  // Makes the call asynchronous: return Result::pending() and complete the handle later.
  Completion defer() const { return Completion(c_->host, c_->host->defer(c_)); }
  void log(LogLevel level, std::string_view message) const {
    c_->host->log(static_cast<std::int32_t>(level), to_wg(message));
  }
  const wg_call* raw() const { return c_; }

 private:
  const wg_call* c_;
};

// ------------------------------------------------------------------------------------------ results

// What a function returns.
//   Result::next()                      continue (hooks); for an integration: nothing (400 like the original)
//   Result::response(status)...         a response; chain .header()/.set_header()/.body()
//   Result::json(text), ::string(s), ::null()   a value wrapped into the JSON envelope
//   Result::next().set_request_header(...)...   pre_process: continue with a changed request
//   Result::next().set_header(...)...           post_process: continue with the response changed
//   Result::error(message)              500 {"message":"Internal server error"}; message goes to the log
//   Result::pending()                   after call.defer()
class Result {
 public:
  enum class Kind { kContinue, kResponse, kJson, kString, kError, kPending };

  static Result next() { return Result(Kind::kContinue); }
  static Result response(int status) {
    Result r(Kind::kResponse);
    r.status_ = status;
    return r;
  }
  static Result text(int status, std::string body, std::string_view content_type = "text/plain") {
    Result r = response(status);
    r.set_header("Content-Type", content_type);
    r.body_ = std::move(body);
    return r;
  }
  // A JSON body sent as is (no envelope).
  static Result json_response(int status, std::string json) {
    return text(status, std::move(json), "application/json");
  }
  static Result json(std::string json_text) {
    Result r(Kind::kJson);
    r.value_ = std::move(json_text);
    return r;
  }
  static Result string(std::string s) {
    Result r(Kind::kString);
    r.value_ = std::move(s);
    return r;
  }
  static Result null() { return json("null"); }
  static Result error(std::string message) {
    Result r(Kind::kError);
    r.value_ = std::move(message);
    return r;
  }
  static Result pending() { return Result(Kind::kPending); }

  Kind kind() const { return kind_; }

  // Response (the new one, or in post_process the one being edited).
  Result& status(int status) {
    status_ = status;
    return *this;
  }
  Result& header(std::string_view name, std::string_view value) { return op(kAdd, name, value); }
  Result& set_header(std::string_view name, std::string_view value) { return op(kSet, name, value); }
  Result& remove_header(std::string_view name) { return op(kRemove, name, {}); }
  Result& body(std::string body) {
    body_ = std::move(body);
    return *this;
  }
  // Request changes (pre_process).
  Result& set_request_header(std::string_view name, std::string_view value) {
    return op(kReqSet, name, value);
  }
  Result& add_request_header(std::string_view name, std::string_view value) {
    return op(kReqAdd, name, value);
  }
  Result& remove_request_header(std::string_view name) { return op(kReqRemove, name, {}); }
  Result& set_path(std::string path) {
    path_ = std::move(path);
    return *this;
  }
  Result& set_query(std::string query) {
    query_ = std::move(query);
    return *this;
  }
  Result& clear_query() {
    query_ = std::string();
    query_cleared_ = true;
    return *this;
  }
  Result& set_request_body(std::string body) {
    request_body_ = std::move(body);
    return *this;
  }

  // Hands the result to the gateway; returns the function's return code.
  std::int32_t commit(const wg_host* host, wg_result* r) const {
    switch (kind_) {
      case Kind::kPending:
        return WG_PENDING;
      case Kind::kError:
        host->fail(r, to_wg(value_));
        return WG_ERROR;
      case Kind::kJson:
        host->return_json(r, to_wg(value_));
        return WG_OK;
      case Kind::kString:
        host->return_string(r, to_wg(value_));
        return WG_OK;
      case Kind::kResponse:
        host->respond(r, status_);
        break;
      case Kind::kContinue:
        if (status_ != 0) host->set_status(r, status_);
        break;
    }
    for (const Op& o : ops_) {
      switch (o.type) {
        case kAdd:
          host->add_header(r, to_wg(o.name), to_wg(o.value));
          break;
        case kSet:
          host->set_header(r, to_wg(o.name), to_wg(o.value));
          break;
        case kRemove:
          host->remove_header(r, to_wg(o.name));
          break;
        case kReqAdd:
          host->request_add_header(r, to_wg(o.name), to_wg(o.value));
          break;
        case kReqSet:
          host->request_set_header(r, to_wg(o.name), to_wg(o.value));
          break;
        case kReqRemove:
          host->request_remove_header(r, to_wg(o.name));
          break;
      }
    }
    if (body_) host->set_body(r, to_wg(*body_));
    if (path_) host->request_set_path(r, to_wg(*path_));
    if (query_) host->request_set_query(r, to_wg(*query_), query_cleared_ ? 0 : 1);
    if (request_body_) host->request_set_body(r, to_wg(*request_body_));
    return WG_OK;
  }

 private:
  enum OpType { kAdd, kSet, kRemove, kReqAdd, kReqSet, kReqRemove };
  struct Op {
    OpType type;
    std::string name;
    std::string value;
  };
  explicit Result(Kind kind) : kind_(kind) {}
  Result& op(OpType type, std::string_view name, std::string_view value) {
    ops_.push_back(Op{type, std::string(name), std::string(value)});
    return *this;
  }

  Kind kind_;
  int status_ = 0;
  std::string value_;
  std::vector<Op> ops_;
  std::optional<std::string> body_;
  std::optional<std::string> path_;
  std::optional<std::string> query_;
  bool query_cleared_ = false;
  std::optional<std::string> request_body_;
};

inline void Completion::operator()(Result result) {
  if (result_ == nullptr) return;
  std::int32_t rc = result.commit(host_, result_);
  if (rc == WG_PENDING) {
    static const char kMessage[] = "completed with Result::pending()";
    host_->fail(result_, wg_str{kMessage, sizeof(kMessage) - 1});
    rc = WG_ERROR;
  }
  host_->complete(std::exchange(result_, nullptr), rc);
}

// ------------------------------------------------------------------------------------------- init

class Init {
 public:
  explicit Init(const wg_init* i) : i_(i) {}
  std::string_view binding() const { return to_view(i_->binding); }
  // The declaration's `config` as JSON text ("null" when absent).
  std::string_view config_json() const { return to_view(i_->config_json); }
  Env env() const { return Env(i_->env, i_->env_count); }
  std::string_view module_path() const { return to_view(i_->module_path); }
  const wg_host* host() const { return i_->host; }
  void log(LogLevel level, std::string_view message) const {
    i_->host->log(static_cast<std::int32_t>(level), to_wg(message));
  }

 private:
  const wg_init* i_;
};

// For modules whose functions are free functions.
struct Stateless {};

namespace detail {

template <typename M>
struct method_class;
template <typename C, typename R, typename A>
struct method_class<R (C::*)(A)> {
  using type = C;
};
template <typename C, typename R, typename A>
struct method_class<R (C::*)(A) const> {
  using type = C;
};
template <typename C, typename R, typename A>
struct method_class<R (C::*)(A) noexcept> {
  using type = C;
};
template <typename C, typename R, typename A>
struct method_class<R (C::*)(A) const noexcept> {
  using type = C;
};

inline std::int32_t fail_with(const wg_call* c, wg_result* r, const char* message) {
  c->host->fail(r, wg_str{message, std::strlen(message)});
  return WG_ERROR;
}

template <auto F>
std::int32_t trampoline(const wg_call* c, wg_result* r) noexcept {
  try {
    Call call(c);
    if constexpr (std::is_member_function_pointer<decltype(F)>::value) {
      using C = typename method_class<decltype(F)>::type;
      if (c->instance == nullptr) return fail_with(c, r, "worker instance missing");
      Result result = (static_cast<C*>(c->instance)->*F)(call);
      return result.commit(c->host, r);
    } else {
      Result result = F(call);
      return result.commit(c->host, r);
    }
  } catch (const std::exception& e) {
    return fail_with(c, r, e.what());
  } catch (...) {
    return fail_with(c, r, "unknown exception");
  }
}

inline void copy_message(char* error, std::size_t size, const char* message) {
  if (error == nullptr || size == 0) return;
  std::size_t n = std::strlen(message);
  if (n >= size) n = size - 1;
  std::memcpy(error, message, n);
  error[n] = '\0';
}

template <typename T>
std::int32_t init_instance(const wg_init* init, void** instance, char* error,
                           std::size_t error_size) noexcept {
  try {
    if constexpr (std::is_constructible<T, const Init&>::value) {
      *instance = new T(Init(init));
    } else {
      *instance = new T();
    }
    return WG_OK;
  } catch (const std::exception& e) {
    copy_message(error, error_size, e.what());
  } catch (...) {
    copy_message(error, error_size, "unknown exception");
  }
  return WG_ERROR;
}

template <typename T>
void destroy_instance(void* instance) noexcept {
  delete static_cast<T*>(instance);
}

template <typename T>
constexpr wg_module make_module(const char* name, const wg_function* functions, std::size_t count) {
  return wg_module{WORKGATE_ABI_VERSION, sizeof(wg_module), name, &init_instance<T>,
                   &destroy_instance<T>, functions,         count};
}

}  // namespace detail

// A table entry: fn<&Class::method>("name") or fn<&free_function>("name"). Functions take `Call&` and
// return `Result`.
template <auto F>
constexpr wg_function fn(const char* name) {
  return wg_function{name, &detail::trampoline<F>};
}

}  // namespace workgate

// Defines the module entry point for class `Type` and its functions:
//   WORKGATE_WORKER(Orders, WORKGATE_METHOD(list), WORKGATE_METHOD(get), workgate::fn<&helper>("helper"))
#define WORKGATE_WORKER(Type, ...)                                                              \
  extern "C" WORKGATE_EXPORT const wg_module* workgate_worker_entry(void) {                     \
    using WorkgateSelf [[maybe_unused]] = Type;                                                 \
    static const wg_function workgate_functions[] = {__VA_ARGS__};                              \
    static const wg_module workgate_module = ::workgate::detail::make_module<Type>(             \
        #Type, workgate_functions, sizeof(workgate_functions) / sizeof(workgate_functions[0])); \
    return &workgate_module;                                                                    \
  }

// A method of the class named in WORKGATE_WORKER, registered under its own name.
#define WORKGATE_METHOD(name) ::workgate::fn<&WorkgateSelf::name>(#name)

// A module of free functions: WORKGATE_FUNCTIONS(workgate::fn<&hello>("hello"))
#define WORKGATE_FUNCTIONS(...) WORKGATE_WORKER(::workgate::Stateless, __VA_ARGS__)

#endif  // WORKGATE_WORKER_HPP
