/* Trace context: the headers Istio/Envoy need forwarded, captured per request and put on
 * every outgoing call made while serving it. */
#ifndef MS_TRACE_H
#define MS_TRACE_H

#include <stddef.h>

enum {
    MS_TRACE_REQUEST_ID = 0, /* x-request-id: always set while serving (generated if absent) */
    MS_TRACE_NHEADERS = 9,
};

/* Lower-case header names, index-aligned with struct ms_trace.values:
 * x-request-id, traceparent, tracestate, x-b3-traceid, x-b3-spanid, x-b3-parentspanid,
 * x-b3-sampled, x-b3-flags, b3. */
extern const char *const ms_trace_header_names[MS_TRACE_NHEADERS];

/* Values borrowed from the request that owns them (NULL where the header was absent). */
struct ms_trace {
    const char *values[MS_TRACE_NHEADERS];
};

/* The trace of the request this thread is serving now, or NULL outside a request.
 * The server sets it around each handler call; the HTTP client reads it. Thread-local because
 * a handler runs start to finish on one worker thread, so no parameter has to be threaded
 * through every layer to reach the outgoing call. */
const struct ms_trace *ms_trace_current(void);

/* Sets (or clears, with NULL) this thread's current trace. The server's job; tests may call it. */
void ms_trace_set_current(const struct ms_trace *trace);

/* The trace id for logs: the 32 hex digits of traceparent, else x-b3-traceid, else NULL.
 * Writes at most cap-1 characters plus NUL into buf; returns buf or NULL. */
const char *ms_trace_id(const struct ms_trace *trace, char *buf, size_t cap);

#endif
