/* The response a handler fills in; the server sends it once the handler returns. */
#ifndef MS_RES_H
#define MS_RES_H

#include <jansson.h>
#include <stddef.h>

enum { MS_RES_MAX_HEADERS = 8 };

#define MS_CONTENT_TYPE_JSON "application/json"

struct ms_res_header {
    char *name;  /* owned */
    char *value; /* owned */
};

struct ms_res {
    int status; /* 0 until a handler answers (then the server answers 500) */
    char *body; /* owned, malloc'd; handed to MHD when sent */
    size_t body_len;
    const char *content_type; /* a static string */
    struct ms_res_header headers[MS_RES_MAX_HEADERS];
    size_t nheaders;
    const char *request_id; /* borrowed from the request: put in error envelopes */
    const char *route;      /* borrowed: the matched pattern, for error logs */
    int err;                /* the error code answered, if any (for logs) */
};

/* Answers status with body serialised compactly; steals the reference to body (NULL → 500). */
void ms_res_json_new(struct ms_res *res, int status, json_t *body);

/* Answers status with a malloc'd body that the response now owns. */
void ms_res_body_new(struct ms_res *res, int status, const char *content_type, char *body,
                     size_t len);

/* Answers status with a copy of body. */
void ms_res_body_copy(struct ms_res *res, int status, const char *content_type, const char *body,
                      size_t len);

/* Answers with no body (e.g. 204). */
void ms_res_empty(struct ms_res *res, int status);

/* Adds a response header (copied). Past MS_RES_MAX_HEADERS it is dropped: an assert in
 * debug builds, since the tables that add them are static. */
void ms_res_header(struct ms_res *res, const char *name, const char *value);

/* Answers err with the error envelope {"error":{"code","message","request_id"}}, the status
 * from ms_err_http_status and, for 503, "Retry-After: 1". fmt (may be NULL for the default
 * text) is the message for the client on 4xx and 503, so write it for the client ("the
 * inventory service is unavailable"), never with internals. Every 5xx is logged, once, here;
 * on other 5xx (bugs) the client gets only the generic text. */
void ms_res_error(struct ms_res *res, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The same with an explicit status and envelope code (405, 413, fault injection, ...). */
void ms_res_error_status(struct ms_res *res, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Releases what the response owns (the server calls it). */
void ms_res_release(struct ms_res *res);

#endif
