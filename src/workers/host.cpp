#include "workers/host.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/serialize.hpp>
#include <deque>

#include "observability/log.hpp"

namespace workgate::workers {
namespace {

std::string_view view(wg_str s) {
  return s.data == nullptr ? std::string_view() : std::string_view(s.data, s.size);
}
wg_str str(std::string_view s) {
  return wg_str{s.data(), s.size()};
}

// The gateway-side state of one synchronous invocation (wg_call::host_data).
struct CallFrame {
  const CallInput* input = nullptr;
  const BoundFunction* fn = nullptr;
  std::string claims_json;
  bool claims_ready = false;
  std::deque<std::string> scratch;  // strings handed out during the call
  std::shared_ptr<AsyncState> deferred;
};

CallFrame& frame(const wg_call* call) {
  return *static_cast<CallFrame*>(call->host_data);
}

// ------------------------------------------------------------------------------------------ context

wg_str host_request_id(const wg_call* call) {
  const CallInput& in = *frame(call).input;
  if (in.request_id == nullptr) return str("");
  return str(in.request_id(in.request_id_arg));
}

wg_str host_claims_json(const wg_call* call) {
  CallFrame& f = frame(call);
  if (!f.claims_ready) {
    f.claims_json = f.input->claims != nullptr ? boost::json::serialize(*f.input->claims) : "null";
    f.claims_ready = true;
  }
  return str(f.claims_json);
}

const boost::json::value* find_claim(const wg_call* call, wg_str name) {
  const boost::json::object* claims = frame(call).input->claims;
  if (claims == nullptr) return nullptr;
  return claims->if_contains(view(name));
}

wg_str host_claim_json(const wg_call* call, wg_str name) {
  const boost::json::value* v = find_claim(call, name);
  if (v == nullptr) return wg_str{nullptr, 0};
  CallFrame& f = frame(call);
  f.scratch.push_back(boost::json::serialize(*v));
  return str(f.scratch.back());
}

std::int32_t host_claim_string(const wg_call* call, wg_str name, wg_str* out) {
  const boost::json::value* v = find_claim(call, name);
  if (v == nullptr || !v->is_string()) return 0;
  if (out != nullptr) *out = wg_str{v->get_string().data(), v->get_string().size()};
  return 1;
}

wg_str host_variables_json(const wg_call* call) {
  return str(frame(call).input->variables_json);
}

wg_str host_config_json(const wg_call* call) {
  return str(frame(call).fn->worker->config_json());
}

// ------------------------------------------------------------------------------------------ results

ResultData* editable(wg_result* r) {
  if (r == nullptr || r->data.kind == ResultData::Kind::kError) return nullptr;
  return &r->data;
}

// A response change: starts an (edited) response unless the result is a JSON value, whose wrapped
// response the changes then apply to.
ResultData* response_edit(wg_result* r) {
  ResultData* d = editable(r);
  if (d != nullptr && d->kind == ResultData::Kind::kNone) d->kind = ResultData::Kind::kResponse;
  return d;
}

void host_respond(wg_result* r, std::int32_t status) {
  ResultData* d = editable(r);
  if (d == nullptr) return;
  d->kind = ResultData::Kind::kResponse;
  d->replace = true;
  d->status = status;
  d->response_ops.clear();
  d->response_body.reset();
  d->value.clear();
}

void host_set_status(wg_result* r, std::int32_t status) {
  if (ResultData* d = response_edit(r)) d->status = status;
}

void host_set_header(wg_result* r, wg_str name, wg_str value) {
  if (ResultData* d = response_edit(r))
    d->response_ops.push_back({HeaderOp::kSet, std::string(view(name)), std::string(view(value))});
}

void host_add_header(wg_result* r, wg_str name, wg_str value) {
  if (ResultData* d = response_edit(r))
    d->response_ops.push_back({HeaderOp::kAdd, std::string(view(name)), std::string(view(value))});
}

void host_remove_header(wg_result* r, wg_str name) {
  if (ResultData* d = response_edit(r))
    d->response_ops.push_back({HeaderOp::kRemove, std::string(view(name)), {}});
}

void host_set_body(wg_result* r, wg_str body) {
  if (ResultData* d = response_edit(r)) d->response_body.emplace(view(body));
}

void host_return_json(wg_result* r, wg_str json) {
  if (ResultData* d = editable(r)) {
    d->kind = ResultData::Kind::kJson;
    d->replace = false;
    d->value.assign(view(json));
  }
}

void host_return_string(wg_result* r, wg_str text) {
  if (ResultData* d = editable(r)) {
    d->kind = ResultData::Kind::kString;
    d->replace = false;
    d->value.assign(view(text));
  }
}

void host_request_set_header(wg_result* r, wg_str name, wg_str value) {
  if (ResultData* d = editable(r))
    d->request_ops.push_back({HeaderOp::kSet, std::string(view(name)), std::string(view(value))});
}

void host_request_add_header(wg_result* r, wg_str name, wg_str value) {
  if (ResultData* d = editable(r))
    d->request_ops.push_back({HeaderOp::kAdd, std::string(view(name)), std::string(view(value))});
}

void host_request_remove_header(wg_result* r, wg_str name) {
  if (ResultData* d = editable(r)) d->request_ops.push_back({HeaderOp::kRemove, std::string(view(name)), {}});
}

void host_request_set_path(wg_result* r, wg_str path) {
  if (ResultData* d = editable(r)) d->path.emplace(view(path));
}

void host_request_set_query(wg_result* r, wg_str query, std::int32_t has_query) {
  if (ResultData* d = editable(r)) {
    d->query.emplace(view(query));
    d->has_query = has_query != 0 && !d->query->empty();
  }
}

void host_request_set_body(wg_result* r, wg_str body) {
  if (ResultData* d = editable(r)) d->request_body.emplace(view(body));
}

void host_fail(wg_result* r, wg_str message) {
  if (r == nullptr) return;
  if (r->data.kind == ResultData::Kind::kError) return;  // the first message wins
  r->data.kind = ResultData::Kind::kError;
  r->data.value.assign(view(message));
}

wg_result* host_defer_impl(const wg_call* call);

void host_complete(wg_result* r, std::int32_t status) {
  AsyncState::complete(r, status);
}

void host_log(std::int32_t level, wg_str message) {
  std::string_view m = view(message);
  switch (level) {
    case WG_LOG_DEBUG:
      observability::log_debug("worker: {}", m);
      break;
    case WG_LOG_INFO:
      observability::log_info("worker: {}", m);
      break;
    case WG_LOG_WARN:
      observability::log_warn("worker: {}", m);
      break;
    default:
      observability::log_error("worker: {}", m);
      break;
  }
}

const wg_host kHost = {
    WORKGATE_ABI_VERSION,
    sizeof(wg_host),
    &host_request_id,
    &host_claims_json,
    &host_claim_json,
    &host_claim_string,
    &host_variables_json,
    &host_config_json,
    &host_respond,
    &host_set_status,
    &host_set_header,
    &host_add_header,
    &host_remove_header,
    &host_set_body,
    &host_return_json,
    &host_return_string,
    &host_request_set_header,
    &host_request_add_header,
    &host_request_remove_header,
    &host_request_set_path,
    &host_request_set_query,
    &host_request_set_body,
    &host_fail,
    &host_defer_impl,
    &host_complete,
    &host_log,
};

// Per-thread buffers for the arrays a call views (a call never nests on one thread).
struct Scratch {
  std::vector<wg_pair> headers;
  std::vector<wg_pair> params;
  std::vector<wg_pair> response_headers;
};

void fill_headers(const http::HeaderList& list, std::vector<wg_pair>& out) {
  list.for_each([&](const http::HeaderList::Field& f) { out.push_back(wg_pair{str(f.name), str(f.value)}); });
}

Outcome failure(std::string message) {
  Outcome o;
  o.status = Outcome::Status::kError;
  o.result.kind = ResultData::Kind::kError;
  o.result.value = std::move(message);
  return o;
}

}  // namespace

wg_result* host_defer(const wg_call* call) {
  CallFrame& f = frame(call);
  if (f.deferred) return nullptr;  // one deferred result per call
  const BoundFunction& fn = *f.fn;
  auto state = std::make_shared<AsyncState>(fn.worker->binding() + "." + fn.name);
  state->self_ = state;
  f.deferred = state;
  return state->result();
}

namespace {
wg_result* host_defer_impl(const wg_call* call) {
  return host_defer(call);
}
}  // namespace

const wg_host& host_table() {
  return kHost;
}

// ------------------------------------------------------------------------------------------- async

// The event-loop side of a pending call: the timeout timer and the continuation. Owned by the handlers
// queued on the loop (never by the worker), so it is destroyed on the loop or when the loop goes away.
class Waiter : public std::enable_shared_from_this<Waiter> {
 public:
  Waiter(std::shared_ptr<AsyncState> state, boost::asio::io_context& io, std::function<void(Outcome)> on_done)
      : state_(std::move(state)), timer_(io), on_done_(std::move(on_done)) {}

