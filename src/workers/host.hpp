// The gateway's side of the worker ABI: the wg_host function table, the result a function fills, and
// invoking a bound function synchronously or asynchronously with a timeout.
//
// A wg_result* handed to a worker is a handle, never a pointer into gateway memory: it names one call
// (a synchronous call by a serial number unique in the process, a deferred result by a slot of the
// async table and the slot's generation). The host resolves it on every use; a handle whose call has
// completed, timed out or been abandoned (or any other value) resolves to nothing, so a duplicate or
// late completion, or a write after completion, is ignored (and logged, rate-limited) and can never
// reach another request.
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
#include "http/request_handler.hpp"
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

// What a result may hold (from the config's `gateway` block): a function that goes past a limit fails.
struct ResultLimits {
  std::size_t max_body_bytes = 10 * 1024 * 1024;  // each body, JSON value or string
  std::size_t max_header_bytes = 16 * 1024;       // each header name + value, the path, the query
  std::size_t max_headers = 100;                  // header changes per list (response, request)
};

// A failure message or a worker's log message is kept up to this many bytes.
inline constexpr std::size_t kMaxWorkerMessageBytes = 4096;

// `text` for one log line: at most `cap` bytes of it, then "...[truncated]"; CR, LF, TAB, other C0
// controls, DEL, C1 controls, U+2028/U+2029, backslash and invalid UTF-8 escaped (\r, \n, \t, \\,
// \xNN, \u2028).
std::string loggable_text(std::string_view text, std::size_t cap = kMaxWorkerMessageBytes);

// The UTF-8 sequence at text[at]: its length, with its code point in `cp`; 0 when it is not well-formed
// (a stray or overlong byte, a surrogate, past U+10FFFF, cut short).
std::size_t decode_utf8(std::string_view text, std::size_t at, std::uint32_t& cp);

class AsyncState;

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
  ResultLimits limits;
};

struct Outcome {
  // kUnavailable: workerd down (JavaScript). kRequestBody: the client's request cannot reach the
  // JavaScript function: its streamed body failed (too large, stalled, malformed) or its head is too large
  // for workerd; `body_error` is the client's answer.
  enum class Status { kOk, kError, kTimeout, kUnavailable, kRequestBody };
  Status status = Status::kOk;
  http::ProtocolError body_error = http::ProtocolError::kBadRequest;
  ResultData result;
};

class Waiter;

// The shared state of one asynchronous call. The gateway owns it (Invocation::pending, then the waiter on
// the event loop); the worker only holds a handle that the async table resolves to it while the call is
// open. complete() closes the handle; the event loop then delivers the result unless the timeout fired
// first. At the timeout (or when the call is abandoned) the handle is closed and the state freed: a later
// completion is a stale one.
class AsyncState {
 public:
  enum class Phase { kCreated, kCompletedEarly, kArmed, kCompleted, kTimedOut, kAbandoned };

  AsyncState(std::string label, const ResultLimits& limits) : label_(std::move(label)), limits_(limits) {}
  ~AsyncState();

  wg_result* handle() const { return handle_; }
  const std::string& label() const { return label_; }
  Phase phase();

  // wg_host::complete.
  static void complete(wg_result* result, std::int32_t status);

  // The function returned without WG_PENDING after defer(): a later completion is ignored.
  void abandon();

 private:
  friend class Waiter;
  friend std::weak_ptr<http::Cancellable> arm(const std::shared_ptr<AsyncState>&, boost::asio::io_context&,
                                              std::chrono::milliseconds, std::function<void(Outcome)>);
  friend wg_result* host_defer(const wg_call*);
  friend struct AsyncAccess;

  std::mutex mutex_;  // guards everything below but handle_ (set once before the worker sees it)
  Phase phase_ = Phase::kCreated;
  ResultData data_;
  std::int32_t status_ = WG_OK;
  // The loop of the shard that armed the call. A plain pointer is safe: it is used only under mutex_ while
  // phase_ is kArmed, and the phase leaves kArmed no later than the Waiter's destruction, which the loop
  // causes before it goes (the Waiter is owned by the loop's queued timer handler, and a shard closes its
  // connections, cancelling their waiters, and runs those completions before destroying its loop: see
  // ~Shard in src/http/shard.cpp).
  boost::asio::io_context* io_ = nullptr;
  std::weak_ptr<Waiter> waiter_;
  std::string label_;  // "BINDING.function" for logs
  ResultLimits limits_;
  wg_result* handle_ = nullptr;
};

// Diagnostics (tests): open deferred results in the async table, and the stale handle uses ignored so
// far (duplicate or late completions, writes after completion, unknown handles, stale calls).
std::size_t open_async_calls();
std::uint64_t stale_handle_uses();

struct Invocation {
  std::optional<Outcome> done;          // the function completed synchronously
  std::shared_ptr<AsyncState> pending;  // the function returned WG_PENDING: pass it to arm()
};

// Calls `fn` on the calling thread.
Invocation invoke(const BoundFunction& fn, const CallInput& input);

// Keeps the memory of a result's text that has been used (up to 4 KiB) for the next invoke() on this
// thread, so that a function returning JSON allocates nothing per call; `text` is left empty.
void recycle_result_text(std::string& text);

// Waits for a pending call on `io`: `on_done` runs on `io`'s thread exactly once, with the worker's outcome
// or, after `timeout`, with Status::kTimeout. Must be called on `io`'s thread. The handle abandons the call
// (the client went away): `on_done` never runs, the worker's handle is closed and the state freed.
std::weak_ptr<http::Cancellable> arm(const std::shared_ptr<AsyncState>& state, boost::asio::io_context& io,
                                     std::chrono::milliseconds timeout, std::function<void(Outcome)> on_done);

}  // namespace workgate::workers
