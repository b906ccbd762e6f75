/* A module built against an older header: it does not use the wg_module of <workgate/worker.h> but its
 * own copy of the descriptor as the header had it then, and declares that struct's (smaller) size. The
 * gateway must read the descriptor only within that size and treat what it lacks as absent ("structs only
 * grow", see worker.h).
 *
 * Built twice:
 *   - as it is: the first version's descriptor (the members up to function_count, WG_MODULE_SIZE_V1
 *     bytes). It must load and work however much wg_module has grown since.
 *   - with WG_OLD_ABI_TRUNCATED: a descriptor that ends before the function table, smaller than any version
 *     of wg_module ever was. The gateway must refuse it with a clear error, without reading past it.
 *
 * The other structs (wg_call, wg_host, wg_init) come from the gateway, which declares their sizes; this
 * module uses only their first-version members. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <workgate/worker.h>

#ifndef WG_OLD_ABI_TRUNCATED
/* The first version of wg_module, frozen. */
typedef struct old_wg_module {
  uint32_t abi_version;
  uint32_t size;
  const char* name;
  int32_t (*init)(const wg_init* init, void** instance, char* error, size_t error_size);
  void (*destroy)(void* instance);
  const wg_function* functions;
  size_t function_count;
} old_wg_module;
_Static_assert(sizeof(old_wg_module) == WG_MODULE_SIZE_V1, "the first version of wg_module");
#else
/* Ends before the function table: smaller than any wg_module. */
typedef struct old_wg_module {
  uint32_t abi_version;
  uint32_t size;
  const char* name;
  int32_t (*init)(const wg_init* init, void** instance, char* error, size_t error_size);
  void (*destroy)(void* instance);
} old_wg_module;
_Static_assert(sizeof(old_wg_module) < WG_MODULE_SIZE_V1, "smaller than any wg_module");
#endif

/* Instances alive (init minus destroy), for the unit tests. */
static int g_instances = 0;
WORKGATE_EXPORT int workgate_test_old_abi_instances(void);
WORKGATE_EXPORT int workgate_test_old_abi_instances(void) {
  return g_instances;
}

typedef struct instance {
  char binding[64];
} instance;

static int32_t old_init(const wg_init* init, void** out, char* error, size_t error_size) {
  instance* self = calloc(1, sizeof(instance));
  if (self == NULL) {
    if (error_size > 0) {
      strncpy(error, "out of memory", error_size - 1);
      error[error_size - 1] = '\0';
    }
    return WG_ERROR;
  }
  size_t n = init->binding.size < sizeof(self->binding) - 1 ? init->binding.size : sizeof(self->binding) - 1;
  memcpy(self->binding, init->binding.data, n);
  *out = self;
  ++g_instances;
  return WG_OK;
}

static void old_destroy(void* p) {
  free(p);
  --g_instances;
}

#ifndef WG_OLD_ABI_TRUNCATED
/* "old module <binding> <path>" as the body of a 200 text/plain response. */
static int32_t hello(const wg_call* call, wg_result* result) {
  const instance* self = (const instance*)call->instance;
  char body[256];
  size_t used = 0;
  const char* parts[] = {"old module ", self != NULL ? self->binding : "(no instance)", " "};
  for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); ++i) {
    size_t len = strlen(parts[i]);
    if (used + len >= sizeof(body)) return WG_ERROR;
    memcpy(body + used, parts[i], len);
    used += len;
  }
  if (used + call->path.size >= sizeof(body)) return WG_ERROR;
  memcpy(body + used, call->path.data, call->path.size);
  used += call->path.size;
  wg_str name = {"Content-Type", 12};
  wg_str value = {"text/plain", 10};
  wg_str text = {body, used};
  call->host->respond(result, 200);
  call->host->set_header(result, name, value);
  call->host->set_body(result, text);
  return WG_OK;
}

static const wg_function kFunctions[] = {{"hello", &hello}};

static const old_wg_module kModule = {
    WORKGATE_ABI_VERSION, sizeof(old_wg_module), "old-abi", &old_init, &old_destroy, kFunctions, 1};
#else
static const old_wg_module kModule = {WORKGATE_ABI_VERSION, sizeof(old_wg_module), "truncated", &old_init,
                                      &old_destroy};
#endif

WORKGATE_EXPORT const wg_module* workgate_worker_entry(void) {
  return (const wg_module*)(const void*)&kModule;
}
