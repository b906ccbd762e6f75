// workgate worker SDK: Result, what a function returns, and its translation into wg_host calls. Part of
// <workgate/worker.hpp>.
#ifndef WORKGATE_WORKER_RESULT_HPP
#define WORKGATE_WORKER_RESULT_HPP

#include <workgate/worker.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>
#include <workgate/worker/string.hpp>

namespace workgate {

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

}  // namespace workgate

#endif  // WORKGATE_WORKER_RESULT_HPP
