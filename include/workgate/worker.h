/*
 * workgate worker ABI (C).
 *
 * A worker is a shared module (.so) the gateway loads with dlopen() at config load. It exports one
 * symbol, `workgate_worker_entry` (WORKGATE_ENTRY_SYMBOL), returning a static wg_module descriptor:
 * the ABI version the module was built for, optional init/destroy functions and a table of named
 * functions. The gateway refuses a module whose abi_version differs from its own WORKGATE_ABI_VERSION.
 *
 * Only plain C types cross the boundary: a module may be built with another compiler, other flags or
 * another C++ standard library than the gateway.
 *
 * Compatibility: structs only grow. Within one ABI version a struct is never reordered and no member
 * changes its type or meaning; new members are only appended. Every struct with a `size` member carries
 * the size the side that filled it was built with, and the other side reads only within that size:
 *   - wg_module (filled by the module): the gateway reads the first `size` bytes the module declares. A
 *     module built against an older, smaller header loads; the members it does not know are absent (NULL,
 *     0) for the gateway. A size below the first version's (WG_MODULE_SIZE_V1) is refused at load; a
 *     larger size (a module built against a newer header) is accepted and the unknown tail ignored.
 *   - wg_call, wg_host, wg_init (filled by the gateway): a member appended after the first version exists
 *     only when the gateway's `size` covers it -- test WG_HAS_MEMBER(ptr, type, member) before using it.
 *     The gateway always provides at least the first version (WG_*_SIZE_V1); the C++ SDK checks that and
 *     reads nothing beyond.
 * An incompatible change bumps WORKGATE_ABI_VERSION; the gateway refuses modules of another version.
 *
 * Calls. For every request a bound function sees a `wg_call` (views into the gateway's request, the
 * worker's environment, the routing context, and for post_process the response) and a `wg_result` it
 * fills through the wg_host functions. All views (wg_str, arrays) are valid only until the function
 * returns. A synchronous function returns WG_OK or WG_ERROR on the gateway's event loop and must not
 * block. An asynchronous function calls host->defer(call) to get a deferred result, returns WG_PENDING,
 * and later (from any thread) fills that result and calls host->complete() exactly once.
 *
 * Threads. The gateway serves requests on several event-loop threads and never serializes a worker:
 *   - init runs once per binding when a config is loaded (at startup on the main thread, at a reload on
 *     the reload thread), one init at a time, while the event loops may be calling the functions of the
 *     instances of the previous config -- of the same module, too. `workgate validate` calls no init.
 *   - destroy runs at most once per successful init (a process that exits may skip it), on a thread
 *     that is not an event loop (the main thread, or the loading thread when the config it was created
 *     for failed), when no config uses the binding any more: no function of that instance is running or
 *     will be called again, but a deferred result it handed out may still be open (a worker with its own
 *     threads stops them in destroy).
 *   - Bound functions run on the event-loop threads. The same function of the same instance may run on
 *     all of them at the same time: state shared between calls (the instance, globals) must be
 *     thread-safe. Calls on one thread never overlap and never nest (no host function calls back into
 *     the worker), and all calls for one request (its hooks and its integration, and the gateway's
 *     continuation after a completion) run on the event-loop thread of that request's connection.
 *   - A wg_call and its synchronous wg_result, and every host function that takes a wg_call (request_id,
 *     claims_json, claim_json, claim_string, variables_json, config_json, defer), may be used only on the
 *     calling thread before the function returns (elsewhere they are ignored, see Handles).
 *   - A deferred result may be filled and completed from any thread, at any time until complete() or
 *     the timeout; the gateway locks per call, so several threads may write to it, in an unspecified
 *     order. complete() may come before the function has returned WG_PENDING; it never calls into the
 *     worker: the result is delivered later on the request's event loop.
 *   - log() may be called from any thread at any time, also in init and destroy.
 *
 * Handles. A wg_result* is an opaque handle naming one call, never a pointer to dereference. The
 * synchronous result (and the wg_call*) may be used only on the calling thread until the function
 * returns; a deferred result until complete() or the timeout. Any later use -- a second complete(), a
 * write after complete(), a completion after timeout_ms, a result or call kept past its function's
 * return -- is ignored by the gateway (and logged, rate-limited): it never reaches another call. These
 * rules only define what used to be undefined, so they need no new ABI version.
 *
 * The C++ layer <workgate/worker.hpp> wraps all of this; see docs/workers.md.
 */
#ifndef WORKGATE_WORKER_H
#define WORKGATE_WORKER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped on every incompatible change of anything in this header. */
#define WORKGATE_ABI_VERSION 1u

/* The symbol the gateway looks up with dlsym(): `const wg_module* workgate_worker_entry(void)`. */
#define WORKGATE_ENTRY_SYMBOL "workgate_worker_entry"

