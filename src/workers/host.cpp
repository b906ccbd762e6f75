#include "workers/host.hpp"

#include <atomic>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <exception>
#include <forward_list>

#include "common/js_json.hpp"
#include "observability/log.hpp"

namespace workgate::workers {

static_assert(sizeof(std::uintptr_t) == 8, "result handles need 64-bit pointers");

namespace {

std::string_view view(wg_str s) {
  return s.data == nullptr ? std::string_view() : std::string_view(s.data, s.size);
}
wg_str str(std::string_view s) {
  return wg_str{s.data(), s.size()};
}

// ------------------------------------------------------------------------------------------ handles
//
// A wg_result* is a number, never dereferenced: bits 0-1 are its kind, then
//   synchronous: a serial number unique in the process (20 bits of thread number, 40 bits of counter);
//   deferred:    the slot in the async table (24 bits) and the slot's generation (38 bits).
// A value is only compared against the live calls, never dereferenced: a pointer a worker made up (real
// pointers are aligned: kind 0) or kept from an earlier call resolves to nothing. (This guards against
// buggy workers; a module is native code in the gateway's process and is trusted not to forge handles.)
constexpr std::uintptr_t kKindMask = 3;
constexpr std::uintptr_t kSyncKind = 1;
constexpr std::uintptr_t kAsyncKind = 2;
constexpr unsigned kSlotBits = 24;
constexpr std::uintptr_t kSlotMask = (std::uintptr_t{1} << kSlotBits) - 1;
constexpr std::uint64_t kGenerationMask = (std::uint64_t{1} << (62 - kSlotBits)) - 1;
constexpr unsigned kSerialBits = 40;
constexpr std::uint64_t kSerialMask = (std::uint64_t{1} << kSerialBits) - 1;
constexpr std::uint64_t kThreadMask = (std::uint64_t{1} << 20) - 1;

std::uintptr_t bits(const wg_result* r) {
  return reinterpret_cast<std::uintptr_t>(r);
}
wg_result* to_handle(std::uintptr_t v) {
  return reinterpret_cast<wg_result*>(v);
}

// ------------------------------------------------------------------------------------------ stale uses

std::atomic<std::uint64_t> g_stale_uses{0};
std::atomic<std::uint64_t> g_stale_unreported{0};
std::atomic<std::int64_t> g_stale_reported_ms{0};  // 0: never

// A worker used a result or call that is no longer live: counted, and logged at most once a second.
void report_stale(std::string_view label, std::string_view what) noexcept {
  g_stale_uses.fetch_add(1, std::memory_order_relaxed);
  try {
    std::int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::steady_clock::now().time_since_epoch())
                           .count() +
                       1;
    std::int64_t last = g_stale_reported_ms.load(std::memory_order_relaxed);
    if ((last != 0 && now - last < 1000) ||
        !g_stale_reported_ms.compare_exchange_strong(last, now, std::memory_order_relaxed)) {
      g_stale_unreported.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    std::uint64_t more = g_stale_unreported.exchange(0, std::memory_order_relaxed);
    observability::log_warn(
        "worker {}: {} used a result or call that is no longer live (already completed, timed out, "
        "abandoned or returned): ignored{}",
        label.empty() ? std::string_view("(unknown)") : label, what,
        more == 0 ? std::string()
                  : " (" + std::to_string(more) + " more such uses ignored since the last report)");
  } catch (...) {
  }
}

}  // namespace

// ------------------------------------------------------------------------------------------ async table

namespace {

// The open deferred results. Holds no ownership: the gateway owns each AsyncState, and closing a slot
// (completion, timeout, abandon, destruction) bumps its generation so the old handle never resolves again.
class AsyncTable {
 public:
  wg_result* open(const std::shared_ptr<AsyncState>& state) {
    std::lock_guard lock(mutex_);
    std::size_t index = 0;
    if (!free_.empty()) {
      index = free_.back();
      free_.pop_back();
    } else {
      if (slots_.size() > kSlotMask) return nullptr;
      index = slots_.size();
      slots_.emplace_back();
    }
    Slot& slot = slots_[index];
    slot.open = true;
    slot.state = state;
    ++open_;
    return to_handle(kAsyncKind | (index << 2) | (slot.generation << (2 + kSlotBits)));
  }

