// The gateway's side of the worker ABI: the wg_host function table, the result a function fills
// (wg_result), and invoking a bound function synchronously or asynchronously with a timeout.
#pragma once

#include <workgate/worker.h>

#include <boost/asio/io_context.hpp>
#include <boost/json/object.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "http/message.hpp"
#include "router/router.hpp"
#include "workers/module.hpp"

namespace workgate::workers {

struct HeaderOp {
  enum Type { kSet, kAdd, kRemove } type;
  std::string name;
  std::string value;
};

// Everything a function can answer, recorded by the wg_host result functions.
struct ResultData {
  enum class Kind { kNone, kResponse, kJson, kString, kError };
  Kind kind = Kind::kNone;
  // Response: replace is true after respond() (a new response); otherwise the ops edit the response the
  // call started from (post_process) or an empty 200 response.
  bool replace = false;
  int status = 0;  // 0: unchanged (edit) / 200 (new response)
  std::vector<HeaderOp> response_ops;
  std::optional<std::string> response_body;
  std::string value;  // kJson: JSON text; kString: the body; kError: the message
  // Request changes (pre_process).
  std::vector<HeaderOp> request_ops;
  std::optional<std::string> path;
  std::optional<std::string> query;
  bool has_query = false;
  std::optional<std::string> request_body;

  bool changes_request() const { return !request_ops.empty() || path || query || request_body; }
};

class AsyncState;

}  // namespace workgate::workers

// The opaque handle of worker.h.
struct wg_result {
  workgate::workers::ResultData data;
  workgate::workers::AsyncState* async = nullptr;  // set for deferred results
};

namespace workgate::workers {

const wg_host& host_table();

// What a call sees; views valid during invoke().
struct CallInput {
  std::uint32_t kind = WG_CALL_SERVICE_BINDING;
  const http::Request* request = nullptr;
  std::string_view route_path;
  std::span<const router::PathParam> params;
  const boost::json::object* claims = nullptr;  // verified JWT claims, null without
  std::string_view variables_json = "{}";
  // The request id, produced on demand.
  std::string_view (*request_id)(void* arg) = nullptr;
  void* request_id_arg = nullptr;
  const http::Response* response = nullptr;  // post_process
};

struct Outcome {
  enum class Status { kOk, kError, kTimeout };
  Status status = Status::kOk;
  ResultData result;
};

class Waiter;

// The shared state of one asynchronous call: the worker fills `result` and calls complete() from any
// thread; the event loop delivers it unless the timeout fired first. Late or abandoned completions are
// dropped. The worker's reference (self_) is released by complete().
class AsyncState {
 public:
  enum class Phase { kCreated, kCompletedEarly, kArmed, kCompleted, kTimedOut, kAbandoned };

  explicit AsyncState(std::string label) : label_(std::move(label)) { result_.async = this; }

  wg_result* result() { return &result_; }
  const std::string& label() const { return label_; }
  Phase phase();

  // wg_host::complete.
  static void complete(wg_result* result, std::int32_t status);

  // The function returned without WG_PENDING after defer(): a later completion is ignored.
  void abandon();

 private:
  friend class Waiter;
  friend void arm(const std::shared_ptr<AsyncState>&, boost::asio::io_context&, std::chrono::milliseconds,
                  std::function<void(Outcome)>);
  friend wg_result* host_defer(const wg_call*);

  std::mutex mutex_;
  Phase phase_ = Phase::kCreated;
  wg_result result_;
  std::int32_t status_ = WG_OK;
  std::shared_ptr<AsyncState> self_;  // the worker's reference
  boost::asio::io_context* io_ = nullptr;
  std::weak_ptr<Waiter> waiter_;
  std::string label_;  // "BINDING.function" for logs
};

struct Invocation {
  std::optional<Outcome> done;          // the function completed synchronously
  std::shared_ptr<AsyncState> pending;  // the function returned WG_PENDING: pass it to arm()
};

// Calls `fn` on the calling thread.
Invocation invoke(const BoundFunction& fn, const CallInput& input);

// Waits for a pending call on `io`: `on_done` runs on `io`'s thread exactly once, with the worker's outcome
// or, after `timeout`, with Status::kTimeout. Must be called on `io`'s thread.
void arm(const std::shared_ptr<AsyncState>& state, boost::asio::io_context& io,
         std::chrono::milliseconds timeout, std::function<void(Outcome)> on_done);

}  // namespace workgate::workers