#if defined(__GNUC__) || defined(__clang__)
#define WORKGATE_EXPORT __attribute__((visibility("default")))
#else
#define WORKGATE_EXPORT
#endif

/* A byte string (not NUL-terminated). {NULL, 0} is an absent value where the documentation says so. */
typedef struct wg_str {
  const char* data;
  size_t size;
} wg_str;

/* A header field, path parameter or environment variable. */
typedef struct wg_pair {
  wg_str name;
  wg_str value;
} wg_pair;

/* Return codes of bound functions and init. */
enum {
  WG_OK = 0,      /* the result (possibly empty) is in wg_result */
  WG_PENDING = 1, /* asynchronous: host->defer() was called; host->complete() follows */
  WG_ERROR = 2    /* failed: the client gets 500 {"message":"Internal server error"} */
};

/* What a call is for (wg_call.kind). */
enum {
  WG_CALL_SERVICE_BINDING = 1, /* integration "service_binding" */
  WG_CALL_SERVICE = 2,         /* integration "service" (function "fetch") */
  WG_CALL_PRE_PROCESS = 3,     /* route pre_process hook */
  WG_CALL_POST_PROCESS = 4     /* post_process hook (integration-level or route-level) */
};

/* Log levels for host->log. */
enum { WG_LOG_DEBUG = 0, WG_LOG_INFO = 1, WG_LOG_WARN = 2, WG_LOG_ERROR = 3 };

typedef struct wg_host wg_host;
typedef struct wg_result wg_result; /* opaque, owned by the gateway */

/* One invocation of a bound function. Read-only; every view is valid until the function returns. */
typedef struct wg_call {
  uint32_t size; /* sizeof(wg_call) as the gateway knows it */
  uint32_t kind; /* WG_CALL_* */
  const wg_host* host;
  void* instance; /* what the module's init returned for this binding (NULL without init) */
  wg_str binding; /* the worker binding ("TARGET"), or the service alias for WG_CALL_SERVICE */
  wg_str function;

  /* The request as the gateway sees it now (after earlier pre_process changes). */
  wg_str method;
  wg_str path;  /* raw path, percent-encoding kept */
  wg_str query; /* raw query without '?' */
  int32_t has_query;
  const wg_pair* headers; /* in arrival order, names as sent */
  size_t header_count;
  wg_str body;

  /* Context. */
  wg_str route_path;     /* the matched route's `path` as written in the config */
  const wg_pair* params; /* path parameters, in route order */
  size_t param_count;
  const wg_pair* env; /* ONLY the variables the worker declaration lists in `env` (and that are set) */
  size_t env_count;

  /* WG_CALL_POST_PROCESS only (status 0 otherwise): the response produced so far. */
  int32_t response_status;
  const wg_pair* response_headers; /* includes Content-Type */
  size_t response_header_count;
  wg_str response_body;

  void* host_data; /* private to the gateway */
} wg_call;

/* Gateway services. The table lives as long as the process. */
struct wg_host {
  uint32_t abi_version; /* WORKGATE_ABI_VERSION of the gateway */
  uint32_t size;        /* sizeof(wg_host) as the gateway knows it */

  /* ---- context produced on demand (views valid until the function returns) ---- */
  wg_str (*request_id)(const wg_call* call);
  /* The verified JWT claims as a JSON object, "null" when the route has no verified token. */
  wg_str (*claims_json)(const wg_call* call);
  /* One top-level claim as JSON text; {NULL, 0} when absent. */
  wg_str (*claim_json)(const wg_call* call, wg_str name);
  /* 1 and the claim's string value (unescaped) when the claim is a string, else 0. */
  int32_t (*claim_string)(const wg_call* call, wg_str name, wg_str* out);
  /* The route's `variables` over the global `variables`, as a JSON object. */
  wg_str (*variables_json)(const wg_call* call);
  /* The worker declaration's `config` as JSON text ("null" when absent). */
  wg_str (*config_json)(const wg_call* call);

  /* Limits (the config's `gateway` block): a body, JSON value or string of more than max_body_bytes, a
   * header name + value, path or query of more than max_header_bytes, or more than max_headers header
   * changes (response or request) fail the call (500). A status outside 200-599 fails it too. Header
   * names must be tokens, values free of control characters but TAB. */

  /* ---- results: a response ----
   * respond() starts a new response (status, no headers, empty body). The other response functions
   * change the response being built: in a post_process call without respond() they edit the response
   * the integration produced; elsewhere they imply respond(200). */
  void (*respond)(wg_result* result, int32_t status);
  void (*set_status)(wg_result* result, int32_t status);
  void (*set_header)(wg_result* result, wg_str name, wg_str value); /* replaces fields of that name */
  void (*add_header)(wg_result* result, wg_str name, wg_str value);
  void (*remove_header)(wg_result* result, wg_str name);
  void (*set_body)(wg_result* result, wg_str body);