  // The state `handle` names while it is open; else null, and `retired` the label of the call it named
  // when that is still known.
  std::shared_ptr<AsyncState> find(const wg_result* handle, std::string& retired) {
    std::lock_guard lock(mutex_);
    Slot* slot = open_slot(handle, retired);
    return slot != nullptr ? slot->state.lock() : nullptr;
  }

  // find() and close the handle.
  std::shared_ptr<AsyncState> take(const wg_result* handle, std::string& retired) {
    std::lock_guard lock(mutex_);
    Slot* slot = open_slot(handle, retired);
    if (slot == nullptr) return nullptr;
    std::shared_ptr<AsyncState> state = slot->state.lock();
    close(*slot, handle, state ? state->label() : std::string_view());
    return state;
  }

  void close_if_open(const wg_result* handle, std::string_view label) {
    std::lock_guard lock(mutex_);
    std::string ignored;
    if (Slot* slot = open_slot(handle, ignored)) close(*slot, handle, label);
  }

  std::size_t open_count() {
    std::lock_guard lock(mutex_);
    return open_;
  }

 private:
  struct Slot {
    std::uint64_t generation = 0;
    bool open = false;
    std::weak_ptr<AsyncState> state;
    std::string retired;  // label of the call of generation - 1
  };

  Slot* open_slot(const wg_result* handle, std::string& retired) {
    std::uintptr_t h = bits(handle);
    if ((h & kKindMask) != kAsyncKind) return nullptr;
    std::size_t index = (h >> 2) & kSlotMask;
    std::uint64_t generation = h >> (2 + kSlotBits);
    if (index >= slots_.size()) return nullptr;
    Slot& slot = slots_[index];
    if (slot.open && slot.generation == generation) return &slot;
    if (((generation + 1) & kGenerationMask) == slot.generation) retired = slot.retired;
    return nullptr;
  }

  void close(Slot& slot, const wg_result* handle, std::string_view label) {
    slot.open = false;
    slot.state.reset();
    slot.generation = (slot.generation + 1) & kGenerationMask;
    slot.retired.assign(label);
    free_.push_back((bits(handle) >> 2) & kSlotMask);
    --open_;
  }

