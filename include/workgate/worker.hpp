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
//
// This header includes the whole SDK. Its parts, each usable on its own:
//   <workgate/worker.h>                  the C ABI
//   <workgate/worker/string.hpp>         to_view / to_wg (wg_str <-> std::string_view), iequals
//   <workgate/worker/query.hpp>          form_decode, query_param
//   <workgate/worker/json_writer.hpp>    JsonWriter, json_quote, append_json_string (standard library only)
//   <workgate/worker/kinds.hpp>          CallKind, LogLevel
//   <workgate/worker/views.hpp>          Pairs, Request, ResponseView, Env, Context
//   <workgate/worker/result.hpp>         Result
//   <workgate/worker/call.hpp>           Call, Completion
//   <workgate/worker/init.hpp>           Init
//   <workgate/worker/module.hpp>         WORKGATE_WORKER, WORKGATE_METHOD, WORKGATE_FUNCTIONS, fn, Stateless
//   <workgate/worker/detail/entry.hpp>   the generated C entry points (implementation detail)
#ifndef WORKGATE_WORKER_HPP
#define WORKGATE_WORKER_HPP

#include <workgate/worker.h>

#include <workgate/worker/call.hpp>
#include <workgate/worker/init.hpp>
#include <workgate/worker/json_writer.hpp>
#include <workgate/worker/kinds.hpp>
#include <workgate/worker/module.hpp>
#include <workgate/worker/query.hpp>
#include <workgate/worker/result.hpp>
#include <workgate/worker/string.hpp>
#include <workgate/worker/views.hpp>

#endif  // WORKGATE_WORKER_HPP