  /* ---- results: a value wrapped like the original gateway's generateJsonResponse ----
   * JSON text: object -> {"status","message","data"|"error"} envelope; string -> its content as the body;
   * null -> empty body; array -> data {"0":...}; number/boolean -> 400. Content-Type application/json. */
  void (*return_json)(wg_result* result, wg_str json);
  /* Same as return_json of a JSON string value, without encoding it: the body is `text` verbatim. */
  void (*return_string)(wg_result* result, wg_str text);

  /* ---- results: pre_process only, continue with a changed request ---- */
  void (*request_set_header)(wg_result* result, wg_str name, wg_str value);
  void (*request_add_header)(wg_result* result, wg_str name, wg_str value);
  void (*request_remove_header)(wg_result* result, wg_str name);
  /* The new path must still match the same route (else the request fails with 500). */
  void (*request_set_path)(wg_result* result, wg_str path);
  void (*request_set_query)(wg_result* result, wg_str query, int32_t has_query);
  void (*request_set_body)(wg_result* result, wg_str body);

  /* ---- results: failure. `message` is logged with the binding and function; do not put request data
   * or secrets in it. The function then returns WG_ERROR (or completes with WG_ERROR). ---- */
  void (*fail)(wg_result* result, wg_str message);

  /* ---- asynchronous completion ----
   * defer(): a new result to fill later; the function must then return WG_PENDING. The deferred result
   * may be filled and completed from any thread; complete() must be called exactly once (status WG_OK
   * or WG_ERROR) and the result must not be touched afterwards. A completion that arrives after the
   * worker's timeout_ms is ignored (the client already got 504), and so is a second completion or a
   * result function called after complete(): the handle is dead. A call that never completes is freed at
   * its timeout. */
  wg_result* (*defer)(const wg_call* call);
  void (*complete)(wg_result* deferred, int32_t status);

  /* ---- logging through the gateway's log (thread-safe). One line: at most 4096 bytes of the message are
   * kept ("...[truncated]" follows), and CR, LF, TAB, other control characters, DEL, backslash and invalid
   * UTF-8 are escaped (\r, \n, \t, \xNN, \\). ---- */
  void (*log)(int32_t level, wg_str message);
};

/* Given once per binding when the gateway loads its config (not for `workgate validate`). */
typedef struct wg_init {
  uint32_t size; /* sizeof(wg_init) as the gateway knows it */
  const wg_host* host;
  wg_str binding;     /* the worker binding, or the service alias */
  wg_str config_json; /* the declaration's `config` as JSON text, "null" when absent */
  const wg_pair* env; /* the declared environment variables that are set */
  size_t env_count;
  wg_str module_path;
} wg_init;

typedef int32_t (*wg_function_fn)(const wg_call* call, wg_result* result);

typedef struct wg_function {
  const char* name; /* NUL-terminated */
  wg_function_fn fn;
} wg_function;

typedef struct wg_module {
  uint32_t abi_version; /* WORKGATE_ABI_VERSION; stays the first member in every version */
  uint32_t size;        /* sizeof(wg_module) as the module knows it; at least WG_MODULE_SIZE_V1 */
  const char* name;     /* for logs; may be NULL */
  /* Optional. Creates the instance of one binding; on failure writes a NUL-terminated message into
   * `error` (at most error_size bytes) and returns WG_ERROR. The views in `init` are valid during the
   * call only. */
  int32_t (*init)(const wg_init* init, void** instance, char* error, size_t error_size);
  /* Optional. Destroys an instance when no config uses the binding any more. */
  void (*destroy)(void* instance);
  const wg_function* functions;
  size_t function_count;
} wg_module;

typedef const wg_module* (*wg_entry_fn)(void);

/* ---- compatibility (see the header comment): the first version's size of each struct, and whether a
 * struct filled by the other side includes a member. ---- */
#ifdef __cplusplus
#define WG_SIZE_THROUGH(type, member) (offsetof(type, member) + sizeof(type::member))
#else
#define WG_SIZE_THROUGH(type, member) (offsetof(type, member) + sizeof(((type*)0)->member))
#endif
#define WG_HAS_MEMBER(ptr, type, member) ((ptr)->size >= WG_SIZE_THROUGH(type, member))
#define WG_MODULE_SIZE_V1 WG_SIZE_THROUGH(wg_module, function_count)
#define WG_CALL_SIZE_V1 WG_SIZE_THROUGH(wg_call, host_data)
#define WG_HOST_SIZE_V1 WG_SIZE_THROUGH(wg_host, log)
#define WG_INIT_SIZE_V1 WG_SIZE_THROUGH(wg_init, module_path)

#ifdef __cplusplus
}
#endif

#endif /* WORKGATE_WORKER_H */