  ~Waiter() {
    std::lock_guard lock(state_->mutex_);
    if (state_->phase_ == AsyncState::Phase::kArmed) state_->phase_ = AsyncState::Phase::kAbandoned;
  }

  void start(std::chrono::milliseconds timeout) {
    timer_.expires_after(timeout);
    timer_.async_wait(
        [self = shared_from_this()](const boost::system::error_code& ec) { self->on_timer(ec); });
  }

  void deliver() {
    Outcome outcome;
    {
      std::lock_guard lock(state_->mutex_);
      outcome.result = std::move(state_->result_.data);
      bool failed = state_->status_ != WG_OK || outcome.result.kind == ResultData::Kind::kError;
      outcome.status = failed ? Outcome::Status::kError : Outcome::Status::kOk;
      if (failed && outcome.result.kind != ResultData::Kind::kError) {
        outcome.result.kind = ResultData::Kind::kError;
        outcome.result.value =
            state_->status_ == WG_ERROR ? "completed with WG_ERROR" : "completed with an unknown status";
      }
    }
    timer_.cancel();
    finish(std::move(outcome));
  }

 private:
  void on_timer(const boost::system::error_code& ec) {
    if (ec) return;  // cancelled: the result was delivered
    bool fire = false;
    {
      std::lock_guard lock(state_->mutex_);
      if (state_->phase_ == AsyncState::Phase::kArmed) {
        state_->phase_ = AsyncState::Phase::kTimedOut;
        fire = true;
      }
    }
    if (!fire) return;
    Outcome outcome;
    outcome.status = Outcome::Status::kTimeout;
    finish(std::move(outcome));
  }

