// workgate worker SDK: the C++ names of the ABI's call kinds and log levels. Part of
// <workgate/worker.hpp>.
#ifndef WORKGATE_WORKER_KINDS_HPP
#define WORKGATE_WORKER_KINDS_HPP

#include <workgate/worker.h>

#include <cstdint>

namespace workgate {

enum class CallKind : std::uint32_t {
  kServiceBinding = WG_CALL_SERVICE_BINDING,
  kService = WG_CALL_SERVICE,
  kPreProcess = WG_CALL_PRE_PROCESS,
  kPostProcess = WG_CALL_POST_PROCESS,
};

enum class LogLevel : std::int32_t {
  kDebug = WG_LOG_DEBUG,
  kInfo = WG_LOG_INFO,
  kWarn = WG_LOG_WARN,
  kError = WG_LOG_ERROR
};

}  // namespace workgate

#endif  // WORKGATE_WORKER_KINDS_HPP
