// Arbitrary config documents: every input must produce a config or errors, never a crash.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "config/loader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const workgate::config::Environment env = [] {
    workgate::config::Environment e;
    e.set("SECRET", "fuzz-secret");
    return e;
  }();
  auto result = workgate::config::load_config_text(
      std::string_view(reinterpret_cast<const char*>(data), size), env, "/tmp");
  if (result.config.has_value() == !result.errors.empty()) __builtin_trap();
  return 0;
}
