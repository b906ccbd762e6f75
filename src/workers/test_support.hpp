// Helpers shared by the workers module's tests (not part of the library).
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <string_view>

#include "workers/host.hpp"
#include "workers/module.hpp"

namespace workgate::workers::test_support {

// Loads the module at `path` as a worker instance (binding "TEST" unless the options name one); null, with
// a test failure, when it does not load.
inline std::shared_ptr<WorkerInstance> load(const std::string& path, WorkerInstance::Options options = {}) {
  std::string error;
  auto module = Module::open(path, error);
  EXPECT_TRUE(module) << error;
  if (!module) return nullptr;
  if (options.binding.empty()) options.binding = "TEST";
  auto worker = WorkerInstance::create(module, std::move(options), error);
  EXPECT_TRUE(worker) << error;
  return worker;
}

// The worker's function `name`, bound (a test failure when the module does not export it).
inline BoundFunction function(const std::shared_ptr<WorkerInstance>& worker, std::string_view name) {
  wg_function_fn fn = worker->module().find(name);
  EXPECT_NE(fn, nullptr) << name;
  return BoundFunction{worker, std::string(name), fn};
}

}  // namespace workgate::workers::test_support
