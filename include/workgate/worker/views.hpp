// workgate worker SDK: read-only views of a call (Pairs, Request, ResponseView, Env, Context). Every view
// is valid only until the function that received the call returns. Part of <workgate/worker.hpp>.
#ifndef WORKGATE_WORKER_VIEWS_HPP
#define WORKGATE_WORKER_VIEWS_HPP

#include <workgate/worker.h>

#include <cstddef>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <vector>
#include <workgate/worker/query.hpp>
#include <workgate/worker/string.hpp>

namespace workgate {

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

}  // namespace workgate

#endif  // WORKGATE_WORKER_VIEWS_HPP