  std::mutex mutex_;
  std::vector<Slot> slots_;
  std::vector<std::size_t> free_;
  std::size_t open_ = 0;
};

// Never destroyed: a worker thread may complete a call while the process exits.
AsyncTable& async_table() {
  static AsyncTable* table = new AsyncTable;
  return *table;
}

// -------------------------------------------------------------------------------------- call frames

// The gateway-side state of one synchronous invocation.
struct CallFrame {
  const CallInput* input = nullptr;
  const BoundFunction* fn = nullptr;
  ResultData data;  // what the synchronous result handle names
  std::string claims_json;
  bool claims_ready = false;
  // Strings handed out during the call (stable addresses; empty, it allocates nothing, unlike a deque).
  std::forward_list<std::string> scratch;
  std::shared_ptr<AsyncState> deferred;
};

// The call running on this thread: context functions and the synchronous result handle resolve only
// against it, so a wg_call* or wg_result* kept past the function's return (or used from another thread)
// is never dereferenced.
struct ActiveCall {
  const wg_call* call = nullptr;
  CallFrame* frame = nullptr;
  wg_result* handle = nullptr;
};
thread_local ActiveCall* t_active = nullptr;
thread_local std::uint64_t t_serial = 0;
std::atomic<std::uint64_t> g_threads{0};

wg_result* next_sync_handle() {
  if (t_serial == 0 || (t_serial & kSerialMask) == kSerialMask) {
    std::uint64_t thread = (g_threads.fetch_add(1, std::memory_order_relaxed) + 1) & kThreadMask;
    t_serial = thread << kSerialBits;
  }
  ++t_serial;
  return to_handle(kSyncKind | static_cast<std::uintptr_t>(t_serial << 2));
}

CallFrame* frame_of(const wg_call* call, std::string_view what) {
  ActiveCall* active = t_active;
  if (call != nullptr && active != nullptr && active->call == call) return active->frame;
  report_stale({}, what);
  return nullptr;
}

}  // namespace

// The async path's access to an AsyncState's result.
struct AsyncAccess {
  template <typename Edit>
  static void edit(AsyncState& state, std::string_view what, Edit& edit) {
    bool live = false;
    {
      std::lock_guard lock(state.mutex_);
      if (state.phase_ == AsyncState::Phase::kCreated || state.phase_ == AsyncState::Phase::kArmed) {
        live = true;
        edit(state.data_, state.limits_);
      }
    }
    if (!live) report_stale(state.label(), what);
  }
};

namespace {

void set_error(ResultData& d, std::string message) {
  d.kind = ResultData::Kind::kError;
  d.value = std::move(message);
}

// Resolves `r` and runs edit(ResultData&, const ResultLimits&) on the result it names, if it is live.
// Never throws (the caller is a worker's C code).
template <typename Edit>
void with_result(wg_result* r, std::string_view what, Edit edit) noexcept {
  if (r == nullptr) return;  // e.g. a second defer()'s result: documented as ignored
  try {
    std::uintptr_t h = bits(r);
    if ((h & kKindMask) == kSyncKind) {
      ActiveCall* active = t_active;
      if (active == nullptr || active->handle != r) {
        report_stale({}, what);
        return;
      }
      CallFrame& f = *active->frame;
      try {
        edit(f.data, f.input->limits);
      } catch (...) {
        set_error(f.data, "the gateway could not store the result");
      }
      return;
    }
    std::string retired;
    std::shared_ptr<AsyncState> state = async_table().find(r, retired);
    if (!state) {
      report_stale(retired, what);
      return;
    }
    auto guarded = [&](ResultData& d, const ResultLimits& limits) {
      try {
        edit(d, limits);
      } catch (...) {
        set_error(d, "the gateway could not store the result");
      }
    };
    AsyncAccess::edit(*state, what, guarded);
  } catch (...) {
  }
}

// ------------------------------------------------------------------------------------------ context

wg_str host_request_id(const wg_call* call) {
  try {
    CallFrame* f = frame_of(call, "request_id()");
    if (f == nullptr || f->input->request_id == nullptr) return str("");
    return str(f->input->request_id(f->input->request_id_arg));
  } catch (...) {
    return str("");
  }
}

wg_str host_claims_json(const wg_call* call) {
  try {
    CallFrame* f = frame_of(call, "claims_json()");
    if (f == nullptr) return str("null");
    if (!f->claims_ready) {
      f->claims_json = f->input->claims != nullptr ? js_json(*f->input->claims) : "null";
      f->claims_ready = true;
    }
    return str(f->claims_json);
  } catch (...) {
    return str("null");
  }
}

const boost::json::value* find_claim(CallFrame& f, wg_str name) {
  const boost::json::object* claims = f.input->claims;
  if (claims == nullptr) return nullptr;
  return claims->if_contains(view(name));
}

wg_str host_claim_json(const wg_call* call, wg_str name) {
  try {
    CallFrame* f = frame_of(call, "claim_json()");
    if (f == nullptr) return wg_str{nullptr, 0};
    const boost::json::value* v = find_claim(*f, name);
    if (v == nullptr) return wg_str{nullptr, 0};
    return str(f->scratch.emplace_front(js_json(*v)));
  } catch (...) {
    return wg_str{nullptr, 0};
  }
}

std::int32_t host_claim_string(const wg_call* call, wg_str name, wg_str* out) {
  try {
    CallFrame* f = frame_of(call, "claim_string()");
    if (f == nullptr) return 0;
    const boost::json::value* v = find_claim(*f, name);
    if (v == nullptr || !v->is_string()) return 0;
    if (out != nullptr) *out = wg_str{v->get_string().data(), v->get_string().size()};
    return 1;
  } catch (...) {
    return 0;
  }
}

wg_str host_variables_json(const wg_call* call) {
  CallFrame* f = frame_of(call, "variables_json()");
  return f == nullptr ? str("{}") : str(f->input->variables_json);
}

wg_str host_config_json(const wg_call* call) {
  CallFrame* f = frame_of(call, "config_json()");
  return f == nullptr ? str("null") : str(f->fn->worker->config_json());
}

// ------------------------------------------------------------------------------------------ results

ResultData* editable(ResultData& d) {
  return d.kind == ResultData::Kind::kError ? nullptr : &d;
}

// A response change: starts an (edited) response unless the result is a JSON value, whose wrapped
// response the changes then apply to.
ResultData* response_edit(ResultData& d) {
  if (d.kind == ResultData::Kind::kNone) d.kind = ResultData::Kind::kResponse;
  return editable(d);
}

// Limits. A result that goes past one fails (the first failure is kept).
bool fits(ResultData& d, std::string_view what, std::size_t size, std::size_t limit,
          std::string_view setting) {
  if (size <= limit) return true;
  set_error(d, std::string(what) + ": " + std::to_string(size) + " bytes exceed gateway." +
                   std::string(setting) + " (" + std::to_string(limit) + ")");
  return false;
}

bool body_fits(ResultData& d, const ResultLimits& l, std::string_view what, wg_str s) {
  return fits(d, what, s.data == nullptr ? 0 : s.size, l.max_body_bytes, "max_body_bytes");
}

void header_op(ResultData& d, const ResultLimits& l, std::vector<HeaderOp>& ops, HeaderOp::Type type,
               std::string_view what, wg_str name, wg_str value) {
  std::size_t name_size = name.data == nullptr ? 0 : name.size;
  std::size_t value_size = value.data == nullptr ? 0 : value.size;
  if (ops.size() >= l.max_headers) {
    set_error(d, std::string(what) + ": more than gateway.max_headers (" + std::to_string(l.max_headers) +
                     ") header changes");
    return;
  }
  if (name_size > l.max_header_bytes || value_size > l.max_header_bytes - name_size) {
    set_error(d, std::string(what) + ": a header field larger than gateway.max_header_bytes (" +
                     std::to_string(l.max_header_bytes) + ")");
    return;
  }
  ops.push_back({type, std::string(view(name)), std::string(view(value))});
}

void host_respond(wg_result* r, std::int32_t status) {
  with_result(r, "respond()", [&](ResultData& data, const ResultLimits&) {
    ResultData* d = editable(data);
    if (d == nullptr) return;
    d->kind = ResultData::Kind::kResponse;
    d->replace = true;
    d->status = status;
    d->response_ops.clear();
    d->response_body.reset();
    d->value.clear();
  });
}

void host_set_status(wg_result* r, std::int32_t status) {
  with_result(r, "set_status()", [&](ResultData& data, const ResultLimits&) {
    if (ResultData* d = response_edit(data)) d->status = status;
  });
}

enum class HeaderSide { kResponse, kRequest };

// The six header edits of the ABI: the response's (in a post hook or a service result) or the request's
// (a pre hook continuing with a modified request).
void edit_header(wg_result* r, const char* what, HeaderSide side, HeaderOp::Type op, wg_str name,
                 wg_str value) {
  with_result(r, what, [&](ResultData& data, const ResultLimits& l) {
    ResultData* d = side == HeaderSide::kResponse ? response_edit(data) : editable(data);
    if (d == nullptr) return;
    header_op(*d, l, side == HeaderSide::kResponse ? d->response_ops : d->request_ops, op, what, name, value);
  });
}

void host_set_header(wg_result* r, wg_str name, wg_str value) {
  edit_header(r, "set_header()", HeaderSide::kResponse, HeaderOp::kSet, name, value);
}

void host_add_header(wg_result* r, wg_str name, wg_str value) {
  edit_header(r, "add_header()", HeaderSide::kResponse, HeaderOp::kAdd, name, value);
}

void host_remove_header(wg_result* r, wg_str name) {
  edit_header(r, "remove_header()", HeaderSide::kResponse, HeaderOp::kRemove, name, wg_str{nullptr, 0});
}

void host_set_body(wg_result* r, wg_str body) {
  with_result(r, "set_body()", [&](ResultData& data, const ResultLimits& l) {
    ResultData* d = response_edit(data);
    if (d != nullptr && body_fits(*d, l, "set_body()", body)) d->response_body.emplace(view(body));
  });
}

void host_return_json(wg_result* r, wg_str json) {
  with_result(r, "return_json()", [&](ResultData& data, const ResultLimits& l) {
    ResultData* d = editable(data);
    if (d == nullptr || !body_fits(*d, l, "return_json()", json)) return;
    d->kind = ResultData::Kind::kJson;
    d->replace = false;
    d->value.assign(view(json));
  });
}

void host_return_string(wg_result* r, wg_str text) {
  with_result(r, "return_string()", [&](ResultData& data, const ResultLimits& l) {
    ResultData* d = editable(data);
    if (d == nullptr || !body_fits(*d, l, "return_string()", text)) return;
    d->kind = ResultData::Kind::kString;
    d->replace = false;
    d->value.assign(view(text));
  });
}

void host_request_set_header(wg_result* r, wg_str name, wg_str value) {
  edit_header(r, "request_set_header()", HeaderSide::kRequest, HeaderOp::kSet, name, value);
}

void host_request_add_header(wg_result* r, wg_str name, wg_str value) {
  edit_header(r, "request_add_header()", HeaderSide::kRequest, HeaderOp::kAdd, name, value);
}

void host_request_remove_header(wg_result* r, wg_str name) {
  edit_header(r, "request_remove_header()", HeaderSide::kRequest, HeaderOp::kRemove, name,
              wg_str{nullptr, 0});
}

void host_request_set_path(wg_result* r, wg_str path) {
  with_result(r, "request_set_path()", [&](ResultData& data, const ResultLimits& l) {
    ResultData* d = editable(data);
    if (d != nullptr && fits(*d, "request_set_path()", path.data == nullptr ? 0 : path.size,
                             l.max_header_bytes, "max_header_bytes"))
      d->path.emplace(view(path));
  });
}

void host_request_set_query(wg_result* r, wg_str query, std::int32_t has_query) {
  with_result(r, "request_set_query()", [&](ResultData& data, const ResultLimits& l) {
    ResultData* d = editable(data);
    if (d == nullptr || !fits(*d, "request_set_query()", query.data == nullptr ? 0 : query.size,
                              l.max_header_bytes, "max_header_bytes"))
      return;
    d->query.emplace(view(query));
    d->has_query = has_query != 0 && !d->query->empty();
  });
}

void host_request_set_body(wg_result* r, wg_str body) {
  with_result(r, "request_set_body()", [&](ResultData& data, const ResultLimits& l) {
    ResultData* d = editable(data);
    if (d != nullptr && body_fits(*d, l, "request_set_body()", body)) d->request_body.emplace(view(body));
  });
}

// The message is kept up to kMaxWorkerMessageBytes (it only goes to the log).
void fail_with(ResultData& d, wg_str message) {
  if (d.kind == ResultData::Kind::kError) return;  // the first message wins
  std::string_view m = view(message);
  if (m.size() > kMaxWorkerMessageBytes) m = m.substr(0, kMaxWorkerMessageBytes);
  set_error(d, std::string(m));
}

void host_fail(wg_result* r, wg_str message) {
  with_result(r, "fail()", [&](ResultData& data, const ResultLimits&) { fail_with(data, message); });
}

wg_result* host_defer_impl(const wg_call* call);

void host_complete(wg_result* r, std::int32_t status) {
  AsyncState::complete(r, status);
}

void host_log(std::int32_t level, wg_str message) {
  try {
    std::string m = loggable_text(view(message));
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
  } catch (...) {
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

// ------------------------------------------------------------------------------------------- log text

std::string loggable_text(std::string_view text, std::size_t cap) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string_view t = text.substr(0, cap);
  std::string out;
  out.reserve(t.size() + 16);
  auto byte = [&](unsigned char c) {
    out += "\\x";
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  };
  const auto* p = reinterpret_cast<const unsigned char*>(t.data());
  const std::size_t n = t.size();
  for (std::size_t i = 0; i < n;) {
    unsigned char c = p[i];
    if (c < 0x80) {
      switch (c) {
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        case '\\':
          out += "\\\\";
          break;
        default:
          if (c < 0x20 || c == 0x7f) {
            byte(c);
          } else {
            out.push_back(static_cast<char>(c));
          }
      }
      ++i;
      continue;
    }
    // A UTF-8 sequence: well-formed ones are kept, except C1 controls, line/paragraph separators and
    // bidirectional overrides; anything else is escaped byte by byte.
    std::uint32_t cp = 0;
    std::size_t len = decode_utf8(t, i, cp);
    if (len == 0) {
      byte(c);
      ++i;
      continue;
    }
    bool control = (cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 ||
                   (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
    if (control) {
      out += "\\u";
      for (int shift = 12; shift >= 0; shift -= 4)
        out.push_back(kHex[(cp >> shift) & 15]);
    } else {
      out.append(t.data() + i, len);
    }
    i += len;
  }
  if (text.size() > cap) out += "...[truncated]";
  return out;
}

std::size_t decode_utf8(std::string_view text, std::size_t at, std::uint32_t& cp) {
  auto c = static_cast<unsigned char>(text[at]);
  std::size_t len = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
  if (len == 0 || at + len > text.size()) return 0;
  cp = c & (len == 2 ? 0x1f : len == 3 ? 0x0f : 0x07);
  for (std::size_t k = 1; k < len; ++k) {
    auto cont = static_cast<unsigned char>(text[at + k]);
    if ((cont & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (cont & 0x3f);
  }
  if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
      (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return len;
}

std::size_t open_async_calls() {
  return async_table().open_count();
}

std::uint64_t stale_handle_uses() {
  return g_stale_uses.load(std::memory_order_relaxed);
}

// ------------------------------------------------------------------------------------------- defer

wg_result* host_defer(const wg_call* call) {
  try {
    CallFrame* f = frame_of(call, "defer()");
    if (f == nullptr || f->deferred) return nullptr;  // one deferred result per call
    const BoundFunction& fn = *f->fn;
    auto state = std::make_shared<AsyncState>(fn.binding() + "." + fn.name, f->input->limits);
    wg_result* handle = async_table().open(state);
    if (handle == nullptr) return nullptr;
    state->handle_ = handle;
    f->deferred = std::move(state);
    return handle;
  } catch (...) {
    return nullptr;
  }
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
class Waiter final : public http::Cancellable, public std::enable_shared_from_this<Waiter> {
 public:
  Waiter(std::shared_ptr<AsyncState> state, boost::asio::io_context& io, std::function<void(Outcome)> on_done)
      : state_(std::move(state)), timer_(io), on_done_(std::move(on_done)) {}

  ~Waiter() {
    {
      std::lock_guard lock(state_->mutex_);
      if (state_->phase_ == AsyncState::Phase::kArmed) {
        state_->phase_ = AsyncState::Phase::kAbandoned;
        state_->data_ = ResultData();
      }
    }
    async_table().close_if_open(state_->handle_, state_->label_);
  }

  // The client went away: the continuation (which holds the exchange) is dropped; when the cancelled timer's
  // handler lets go of this waiter, the destructor abandons the call.
  void cancel() override {
    on_done_ = nullptr;
    timer_.cancel();
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
      outcome.result = std::move(state_->data_);
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
        state_->data_ = ResultData();  // whatever the worker filled in so far
        fire = true;
      }
    }
    if (!fire) return;
    // The worker's handle is dead from now on: a late completion or write is a stale one.
    async_table().close_if_open(state_->handle_, state_->label_);
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

AsyncState::~AsyncState() {
  if (handle_ != nullptr) async_table().close_if_open(handle_, label_);
}

AsyncState::Phase AsyncState::phase() {
  std::lock_guard lock(mutex_);
  return phase_;
}

void AsyncState::complete(wg_result* result, std::int32_t status) {
  if (result == nullptr) return;
  try {
    std::string retired;
    std::shared_ptr<AsyncState> state = async_table().take(result, retired);
    if (!state) {
      report_stale(retired, "complete()");  // completed twice, after the timeout, or not a deferred result
      return;
    }
    bool late = false;
    {
      std::lock_guard lock(state->mutex_);
      state->status_ = status;
      switch (state->phase_) {
        case Phase::kCreated:
          state->phase_ = Phase::kCompletedEarly;
          break;
        case Phase::kArmed:
          state->phase_ = Phase::kCompleted;
          boost::asio::post(*state->io_, [waiter = state->waiter_, state] {
            if (auto w = waiter.lock()) w->deliver();
          });
          break;
        default:
          late = true;  // timed out or abandoned a moment ago
          break;
      }
    }
    if (late) report_stale(state->label_, "complete()");
  } catch (...) {
  }
}

void AsyncState::abandon() {
  {
    std::lock_guard lock(mutex_);
    if (phase_ == Phase::kCreated || phase_ == Phase::kCompletedEarly) {
      phase_ = Phase::kAbandoned;
      data_ = ResultData();
    }
  }
  if (handle_ != nullptr) async_table().close_if_open(handle_, label_);
}

std::weak_ptr<http::Cancellable> arm(const std::shared_ptr<AsyncState>& state, boost::asio::io_context& io,
                                     std::chrono::milliseconds timeout,
                                     std::function<void(Outcome)> on_done) {
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
  return waiter;
}

// --------------------------------------------------------------------------------------------- invoke

namespace {
thread_local std::string t_spare_result_text;
}  // namespace

void recycle_result_text(std::string& text) {
  constexpr std::size_t kKeepBytes = 4096;  // a large result does not stay with the thread
  if (text.capacity() <= kKeepBytes && text.capacity() > t_spare_result_text.capacity()) {
    text.clear();
    t_spare_result_text.swap(text);
  }
}

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
  call.host_data = nullptr;  // the host finds the call through the thread's active call, never through it

  CallFrame frame;
  frame.input = &in;
  frame.fn = &fn;
  frame.data.value.swap(t_spare_result_text);  // empty, with the memory of an earlier result
  ActiveCall active{&call, &frame, next_sync_handle()};
  ActiveCall* outer = t_active;
  t_active = &active;
  std::int32_t rc = WG_ERROR;
  try {
    rc = fn.fn(&call, active.handle);
  } catch (...) {
    fail_with(frame.data, str("the function threw an exception"));
    rc = WG_ERROR;
  }
  t_active = outer;  // from here on the call and its result handle are stale

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
  if (rc == WG_ERROR || frame.data.kind == ResultData::Kind::kError) {
    out.done = failure(frame.data.kind == ResultData::Kind::kError ? std::move(frame.data.value)
                                                                   : std::string("returned WG_ERROR"));
    return out;
  }
  out.done.emplace();
  out.done->result = std::move(frame.data);
  return out;
}

}  // namespace workgate::workers
