/* The per-thread current trace and the trace-id extraction for logs. */
#include "ms/trace.h"

#include <ctype.h>
#include <string.h>

const char *const ms_trace_header_names[MS_TRACE_NHEADERS] = {
    "x-request-id",      "traceparent",  "tracestate", "x-b3-traceid", "x-b3-spanid",
    "x-b3-parentspanid", "x-b3-sampled", "x-b3-flags", "b3",
};

static _Thread_local const struct ms_trace *current;

const struct ms_trace *ms_trace_current(void)
{
    return current;
}

void ms_trace_set_current(const struct ms_trace *trace)
{
    current = trace;
}

static int all_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i]))
            return 0;
    return 1;
}

static const char *copy_id(const char *src, size_t n, char *buf, size_t cap)
{
    if (n == 0 || n >= cap || !all_hex(src, n))
        return NULL;
    memcpy(buf, src, n);
    buf[n] = '\0';
    return buf;
}

const char *ms_trace_id(const struct ms_trace *trace, char *buf, size_t cap)
{
    const char *tp, *b3;

    if (!trace)
        return NULL;
    /* traceparent: version "-" 32-hex trace-id "-" 16-hex parent-id "-" flags */
    tp = trace->values[1];
    if (tp && strlen(tp) >= 35 && tp[2] == '-' && tp[35] == '-' && all_hex(tp + 3, 32))
        return copy_id(tp + 3, 32, buf, cap);
    b3 = trace->values[3];
    if (b3)
        return copy_id(b3, strlen(b3), buf, cap);
    return NULL;
}