  void finish(Outcome outcome) {
    auto on_done = std::move(on_done_);
    on_done_ = nullptr;
    if (on_done) on_done(std::move(outcome));
  }

  std::shared_ptr<AsyncState> state_;
  boost::asio::steady_timer timer_;
  std::function<void(Outcome)> on_done_;
};

AsyncState::Phase AsyncState::phase() {
  std::lock_guard lock(mutex_);
  return phase_;
}

void AsyncState::complete(wg_result* result, std::int32_t status) {
  if (result == nullptr || result->async == nullptr) return;
  AsyncState* state = result->async;
  std::shared_ptr<AsyncState> keep;  // released after the lock
  std::lock_guard lock(state->mutex_);
  keep = std::move(state->self_);
  if (!keep) return;  // completed twice
  state->status_ = status;
  switch (state->phase_) {
    case Phase::kCreated:
      state->phase_ = Phase::kCompletedEarly;
      break;
    case Phase::kArmed:
      state->phase_ = Phase::kCompleted;
      boost::asio::post(*state->io_, [waiter = state->waiter_, keep] {
        if (auto w = waiter.lock()) w->deliver();
      });
      break;
    default:
      break;  // timed out or abandoned: dropped
  }
}

void AsyncState::abandon() {
  std::lock_guard lock(mutex_);
  if (phase_ == Phase::kCreated || phase_ == Phase::kCompletedEarly) phase_ = Phase::kAbandoned;
}

void arm(const std::shared_ptr<AsyncState>& state, boost::asio::io_context& io,
         std::chrono::milliseconds timeout, std::function<void(Outcome)> on_done) {
  auto waiter = std::make_shared<Waiter>(state, io, std::move(on_done));
  std::lock_guard lock(state->mutex_);
  state->io_ = &io;
  state->waiter_ = waiter;
  if (state->phase_ == AsyncState::Phase::kCompletedEarly) {
    state->phase_ = AsyncState::Phase::kCompleted;
    boost::asio::post(io, [waiter] { waiter->deliver(); });
  } else if (state->phase_ == AsyncState::Phase::kCreated) {
    state->phase_ = AsyncState::Phase::kArmed;
    waiter->start(timeout);
  }
}

// --------------------------------------------------------------------------------------------- invoke

Invocation invoke(const BoundFunction& fn, const CallInput& in) {
  thread_local Scratch scratch;
  scratch.headers.clear();
  scratch.params.clear();
  scratch.response_headers.clear();

  const http::Request& request = *in.request;
  const WorkerInstance& worker = *fn.worker;
  wg_call call{};
  call.size = sizeof(wg_call);
  call.kind = in.kind;
  call.host = &kHost;
  call.instance = worker.instance();
  call.binding = str(worker.binding());
  call.function = str(fn.name);
  call.method = str(request.method);
  call.path = str(request.path);
  call.query = str(request.query);
  call.has_query = request.has_query ? 1 : 0;
  fill_headers(request.headers, scratch.headers);
  call.headers = scratch.headers.data();
  call.header_count = scratch.headers.size();
  call.body = str(request.body);
  call.route_path = str(in.route_path);
  for (const router::PathParam& p : in.params)
    scratch.params.push_back(wg_pair{str(p.name), str(p.value)});
  call.params = scratch.params.data();
  call.param_count = scratch.params.size();
  call.env = worker.env().data();
  call.env_count = worker.env().size();
  if (in.response != nullptr) {
    const http::Response& response = *in.response;
    call.response_status = response.status;
    if (!response.content_type.empty()) {
      scratch.response_headers.push_back(wg_pair{str("Content-Type"), str(response.content_type)});
    }
    fill_headers(response.headers, scratch.response_headers);
    call.response_headers = scratch.response_headers.data();
    call.response_header_count = scratch.response_headers.size();
    call.response_body = str(response.body());
  }
  CallFrame frame;
  frame.input = &in;
  frame.fn = &fn;
  call.host_data = &frame;

  wg_result result;
  std::int32_t rc = WG_ERROR;
  try {
    rc = fn.fn(&call, &result);
  } catch (...) {
    host_fail(&result, str("the function threw an exception"));
    rc = WG_ERROR;
  }

  Invocation out;
  if (rc == WG_PENDING) {
    if (frame.deferred) {
      out.pending = std::move(frame.deferred);
      return out;
    }
    out.done = failure("returned WG_PENDING without calling defer()");
    return out;
  }
  if (frame.deferred) {
    frame.deferred->abandon();
    observability::log_warn(
        "worker {}.{} called defer() but returned synchronously; the deferred result is ignored",
        worker.binding(), fn.name);
  }
  if (rc != WG_OK && rc != WG_ERROR) {
    out.done = failure("returned an unknown status " + std::to_string(rc));
    return out;
  }
  if (rc == WG_ERROR || result.data.kind == ResultData::Kind::kError) {
    out.done = failure(result.data.kind == ResultData::Kind::kError ? std::move(result.data.value)
                                                                    : std::string("returned WG_ERROR"));
    return out;
  }
  out.done.emplace();
  out.done->result = std::move(result.data);
  return out;
}

}  // namespace workgate::workers
