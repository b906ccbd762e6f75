// workgate worker SDK: Call, the C++ face of a wg_call, and Completion, the handle of an asynchronous
// call. Part of <workgate/worker.hpp>.
#ifndef WORKGATE_WORKER_CALL_HPP
#define WORKGATE_WORKER_CALL_HPP

#include <workgate/worker.h>

#include <cstdint>
#include <string_view>
#include <utility>
#include <workgate/worker/kinds.hpp>
#include <workgate/worker/result.hpp>
#include <workgate/worker/string.hpp>
#include <workgate/worker/views.hpp>

namespace workgate {

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

}  // namespace workgate

#endif  // WORKGATE_WORKER_CALL_HPP
