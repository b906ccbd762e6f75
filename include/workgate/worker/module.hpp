// workgate worker SDK: the module entry point (WORKGATE_WORKER, WORKGATE_METHOD, WORKGATE_FUNCTIONS) and
// function table entries (workgate::fn). Part of <workgate/worker.hpp>.
#ifndef WORKGATE_WORKER_MODULE_HPP
#define WORKGATE_WORKER_MODULE_HPP

#include <workgate/worker.h>

#include <workgate/worker/detail/entry.hpp>

namespace workgate {

// For modules whose functions are free functions.
struct Stateless {};

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

#endif  // WORKGATE_WORKER_MODULE_HPP
