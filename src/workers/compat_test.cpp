// "Structs only grow" (worker.h): the loader reads a module's descriptor within the size the module
// declares (an older, smaller one loads; one smaller than the first version is refused), and the SDK reads
// the gateway's structs within the sizes the gateway declares. Structs are placed right before an
// inaccessible page, so reading one byte past what may be read crashes the test.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>
#include <workgate/worker.h>

#include <cstring>
#include <string>

#include "workers/host.hpp"
#include "workers/module.hpp"

namespace workgate::workers {
namespace {

// Two pages, the second inaccessible: bytes(n) is n bytes that end where the inaccessible page starts.
class GuardedBuffer {
 public:
  GuardedBuffer() {
    page_ = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    void* p = mmap(nullptr, 2 * page_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT_NE(p, MAP_FAILED);
    base_ = static_cast<char*>(p);
    EXPECT_EQ(mprotect(base_ + page_, page_, PROT_NONE), 0);
  }
  ~GuardedBuffer() { munmap(base_, 2 * page_); }
  GuardedBuffer(const GuardedBuffer&) = delete;
  GuardedBuffer& operator=(const GuardedBuffer&) = delete;

  // `n` bytes copied from `from`, ending at the inaccessible page (n must keep 8-byte alignment).
  void* place(const void* from, std::size_t n) {
    char* at = base_ + page_ - n;
    std::memcpy(at, from, n);
    return at;
  }

 private:
  std::size_t page_ = 0;
  char* base_ = nullptr;
};

const wg_module* entry_of(void* handle) {
  void* symbol = dlsym(handle, WORKGATE_ENTRY_SYMBOL);
  EXPECT_NE(symbol, nullptr);
  wg_entry_fn entry = nullptr;
  std::memcpy(&entry, &symbol, sizeof(entry));
  return entry != nullptr ? entry() : nullptr;
}

int old_module_instances() {
  void* handle = dlopen(WG_TEST_OLD_ABI, RTLD_NOW | RTLD_NOLOAD);
  EXPECT_NE(handle, nullptr);
  auto fn = reinterpret_cast<int (*)()>(dlsym(handle, "workgate_test_old_abi_instances"));
  EXPECT_NE(fn, nullptr);
  int n = fn != nullptr ? fn() : -1;
  dlclose(handle);
  return n;
}

// ------------------------------------------------------------------------------------ the constants

TEST(Compat, FirstVersionSizesNeverChange) {
  // The first version of each struct, frozen (LP64). A member inserted before the end of the first
  // version, or a changed type, breaks every module built so far: it needs a new WORKGATE_ABI_VERSION.
  EXPECT_EQ(WG_MODULE_SIZE_V1, 48u);
  EXPECT_EQ(WG_CALL_SIZE_V1, 240u);
  EXPECT_EQ(WG_HOST_SIZE_V1, 200u);
  EXPECT_EQ(WG_INIT_SIZE_V1, 80u);
  EXPECT_GE(sizeof(wg_module), WG_MODULE_SIZE_V1);
  EXPECT_GE(sizeof(wg_call), WG_CALL_SIZE_V1);
  EXPECT_GE(sizeof(wg_host), WG_HOST_SIZE_V1);
  EXPECT_GE(sizeof(wg_init), WG_INIT_SIZE_V1);
  EXPECT_EQ(host_table().size, sizeof(wg_host));
  wg_module m{};
  m.size = WG_MODULE_SIZE_V1;
  EXPECT_TRUE(WG_HAS_MEMBER(&m, wg_module, function_count));
  m.size = WG_MODULE_SIZE_V1 - 1;
  EXPECT_FALSE(WG_HAS_MEMBER(&m, wg_module, function_count));
  EXPECT_TRUE(WG_HAS_MEMBER(&m, wg_module, functions));
}

// ------------------------------------------------------------------------ the module's descriptor

TEST(Compat, ModuleBuiltAgainstAnOlderDescriptorLoadsAndWorks) {
  std::string error;
  auto module = Module::open(WG_TEST_OLD_ABI, error);
  ASSERT_TRUE(module) << error;
  EXPECT_EQ(module->descriptor().size, WG_MODULE_SIZE_V1);
  EXPECT_STREQ(module->descriptor().name, "old-abi");
  ASSERT_NE(module->find("hello"), nullptr);

  WorkerInstance::Options options;
  options.binding = "OLD";
  auto worker = WorkerInstance::create(module, options, error);
  ASSERT_TRUE(worker) << error;
  EXPECT_EQ(old_module_instances(), 1);

  http::Request request;
  request.method = "GET";
  request.path = "/old/1";
  CallInput input;
  input.request = &request;
  BoundFunction fn{worker, "hello", module->find("hello")};
  Invocation inv = invoke(fn, input);
  ASSERT_TRUE(inv.done);
  ASSERT_EQ(inv.done->status, Outcome::Status::kOk) << inv.done->result.value;
  EXPECT_EQ(inv.done->result.kind, ResultData::Kind::kResponse);
  EXPECT_EQ(inv.done->result.status, 200);
  EXPECT_EQ(inv.done->result.response_body.value_or(""), "old module OLD /old/1");

  fn.worker.reset();
  worker.reset();  // destroy comes from the old descriptor too
  EXPECT_EQ(old_module_instances(), 0);
}

TEST(Compat, DescriptorSmallerThanTheFirstVersionIsRefused) {
  std::string error;
  EXPECT_FALSE(Module::open(WG_TEST_TRUNCATED, error));
  EXPECT_NE(error.find(std::string("cannot use worker module \"") + WG_TEST_TRUNCATED + "\""),
            std::string::npos)
      << error;
  EXPECT_NE(error.find("its module descriptor declares a size of 32 bytes, less than the 48 of the first "
                       "version of wg_module"),
            std::string::npos)
      << error;
}

// A newer gateway's wg_module: the first version and two members appended since.
struct GrownModule {
  wg_module v1;
  const char* appended_name;
  std::uint64_t appended_flags;
};

TEST(Compat, OlderDescriptorIsReadOnlyWithinItsSizeAndItsMissingMembersAreAbsent) {
  void* handle = dlopen(WG_TEST_OLD_ABI, RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(handle, nullptr) << dlerror();
  const wg_module* original = entry_of(handle);
  ASSERT_NE(original, nullptr);
  ASSERT_EQ(original->size, WG_MODULE_SIZE_V1);
  GuardedBuffer guard;
  // The module's descriptor, with nothing readable after its declared size.
  auto* raw = static_cast<const wg_module*>(guard.place(original, WG_MODULE_SIZE_V1));

  // As a gateway whose wg_module has grown would read it: the old members, then zeros.
  GrownModule grown;
  std::memset(&grown, 0xab, sizeof(grown));
  EXPECT_EQ(read_descriptor(raw, &grown, sizeof(grown)), "");
  EXPECT_EQ(grown.v1.abi_version, WORKGATE_ABI_VERSION);
  EXPECT_STREQ(grown.v1.name, "old-abi");
  EXPECT_EQ(grown.v1.init, original->init);
  EXPECT_EQ(grown.v1.destroy, original->destroy);
  EXPECT_EQ(grown.v1.functions, original->functions);
  EXPECT_EQ(grown.v1.function_count, 1u);
  EXPECT_EQ(grown.appended_name, nullptr);
  EXPECT_EQ(grown.appended_flags, 0u);

  // And this gateway's full check reads no more either.
  wg_module out;
  EXPECT_EQ(check_descriptor(raw, &out), "");
  EXPECT_EQ(out.functions, original->functions);
  dlclose(handle);
}

TEST(Compat, NewerLargerDescriptorIsReadOnlyAsFarAsTheGatewayKnows) {
  // A module built against a newer header of the same ABI version: its descriptor says it is larger.
  // The gateway reads its own wg_module's worth and ignores the rest (which here is not even readable).
  static const wg_function fns[] = {{"f", [](const wg_call*, wg_result*) -> std::int32_t { return WG_OK; }}};
  wg_module newer{WORKGATE_ABI_VERSION, sizeof(wg_module) + 64, "newer", nullptr, nullptr, fns, 1};
  GuardedBuffer guard;
  auto* raw = static_cast<const wg_module*>(guard.place(&newer, sizeof(wg_module)));
  wg_module out;
  EXPECT_EQ(check_descriptor(raw, &out), "");
  EXPECT_EQ(out.size, sizeof(wg_module) + 64);
  EXPECT_EQ(out.functions, fns);
  EXPECT_EQ(out.function_count, 1u);
}

TEST(Compat, TooSmallSizesAreRefusedWithoutReadingFurther) {
  GuardedBuffer guard;
  for (std::uint32_t size : {0u, 8u, 16u, static_cast<std::uint32_t>(WG_MODULE_SIZE_V1 - 8)}) {
    wg_module small{};
    small.abi_version = WORKGATE_ABI_VERSION;
    small.size = size;
    // Only abi_version and size are readable.
    auto* raw = static_cast<const wg_module*>(guard.place(&small, 8));
    std::string problem = check_descriptor(raw);
    EXPECT_NE(problem.find("declares a size of " + std::to_string(size) + " bytes, less than the 48"),
              std::string::npos)
        << problem;
  }
  // Another ABI version is refused on its version, whatever its size.
  wg_module other{};
  other.abi_version = WORKGATE_ABI_VERSION + 1;
  other.size = 8;
  EXPECT_NE(check_descriptor(static_cast<const wg_module*>(guard.place(&other, 8))).find("ABI version"),
            std::string::npos);
}

// ----------------------------------------------------------------------- the gateway's structs

// The test worker (C++ SDK) must not read a wg_call, wg_host or wg_init beyond the size the gateway
// declares: the SDK needs the first version of each, and refuses less without touching it.
TEST(Compat, SdkReadsTheGatewaysStructsOnlyWithinTheirDeclaredSizes) {
  std::string error;
  auto module = Module::open(WG_TEST_WORKER, error);
  ASSERT_TRUE(module) << error;
  wg_function_fn value = module->find("value");
  ASSERT_NE(value, nullptr);
  GuardedBuffer guard;

  // A wg_call that declares (and has) only 8 bytes.
  wg_call small{};
  small.size = 8;
  small.kind = WG_CALL_SERVICE_BINDING;
  EXPECT_EQ(value(static_cast<const wg_call*>(guard.place(&small, 8)), nullptr), WG_ERROR);

  // A full wg_call whose host table declares less than the first version: no host function is called
  // (they are all null here).
  wg_host tiny_host{};
  tiny_host.abi_version = WORKGATE_ABI_VERSION;
  tiny_host.size = 8;
  wg_call call{};
  call.size = sizeof(wg_call);
  call.kind = WG_CALL_SERVICE_BINDING;
  call.host = static_cast<const wg_host*>(guard.place(&tiny_host, 8));
  EXPECT_EQ(value(&call, nullptr), WG_ERROR);

  // init with a wg_init smaller than its first version: refused with a message, nothing constructed.
  const wg_module& d = module->descriptor();
  ASSERT_NE(d.init, nullptr);
  GuardedBuffer init_guard;
  wg_init init{};
  init.size = 8;
  char message[256] = {0};
  void* instance = nullptr;
  EXPECT_EQ(
      d.init(static_cast<const wg_init*>(init_guard.place(&init, 8)), &instance, message, sizeof(message)),
      WG_ERROR);
  EXPECT_EQ(instance, nullptr);
  EXPECT_NE(std::string(message).find("smaller than their first version"), std::string::npos) << message;
}

}  // namespace
}  // namespace workgate::workers
