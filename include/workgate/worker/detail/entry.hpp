// workgate worker SDK, implementation detail: the C entry points the SDK generates for a worker class
// (trampolines that turn Call&/Result into the C ABI and exceptions into errors, init and destroy of the
// instance, the wg_module descriptor). Not for direct use: see <workgate/worker/module.hpp>.
#ifndef WORKGATE_WORKER_DETAIL_ENTRY_HPP
#define WORKGATE_WORKER_DETAIL_ENTRY_HPP

#include <workgate/worker.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <type_traits>
#include <workgate/worker/call.hpp>
#include <workgate/worker/init.hpp>
#include <workgate/worker/result.hpp>

namespace workgate::detail {

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

// "Structs only grow": the SDK reads the members of the first version of wg_call, wg_host and wg_init
// only. These check that the gateway's structs declare at least that much before anything else is read
// (a member added later would be read only under WG_HAS_MEMBER).
inline bool host_fits(const wg_host* host) {
  return host != nullptr && host->size >= WG_HOST_SIZE_V1;
}
inline bool call_fits(const wg_call* c) {
  return c != nullptr && c->size >= WG_CALL_SIZE_V1 && host_fits(c->host);
}
inline bool init_fits(const wg_init* i) {
  return i != nullptr && i->size >= WG_INIT_SIZE_V1 && host_fits(i->host);
}

inline std::int32_t fail_with(const wg_call* c, wg_result* r, const char* message) {
  c->host->fail(r, wg_str{message, std::strlen(message)});
  return WG_ERROR;
}

template <auto F>
std::int32_t trampoline(const wg_call* c, wg_result* r) noexcept {
  if (!call_fits(c)) return WG_ERROR;  // nothing to report the failure with
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
  if (!init_fits(init)) {
    copy_message(error, error_size, "the gateway's wg_init or wg_host is smaller than their first version");
    return WG_ERROR;
  }
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

}  // namespace workgate::detail

#endif  // WORKGATE_WORKER_DETAIL_ENTRY_HPP
