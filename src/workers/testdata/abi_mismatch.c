/* A module built for another worker ABI version: the gateway must refuse it at load. */
#include <workgate/worker.h>

static const wg_module kModule = {WORKGATE_ABI_VERSION + 41u, sizeof(wg_module), "abi-mismatch", 0, 0, 0, 0};

WORKGATE_EXPORT const wg_module* workgate_worker_entry(void) {
  return &kModule;
}
