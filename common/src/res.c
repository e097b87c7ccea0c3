/* Filling a response: bodies, headers, and the one error envelope. */
#include "ms/res.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ms/err.h"
#include "ms/log.h"

static void replace_body(struct ms_res *res, int status, const char *content_type, char *body,
                         size_t len)
{
    free(res->body);
    res->status = status;
    res->content_type = content_type;
    res->body = body;
    res->body_len = len;
}

void ms_res_body_new(struct ms_res *res, int status, const char *content_type, char *body,
                     size_t len)
{
    replace_body(res, status, content_type, body, len);
}

void ms_res_body_copy(struct ms_res *res, int status, const char *content_type, const char *body,
                      size_t len)
{
    char *copy = malloc(len + 1);

    if (!copy) {
        replace_body(res, 500, NULL, NULL, 0);
        return;
    }
    memcpy(copy, body, len);
    copy[len] = '\0';
    replace_body(res, status, content_type, copy, len);
}

void ms_res_empty(struct ms_res *res, int status)
{
    replace_body(res, status, NULL, NULL, 0);
}

void ms_res_json_new(struct ms_res *res, int status, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;

    json_decref(body);
    if (!text) {
        /* only allocation failure gets here: an empty 500 needs no allocation */
        replace_body(res, 500, NULL, NULL, 0);
        return;
    }
    replace_body(res, status, MS_CONTENT_TYPE_JSON, text, strlen(text));
}

void ms_res_header(struct ms_res *res, const char *name, const char *value)
{
    struct ms_res_header *h;

    assert(res->nheaders < MS_RES_MAX_HEADERS);
    if (res->nheaders == MS_RES_MAX_HEADERS)
        return;
    h = &res->headers[res->nheaders];
    h->name = strdup(name);
    h->value = strdup(value);
    if (!h->name || !h->value) {
        free(h->name);
        free(h->value);
        return;
    }
    res->nheaders++;
}

static void log_cause(const struct ms_res *res, int status, const char *code, const char *cause)
{
    ms_log_json_new(MS_LOG_ERROR,
                    json_pack("{s:s,s:i,s:s,s:s,s:s,s:s}", "event", "request_error", "status",
                              status, "code", code, "route", res->route ? res->route : "", "cause",
                              cause, "request_id", res->request_id ? res->request_id : ""));
}

static void answer_envelope(struct ms_res *res, int status, const char *code, const char *message)
{
    json_t *body = json_pack("{s:{s:s,s:s,s:s}}", "error", "code", code, "message", message,
                             "request_id", res->request_id ? res->request_id : "");

    ms_res_json_new(res, status, body);
    if (status == 503)
        ms_res_header(res, "Retry-After", "1");
}

/* A JSON string must be valid UTF-8, but a message may quote any bytes (a decoded URL) or be cut
 * inside a character, and then neither the envelope nor the log line could be built (the answer
 * would be an empty 500). When s is not valid UTF-8, its non-ASCII bytes become '?'. */
static void make_utf8(char *s)
{
    json_t *probe = json_string(s); /* NULL when s is not valid UTF-8 */

    if (probe) {
        json_decref(probe);
        return;
    }
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80)
            *s = '?';
}

static void answer_error(struct ms_res *res, int status, const char *code, const char *fallback,
                         const char *fmt, va_list ap)
{
    char message[256];

    if (fmt)
        vsnprintf(message, sizeof(message), fmt, ap);
    else
        snprintf(message, sizeof(message), "%s", fallback);
    make_utf8(message);
    if (status >= 500)
        log_cause(res, status, code, message);
    /* A 500 is a bug whose cause may name internals (SQL, hosts): the client learns only the
     * kind. A 503 is an outage the client should understand ("the inventory service is
     * unavailable"), so handlers write it for the client and it is sent as written. */
    if (status >= 500 && status != 503)
        snprintf(message, sizeof(message), "%s", fallback);
    answer_envelope(res, status, code, message);
}

void ms_res_error(struct ms_res *res, int err, const char *fmt, ...)
{
    va_list ap;

    res->err = err;
    va_start(ap, fmt);
    answer_error(res, ms_err_http_status(err), ms_err_code(err), ms_strerror(err), fmt, ap);
    va_end(ap);
}

void ms_res_error_status(struct ms_res *res, int status, const char *code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    answer_error(res, status, code, code, fmt, ap);
    va_end(ap);
}

void ms_res_release(struct ms_res *res)
{
    free(res->body);
    res->body = NULL;
    for (size_t i = 0; i < res->nheaders; i++) {
        free(res->headers[i].name);
        free(res->headers[i].value);
    }
    res->nheaders = 0;
}
