/* The resilient HTTP client for calls between services: libcurl with keep-alive reuse,
 * timeouts, retries with backoff for idempotent calls only, a circuit breaker per upstream,
 * trace headers forwarded, and metrics for every call. */
#ifndef MS_HTTP_CLIENT_H
#define MS_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "ms/breaker.h"

struct ms_upstream;

struct ms_upstream_config {
    const char *name;       /* label value, e.g. "product"; copied */
    const char *base_url;   /* e.g. "http://127.0.0.1:3001"; copied, no trailing slash needed */
    int connect_timeout_ms; /* default 200; must be below timeout_ms */
    int timeout_ms;         /* the whole call, retries and backoff included: the caller has
                               its answer or gives up by then; default 1000 */
    int per_try_timeout_ms; /* one attempt; default timeout_ms (a slow answer uses the whole
                               budget, fast failures leave time to retry) */
    int max_retries;        /* retries after the first attempt, idempotent calls only; 0 means
                               the default 2, a negative value means none */
    int backoff_base_ms;    /* default 25 */
    int backoff_cap_ms;     /* default 250 */
    struct ms_breaker_config breaker;
};

struct ms_http_response {
    long status;
    char *body; /* NUL-terminated, malloc'd; owned by the response */
    size_t body_len;
    char *content_type; /* malloc'd or NULL */
};

/* Creates an upstream (its breaker and metrics series). NULL on allocation failure.
 * curl_global_init must have run in main before any thread starts. */
struct ms_upstream *ms_upstream_new(const struct ms_upstream_config *cfg);
void ms_upstream_free(struct ms_upstream *u);

/* Sends method path (appended to base_url) with an optional JSON body and extra header lines
 * ("Idempotency-Key: x", NULL-terminated array, may be NULL). The current request's trace
 * headers (ms_trace_current) are added. Uses this thread's own reused curl handle.
 * Retries (with ms_backoff_ms) on connection errors, timeouts and 502/503/504 only when
 * idempotent is true. Returns 0 with *out filled whenever a final HTTP response arrived
 * (whatever its status; free it with ms_http_response_free); MS_EUNAVAIL when the breaker is
 * open or the upstream cannot be reached, MS_ETIMEDOUT when it was too slow, MS_ETOOBIG when
 * the response body exceeds 1 MiB. 5xx answers and transport errors count as breaker failures;
 * everything else as success. */
int ms_http_request(struct ms_upstream *u, const char *method, const char *path, const char *body,
                    size_t body_len, const char *const *headers, bool idempotent,
                    struct ms_http_response *out);

void ms_http_response_free(struct ms_http_response *r);

/* The breaker state now (for tests and readiness reports). */
enum ms_breaker_state ms_upstream_breaker_state(struct ms_upstream *u);

/* Frees the calling thread's curl handle now. Threads that exit have theirs freed by a
 * thread-exit destructor; main's is not (main returns, it does not exit as a thread), so main
 * calls this before curl_global_cleanup. */
void ms_http_client_thread_cleanup(void);

#endif
