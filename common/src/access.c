/* What every finished request leaves behind: its metrics and one access-log line. */
#include <microhttpd.h>
#include <stdio.h>
#include <string.h>

#include "ms/clock.h"
#include "ms/log.h"
#include "server_internal.h"

/* Request counts by method stay bounded: anything unusual is "OTHER". */
static const char *method_label(const char *method)
{
    static const char *const known[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"};

    for (unsigned i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strcmp(method, known[i]) == 0)
            return known[i];
    return "OTHER";
}

void msi_access_metrics_init(struct ms_server *srv)
{
    srv->requests_total = ms_counter_family("http_requests_total", "HTTP requests served.",
                                            "service,method,route,code");
    srv->duration = ms_histogram_family("http_request_duration_seconds",
                                        "Time from request headers to completion.",
                                        "service,method,route", NULL, 0);
    srv->faults_total = ms_counter_family("faults_injected_total",
                                          "Faults injected by configuration.", "service,type");
    srv->in_flight_gauge = ms_series_get(
        ms_gauge_family("http_requests_in_flight", "Requests being served now.", "service"),
        (const char *const[]){srv->cfg.service});
    srv->client_timeouts = ms_series_get(
        ms_counter_family("http_client_timeouts_total",
                          "Connections closed because the client did not send a whole request "
                          "within CONNECTION_TIMEOUT_S (its first request line within "
                          "FIRST_REQUEST_TIMEOUT_MS), or sent nothing while newer connections "
                          "needed the room.",
                          "service"),
        (const char *const[]){srv->cfg.service});
}

static void log_access(struct ms_server *srv, const struct request *r, int status, double secs)
{
    enum ms_log_level level = (r->req.match.route && r->req.match.route->flags & MS_ROUTE_INFRA)
                                  ? MS_LOG_DEBUG
                                  : MS_LOG_INFO;
    char trace_buf[40];

    if (!srv->cfg.access_log || !ms_log_enabled(level))
        return;
    /* one line per request, so written without building a JSON object */
    const struct ms_log_field fields[] = {
        {.key = "event", .type = MS_LOG_STR, .str = "access"},
        {.key = "method", .type = MS_LOG_STR, .str = method_label(r->req.method)},
        {.key = "route", .type = MS_LOG_STR, .str = r->req.route},
        {.key = "status", .type = MS_LOG_INT, .num = status},
        {.key = "duration_ms", .type = MS_LOG_MS, .ms = secs * 1000.0},
        {.key = "request_id", .type = MS_LOG_STR, .str = r->req.request_id},
        {.key = "trace_id",
         .type = MS_LOG_STR,
         .str = ms_trace_id(&r->req.trace, trace_buf, sizeof(trace_buf))},
    };
    ms_log_fields(level, fields, sizeof(fields) / sizeof(fields[0]));
}

void msi_access_observe(struct ms_server *srv, const struct request *r, bool completed)
{
    /* 499, as nginx logs it: the client closed the connection before the answer was sent */
    int status = (r->answered && completed) ? r->res.status : 499;
    double secs = (double)(ms_now_ns() - r->start_ns) / 1e9;
    const char *method = method_label(r->req.method);
    char code[8] = {(char)('0' + status / 100 % 10), (char)('0' + status / 10 % 10),
                    (char)('0' + status % 10), '\0'};

    if (status < 100 || status > 999) /* every HTTP status has three digits; just in case */
        snprintf(code, sizeof(code), "%d", status);
    ms_counter_inc(ms_series_get(
        srv->requests_total, (const char *const[]){srv->cfg.service, method, r->req.route, code}));
    ms_histogram_observe(
        ms_series_get(srv->duration, (const char *const[]){srv->cfg.service, method, r->req.route}),
        secs);
    log_access(srv, r, status, secs);
}
