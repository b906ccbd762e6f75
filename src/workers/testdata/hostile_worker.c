/* A hostile worker, written against the raw C ABI: it breaks the completion contract (completes twice,
 * writes after completing, completes after the timeout, never completes, forges handles, keeps a
 * synchronous result or call past its return), floods the log with forged lines, sets headers with
 * CR/LF, returns out-of-range statuses and oversized bodies. The gateway must survive all of it without
 * touching freed memory and without one request ever seeing another request's data.
 *
 * Query parameters (all optional): d=<ms> delay before the worker thread acts, s=<status>,
 * n=<bytes>, which=<variant>. */
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <workgate/worker.h>

/* Heap in use by the whole process (the never-completing e2e test watches it). Under AddressSanitizer
 * glibc's malloc is not the allocator: ask the sanitizer. */
extern size_t __sanitizer_get_current_allocated_bytes(void) __attribute__((weak));

static size_t heap_in_use(void) {
  if (__sanitizer_get_current_allocated_bytes) return __sanitizer_get_current_allocated_bytes();
  struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

static wg_str wg(const char* s) {
  wg_str out = {s, strlen(s)};
  return out;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

/* The value of query parameter `name` (not decoded), or `fallback`. */
static long query_long(const wg_call* call, const char* name, long fallback) {
  size_t len = strlen(name);
  const char* q = call->query.data;
  size_t n = call->query.size;
  for (size_t i = 0; q != NULL && i + len < n; ++i) {
    if ((i == 0 || q[i - 1] == '&') && memcmp(q + i, name, len) == 0 && q[i + len] == '=') {
      char buf[32] = {0};
      size_t j = 0;
      for (size_t k = i + len + 1; k < n && q[k] != '&' && j + 1 < sizeof(buf); ++k)
        buf[j++] = q[k];
      return strtol(buf, NULL, 10);
    }
  }
  return fallback;
}

static int query_is(const wg_call* call, const char* name, const char* value) {
  char pattern[64];
  snprintf(pattern, sizeof(pattern), "%s=%s", name, value);
  size_t len = strlen(pattern);
  const char* q = call->query.data;
  size_t n = call->query.size;
  for (size_t i = 0; q != NULL && i + len <= n; ++i) {
    if ((i == 0 || q[i - 1] == '&') && memcmp(q + i, pattern, len) == 0 &&
        (i + len == n || q[i + len] == '&'))
      return 1;
  }
  return 0;
}

/* ------------------------------------------------------------------------------ asynchronous jobs */

enum job_kind { JOB_ECHO, JOB_COMPLETE_TWICE, JOB_WRITE_AFTER_COMPLETE, JOB_LATE, JOB_BOGUS };

typedef struct job {
  enum job_kind kind;
  const wg_host* host;
  wg_result* result;
  long delay_ms;
  char* body;
  size_t body_size;
} job;

static volatile int g_late_done = 0; /* completions made after the timeout (for the unit tests) */

static void write_everything(const job* j) {
  const wg_host* h = j->host;
  wg_str body = {j->body, j->body_size};
  h->set_body(j->result, body);
  h->return_string(j->result, body);
  h->return_json(j->result, wg("{\"stale\":true}"));
  h->set_header(j->result, wg("x-leaked-from"), body);
  h->add_header(j->result, wg("x-leaked-from"), body);
  h->remove_header(j->result, wg("content-type"));
  h->set_status(j->result, 299);
  h->request_set_header(j->result, wg("x-leaked-from"), body);
  h->request_add_header(j->result, wg("x-leaked-from"), body);
  h->request_remove_header(j->result, wg("host"));
  h->request_set_path(j->result, wg("/leaked"));
  h->request_set_query(j->result, wg("leaked=1"), 1);
  h->request_set_body(j->result, body);
  h->fail(j->result, wg("stale failure"));
  h->respond(j->result, 203);
}

static void* run_job(void* arg) {
  job* j = (job*)arg;
  const wg_host* h = j->host;
  wg_str body = {j->body, j->body_size};
  if (j->kind != JOB_LATE && j->delay_ms > 0) sleep_ms(j->delay_ms);
  switch (j->kind) {
    case JOB_ECHO:
      h->return_string(j->result, body);
      h->complete(j->result, WG_OK);
      break;
    case JOB_COMPLETE_TWICE:
      h->return_string(j->result, body);
      h->complete(j->result, WG_OK);
      h->complete(j->result, WG_OK);
      h->complete(j->result, WG_ERROR);
      for (int i = 0; i < 20; ++i) {
        sleep_ms(1);
        h->complete(j->result, WG_OK);
      }
      break;
    case JOB_WRITE_AFTER_COMPLETE:
      h->return_string(j->result, body);
      h->complete(j->result, WG_OK);
      for (int i = 0; i < 25; ++i) {
        sleep_ms(1);
        write_everything(j);
        h->complete(j->result, WG_OK);
      }
      break;
    case JOB_LATE:
      sleep_ms(j->delay_ms);
      write_everything(j);
      h->return_string(j->result, body);
      h->complete(j->result, WG_OK);
      h->complete(j->result, WG_OK);
      __atomic_add_fetch(&g_late_done, 1, __ATOMIC_SEQ_CST);
      break;
    case JOB_BOGUS: {
      /* From the worker's own thread, where nothing would catch what the gateway throws. */
      wg_str huge = {"x", SIZE_MAX};
      h->set_body(j->result, huge);
      h->add_header(j->result, huge, huge);
      h->return_string(j->result, huge);
      h->complete(j->result, WG_OK);
      break;
    }
  }
  free(j->body);
  free(j);
  return NULL;
}

static int32_t start_job(const wg_call* call, enum job_kind kind, long default_delay) {
  wg_result* deferred = call->host->defer(call);
  if (deferred == NULL) return WG_ERROR;
  job* j = (job*)calloc(1, sizeof(job));
  if (j == NULL) return WG_ERROR;
  j->kind = kind;
  j->host = call->host;
  j->result = deferred;
  j->delay_ms = query_long(call, "d", default_delay);
  j->body_size = call->body.size;
  j->body = (char*)malloc(j->body_size + 1);
  if (j->body_size > 0) memcpy(j->body, call->body.data, j->body_size);
  pthread_t thread;
  if (pthread_create(&thread, NULL, run_job, j) != 0) {
    free(j->body);
    free(j);
    return WG_ERROR;
  }
  pthread_detach(thread);
  return WG_PENDING;
}

/* Well-behaved: the body back after d ms (the victim the other functions must never reach). */
static int32_t echo_later(const wg_call* call, wg_result* result) {
  (void)result;
  return start_job(call, JOB_ECHO, 5);
}

static int32_t complete_twice(const wg_call* call, wg_result* result) {
  (void)result;
  return start_job(call, JOB_COMPLETE_TWICE, 1);
}

static int32_t write_after_complete(const wg_call* call, wg_result* result) {
  (void)result;
  return start_job(call, JOB_WRITE_AFTER_COMPLETE, 1);
}

/* Completes (and writes, twice) d ms later: after the worker's timeout_ms. */
static int32_t complete_after_timeout(const wg_call* call, wg_result* result) {
  (void)result;
  return start_job(call, JOB_LATE, 300);
}

/* Defers, completes inside the call, then writes and completes again before returning. */
static int32_t complete_early_twice(const wg_call* call, wg_result* result) {
  (void)result;
  const wg_host* h = call->host;
  wg_result* deferred = h->defer(call);
  h->return_string(deferred, call->body);
  h->complete(deferred, WG_OK);
  h->set_body(deferred, wg("written after complete"));
  h->return_string(deferred, wg("written after complete"));
  h->complete(deferred, WG_ERROR);
  return WG_PENDING;
}

/* The handle is dropped: the call never completes. */
static int32_t never_complete(const wg_call* call, wg_result* result) {
  (void)result;
  return call->host->defer(call) != NULL ? WG_PENDING : WG_ERROR;
}

/* --------------------------------------------------------------------------- synchronous abuse */

static wg_result* g_stashed_result = NULL;
static const wg_call* g_stashed_call = NULL;
static pthread_mutex_t g_stash_mutex = PTHREAD_MUTEX_INITIALIZER;

/* Keeps its synchronous result and call for use_stash. */
static int32_t stash(const wg_call* call, wg_result* result) {
  pthread_mutex_lock(&g_stash_mutex);
  g_stashed_result = result;
  g_stashed_call = call;
  pthread_mutex_unlock(&g_stash_mutex);
  call->host->return_string(result, wg("stashed"));
  return WG_OK;
}

/* Answers its own body, then writes through the stashed (returned) result and call. */
static int32_t use_stash(const wg_call* call, wg_result* result) {
  const wg_host* h = call->host;
  h->return_string(result, call->body);
  pthread_mutex_lock(&g_stash_mutex);
  wg_result* old = g_stashed_result;
  const wg_call* old_call = g_stashed_call;
  pthread_mutex_unlock(&g_stash_mutex);
  if (old != NULL) {
    h->return_string(old, wg("written through a stale synchronous result"));
    h->set_header(old, wg("x-stale"), wg("1"));
    h->complete(old, WG_OK);
  }
  if (old_call != NULL) {
    wg_str id = h->request_id(old_call);
    if (h->defer(old_call) != NULL || id.size > 0)
      h->set_header(result, wg("x-stale-call-answered"), wg("1"));
  }
  return WG_OK;
}

/* Forged handles: not results the gateway handed out. */
static int32_t forged_handles(const wg_call* call, wg_result* result) {
  const wg_host* h = call->host;
  uintptr_t mine = (uintptr_t)result;
  wg_result* forged[] = {(wg_result*)(uintptr_t)0x1000,
                         (wg_result*)(uintptr_t)0xdeadbeef0,
                         (wg_result*)(mine + 4),
                         (wg_result*)(mine ^ 3),
                         (wg_result*)(uintptr_t)(2 | (77u << 2)),
                         (wg_result*)(uintptr_t)(2 | ((uintptr_t)1 << 40)),
                         (wg_result*)(uintptr_t)UINTPTR_MAX};
  for (size_t i = 0; i < sizeof(forged) / sizeof(forged[0]); ++i) {
    h->set_body(forged[i], wg("forged"));
    h->fail(forged[i], wg("forged"));
    h->complete(forged[i], WG_OK);
  }
  h->complete(result, WG_OK); /* a synchronous result is not completable */
  h->return_string(result, wg("survived"));
  return WG_OK;
}

/* ------------------------------------------------------------------------------- output abuse */

/* A 64 KiB log message full of forged lines and control characters. */
static int32_t log_huge(const wg_call* call, wg_result* result) {
  const size_t size = 64 * 1024;
  char* msg = (char*)malloc(size);
  if (msg == NULL) return WG_ERROR;
  static const char head[] =
      "hostile-log-start\n2026-01-01T00:00:00.000Z error FORGED-LF-LINE\r\n"
      "2026-01-01T00:00:00.000Z error FORGED-CRLF-LINE\r\x1b[2K\x1b[1AFORGED-CR-LINE\x7f\x01\xc2\x85"
      "\xe2\x80\xa8\xff\x00"
      "after-nul ";
  const size_t head_size = sizeof(head) - 1;
  memcpy(msg, head, head_size);
  for (size_t i = head_size; i < size; ++i)
    msg[i] = (i % 100 == 99) ? '\n' : 'A';
  memcpy(msg + size - 24, "\nFORGED-TAIL-LINE-MARKER", 24);
  wg_str m = {msg, size};
  call->host->log(WG_LOG_ERROR, m);
  free(msg);
  call->host->return_string(result, wg("logged"));
  return WG_OK;
}

/* Response (or, as a pre_process hook, request) headers with CR/LF and other controls. */
static int32_t bad_header(const wg_call* call, wg_result* result) {
  const wg_host* h = call->host;
  h->respond(result, 200);
  h->set_body(result, wg("headers set"));
  if (query_is(call, "which", "value")) {
    h->set_header(result, wg("x-evil"), wg("a\r\nSet-Cookie: injected=1"));
  } else if (query_is(call, "which", "name")) {
    h->set_header(result, wg("x-evil\r\nSet-Cookie"), wg("injected=1"));
  } else if (query_is(call, "which", "lf")) {
    h->add_header(result, wg("x-evil"), wg("a\nSet-Cookie: injected=1"));
  } else if (query_is(call, "which", "cr")) {
    h->add_header(result, wg("x-evil"), wg("a\rSet-Cookie: injected=1"));
  } else if (query_is(call, "which", "nul")) {
    wg_str v = {"a\0Set-Cookie: injected=1", 24};
    h->set_header(result, wg("x-evil"), v);
  } else if (query_is(call, "which", "ctl")) {
    h->set_header(result, wg("x-evil"), wg("a\x01\x7finjected=1"));
  }
  return WG_OK;
}

/* pre_process: a request header with CR/LF (must fail the request, never reach the integration). */
static int32_t bad_request_header(const wg_call* call, wg_result* result) {
  const wg_host* h = call->host;
  if (query_is(call, "which", "name")) {
    h->request_set_header(result, wg("x-evil\r\nx-injected"), wg("1"));
  } else {
    h->request_set_header(result, wg("x-evil"), wg("a\r\nx-injected: 1"));
  }
  return WG_OK;
}

/* Describes the request headers it sees, one per line (the integration behind bad_request_header). */
static int32_t headers_seen(const wg_call* call, wg_result* result) {
  const wg_host* h = call->host;
  size_t total = 0;
  for (size_t i = 0; i < call->header_count; ++i)
    total += call->headers[i].name.size + call->headers[i].value.size + 3;
  char* out = (char*)malloc(total + 1);
  size_t at = 0;
  for (size_t i = 0; out != NULL && i < call->header_count; ++i) {
    memcpy(out + at, call->headers[i].name.data, call->headers[i].name.size);
    at += call->headers[i].name.size;
    out[at++] = ':';
    out[at++] = ' ';
    memcpy(out + at, call->headers[i].value.data, call->headers[i].value.size);
    at += call->headers[i].value.size;
    out[at++] = '\n';
  }
  wg_str body = {out, at};
  h->return_string(result, body);
  free(out);
  return WG_OK;
}

static int32_t bad_status(const wg_call* call, wg_result* result) {
  const wg_host* h = call->host;
  long status = query_long(call, "s", 1000);
  if (query_is(call, "which", "set")) {
    h->set_status(result, (int32_t)status);
    h->set_body(result, wg("status set"));
  } else {
    h->respond(result, (int32_t)status);
    h->set_body(result, wg("responded"));
  }
  return WG_OK;
}

/* A real body of n bytes (n from the query). */
static int32_t big_body(const wg_call* call, wg_result* result) {
  size_t n = (size_t)query_long(call, "n", 1024);
  char* body = (char*)malloc(n + 1);
  if (body == NULL) return WG_ERROR;
  memset(body, 'b', n);
  wg_str b = {body, n};
  if (query_is(call, "which", "json")) {
    body[0] = '"';
    body[n - 1] = '"';
    call->host->return_json(result, b);
  } else if (query_is(call, "which", "string")) {
    call->host->return_string(result, b);
  } else {
    call->host->set_body(result, b);
  }
  free(body);
  return WG_OK;
}

/* Lengths no buffer has: the gateway must refuse them without reading (or allocating) that much. */
static int32_t bogus_sizes(const wg_call* call, wg_result* result) {
  const wg_host* h = call->host;
  wg_str huge = {"x", SIZE_MAX};
  wg_str half = {"x", SIZE_MAX / 2};
  if (query_is(call, "which", "async")) return start_job(call, JOB_BOGUS, 0);
  if (query_is(call, "which", "header")) {
    h->set_header(result, wg("x-a"), huge);
  } else if (query_is(call, "which", "name")) {
    h->add_header(result, half, half);
  } else if (query_is(call, "which", "string")) {
    h->return_string(result, huge);
  } else if (query_is(call, "which", "path")) {
    h->request_set_path(result, huge);
  } else {
    h->set_body(result, huge);
  }
  return WG_OK;
}

/* Many header changes. */
static int32_t many_headers(const wg_call* call, wg_result* result) {
  long n = query_long(call, "n", 100000);
  call->host->respond(result, 200);
  for (long i = 0; i < n; ++i)
    call->host->add_header(result, wg("x-many"), wg("1"));
  return WG_OK;
}

static int32_t heap(const wg_call* call, wg_result* result) {
  char buf[64];
  snprintf(buf, sizeof(buf), "%zu", heap_in_use());
  call->host->return_string(result, wg(buf));
  return WG_OK;
}

static const wg_function kFunctions[] = {
    {"echo_later", echo_later},
    {"complete_twice", complete_twice},
    {"write_after_complete", write_after_complete},
    {"complete_after_timeout", complete_after_timeout},
    {"complete_early_twice", complete_early_twice},
    {"never_complete", never_complete},
    {"stash", stash},
    {"use_stash", use_stash},
    {"forged_handles", forged_handles},
    {"log_huge", log_huge},
    {"bad_header", bad_header},
    {"bad_request_header", bad_request_header},
    {"headers_seen", headers_seen},
    {"bad_status", bad_status},
    {"big_body", big_body},
    {"bogus_sizes", bogus_sizes},
    {"many_headers", many_headers},
    {"heap", heap},
};

static const wg_module kModule = {WORKGATE_ABI_VERSION,
                                  sizeof(wg_module),
                                  "hostile",
                                  NULL,
                                  NULL,
                                  kFunctions,
                                  sizeof(kFunctions) / sizeof(kFunctions[0])};

/* For the unit tests: completions made after the timeout so far. */
WORKGATE_EXPORT int workgate_test_late_completions(void) {
  return __atomic_load_n(&g_late_done, __ATOMIC_SEQ_CST);
}

WORKGATE_EXPORT const wg_module* workgate_worker_entry(void) {
  return &kModule;
}
