/* A service module whose `fetch` crashes the process (a NULL dereference), and whose `abort` function
 * aborts it: the e2e tests of the supervisor (tests/e2e/test_supervisor.py) use it to show that a crash
 * in a worker module restarts the serving process instead of ending the gateway. */
#include <stdlib.h>
#include <workgate/worker.h>

static int32_t crash_fetch(const wg_call* call, wg_result* result) {
  (void)call;
  (void)result;
  volatile int* volatile nowhere = NULL;
  *nowhere = 42;
  return WG_OK;
}

static int32_t crash_abort(const wg_call* call, wg_result* result) {
  (void)call;
  (void)result;
  abort();
}

static const wg_function kFunctions[] = {{"fetch", crash_fetch}, {"abort", crash_abort}};

static const wg_module kModule = {WORKGATE_ABI_VERSION,
                                  sizeof(wg_module),
                                  "crash",
                                  0,
                                  0,
                                  kFunctions,
                                  sizeof(kFunctions) / sizeof(kFunctions[0])};

WORKGATE_EXPORT const wg_module* workgate_worker_entry(void) {
  return &kModule;
}
